"""Notices and console-revealed initial passwords.

- `outbox`: mail to people, written with the action that causes it and sent after it is applied;
- `sealed_passwords`: initial passwords sealed for a single reveal in the console.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(190), nullable=False),
        sa.Column("action_id", sa.Integer),
        sa.Column("company", sa.String(32), nullable=False),
        sa.Column("employee_id", sa.String(64), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("notice", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.String(40)),
        sa.Column("attempted_at", sa.String(40)),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("sent_at", sa.String(40)),
        sa.UniqueConstraint("message_id"),
    )
    op.create_index("ix_outbox_action_id", "outbox", ["action_id"])
    op.create_index("ix_outbox_company", "outbox", ["company"])
    op.create_index("ix_outbox_status", "outbox", ["status"])
    op.create_table(
        "sealed_passwords",
        sa.Column("employee_id", sa.String(64), primary_key=True),
        sa.Column("company", sa.String(32), nullable=False),
        sa.Column("uid", sa.String(128), nullable=False),
        sa.Column("mail", sa.String(255), nullable=False),
        sa.Column("sealed", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_sealed_passwords_company", "sealed_passwords", ["company"])


def downgrade() -> None:
    op.drop_table("sealed_passwords")
    op.drop_table("outbox")
