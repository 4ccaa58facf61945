"""What the console shows of the people something is about to happen to (the daemon publishes it).

The web process reads neither HR nor the directory; it shows, for each person in motion, the
standing and the dated events `lifecycle explain` would give: joiners before their start, leavers,
the suspended and the warned, and anyone with a held action or a finding for an admin.  People in
steady employment are left out, planned actions or not (the published plan lists those): their
next event is an inactivity date that moves with every login, and an initial load would otherwise
publish everyone.
"""

from __future__ import annotations

from collections.abc import Iterable

from lifecycle.domain.models import PersonOutlook, PersonStatus
from policies.context import PolicyContext
from policies.join import PersonView
from policies.timeline import explain_upcoming


def outlooks(views: Iterable[PersonView], concerned: frozenset[str], ctx: PolicyContext) -> tuple[PersonOutlook, ...]:
    """Each person in motion's standing and upcoming events, in employee id order.

    `concerned`: the people with a held action or a finding, in motion whatever their dates.
    """
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
    record, state = view.hr, view.state
    if record is not None and record.hire_date > ctx.today(view.company):
        return True  # a joiner before their start, a rehire after a deletion among them
    if state is not None and state.status == PersonStatus.DELETED:
        return False  # nothing more comes after a deletion
    if state is not None and (state.status != PersonStatus.ACTIVE or state.warned_at is not None):
        return True
    return record is not None and record.termination_date is not None
