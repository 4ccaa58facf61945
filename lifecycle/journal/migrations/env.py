"""Alembic's entry point for the state store's revisions.

Run only through lifecycle.journal.migrations, which hands over a connection in a
transaction it holds under the schema lock: no alembic.ini, no URL here.
"""

from __future__ import annotations

from alembic import context

from lifecycle.journal.migrations import in_schema_py
from lifecycle.journal.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError("the state store is migrated by `lifecycle migrate` or the service's start, not by the alembic command")
# render_as_batch: SQLite alters a table by copying it; revisions use op.batch_alter_table.
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True,
                  include_name=in_schema_py)
with context.begin_transaction():
    context.run_migrations()
