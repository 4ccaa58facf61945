"""The stored state's version counter (lifecycle.journal.state_version) on SQLite and the machine's PostgreSQL.

Quiet cycles trust it instead of loading the state: every change of what
load_state reads must bump it, whoever makes it (the journal's own methods,
an admin command, plain SQL), and writes that load_state does not read
(the action log) must not wake a cycle.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from lifecycle.domain.models import FeedBaseline
from lifecycle.journal.store import Journal
from tests.test_leader import pg_url  # noqa: F401 - fixture

NOW = datetime.fromisoformat("2026-12-01T09:00:00+08:00")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.servers)])
def journal(request: pytest.FixtureRequest, tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'state.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    journal = Journal(url)
    Journal(url).close()  # a second start (another daemon, a restart) installs nothing twice
    yield journal
    journal.close()


def changes(journal: Journal, step) -> tuple[bool, bool]:
    """(did the version move, did load_state change) across `step`."""
    version, state = journal.state_version(), journal.load_state()
    step()
    return journal.state_version() != version, journal.load_state() != state


def test_every_change_of_the_stored_state_bumps_the_version(journal: Journal) -> None:
    steps = [
        lambda: journal.confirm_match("E1", "zhangwei", "HQ", "admin", NOW),
        lambda: journal.set_hold("E1", "litigation", "admin", NOW, on=True),
        lambda: journal.set_hold("E1", "", "admin", NOW, on=False),
        lambda: journal.save_feed_baseline(FeedBaseline({"HQ": 10}, ("employee_id",)), NOW),
        lambda: journal.save_feed_baseline(FeedBaseline({"HQ": 11}, ("employee_id",)), NOW),
    ]
    for step in steps:
        assert changes(journal, step) == (True, True)

    def hand_made_fix() -> None:  # plain SQL, as an admin might repair a row: counted too
        with journal.engine.begin() as conn:
            conn.execute(text("UPDATE persons SET company = 'SZ'"))

    assert changes(journal, hand_made_fix) == (True, True)


def test_a_write_that_changes_nothing_does_not_count(journal: Journal) -> None:
    baseline = FeedBaseline({"HQ": 10}, ("employee_id",))
    journal.save_feed_baseline(baseline, NOW)
    later = NOW.replace(hour=10)  # each cycle re-saves the baseline it accepted: only the stamp moves
    assert changes(journal, lambda: journal.save_feed_baseline(baseline, later)) == (False, False)


def test_the_action_log_alone_does_not_wake_a_cycle(journal: Journal) -> None:
    journal.confirm_match("E1", "zhangwei", "HQ", "admin", NOW)
    run_id = journal.begin_run("normal", NOW)
    assert changes(journal, lambda: journal.record_rejections(run_id, [], NOW, "daemon")) == (False, False)
    assert changes(journal, lambda: journal.finish_run(run_id, "ok", {})) == (False, False)
