"""Who the console's published outlook covers (policies.outlook): the people something is coming to."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from lifecycle.domain.models import PersonState, PersonStatus
from policies.context import PolicyContext
from policies.join import PersonView
from policies.outlook import outlooks
from tests.harness import at, make_settings, person

SETTINGS = make_settings(Path("/nonexistent/outlook"))
NOW = at("2026-12-01T09:00")


def view(employee_id: str, *, hire: date = date(2020, 1, 1), left: date | None = None,
         status: PersonStatus | None = PersonStatus.ACTIVE) -> PersonView:
    record = person(employee_id, "李娜", hire=hire, left=left)
    state = PersonState(employee_id, f"u{employee_id}", "HQ", status=status) if status is not None else None
    return PersonView(employee_id, record, state, None, "HQ")


def test_the_outlook_covers_joiners_leavers_the_suspended_rehires_and_the_concerned_only() -> None:
    ctx = PolicyContext(SETTINGS, NOW)
    views = [
        view("1"),  # steady: left out, planned actions or not
        view("2", hire=date(2027, 1, 10), status=None),  # a joiner before the start
        view("3", left=date(2027, 1, 15)),  # a leaver
        view("4", status=PersonStatus.SUSPENDED),
        view("5", status=PersonStatus.DELETED),  # gone: nothing comes
        view("6", hire=date(2027, 1, 10), status=PersonStatus.DELETED),  # rehired after the deletion
        view("7"),  # steady, with a finding for an admin
    ]
    found = outlooks(views, frozenset({"7"}), ctx)
    assert [o.employee_id for o in found] == ["2", "3", "4", "6", "7"]
    rehire = next(o for o in found if o.employee_id == "6")
    assert rehire.standing.startswith("not_started") and rehire.events[0][0] == "2027-01-10"
