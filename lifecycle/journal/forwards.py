"""Admins' forwards (`lifecycle forward`, the console's /forwards): checked, written, ended, listed.

One check for the command line and the console (`new_forward`): each refusal names the field and
the fix.  A forward is written with lifecycle.journal.interventions (its action-log entry in the
same transaction).  Removing one that has started leaves it in the store as ended today: the next
plan needs its target to undo what it set (policies.forwards), and only what it set; a later
forward for the same person replaces it (one not yet in force keeps the target of the one it replaced,
`replaces`, to undo it meanwhile).  Once the undo of an ended forward is applied the forward is
forgotten (`forget_undone_forwards`, at the end of each cycle): the person's own forward to the same
address later is theirs.

A forward belongs to the person's company as the state store has it now (after a branch transfer,
the new company's admins see and change it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Connection

from lifecycle.domain.errors import LifecycleError
from lifecycle.domain.interventions import ExplicitForward, InterventionKind
from lifecycle.domain.models import PersonState
from lifecycle.domain.settings import Settings
from lifecycle.journal.action_log import ActionStatus
from lifecycle.journal.interventions import interventions_of, remove_intervention, save_intervention
from lifecycle.journal.schema import action_log, interventions, parse_utc_text, persons, utc_text
from lifecycle.journal.store import Journal
from policies.forwards import FORWARD_ENDED, ForwardStanding, given_back, standing_of

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
    own = person_address(settings, person)
    local, _, domain = target.rpartition("@")
    if target == own or (local == person.uid.lower() and domain in {c.domain.lower() for c in settings.companies}):
        # uid@ any of the group's domains is the person's (a former company's address forwards to the current one)
        raise ForwardRefused(f"--to {target} is the person's own address{'' if target == own else ' (a former one)'}: "
                             "the mail would come back to them; give the address their mail should go to")
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


def save_forward(journal: Journal, forward: ExplicitForward, *, origin: str = "", settings: Settings | None = None) -> None:
    """Set (or replace) the person's forward, journalled as `forward` with the actor and the reason.

    One not yet in force that replaces one which has started keeps that one's target (`replaces`): the
    planner undoes it meanwhile.  `settings`: for the company's day (without, the UTC day)."""
    with journal.engine.begin() as conn:
        old = _forwards(conn, None, [forward.employee_id]).get(forward.employee_id)
        if old is not None and forward.starts_on is not None:
            zone_day = (company_today(settings, old.company, forward.created_at) if settings is not None
                        else forward.created_at.date())
            started = standing_of(old, zone_day) is not ForwardStanding.NOT_YET
            forward = replace(forward, replaces=old.to if started else old.replaces)
        details = forward.details()
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
        found = _forwards(conn, companies, [employee_id]).get(employee_id)
        today = company_today(settings, found.company, now) if found is not None else None
        if found is None or today is None or standing_of(found, today) is ForwardStanding.ENDED:
            raise ForwardRefused(f"employee {employee_id} has no forward standing: see `lifecycle forward --list`")
        remove_intervention(conn, InterventionKind.FORWARD, employee_id, found.company, journal_kind="forward_removed",
                            reason=reason[:MAX_REASON], actor=actor[:64], now=now, target=found.to,
                            changes={"forward_to": [found.to, None]}, origin=origin)
        standing = standing_of(found, today)
        if standing is ForwardStanding.IN_FORCE or found.replaces:
            # Kept as ended today: the next plan undoes what it set (or what the one it replaced set), and only that.
            kept = found if standing is ForwardStanding.IN_FORCE else replace(found, to=found.replaces, starts_on=None)
            details = {**replace(kept, replaces="").details(), "ends_on": today.isoformat()}
            conn.execute(insert(interventions).values(
                kind=InterventionKind.FORWARD.value, employee_id=employee_id, company=found.company,
                details=json.dumps(details, ensure_ascii=False, sort_keys=True), reason=found.reason, actor=found.actor,
                created_at=utc_text(found.created_at)))
    return found


def forwards_of(journal: Journal, companies: Sequence[str] | None) -> list[ExplicitForward]:
    """The forwards of these companies' people (None: all), by company and employee id."""
    with journal.engine.connect() as conn:
        found = _forwards(conn, companies).values()
    return sorted(found, key=lambda f: (f.company, f.employee_id))


def _forwards(conn: Connection, companies: Sequence[str] | None,
              employee_ids: Sequence[str] | None = None) -> dict[str, ExplicitForward]:
    """The forwards of these companies' people (None: all), each with the person's company now (a branch
    transfer moves it; the row's own company is the one it was made in)."""
    company = func.coalesce(persons.c.company, interventions.c.company)
    query = (select(*(c for c in interventions.c if c.name != "company"), company.label("company"))
             .select_from(interventions.outerjoin(persons, persons.c.employee_id == interventions.c.employee_id))
             .where(interventions.c.kind == InterventionKind.FORWARD.value))
    if companies is not None:
        query = query.where(company.in_(list(companies)))
    if employee_ids is not None:
        query = query.where(interventions.c.employee_id.in_(list(employee_ids)))
    return dict(interventions_of(conn.execute(query).mappings()).forwards)


UNDOING_KINDS = ("clear_forward", "forward_mail", "delete_alias", "create_alias")


def forget_undone_forwards(journal: Journal) -> int:
    """Forget the forwards whose end was undone (an action of rule forward_ended applied since they were made).

    Run at the end of each cycle: a forward is undone once, and the person's own forward to the same address
    afterwards is theirs.  After an interruption the next cycle's end forgets it (the action log keeps the
    outcome).  The number forgotten."""
    with journal.engine.begin() as conn:
        made = {row.employee_id: parse_utc_text(row.created_at) for row in conn.execute(
            select(interventions.c.employee_id, interventions.c.created_at)
            .where(interventions.c.kind == InterventionKind.FORWARD.value))}
        if not made:
            return 0
        undone = set()
        for employee_id, effective in conn.execute(
                select(action_log.c.employee_id, action_log.c.effective_at).where(
                    action_log.c.employee_id.in_(list(made)), action_log.c.rule == FORWARD_ENDED,
                    action_log.c.status == ActionStatus.APPLIED, action_log.c.kind.in_(UNDOING_KINDS))):
            when, since = parse_utc_text(effective), made[employee_id]
            if when is not None and since is not None and when >= since:
                undone.add(employee_id)
        for employee_id in sorted(undone):
            conn.execute(delete(interventions).where(interventions.c.kind == InterventionKind.FORWARD.value,
                                                     interventions.c.employee_id == employee_id))
    return len(undone)


def forward_rows(journal: Journal, settings: Settings, companies: Sequence[str] | None, now: datetime, *,
                 ended: bool) -> list[dict[str, object]]:
    """`forward --list` and the console's list: the forwards of these companies' people (None: all) as rows,
    the ended ones only with `ended`."""
    rows = []
    for forward in forwards_of(journal, companies):
        person = journal.person(forward.employee_id)
        row = forward_row(forward, settings, now, person_address(settings, person), person)
        if ended or row["standing"] != ForwardStanding.ENDED.value:
            rows.append(row)
    return rows


def person_address(settings: Settings, person: PersonState | None) -> str:
    """The address a person's account has (or had): its uid in its company's domain."""
    company = next((c for c in settings.companies if person is not None and c.code == person.company), None)
    return f"{person.uid}@{company.domain}".lower() if person is not None and person.uid and company is not None else ""


def forward_row(forward: ExplicitForward, settings: Settings, now: datetime, address: str = "",
                person: PersonState | None = None) -> dict[str, object]:
    """A forward as the list shows it (JSON values); `address`, `person`: the person's (a rehire ends it)."""
    standing = standing_of(forward, company_today(settings, forward.company, now))
    if given_back(forward, person):
        standing = ForwardStanding.ENDED
    return {"employee_id": forward.employee_id, "company": forward.company, "address": address, "to": forward.to,
            "keep_copy": forward.keep_copy, "from": forward.starts_on.isoformat() if forward.starts_on else "",
            "until": forward.ends_on.isoformat() if forward.ends_on else "", "standing": standing.value,
            "actor": forward.actor, "reason": forward.reason, "created_at": forward.created_at.isoformat()}
