"""The creation guard and the possible-existing-account hold as pure functions, and through the engine."""

from __future__ import annotations

from lifecycle.domain.action_params import (
    AccountParams,
    AliasParams,
    AttributeUpdateParams,
    ForwardParams,
    HrWriteBackParams,
    MemberParams,
    NewAccountParams,
    NewEntryAttributes,
    NewGroupParams,
)
from lifecycle.domain.models import Action, ActionKind, DirectoryEntry, DirectorySnapshot, ReviewKind
from lifecycle.domain.settings import GuardSettings
from lifecycle.engine.render import plan_text, summarize_held
from lifecycle.testing import InMemoryDirectory
from policies.engine import compute_plan
from policies.guards import guard_plan
from tests.harness import Cycle, at, hr, make_settings, person

NOW = at("2026-12-01T09:00")
HQ = "ou=hq,ou=people,dc=example,dc=com"


def create(eid: str, company: str = "HQ", manager: str = "") -> Action:
    dn = f"uid=u{eid},{HQ}"
    attributes = NewEntryAttributes(f"u{eid}", "n", "s", "g", "n", f"u{eid}@example.com", eid, "d", "t", manager)
    return Action(ActionKind.CREATE_ACCOUNT, eid, company, dn, "joiner", "new hire",
                  params=NewAccountParams(dn, attributes, NOW.isoformat()))


def test_more_creations_than_the_limit_are_held_for_approval_and_a_first_load_is_not() -> None:
    settings = GuardSettings()  # max_creations 200, 20 %, floor 10
    assert not guard_plan([create(str(i)) for i in range(10)], {"HQ": 5}, settings).held  # the floor
    held = guard_plan([create(str(i)) for i in range(11)], {"HQ": 5}, settings).held
    assert len(held) == 11 and all(h.approvable and "exceed the limit of 10" in h.reason for h in held)
    assert not guard_plan([create(str(i)) for i in range(20)], {"HQ": 100}, settings).held  # exactly 20 %
    assert len(guard_plan([create(str(i)) for i in range(21)], {"HQ": 100}, settings).held) == 21
    assert len(guard_plan([create(str(i)) for i in range(201)], {"HQ": 5000}, settings).held) == 201  # max_creations
    assert not guard_plan([create(str(i)) for i in range(500)], {}, settings).held  # the company's first load
    approved = frozenset(("create_account", str(i), f"uid=u{i},{HQ}") for i in range(11))
    assert not guard_plan([create(str(i)) for i in range(11)], {"HQ": 5}, settings, approved=approved).held


def test_what_depends_on_a_held_creation_waits_or_leaves_it_out() -> None:
    joiner = create("1")
    new_dn = joiner.target
    mailbox_free = [
        Action(ActionKind.WRITE_BACK_HR, "1", "HQ", "1", "joiner", "tell HR", params=HrWriteBackParams("u1", "u1@example.com")),
        Action(ActionKind.ADD_MEMBER, "1", "HQ", "cn=g", "groups", "dept", params=MemberParams("cn=g", new_dn)),
        Action(ActionKind.CREATE_GROUP, "1", "HQ", "cn=h", "groups", "dept",
               params=NewGroupParams("cn=h", "HQ", "d", new_dn, (new_dn, f"uid=u2,{HQ}"))),
        Action(ActionKind.CREATE_GROUP, "1", "HQ", "cn=k", "groups", "dept", params=NewGroupParams("cn=k", "HQ", "e", new_dn, (new_dn,))),
        create("3", manager=new_dn.upper()),
        Action(ActionKind.UPDATE_ACCOUNT, "4", "HQ", f"uid=u4,{HQ}", "mover", "manager",
               {"manager": ["", new_dn], "title": ["a", "b"]},
               params=AttributeUpdateParams(f"uid=u4,{HQ}", {"manager": new_dn, "title": "b"})),
        Action(ActionKind.UPDATE_ACCOUNT, "5", "HQ", f"uid=u5,{HQ}", "mover", "manager", {"manager": ["", new_dn]},
               params=AttributeUpdateParams(f"uid=u5,{HQ}", {"manager": new_dn})),
    ]
    guarded = guard_plan([joiner, *mailbox_free], {"HQ": 100}, GuardSettings(), waiting={"1": "possible existing account: x"})
    held = {(h.action.kind, h.action.target): h for h in guarded.held}
    assert not held[(ActionKind.CREATE_ACCOUNT, new_dn)].approvable
    assert {ActionKind.WRITE_BACK_HR, ActionKind.ADD_MEMBER} <= {kind for kind, _ in held}
    assert (ActionKind.CREATE_GROUP, "cn=k") in held and (ActionKind.UPDATE_ACCOUNT, f"uid=u5,{HQ}") in held
    allowed = {(a.kind, a.target): a for a in guarded.allowed}
    assert allowed[(ActionKind.CREATE_GROUP, "cn=h")].params.members == (f"uid=u2,{HQ}",)  # type: ignore[union-attr]
    assert allowed[(ActionKind.CREATE_ACCOUNT, f"uid=u3,{HQ}")].params.attributes.manager == ""  # type: ignore[union-attr]
    update = allowed[(ActionKind.UPDATE_ACCOUNT, f"uid=u4,{HQ}")]
    assert dict(update.params.attributes) == {"title": "b"} and dict(update.changes) == {"title": ["a", "b"]}  # type: ignore[union-attr]


def test_an_admins_own_suspension_is_neither_counted_nor_held() -> None:
    suspensions = [Action(ActionKind.SUSPEND_ACCOUNT, str(i), "HQ", f"uid=u{i}", "intervention", "violation",
                          params=AccountParams(f"uid=u{i}", {"status": "suspended"})) for i in range(8)]
    assert not guard_plan(suspensions, {"HQ": 20}, GuardSettings()).held
    assert not guard_plan(suspensions, {"HQ": 20}, GuardSettings(), frozen={"HQ": "rows dropped"}).held


def test_the_engine_holds_a_joiner_whose_entry_may_exist_until_an_admin_decides(tmp_path) -> None:
    settings = make_settings(tmp_path)
    directory = InMemoryDirectory()
    cycle = Cycle(settings, directory)
    snapshot = DirectorySnapshot(entries=(DirectoryEntry(f"uid=yjia,{HQ}", "yjia", cn="乐嘉", mail="yuejia@example.com"),),
                                 taken_uids=frozenset({"yjia"}))
    plan = compute_plan(hr(person("7", "乐嘉", family_name="乐")), snapshot, cycle.journal.load_state(), settings, NOW)
    assert not plan.actions
    assert [h.action.kind for h in plan.held] == [ActionKind.CREATE_ACCOUNT, ActionKind.CREATE_GROUP]  # its only member
    assert not any(h.approvable for h in plan.held)
    held = summarize_held(plan)  # what `lifecycle plan` and the daemon's summary say of it
    assert [h.action.kind for h in held.undecided] == [ActionKind.CREATE_ACCOUNT] and len(held.dependent) == 1
    assert held.text() == "0 held, 1 waiting for an adoption decision (+1 that depend on them)"
    assert "lifecycle adopt EMPLOYEE UID" in plan_text(plan)
    review = next(r for r in plan.reviews if r.kind is ReviewKind.POSSIBLE_EXISTING_ACCOUNT)
    assert "cn 乐嘉 in HQ" in review.reason and "uid or mail yuejia" in review.reason
    assert "lifecycle adopt 7 yjia" in review.fix and "lifecycle adopt 7 --new" in review.fix
    cycle.close()


def test_approved_creations_count_and_only_the_unapproved_ones_are_held() -> None:
    """Approving some of a renumbered feed's 'joiners' does not release the rest the next cycle."""
    approved = frozenset(("create_account", str(i), f"uid=u{i},{HQ}") for i in range(3))
    guarded = guard_plan([create(str(i)) for i in range(11)], {"HQ": 5}, GuardSettings(), approved=approved)
    assert {a.employee_id for a in guarded.allowed} == {"0", "1", "2"}
    assert len(guarded.held) == 8
    assert "do not approve" in guarded.held[0].reason and "lifecycle adopt NEW_ID OLD_UID" in guarded.held[0].reason


def alias(kind: ActionKind, address: str, before: list[str] | None, after: list[str]) -> Action:
    return Action(kind, "", "HQ", address, "list", f"mail list (x) kept in step: in: {', '.join(after)}",
                  {"recipients": [before, after]}, params=AliasParams(address, tuple(after)))


def test_a_held_joiners_address_is_kept_off_lists_and_forwards() -> None:
    joiner = create("1")  # u1@example.com, held as a possible existing account
    lists = [
        alias(ActionKind.UPDATE_ALIAS, "all@example.com", ["a@example.com", "z@example.com"],
              ["a@example.com", "U1@example.com"]),
        alias(ActionKind.UPDATE_ALIAS, "rd@example.com", ["a@example.com"], ["a@example.com", "u1@example.com"]),
        alias(ActionKind.CREATE_ALIAS, "new@example.com", None, ["u1@example.com"]),
        Action(ActionKind.FORWARD_MAIL, "9", "HQ", "z@example.com", "leaver", "to the manager",
               params=ForwardParams("z@example.com", ("u1@example.com",), False)),
    ]
    guarded = guard_plan([joiner, *lists], {"HQ": 100}, GuardSettings(), waiting={"1": "possible existing account: x"})
    [kept] = guarded.allowed
    assert kept.target == "all@example.com" and kept.params.recipients == ("a@example.com",)  # type: ignore[union-attr]
    assert "u1@" not in kept.reason.lower() and "out: z@example.com" in kept.reason
    held = {h.action.target: h for h in guarded.held}
    assert {"rd@example.com", "new@example.com", "z@example.com"} <= set(held)  # nothing else changes; only them
    assert not any(h.approvable for h in held.values())


def test_a_frozen_feed_takes_nobody_off_a_list_and_a_held_suspension_keeps_its_member_on() -> None:
    out = alias(ActionKind.UPDATE_ALIAS, "all@example.com", ["a@example.com", "b@example.com"], ["a@example.com"])
    into = alias(ActionKind.UPDATE_ALIAS, "rd@example.com", ["a@example.com"], ["a@example.com", "c@example.com"])
    guarded = guard_plan([out, into], {"HQ": 100}, GuardSettings(), frozen={"HQ": "rows dropped"})
    assert [a.target for a in guarded.allowed] == ["rd@example.com"]
    assert not guarded.held[0].approvable and "frozen" in guarded.held[0].reason
    suspensions = [Action(ActionKind.SUSPEND_ACCOUNT, str(i), "HQ", f"uid=u{i},{HQ}", "leaver", "left",
                          params=AccountParams(f"uid=u{i},{HQ}", {"status": "suspended"})) for i in range(12)]
    guarded = guard_plan([*suspensions, out, into], {"HQ": 20}, GuardSettings(), addresses={"3": "b@example.com"})
    assert {a.target for a in guarded.allowed} == {"rd@example.com"}
    assert any(h.action.target == "all@example.com" and "held suspension" in h.reason for h in guarded.held)


def test_a_first_load_resumed_after_a_crash_is_not_held_and_a_renumbered_feed_after_a_clean_cycle_is() -> None:
    settings = GuardSettings()
    resumed = guard_plan([create(str(i)) for i in range(40)], {"HQ": 14}, settings, first_loads=frozenset({"HQ"}))
    assert not resumed.held  # 14 accounts made before the crash; no clean cycle has accepted HQ's rows yet
    assert len(guard_plan([create(str(i)) for i in range(40)], {"HQ": 14}, settings, first_loads=frozenset({"GZ"})).held) == 40


def test_the_engine_takes_a_company_without_an_accepted_feed_for_a_first_load(tmp_path) -> None:
    from dataclasses import replace

    from lifecycle.domain.models import FeedBaseline

    settings = make_settings(tmp_path)
    surnames, given = "王李张刘陈杨", "伟芳娜敏静"
    people = [person(str(100 + i), surnames[i % 6] + given[i // 6]) for i in range(30)]
    existing = [DirectoryEntry(f"uid=old{i},{HQ}", f"old{i}", cn="旧", employee_number=f"9{i:03d}") for i in range(20)]
    cycle = Cycle(settings, InMemoryDirectory())
    state = cycle.journal.load_state()
    cycle.close()
    snapshot = DirectorySnapshot(tuple(existing), taken_uids=frozenset(e.uid for e in existing))
    first = compute_plan(hr(*people), snapshot, state, settings, NOW)
    assert not [h for h in first.held if h.action.kind is ActionKind.CREATE_ACCOUNT]  # no clean cycle yet: a first load
    accepted = replace(state, feed=FeedBaseline({"HQ": 20}, ()))
    later = compute_plan(hr(*people), snapshot, accepted, settings, NOW)
    held = [h for h in later.held if h.action.kind is ActionKind.CREATE_ACCOUNT]
    assert len(held) == 30 and "exceed the limit" in held[0].reason
