"""A cycle's notices: drain the outbox before and after the apply, queue each branch's daily digest.

`Postman` is what `lifecycle apply` and each of the daemon's cycles (quiet ones too) use; without
[notify] there is none and nothing is written to the outbox.  Sending never fails a cycle: an SMTP
outage, or anything else going wrong while draining, is logged and the notices wait.

The digest (policies.notices.digest_notice) is made from a plan's held actions, rejected HR rows and
reviews, so a quiet cycle (which plans nothing) is made a real one when a digest is due
(`digest_pending`); its Message-ID comes from its key, so each company's digest of a day is queued at
most once, whoever queues it, and "already sent today" is that day's row being there (not the newest
row's date: a row of another day says nothing about today).  `DigestBook` remembers the days already
considered (a digest with nothing to report is not queued) so that a quiet day stays quiet.

A digest tells what is waiting now: only a plan for the present (`now` within PRESENT of the wall
clock) queues one; `lifecycle apply --now` of another date sends none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import structlog

from lifecycle.domain.models import Plan
from lifecycle.domain.notices import NoticeEvent
from lifecycle.domain.ports import MailCompanion, MailSender
from lifecycle.domain.settings import CompanySettings, Settings
from lifecycle.engine.outbox_delivery import DeliveryCounts, PasswordVault, deliver_outbox, message_domain, open_sender
from lifecycle.journal.outbox import keyed_message_id
from lifecycle.journal.store import Journal
from policies.notices import digest_due, digest_key, digest_notice

log = structlog.get_logger(__name__)


PRESENT = timedelta(minutes=15)
"""How far a plan's `now` may be from the wall clock and still be the present: a cycle's reads take a while."""


@dataclass
class DigestBook:
    """The company-local day each company's digest was last considered by this process."""

    considered: dict[str, date] = field(default_factory=dict)


def _due_day(settings: Settings, journal: Journal, company: CompanySettings, now: datetime, book: DigestBook,
             domain: str) -> date | None:
    """The day whose digest is due for `company` at `now`, unless this process considered it or it is queued."""
    day = digest_due(company, None, now, settings) if company.notify_to else None
    if day is None or book.considered.get(company.code) == day:
        return None
    if journal.outbox_has(keyed_message_id(NoticeEvent.DIGEST.value, digest_key(company.code, day), domain)):
        book.considered[company.code] = day
        return None
    return day


def _present(now: datetime, wall: datetime | None) -> bool:
    return abs(now - (wall if wall is not None else datetime.now(UTC))) <= PRESENT


def digest_pending(settings: Settings, journal: Journal, now: datetime, book: DigestBook, *,
                   wall: datetime | None = None) -> list[str]:
    """The companies whose digest is due at `now` and not yet considered: a quiet cycle must plan for them.
    `wall` is the wall clock's time (tests fix it; None: now)."""
    if settings.notify is None or not _present(now, wall):
        return []
    domain = message_domain(settings)
    return [c.code for c in settings.companies if _due_day(settings, journal, c, now, book, domain) is not None]


def queue_digests(settings: Settings, journal: Journal, plan: Plan, book: DigestBook, *,
                  wall: datetime | None = None) -> int:
    """Each company's due digest, from `plan`'s held actions, rejected rows and reviews; how many were queued.
    None for a plan of another time than the present (`wall`, the wall clock's time; None: now)."""
    if settings.notify is None:
        return 0
    if not _present(plan.now, wall):
        log.info("digest_not_now", now=plan.now.isoformat(timespec="minutes"),
                 reason="a plan for another time than the present sends no digest")
        return 0
    domain, queued = message_domain(settings), 0
    held = [h.to_dict() for h in plan.held]
    for company in settings.companies:
        day = _due_day(settings, journal, company, plan.now, book, domain)
        if day is None:
            continue
        notice = digest_notice(company, day, held, plan.rejected, plan.reviews, settings)
        if notice is None:
            log.info("digest_empty", company=company.code, day=day.isoformat())
        elif journal.enqueue_notice(notice, keyed_message_id(notice.event.value, notice.key, domain),
                                    datetime.now(UTC)):
            queued += 1
            log.info("digest_queued", company=company.code, day=day.isoformat())
        # Only once it is written (or there is nothing to write): a failed write is tried again next cycle.
        book.considered[company.code] = day
    return queued


def next_digest(settings: Settings, now: datetime) -> datetime | None:
    """The next instant a company's digest_at comes round (company time), for the daemon's wake-up."""
    if settings.notify is None:
        return None
    hours, minutes = (int(part) for part in settings.notify.digest_at.split(":"))
    times = []
    for company in settings.companies:
        if not company.notify_to:
            continue
        zone = settings.company_zone(company.code)
        local = now.astimezone(zone)
        at = datetime(local.year, local.month, local.day, hours, minutes, tzinfo=zone)
        if at <= local:
            at = datetime.combine(local.date() + timedelta(days=1), at.timetz())
        times.append(at.astimezone(UTC))
    return min(times, default=None)


class Postman:
    """A cycle's notices: the SMTP relay opened at the first drain, totals kept for the daemon's metrics."""

    def __init__(
        self, settings: Settings, journal: Journal, *, companion: MailCompanion | None, vault: PasswordVault | None,
        should_stop: Callable[[], bool] = lambda: False, sender: MailSender | None = None,
        book: DigestBook | None = None,
    ) -> None:
        self.settings, self.journal, self.companion, self.vault = settings, journal, companion, vault
        self.should_stop = should_stop
        self.book = book if book is not None else DigestBook()
        self.totals = DeliveryCounts()
        self._sender = sender
        self._owned = sender is None

    def deliver(self) -> DeliveryCounts:
        """Drain the outbox; never raises (a failure is logged, the notices wait for the next drain)."""
        try:
            if self._sender is None:
                self._sender = open_sender(self.settings)
            counts = deliver_outbox(self.journal, self._sender, self.settings, companion=self.companion,
                                    vault=self.vault, should_stop=self.should_stop)
        except Exception as exc:  # the cycle goes on whatever sending does
            log.error("outbox_drain_failed", error=f"{type(exc).__name__}: {exc}",
                      consequence="the notices wait for the next cycle")
            counts = DeliveryCounts(stopped=f"{type(exc).__name__}: {exc}")
        self.totals.add(counts)
        if sum(counts.sent.values()) or sum(counts.failed.values()) or counts.stopped:
            log.info("outbox_drained", **counts.fields())
        return counts

    def queue_digests(self, plan: Plan) -> int:
        try:
            return queue_digests(self.settings, self.journal, plan, self.book)
        except Exception as exc:  # a digest that cannot be written must not cost the cycle its actions
            log.error("digest_failed", error=f"{type(exc).__name__}: {exc}")
            return 0

    def close(self) -> None:
        if self._sender is not None and self._owned:
            try:
                self._sender.close()
            except Exception as exc:
                log.warning("smtp_close_failed", error=f"{type(exc).__name__}: {exc}")
            self._sender = None


def open_postman(
    settings: Settings, journal: Journal, *, companion: MailCompanion | None, vault: PasswordVault | None,
    should_stop: Callable[[], bool] = lambda: False, book: DigestBook | None = None,
) -> Postman | None:
    """The cycle's postman, or None without [notify]."""
    if settings.notify is None:
        return None
    return Postman(settings, journal, companion=companion, vault=vault, should_stop=should_stop, book=book)
