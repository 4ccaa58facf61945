"""What `lifecycle check` says about the state store, found out without creating or changing anything."""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import create_engine, inspect, select
from sqlalchemy.engine import Connection, Engine, make_url

from lifecycle.domain.errors import LifecycleError, StateStoreError
from lifecycle.domain.models import FeedBaseline
from lifecycle.journal import migrations
from lifecycle.journal.diagnosis import sqlite_store_diagnosis, user_name
from lifecycle.journal.migrations import SchemaState, SchemaStatus
from lifecycle.journal.schema import feed_baseline

T = TypeVar("T")


def check_state_store(url: str) -> str:
    """One line on the store: reachable, writable, created, and where its schema stands.

    The service creates the store on its first start, as its own user: a check run by root
    that created it would leave a state.db (and -wal, -shm) the service cannot write.
    Raises LifecycleError naming what is wrong (StateStoreError for a store this lifecycle
    must not use: written by a newer version, or tables it did not make).
    """
    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            return f"ok ({shown}: in memory)"
        path = Path(parsed.database)
        try:
            if not path.exists():
                _require_creatable(path)
                return f"not created yet ({path}: the service creates it on its first start)"
            _require_writable(path)
        except OSError as exc:  # a directory on the way this user may not enter
            raise LifecycleError(f"state store {path}: {exc.strerror} for user {user_name(os.geteuid())}"
                                 + (f" ({exc.filename})" if exc.filename else "")) from exc
    engine = _read_only_engine(url)
    try:
        with engine.connect() as conn:
            created = inspect(conn).has_table("persons")
            schema = migrations.status(conn) if created else None
    except Exception as exc:  # any driver error: the message names the store and the driver's words
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise LifecycleError(f"state store {shown}: cannot be read: {first_line}") from exc
    finally:
        engine.dispose()
    if schema is None:
        return f"not created yet ({shown}: reachable, no tables; the service creates them on its first start)"
    return _schema_words(shown, schema)


def read_feed_baseline(url: str) -> FeedBaseline | None:
    """The last accepted HR feed's rows per company, read without creating or changing anything (None when
    the store or its baseline is not there yet, or cannot be read: `check` then judges the feed alone)."""
    row = read_store(url, "feed_baseline", lambda conn: conn.execute(
        select(feed_baseline).where(feed_baseline.c.id == 1)).mappings().first())
    if row is None:
        return None
    return FeedBaseline(json.loads(row["rows_per_company"]), tuple(json.loads(row["columns"])))


def read_store(url: str, table: str, read: Callable[[Connection], T]) -> T | None:
    """`read` on a read-only connection to the store, without creating or changing anything; None when the
    store or `table` is not there yet, or cannot be read (`check` reports the store itself)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and (
            parsed.database in (None, "", ":memory:") or not Path(parsed.database).exists()):
        return None
    engine = _read_only_engine(url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table(table):
                return None
            return read(conn)
    except Exception:  # `check` reports the store itself; what is read here is only a help
        return None
    finally:
        engine.dispose()


def _read_only_engine(url: str) -> Engine:
    """An engine that reads the store without creating or changing anything (a SQLite file that exists)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    # SQLite creates -wal and -shm even for a read-only connection when they are missing
    # (the daemon is not running): then read the file alone (immutable) so none is left behind.
    option = "mode=ro" if Path(f"{parsed.database}-wal").exists() else "immutable=1"
    return create_engine(f"sqlite:///file:{parsed.database}?{option}&uri=true")


def _schema_words(shown: str, schema: SchemaStatus) -> str:
    if schema.state is SchemaState.CURRENT:
        return f"ok ({shown})"
    if schema.upgrade_due:
        return (f"ok ({shown}); {schema.words()}: the service upgrades it at its start, "
                "or `lifecycle migrate` does now (other commands refuse it until then)")
    raise StateStoreError(f"state store {shown}: {schema.words()}")


def _require_creatable(path: Path) -> None:
    """The nearest existing directory above `path` is writable by this user (the service creates the rest)."""
    directory = path.parent
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    if not os.access(directory, os.W_OK | os.X_OK):
        cause, fix = sqlite_store_diagnosis(path, "SQLITE_CANTOPEN", PermissionError(errno.EACCES, "cannot create", str(directory)))
        raise StateStoreError(f"state store {path}: not created yet, and cannot be: {cause}; {fix}")


def _require_writable(path: Path) -> None:
    # SQLite writes -wal, -shm and the daemon's .lock next to the database: the directory too.
    for target in (path, path.parent):
        if not os.access(target, os.R_OK | os.W_OK | (os.X_OK if target.is_dir() else 0)):
            cause, fix = sqlite_store_diagnosis(path, "SQLITE_READONLY", PermissionError(errno.EACCES, "not writable", str(target)))
            raise StateStoreError(f"state store {path}: {cause}; {fix}")
