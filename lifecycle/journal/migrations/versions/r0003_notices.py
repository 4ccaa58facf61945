"""Notices and console-revealed initial passwords.

- `outbox`: mail to people, written with the action that causes it and sent after it is applied;
- `sealed_passwords`: initial passwords sealed for a single reveal in the console;
- `persons.reset_due_at`: a rehire's fresh initial password is due until a reset gives it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from lifecycle.journal import state_version

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
    op.add_column("persons", sa.Column("reset_due_at", sa.String(40)))  # nullable: no table rebuild anywhere
    # The counter must move when only this column changes (a reset clearing it): persons' trigger compares it too.
    _compare_persons_columns()


def _compare_persons_columns(*, leaving_out: str = "") -> None:
    """persons' state_version trigger made anew for the columns it has now (but `leaving_out`)."""
    found = sa.inspect(op.get_bind())
    columns = {name: [c["name"] for c in found.get_columns(name) if (name, c["name"]) != ("persons", leaving_out)]
               for name in state_version.STATE_TABLES if found.has_table(name)}  # (those of later revisions: not yet)
    state_version.reinstall(op.get_bind(), "persons", columns)


def downgrade() -> None:
    _compare_persons_columns(leaving_out="reset_due_at")  # SQLite drops no column a trigger names
    op.drop_column("persons", "reset_due_at")
    op.drop_table("sealed_passwords")
    op.drop_table("outbox")
