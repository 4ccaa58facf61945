"""Stored state and the directory disagree about whether an account is locked.

This happens when the state store was restored from an older backup, or when someone locked or
unlocked an account by hand.  The directory is what people log in against, so it is taken as the
truth about access today, and the disagreement is reported once:

- a lock the daemon did not make is recorded (suspended, rule "manual": no deletion clock, groups
  left as they are; policies.interventions), so the next plan sees state and directory agree;
- an unlock of a "manual" or "inactivity" suspension is recorded as lifted (policies.engine);
- an unlock while an admin's suspension stands, or of a leaver HR says has left, is locked again
  by the suspension's own rule;
- an unlock of a suspension nothing in this plan explains (a leaver absent from HR but not yet
  counted as departed, a state restored from a backup) takes nothing away and deletes nothing
  while it lasts; it is reported every cycle, as nothing is recorded for it: the state cannot
  tell whether the lock or the unlock is the stale one.
"""

from __future__ import annotations

from lifecycle.domain.models import PersonStatus, Review, ReviewKind, SuspensionRule
from policies.intent import AccountStep, Intent, Step
from policies.join import PersonView

_HAS_ENTRY = (AccountStep.KEEP, AccountStep.ADOPT)


def reconcile_lock(view: PersonView, intent: Intent) -> None:
    """Report a lock the stored state does not know of (or a missing one) and keep access as it is."""
    entry, state = view.entry, view.state
    if entry is None or intent.account not in _HAS_ENTRY or intent.restore is not None:
        return
    recorded_locked = state is not None and state.status == PersonStatus.SUSPENDED
    if entry.locked == recorded_locked:
        return
    if entry.locked:
        if intent.suspend is not None or intent.delete is not None:
            return  # this plan locks or deletes it, for a reason of its own
        if intent.record is not None and intent.record.extra.get("status") == PersonStatus.SUSPENDED.value:
            return  # this plan records the lock as a suspension of its own (an admin's)
        recorded = f"recorded as {state.status.value}" if state is not None else "not recorded by the daemon"
        # Not unlocked, not put back into groups, its mailbox not re-enabled, no inactivity warning.
        intent.enabled = False
        intent.memberships_frozen = True
        intent.warn = None
        _record_manual_lock(intent, entry.uid)
        intent.review(
            Review(
                ReviewKind.LOCK_DISAGREEMENT, view.employee_id, view.company, entry.dn,
                f"account {entry.uid} is locked in the directory but {recorded} (a state store restored from an "
                "older backup, or a lock made by hand); it stays locked and is recorded as suspended by hand (manual "
                "rule): its groups are left as they are, its mailbox is kept without login, nothing is deleted for it",
                "find out who locked it: to give access back, remove pwdAccountLockedTime from the entry (the next "
                "cycle records the suspension as lifted); to keep it locked, leave it (the daemon never unlocks it "
                "on its own)",
            )
        )
        return
    assert state is not None  # recorded_locked
    rule = state.suspension_rule.value if state.suspension_rule else "unknown"
    if intent.suspend is not None:
        outcome = "it is locked again, as the suspension's rule requires"
    elif intent.record is not None and intent.enabled:
        outcome = "the suspension is recorded as lifted"
    else:
        outcome = "its groups and mailbox are left as they are"
        intent.memberships_frozen = True
        intent.enabled = False
        if intent.delete is not None:
            # Nothing in HR confirms the departure: an account someone is using is not deleted on old records.
            intent.delete = None
            outcome += ", and it is not deleted while this lasts"
    intent.review(
        Review(
            ReviewKind.LOCK_DISAGREEMENT, view.employee_id, view.company, entry.dn,
            f"account {entry.uid} is not locked in the directory but recorded as suspended ({rule} rule) "
            f"(a state store restored from an older backup, or an unlock made by hand); {outcome}",
            "check who unlocked it; the action log shows the suspension and this cycle's decision",
        )
    )


MANUAL = SuspensionRule.MANUAL.value


def _record_manual_lock(intent: Intent, uid: str) -> None:
    """The lock found is recorded, once: without a `suspended_at`, it starts no deletion clock."""
    extra = {"status": PersonStatus.SUSPENDED.value, "suspension_rule": MANUAL, "suspended_at": None, "warned_at": None}
    reason = f"account {uid} was found locked in the directory, a lock the daemon did not make; recorded as suspended by hand"
    record = intent.record
    if record is not None:  # one state record per person and plan (an absence count reset)
        intent.record = Step(MANUAL, f"{reason}; {record.reason}", {**record.extra, **extra})
    else:
        intent.record = Step(MANUAL, reason, extra)
