"""The schema a store had before migrations: what `create_all` made up to commit 8308661.

Frozen.  Such a store has these tables and no `alembic_version`; it is recognised by
their columns and stamped as revision 0001 (which creates exactly them), never re-created.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy.engine import Inspector

REVISION = "0001"

COLUMNS: Mapping[str, Sequence[str]] = {
    "persons": ("employee_id", "uid", "company", "status", "created_at", "suspended_at", "suspension_rule", "deleted_at",
                "absent_since", "warned_at", "restored_at", "match_confirmed", "updated_at"),
    "action_log": ("id", "run_id", "logged_at", "effective_at", "company", "employee_id", "kind", "target", "changes", "rule",
                   "reason", "status", "error", "actor", "params", "dedup_key"),
    "approvals": ("id", "kind", "employee_id", "target", "company", "action", "reason", "status", "created_at", "decided_by",
                  "decided_at"),
    "holds": ("employee_id", "reason", "actor", "created_at"),
    "feed_baseline": ("id", "rows_per_company", "columns", "accepted_at"),
    "runs": ("run_id", "started_at", "finished_at", "effective_at", "mode", "outcome", "summary"),
}
# Installed by every start of the old code; a store older still may lack it: adoption installs it.
STATE_VERSION_COLUMNS = ("id", "version")


def differences(inspector: Inspector) -> list[str]:
    """How the store's tables differ from the baseline's (empty: it is a baseline store)."""
    present = set(inspector.get_table_names())
    found: list[str] = []
    for table, expected in {**COLUMNS, "state_version": STATE_VERSION_COLUMNS}.items():
        if table not in present:
            if table != "state_version":
                found.append(f"table {table} is missing")
            continue
        columns = {column["name"] for column in inspector.get_columns(table)}
        if missing := [c for c in expected if c not in columns]:
            found.append(f"{table} lacks {', '.join(missing)}")
        if extra := sorted(columns - set(expected)):
            found.append(f"{table} has unknown columns {', '.join(extra)}")
    return found
