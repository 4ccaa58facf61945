"""What the console reads and keeps: the published view of the last decided cycle, and its sessions.

The web process holds no directory or mail secret, so it cannot read HR or the directory:
each decided cycle publishes, per company, what it planned, rejected and found, and what comes
next to the people in motion (`publish`).  Decisions made in the console go through the same
Journal methods as the CLI's (lifecycle.journal.approvals), with the admin's origin.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql import Executable

from lifecycle.domain.errors import StateStoreError
from lifecycle.domain.models import Plan
from lifecycle.journal.schema import (
    SQLITE_BUSY_TIMEOUT_MS,
    action_log,
    holds,
    parse_utc_text,
    person_outlook,
    persons,
    published,
    runs,
    utc_text,
    web_sessions,
)

# A session's last_seen is written at most this often: a page's requests do not each write.
_TOUCH_EVERY = timedelta(seconds=60)
# Each published list keeps this many items per company (and its total): an initial load plans
# every account, which no one reads one by one in the console (`lifecycle plan` lists them all).
PUBLISHED_ROWS = 2000
_BOOKKEEPING_WAIT_MS = 200


# Findings that wait for an admin to say whose an existing entry is (the console's adoptions).
ADOPTION_REVIEWS = ("unmatched_entry", "confirm_match", "possible_existing_account")


def _first_of_each_kind(reviews: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first PUBLISHED_ROWS findings of each kind: many of one kind never crowd out another (adoptions)."""
    seen: dict[str, int] = {}
    kept = []
    for review in reviews:
        count = seen[review["kind"]] = seen.get(review["kind"], 0) + 1
        if count <= PUBLISHED_ROWS:
            kept.append(review)
    return kept


class ConsoleRecords:
    """The Journal's side of the console."""

    engine: Engine

    # -- written by the cycle -----------------------------------------------------------------------

    def publish(self, run_id: str, plan: Plan, now: datetime) -> None:
        """Replace the published view with this plan's, in one transaction (the console never sees half)."""
        companies: dict[str, dict[str, list[dict[str, Any]]]] = {}

        def of(company: str) -> dict[str, list[dict[str, Any]]]:
            return companies.setdefault(company, {"actions": [], "rejected": [], "reviews": []})

        for action in plan.actions:
            of(action.company)["actions"].append(
                {"kind": action.kind.value, "employee_id": action.employee_id, "target": action.target,
                 "rule": action.rule, "reason": action.reason}
            )
        for row in plan.rejected:
            of(row.company)["rejected"].append(row.to_dict())
        for review in plan.reviews:
            of(review.company)["reviews"].append(review.to_dict())
        for company in plan.accounts:
            of(company)
        stamp = utc_text(datetime.now(UTC))
        with self.engine.begin() as conn:
            conn.execute(delete(published))
            for company, view in sorted(companies.items()):
                totals = {name: len(items) for name, items in view.items()}
                totals["adoptions"] = sum(1 for r in view["reviews"] if r["kind"] in ADOPTION_REVIEWS)
                conn.execute(insert(published).values(
                    company=company, run_id=run_id, effective_at=utc_text(now), published_at=stamp,
                    actions=json.dumps(view["actions"][:PUBLISHED_ROWS], ensure_ascii=False),
                    rejected=json.dumps(view["rejected"][:PUBLISHED_ROWS], ensure_ascii=False),
                    reviews=json.dumps(_first_of_each_kind(view["reviews"]), ensure_ascii=False),
                    accounts=plan.accounts.get(company, 0), totals=json.dumps(totals),
                ))
            conn.execute(delete(person_outlook))
            if plan.outlooks:
                conn.execute(insert(person_outlook), [
                    {"employee_id": o.employee_id, "company": o.company, "name": o.name, "standing": o.standing,
                     "events": json.dumps(o.events, ensure_ascii=False), "published_at": stamp}
                    for o in plan.outlooks
                ])

    # -- read by the console ------------------------------------------------------------------------

    def published_views(self, companies: Collection[str]) -> dict[str, dict[str, Any]]:
        """The last published view of each of `companies` (those never published are absent)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(published).where(published.c.company.in_(list(companies)))).mappings().all()
        return {
            row["company"]: {
                "run_id": row["run_id"], "effective_at": row["effective_at"], "published_at": row["published_at"],
                "accounts": row["accounts"], "actions": json.loads(row["actions"]),
                "rejected": json.loads(row["rejected"]), "reviews": json.loads(row["reviews"]),
                "totals": json.loads(row["totals"]),
            }
            for row in rows
        }

    def outlook(self, employee_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(person_outlook).where(person_outlook.c.employee_id == employee_id)).mappings().first()
        if row is None:
            return None
        return {**dict(row), "events": [list(e) for e in json.loads(row["events"])]}

    def company_of(self, employee_id: str) -> str | None:
        """The company an employee belongs to as far as the store knows; None if it knows nothing of them.

        "" for a rejected HR row whose company could not be read: the group's admins only.
        """
        with self.engine.connect() as conn:
            for table in (persons, person_outlook):
                company = conn.execute(select(table.c.company).where(table.c.employee_id == employee_id)).scalar()
                if company is not None:
                    return str(company)
            rows = conn.execute(select(published.c.company, published.c.actions, published.c.rejected, published.c.reviews)).all()
        for company, *lists in rows:
            if any(item.get("employee_id") == employee_id for text in lists for item in json.loads(text)):
                return str(company)
        return None

    def account_counts(self, companies: Collection[str]) -> dict[str, dict[str, int]]:
        """Per company, the people the store knows by status (active, suspended, deleted...)."""
        query = (select(persons.c.company, persons.c.status, func.count())
                 .where(persons.c.company.in_(list(companies))).group_by(persons.c.company, persons.c.status))
        counts: dict[str, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for company, status, count in conn.execute(query):
                counts.setdefault(company, {})[status] = int(count)
        return counts

    def person_state(self, employee_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(persons).where(persons.c.employee_id == employee_id)).mappings().first()
        return dict(row) if row is not None else None

    def holds_of(self, companies: Collection[str] | None, employee_id: str | None = None) -> list[dict[str, Any]]:
        """Legal holds with the company of their person ("" when the store cannot tell: the group admins')."""
        query = select(holds, persons.c.company).select_from(holds.outerjoin(persons, holds.c.employee_id == persons.c.employee_id))
        if employee_id is not None:
            query = query.where(holds.c.employee_id == employee_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(holds.c.created_at)).mappings().all()
        # A hold on someone the store knows only from the published view (a joiner not yet made): their company there.
        found = [{**dict(row), "company": row["company"] or self.company_of(row["employee_id"]) or ""} for row in rows]
        return found if companies is None else [h for h in found if h["company"] in companies]

    def recent_runs(self, limit: int = 10) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            # Not the summary: its counts are the whole group's.
            query = select(runs.c.run_id, runs.c.started_at, runs.c.finished_at, runs.c.outcome, runs.c.mode)
            rows = conn.execute(query.order_by(runs.c.started_at.desc()).limit(limit)).mappings().all()
        return [dict(row) for row in rows]

    def outcomes_in_run(self, run_id: str, employee_ids: Collection[str]) -> dict[tuple[str, str, str], str]:
        """(kind, employee id, target) -> the last status the action log gives it in `run_id`, for these people."""
        found: dict[tuple[str, str, str], str] = {}
        wanted = sorted(set(employee_ids))
        columns = (action_log.c.kind, action_log.c.employee_id, action_log.c.target, action_log.c.status)
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), 500):  # within every database's limit on bound parameters
                query = (select(*columns).where(action_log.c.run_id == run_id,
                                                action_log.c.employee_id.in_(wanted[start:start + 500]))
                         .order_by(action_log.c.id))
                for kind, employee_id, target, status in conn.execute(query):
                    found[(kind, employee_id, target)] = status
        return found

    def run_counts(self, run_ids: Collection[str], companies: Collection[str]) -> dict[str, dict[str, int]]:
        """Per run, the action log's entries of `companies` by status."""
        query = (select(action_log.c.run_id, action_log.c.status, func.count())
                 .where(action_log.c.run_id.in_(list(run_ids)), action_log.c.company.in_(list(companies)))
                 .group_by(action_log.c.run_id, action_log.c.status))
        counts: dict[str, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for run_id, status, count in conn.execute(query):
                counts.setdefault(run_id, {})[status] = int(count)
        return counts

    # -- sessions -----------------------------------------------------------------------------------

    def open_session(self, sid: str, *, uid: str, dn: str, display_name: str, groups: list[str], address: str,
                     now: datetime, idle: timedelta, lifetime: timedelta) -> None:
        """A new session; the ones that ended meanwhile (idle, or older than `lifetime`) are removed."""
        with self.engine.begin() as conn:
            conn.execute(delete(web_sessions).where(or_(web_sessions.c.last_seen < utc_text(now - idle),
                                                        web_sessions.c.created_at < utc_text(now - lifetime))))
            conn.execute(insert(web_sessions).values(
                sid=sid, uid=uid, dn=dn, display_name=display_name, groups=json.dumps(groups), address=address,
                created_at=utc_text(now), last_seen=utc_text(now),
            ))

    def session(self, sid: str, now: datetime, idle: timedelta, lifetime: timedelta) -> dict[str, Any] | None:
        """The live session `sid`, or None (unknown, idle or too old: then it is removed).

        A read: a page's requests must not wait for the store's write lock, which a cycle may hold for
        a while.  Its use is noted once a minute, and an ended session removed, only when the store
        takes the write at once; else a later request does it (an ended one is refused all the same).
        """
        with self.engine.connect() as conn:
            row = conn.execute(select(web_sessions).where(web_sessions.c.sid == sid)).mappings().first()
        if row is None:
            return None
        last_seen, created = parse_utc_text(row["last_seen"]), parse_utc_text(row["created_at"])
        if last_seen is None or created is None or now - last_seen >= idle or now - created >= lifetime:
            self._if_free(delete(web_sessions).where(web_sessions.c.sid == sid))
            return None
        if now - last_seen >= min(_TOUCH_EVERY, idle / 2):
            self._if_free(update(web_sessions).where(web_sessions.c.sid == sid).values(last_seen=utc_text(now)))
        return {**dict(row), "groups": json.loads(row["groups"])}

    def _if_free(self, statement: Executable) -> bool:
        """Run a bookkeeping write if the store's write lock is free now; False if it was busy."""
        with self.engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            try:
                if sqlite:
                    conn.exec_driver_sql(f"PRAGMA busy_timeout={_BOOKKEEPING_WAIT_MS}")
                elif conn.dialect.name == "postgresql":  # row locks only: wait as briefly for the session's row
                    conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{_BOOKKEEPING_WAIT_MS}ms'")
                conn.execute(statement)
                conn.commit()
                return True
            except (OperationalError, StateStoreError):
                conn.rollback()
                return False
            finally:
                if sqlite:
                    conn.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")

    def end_session(self, sid: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(web_sessions).where(web_sessions.c.sid == sid))
