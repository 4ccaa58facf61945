"""Admin interventions: forwards a superior required, suspensions, new accounts confirmed for joiners.

- `interventions`: one row per kind and person (lifecycle.domain.interventions); part of the stored
  state, so its changes move the state_version counter (a quiet daemon notices a new forward).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from lifecycle.journal import state_version

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "interventions",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("employee_id", sa.String(64), primary_key=True),
        sa.Column("company", sa.String(32), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_interventions_company", "interventions", ["company"])
    found = sa.inspect(op.get_bind())
    state_version.install(op.get_bind(), {"interventions": [c["name"] for c in found.get_columns("interventions")]})


def downgrade() -> None:
    bind = op.get_bind()
    for trigger in ("rows", "update", "truncate", "insert", "delete"):
        if bind.dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS state_version_interventions_{trigger} ON interventions")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS state_version_interventions_{trigger}")
    op.drop_table("interventions")
