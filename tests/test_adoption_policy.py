"""Adoption's policy, found wanting by a review: every one of these made a second account, or acted on a guess.

- a number duplicated on a manager leaves the reports' manager attribute as it is;
- an entry with the joiner's cn outside the subtrees, or in another company's, is a candidate;
- `adopt --new` while an entry carries the employee's number keeps the joiner held (else: hexue2, blocked for good);
- an entry moved out of the subtree by hand is not made again;
- a name unlinked (`lifecycle unlink`), or an alias's, is never a joiner's;
- duplicate numbers compare without letter case.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from lifecycle.domain.interventions import InterventionKind
from lifecycle.domain.mail import Alias, MailSnapshot
from lifecycle.domain.models import ActionKind, DirectoryEntry, DirectorySnapshot, ReviewKind
from lifecycle.engine.apply import Executor
from lifecycle.journal.interventions import save_intervention
from lifecycle.testing import InMemoryDirectory
from policies.engine import compute_plan
from tests.harness import Cycle, at, hr, make_settings, person

NOW = at("2026-12-01T09:00")
HQ = "ou=hq,ou=people,dc=example,dc=com"
SZ = "ou=sz,ou=people,dc=example,dc=com"
LEGACY = "ou=legacy,dc=example,dc=com"


def creations(plan) -> list[str]:
    return [a.target for a in plan.actions if a.kind is ActionKind.CREATE_ACCOUNT]


def test_a_number_duplicated_on_a_manager_leaves_the_reports_manager_as_it_is(tmp_path) -> None:
    settings = make_settings(tmp_path)
    directory = InMemoryDirectory()
    cycle = Cycle(settings, directory)
    rows = [person("1", "李娜", department="总经办"), person("2", "王芳", manager="1")]
    assert cycle.apply(hr(*rows), NOW)[1].ok
    snapshot = directory.read_snapshot()
    legacy = DirectoryEntry(f"uid=lna,{LEGACY}", "lna", cn="李娜", employee_number="1")
    snapshot = replace(snapshot, outside=(legacy,), taken_uids=snapshot.taken_uids | {"lna"})
    plan = compute_plan(hr(*rows), snapshot, cycle.journal.load_state(), settings, NOW + timedelta(hours=1))
    assert [r.employee_id for r in plan.reviews if r.kind is ReviewKind.DUPLICATE_EMPLOYEE_NUMBER] == ["1"]
    assert not [a for a in plan.actions if a.employee_id in ("1", "2")]  # 王芳's manager is not cleared
    cycle.close()


def test_duplicate_numbers_compare_without_letter_case(tmp_path) -> None:
    settings = make_settings(tmp_path)
    cycle = Cycle(settings, InMemoryDirectory())
    entries = (DirectoryEntry(f"uid=zs,{HQ}", "zs", cn="张三", employee_number="GZ0001"),)
    other = DirectoryEntry(f"uid=zs0,{LEGACY}", "zs0", cn="张三", employee_number="gz0001")
    snapshot = DirectorySnapshot(entries=entries, outside=(other,), taken_uids=frozenset({"zs", "zs0"}))
    plan = compute_plan(hr(person("GZ0001", "张三")), snapshot, cycle.journal.load_state(), settings, NOW)
    duplicate = [r for r in plan.reviews if r.kind is ReviewKind.DUPLICATE_EMPLOYEE_NUMBER]
    assert [r.employee_id for r in duplicate] == ["GZ0001"] and f"uid=zs0,{LEGACY}" in duplicate[0].target
    assert not plan.actions
    cycle.close()


def test_an_entry_with_the_joiners_cn_outside_the_subtrees_or_in_another_company_is_a_candidate(tmp_path) -> None:
    settings = make_settings(tmp_path)
    cycle = Cycle(settings, InMemoryDirectory())
    state = cycle.journal.load_state()
    outside = DirectoryEntry(f"uid=yj,{LEGACY}", "yj", cn="乐嘉")  # no number, and a uid unlike the name
    elsewhere = DirectoryEntry(f"uid=lj,{SZ}", "lj", cn="乐嘉")
    for snapshot, where in ((DirectorySnapshot(entries=(), outside=(outside,), taken_uids=frozenset({"yj"})),
                             "outside the companies' subtrees"),
                            (DirectorySnapshot(entries=(elsewhere,), taken_uids=frozenset({"lj"})), "in SZ's subtree")):
        plan = compute_plan(hr(person("7", "乐嘉", family_name="乐")), snapshot, state, settings, NOW)
        assert not creations(plan)
        review = next(r for r in plan.reviews if r.kind is ReviewKind.POSSIBLE_EXISTING_ACCOUNT)
        assert f"cn 乐嘉 {where}" in review.reason
    cycle.close()


def test_a_new_account_is_not_made_while_an_entry_carries_the_employees_number(tmp_path) -> None:
    settings = make_settings(tmp_path)
    directory = InMemoryDirectory()
    cycle = Cycle(settings, directory)
    stale = DirectoryEntry(f"uid=hexue,{LEGACY}", "hexue", cn="何雪", employee_number="5")
    snapshot = DirectorySnapshot(entries=(), outside=(stale,), taken_uids=frozenset({"hexue"}))
    with cycle.journal.engine.begin() as conn:
        save_intervention(conn, InterventionKind.NEW_ACCOUNT, "5", "HQ", reason="none is", actor="admin", now=NOW,
                          changes={"new_account": [None, True]})
    plan = compute_plan(hr(person("5", "何学")), snapshot, cycle.journal.load_state(), settings, NOW)
    assert not creations(plan)  # hexue2 with number 5 would make 5 a duplicate, and nothing be done for them again
    [held] = [h for h in plan.held if h.action.kind is ActionKind.CREATE_ACCOUNT]
    assert not held.approvable and f"remove employeeNumber from uid=hexue,{LEGACY} first" in held.reason
    review = next(r for r in plan.reviews if r.kind is ReviewKind.POSSIBLE_EXISTING_ACCOUNT)
    assert "lifecycle adopt 5 hexue" in review.fix
    cycle.close()


def test_an_account_moved_out_of_the_subtree_by_hand_is_not_made_again(tmp_path) -> None:
    settings = make_settings(tmp_path)
    directory = InMemoryDirectory()
    cycle = Cycle(settings, directory)
    rows = [person("5", "何学")]
    assert cycle.apply(hr(*rows), NOW)[1].ok
    snapshot = directory.read_snapshot()
    [entry] = snapshot.entries
    moved = replace(entry, dn=entry.dn.replace("ou=hq,ou=people", "ou=disabled"))
    snapshot = replace(snapshot, entries=(), outside=(moved,))
    plan = compute_plan(hr(*rows), snapshot, cycle.journal.load_state(), settings, NOW + timedelta(days=1))
    assert not [a for a in plan.actions if a.employee_id == "5"]
    review = next(r for r in plan.reviews if r.employee_id == "5" and r.kind is ReviewKind.INCONSISTENT_RECORD)
    assert "moved out of the managed subtree" in review.reason and moved.dn in review.reason
    cycle.close()


def test_an_unlinked_name_is_never_a_joiners_even_once_its_entry_is_deleted(tmp_path) -> None:
    settings = make_settings(tmp_path)
    directory = InMemoryDirectory()
    cycle = Cycle(settings, directory)
    assert cycle.apply(hr(person("1", "乐嘉", family_name="乐")), NOW)[1].ok
    cycle.journal.unlink("1", "not hers", "admin", NOW)
    directory.delete_person(f"uid=yuejia,{HQ}")  # deleted by hand; its mailbox may still hold mail
    plan = cycle.plan(hr(person("2", "乐嘉", family_name="乐")), NOW + timedelta(days=1))
    assert creations(plan) == [f"uid=yuejia2,{HQ}"]
    cycle.journal.confirm_match("3", "yuejia", "HQ", "admin", NOW)  # an admin gives the name to someone: released
    assert not cycle.journal.load_state().interventions.unlinked
    cycle.close()


def test_an_alias_keeps_its_name_from_joiners(tmp_path) -> None:
    settings = make_settings(tmp_path, mail={"token": "test-token"})
    cycle = Cycle(settings, InMemoryDirectory())
    left = Alias("yuejia@example.com", ("boss@example.com",), True)  # a departed namesake's, say: no mailbox can go there
    mail = MailSnapshot(mailboxes=(), aliases=(left,), domains=("example.com",))
    plan = compute_plan(hr(person("2", "乐嘉", family_name="乐")), DirectorySnapshot(entries=()),
                        cycle.journal.load_state(), settings, NOW, mail=mail)
    assert creations(plan) == [f"uid=yuejia2,{HQ}"]
    cycle.close()


def test_an_adopt_new_decision_after_the_number_is_removed_makes_one_account(tmp_path) -> None:
    settings = make_settings(tmp_path)
    directory = InMemoryDirectory()
    cycle = Cycle(settings, directory)
    with cycle.journal.engine.begin() as conn:
        save_intervention(conn, InterventionKind.NEW_ACCOUNT, "5", "HQ", reason="none is", actor="admin", now=NOW,
                          changes={"new_account": [None, True]})
    stale = DirectoryEntry(f"uid=hexue,{LEGACY}", "hexue", cn="何雪")  # its employeeNumber removed
    snapshot = DirectorySnapshot(entries=(), outside=(stale,), taken_uids=frozenset({"hexue"}))
    plan = compute_plan(hr(person("5", "何学")), snapshot, cycle.journal.load_state(), settings, NOW)
    assert creations(plan) == [f"uid=hexue2,{HQ}"]
    result = Executor(directory, cycle.journal, cycle.vault, "t").apply(plan, cycle.journal.begin_run("apply", NOW))
    assert result.ok
    cycle.close()
