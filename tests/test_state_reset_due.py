"""persons.reset_due_at (revision 0003): a rehire's fresh password is due, in the stored state.

Written with the restore's outcome, cleared with the reset's, read back by load_state and by one
person's look-up; clearing it alone moves the state_version counter (a quiet cycle must see it).
On SQLite and the machine's PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from lifecycle.journal.state import upsert_people, upsert_person
from lifecycle.journal.store import Journal
from tests.test_leader import pg_url  # noqa: F401 - fixture

NOW = datetime.fromisoformat("2027-01-10T08:00:00+08:00")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.servers)])
def journal(request: pytest.FixtureRequest, tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'state.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    journal = Journal(url)
    yield journal
    journal.close()


def test_the_due_reset_is_stored_read_back_and_cleared_and_each_change_counts(journal: Journal) -> None:
    with journal.engine.begin() as conn:
        upsert_person(conn, "1", {"uid": "lina", "company": "HQ", "status": "active"}, NOW)
    assert journal.person("1").reset_due_at is None

    version = journal.state_version()
    with journal.engine.begin() as conn:  # the restore's state, as the executor writes it (a batch)
        upsert_people(conn, [("1", {"status": "active", "restored_at": NOW.isoformat(), "reset_due_at": NOW.isoformat()})],
                      NOW)
    assert journal.state_version() > version
    (stored,) = journal.load_state().persons
    assert stored.reset_due_at == NOW and journal.person("1").reset_due_at == NOW

    version = journal.state_version()
    with journal.engine.begin() as conn:  # the reset's state: only this column changes
        upsert_person(conn, "1", {"reset_due_at": None}, NOW)
    assert journal.state_version() > version
    assert journal.load_state().persons[0].reset_due_at is None and journal.person("1").reset_due_at is None
