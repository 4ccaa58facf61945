"""Admins' interventions in the planner (policies.interventions, lock_state, joiner.reset_still_due): an admin's
suspension, a password reset asked for, and a lock or unlock made by hand, reported once.

On the directory double and a real SQLite journal (tests/harness.py), the interventions written as the CLI and
the console write them (lifecycle.journal.interventions).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from lifecycle.domain.interventions import InterventionKind
from lifecycle.domain.models import ActionKind, HrStatus, Plan, RejectedRow, ReviewKind
from lifecycle.journal.interventions import remove_intervention, request_password_reset, save_intervention
from lifecycle.testing import InMemoryDirectory
from tests.harness import Cycle, at, hr, make_settings, person

NOW = at("2026-12-01T09:00")
ZHANG = "uid=zhangsan,ou=hq,ou=people,dc=example,dc=com"
EMPLOYED = hr(person("1", "张三"), person("2", "李四"))


@pytest.fixture
def cycle(tmp_path: Path) -> Iterator[Cycle]:
    # max_destructive 0: any suspension the guards count is held; an admin's is never counted.
    yield from _cycle(tmp_path, guards={"max_destructive": 0, "destructive_floor": 0})


@pytest.fixture
def unguarded(tmp_path: Path) -> Iterator[Cycle]:
    """Leavers suspended as they leave (the default guards let one suspension of two accounts through)."""
    yield from _cycle(tmp_path)


def _cycle(tmp_path: Path, **overrides: object) -> Iterator[Cycle]:
    made = Cycle(make_settings(tmp_path, **overrides), InMemoryDirectory(created=NOW - timedelta(days=1)))
    made.apply(EMPLOYED, NOW)
    yield made
    made.close()


def suspend(cycle: Cycle, when=NOW, reason: str = "account compromised") -> None:
    with cycle.journal.engine.begin() as conn:
        save_intervention(conn, InterventionKind.SUSPEND, "1", "HQ", reason=reason, actor="admin", now=when)


def unsuspend(cycle: Cycle, when=NOW) -> None:
    with cycle.journal.engine.begin() as conn:
        assert remove_intervention(conn, InterventionKind.SUSPEND, "1", "HQ", journal_kind="unsuspend",
                                   reason="cleared", actor="admin", now=when)


def ask_reset(cycle: Cycle, when) -> None:
    with cycle.journal.engine.begin() as conn:
        assert request_password_reset(conn, "1", "HQ", reason="phished", actor="admin", now=when)


def mine(plan: Plan) -> list[tuple[str, str]]:
    return [(a.kind.value, a.rule) for a in plan.actions if a.employee_id == "1" and a.kind not in (ActionKind.REMOVE_MEMBER, ActionKind.ADD_MEMBER)]


def locked(cycle: Cycle) -> bool:
    return bool(cycle.directory.by_uid("zhangsan").get("locked"))


def disagreements(plan: Plan) -> list:
    return [r for r in plan.reviews if r.kind is ReviewKind.LOCK_DISAGREEMENT]


def test_an_admins_suspension_locks_at_once_is_never_held_and_is_kept_whatever_time_and_hr_say(cycle: Cycle) -> None:
    suspend(cycle)
    plan, result = cycle.apply(EMPLOYED, NOW + timedelta(minutes=5))
    assert result.ok and plan.held == ()  # never counted by the destructive guard, even at max_destructive 0
    (lock,) = [a for a in plan.actions if a.kind is ActionKind.SUSPEND_ACCOUNT]
    assert lock.rule == "intervention" and "suspended by admin on 2026-12-01: account compromised" in lock.reason
    assert locked(cycle)
    state = cycle.journal.person("1")
    assert (state.status.value, state.suspension_rule.value, state.suspended_at) == ("suspended", "intervention", None)
    # HR still employs the person: nothing gives it back, no warning, no deletion, a year on.
    assert mine(cycle.plan(EMPLOYED, NOW + timedelta(days=1))) == []
    assert mine(cycle.plan(EMPLOYED, NOW + timedelta(days=400))) == []
    assert disagreements(cycle.plan(EMPLOYED, NOW + timedelta(days=400))) == []


def test_a_hand_unlock_while_the_suspension_stands_is_locked_again_and_reported_once(cycle: Cycle) -> None:
    suspend(cycle)
    cycle.apply(EMPLOYED, NOW + timedelta(minutes=5))
    cycle.directory.unlock(ZHANG)
    plan, _ = cycle.apply(EMPLOYED, NOW + timedelta(hours=1))
    assert mine(plan) == [("suspend_account", "intervention")]
    (review,) = disagreements(plan)
    assert "recorded as suspended (intervention rule)" in review.reason and "locked again" in review.reason
    assert locked(cycle)
    later = cycle.plan(EMPLOYED, NOW + timedelta(hours=2))
    assert mine(later) == [] and disagreements(later) == []


def test_a_rehire_does_not_lift_an_admins_suspension(unguarded: Cycle) -> None:
    cycle = unguarded
    left = hr(person("1", "张三", status=HrStatus.TERMINATED, left=date(2026, 12, 5)), person("2", "李四"))
    cycle.apply(left, at("2026-12-06T09:00"))
    assert locked(cycle)  # a leaver's suspension
    suspend(cycle, at("2026-12-07T09:00"))
    rehired = hr(person("1", "张三", hire=date(2027, 1, 10)), person("2", "李四"))
    plan, _ = cycle.apply(rehired, at("2027-01-10T09:00"))
    assert mine(plan) == [("record_state", "intervention")]  # the leaver's suspension becomes the admin's
    assert locked(cycle)
    assert cycle.journal.person("1").suspension_rule.value == "intervention"
    assert mine(cycle.plan(rehired, at("2027-09-10T09:00"))) == []  # no retention clock any more


def test_a_departure_takes_the_suspension_over_and_retention_counts_from_it(cycle: Cycle) -> None:
    suspend(cycle)
    cycle.apply(EMPLOYED, NOW + timedelta(minutes=5))
    left = hr(person("1", "张三", status=HrStatus.TERMINATED, left=date(2027, 3, 1)), person("2", "李四"))
    plan, _ = cycle.apply(left, at("2027-03-02T09:00"))
    assert mine(plan) == [("record_state", "leaver")]
    assert cycle.journal.person("1").suspended_at == at("2027-03-02T09:00")
    retention = cycle.settings.policy.retention_days
    assert mine(cycle.plan(left, at("2027-03-02T09:00") + timedelta(days=retention - 1))) == []
    due = cycle.plan(left, at("2027-03-02T10:00") + timedelta(days=retention))
    assert [(h.action.kind.value, h.action.rule) for h in due.held] == [("delete_account", "leaver")]  # a leaver's: guarded


def test_unsuspend_gives_access_back_at_once_with_the_persons_own_password(cycle: Cycle) -> None:
    password = cycle.directory.by_uid("zhangsan")["password"]
    suspend(cycle)
    cycle.apply(EMPLOYED, NOW + timedelta(minutes=5))
    unsuspend(cycle, NOW + timedelta(days=3))
    plan, result = cycle.apply(EMPLOYED, NOW + timedelta(days=3, minutes=1))
    assert result.ok and mine(plan) == [("restore_account", "intervention")]
    assert not locked(cycle) and cycle.directory.by_uid("zhangsan")["password"] == password
    state = cycle.journal.person("1")
    assert (state.status.value, state.suspension_rule, state.reset_due_at) == ("active", None, None)
    assert mine(cycle.plan(EMPLOYED, NOW + timedelta(days=4))) == []


def test_unsuspend_of_a_person_hr_says_left_leaves_the_leaver_flow_to_it(cycle: Cycle) -> None:
    suspend(cycle)
    cycle.apply(EMPLOYED, NOW + timedelta(minutes=5))
    left = hr(person("1", "张三", status=HrStatus.TERMINATED, left=date(2026, 12, 3)), person("2", "李四"))
    cycle.apply(left, at("2026-12-04T09:00"))
    unsuspend(cycle, at("2026-12-05T09:00"))
    assert ("restore_account", "intervention") not in mine(cycle.plan(left, at("2026-12-05T09:05")))
    assert locked(cycle)


def test_a_reset_asked_for_is_given_once_in_the_admins_words(cycle: Cycle) -> None:
    old = cycle.directory.by_uid("zhangsan")["password"]
    ask_reset(cycle, NOW + timedelta(days=1))
    plan, result = cycle.apply(EMPLOYED, NOW + timedelta(days=1, minutes=1))
    assert result.ok and mine(plan) == [("reset_password", "intervention")]
    (reset,) = [a for a in plan.actions if a.kind is ActionKind.RESET_PASSWORD]
    assert "an admin asked for a new password on 2026-12-02" in reset.reason and "rehire" not in reset.reason
    fresh = cycle.vault.read_password("1", "HQ")
    assert cycle.directory.by_uid("zhangsan")["password"] == fresh != old
    assert cycle.journal.person("1").reset_due_at is None
    assert mine(cycle.plan(EMPLOYED, NOW + timedelta(days=2))) == []


def test_a_reset_asked_for_while_suspended_waits_and_follows_the_unsuspend(cycle: Cycle) -> None:
    suspend(cycle)
    cycle.apply(EMPLOYED, NOW + timedelta(minutes=5))
    ask_reset(cycle, NOW + timedelta(hours=1))
    assert mine(cycle.apply(EMPLOYED, NOW + timedelta(hours=2))[0]) == []  # locked: stays due
    assert cycle.journal.person("1").reset_due_at is not None
    unsuspend(cycle, NOW + timedelta(days=1))
    plan, result = cycle.apply(EMPLOYED, NOW + timedelta(days=1, minutes=1))
    assert result.ok and mine(plan) == [("restore_account", "intervention"), ("reset_password", "intervention")]
    assert cycle.directory.by_uid("zhangsan")["password"] == cycle.vault.read_password("1", "HQ")


def test_a_lock_made_by_hand_is_recorded_and_reported_once_then_an_unlock_by_hand_once(cycle: Cycle) -> None:
    cycle.directory.lock(ZHANG)
    plan, result = cycle.apply(EMPLOYED, NOW + timedelta(hours=1))
    assert result.ok and mine(plan) == [("record_state", "manual")]
    (review,) = disagreements(plan)
    assert "recorded as suspended by hand (manual rule)" in review.reason
    state = cycle.journal.person("1")
    assert (state.status.value, state.suspension_rule.value, state.suspended_at) == ("suspended", "manual", None)
    later = cycle.plan(EMPLOYED, NOW + timedelta(hours=2))
    assert mine(later) == [] and disagreements(later) == []
    assert mine(cycle.plan(EMPLOYED, NOW + timedelta(days=400))) == []  # no deletion clock, no warning

    cycle.directory.unlock(ZHANG)
    plan, _ = cycle.apply(EMPLOYED, NOW + timedelta(days=1))
    assert mine(plan) == [("record_state", "manual")]
    (review,) = disagreements(plan)
    assert review.reason.endswith("the suspension is recorded as lifted")
    assert cycle.journal.person("1").status.value == "active"
    assert disagreements(cycle.plan(EMPLOYED, NOW + timedelta(days=2))) == []


# -- an admin's suspension against what HR, the guards and earlier rules say ------------------------

INACTIVE = {"inactivity_days": 60, "inactivity_warning_days": 10, "retention_days": 30, "inactivity_exempt": ["2"]}


def suspended_for_inactivity(tmp_path: Path, **guards: object) -> Cycle:
    """Person 1 never logs in: warned after 60 days, suspended (rule inactivity) 10 days later, a deletion due 30
    days after that."""
    made = next(_cycle(tmp_path, policy=INACTIVE, **({"guards": guards} if guards else {})))
    made.apply(EMPLOYED, NOW + timedelta(days=61))
    return made


def test_an_admins_suspension_stops_the_deletion_an_inactivity_suspension_has_due(tmp_path: Path) -> None:
    cycle = suspended_for_inactivity(tmp_path)
    cycle.apply(EMPLOYED, NOW + timedelta(days=72))
    state = cycle.journal.person("1")
    assert (state.status.value, state.suspension_rule.value) == ("suspended", "inactivity") and locked(cycle)
    due = NOW + timedelta(days=72 + 31)
    assert ("delete_account", "inactivity") in mine(cycle.plan(EMPLOYED, due))

    suspend(cycle, due, reason="compromised; kept for the investigation")
    plan, result = cycle.apply(EMPLOYED, due + timedelta(minutes=1))
    assert result.ok and mine(plan) == [("record_state", "intervention")]  # the suspension is the admin's now
    assert locked(cycle) and cycle.journal.person("1").suspension_rule.value == "intervention"
    assert mine(cycle.plan(EMPLOYED, due + timedelta(days=400))) == []  # no deletion clock of its own
    cycle.close()


def test_an_older_rejection_of_the_same_lock_does_not_hold_the_admins_suspension(tmp_path: Path) -> None:
    cycle = suspended_for_inactivity(tmp_path, max_destructive=0, destructive_floor=0)
    plan, _ = cycle.apply(EMPLOYED, NOW + timedelta(days=72))
    assert [h.action.rule for h in plan.held if h.action.kind is ActionKind.SUSPEND_ACCOUNT] == ["inactivity"]
    ids = cycle.journal.sync_held(plan.held, plan.actions, NOW + timedelta(days=72))
    assert cycle.journal.decide(ids, "rejected", "admin", NOW + timedelta(days=72), reason="keep it open")
    assert not locked(cycle)

    suspend(cycle, NOW + timedelta(days=73))
    plan, result = cycle.apply(EMPLOYED, NOW + timedelta(days=73, minutes=1))
    assert result.ok and ("suspend_account", "intervention") in mine(plan) and plan.held == ()
    assert locked(cycle)
    cycle.close()


def unusable_feed(*rows: object) -> object:
    """Most rows rejected: HQ's feed is unusable, nothing of HQ that rests on HR is done."""
    bad = tuple(RejectedRow(row=10 + i, field="hire_date", reason="not a date", fix="write YYYY-MM-DD",
                            employee_id=f"9{i}", company="HQ") for i in range(5))
    return hr(*rows, rejected=bad)


def test_an_admins_suspension_locks_even_when_the_companys_hr_feed_is_unusable(cycle: Cycle) -> None:
    suspend(cycle)
    broken = unusable_feed(person("1", "张三", title="总监"), person("2", "李四", title="总监"))  # HR changes too
    plan, result = cycle.apply(broken, NOW + timedelta(minutes=5))
    assert "HQ" in plan.unusable and result.ok
    assert {(a.kind.value, a.employee_id) for a in plan.actions} == {("suspend_account", "1"), ("remove_member", "1")}
    assert locked(cycle)  # nothing else of HQ's is done: no title written for anyone

    # Giving access back rests on HR employing the person: it waits for a usable feed.
    unsuspend(cycle, NOW + timedelta(days=1))
    assert [a.kind.value for a in cycle.plan(broken, NOW + timedelta(days=1, minutes=1)).actions] == []
    assert mine(cycle.plan(EMPLOYED, NOW + timedelta(days=1, minutes=1))) == [("restore_account", "intervention")]
