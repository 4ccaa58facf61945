"""The stored state: what each person's account went through, legal holds, the accepted HR feed.

`load_state` reads it for the planner; the executor writes a person's new state
in the same transaction as the action's outcome (lifecycle.journal.action_log).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection, Engine

from lifecycle.domain.models import FeedBaseline, PersonState, PersonStatus, StoredState, SuspensionRule
from lifecycle.journal import state_version
from lifecycle.journal.schema import approvals, feed_baseline, holds, parse_utc_text, persons, utc_text

DATETIME_FIELDS = ("created_at", "suspended_at", "deleted_at", "absent_since", "warned_at", "restored_at", "reset_due_at")

# PersonState's fields, in its order: what load_state reads.
PERSON_COLUMNS = tuple(
    persons.c[name]
    for name in ("employee_id", "uid", "company", "status", "created_at", "suspended_at", "suspension_rule", "deleted_at",
                 "absent_since", "warned_at", "restored_at", "match_confirmed", "reset_due_at")
)
_STATUSES = {s.value: s for s in PersonStatus}
_RULES = {r.value: r for r in SuspensionRule}


class StoredStateRecords:
    """The Journal's reads and writes of the stored state."""

    engine: Engine

    def state_version(self) -> int:
        """Bumped by the database on every change of what load_state reads (lifecycle.journal.state_version)."""
        return state_version.read(self.engine)

    def load_state(self) -> StoredState:
        from lifecycle.journal.interventions import read_interventions  # (it journals through action_log, which imports this)

        with self.engine.connect() as conn:
            # Just the columns PersonState needs (no mappings, no updated_at), turned into
            # PersonStates as the cursor yields them: 100k rows are never all held at once.
            people = person_states(conn.execute(select(*PERSON_COLUMNS).order_by(persons.c.employee_id)))
            held_rows = conn.execute(
                select(approvals.c.kind, approvals.c.employee_id, approvals.c.target, approvals.c.status).where(
                    approvals.c.status.in_(("approved", "rejected"))
                )
            ).all()
            hold_ids = conn.execute(select(holds.c.employee_id)).scalars().all()
            feed = conn.execute(select(feed_baseline).where(feed_baseline.c.id == 1)).mappings().first()
            standing = read_interventions(conn)
        return StoredState(
            people,
            holds=frozenset(hold_ids),
            approved=frozenset((k, e, t) for k, e, t, s in held_rows if s == "approved"),
            rejected=frozenset((k, e, t) for k, e, t, s in held_rows if s == "rejected"),
            feed=FeedBaseline(json.loads(feed["rows_per_company"]), tuple(json.loads(feed["columns"]))) if feed else None,
            interventions=standing,
        )

    def person(self, employee_id: str) -> PersonState | None:
        with self.engine.connect() as conn:
            return read_person(conn, employee_id)

    def knows_employee(self, employee_id: str) -> bool:
        """The employee has a stored state or a legal hold (one indexed lookup each)."""
        with self.engine.connect() as conn:
            for column in (persons.c.employee_id, holds.c.employee_id):
                if conn.execute(select(column).where(column == employee_id).limit(1)).first():
                    return True
        return False

    def save_feed_baseline(self, baseline: FeedBaseline, now: datetime) -> None:
        values = {
            "rows_per_company": json.dumps(baseline.rows_per_company, ensure_ascii=False, sort_keys=True),
            "columns": json.dumps(list(baseline.columns)),
            "accepted_at": utc_text(now),
        }
        with self.engine.begin() as conn:
            if conn.execute(select(feed_baseline.c.id).where(feed_baseline.c.id == 1)).first():
                conn.execute(update(feed_baseline).where(feed_baseline.c.id == 1).values(**values))
            else:
                conn.execute(insert(feed_baseline).values(id=1, **values))


def read_person(conn: Connection, employee_id: str) -> PersonState | None:
    row = conn.execute(select(persons).where(persons.c.employee_id == employee_id)).mappings().first()
    return person_state(row) if row else None


def upsert_person(conn: Connection, employee_id: str, fields: dict[str, Any], now: datetime) -> None:
    values = _person_values(fields, now)
    existing = conn.execute(select(persons.c.employee_id).where(persons.c.employee_id == employee_id)).first()
    if existing:
        conn.execute(update(persons).where(persons.c.employee_id == employee_id).values(**values))
    else:
        values.setdefault("status", PersonStatus.ACTIVE.value)
        values.setdefault("match_confirmed", False)
        conn.execute(insert(persons).values(employee_id=employee_id, **values))


def upsert_people(conn: Connection, items: Sequence[tuple[str, dict[str, Any]]], now: datetime) -> None:
    """`upsert_person` for many people: one existence query per chunk, then executemany per column set."""
    seen: Counter[str] = Counter(employee_id for employee_id, _ in items)
    single = [(e, f) for e, f in items if seen[e] == 1]
    existing: set[str] = set()
    ids = [e for e, _ in single]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        existing.update(conn.execute(select(persons.c.employee_id).where(persons.c.employee_id.in_(chunk))).scalars())
    inserts: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for employee_id, fields in single:
        values = _person_values(fields, now)
        if employee_id in existing:
            updates.setdefault(tuple(sorted(values)), []).append({"b_eid": employee_id, **{f"v_{k}": v for k, v in values.items()}})
        else:
            values.setdefault("status", PersonStatus.ACTIVE.value)
            values.setdefault("match_confirmed", False)
            inserts.setdefault(tuple(sorted(values)), []).append({"employee_id": employee_id, **values})
    for rows in inserts.values():
        conn.execute(insert(persons), rows)
    for keys, rows in updates.items():
        statement = update(persons).where(persons.c.employee_id == bindparam("b_eid")).values({k: bindparam(f"v_{k}") for k in keys})
        conn.execute(statement, rows)
    for employee_id, fields in items:  # several states for one person in a batch: in order, one by one
        if seen[employee_id] > 1:
            upsert_person(conn, employee_id, fields, now)


def _person_values(fields: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The persons columns of a state update, datetimes normalised to UTC text, stamped `updated_at`."""
    values = {k: v for k, v in fields.items() if k in persons.c}
    for key in DATETIME_FIELDS:
        if key in values and isinstance(values[key], str) and values[key]:
            values[key] = utc_text(datetime.fromisoformat(values[key]))
    values["updated_at"] = utc_text(now)
    return values


def person_states(rows: Iterable[Sequence[Any]]) -> tuple[PersonState, ...]:
    """`person_state` for every row of `PERSON_COLUMNS`, sharing what repeats.

    Companies (a dozen) and timestamps (an adoption or a bulk load writes many
    people in the same second) are one object per distinct value, and each
    distinct timestamp text is parsed once.
    """
    companies: dict[str, str] = {}
    stamps: dict[str, datetime] = {}

    def when(text: str | None) -> datetime | None:
        if not text:
            return None
        found = stamps.get(text)
        if found is None:
            found = stamps[text] = datetime.fromisoformat(text)
        return found

    people: list[PersonState] = []
    append = people.append
    for employee_id, uid, company, status, created, suspended, rule, deleted, absent, warned, restored, confirmed, due in rows:
        append(
            PersonState(
                employee_id,
                uid,
                companies.setdefault(company, company),
                _STATUSES.get(status) or PersonStatus(status),
                when(created),
                when(suspended),
                (_RULES.get(rule) or SuspensionRule(rule)) if rule else None,
                when(deleted),
                when(absent),
                when(warned),
                when(restored),
                bool(confirmed),
                when(due),
            )
        )
    return tuple(people)


def person_state(row: Any) -> PersonState:
    """One row of `persons` (a mapping) as a PersonState."""
    return PersonState(
        employee_id=row["employee_id"],
        uid=row["uid"],
        company=row["company"],
        status=PersonStatus(row["status"]),
        created_at=parse_utc_text(row["created_at"]),
        suspended_at=parse_utc_text(row["suspended_at"]),
        suspension_rule=SuspensionRule(row["suspension_rule"]) if row["suspension_rule"] else None,
        deleted_at=parse_utc_text(row["deleted_at"]),
        absent_since=parse_utc_text(row["absent_since"]),
        warned_at=parse_utc_text(row["warned_at"]),
        restored_at=parse_utc_text(row["restored_at"]),
        match_confirmed=bool(row["match_confirmed"]),
        reset_due_at=parse_utc_text(row["reset_due_at"]),
    )
