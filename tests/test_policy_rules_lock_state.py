"""The state store and the directory disagree about a lock (tests/MUTATION.md).

The directory is the truth about access today: the disagreement is reported, and nothing
gives or takes away access because of it; only a step the plan explains by its own rule
changes anything. `tests/test_lock_disagreement.py` shows the same against slapd; these
pin each branch of `reconcile_lock` and its words without a server.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from lifecycle.domain.models import DirectoryEntry, PersonState, PersonStatus, Review, ReviewKind, SuspensionRule
from policies.intent import AccountStep, Intent, Step
from policies.join import PersonView
from policies.lock_state import reconcile_lock
from tests.harness import at

DN = "uid=zhangsan,ou=hq,ou=people,dc=example,dc=com"
T0 = at("2026-01-01T09:00")
STEP = Step("rule", "because")
LOCKED_FIX = ("find out who locked it: to give access back, remove pwdAccountLockedTime from the entry (the next "
              "cycle records the suspension as lifted); to keep it locked, leave it (the daemon never unlocks it on its own)")
UNLOCKED_FIX = "check who unlocked it; the action log shows the suspension and this cycle's decision"


def view(*, locked: bool, state: PersonState | None, entry: bool = True) -> PersonView:
    found = DirectoryEntry(dn=DN, uid="zhangsan", employee_number="1", locked=locked) if entry else None
    return PersonView("1", None, state, found, "HQ")


def active() -> PersonState:
    return PersonState("1", "zhangsan", "HQ", PersonStatus.ACTIVE, created_at=T0)


def suspended(rule: SuspensionRule | None = SuspensionRule.LEAVER) -> PersonState:
    return PersonState("1", "zhangsan", "HQ", PersonStatus.SUSPENDED, created_at=T0, suspended_at=T0, suspension_rule=rule)


def intent(account: AccountStep = AccountStep.KEEP, **steps) -> Intent:
    return Intent("1", "HQ", account=account, uid="zhangsan", dn=DN, enabled=True, **steps)


def unchanged(made: Intent, **expected) -> bool:
    return (made.enabled, made.memberships_frozen, made.warn, made.delete, made.reviews) == (
        expected.get("enabled", True), False, expected.get("warn"), expected.get("delete"), ())


# -- locked in the directory, not recorded as suspended ---------------------------------------------

def test_a_lock_the_state_does_not_know_of_keeps_the_account_locked_out_of_groups_and_unwarned() -> None:
    made = intent(warn=STEP)
    reconcile_lock(view(locked=True, state=active()), made)
    assert (made.enabled, made.memberships_frozen, made.warn) == (False, True, None)
    assert made.reviews == (Review(
        ReviewKind.LOCK_DISAGREEMENT, "1", "HQ", DN,
        "account zhangsan is locked in the directory but recorded as active (a state store restored from an "
        "older backup, or a lock made by hand); it stays locked and is recorded as suspended by hand (manual rule): "
        "its groups are left as they are, its mailbox is kept without login, nothing is deleted for it",
        LOCKED_FIX,
    ),)
    # Recorded, so the next plan sees the state and the directory agree: reported once.
    assert made.record is not None and made.record.rule == "manual"
    assert made.record.extra == {"status": "suspended", "suspension_rule": "manual", "suspended_at": None,
                                 "warned_at": None}


def test_a_locked_entry_the_daemon_never_recorded_is_reported_as_not_recorded() -> None:
    made = intent(AccountStep.ADOPT)
    reconcile_lock(view(locked=True, state=None), made)
    (review,) = made.reviews
    assert review.reason.startswith("account zhangsan is locked in the directory but not recorded by the daemon (")
    assert (made.enabled, made.memberships_frozen) == (False, True)


@pytest.mark.parametrize("step", ["suspend", "delete"])
def test_a_lock_the_plan_makes_or_deletes_anyway_is_no_disagreement(step: str) -> None:
    made = intent(warn=STEP, **{step: STEP})
    reconcile_lock(view(locked=True, state=active()), made)
    assert (made.enabled, made.memberships_frozen, made.warn, made.reviews) == (True, False, STEP, ())


# -- not locked in the directory, recorded as suspended ---------------------------------------------

def test_an_unlocked_leaver_the_plan_suspends_again_is_reported_as_locked_again() -> None:
    made = intent(suspend=STEP)
    reconcile_lock(view(locked=False, state=suspended()), made)
    assert made.reviews == (Review(
        ReviewKind.LOCK_DISAGREEMENT, "1", "HQ", DN,
        "account zhangsan is not locked in the directory but recorded as suspended (leaver rule) (a state store "
        "restored from an older backup, or an unlock made by hand); it is locked again, as the suspension's rule requires",
        UNLOCKED_FIX,
    ),)
    assert (made.enabled, made.memberships_frozen) == (True, False)  # the suspend step does the rest


def test_an_admins_unlock_of_an_inactivity_suspension_is_recorded_as_lifted() -> None:
    made = intent(record=STEP)
    reconcile_lock(view(locked=False, state=suspended(SuspensionRule.INACTIVITY)), made)
    (review,) = made.reviews
    assert review.reason.endswith("recorded as suspended (inactivity rule) (a state store restored from an older "
                                  "backup, or an unlock made by hand); the suspension is recorded as lifted")
    assert (made.enabled, made.memberships_frozen) == (True, False)


def test_an_unlock_with_nothing_explaining_it_freezes_groups_and_mail_and_takes_nothing_away() -> None:
    made = intent(record=STEP)
    made.enabled = False  # recorded, but not given back: not the "lifted" case
    reconcile_lock(view(locked=False, state=suspended(None)), made)
    (review,) = made.reviews
    assert "recorded as suspended (unknown rule)" in review.reason
    assert review.reason.endswith("; its groups and mailbox are left as they are")
    assert (made.enabled, made.memberships_frozen, made.delete) == (False, True, None)


def test_an_unlocked_account_recorded_as_suspended_is_not_deleted_on_old_records() -> None:
    made = intent(delete=STEP)
    reconcile_lock(view(locked=False, state=suspended()), made)
    assert made.delete is None
    assert (made.enabled, made.memberships_frozen) == (False, True)
    (review,) = made.reviews
    assert review.reason.endswith("; its groups and mailbox are left as they are, and it is not deleted while this lasts")


# -- nothing to reconcile ---------------------------------------------------------------------------

@pytest.mark.parametrize("locked, state", [(True, "suspended"), (False, "active"), (False, None)])
def test_a_directory_that_agrees_with_the_state_is_left_alone(locked: bool, state: str | None) -> None:
    recorded = {"suspended": suspended(), "active": active(), None: None}[state]
    made = intent(warn=STEP, delete=STEP)
    reconcile_lock(view(locked=locked, state=recorded), made)
    assert unchanged(made, warn=STEP, delete=STEP)


@pytest.mark.parametrize("account", [AccountStep.NONE, AccountStep.CREATE])
def test_no_disagreement_without_an_entry_the_plan_keeps_or_adopts(account: AccountStep) -> None:
    made = intent(account, warn=STEP)
    reconcile_lock(view(locked=True, state=active()), made)
    assert unchanged(made, warn=STEP)


def test_no_disagreement_without_an_entry_or_for_a_rehire_being_restored() -> None:
    made = intent(warn=STEP)
    reconcile_lock(view(locked=True, state=active(), entry=False), made)
    assert unchanged(made, warn=STEP)
    made = intent(restore=STEP, warn=STEP)
    reconcile_lock(view(locked=False, state=suspended()), made)
    assert unchanged(made, warn=STEP)


def test_a_deleted_record_whose_entry_is_locked_is_reported_as_recorded_deleted() -> None:
    gone = PersonState("1", "zhangsan", "HQ", PersonStatus.DELETED, created_at=T0, deleted_at=datetime(2026, 2, 1))
    made = intent()
    reconcile_lock(view(locked=True, state=gone), made)
    (review,) = made.reviews
    assert "locked in the directory but recorded as deleted (" in review.reason
