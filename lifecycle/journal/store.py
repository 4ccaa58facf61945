"""The state store: one SQLAlchemy engine (SQLite by default, or PostgreSQL) behind the Journal.

The Journal is the stored state (lifecycle.journal.state), the action log
(lifecycle.journal.action_log), the admins' decisions (lifecycle.journal.approvals)
and the notices' outbox (lifecycle.journal.outbox) on one engine.  Opening it checks the schema (lifecycle.journal.migrations).

A store that cannot be opened or written (read-only, full, permissions) raises
StateStoreError naming the path, the cause and the fix, wherever it happens:
the engine translates those driver errors itself (lifecycle.journal.diagnosis).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, ExceptionContext

from lifecycle.domain.errors import StateStoreError
from lifecycle.journal import migrations
from lifecycle.journal.action_log import ActionLog
from lifecycle.journal.approvals import Approvals
from lifecycle.journal.console import ConsoleRecords
from lifecycle.journal.diagnosis import state_store_failure
from lifecycle.journal.migrations import SchemaStatus
from lifecycle.journal.outbox import OutboxRecords
from lifecycle.journal.schema import SQLITE_BUSY_TIMEOUT_MS
from lifecycle.journal.state import StoredStateRecords


class Journal(StoredStateRecords, ActionLog, Approvals, ConsoleRecords, OutboxRecords):
    """The state store, opened at `url`: refused unless its schema is this code's (`lifecycle migrate`)."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = open_engine(url)
        try:
            migrations.require_current(self.engine)
        except BaseException:
            self.engine.dispose()
            raise

    def close(self) -> None:
        self.engine.dispose()


def upgrade_store(url: str, *, dry_run: bool = False) -> SchemaStatus:
    """Bring the store at `url` to this code's schema (`lifecycle migrate`, the service's start).

    Returns where it stood before; with `dry_run` nothing changes.
    """
    engine = open_engine(url)
    try:
        return migrations.upgrade(engine, dry_run=dry_run)
    finally:
        engine.dispose()


def open_engine(url: str) -> Engine:
    """The engine of the store at `url`, its driver errors in words; the SQLite file's folder is made."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        try:
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise state_store_failure(url, exc) or StateStoreError(f"state store {url}: {exc}") from exc
    # pre-ping: a pooled connection that died with a database restart is replaced, not used.
    engine = create_engine(url, future=True, pool_pre_ping=True)
    # Before the first connection: opening the store can fail the same way as writing to it.
    event.listen(engine, "handle_error", _translate_failure)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _translate_failure(context: ExceptionContext) -> BaseException | None:
    """SQLAlchemy's `handle_error` hook: environmental failures become a StateStoreError (others pass)."""
    if context.is_pre_ping or context.engine is None:
        return None  # a pre-ping failure is the pool's to handle: it reconnects
    return state_store_failure(context.engine.url, context.original_exception)


def _switch_to_wal(cursor: Any) -> None:
    """`PRAGMA journal_mode=WAL`, waiting as long as the busy timeout while another connection holds the
    store: SQLite answers a journal mode change with "database is locked" at once, without its busy
    handler (two processes opening a new store together, one of them upgrading it)."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    _switch_to_wal(cursor)
    cursor.execute("PRAGMA synchronous=FULL")  # an applied action must survive a power cut
    cursor.close()
