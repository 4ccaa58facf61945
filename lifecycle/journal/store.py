"""The state store and the action log (SQLAlchemy Core; SQLite by default).

Write-ahead: an action is written as `pending` and committed before it is
attempted; its outcome and the person's new state are written together in
one transaction afterwards.  A crash in between leaves a `pending` row that
the next run re-checks against the directory.

A store that cannot be opened or written (read-only, full, permissions) raises
StateStoreError naming the path, the cause and the fix, wherever it happens:
the engine translates those driver errors itself (`state_store_failure`).
"""

from __future__ import annotations

import errno
import json
import os
import pwd
import sqlite3
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.engine import URL, Connection, Engine, ExceptionContext, make_url

from lifecycle.journal import state_version
from lifecycle.domain.errors import StateStoreError
from lifecycle.engine.gcpause import gc_paused
from lifecycle.domain.models import (
    DESTRUCTIVE_KINDS,
    Action,
    FeedBaseline,
    Held,
    PersonState,
    PersonStatus,
    RejectedRow,
    Review,
    StoredState,
    SuspensionRule,
)

metadata = MetaData()

persons = Table(
    "persons",
    metadata,
    Column("employee_id", String(64), primary_key=True),
    Column("uid", String(128), nullable=False, unique=True),  # reserved forever: never reused by another
    Column("company", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", String(40)),
    Column("suspended_at", String(40)),
    Column("suspension_rule", String(16)),
    Column("deleted_at", String(40)),
    Column("absent_since", String(40)),
    Column("warned_at", String(40)),
    Column("restored_at", String(40)),
    Column("match_confirmed", Boolean, nullable=False, default=False),
    Column("updated_at", String(40), nullable=False),
)

action_log = Table(
    "action_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(36), nullable=False, index=True),
    Column("logged_at", String(40), nullable=False, index=True),  # wall clock
    Column("effective_at", String(40), nullable=False),  # the plan's `now`
    Column("company", String(32), nullable=False, index=True),
    Column("employee_id", String(64), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("target", Text, nullable=False),
    Column("changes", Text, nullable=False),  # JSON {field: [before, after]}
    Column("rule", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("error", Text, nullable=False, default=""),
    Column("actor", String(64), nullable=False),
    Column("params", Text, nullable=False, default="{}"),  # what the executor needs to re-check
    Column("dedup_key", String(64), index=True),
)

approvals = Table(
    "approvals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("employee_id", String(64), nullable=False),
    Column("target", Text, nullable=False),
    Column("company", String(32), nullable=False, index=True),
    Column("action", Text, nullable=False),  # the held action as JSON, for review
    Column("reason", Text, nullable=False),
    Column("status", String(16), nullable=False, index=True),  # held | approved | rejected | applied | obsolete
    Column("created_at", String(40), nullable=False),
    Column("decided_by", String(64)),
    Column("decided_at", String(40)),
)

holds = Table(
    "holds",
    metadata,
    Column("employee_id", String(64), primary_key=True),
    Column("reason", Text, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
)

feed_baseline = Table(
    "feed_baseline",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("rows_per_company", Text, nullable=False),
    Column("columns", Text, nullable=False),
    Column("accepted_at", String(40), nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(36), primary_key=True),
    Column("started_at", String(40), nullable=False),
    Column("finished_at", String(40)),
    Column("effective_at", String(40), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("outcome", String(16)),
    Column("summary", Text),
)

# approvals.status: waiting for an admin, waiting for the HR feed, and the decisions.
HELD, FROZEN = "held", "frozen"
OPEN_APPROVALS = (HELD, FROZEN, "approved", "rejected")

DATETIME_FIELDS = ("created_at", "suspended_at", "deleted_at", "absent_since", "warned_at", "restored_at")


class ActionStatus:
    PENDING = "pending"
    APPLIED = "applied"
    FAILED = "failed"
    SKIPPED = "skipped"
    REJECTED = "rejected"
    HELD = "held"
    INTERRUPTED = "interrupted"
    RECORDED = "recorded"  # an admin's decision (adopt confirmation...)
    REVIEW = "review"  # a finding for an admin; changes nothing


def utc_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="seconds")


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class LogEntry:
    id: int
    run_id: str
    logged_at: str
    effective_at: str
    company: str
    employee_id: str
    kind: str
    target: str
    changes: dict[str, Any]
    rule: str
    reason: str
    status: str
    error: str
    actor: str
    params: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data.pop("params")
        return data


@dataclass(frozen=True)
class ActionOutcome:
    """How one journalled action ended (for `Journal.finish_actions`)."""

    action_id: int
    status: str
    error: str = ""
    employee_id: str = ""
    state: dict[str, Any] | None = None


class Journal:
    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            try:
                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise state_store_failure(url, exc) or StateStoreError(f"state store {url}: {exc}") from exc
        # pre-ping: a pooled connection that died with a database restart is replaced, not used.
        self.engine: Engine = create_engine(url, future=True, pool_pre_ping=True)
        # Before the first connection: opening the store can fail the same way as writing to it.
        event.listen(self.engine, "handle_error", _translate_failure)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        metadata.create_all(self.engine)
        state_version.install(self.engine, metadata.tables)

    def close(self) -> None:
        self.engine.dispose()

    # -- state --------------------------------------------------------------------------

    def state_version(self) -> int:
        """Bumped by the database on every change of what load_state reads (lifecycle.journal.state_version)."""
        return state_version.read(self.engine)

    def load_state(self) -> StoredState:
        with self.engine.connect() as conn, gc_paused():
            # Just the columns PersonState needs (no mappings, no updated_at), turned into
            # PersonStates as the cursor yields them: 100k rows are never all held at once.
            people = _persons(conn.execute(select(*PERSON_COLUMNS).order_by(persons.c.employee_id)))
            held_rows = conn.execute(
                select(approvals.c.kind, approvals.c.employee_id, approvals.c.target, approvals.c.status).where(
                    approvals.c.status.in_(("approved", "rejected"))
                )
            ).all()
            hold_ids = conn.execute(select(holds.c.employee_id)).scalars().all()
            feed = conn.execute(select(feed_baseline).where(feed_baseline.c.id == 1)).mappings().first()
        return StoredState(
            people,
            holds=frozenset(hold_ids),
            approved=frozenset((k, e, t) for k, e, t, s in held_rows if s == "approved"),
            rejected=frozenset((k, e, t) for k, e, t, s in held_rows if s == "rejected"),
            feed=FeedBaseline(json.loads(feed["rows_per_company"]), tuple(json.loads(feed["columns"]))) if feed else None,
        )

    # -- guards: held actions, approvals, legal holds, the feed baseline ----------------------

    def sync_held(self, held: Iterable[Held], planned: Iterable[Action], now: datetime) -> list[int]:
        """Register held actions (once) and retire the ones no longer held or planned.

        An action the guards hold for approval is `held`; a suspension or deletion
        held because its company's HR feed is frozen is `frozen` (listed by
        `lifecycle held`, released by the feed, not by an approval).  An action may
        move between the two as the feed and the outcome guard change.  Actions
        that only wait for a held one (leaving groups...) are not registered: they
        follow it.  Returns the ids of actions that newly wait for an approval.
        """
        new_ids: list[int] = []
        held = list(held)
        current = {(h.action.kind.value, h.action.employee_id, h.action.target) for h in held}
        current |= {(a.kind.value, a.employee_id, a.target) for a in planned}
        with self.engine.begin() as conn:
            open_rows = conn.execute(
                select(approvals.c.id, approvals.c.kind, approvals.c.employee_id, approvals.c.target, approvals.c.status,
                       approvals.c.reason).where(approvals.c.status.in_(OPEN_APPROVALS))
            ).all()
            known = {(k, e, t): (row_id, status, reason) for row_id, k, e, t, status, reason in open_rows}
            held_keys = {(h.action.kind.value, h.action.employee_id, h.action.target) for h in held}
            for key, (row_id, status, _reason) in known.items():
                # No longer held or planned; or released from a freeze and now simply planned.
                if key not in current or (status == FROZEN and key not in held_keys):
                    conn.execute(update(approvals).where(approvals.c.id == row_id).values(status="obsolete", decided_at=utc_text(now)))
            for item in held:
                key = (item.action.kind.value, item.action.employee_id, item.action.target)
                wanted = HELD if item.approvable else FROZEN if item.action.kind in DESTRUCTIVE_KINDS else None
                row_id, status, reason = known.get(key, (None, None, None))
                if row_id is None:
                    if wanted is None:
                        continue  # a dependent action, or one an admin rejected
                    result = conn.execute(
                        insert(approvals).values(
                            kind=key[0], employee_id=key[1], target=key[2], company=item.action.company,
                            action=json.dumps(item.action.to_dict(), ensure_ascii=False), reason=item.reason,
                            status=wanted, created_at=utc_text(now),
                        )
                    )
                    if wanted == HELD:
                        new_ids.append(int(result.inserted_primary_key[0]))
                elif status in (HELD, FROZEN) and wanted in (HELD, FROZEN) and (status, reason) != (wanted, item.reason):
                    conn.execute(update(approvals).where(approvals.c.id == row_id).values(status=wanted, reason=item.reason))
                    if wanted == HELD and status == FROZEN:
                        new_ids.append(row_id)
        return new_ids

    def held_actions(self, company: str | None = None) -> list[dict[str, Any]]:
        """What waits for an admin (`held`) or for the HR feed (`frozen`), oldest first."""
        query = select(approvals).where(approvals.c.status.in_((HELD, FROZEN))).order_by(approvals.c.id)
        if company:
            query = query.where(approvals.c.company == company)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [{**dict(row), "action": json.loads(row["action"])} for row in rows]

    def decide(self, ids: Iterable[int], decision: str, actor: str, now: datetime) -> list[str]:
        """Approve or reject held actions; returns one line per id saying what happened."""
        assert decision in ("approved", "rejected")
        lines = []
        with self.engine.begin() as conn:
            for action_id in ids:
                row = conn.execute(select(approvals).where(approvals.c.id == action_id)).mappings().first()
                if row is not None and row["status"] == FROZEN:
                    lines.append(f"#{action_id}: not approvable: held by the frozen HR feed of {row['company']}; "
                                 f"`lifecycle accept-feed {row['company']}` accepts the feed if its drop is real")
                    continue
                if row is None or row["status"] != "held":
                    lines.append(f"#{action_id}: not a held action ({row['status'] if row else 'unknown id'})")
                    continue
                conn.execute(
                    update(approvals).where(approvals.c.id == action_id)
                    .values(status=decision, decided_by=actor, decided_at=utc_text(now))
                )
                verb = "approve" if decision == "approved" else "reject"
                conn.execute(
                    insert(action_log).values(
                        run_id=str(uuid.uuid4()), logged_at=utc_text(datetime.now(UTC)), effective_at=utc_text(now),
                        company=row["company"], employee_id=row["employee_id"], kind=verb, target=row["target"],
                        changes=json.dumps({"held_action": [action_id, decision]}), rule="admin",
                        reason=f"{verb}d held {row['kind']} #{action_id} ({row['reason']})",
                        status=ActionStatus.RECORDED, error="", actor=actor, params="{}",
                    )
                )
                lines.append(f"#{action_id}: {decision} {row['kind']} {row['employee_id']} {row['target']}")
        return lines

    def mark_approvals_applied(self, keys: Iterable[tuple[str, str, str]], now: datetime) -> None:
        with self.engine.begin() as conn:
            for kind, employee_id, target in keys:
                conn.execute(
                    update(approvals)
                    .where(approvals.c.status == "approved", approvals.c.kind == kind,
                           approvals.c.employee_id == employee_id, approvals.c.target == target)
                    .values(status="applied", decided_at=utc_text(now))
                )

    def set_hold(self, employee_id: str, reason: str, actor: str, now: datetime, *, on: bool) -> str:
        with self.engine.begin() as conn:
            existing = conn.execute(select(holds).where(holds.c.employee_id == employee_id)).mappings().first()
            if on and existing:
                return f"{employee_id} is already on hold since {existing['created_at']} ({existing['reason']})"
            if not on and not existing:
                return f"{employee_id} is not on hold"
            if on:
                conn.execute(insert(holds).values(employee_id=employee_id, reason=reason, actor=actor, created_at=utc_text(now)))
            else:
                conn.execute(holds.delete().where(holds.c.employee_id == employee_id))
            person = conn.execute(select(persons.c.company).where(persons.c.employee_id == employee_id)).scalar()
            kind = "hold" if on else "release"
            conn.execute(
                insert(action_log).values(
                    run_id=str(uuid.uuid4()), logged_at=utc_text(datetime.now(UTC)), effective_at=utc_text(now),
                    company=person or "", employee_id=employee_id, kind=kind, target=employee_id,
                    changes=json.dumps({"legal_hold": [not on, on]}), rule="admin",
                    reason=reason if on else f"hold released ({reason})" if reason else "hold released",
                    status=ActionStatus.RECORDED, error="", actor=actor, params="{}",
                )
            )
        return f"{employee_id}: {'on legal hold: account and mail are never deleted until released' if on else 'hold released'}"

    def reinstate(self, employee_id: str, actor: str, now: datetime) -> str:
        """Let a person deleted for inactivity get an account again (with the same, reserved name)."""
        person = self.person(employee_id)
        if person is None or person.status != PersonStatus.DELETED or person.suspension_rule != SuspensionRule.INACTIVITY:
            return f"{employee_id}: not an account deleted for inactivity; nothing to reinstate"
        with self.engine.begin() as conn:
            conn.execute(update(persons).where(persons.c.employee_id == employee_id).values(suspension_rule=None,
                                                                                           updated_at=utc_text(now)))
        self.record_admin_event("reinstate", employee_id, f"admin allows a new account for {employee_id} ({person.uid})",
                                actor, now, person.company)
        return f"{employee_id}: reinstated; the next cycle makes the account {person.uid} again"

    def record_admin_event(self, kind: str, target: str, reason: str, actor: str, now: datetime, company: str = "") -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(action_log).values(
                    run_id=str(uuid.uuid4()), logged_at=utc_text(datetime.now(UTC)), effective_at=utc_text(now),
                    company=company, employee_id="", kind=kind, target=target, changes="{}", rule="admin",
                    reason=reason, status=ActionStatus.RECORDED, error="", actor=actor, params="{}",
                )
            )

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

    def knows_employee(self, employee_id: str) -> bool:
        """The employee has a stored state or a legal hold (one indexed lookup each)."""
        with self.engine.connect() as conn:
            for column in (persons.c.employee_id, holds.c.employee_id):
                if conn.execute(select(column).where(column == employee_id).limit(1)).first():
                    return True
        return False

    def last_run_started(self) -> datetime | None:
        with self.engine.connect() as conn:
            return _parse(conn.execute(select(runs.c.started_at).order_by(runs.c.started_at.desc()).limit(1)).scalar())

    def person(self, employee_id: str) -> PersonState | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(persons).where(persons.c.employee_id == employee_id)).mappings().first()
        return _person(row) if row else None

    def _upsert_person(self, conn: Connection, employee_id: str, fields: dict[str, Any], now: datetime) -> None:
        values = _person_values(fields, now)
        existing = conn.execute(select(persons.c.employee_id).where(persons.c.employee_id == employee_id)).first()
        if existing:
            conn.execute(update(persons).where(persons.c.employee_id == employee_id).values(**values))
        else:
            values.setdefault("status", PersonStatus.ACTIVE.value)
            values.setdefault("match_confirmed", False)
            conn.execute(insert(persons).values(employee_id=employee_id, **values))

    def confirm_match(self, employee_id: str, uid: str, company: str, actor: str, now: datetime) -> None:
        """An admin says the pre-existing entry `uid` is this employee (see `lifecycle adopt`)."""
        with self.engine.begin() as conn:
            self._upsert_person(
                conn, employee_id, {"uid": uid, "company": company, "status": PersonStatus.CONFIRMED.value, "match_confirmed": True}, now
            )
            conn.execute(
                insert(action_log).values(
                    run_id=str(uuid.uuid4()), logged_at=utc_text(datetime.now(UTC)), effective_at=utc_text(now),
                    company=company, employee_id=employee_id, kind="confirm_match", target=uid,
                    changes=json.dumps({"link": [None, uid]}), rule="admin",
                    reason=f"admin confirmed that entry {uid} is employee {employee_id}",
                    status=ActionStatus.RECORDED, error="", actor=actor, params="{}",
                )
            )

    # -- runs and the action log -----------------------------------------------------------

    def begin_run(self, mode: str, now: datetime) -> str:
        run_id = str(uuid.uuid4())
        with self.engine.begin() as conn:
            conn.execute(
                insert(runs).values(run_id=run_id, started_at=utc_text(datetime.now(UTC)), effective_at=utc_text(now), mode=mode)
            )
        return run_id

    def finish_run(self, run_id: str, outcome: str, summary: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(runs)
                .where(runs.c.run_id == run_id)
                .values(finished_at=utc_text(datetime.now(UTC)), outcome=outcome, summary=json.dumps(summary, ensure_ascii=False))
            )

    def begin_action(self, run_id: str, action: Action, now: datetime, actor: str) -> int:
        """Write-ahead: the action is durable as `pending` before anything is attempted."""
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(action_log).values(
                    **_action_values(run_id, action, now, actor), status=ActionStatus.PENDING, error=""
                )
            )
            return int(result.inserted_primary_key[0])

    def finish_action(
        self,
        action_id: int,
        status: str,
        *,
        employee_id: str = "",
        state: dict[str, Any] | None = None,
        now: datetime | None = None,
        error: str = "",
    ) -> None:
        """The outcome and the person's new state, in one transaction."""
        with self.engine.begin() as conn:
            conn.execute(update(action_log).where(action_log.c.id == action_id).values(status=status, error=error))
            if state and employee_id and status == ActionStatus.APPLIED:
                self._upsert_person(conn, employee_id, state, now or datetime.now(UTC))

    def begin_actions(
        self, run_id: str, rows: Sequence[tuple[Action, str, str]], now: datetime, actor: str
    ) -> list[int]:
        """Write-ahead for a batch: every (action, status, error) row in ONE transaction.

        Rows are inserted in the order given and their ids returned in that
        order.  The executor writes a batch's actions as `pending` (and the ones
        it already knows it will skip as `skipped`) before sending any of them.
        """
        if not rows:
            return []
        values = [{**_action_values(run_id, action, now, actor), "status": status, "error": error} for action, status, error in rows]
        with self.engine.begin() as conn:
            result = conn.execute(insert(action_log).returning(action_log.c.id, sort_by_parameter_order=True), values)
            return [int(row[0]) for row in result]

    def finish_actions(self, outcomes: Sequence[ActionOutcome], now: datetime) -> None:
        """The outcomes of a batch and the people's new states, in ONE transaction (all or nothing).

        A crash before it commits leaves the batch's rows `pending`; the next
        run's `Executor.recover()` settles each against the directory.
        """
        if not outcomes:
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(action_log)
                .where(action_log.c.id == bindparam("b_id"))
                .values(status=bindparam("b_status"), error=bindparam("b_error")),
                [{"b_id": o.action_id, "b_status": o.status, "b_error": o.error} for o in outcomes],
            )
            states = [(o.employee_id, o.state) for o in outcomes if o.state and o.employee_id and o.status == ActionStatus.APPLIED]
            self._upsert_people(conn, states, now)

    def _upsert_people(self, conn: Connection, items: Sequence[tuple[str, dict[str, Any]]], now: datetime) -> None:
        """`_upsert_person` for many people: one existence query per chunk, then executemany per column set."""
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
                self._upsert_person(conn, employee_id, fields, now)

    def record_actions(
        self,
        run_id: str,
        actions: Iterable[Action],
        status: str,
        now: datetime,
        actor: str,
        error: str = "",
        *,
        dedup: bool = False,
        reasons: list[str] | None = None,
    ) -> None:
        """Log actions with one status; with `dedup`, an identical entry logged before is not repeated."""
        if not dedup and reasons is None:
            rows = [{**_action_values(run_id, action, now, actor), "status": status, "error": error} for action in actions]
            if rows:
                with self.engine.begin() as conn:
                    conn.execute(insert(action_log), rows)
            return
        with self.engine.begin() as conn:
            for index, action in enumerate(actions):
                values = _action_values(run_id, action, now, actor)
                if reasons is not None:
                    values["reason"] = f"{action.reason} | held: {reasons[index]}"
                if dedup:
                    key = _dedup_key(status, action.kind.value, action.employee_id, action.target, values["reason"])
                    if conn.execute(select(action_log.c.id).where(action_log.c.dedup_key == key).limit(1)).first():
                        continue
                    values["dedup_key"] = key
                conn.execute(insert(action_log).values(**values, status=status, error=error))

    def record_rejections(self, run_id: str, rejected: Iterable[RejectedRow], now: datetime, actor: str) -> int:
        """Log each rejected row once: a row rejected for the same reason again is not repeated."""
        written = 0
        with self.engine.begin() as conn:
            for row in rejected:
                key = _dedup_key("rejected", row.employee_id, str(row.row), row.field, row.reason)
                seen = conn.execute(select(action_log.c.id).where(action_log.c.dedup_key == key).limit(1)).first()
                if seen:
                    continue
                conn.execute(
                    insert(action_log).values(
                        run_id=run_id, logged_at=utc_text(datetime.now(UTC)), effective_at=utc_text(now),
                        company="", employee_id=row.employee_id, kind="hr_row_rejected",
                        target=f"row {row.row}", changes=json.dumps({"field": [row.field, None]}, ensure_ascii=False),
                        rule="hr_validation", reason=f"{row.reason}; fix: {row.fix}", status=ActionStatus.REJECTED,
                        error="", actor=actor, params="{}", dedup_key=key,
                    )
                )
                written += 1
        return written

    def record_reviews(self, run_id: str, reviews: Iterable[Review], now: datetime, actor: str) -> int:
        """Log each finding for an admin once, not on every cycle."""
        written = 0
        with self.engine.begin() as conn:
            for review in reviews:
                key = _dedup_key("review", review.kind.value, review.employee_id, review.target, review.reason)
                if conn.execute(select(action_log.c.id).where(action_log.c.dedup_key == key).limit(1)).first():
                    continue
                conn.execute(
                    insert(action_log).values(
                        run_id=run_id, logged_at=utc_text(datetime.now(UTC)), effective_at=utc_text(now),
                        company=review.company, employee_id=review.employee_id, kind=review.kind.value,
                        target=review.target, changes="{}", rule="review", reason=f"{review.reason}; fix: {review.fix}",
                        status=ActionStatus.REVIEW, error="", actor=actor, params="{}", dedup_key=key,
                    )
                )
                written += 1
        return written

    def pending_actions(self) -> list[LogEntry]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(action_log).where(action_log.c.status == ActionStatus.PENDING).order_by(action_log.c.id)
            ).mappings().all()
        return [_log_entry(row) for row in rows]

    def entries(
        self,
        *,
        company: str | None = None,
        employee_id: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> Iterator[LogEntry]:
        query = select(action_log).order_by(action_log.c.id)
        if company:
            query = query.where(action_log.c.company == company)
        if employee_id:
            query = query.where(action_log.c.employee_id == employee_id)
        if since:
            query = query.where(action_log.c.logged_at >= utc_text(since))
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        selected = rows[-limit:] if limit else rows
        for row in selected:
            yield _log_entry(row)


# -- state-store failures, in words ------------------------------------------------------------

# SQLite primary result codes that blame the environment (file system, permissions), not the data.
_SQLITE_ENVIRONMENT = ("SQLITE_PERM", "SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_FULL", "SQLITE_CANTOPEN", "SQLITE_NOTADB")
# The same for PostgreSQL, by SQLSTATE: (cause, fix).
_POSTGRES_ENVIRONMENT = {
    "53100": ("the database server's disk is full", "free space on the PostgreSQL server"),
    "25006": ("the server accepts reads only (a standby, or default_transaction_read_only)", "point [state] url at the primary"),
    "42501": ("the database user lacks a privilege", "GRANT the [state] url's user rights on the lifecycle tables"),
}
_ERRNO_CODES = {errno.ENOSPC: "SQLITE_FULL", errno.EDQUOT: "SQLITE_FULL", errno.EROFS: "SQLITE_READONLY"}
_NEARLY_FULL = 1 << 20  # bytes: below this much free space, a write failure is a full disk


def _translate_failure(context: ExceptionContext) -> BaseException | None:
    """SQLAlchemy's `handle_error` hook: environmental failures become a StateStoreError (others pass)."""
    if context.is_pre_ping or context.engine is None:
        return None  # a pre-ping failure is the pool's to handle: it reconnects
    return state_store_failure(context.engine.url, context.original_exception)


def state_store_failure(url: str | URL, exc: BaseException) -> StateStoreError | None:
    """The operator's words for a failure to open or write the state store, or None if it is not one."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        sqlstate = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
        if sqlstate not in _POSTGRES_ENVIRONMENT:
            return None
        cause, fix = _POSTGRES_ENVIRONMENT[sqlstate]
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return StateStoreError(f"state store {parsed.render_as_string(hide_password=True)}: {cause} ({first}); {fix}")
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    code = _sqlite_code(exc)
    if isinstance(exc, OSError):
        code = _ERRNO_CODES.get(exc.errno or 0, "OSError")
    elif code is None:
        return None
    path = Path(parsed.database).absolute()
    cause, fix = sqlite_store_diagnosis(path, code, exc)
    return StateStoreError(f"state store {path}: {cause}; {fix}")


def _sqlite_code(exc: BaseException) -> str | None:
    """The SQLite primary result code's name when it blames the environment, else None."""
    if not isinstance(exc, sqlite3.Error):
        return None
    name = getattr(exc, "sqlite_errorname", "") or ""
    for code in _SQLITE_ENVIRONMENT:
        if name == code or name.startswith(code + "_"):
            return code
    message = str(exc)  # a driver without error names: its fixed messages
    for text, code in (("readonly database", "SQLITE_READONLY"), ("disk is full", "SQLITE_FULL"),
                       ("unable to open database file", "SQLITE_CANTOPEN"), ("disk I/O error", "SQLITE_IOERR"),
                       ("file is not a database", "SQLITE_NOTADB")):
        if text in message:
            return code
    return None


def sqlite_store_diagnosis(path: Path, code: str, exc: BaseException) -> tuple[str, str]:
    """(cause, fix) for a store at `path` that failed with `code`; looks at the file system, not the message."""
    user = user_name(os.geteuid())
    setting = "set [state] url to a file in a directory this user can write, e.g. sqlite:////var/lib/lifecycle/state.db"
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"{ancestor} is a file, not a directory", setting
    if path.is_dir():
        return "it is a directory, not a database file", setting
    if code == "SQLITE_NOTADB":
        return ("the file is not an SQLite database (or is damaged)",
                "point [state] url at the right file, or restore it from a backup")
    mount = _mount_point(ancestor)
    try:
        fs = os.statvfs(ancestor)
    except OSError:
        fs = None
    if fs is not None and fs.f_flag & os.ST_RDONLY:
        return (f"the file system at {mount} is mounted read-only",
                f"remount {mount} read-write, or {setting} (under systemd: in the unit's StateDirectory= or ReadWritePaths=)")
    free = fs.f_bavail * fs.f_frsize if fs is not None else None
    nearly_full = free is not None and free < _NEARLY_FULL
    if code == "SQLITE_FULL" or (nearly_full and code in ("SQLITE_IOERR", "SQLITE_CANTOPEN", "OSError")):
        shown = f"{free // 1024} KiB free" if free is not None else "no space left"
        return (f"the file system at {mount} is full ({shown}: {_first_line(exc)})",
                f"free space on {mount} (`df -h {mount}`), then run again: actions left in flight are re-checked "
                "against the directory and completed")
    if ancestor != path.parent:
        return (f"directory {path.parent} does not exist and cannot be created ({_first_line(exc)})",
                f"create it: install -d -o {user} {path.parent}")
    for target, what in ((path, "the file"), (path.parent, f"directory {path.parent}")):
        if target.exists() and not os.access(target, os.W_OK | (os.X_OK if target.is_dir() else 0)):
            info = target.stat()
            owner = user_name(info.st_uid)
            if os.geteuid() == 0:  # root ignores permission bits: only an attribute can refuse it
                return f"{what} is immutable or append-only", f"chattr -i -a {target} (see `lsattr -d {target}`)"
            why = f"{what} is not writable by user {user} (owner {owner}, mode {info.st_mode & 0o7777:04o})"
            if target.is_dir():
                why += f"; SQLite keeps {path.name}-wal and {path.name}-shm next to the database"
            fix = f"chown {user}: {target}"
            if owner not in (user, "root"):
                fix = f"run lifecycle as {owner} (the service user?), or {fix}"
            return why, fix
    return (f"SQLite says: {_first_line(exc)}",
            f"check that {path.parent} is writable by user {user}, has free space, and is not immutable "
            f"(`lsattr -d {path.parent}`)")


def _mount_point(path: Path) -> Path:
    path = path.resolve()
    try:
        device = path.stat().st_dev
        while path != path.parent and path.parent.stat().st_dev == device:
            path = path.parent
    except OSError:
        pass
    return path


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # no passwd entry (DynamicUser=)
        return str(uid)


def _first_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")  # an applied action must survive a power cut
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _dedup_key(*parts: str) -> str:
    import hashlib

    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _action_values(run_id: str, action: Action, now: datetime, actor: str) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "logged_at": utc_text(datetime.now(UTC)),
        "effective_at": utc_text(now),
        "company": action.company,
        "employee_id": action.employee_id,
        "kind": action.kind.value,
        "target": action.target,
        "changes": json.dumps(action.all_changes(), ensure_ascii=False, sort_keys=True),
        "rule": action.rule,
        "reason": action.reason,
        "actor": actor,
        "params": json.dumps(action.all_params(), ensure_ascii=False, sort_keys=True),
    }


def _person_values(fields: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The persons columns of a state update, datetimes normalised to UTC text, stamped `updated_at`."""
    values = {k: v for k, v in fields.items() if k in persons.c}
    for key in DATETIME_FIELDS:
        if key in values and isinstance(values[key], str) and values[key]:
            values[key] = utc_text(datetime.fromisoformat(values[key]))
    values["updated_at"] = utc_text(now)
    return values


# PersonState's fields, in its order: what load_state reads.
PERSON_COLUMNS = tuple(
    persons.c[name]
    for name in ("employee_id", "uid", "company", "status", "created_at", "suspended_at", "suspension_rule", "deleted_at",
                 "absent_since", "warned_at", "restored_at", "match_confirmed")
)
_STATUSES = {s.value: s for s in PersonStatus}
_RULES = {r.value: r for r in SuspensionRule}


def _persons(rows: Iterable[Sequence[Any]]) -> tuple[PersonState, ...]:
    """`_person` for every row of `PERSON_COLUMNS`, sharing what repeats.

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

    people = []
    append = people.append
    for employee_id, uid, company, status, created, suspended, rule, deleted, absent, warned, restored, confirmed in rows:
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
            )
        )
    return tuple(people)


def _person(row: Any) -> PersonState:
    return PersonState(
        employee_id=row["employee_id"],
        uid=row["uid"],
        company=row["company"],
        status=PersonStatus(row["status"]),
        created_at=_parse(row["created_at"]),
        suspended_at=_parse(row["suspended_at"]),
        suspension_rule=SuspensionRule(row["suspension_rule"]) if row["suspension_rule"] else None,
        deleted_at=_parse(row["deleted_at"]),
        absent_since=_parse(row["absent_since"]),
        warned_at=_parse(row["warned_at"]),
        restored_at=_parse(row["restored_at"]),
        match_confirmed=bool(row["match_confirmed"]),
    )


def _log_entry(row: Any) -> LogEntry:
    return LogEntry(
        id=row["id"],
        run_id=row["run_id"],
        logged_at=row["logged_at"],
        effective_at=row["effective_at"],
        company=row["company"],
        employee_id=row["employee_id"],
        kind=row["kind"],
        target=row["target"],
        changes=json.loads(row["changes"] or "{}"),
        rule=row["rule"],
        reason=row["reason"],
        status=row["status"],
        error=row["error"] or "",
        actor=row["actor"],
        params=json.loads(row["params"] or "{}"),
    )
