"""Inactivity: unused for `inactivity_days` -> warned, then suspended; deletion follows retention.

Last use is the later of the last successful bind and the account's creation
(an account never used counts from its creation).  A suspension always
follows a warning by at least `inactivity_warning_days`, even when the
daemon first sees an account that is long idle.  People on leave and
exempt employees are never suspended for inactivity.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from lifecycle.domain.models import DirectoryEntry, PersonState, PersonStatus, SuspensionRule
from policies.context import PolicyContext
from policies.employment import Employment
from policies.intent import Step


def last_use(entry: DirectoryEntry, state: PersonState | None) -> datetime | None:
    """The latest of the known dates (the first of equal ones, as max() picks)."""
    used = entry.last_bind
    created = entry.created
    if created is not None and (used is None or created > used):
        used = created
    if state is not None:
        for when in (state.created_at, state.restored_at):
            if when is not None and (used is None or when > used):
                used = when
    return used


def inactivity_dates(entry: DirectoryEntry, state: PersonState | None, ctx: PolicyContext) -> tuple[datetime, datetime] | None:
    """(warning due, suspension due) for an account, or None when last use is unknown."""
    used = last_use(entry, state)
    if used is None:
        return None
    policy = ctx.settings.policy
    warn_at = used + timedelta(days=policy.inactivity_days - policy.inactivity_warning_days)
    suspend_at = used + timedelta(days=policy.inactivity_days)
    if state is not None and state.warned_at is not None and state.warned_at >= used:
        suspend_at = max(suspend_at, state.warned_at + timedelta(days=policy.inactivity_warning_days))
    return warn_at, suspend_at


def exempt_reason(employee_id: str, emp: Employment, ctx: PolicyContext) -> str | None:
    if emp.on_leave:
        return "on leave"
    if employee_id in ctx.settings.policy.inactivity_exempt:
        return "listed in [policy] inactivity_exempt"
    return None


def decide_inactivity(
    employee_id: str, entry: DirectoryEntry, state: PersonState | None, emp: Employment, ctx: PolicyContext
) -> tuple[Step | None, Step | None]:
    """(warning, suspension) steps due at `now`; at most one of them is set."""
    if state is None or state.status != PersonStatus.ACTIVE or exempt_reason(employee_id, emp, ctx):
        return None, None
    used = last_use(entry, state)
    if used is None:
        return None, None
    if ctx.now < used + ctx.warn_after:
        return None, None  # not even due for a warning (nearly everyone): the warn_at of inactivity_dates
    dates = inactivity_dates(entry, state, ctx)
    assert dates is not None
    _, suspend_at = dates
    days = ctx.settings.policy.inactivity_days
    zone = ctx.zone(state.company)  # logins are stored in UTC: the person's calendar day is the company's

    def day(when: datetime) -> str:
        return when.astimezone(zone).date().isoformat()

    warned_at = state.warned_at
    if warned_at is None or warned_at < used:
        return (
            Step(
                "inactivity",
                f"no login since {day(used)}; the account will be suspended on or after "
                f"{day(max(suspend_at, ctx.now + timedelta(days=ctx.settings.policy.inactivity_warning_days)))} "
                f"unless it is used",
                {"last_used": used.isoformat()},
            ),
            None,
        )
    if ctx.now >= suspend_at:
        return None, Step(
            "inactivity",
            f"no login since {day(used)} (more than {days} days) and warned on {day(warned_at)}",
            {"rule": SuspensionRule.INACTIVITY.value},
        )
    return None, None
