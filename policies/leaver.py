"""Leaver: departure suspends (disable, out of the groups); deletion waits for retention.

A person missing from the export is not a leaver unless the config says the
export drops leavers (`absent_means = "terminated"`), and then only after
`absent_days` of continuous absence, dated the first absent day.

A departure takes over whatever suspension came before it: an account already
suspended for inactivity becomes a leaver's (its mail then goes to the manager,
and it keeps the departed address as a forward when it is deleted), and its
retention counts from the departure, as for a leaver whose account was active,
not from the earlier inactivity suspension.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from lifecycle.domain.models import PersonState, PersonStatus, Review, ReviewKind, SuspensionRule
from policies.context import PolicyContext
from policies.employment import Employment, Standing
from policies.intent import AccountStep, Intent, Step
from policies.join import PersonView
from policies.retention import decide_deletion


def departure_from_absence(view: PersonView, ctx: PolicyContext) -> Employment | None:
    """An Employment of DEPARTED when a long absence counts as a departure, else None."""
    state = view.state
    hr_settings = ctx.settings.hr
    if state is None or hr_settings.absent_means != "terminated" or state.absent_since is None or ctx.absence_frozen:
        return None
    if ctx.now - state.absent_since < timedelta(days=hr_settings.absent_days):
        return None
    first_day = state.absent_since.astimezone(ctx.zone(view.company)).date()
    return Employment(
        Standing.DEPARTED,
        first_day,
        why=f"absent from the HR export since {first_day} ({hr_settings.absent_days}+ days; absent_means = terminated)",
    )


def decide_departed(view: PersonView, emp: Employment, ctx: PolicyContext) -> Intent:
    intent = Intent(view.employee_id, view.company, departed=True)
    state, entry = view.state, view.entry
    if entry is None:
        if state is not None and state.status not in (PersonStatus.DELETED, PersonStatus.CONFIRMED):
            intent.record = Step(
                "leaver",
                f"{emp.why}; account {state.uid} is no longer in the directory; recorded as deleted",
                {"status": PersonStatus.DELETED.value, "deleted_at": ctx.now.isoformat()},
            )
        return intent
    intent.uid, intent.dn = entry.uid, entry.dn
    intent.account = AccountStep.KEEP
    if state is None or state.status in (PersonStatus.DELETED, PersonStatus.CONFIRMED):
        intent.account = AccountStep.ADOPT
        intent.adopt = Step("adopt", f"existing entry {entry.dn} matched by employeeNumber")
    if state is None or state.status != PersonStatus.SUSPENDED:
        intent.suspend = Step("leaver", f"{emp.why}: login disabled, removed from groups", {"rule": SuspensionRule.LEAVER.value})
        return intent
    if state.suspension_rule == SuspensionRule.INACTIVITY:
        _take_over_suspension(intent, state, entry.locked, emp, ctx)
        return intent
    if not entry.locked:
        # Someone unlocked a leaver's account: lock it again, keeping the retention clock.
        intent.suspend = Step(
            "leaver", f"{emp.why}, but the account was unlocked outside the daemon: login disabled again",
            {"rule": (state.suspension_rule or SuspensionRule.LEAVER).value, "keep_date": True},
        )
    intent.delete = decide_deletion(state, ctx)
    return intent


def _take_over_suspension(intent: Intent, state: PersonState, locked: bool, emp: Employment, ctx: PolicyContext) -> None:
    """The departure makes an inactivity suspension a leaver's, dated now: retention starts again."""
    since = f" on {state.suspended_at.date()}" if state.suspended_at else ""
    if not locked:  # the suspension was lifted outside the daemon: lock again, as for any leaver
        intent.suspend = Step("leaver", f"{emp.why}: login disabled, removed from groups (the inactivity suspension{since} "
                                        "was lifted outside the daemon)", {"rule": SuspensionRule.LEAVER.value})
        return
    intent.record = Step(
        "leaver",
        f"{emp.why}; the account, suspended for inactivity{since}, is a leaver's from now on: its mail is handled as a "
        f"leaver's and its retention of {ctx.settings.policy.retention_days} days counts from the departure",
        {"suspension_rule": SuspensionRule.LEAVER.value, "suspended_at": ctx.now_iso},
    )


def decide_absent(view: PersonView, ctx: PolicyContext) -> Intent:
    """No HR row, not (yet) a departure: report or start counting the absence."""
    state = view.state
    assert state is not None
    intent = Intent(
        view.employee_id, view.company, memberships_frozen=state.status in (PersonStatus.ACTIVE, PersonStatus.CONFIRMED)
    )
    if state.status in (PersonStatus.DELETED, PersonStatus.CONFIRMED):
        return intent  # a confirmed match is adopted only once HR has the person
    if view.entry is not None:
        intent.uid, intent.dn, intent.account = view.entry.uid, view.entry.dn, AccountStep.KEEP
        intent.enabled = state.status == PersonStatus.ACTIVE
    if state.status == PersonStatus.SUSPENDED:
        # A rejected row without a readable id may be this person (a rehire): no deletion then.
        intent.delete = None if ctx.absence_frozen else decide_deletion(state, ctx)
        return intent
    if ctx.settings.hr.absent_means == "terminated" and ctx.absence_frozen:
        intent.review(
            Review(
                ReviewKind.ABSENT_FROM_HR,
                view.employee_id,
                view.company,
                view.entry.dn if view.entry else state.uid,
                "not in the HR export, but some rejected rows have no readable employee id and may be this person; "
                "the absence is not counted this cycle",
                "fix the rejected rows listed in the plan",
            )
        )
        return intent
    if ctx.settings.hr.absent_means == "terminated":
        if state.absent_since is None:
            intent.record = Step(
                "absent",
                f"not in the HR export; counts as a departure after {ctx.settings.hr.absent_days} days of absence",
                {"absent_since": ctx.now.isoformat()},
            )
        return intent
    intent.review(
        Review(
            ReviewKind.ABSENT_FROM_HR,
            view.employee_id,
            view.company,
            view.entry.dn if view.entry else state.uid,
            "this employee has an account but no row in the HR export; nothing is done (absent_means = review)",
            "add the row back, give it a termination date, or set [hr] absent_means = \"terminated\"",
        )
    )
    return intent


def clear_absence(view: PersonView, ctx: PolicyContext, intent: Intent) -> None:
    if view.state is None or view.state.absent_since is None:
        return
    record = intent.record
    if record is None:
        intent.record = Step("absent", "back in the HR export; absence count reset", {"absent_since": None})
    elif "absent_since" not in record.extra:  # one state record per person and plan: this cycle, not the next
        intent.record = Step(record.rule, f"{record.reason}; back in the HR export, absence count reset",
                             {**record.extra, "absent_since": None})


def as_of(value: datetime | None) -> str:
    return value.isoformat() if value else ""
