"""What the console shows of the people something is about to happen to (the daemon publishes it).

The web process reads neither HR nor the directory; it shows, for each person in motion, the
standing and the dated events `lifecycle explain` would give.  People in steady employment with
nothing planned are left out: their next event is an inactivity date that moves with every login,
and publishing it for everyone would rewrite the whole table on every cycle.
"""

from __future__ import annotations

from collections.abc import Iterable

from lifecycle.domain.models import PersonOutlook, PersonStatus
from policies.context import PolicyContext
from policies.join import PersonView
from policies.timeline import explain_upcoming


def outlooks(views: Iterable[PersonView], concerned: frozenset[str], ctx: PolicyContext) -> tuple[PersonOutlook, ...]:
    """Each person in motion's standing and upcoming events, in employee id order."""
    found: list[PersonOutlook] = []
    for view in views:
        if not _moving(view, concerned, ctx):
            continue
        standing, events = explain_upcoming(view, ctx)
        name = view.hr.name if view.hr is not None else (view.entry.cn if view.entry is not None else "")
        found.append(PersonOutlook(
            employee_id=view.employee_id,
            company=view.company,
            name=name,
            standing=standing,
            events=tuple((e.when.isoformat(), e.what) for e in events),
        ))
    found.sort(key=lambda o: o.employee_id)
    return tuple(found)


def _moving(view: PersonView, concerned: frozenset[str], ctx: PolicyContext) -> bool:
    if view.employee_id in concerned:
        return True
    state = view.state
    if state is not None and state.status == PersonStatus.DELETED:
        return False  # nothing comes after a deletion (a rehire is a joiner again: concerned then)
    if state is not None and (state.status != PersonStatus.ACTIVE or state.warned_at is not None):
        return True
    record = view.hr
    if record is None:
        return False
    return record.termination_date is not None or record.hire_date > ctx.today(view.company)
