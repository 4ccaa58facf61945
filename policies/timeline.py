"""What happens next to one person, and when: the answer behind `lifecycle explain`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from lifecycle.domain.models import DirectorySnapshot, HrSnapshot, PersonStatus, StoredState, SuspensionRule
from lifecycle.domain.settings import Settings
from policies.context import PolicyContext, start_of_day
from policies.employment import Standing, employment
from policies.forwards import forward_instants
from policies.inactivity import exempt_reason, inactivity_dates
from policies.join import PersonView, join_snapshots
from policies.retention import deletion_due


@dataclass(frozen=True)
class Upcoming:
    when: date | datetime
    what: str


def explain_upcoming(view: PersonView, ctx: PolicyContext) -> tuple[str, list[Upcoming]]:
    """(standing in words, upcoming events in date order) as of ctx.now."""
    emp = employment(view.hr, ctx)
    state, entry = view.state, view.entry
    events: list[Upcoming] = []
    retention = ctx.settings.policy.retention_days
    zone = ctx.zone(view.company)
    if emp.standing == Standing.NOT_STARTED and emp.effective:
        events.append(Upcoming(emp.effective, "account and mailbox are created (joiner)"))
    if state is not None and state.status == PersonStatus.SUSPENDED:
        due = deletion_due(state, ctx)
        leave_day = view.hr.termination_date if view.hr is not None else None
        if state.suspension_rule == SuspensionRule.INACTIVITY and leave_day is not None and emp.standing != Standing.DEPARTED:
            # A departure takes over an inactivity suspension (policies.leaver): retention restarts then.
            events.append(Upcoming(leave_day, "the departure takes over the suspension: mail is handled as a leaver's "
                                              "and retention counts from this day"))
            due = start_of_day(leave_day, zone) + timedelta(days=retention)
        if due is not None and view.employee_id in ctx.holds:
            events.append(Upcoming(due, "deletion would be due, but the account is on legal hold (`lifecycle release` lifts it)"))
        elif due is not None:
            events.append(Upcoming(due, f"account is deleted ({retention} days after suspension), unless rehired or held"))
    elif view.hr is not None and view.hr.termination_date and emp.standing != Standing.DEPARTED:
        leave_day = view.hr.termination_date
        events.append(Upcoming(leave_day, "login is disabled and the account leaves its groups (leaver)"))
        events.append(
            Upcoming(start_of_day(leave_day, zone) + timedelta(days=retention), f"account is deleted after {retention} days of retention")
        )
    if emp.standing == Standing.EMPLOYED and entry is not None and state is not None and state.status == PersonStatus.ACTIVE:
        exempt = exempt_reason(view.employee_id, emp, ctx)
        dates = inactivity_dates(entry, state, ctx)
        if exempt:
            events.append(Upcoming(ctx.now.date(), f"never suspended for inactivity: {exempt}"))
        elif dates is not None:
            warn_at, suspend_at = dates
            if state.warned_at is None or warn_at > state.warned_at:
                events.append(Upcoming(warn_at, "inactivity warning is sent if the account stays unused"))
            events.append(Upcoming(suspend_at, "account is suspended for inactivity if it stays unused"))
    if view.hr is not None and view.hr.termination_date is not None:
        # Nothing about inactivity matters after the person has left.
        last_day = start_of_day(view.hr.termination_date, zone)
        events = [e for e in events if "inactivity" not in e.what or _instant(e.when, zone) < last_day]
    events.sort(key=lambda e: _instant(e.when, zone))
    return f"{emp.standing.value}: {emp.why}", events


def _instant(when: date | datetime, zone: tzinfo) -> datetime:
    return when if isinstance(when, datetime) else start_of_day(when, zone)


def next_due(hr: HrSnapshot, directory: DirectorySnapshot, state: StoredState, settings: Settings, now: datetime) -> datetime | None:
    """The earliest instant after `now` at which time alone could change the plan.

    Until then, with unchanged inputs, a cycle has nothing new to decide: the daemon
    uses this to keep quiet cycles cheap.  (An empty plan carries it already:
    `Plan.next_due`, computed from the views the plan was made from.)
    """
    ctx = PolicyContext(settings, now, interventions=state.interventions)
    return next_due_of(join_snapshots(hr, directory, state, ctx).persons, ctx)


def next_due_of(views: Iterable[PersonView], ctx: PolicyContext) -> datetime | None:
    """`next_due` for people already joined."""
    now, settings = ctx.now, ctx.settings
    prehire = timedelta(days=settings.policy.prehire_days)
    absent = timedelta(days=settings.hr.absent_days)
    earliest: datetime | None = None
    for view in views:
        zone = ctx.zone(view.company)
        _, upcoming = explain_upcoming(view, ctx)
        candidates = [_instant(e.when, zone) for e in upcoming]
        if view.hr is not None:
            candidates.append(start_of_day(view.hr.hire_date - prehire, zone))
        if view.state is not None and view.state.absent_since is not None:
            candidates.append(view.state.absent_since + absent)
        forward = ctx.interventions.forwards.get(view.employee_id)
        if forward is not None:  # an admin's forward starts or ends (policies.forwards)
            candidates.extend(forward_instants(forward, zone))
        for candidate in candidates:
            if candidate > now and (earliest is None or candidate < earliest):
                earliest = candidate
    return earliest
