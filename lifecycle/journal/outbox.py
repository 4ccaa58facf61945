"""The outbox: notices written with the action that causes them, released by its outcome, sent once.

A notice's life, one row of `outbox` (lifecycle.journal.schema):

- `held`: written in the transaction of its action's write-ahead row (`begin_actions`);
- `queued` when that action is journalled `applied`, `dropped` when it ends any other way (failed,
  skipped, interrupted: a re-planned action gets a new row and new notices); the flip is in the
  transaction of the outcome (`finish_actions`, `finish_action`, and so crash recovery too);
- `sending`, committed before the SMTP conversation (`attempts` counts these claims); then `sent`, or
  `queued` again with a back-off, or `failed` (every recipient refused for good, or not accepted within
  [notify] retry_hours);
- a row still `sending` when a drain starts was interrupted between "accepted" and "marked": it is
  looked for in the recipients' mailboxes (lifecycle.engine.outbox_delivery), else `unconfirmed`,
  which only an admin resends (`lifecycle outbox --resend ID`) or forgets (`--forget ID`).

A notice without a cause (the daily digest) is `enqueue`d straight as `queued`, at most once: its
Message-ID, derived from its key, is unique.  Functions taking a Connection run in the caller's
transaction; `OutboxRecords` (a Journal mixin) runs each of its methods in one of its own.

Two drains may run at once (`lifecycle apply` beside the daemon, `lifecycle outbox --send`).  A drain
changes a row only if it is still exactly as that drain read or claimed it (`_as_read`: status,
attempts, attempted_at; every step changes one of them), so a drain acting on a stale read changes
nothing and learns it from the result.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, or_, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement

from lifecycle.domain.notices import Notice
from lifecycle.journal.schema import action_log, outbox, parse_utc_text, utc_text

HELD, QUEUED, SENDING, SENT, FAILED, DROPPED, UNCONFIRMED = (
    "held", "queued", "sending", "sent", "failed", "dropped", "unconfirmed")
WAITING = (HELD, QUEUED, SENDING)
LISTED = (*WAITING, FAILED, UNCONFIRMED)  # what `lifecycle outbox` shows without --all
_APPLIED, _PENDING = "applied", "pending"  # action_log statuses (lifecycle.journal.action_log.ActionStatus)
_CHUNK = 500


@dataclass(frozen=True)
class OutboxRow:
    id: int
    message_id: str
    action_id: int | None
    company: str
    employee_id: str
    event: str
    notice: Notice
    envelope: tuple[str, ...]  # whom the next attempt goes to: every recipient, or the ones still missing
    status: str
    attempts: int
    next_attempt_at: datetime | None
    attempted_at: datetime | None
    last_error: str
    created_at: datetime
    sent_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "message_id": self.message_id, "action_id": self.action_id, "company": self.company,
            "employee_id": self.employee_id, "event": self.event, "status": self.status,
            "to": list(self.notice.to), "cc": list(self.notice.cc), "envelope": list(self.envelope),
            "attempts": self.attempts, "next_attempt_at": utc_text(self.next_attempt_at),
            "attempted_at": utc_text(self.attempted_at), "last_error": self.last_error,
            "created_at": utc_text(self.created_at), "sent_at": utc_text(self.sent_at),
        }


def recipients(notice: Notice) -> tuple[str, ...]:
    """Every address the notice goes to (To: then Cc:), each once."""
    return tuple(dict.fromkeys(a for a in (*notice.to, *notice.cc) if a))


def message_id_for(event: str, run_id: str, action_id: int, index: int, domain: str) -> str:
    """The Message-ID of the `index`-th notice of an action: derived from it, so a resend is the same message."""
    return f"<lifecycle.{event}.{run_id}.{action_id}.{index}@{domain}>"


def keyed_message_id(event: str, key: str, domain: str) -> str:
    """The Message-ID of a notice without a cause (the digest), from its key ("digest/SZ/2026-12-07").

    Each "/" becomes "." and every other character outside [A-Za-z0-9-] is percent-encoded (UTF-8), so
    the key can be read back and two keys never share a Message-ID ("SZ_" and "SZ"; "SZ" and "sz", as
    company codes are case-sensitive): the same digest is queued once by its Message-ID's uniqueness,
    and a different one must not be taken for it."""
    parts = (re.sub(r"[^A-Za-z0-9-]", lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), part)
             for part in key.split("/"))
    return f"<lifecycle.{event}.{'.'.join(parts)}@{domain}>"


def _row_values(notice: Notice, message_id: str, action_id: int | None, status: str, now: datetime) -> dict[str, Any]:
    return {
        "message_id": message_id, "action_id": action_id, "company": notice.company,
        "employee_id": notice.employee_id, "event": notice.event.value,
        "notice": json.dumps(notice.to_dict(), ensure_ascii=False, sort_keys=True), "status": status, "attempts": 0,
        "next_attempt_at": None, "attempted_at": None, "last_error": "", "created_at": utc_text(now), "sent_at": None,
    }


# -- in the callers' transactions ------------------------------------------------------------------


def insert_held(
    conn: Connection, run_id: str, ids: Sequence[int], statuses: Sequence[str],
    notices: Sequence[Sequence[Notice]], domain: str, now: datetime,
) -> int:
    """Each `pending` write-ahead row's notices, `held` (a row written `skipped` gets none); how many."""
    values = [
        _row_values(notice, message_id_for(notice.event.value, run_id, action_id, n, domain), action_id, HELD, now)
        for action_id, status, mine in zip(ids, statuses, notices, strict=True) if status == _PENDING
        for n, notice in enumerate(mine)
    ]
    if values:
        conn.execute(insert(outbox), values)
    return len(values)


def release(conn: Connection, outcomes: Iterable[tuple[int, str]]) -> None:
    """The held notices of settled actions: `queued` after `applied`, `dropped` after any other outcome."""
    settled = {action_id: status for action_id, status in outcomes if status != _PENDING}
    ids = list(settled)
    holding: list[int] = []
    for start in range(0, len(ids), _CHUNK):  # most actions cause no notice: look before writing
        chunk = ids[start:start + _CHUNK]
        holding.extend(conn.execute(select(outbox.c.action_id).where(
            outbox.c.status == HELD, outbox.c.action_id.in_(chunk))).scalars())
    if not holding:
        return
    conn.execute(
        update(outbox).where(outbox.c.action_id == bindparam("b_action"), outbox.c.status == HELD)
        .values(status=bindparam("b_status")),
        [{"b_action": a, "b_status": QUEUED if settled[a] == _APPLIED else DROPPED} for a in sorted(set(holding))],
    )


def sweep_held(conn: Connection) -> None:
    """Held notices whose action was settled some other way (a hand-repaired row): released as `release` would."""
    settled = select(action_log.c.id, action_log.c.status).join(outbox, outbox.c.action_id == action_log.c.id).where(
        outbox.c.status == HELD, action_log.c.status != _PENDING)
    release(conn, [(int(row.id), str(row.status)) for row in conn.execute(settled)])
    orphans = select(outbox.c.id).outerjoin(action_log, outbox.c.action_id == action_log.c.id).where(
        outbox.c.status == HELD, action_log.c.id.is_(None))
    gone = list(conn.execute(orphans).scalars())
    if gone:
        conn.execute(update(outbox).where(outbox.c.id.in_(gone)).values(status=DROPPED, last_error="its action is gone"))


def enqueue(conn: Connection, notice: Notice, message_id: str, now: datetime) -> bool:
    """A notice without a cause, `queued`; a no-op (False) when that Message-ID is in the outbox already
    (the same digest at most once, across restarts and two processes)."""
    values = _row_values(notice, message_id, None, QUEUED, now)
    # The state store is SQLite or PostgreSQL (lifecycle.journal.state_version): both have ON CONFLICT.
    dialect: Any = sqlite if conn.dialect.name == "sqlite" else postgresql
    statement = dialect.insert(outbox).values(values).on_conflict_do_nothing(index_elements=["message_id"])
    # RETURNING tells whether a row went in (psycopg's rowcount is -1 under SQLAlchemy's implicit RETURNING).
    return conn.execute(statement.returning(outbox.c.id)).first() is not None


# -- a drain's steps ---------------------------------------------------------------------------------


def _as_read(row: OutboxRow) -> ColumnElement[bool]:
    """`row` exactly as the drain read or claimed it: a claim raises attempts and sets attempted_at, every
    other step changes the status, so a row another drain has moved on no longer matches."""
    attempted = (outbox.c.attempted_at.is_(None) if row.attempted_at is None
                 else outbox.c.attempted_at == utc_text(row.attempted_at))
    return and_(outbox.c.id == row.id, outbox.c.status == row.status, outbox.c.attempts == row.attempts, attempted)


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt: 1 min, doubling, at most 1 h."""
    return timedelta(minutes=min(60, 2 ** max(0, attempts - 1)))


def read_row(row: Any) -> OutboxRow:
    data = json.loads(row.notice)
    notice = Notice.from_dict(data)
    envelope = tuple(data["envelope"]) if data.get("envelope") else recipients(notice)
    created = parse_utc_text(row.created_at)
    assert created is not None
    return OutboxRow(
        id=int(row.id), message_id=row.message_id, action_id=row.action_id, company=row.company,
        employee_id=row.employee_id, event=row.event, notice=notice, envelope=envelope, status=row.status,
        attempts=int(row.attempts), next_attempt_at=parse_utc_text(row.next_attempt_at),
        attempted_at=parse_utc_text(row.attempted_at), last_error=row.last_error or "", created_at=created,
        sent_at=parse_utc_text(row.sent_at),
    )


def _with_envelope(row: OutboxRow, envelope: Sequence[str]) -> str:
    data = row.notice.to_dict()
    if tuple(envelope) != recipients(row.notice):
        data["envelope"] = list(envelope)
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def read_counts(url: str) -> dict[str, int] | None:
    """The outbox's rows by status, read without creating or changing anything (`lifecycle check`); None when
    the store or its outbox is not there yet or cannot be read (the store's own line says why)."""
    from lifecycle.journal.check import read_store  # the store's check reads it the same way

    def count(conn: Connection) -> dict[str, int]:
        return {str(s): int(n) for s, n in conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status))}

    return read_store(url, "outbox", count)


class OutboxRecords:
    """The Journal's outbox: each method one transaction of its own."""

    engine: Engine

    def enqueue_notice(self, notice: Notice, message_id: str, now: datetime) -> bool:
        with self.engine.begin() as conn:
            return enqueue(conn, notice, message_id, now)

    def outbox_has(self, message_id: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(outbox.c.id).where(outbox.c.message_id == message_id)).first() is not None

    def last_digest_date(self, company: str) -> date | None:
        """The day of the last digest queued for `company` (its facts' date), None if none was."""
        with self.engine.connect() as conn:
            text = conn.execute(select(outbox.c.notice).where(outbox.c.event == "digest", outbox.c.company == company)
                                .order_by(outbox.c.id.desc()).limit(1)).scalar()
        day = json.loads(text).get("facts", {}).get("date") if text else None
        return date.fromisoformat(day) if day else None

    def sweep_held_notices(self) -> None:
        with self.engine.begin() as conn:
            sweep_held(conn)

    def expire_notices(self, now: datetime, retry_hours: float) -> list[OutboxRow]:
        """Queued notices not accepted within `retry_hours` of their writing: `failed`; those rows."""
        deadline = utc_text(now - timedelta(hours=retry_hours))
        with self.engine.begin() as conn:
            rows = [read_row(r) for r in conn.execute(select(outbox).where(
                outbox.c.status == QUEUED, outbox.c.created_at <= deadline).order_by(outbox.c.id))]
            expired = []
            for row in rows:
                error = f"not accepted within {retry_hours:g} hours" + (f"; last error: {row.last_error}"
                                                                         if row.last_error else "")
                if conn.execute(update(outbox).where(_as_read(row)).values(status=FAILED, last_error=error)).rowcount:
                    expired.append(row)
        return expired

    def interrupted_notices(self) -> list[OutboxRow]:
        """Rows left `sending`: a send whose end was never recorded."""
        return self._select(outbox.c.status == SENDING)

    def due_notices(self, now: datetime, limit: int = 100) -> list[OutboxRow]:
        """Queued rows whose next attempt is due, oldest first."""
        due = and_(outbox.c.status == QUEUED,
                   or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= utc_text(now)))
        return self._select(due, limit=limit)

    def outbox_row(self, row_id: int) -> OutboxRow | None:
        found = self._select(outbox.c.id == row_id)
        return found[0] if found else None

    def outbox_rows(self, *, statuses: Sequence[str] | None = LISTED, company: str | None = None) -> list[OutboxRow]:
        clauses: list[ColumnElement[bool]] = []
        if statuses is not None:
            clauses.append(outbox.c.status.in_(list(statuses)))
        if company:
            clauses.append(outbox.c.company == company)
        return self._select(and_(true(), *clauses))

    def outbox_counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status))
            return {str(status): int(count) for status, count in rows}

    def outbox_next_attempt(self, recheck: timedelta = timedelta(0)) -> datetime | None:
        """When the outbox next has something to do (None: nothing queued or sending); a past time means now.

        A row left `sending` is due `recheck` ([notify] recheck_minutes) after its attempt: a drain then
        looks for it in the mailboxes, so even a daemon whose cycles are quiet settles it."""
        with self.engine.connect() as conn:
            queued = conn.execute(select(func.count()).select_from(outbox).where(
                outbox.c.status == QUEUED, outbox.c.next_attempt_at.is_(None))).scalar_one()
            if queued:
                return datetime.now(UTC)
            retry = parse_utc_text(conn.execute(select(func.min(outbox.c.next_attempt_at)).where(
                outbox.c.status == QUEUED)).scalar())
            attempted = parse_utc_text(conn.execute(select(func.min(outbox.c.attempted_at)).where(
                outbox.c.status == SENDING)).scalar())
        times = [t for t in (retry, attempted + recheck if attempted is not None else None) if t is not None]
        return min(times, default=None)

    def claim_notice(self, row: OutboxRow, now: datetime) -> OutboxRow | None:
        """`row`, `sending` (one more attempt, made `now`), committed before the SMTP conversation, if it is
        still exactly as read (queued; unconfirmed or failed for an admin's resend); the claimed row, None
        when another process took or changed it first."""
        with self.engine.begin() as conn:
            done = conn.execute(update(outbox).where(_as_read(row)).values(
                status=SENDING, attempts=row.attempts + 1, attempted_at=utc_text(now)))
        if done.rowcount != 1:
            return None
        return replace(row, status=SENDING, attempts=row.attempts + 1, attempted_at=parse_utc_text(utc_text(now)))

    def settle_notice(self, row: OutboxRow, status: str, *, now: datetime, error: str = "",
                      next_attempt: datetime | None = None, envelope: Sequence[str] | None = None) -> bool:
        """`row`'s new status (sent, queued again, failed, unconfirmed) if it is still exactly as the drain
        read or claimed it; False when another drain moved it on (the caller then does nothing more)."""
        values: dict[str, Any] = {"status": status, "last_error": error}
        if status == SENT:
            values["sent_at"] = utc_text(now)
        if status == QUEUED:
            values["next_attempt_at"] = utc_text(next_attempt)
        if envelope is not None:
            values["notice"] = _with_envelope(row, envelope)
        with self.engine.begin() as conn:
            return bool(conn.execute(update(outbox).where(_as_read(row)).values(**values)).rowcount == 1)

    def mark_notice(self, row_id: int, status: str, *, now: datetime, error: str = "",
                    expect: Sequence[str] = (SENDING,)) -> bool:
        """An admin's word on a row (`lifecycle outbox --forget`), if its status is still in `expect`."""
        values: dict[str, Any] = {"status": status, "last_error": error}
        if status == SENT:
            values["sent_at"] = utc_text(now)
        with self.engine.begin() as conn:
            done = conn.execute(update(outbox).where(outbox.c.id == row_id, outbox.c.status.in_(list(expect)))
                                .values(**values))
            return bool(done.rowcount == 1)

    def _select(self, where: Any, *, limit: int | None = None) -> list[OutboxRow]:
        query = select(outbox).where(where).order_by(outbox.c.id)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [read_row(row) for row in conn.execute(query)]
