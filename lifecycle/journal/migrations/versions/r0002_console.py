"""The console: what the daemon publishes for it, its sessions, and where a decision came from.

- `published`: per company, what the last decided cycle planned, rejected and found;
- `person_outlook`: what happens next to the people something is about to happen to;
- `web_sessions`: the console's server-side sessions;
- `action_log.origin`: where an admin decision was made ("console 203.0.113.7"; "" for the CLI and the daemon).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "published",
        sa.Column("company", sa.String(32), primary_key=True),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("effective_at", sa.String(40), nullable=False),
        sa.Column("published_at", sa.String(40), nullable=False),
        sa.Column("actions", sa.Text, nullable=False),
        sa.Column("rejected", sa.Text, nullable=False),
        sa.Column("reviews", sa.Text, nullable=False),
        sa.Column("accounts", sa.Integer, nullable=False),
        sa.Column("totals", sa.Text, nullable=False),
    )
    op.create_table(
        "person_outlook",
        sa.Column("employee_id", sa.String(64), primary_key=True),
        sa.Column("company", sa.String(32), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("standing", sa.Text, nullable=False),
        sa.Column("events", sa.Text, nullable=False),
        sa.Column("published_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_person_outlook_company", "person_outlook", ["company"])
    op.create_table(
        "web_sessions",
        sa.Column("sid", sa.String(64), primary_key=True),
        sa.Column("uid", sa.String(128), nullable=False),
        sa.Column("dn", sa.Text, nullable=False),
        sa.Column("display_name", sa.Text, nullable=False),
        sa.Column("groups", sa.Text, nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("last_seen", sa.String(40), nullable=False),
    )
    op.create_index("ix_web_sessions_last_seen", "web_sessions", ["last_seen"])
    # ADD COLUMN with a default: no table rebuild on SQLite, PostgreSQL or MariaDB.
    op.add_column("action_log", sa.Column("origin", sa.String(80), nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("action_log", "origin")
    op.drop_table("web_sessions")
    op.drop_table("person_outlook")
    op.drop_table("published")
