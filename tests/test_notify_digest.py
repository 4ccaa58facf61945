"""The daily digest's queueing (lifecycle.engine.notifying): due at digest_at company time, once a day, and a
quiet cycle is made a planned one only while a due digest has not been considered."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from lifecycle.domain.models import Plan, RejectedRow
from lifecycle.engine.notifying import DigestBook, digest_pending, next_digest, queue_digests
from lifecycle.journal.store import Journal
from tests.harness import make_settings

BEFORE = datetime.fromisoformat("2026-12-01T08:29:00+08:00")
AFTER = datetime.fromisoformat("2026-12-01T08:31:00+08:00")


def settings_for(tmp_path: Path):
    settings = make_settings(tmp_path, notify={"smtp_url": "smtp://127.0.0.1:2525", "sender": "IT <it@example.com>",
                                               "digest_at": "08:30"})
    companies = [c.model_copy(update={"notify_to": ("it-sz@sz.example.com",)}) if c.code == "SZ" else c
                 for c in settings.companies]
    return settings.model_copy(update={"companies": tuple(companies)})


def test_a_due_digest_is_queued_once_and_an_empty_one_keeps_the_day_quiet(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    journal = Journal(settings.state.url)
    try:
        book = DigestBook()
        rejected = (RejectedRow(3, "hire_date", "not a date", "write YYYY-MM-DD", "E9", "SZ"),)
        assert digest_pending(settings, journal, BEFORE, book) == []
        assert digest_pending(settings, journal, AFTER, book) == ["SZ"]  # HQ has no contact
        assert queue_digests(settings, journal, Plan(BEFORE, (), rejected), book) == 0  # not yet 08:30
        assert queue_digests(settings, journal, Plan(AFTER, (), rejected), book) == 1
        assert queue_digests(settings, journal, Plan(AFTER + timedelta(hours=1), (), rejected), DigestBook()) == 0
        (row,) = journal.outbox_rows(statuses=None)
        assert row.event == "digest" and row.company == "SZ" and row.envelope == ("it-sz@sz.example.com",)
        assert row.message_id == "<lifecycle.digest.digest.SZ.2026-12-01@example.com>"
        assert digest_pending(settings, journal, AFTER, DigestBook()) == []  # a restart does not plan for it again

        # The next day with nothing to report: considered once, nothing queued, the day stays quiet.
        next_day = AFTER + timedelta(days=1)
        assert digest_pending(settings, journal, next_day, book) == ["SZ"]
        assert queue_digests(settings, journal, Plan(next_day, ()), book) == 0
        assert digest_pending(settings, journal, next_day, book) == []
        assert len(journal.outbox_rows(statuses=None)) == 1
    finally:
        journal.close()


def test_the_daemon_wakes_at_the_next_digest_time(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    assert next_digest(settings, BEFORE) == datetime.fromisoformat("2026-12-01T08:30:00+08:00")
    assert next_digest(settings, AFTER) == datetime.fromisoformat("2026-12-02T08:30:00+08:00")
    assert next_digest(settings.model_copy(update={"notify": None}), AFTER) is None
