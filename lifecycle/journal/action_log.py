"""The action log and the runs: what was done, when, why and by whom.

Write-ahead: an action is written as `pending` and committed before it is
attempted; its outcome and the person's new state are written together in
one transaction afterwards.  A crash in between leaves a `pending` row that
the next run re-checks against the directory.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection, Engine

from lifecycle.domain.models import Action, RejectedRow, Review
from lifecycle.domain.notices import Notice
from lifecycle.journal import outbox
from lifecycle.journal.schema import action_log, parse_utc_text, runs, utc_text
from lifecycle.journal.state import upsert_people, upsert_person


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
    origin: str = ""  # where an admin decided: "console 203.0.113.7"; "" for the CLI and the cycles

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


class ActionLog:
    """The Journal's runs and action log."""

    engine: Engine

    # -- runs ---------------------------------------------------------------------------------

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

    def last_run_started(self) -> datetime | None:
        with self.engine.connect() as conn:
            return parse_utc_text(conn.execute(select(runs.c.started_at).order_by(runs.c.started_at.desc()).limit(1)).scalar())

    # -- write-ahead ------------------------------------------------------------------------------

    def begin_action(self, run_id: str, action: Action, now: datetime, actor: str) -> int:
        """Write-ahead: the action is durable as `pending` before anything is attempted."""
        with self.engine.begin() as conn:
            values = {**action_values(run_id, action, now, actor), "status": ActionStatus.PENDING, "error": ""}
            return int(conn.execute(insert(action_log).values(**values).returning(action_log.c.id)).scalar_one())

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
        """The outcome, the person's new state and the release of the action's notices, in one transaction."""
        with self.engine.begin() as conn:
            conn.execute(update(action_log).where(action_log.c.id == action_id).values(status=status, error=error))
            outbox.release(conn, [(action_id, status)])
            if state and employee_id and status == ActionStatus.APPLIED:
                upsert_person(conn, employee_id, state, now or datetime.now(UTC))

    def begin_actions(
        self, run_id: str, rows: Sequence[tuple[Action, str, str]], now: datetime, actor: str, *,
        notices: Sequence[Sequence[Notice]] = (), message_domain: str = "",
    ) -> list[int]:
        """Write-ahead for a batch: every (action, status, error) row in ONE transaction.

        Rows are inserted in the order given and their ids returned in that
        order.  The executor writes a batch's actions as `pending` (and the ones
        it already knows it will skip as `skipped`) before sending any of them.
        `notices` (one sequence per row; with `message_domain`, the sender's
        domain for their Message-IDs): each pending row's notices are written
        `held` in the same transaction (lifecycle.journal.outbox).
        """
        if not rows:
            return []
        values = [{**action_values(run_id, action, now, actor), "status": status, "error": error} for action, status, error in rows]
        with self.engine.begin() as conn:
            result = conn.execute(insert(action_log).returning(action_log.c.id, sort_by_parameter_order=True), values)
            ids = [int(row[0]) for row in result]
            if notices and message_domain:
                # Wall-clock time: the outbox's retry deadline counts real hours, whatever date the plan is for.
                outbox.insert_held(conn, run_id, ids, [status for _, status, _ in rows], notices, message_domain,
                                   datetime.now(UTC))
            return ids

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
            upsert_people(conn, states, now)
            outbox.release(conn, [(o.action_id, o.status) for o in outcomes])  # their notices: queued or dropped

    def pending_actions(self) -> list[LogEntry]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(action_log).where(action_log.c.status == ActionStatus.PENDING).order_by(action_log.c.id)
            ).mappings().all()
        return [log_entry(row) for row in rows]

    # -- entries without an attempt: held, rejected rows, findings, admin events ----------------------

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
            rows = [{**action_values(run_id, action, now, actor), "status": status, "error": error} for action in actions]
            if rows:
                with self.engine.begin() as conn:
                    conn.execute(insert(action_log), rows)
            return
        with self.engine.begin() as conn:
            for index, action in enumerate(actions):
                values = action_values(run_id, action, now, actor)
                if reasons is not None:
                    values["reason"] = f"{action.reason} | held: {reasons[index]}"
                if dedup:
                    key = dedup_key(status, action.kind.value, action.employee_id, action.target, values["reason"])
                    if _logged(conn, key):
                        continue
                    values["dedup_key"] = key
                conn.execute(insert(action_log).values(**values, status=status, error=error))

    def record_rejections(self, run_id: str, rejected: Iterable[RejectedRow], now: datetime, actor: str) -> int:
        """Log each rejected row once: a row rejected for the same reason again is not repeated."""
        written = 0
        with self.engine.begin() as conn:
            for row in rejected:
                key = dedup_key("rejected", row.employee_id, row.key or str(row.row), row.field, row.reason)
                if _logged(conn, key):
                    continue
                conn.execute(
                    insert(action_log).values(
                        run_id=run_id, logged_at=utc_text(datetime.now(UTC)), effective_at=utc_text(now),
                        company=row.company, employee_id=row.employee_id, kind="hr_row_rejected",
                        target=row.where, changes=json.dumps({"field": [row.field, None]}, ensure_ascii=False),
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
                key = dedup_key("review", review.kind.value, review.employee_id, review.target, review.reason)
                if _logged(conn, key):
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

    def record_admin_event(self, kind: str, target: str, reason: str, actor: str, now: datetime, company: str = "") -> None:
        with self.engine.begin() as conn:
            record_admin_entry(conn, kind=kind, employee_id="", target=target, reason=reason, actor=actor, now=now,
                               company=company)

    # -- reading ----------------------------------------------------------------------------------

    def entries(
        self,
        *,
        company: str | None = None,
        employee_id: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
        companies: Collection[str] | None = None,
        kind: str | None = None,
        status: str | None = None,
        until: datetime | None = None,
        run_id: str | None = None,
    ) -> Iterator[LogEntry]:
        """The action log in order, filtered; `companies` keeps only those companies' entries."""
        query = select(action_log).order_by(action_log.c.id)
        if run_id:
            query = query.where(action_log.c.run_id == run_id)
        if company:
            query = query.where(action_log.c.company == company)
        if companies is not None:
            query = query.where(action_log.c.company.in_(list(companies)))
        if employee_id:
            query = query.where(action_log.c.employee_id == employee_id)
        if kind:
            query = query.where(action_log.c.kind == kind)
        if status:
            query = query.where(action_log.c.status == status)
        if since:
            query = query.where(action_log.c.logged_at >= utc_text(since))
        if until:
            query = query.where(action_log.c.logged_at < utc_text(until))
        if limit:  # the last `limit` entries, read newest first and given back in order
            query = query.order_by(None).order_by(action_log.c.id.desc()).limit(limit)
        if limit:
            with self.engine.connect() as conn:
                rows = conn.execute(query).mappings().all()
            for row in reversed(rows):
                yield log_entry(row)
            return
        # The whole log (an export): read in slices as it is written out, never all at once.
        with self.engine.connect() as conn:
            for row in conn.execution_options(yield_per=1000).execute(query).mappings():
                yield log_entry(row)


def record_admin_entry(
    conn: Connection,
    *,
    kind: str,
    employee_id: str,
    target: str,
    reason: str,
    actor: str,
    now: datetime,
    company: str = "",
    changes: dict[str, Any] | None = None,
    origin: str = "",
) -> None:
    """An admin's decision in the action log (status `recorded`), in the caller's transaction."""
    conn.execute(
        insert(action_log).values(
            run_id=str(uuid.uuid4()), logged_at=utc_text(datetime.now(UTC)), effective_at=utc_text(now),
            company=company, employee_id=employee_id, kind=kind, target=target,
            changes=json.dumps(changes or {}, ensure_ascii=False), rule="admin", reason=reason,
            status=ActionStatus.RECORDED, error="", actor=actor, params="{}", origin=origin,
        )
    )


def dedup_key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _logged(conn: Connection, key: str) -> bool:
    return conn.execute(select(action_log.c.id).where(action_log.c.dedup_key == key).limit(1)).first() is not None


def action_values(run_id: str, action: Action, now: datetime, actor: str) -> dict[str, Any]:
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


def log_entry(row: Any) -> LogEntry:
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
        origin=row["origin"] or "",
    )
