"""Cases found in review, kept as regression tests (each once planned a wrong action)."""

from __future__ import annotations

from datetime import date, timedelta

from lifecycle.domain.errors import RecordError
from lifecycle.domain.models import ActionKind, RejectedRow, ReviewKind
from lifecycle.testing import InMemoryDirectory
from tests.harness import Cycle, at, hr, kinds, make_settings, person

START = at("2026-01-01T09:00")
HQ = "ou=hq,ou=people,dc=example,dc=com"
SZ = "ou=sz,ou=people,dc=example,dc=com"


def cycle(tmp_path, **overrides) -> Cycle:
    return Cycle(make_settings(tmp_path, **overrides), InMemoryDirectory(created=START))


def test_deletion_targets_the_entry_where_it_is_even_if_hr_moved_the_person(tmp_path):
    c = cycle(tmp_path)
    team = hr(person("1", "李娜"))
    c.apply(team, START)
    c.apply(team, START + timedelta(days=169))
    c.apply(team, START + timedelta(days=184))  # suspended for inactivity
    moved = hr(person("1", "李娜", "SZ"))
    plan, result = c.apply(moved, START + timedelta(days=184 + 91))
    delete = next(a for a in plan.actions if a.kind == ActionKind.DELETE_ACCOUNT)
    assert delete.target == f"uid=lina,{HQ}" and result.ok
    assert c.directory.people == {}
    # Still employed, but the account was deleted for inactivity: not re-made behind the admin's back.
    plan = c.plan(moved, START + timedelta(days=184 + 91))
    assert plan.actions == ()
    assert any(r.kind == ReviewKind.DELETED_FOR_INACTIVITY for r in plan.reviews)
    c.journal.reinstate("1", "admin", START)
    plan = c.plan(moved, START + timedelta(days=184 + 92))
    create = next(a for a in plan.actions if a.kind == ActionKind.CREATE_ACCOUNT)
    assert create.params.attributes.uid == "lina" and create.target == f"uid=lina,{SZ}"
    c.close()


def test_an_admin_unlock_lifts_an_inactivity_suspension(tmp_path):
    c = cycle(tmp_path)
    team = hr(person("1", "李娜"))
    for day in (0, 169, 184):
        c.apply(team, START + timedelta(days=day))
    c.directory.by_uid("lina").pop("locked")
    c.directory.by_uid("lina")["last_bind"] = START + timedelta(days=190)
    plan, _ = c.apply(team, START + timedelta(days=200))
    assert ("record_state", "1") in kinds(plan) and ("create_group", "1") in kinds(plan)
    assert c.journal.person("1").status.value == "active"
    assert all(a.kind != ActionKind.DELETE_ACCOUNT for a in c.plan(team, START + timedelta(days=300)).actions)
    c.close()


def test_a_leavers_account_unlocked_by_someone_is_locked_again_without_resetting_retention(tmp_path):
    c = cycle(tmp_path)
    c.apply(hr(person("1", "李娜")), START)
    gone = hr(person("1", "李娜", left=date(2026, 1, 2)))
    c.apply(gone, START + timedelta(days=2))
    c.directory.by_uid("lina").pop("locked")
    plan, _ = c.apply(gone, START + timedelta(days=10))
    assert kinds(plan) == [("suspend_account", "1")]
    assert c.directory.by_uid("lina")["locked"] is True
    assert c.journal.person("1").suspended_at == START + timedelta(days=2)
    c.close()


def test_a_uid_reused_in_another_branch_subtree_is_not_mistaken_for_the_employee(tmp_path):
    c = cycle(tmp_path)
    d = c.directory
    d.create_person(f"uid=wfang,{HQ}", {"uid": "wfang", "cn": "王芳", "sn": "王", "mail": "wfang@example.com", "employeeNumber": "1"}, None)
    c.apply(hr(person("1", "王芳")), START)
    d.create_person(f"uid=wfang,{SZ}", {"uid": "wfang", "cn": "吴芳", "sn": "吴", "mail": "wfang@sz.example.com"}, None)
    plan = c.plan(hr(person("1", "王芳", left=date(2026, 1, 2))), START + timedelta(days=2))
    assert [(a.kind.value, a.target) for a in plan.actions if a.kind == ActionKind.SUSPEND_ACCOUNT] == [
        ("suspend_account", f"uid=wfang,{HQ}")
    ]
    assert all(SZ not in a.target for a in plan.actions)
    c.close()


def test_an_entry_reusing_a_reserved_uid_is_reported_and_the_run_goes_on(tmp_path):
    c = cycle(tmp_path)
    c.apply(hr(person("1", "李娜"), person("3", "王芳")), START)
    gone = hr(person("1", "李娜", left=date(2026, 1, 2)), person("3", "王芳"))
    c.apply(gone, START + timedelta(days=2))
    c.apply(gone, START + timedelta(days=93))  # deleted; lina stays reserved for employee 1
    c.directory.create_person(f"uid=lina,{HQ}", {"uid": "lina", "cn": "李娜", "sn": "李", "employeeNumber": "2"}, None)
    later = hr(person("1", "李娜", left=date(2026, 1, 2)), person("2", "李娜"), person("3", "王芳", left=date(2026, 4, 10)))
    plan, result = c.apply(later, START + timedelta(days=100))
    assert result.ok
    assert ("suspend_account", "3") in kinds(plan)
    assert all(a.employee_id != "2" for a in plan.actions)
    assert any(r.kind == ReviewKind.DUPLICATE_EMPLOYEE_NUMBER and "reserved for employee 1" in r.reason for r in plan.reviews)
    c.close()


def test_a_confirmed_match_for_someone_absent_from_hr_touches_nothing(tmp_path):
    c = cycle(tmp_path)
    c.apply(hr(person("1", "李娜")), START)
    c.directory.create_person(f"uid=nali,{HQ}", {"uid": "nali", "cn": "李娜", "sn": "李"}, None)
    c.directory.add_member("cn=HQ-研发部,ou=groups,dc=example,dc=com", f"uid=nali,{HQ}")
    c.journal.confirm_match("100042", "nali", "HQ", "admin", START)
    plan = c.plan(hr(person("1", "李娜")), START)
    assert plan.actions == ()
    c.close()


def test_a_failed_move_keeps_the_group_its_member_is_still_in(tmp_path):
    class FailsMove(InMemoryDirectory):
        def move_person(self, dn, new_superior):
            raise RecordError("constraint violation", connector="directory")

    c = Cycle(make_settings(tmp_path), FailsMove(created=START))
    c.apply(hr(person("1", "李娜")), START)
    _plan, result = c.apply(hr(person("1", "李娜", "SZ")), START)
    assert result.counts["failed"] == 1
    assert "cn=hq-研发部,ou=groups,dc=example,dc=com" in c.directory.groups
    c.close()


def test_no_deletion_of_an_absent_suspended_person_while_rows_without_an_id_are_rejected(tmp_path):
    c = cycle(tmp_path)
    c.apply(hr(person("1", "李娜"), person("2", "王芳")), START)
    c.apply(hr(person("1", "李娜"), person("2", "王芳", left=date(2026, 1, 2))), START + timedelta(days=2))
    unreadable = RejectedRow(3, "employee_id", "not an id", "export ids as text")
    plan = c.plan(hr(person("1", "李娜"), rejected=(unreadable,)), START + timedelta(days=200))
    assert all(a.kind != ActionKind.DELETE_ACCOUNT for a in plan.actions)
    c.close()


def test_an_override_is_reserved_before_its_account_exists(tmp_path):
    c = cycle(tmp_path, naming={"overrides": {"2": "lina"}})
    plan, _ = c.apply(hr(person("1", "李娜"), person("2", "王芳", hire=date(2026, 6, 1))), START)
    assert [a.params.attributes.uid for a in plan.actions if a.kind == ActionKind.CREATE_ACCOUNT] == ["lina2"]
    plan, _ = c.apply(hr(person("1", "李娜"), person("2", "王芳", hire=date(2026, 6, 1))), at("2026-06-01T09:00"))
    assert [a.params.attributes.uid for a in plan.actions if a.kind == ActionKind.CREATE_ACCOUNT] == ["lina"]
    c.close()


def test_an_adopted_address_in_another_domain_is_kept(tmp_path):
    c = cycle(tmp_path)
    c.directory.create_person(f"uid=wangfang,{HQ}", {"uid": "wangfang", "cn": "王芳", "sn": "王", "mail": "wangfang@example.cn",
                                                    "employeeNumber": "1"}, None)
    c.apply(hr(person("1", "王芳")), START)
    assert c.directory.by_uid("wangfang")["mail"] == "wangfang@example.cn"
    c.apply(hr(person("1", "王芳", "SZ")), START)  # a transfer changes the domain, keeps the local part
    assert c.directory.by_uid("wangfang")["mail"] == "wangfang@sz.example.com"
    c.close()


def test_an_account_re_made_at_the_same_dn_stays_in_its_group(tmp_path):
    c = cycle(tmp_path)
    team = hr(person("1", "李娜"), person("2", "王芳"))
    c.apply(team, START)
    c.directory.people.pop(f"uid=lina,{HQ}".lower())  # deleted behind our back; its group member value stays
    plan, result = c.apply(team, START)
    assert result.ok and ("create_account", "1") in kinds(plan)
    assert all(a.kind != ActionKind.REMOVE_MEMBER for a in plan.actions)
    assert c.plan(team, START).actions == ()
    c.close()


def test_an_id_that_lost_its_leading_zeros_is_neither_a_joiner_nor_a_leaver(tmp_path):
    c = cycle(tmp_path, hr={"absent_means": "terminated", "absent_days": 1})
    c.apply(hr(person("000123", "李娜"), person("2", "王芳")), START)
    mangled = hr(person("123", "李娜"), person("2", "王芳"))
    for day in (1, 5, 30):
        plan, _ = c.apply(mangled, START + timedelta(days=day))
        assert plan.actions == (), kinds(plan)
    assert any("leading zeros lost" in r.reason for r in plan.reviews)
    assert not c.directory.by_uid("lina").get("locked") and c.directory.by_uid("lina2") is None
    c.close()
