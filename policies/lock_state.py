"""Stored state and the directory disagree about whether an account is locked.

This happens when the state store was restored from an older backup, or when someone locked or
unlocked an account by hand.  The directory is what people log in against, so it is taken as the
truth about access today; the disagreement is reported, and nothing gives or takes away access
because of it: only a step the plan explains by its own rule (a leaver locked again, a rehire
restored, an inactivity suspension lifted by an admin's unlock) changes anything.
"""

from __future__ import annotations

from lifecycle.domain.models import PersonStatus, Review, ReviewKind
from policies.intent import AccountStep, Intent
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
        recorded = f"recorded as {state.status.value}" if state is not None else "not recorded by the daemon"
        # Not unlocked, not put back into groups, its mailbox not re-enabled, no inactivity warning.
        intent.enabled = False
        intent.memberships_frozen = True
        intent.warn = None
        intent.review(
            Review(
                ReviewKind.LOCK_DISAGREEMENT, view.employee_id, view.company, entry.dn,
                f"account {entry.uid} is locked in the directory but {recorded} (a state store restored from an "
                "older backup, or a lock made by hand); it stays locked and its groups and mailbox are left as they are",
                "find out who locked it: to give access back, remove pwdAccountLockedTime from the entry; "
                "to keep it locked, leave it (the daemon never unlocks it on its own)",
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
