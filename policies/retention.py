"""Retention: a suspended account is deleted only `retention_days` after its suspension.

The clock is the suspension that stands: a departure that takes over an earlier
inactivity suspension restarts it (policies.leaver), so a leaver's account is kept
the full retention after the departure, whatever came before.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from lifecycle.domain.models import PersonState, PersonStatus
from policies.context import PolicyContext
from policies.intent import Step


def deletion_due(state: PersonState, ctx: PolicyContext) -> datetime | None:
    if state.status != PersonStatus.SUSPENDED or state.suspended_at is None:
        return None
    return state.suspended_at + timedelta(days=ctx.settings.policy.retention_days)


def decide_deletion(state: PersonState, ctx: PolicyContext) -> Step | None:
    due = deletion_due(state, ctx)
    suspended = state.suspended_at
    if due is None or suspended is None or ctx.now < due or state.employee_id in ctx.holds:
        return None
    rule = state.suspension_rule.value if state.suspension_rule else "leaver"
    return Step(
        rule,
        f"suspended on {suspended.date()} ({rule}); retention of "
        f"{ctx.settings.policy.retention_days} days ended on {due.date()}",
    )
