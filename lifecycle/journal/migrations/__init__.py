"""The state store's schema history (Alembic revisions in versions/), and bringing a store up to date.

- `upgrade`: `lifecycle migrate` and the service at its start.  Under a schema lock
  (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock) and in ONE transaction on
  both: a failed upgrade leaves the store as it was, and two daemons starting at
  once upgrade it once.
- `require_current`: every other opening of the store (lifecycle.journal.store.Journal).
  An empty database is created through the revisions; a store that is behind is
  refused with the words to fix it (`lifecycle migrate`): a plan or an admin command
  must not change the schema under a service that still runs the older code.
- A store made before migrations (commit 8308661 and earlier: tables, no
  `alembic_version`) is recognised by its columns (`baseline`) and stamped as the
  baseline revision, never re-created; one whose tables differ is refused.
- A store at a revision this code does not know (written by a newer lifecycle) is refused.

Adding a revision: copy versions/r0001_baseline.py to the next number, set `revision`
and `down_revision` (the previous one), write upgrade() with `op` (on SQLite, table
changes go through `op.batch_alter_table`), change lifecycle.journal.schema to match,
and set HEAD.  tests/test_migrations.py fails until the revisions make what schema.py says.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from lifecycle.domain.errors import StateStoreError
from lifecycle.journal import state_version
from lifecycle.journal.migrations import baseline

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

# The newest revision in versions/: what lifecycle.journal.schema describes.  Known without
# loading Alembic, so that opening a current store costs one query.
HEAD = "0004"
# Taken by every schema change on PostgreSQL (a transaction-level advisory lock).
SCHEMA_LOCK = 724311


class SchemaState(StrEnum):
    EMPTY = "empty"  # none of our tables: an upgrade creates them
    UNVERSIONED = "unversioned"  # the baseline's tables, made before migrations: an upgrade stamps them
    UNRECOGNISED = "unrecognised"  # our table names, no revision, other columns: refused
    BEHIND = "behind"
    CURRENT = "current"
    AHEAD = "ahead"  # a revision this code does not know: written by a newer lifecycle


@dataclass(frozen=True)
class SchemaStatus:
    state: SchemaState
    revision: str | None  # recorded in the store
    steps: tuple[str, ...] = ()  # what an upgrade does, in order
    problem: str = ""

    @property
    def upgrade_due(self) -> bool:
        return self.state in (SchemaState.EMPTY, SchemaState.UNVERSIONED, SchemaState.BEHIND)

    def words(self) -> str:
        match self.state:
            case SchemaState.CURRENT:
                return f"schema at revision {self.revision} (current)"
            case SchemaState.EMPTY:
                return "no tables yet"
            case SchemaState.UNVERSIONED:
                needs = f"; this lifecycle needs {HEAD}" if HEAD != baseline.REVISION else ""
                return f"schema made before migrations (not yet recorded as revision {baseline.REVISION}){needs}"
            case SchemaState.BEHIND:
                return f"schema at revision {self.revision}; this lifecycle needs {HEAD}"
            case SchemaState.AHEAD:
                return (f"schema at revision {self.revision}, which this lifecycle does not know (it knows up to {HEAD}): "
                        "it was written by a newer lifecycle")
            case SchemaState.UNRECOGNISED:
                return f"tables that lifecycle did not make ({self.problem})"


def in_schema_py(name: str | None, type_: str, _parents: object) -> bool:
    """Alembic's `include_name` for comparing a store with lifecycle.journal.schema.

    The state_version counter is made by lifecycle.journal.state_version in plain SQL
    (with its triggers), not described in schema.py.
    """
    return not (type_ == "table" and name == "state_version")


def status(conn: Connection) -> SchemaStatus:
    """Where the store's schema stands (reads only: `lifecycle check` runs it on a read-only connection)."""
    inspector = inspect(conn)
    tables = set(inspector.get_table_names())
    if "alembic_version" in tables:
        revision = _recorded_revision(conn)
        if revision == HEAD:
            return SchemaStatus(SchemaState.CURRENT, revision)
        scripts = _scripts()
        if revision is None:
            return SchemaStatus(SchemaState.UNRECOGNISED, None, problem="alembic_version is empty")
        if revision not in {script.revision for script in scripts.walk_revisions()}:
            return SchemaStatus(SchemaState.AHEAD, revision)
        return SchemaStatus(SchemaState.BEHIND, revision, _pending(scripts, revision))
    if not tables & set(baseline.COLUMNS):
        return SchemaStatus(SchemaState.EMPTY, None, _pending(_scripts(), None))
    if found := baseline.differences(inspector):
        return SchemaStatus(SchemaState.UNRECOGNISED, None, problem="; ".join(found))
    stamp = f"record the existing tables as revision {baseline.REVISION} (they are kept as they are)"
    return SchemaStatus(SchemaState.UNVERSIONED, None, (stamp, *_pending(_scripts(), baseline.REVISION)))


def upgrade(engine: Engine, *, dry_run: bool = False) -> SchemaStatus:
    """Bring the store to HEAD; returns where it stood before (its `steps` are what was done).

    With `dry_run` nothing is locked or changed.  Raises StateStoreError for a store
    this code must not touch (newer, or tables it did not make).
    """
    with engine.connect() as conn:
        if dry_run:
            found = status(conn)
            _refuse_unknown(found, engine)
            return found
        _lock_schema(conn)
        found = status(conn)  # again under the lock: another process may have upgraded it meanwhile
        _refuse_unknown(found, engine)
        if not found.upgrade_due:
            conn.rollback()
            return found
        from alembic import command

        config = _config(conn)
        if found.state is SchemaState.UNVERSIONED:
            state_version.install(conn, baseline.COLUMNS)  # a store older than the counter lacks it
            command.stamp(config, baseline.REVISION)
        command.upgrade(config, "head")
        conn.commit()
    return found


def require_current(engine: Engine) -> None:
    """Refuse a store that is not at HEAD; create an empty one (through the revisions)."""
    with engine.connect() as conn:
        if _has_version_table(conn) and _recorded_revision(conn) == HEAD:
            return
        found = status(conn)
    if found.state is SchemaState.EMPTY:
        upgrade(engine)
        return
    _refuse_unknown(found, engine)
    raise StateStoreError(
        f"state store {_shown(engine)}: {found.words()}; run `lifecycle migrate` (back the store up first), "
        "or restart the service: it upgrades the store at its start"
    )


def _refuse_unknown(found: SchemaStatus, engine: Engine) -> None:
    if found.state is SchemaState.AHEAD:
        raise StateStoreError(f"state store {_shown(engine)}: {found.words()}; run that version of lifecycle "
                              "(or restore the store's backup from before its upgrade)")
    if found.state is SchemaState.UNRECOGNISED:
        raise StateStoreError(f"state store {_shown(engine)}: {found.words()}; point [state] url at lifecycle's own "
                              "database, or restore the store from a backup")


def _lock_schema(conn: Connection) -> None:
    """Begin the upgrade's transaction, holding the database's schema lock until it ends."""
    if conn.dialect.name == "sqlite":
        # pysqlite opens a transaction only before DML: DDL would autocommit statement by statement.
        # An explicit BEGIN IMMEDIATE makes the whole upgrade one transaction, and takes the write lock.
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})


def _has_version_table(conn: Connection) -> bool:
    return inspect(conn).has_table("alembic_version")


def _recorded_revision(conn: Connection) -> str | None:
    revisions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return revisions[0] if len(revisions) == 1 else None


def _pending(scripts: ScriptDirectory, since: str | None) -> tuple[str, ...]:
    """The revisions after `since` (None: all), oldest first, as 'revision: what it does'."""
    newest_first = scripts.iterate_revisions("heads", since or "base")
    return tuple(f"apply revision {script.revision}: {(script.doc or '').strip()}" for script in reversed(list(newest_first)))


@functools.cache
def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config(None))


def _config(conn: Connection | None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["connection"] = conn
    return config


def _shown(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)
