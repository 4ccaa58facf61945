"""The state store's tables, as the code reads and writes them today.

The database gets them from the migrations (lifecycle.journal.migrations), never
from `metadata.create_all`: a change here needs a new revision there, and
tests/test_migrations.py fails until the two agree.

Times are stored as UTC ISO text (`utc_text`), which sorts as it reads.  The state_version
counter and its triggers are lifecycle.journal.state_version's (plain SQL, per dialect).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, Text

metadata = MetaData()

# How long a SQLite connection waits for another's write lock before it gives up (lifecycle.journal.store).
SQLITE_BUSY_TIMEOUT_MS = 10_000

persons = Table(
    "persons",
    metadata,
    Column("employee_id", String(64), primary_key=True),
    Column("uid", String(128), nullable=False, unique=True),  # reserved forever: never reused by another
    Column("company", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", String(40)),
    Column("suspended_at", String(40)),
    Column("suspension_rule", String(16)),
    Column("deleted_at", String(40)),
    Column("absent_since", String(40)),
    Column("warned_at", String(40)),
    Column("restored_at", String(40)),
    Column("match_confirmed", Boolean, nullable=False, default=False),
    Column("updated_at", String(40), nullable=False),
    Column("reset_due_at", String(40)),  # a rehire's fresh initial password is due (revision 0003)
)

action_log = Table(
    "action_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(36), nullable=False, index=True),
    Column("logged_at", String(40), nullable=False, index=True),  # wall clock
    Column("effective_at", String(40), nullable=False),  # the plan's `now`
    Column("company", String(32), nullable=False, index=True),
    Column("employee_id", String(64), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("target", Text, nullable=False),
    Column("changes", Text, nullable=False),  # JSON {field: [before, after]}
    Column("rule", String(32), nullable=False),
    Column("reason", Text, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("error", Text, nullable=False, default=""),
    Column("actor", String(64), nullable=False),
    Column("params", Text, nullable=False, default="{}"),  # what the executor needs to re-check
    Column("dedup_key", String(64), index=True),
    Column("origin", String(80), nullable=False, default="", server_default=""),  # "console 203.0.113.7" (revision 0002)
)

approvals = Table(
    "approvals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("employee_id", String(64), nullable=False),
    Column("target", Text, nullable=False),
    Column("company", String(32), nullable=False, index=True),
    Column("action", Text, nullable=False),  # the held action as JSON, for review
    Column("reason", Text, nullable=False),
    Column("status", String(16), nullable=False, index=True),  # held | frozen | approved | rejected | applied | obsolete
    Column("created_at", String(40), nullable=False),
    Column("decided_by", String(64)),
    Column("decided_at", String(40)),
)

holds = Table(
    "holds",
    metadata,
    Column("employee_id", String(64), primary_key=True),
    Column("reason", Text, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
)

feed_baseline = Table(
    "feed_baseline",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("rows_per_company", Text, nullable=False),
    Column("columns", Text, nullable=False),
    Column("accepted_at", String(40), nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(36), primary_key=True),
    Column("started_at", String(40), nullable=False),
    Column("finished_at", String(40)),
    Column("effective_at", String(40), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("outcome", String(16)),
    Column("summary", Text),
)

# -- what the console reads (revision 0002) -----------------------------------------------------

# What the last decided cycle found, per company ("" for HR rows no company could be read from):
# the console shows it; the web process cannot read HR or the directory itself.
published = Table(
    "published",
    metadata,
    Column("company", String(32), primary_key=True),
    Column("run_id", String(36), nullable=False),
    Column("effective_at", String(40), nullable=False),
    Column("published_at", String(40), nullable=False),
    Column("actions", Text, nullable=False),  # JSON list of the planned actions
    Column("rejected", Text, nullable=False),  # JSON list of the rejected HR rows
    Column("reviews", Text, nullable=False),  # JSON list of the findings for an admin
    Column("accounts", Integer, nullable=False),
    Column("totals", Text, nullable=False),  # JSON {"actions": n, "rejected": n, "reviews": n}: the lists keep the first few
)

# What happens next to each person something is about to happen to (policies.outlook).
person_outlook = Table(
    "person_outlook",
    metadata,
    Column("employee_id", String(64), primary_key=True),
    Column("company", String(32), nullable=False, index=True),
    Column("name", Text, nullable=False),
    Column("standing", Text, nullable=False),
    Column("events", Text, nullable=False),  # JSON [[ISO date or date-time, what], ...]
    Column("published_at", String(40), nullable=False),
)

# The console's sessions: the cookie carries only a signed random id, so a logout or an idle
# timeout ends a session for good.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("sid", String(64), primary_key=True),  # sha256 of the id the cookie carries
    Column("uid", String(128), nullable=False),
    Column("dn", Text, nullable=False),
    Column("display_name", Text, nullable=False),
    Column("groups", Text, nullable=False),  # JSON list: the role groups that listed the person at login
    Column("address", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("last_seen", String(40), nullable=False, index=True),
)

# -- notices and initial passwords (revision 0003) ---------------------------------------------

# Mail to people (lifecycle.journal.outbox): written with the write-ahead row of the action that causes
# it (`held`), released by that action's outcome (`queued`, or `dropped` when it failed), then sent.
# `sending` is written before the SMTP conversation: a row left so by a crash is re-checked, not resent.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(190), nullable=False, unique=True),  # derived from the cause: never sent twice
    Column("action_id", Integer, index=True),  # the action_log row whose success releases it; NULL: none
    Column("company", String(32), nullable=False, index=True),
    Column("employee_id", String(64), nullable=False, default=""),
    Column("event", String(32), nullable=False),
    Column("notice", Text, nullable=False),  # lifecycle.domain.notices.Notice as JSON: never a secret
    Column("status", String(16), nullable=False, index=True),  # held|queued|sending|sent|failed|dropped|unconfirmed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", String(40)),
    Column("attempted_at", String(40)),
    Column("last_error", Text, nullable=False, default=""),
    Column("created_at", String(40), nullable=False),
    Column("sent_at", String(40)),
)

# Initial passwords waiting to be revealed once in the console ([accounts] initial_password_delivery =
# "console"): sealed with the key both processes load; the row is deleted when it is revealed.
sealed_passwords = Table(
    "sealed_passwords",
    metadata,
    Column("employee_id", String(64), primary_key=True),
    Column("company", String(32), nullable=False, index=True),
    Column("uid", String(128), nullable=False),
    Column("mail", String(255), nullable=False),
    Column("sealed", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
)


# -- admin interventions (revision 0004) ---------------------------------------------------------

# What an admin decided about a person outside HR (lifecycle.domain.interventions): a forward a superior
# required, a suspension, a new account confirmed for a joiner with possible existing entries.  One row per
# kind and person; written and removed with an action-log entry (lifecycle.journal.interventions).
interventions = Table(
    "interventions",
    metadata,
    Column("kind", String(16), primary_key=True),  # forward | suspend | new_account | unlinked
    Column("employee_id", String(64), primary_key=True),
    Column("company", String(32), nullable=False, index=True),
    Column("details", Text, nullable=False, default="{}"),  # JSON: a forward's target, copy and dates
    Column("reason", Text, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
)


def utc_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="seconds")


def parse_utc_text(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
