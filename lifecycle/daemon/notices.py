"""The daemon's side of the notices (lifecycle.engine.notifying): one place, called from the cycle.

- every planned cycle gets a `Postman` (apply_cycle drains the outbox before and after the apply);
- a quiet cycle still drains an outbox with something due, and is made a planned one when a
  branch's daily digest is due (the digest is made from the plan);
- the metrics count what was sent and failed, by event, and how many notices wait;
- `next_wake`: when the outbox's next retry, the re-check of a send left `sending`, or the next
  digest_at comes before the next scheduled cycle, the daemon runs a cycle then (at most one a
  minute, so an SMTP outage is not hammered);
- a planned cycle's postman is closed when the cycle ends (`finish`: QUIT to the relay).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog

from lifecycle.domain.settings import Settings
from lifecycle.engine.cycle import open_companion, open_vault
from lifecycle.engine.notifying import DigestBook, Postman, digest_pending, next_digest, open_postman
from lifecycle.journal.outbox import WAITING
from lifecycle.journal.store import Journal
from lifecycle.runtime.metrics import Metrics

log = structlog.get_logger(__name__)

MIN_WAKE = timedelta(minutes=1)


class DaemonNotices:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.book = DigestBook()  # the days whose digest this daemon considered (a quiet day stays quiet)

    def postman(self, settings: Settings, journal: Journal, should_stop: Callable[[], bool]) -> Postman | None:
        """The cycle's postman (None without [notify]); apply_cycle gives it the cycle's companion and vault."""
        return open_postman(settings, journal, companion=None, vault=None, should_stop=should_stop, book=self.book)

    def digests_due(self, settings: Settings, journal: Journal, now: datetime) -> list[str]:
        """Companies whose digest is due: a quiet cycle is made a planned one for them."""
        return digest_pending(settings, journal, now, self.book)

    def quiet_drain(self, settings: Settings, journal: Journal, should_stop: Callable[[], bool]) -> None:
        """A quiet cycle: send what is due in the outbox, if anything is."""
        if settings.notify is None:
            return
        due = journal.outbox_next_attempt(_recheck(settings))
        if due is None or due > datetime.now(UTC):
            self._waiting(journal)
            return
        companion = open_companion(settings)
        postman = Postman(settings, journal, companion=companion, vault=open_vault(settings, journal),
                          should_stop=should_stop, book=self.book)
        try:
            postman.deliver()
        finally:
            postman.close()
            if companion is not None:
                companion.close()
        self.count(postman, journal)

    def finish(self, postman: Postman | None, journal: Journal) -> None:
        """After a planned cycle: its postman's SMTP connection closed (QUIT), the metrics counted."""
        if postman is None:
            return
        try:
            postman.close()
        finally:
            self.count(postman, journal)

    def count(self, postman: Postman | None, journal: Journal) -> None:
        """The metrics after a cycle's drains."""
        if postman is None:
            return
        for event, n in postman.totals.sent.items():
            self.metrics.notices_sent.labels(event).inc(n)
        for event, n in postman.totals.failed.items():
            self.metrics.notices_failed.labels(event).inc(n)
        self._waiting(journal)

    def _waiting(self, journal: Journal) -> None:
        try:
            counts = journal.outbox_counts()
        except Exception as exc:  # the gauge can wait for the next cycle
            log.warning("outbox_count_failed", error=f"{type(exc).__name__}: {exc}")
            return
        self.metrics.outbox_waiting.set(sum(counts.get(s, 0) for s in WAITING))

    def next_wake(self, settings: Settings, journal: Journal) -> datetime | None:
        """When a cycle should run for the notices (an outbox retry, a digest), at least a minute from now."""
        if settings.notify is None:
            return None
        now = datetime.now(UTC)
        times = [t for t in (journal.outbox_next_attempt(_recheck(settings)), next_digest(settings, now)) if t is not None]
        return max(min(times), now + MIN_WAKE) if times else None


def _recheck(settings: Settings) -> timedelta:
    """How long after an interrupted send its row is looked for in the mailboxes (the drain's rule)."""
    return timedelta(minutes=settings.notify.recheck_minutes if settings.notify is not None else 0)
