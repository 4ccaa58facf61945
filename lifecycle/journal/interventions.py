"""Admin interventions in the state store (lifecycle.domain.interventions): read for the planner, written by admins.

Each write and each removal goes with an action-log entry naming the actor, the reason and the
origin (the console's caller), in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection, RowMapping

from lifecycle.domain.interventions import (
    AdminSuspension,
    ExplicitForward,
    InterventionKind,
    Interventions,
    NewAccountDecision,
)
from lifecycle.journal.action_log import record_admin_entry
from lifecycle.journal.schema import interventions, parse_utc_text, persons, utc_text


def read_interventions(conn: Connection) -> Interventions:
    """Every standing intervention (a handful: admins make them one by one)."""
    return interventions_of(conn.execute(select(interventions)).mappings())


def interventions_of(rows: Iterable[RowMapping]) -> Interventions:
    forwards: dict[str, ExplicitForward] = {}
    suspensions: dict[str, AdminSuspension] = {}
    new_accounts: dict[str, NewAccountDecision] = {}
    unlinked: dict[str, tuple[str, ...]] = {}
    for row in rows:
        kind, employee_id = row["kind"], row["employee_id"]
        created = parse_utc_text(row["created_at"])
        assert created is not None
        common = {"employee_id": employee_id, "company": row["company"], "reason": row["reason"], "actor": row["actor"],
                  "created_at": created}
        if kind == InterventionKind.FORWARD.value:
            details = json.loads(row["details"] or "{}")
            forwards[employee_id] = ExplicitForward(
                to=details["to"], keep_copy=bool(details.get("keep_copy")), starts_on=_day(details.get("starts_on")),
                ends_on=_day(details.get("ends_on")), replaces=details.get("replaces") or "", **common)
        elif kind == InterventionKind.SUSPEND.value:
            suspensions[employee_id] = AdminSuspension(**common)
        elif kind == InterventionKind.NEW_ACCOUNT.value:
            new_accounts[employee_id] = NewAccountDecision(**common)
        elif kind == InterventionKind.UNLINKED.value:
            unlinked[employee_id] = tuple(json.loads(row["details"] or "{}").get("uids", ()))
    return Interventions(forwards, suspensions, new_accounts, unlinked)


def save_intervention(
    conn: Connection,
    kind: InterventionKind,
    employee_id: str,
    company: str,
    *,
    reason: str,
    actor: str,
    now: datetime,
    details: Mapping[str, Any] | None = None,
    target: str = "",
    changes: dict[str, Any] | None = None,
    origin: str = "",
) -> None:
    """Set (or replace) the person's intervention of this kind, and journal it as `kind`'s entry."""
    conn.execute(delete(interventions).where(interventions.c.kind == kind.value, interventions.c.employee_id == employee_id))
    conn.execute(insert(interventions).values(
        kind=kind.value, employee_id=employee_id, company=company,
        details=json.dumps(dict(details or {}), ensure_ascii=False, sort_keys=True),
        reason=reason, actor=actor, created_at=utc_text(now)))
    record_admin_entry(conn, kind=kind.value, employee_id=employee_id, target=target or employee_id, reason=reason,
                       actor=actor, now=now, company=company, changes=changes, origin=origin)


def remove_intervention(
    conn: Connection,
    kind: InterventionKind,
    employee_id: str,
    company: str,
    *,
    journal_kind: str,
    reason: str,
    actor: str,
    now: datetime,
    target: str = "",
    changes: dict[str, Any] | None = None,
    origin: str = "",
) -> bool:
    """End the person's intervention of this kind, journalled as `journal_kind`; False if there was none."""
    removed = conn.execute(
        delete(interventions).where(interventions.c.kind == kind.value, interventions.c.employee_id == employee_id)
    ).rowcount
    if not removed:
        return False
    record_admin_entry(conn, kind=journal_kind, employee_id=employee_id, target=target or employee_id, reason=reason,
                       actor=actor, now=now, company=company, changes=changes, origin=origin)
    return True


def request_password_reset(
    conn: Connection, employee_id: str, company: str, *, reason: str, actor: str, now: datetime, origin: str = "",
) -> bool:
    """A new initial password is due from `now` (persons.reset_due_at; the planner's reset_still_due gives it),
    journalled as `reset_password_requested`; False when the store has no account for the person."""
    due = utc_text(now)
    if not conn.execute(update(persons).where(persons.c.employee_id == employee_id)
                        .values(reset_due_at=due, updated_at=due)).rowcount:
        return False
    record_admin_entry(conn, kind="reset_password_requested", employee_id=employee_id, target=employee_id,
                       reason=reason, actor=actor, now=now, company=company, changes={"reset_due_at": [None, due]},
                       origin=origin)
    return True


def interventions_of_companies(conn: Connection, companies: Sequence[str] | None) -> Interventions:
    """The interventions of these companies' people (None: all), for a branch admin's view."""
    query = select(interventions)
    if companies is not None:
        query = query.where(interventions.c.company.in_(list(companies)))
    return interventions_of(conn.execute(query).mappings())


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None
