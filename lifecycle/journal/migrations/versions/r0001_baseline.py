"""The baseline: the schema of commit 8308661, the last made without migrations.

Frozen: a later schema change is a later revision.  A store made by that code is
stamped with this revision instead of running it (lifecycle.journal.migrations.baseline).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from lifecycle.journal import state_version

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    tables = [
        op.create_table(
            "persons",
            sa.Column("employee_id", sa.String(64), primary_key=True),
            sa.Column("uid", sa.String(128), nullable=False, unique=True),
            sa.Column("company", sa.String(32), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("created_at", sa.String(40)),
            sa.Column("suspended_at", sa.String(40)),
            sa.Column("suspension_rule", sa.String(16)),
            sa.Column("deleted_at", sa.String(40)),
            sa.Column("absent_since", sa.String(40)),
            sa.Column("warned_at", sa.String(40)),
            sa.Column("restored_at", sa.String(40)),
            sa.Column("match_confirmed", sa.Boolean, nullable=False),
            sa.Column("updated_at", sa.String(40), nullable=False),
        ),
        op.create_table(
            "action_log",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("run_id", sa.String(36), nullable=False),
            sa.Column("logged_at", sa.String(40), nullable=False),
            sa.Column("effective_at", sa.String(40), nullable=False),
            sa.Column("company", sa.String(32), nullable=False),
            sa.Column("employee_id", sa.String(64), nullable=False),
            sa.Column("kind", sa.String(32), nullable=False),
            sa.Column("target", sa.Text, nullable=False),
            sa.Column("changes", sa.Text, nullable=False),
            sa.Column("rule", sa.String(32), nullable=False),
            sa.Column("reason", sa.Text, nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("error", sa.Text, nullable=False),
            sa.Column("actor", sa.String(64), nullable=False),
            sa.Column("params", sa.Text, nullable=False),
            sa.Column("dedup_key", sa.String(64)),
        ),
        op.create_table(
            "approvals",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("kind", sa.String(32), nullable=False),
            sa.Column("employee_id", sa.String(64), nullable=False),
            sa.Column("target", sa.Text, nullable=False),
            sa.Column("company", sa.String(32), nullable=False),
            sa.Column("action", sa.Text, nullable=False),
            sa.Column("reason", sa.Text, nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("created_at", sa.String(40), nullable=False),
            sa.Column("decided_by", sa.String(64)),
            sa.Column("decided_at", sa.String(40)),
        ),
        op.create_table(
            "holds",
            sa.Column("employee_id", sa.String(64), primary_key=True),
            sa.Column("reason", sa.Text, nullable=False),
            sa.Column("actor", sa.String(64), nullable=False),
            sa.Column("created_at", sa.String(40), nullable=False),
        ),
        op.create_table(
            "feed_baseline",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("rows_per_company", sa.Text, nullable=False),
            sa.Column("columns", sa.Text, nullable=False),
            sa.Column("accepted_at", sa.String(40), nullable=False),
        ),
        op.create_table(
            "runs",
            sa.Column("run_id", sa.String(36), primary_key=True),
            sa.Column("started_at", sa.String(40), nullable=False),
            sa.Column("finished_at", sa.String(40)),
            sa.Column("effective_at", sa.String(40), nullable=False),
            sa.Column("mode", sa.String(16), nullable=False),
            sa.Column("outcome", sa.String(16)),
            sa.Column("summary", sa.Text),
        ),
    ]
    # The index names SQLAlchemy gave `index=True` columns: a store made by create_all has them.
    for table, column in (("action_log", "run_id"), ("action_log", "logged_at"), ("action_log", "company"),
                          ("action_log", "employee_id"), ("action_log", "status"), ("action_log", "dedup_key"),
                          ("approvals", "company"), ("approvals", "status")):
        op.create_index(f"ix_{table}_{column}", table, [column])
    state_version.install(op.get_bind(), {table.name: [column.name for column in table.columns] for table in tables})


def downgrade() -> None:
    raise NotImplementedError("the baseline is the first revision: there is nothing before it to go back to; restore a backup")
