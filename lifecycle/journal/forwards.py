"""Admins' forwards (`lifecycle forward`, the console's /forwards): checked, written, ended, listed.

One check for the command line and the console (`new_forward`): each refusal names the field and
the fix.  A forward is written with lifecycle.journal.interventions (its action-log entry in the
same transaction).  Removing one that has started leaves it in the store as ended today: the next
plan needs its target to undo what it set (policies.forwards), and only what it set; a later
forward for the same person replaces it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import insert

from lifecycle.domain.errors import LifecycleError
from lifecycle.domain.interventions import ExplicitForward, InterventionKind
from lifecycle.domain.models import PersonState
from lifecycle.domain.settings import Settings
from lifecycle.journal.interventions import interventions_of_companies, remove_intervention, save_intervention
from lifecycle.journal.schema import interventions, utc_text
from lifecycle.journal.store import Journal
from policies.forwards import ForwardStanding, standing_of

ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+")
MAX_REASON = 500


class ForwardRefused(LifecycleError):
    """A forward that cannot be made as asked: the words name the field and the fix."""


def company_today(settings: Settings, company: str, now: datetime) -> date:
    return now.astimezone(settings.company_zone(company)).date()


def parse_day(text: str | None, field: str) -> date | None:
    if text is None or not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise ForwardRefused(f"{field} {text!r} is not a date: write it as YYYY-MM-DD (a day in the company's time zone)") from exc


def new_forward(
    settings: Settings,
    person: PersonState | None,
    employee_id: str,
    *,
    to: str,
    keep_copy: bool,
    starts: str | None,
    ends: str | None,
    reason: str,
    actor: str,
    now: datetime,
) -> ExplicitForward:
    """The forward asked for, checked; ForwardRefused names what is wrong and how to put it right."""
    if person is None or not person.uid:
        raise ForwardRefused(f"employee {employee_id} has no account and never had one: a forward is for a person who has "
                             "or had an account (present, on leave or departed); check the employee id")
    company = next((c for c in settings.companies if c.code == person.company), None)
    if company is None:
        raise ForwardRefused(f"employee {employee_id}'s company {person.company!r} is not configured ([[companies]]): "
                             "add it, or check the employee id")
    reason = (reason or "").strip()
    if not reason:
        raise ForwardRefused("--reason is empty: say why the mail is forwarded (the action log keeps it)")
    target = (to or "").strip().lower()
    if not ADDRESS.fullmatch(target):
        raise ForwardRefused(f"--to {to!r} is not a mail address: give one such as name@example.com")
    if target == person_address(settings, person):
        raise ForwardRefused(f"--to {target} is the person's own address: give the address their mail should go to")
    today = company_today(settings, company.code, now)
    starts_on, ends_on = parse_day(starts, "--from"), parse_day(ends, "--until")
    if ends_on is not None and ends_on <= today:
        raise ForwardRefused(f"--until {ends_on} is not after today ({today} in {company.code}'s time zone): give a later day, "
                             "or remove the forward with --remove")
    if starts_on is not None and ends_on is not None and ends_on <= starts_on:
        raise ForwardRefused(f"--until {ends_on} is not after --from {starts_on}: the forward ends at the start of "
                             "--until; give a later --until")
    if starts_on is not None and starts_on <= today:
        starts_on = None  # in force at once
    return ExplicitForward(employee_id, company.code, target, keep_copy, starts_on, ends_on, reason[:MAX_REASON],
                           actor[:64], now)


def save_forward(journal: Journal, forward: ExplicitForward, *, origin: str = "") -> None:
    """Set (or replace) the person's forward, journalled as `forward` with the actor and the reason."""
    details = forward.details()
    with journal.engine.begin() as conn:
        save_intervention(conn, InterventionKind.FORWARD, forward.employee_id, forward.company, reason=forward.reason,
                          actor=forward.actor, now=forward.created_at, details=details, target=forward.to,
                          changes={"forward_to": [None, forward.to], "keep_copy": [None, forward.keep_copy],
                                   "from": [None, details["starts_on"]], "until": [None, details["ends_on"]]},
                          origin=origin)


def end_forward(
    journal: Journal, settings: Settings, employee_id: str, *, reason: str, actor: str, now: datetime, origin: str = "",
    companies: Sequence[str] | None = None,
) -> ExplicitForward:
    """End the person's forward today (journalled as `forward_removed`); ForwardRefused when there is none standing.

    `companies`: the caller's (None: all); a forward of another company is refused as if there were none.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ForwardRefused("--reason is empty: say why the forward is removed (the action log keeps it)")
    with journal.engine.begin() as conn:
        found = interventions_of_companies(conn, companies).forwards.get(employee_id)
        today = company_today(settings, found.company, now) if found is not None else None
        if found is None or today is None or standing_of(found, today) is ForwardStanding.ENDED:
            raise ForwardRefused(f"employee {employee_id} has no forward standing: see `lifecycle forward --list`")
        remove_intervention(conn, InterventionKind.FORWARD, employee_id, found.company, journal_kind="forward_removed",
                            reason=reason[:MAX_REASON], actor=actor[:64], now=now, target=found.to,
                            changes={"forward_to": [found.to, None]}, origin=origin)
        if standing_of(found, today) is ForwardStanding.IN_FORCE:
            # Kept as ended today: the next plan undoes what it set, and only that.
            details = {**found.details(), "ends_on": today.isoformat()}
            conn.execute(insert(interventions).values(
                kind=InterventionKind.FORWARD.value, employee_id=employee_id, company=found.company,
                details=json.dumps(details, ensure_ascii=False, sort_keys=True), reason=found.reason, actor=found.actor,
                created_at=utc_text(found.created_at)))
    return found


def forwards_of(journal: Journal, companies: Sequence[str] | None) -> list[ExplicitForward]:
    """The forwards of these companies' people (None: all), by company and employee id."""
    with journal.engine.connect() as conn:
        found = interventions_of_companies(conn, companies).forwards.values()
    return sorted(found, key=lambda f: (f.company, f.employee_id))


def person_address(settings: Settings, person: PersonState | None) -> str:
    """The address a person's account has (or had): its uid in its company's domain."""
    company = next((c for c in settings.companies if person is not None and c.code == person.company), None)
    return f"{person.uid}@{company.domain}".lower() if person is not None and person.uid and company is not None else ""


def forward_row(forward: ExplicitForward, settings: Settings, now: datetime, address: str = "") -> dict[str, object]:
    """A forward as the list shows it (JSON values); `address`: the person's."""
    standing = standing_of(forward, company_today(settings, forward.company, now))
    return {"employee_id": forward.employee_id, "company": forward.company, "address": address, "to": forward.to,
            "keep_copy": forward.keep_copy, "from": forward.starts_on.isoformat() if forward.starts_on else "",
            "until": forward.ends_on.isoformat() if forward.ends_on else "", "standing": standing.value,
            "actor": forward.actor, "reason": forward.reason, "created_at": forward.created_at.isoformat()}
