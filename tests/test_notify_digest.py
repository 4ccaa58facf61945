"""The daily digest's queueing (lifecycle.engine.notifying): due at digest_at company time, once a day, and a
quiet cycle is made a planned one only while a due digest has not been considered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from lifecycle.domain.models import Plan, RejectedRow
from lifecycle.engine.notifying import DigestBook, Postman, digest_key, digest_pending, next_digest, queue_digests
from lifecycle.journal.outbox import keyed_message_id
from lifecycle.journal.store import Journal
from policies.notices import digest_notice
from tests.harness import make_settings

BEFORE = datetime.fromisoformat("2026-12-01T08:29:00+08:00")
AFTER = datetime.fromisoformat("2026-12-01T08:31:00+08:00")


REJECTED = (RejectedRow(3, "hire_date", "not a date", "write YYYY-MM-DD", "E9", "SZ"),)


def settings_for(tmp_path: Path, digest_at: str = "08:30"):
    settings = make_settings(tmp_path, notify={"smtp_url": "smtp://127.0.0.1:2525", "sender": "IT <it@example.com>",
                                               "digest_at": digest_at})
    companies = [c.model_copy(update={"notify_to": ("it-sz@sz.example.com",)}) if c.code == "SZ" else c
                 for c in settings.companies]
    return settings.model_copy(update={"companies": tuple(companies)})


def test_a_due_digest_is_queued_once_and_an_empty_one_keeps_the_day_quiet(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    journal = Journal(settings.state.url)
    try:
        book = DigestBook()
        rejected = (RejectedRow(3, "hire_date", "not a date", "write YYYY-MM-DD", "E9", "SZ"),)
        assert digest_pending(settings, journal, BEFORE, book, wall=BEFORE) == []
        assert digest_pending(settings, journal, AFTER, book, wall=AFTER) == ["SZ"]  # HQ has no contact
        assert queue_digests(settings, journal, Plan(BEFORE, (), rejected), book, wall=BEFORE) == 0  # not yet 08:30
        assert queue_digests(settings, journal, Plan(AFTER, (), rejected), book, wall=AFTER) == 1
        later = AFTER + timedelta(hours=1)
        assert queue_digests(settings, journal, Plan(later, (), rejected), DigestBook(), wall=later) == 0
        (row,) = journal.outbox_rows(statuses=None)
        assert row.event == "digest" and row.company == "SZ" and row.envelope == ("it-sz@sz.example.com",)
        assert row.message_id == "<lifecycle.digest.digest.SZ.2026-12-01@example.com>"
        # A restart does not plan for it again.
        assert digest_pending(settings, journal, AFTER, DigestBook(), wall=AFTER) == []

        # The next day with nothing to report: considered once, nothing queued, the day stays quiet.
        next_day = AFTER + timedelta(days=1)
        assert digest_pending(settings, journal, next_day, book, wall=next_day) == ["SZ"]
        assert queue_digests(settings, journal, Plan(next_day, ()), book, wall=next_day) == 0
        assert digest_pending(settings, journal, next_day, book, wall=next_day) == []
        assert len(journal.outbox_rows(statuses=None)) == 1
    finally:
        journal.close()


def test_the_daemon_wakes_at_the_next_digest_time(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    assert next_digest(settings, BEFORE) == datetime.fromisoformat("2026-12-01T08:30:00+08:00")
    assert next_digest(settings, AFTER) == datetime.fromisoformat("2026-12-02T08:30:00+08:00")
    assert next_digest(settings.model_copy(update={"notify": None}), AFTER) is None


def test_a_plan_for_another_day_queues_no_digest_and_hides_none(tmp_path: Path) -> None:
    """`lifecycle apply --now` of a later date: no digest for that day, and today's still goes out."""
    settings = settings_for(tmp_path, digest_at="00:00")  # due whenever the test runs (the wall clock's day)
    journal = Journal(settings.state.url)
    try:
        now = datetime.now(UTC)
        later = now + timedelta(days=19)
        assert queue_digests(settings, journal, Plan(later, (), REJECTED), DigestBook()) == 0
        assert digest_pending(settings, journal, later, DigestBook()) == []  # a preview's time is not the present
        assert journal.outbox_rows(statuses=None) == []
        # A row of a later day (written by an older version, or by hand) says nothing about today's digest.
        sz = settings.company("SZ")
        future_day = later.astimezone(settings.company_zone("SZ")).date()
        future = digest_notice(sz, future_day, [], REJECTED, (), settings)
        assert future is not None and future.key == digest_key("SZ", future_day)
        assert journal.enqueue_notice(future, keyed_message_id("digest", future.key, "example.com"), now)
        assert digest_pending(settings, journal, now, DigestBook()) == ["SZ"]
        assert queue_digests(settings, journal, Plan(now, (), REJECTED), DigestBook()) == 1
        assert digest_pending(settings, journal, now, DigestBook()) == []  # today's row is there now
        today = now.astimezone(settings.company_zone("SZ")).date()
        assert sorted(row.notice.facts["date"] for row in journal.outbox_rows(statuses=None)) == [
            today.isoformat(), future_day.isoformat()]
    finally:
        journal.close()


def test_a_digest_that_could_not_be_written_is_tried_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_for(tmp_path, digest_at="00:00")
    journal = Journal(settings.state.url)
    try:
        written = journal.enqueue_notice
        failures = [OperationalError("INSERT INTO outbox", {}, Exception("database is locked"))]

        def enqueue_once_failing(*args: Any) -> bool:
            if failures:
                raise failures.pop()
            return written(*args)

        monkeypatch.setattr(journal, "enqueue_notice", enqueue_once_failing)
        postman = Postman(settings, journal, companion=None, vault=None)
        plan = Plan(datetime.now(UTC), (), REJECTED)
        assert postman.queue_digests(plan) == 0  # the error is logged, the cycle goes on
        assert digest_pending(settings, journal, plan.now, postman.book) == ["SZ"]  # not considered: still due
        assert postman.queue_digests(plan) == 1
        assert digest_pending(settings, journal, plan.now, postman.book) == []
        assert len(journal.outbox_rows(statuses=None)) == 1
    finally:
        journal.close()
