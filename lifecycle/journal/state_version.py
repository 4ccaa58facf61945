"""A counter the database bumps on every change of the stored state.

The quiet-cycle check must know whether the stored state (persons, approvals,
holds, the accepted feed baseline) changed since the last cycle.  Loading and
comparing it at 100k people, every few minutes, all day, costs far more than
this one row (bench/README.md).  It is kept by triggers, not by the code that writes:
an admin command, a future code path or a hand-made SQL fix cannot forget it.

The triggers are row-level: a cycle that writes 100k rows (an initial load)
pays one extra UPDATE per row; a quiet day pays nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

STATE_TABLES = ("persons", "approvals", "holds", "feed_baseline", "interventions")
# Bookkeeping stamps that every cycle may rewrite without changing the state load_state returns.
BOOKKEEPING = {("persons", "updated_at"), ("feed_baseline", "accepted_at")}
_BUMP = "UPDATE state_version SET version = version + 1 WHERE id = 1"


def install(conn: Connection, columns: Mapping[str, Sequence[str]]) -> None:
    """Create the counter row and the triggers, in the caller's transaction (idempotent).

    Called by the migrations (lifecycle.journal.migrations), which hold the schema lock,
    with the column names of STATE_TABLES as of their revision.  A revision that adds a
    column to one of them reinstalls the triggers with the new columns.

    An UPDATE that leaves a row as it was apart from its bookkeeping stamp (a
    cycle re-saving the same feed baseline) must not count: the triggers
    compare the old and new values of the other columns.
    """
    conn.execute(text("CREATE TABLE IF NOT EXISTS state_version (id INTEGER PRIMARY KEY, version BIGINT NOT NULL)"))
    if conn.dialect.name == "postgresql":
        conn.execute(text("INSERT INTO state_version (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING"))
        _install_postgresql(conn, columns)
    else:
        conn.execute(text("INSERT OR IGNORE INTO state_version (id, version) VALUES (1, 0)"))
        _install_sqlite(conn, columns)


def reinstall(conn: Connection, table: str, columns: Mapping[str, Sequence[str]]) -> None:
    """`install` again after a revision added columns to `table`: its UPDATE trigger is made anew to compare them."""
    if table not in STATE_TABLES:
        raise ValueError(f"{table} is not one of the stored state's tables {STATE_TABLES}")
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"DROP TRIGGER IF EXISTS state_version_{table}_update ON {table}"))
    else:
        conn.execute(text(f"DROP TRIGGER IF EXISTS state_version_{table}_update"))
    install(conn, columns)


def _install_sqlite(conn: Connection, columns: Mapping[str, Sequence[str]]) -> None:
    for name in (table for table in STATE_TABLES if table in columns):  # the tables the revision has
        changed = " OR ".join(f'OLD."{column}" IS NOT NEW."{column}"' for column in _compared(columns, name))
        for operation, when in (("INSERT", ""), ("DELETE", ""), ("UPDATE", f" WHEN {changed}")):
            conn.execute(text(
                f"CREATE TRIGGER IF NOT EXISTS state_version_{name}_{operation.lower()} "
                f"AFTER {operation} ON {name} FOR EACH ROW{when} BEGIN {_BUMP}; END"
            ))


def _compared(columns: Mapping[str, Sequence[str]], name: str) -> list[str]:
    return [column for column in columns[name] if (name, column) not in BOOKKEEPING]


def _install_postgresql(conn: Connection, columns: Mapping[str, Sequence[str]]) -> None:
    # Row-level, and in the same transaction as the change: the new version becomes
    # visible exactly when the change does (a sequence would show it before the commit).
    conn.execute(text(
        "CREATE OR REPLACE FUNCTION lifecycle_bump_state_version() RETURNS trigger AS $$ "
        f"BEGIN {_BUMP}; RETURN NULL; END $$ LANGUAGE plpgsql"
    ))
    existing = {row[0] for row in conn.execute(text("SELECT tgname FROM pg_trigger WHERE tgname LIKE 'state\\_version\\_%'"))}
    for name in (table for table in STATE_TABLES if table in columns):  # the tables the revision has
        compared = _compared(columns, name)
        old = ", ".join(f'OLD."{c}"' for c in compared)
        new = ", ".join(f'NEW."{c}"' for c in compared)
        wanted = {
            f"state_version_{name}_rows": f"AFTER INSERT OR DELETE ON {name} FOR EACH ROW",
            f"state_version_{name}_update": f"AFTER UPDATE ON {name} FOR EACH ROW WHEN (ROW({old}) IS DISTINCT FROM ROW({new}))",
            f"state_version_{name}_truncate": f"AFTER TRUNCATE ON {name} FOR EACH STATEMENT",
        }
        for trigger, when in wanted.items():
            if trigger not in existing:
                conn.execute(text(f"CREATE TRIGGER {trigger} {when} EXECUTE FUNCTION lifecycle_bump_state_version()"))


def read(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT version FROM state_version WHERE id = 1")).scalar_one())
