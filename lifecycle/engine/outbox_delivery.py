"""Sending the outbox (lifecycle.journal.outbox): each notice composed when it is sent, sent once.

A drain, `deliver_outbox`:
1. releases held notices whose action was settled some other way, and fails queued ones not accepted
   within [notify] retry_hours;
2. re-checks rows left `sending` by a crash (older than recheck_minutes): when every recipient is a
   mailbox of our own mail server, the mailboxes are asked for the Message-ID (all there: `sent`; none:
   sent again; some: sent again to the others only); otherwise `unconfirmed`, for an admin;
3. sends the due rows in order: `sending` is committed first, then `sent`, or `queued` with a back-off,
   or `failed`.  An SMTP outage ends the drain quietly: the cycle goes on, the rows wait.  A problem of
   one notice (its password unreadable, a template that fails, a mailbox search that breaks) fails it
   or backs it off, and the drain goes on with the next.

Every step is recorded only if the row is still as this drain read or claimed it: another drain that
moved it on meanwhile owns it (nothing is counted, no password destroyed; `notice_taken_by_another_drain`).

An initial password is read from the vault as its notice is composed and the vault's copy destroyed
once the relay took it; without one the notice fails (an empty password is never sent).  Logs name
the notice (Message-ID, event, company), never its body.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Protocol

import structlog

from lifecycle.domain.errors import ConfigError, LifecycleError, TransientError
from lifecycle.domain.notices import NoticeEvent
from lifecycle.domain.notify_settings import NotifySettings
from lifecycle.domain.ports import MailCompanion, MailSender
from lifecycle.domain.settings import Settings
from lifecycle.journal.outbox import FAILED, QUEUED, SENT, UNCONFIRMED, WAITING, OutboxRow, backoff
from lifecycle.journal.store import Journal

log = structlog.get_logger(__name__)

BATCH = 100  # rows read per query while draining


class PasswordVault(Protocol):
    """What the outbox needs of lifecycle.engine.vault.CredentialVault."""

    def read_password(self, employee_id: str, company: str | None = None) -> str | None: ...

    def destroy(self, employee_id: str, company: str | None = None) -> None: ...


@dataclass
class DeliveryCounts:
    sent: Counter[str] = field(default_factory=Counter)  # by event
    failed: Counter[str] = field(default_factory=Counter)  # by event
    retrying: int = 0  # attempts that failed for now: queued again with a back-off
    unconfirmed: int = 0  # interrupted sends nobody can check: an admin's to resend or forget
    problems: int = 0  # a notice's own trouble (vault, mailbox search) logged, the drain going on
    stopped: str = ""  # why the drain ended early (an SMTP outage), "" when it went through
    waiting: int = 0  # held, queued or sending once the drain ended

    def add(self, other: DeliveryCounts) -> None:
        self.sent.update(other.sent)
        self.failed.update(other.failed)
        self.retrying += other.retrying
        self.unconfirmed += other.unconfirmed
        self.problems += other.problems
        self.stopped = other.stopped or self.stopped
        self.waiting = other.waiting

    def fields(self) -> dict[str, object]:
        return {"sent": sum(self.sent.values()), "failed": sum(self.failed.values()), "retrying": self.retrying,
                "unconfirmed": self.unconfirmed, "problems": self.problems, "waiting": self.waiting, "stopped": self.stopped or None}


class _Stop(Exception):
    """The relay is out (or refuses our login): this drain ends, the rows wait."""


@dataclass
class _Drain:
    journal: Journal
    sender: MailSender
    settings: Settings
    notify: NotifySettings
    companion: MailCompanion | None
    vault: PasswordVault | None
    clock: Callable[[], datetime]
    counts: DeliveryCounts = field(default_factory=DeliveryCounts)

    # -- sending ------------------------------------------------------------------------------

    def send(self, row: OutboxRow) -> None:
        """Compose, claim (`sending`, committed), hand to the relay, record the outcome.

        A problem of this notice alone (its password unreadable, a template that fails, a message the relay
        cannot take) fails it or backs it off and the drain goes on; only the relay being out (_Stop) ends it."""
        try:
            password = self._password(row)
        except Exception as exc:  # the vault's file or table unreadable for now: this notice waits, the others go
            self._back_off(row, f"cannot read the initial password from the vault: {type(exc).__name__}: {exc}")
            return
        if row.notice.event == NoticeEvent.INITIAL_PASSWORD and not password:
            self._fail(row, f"no initial password for {row.employee_id} ({row.company}) in the vault "
                            "(destroyed, or never sealed there): issue a new one (a rehire's reset_password) "
                            f"or hand it over another way, then `lifecycle outbox --forget {row.id}`")
            return
        try:
            message = self._compose(row, password)
        except Exception as exc:  # missing facts, a broken override: this notice cannot be written, the others can
            self._fail(row, f"cannot compose the notice: {type(exc).__name__}: {exc}")
            return
        finally:
            password = None
        now = self.clock()
        claimed = self.journal.claim_notice(row, now)
        if claimed is None:
            self._lost(row, "claim")
            return
        try:
            refused = self.sender.send(message, claimed.envelope)
        except (TransientError, ConfigError) as exc:  # the relay is out or refuses us: no notice can go now
            self._retry(claimed, now, str(exc))
            if isinstance(exc, ConfigError):
                log.error("notify_relay_refused", message_id=row.message_id, error=str(exc),
                          consequence="no notice is sent until [notify] is fixed")
            raise _Stop(str(exc)) from exc
        except Exception as exc:
            # The sender maps every network and SMTP failure to the two above: anything else is this message
            # (its bytes or envelope) that could not be handed over; the next notice may well go.
            words = type(exc).__name__ if row.notice.event == NoticeEvent.INITIAL_PASSWORD else (
                f"{type(exc).__name__}: {exc}")  # what such an error quotes might be the password notice's text
            self._fail(claimed, f"the relay could not be given this notice: {words}")
            return
        self._settle(claimed, refused, now)

    def _password(self, row: OutboxRow) -> str | None:
        if row.notice.event != NoticeEvent.INITIAL_PASSWORD or self.vault is None:
            return None
        return self.vault.read_password(row.employee_id, row.company)

    def _compose(self, row: OutboxRow, password: str | None) -> EmailMessage:
        from connectors.notices.compose import compose

        return compose(row.notice, sender=self.notify.sender, message_id=row.message_id,
                       zone=self.settings.company_zone(row.company), now=self.clock(),
                       templates_dir=self.notify.templates_dir, password=password)

    def _settle(self, claimed: OutboxRow, refused: dict[str, str], now: datetime) -> None:
        for_now = {a: r for a, r in refused.items() if r[:1] == "4"}  # refused for now: tried again
        for_good = {a: r for a, r in refused.items() if a not in for_now}
        words = "; ".join(f"refused {a}: {r}" for a, r in refused.items())
        delivered = [a for a in claimed.envelope if a not in refused]
        if for_now and now - claimed.created_at < timedelta(hours=self.notify.retry_hours):
            if not self.journal.settle_notice(claimed, QUEUED, now=now, error=words,
                                              next_attempt=now + backoff(claimed.attempts), envelope=list(for_now)):
                self._lost(claimed, "deferred")
                return
            self.counts.retrying += 1
            log.warning("notice_deferred", message_id=claimed.message_id, notice_event=claimed.event,
                        company=claimed.company, delivered=len(delivered), error=words)
        elif not delivered:
            self._fail(claimed, words or "refused")
        elif self.journal.settle_notice(claimed, SENT, now=now, error=words):
            self._sent(claimed, refused=len(for_good))
        else:
            self._lost(claimed, "sent")

    def _sent(self, row: OutboxRow, *, refused: int = 0) -> None:
        self.counts.sent[row.event] += 1
        log.info("notice_sent", message_id=row.message_id, notice_event=row.event, company=row.company,
                 employee_id=row.employee_id or None, refused=refused or None)
        if row.notice.event != NoticeEvent.INITIAL_PASSWORD or self.vault is None:
            return
        try:
            self.vault.destroy(row.employee_id, row.company)  # delivered: no copy is kept
        except Exception as exc:  # the notice is sent all the same; the copy left behind is the admin's to remove
            self.counts.problems += 1
            log.error("initial_password_not_destroyed", message_id=row.message_id, company=row.company,
                      employee_id=row.employee_id, error=f"{type(exc).__name__}: {exc}",
                      consequence="its sealed copy is still in the vault: remove it by hand")

    def _retry(self, claimed: OutboxRow, now: datetime, error: str) -> None:
        """The claimed attempt failed for now: queued again with a back-off, or failed past retry_hours."""
        if now - claimed.created_at >= timedelta(hours=self.notify.retry_hours):
            self._fail(claimed, f"not accepted within {self.notify.retry_hours:g} hours: {error}")
            return
        if not self.journal.settle_notice(claimed, QUEUED, now=now, error=error,
                                          next_attempt=now + backoff(claimed.attempts)):
            self._lost(claimed, "deferred")
            return
        self.counts.retrying += 1
        log.warning("notice_deferred", message_id=claimed.message_id, notice_event=claimed.event,
                    company=claimed.company, error=error,
                    next_attempt=(now + backoff(claimed.attempts)).isoformat(timespec="seconds"))

    def _back_off(self, row: OutboxRow, error: str) -> None:
        """A queued notice that could not be made ready this time (nothing was sent): tried again later."""
        self.counts.problems += 1
        if row.status != QUEUED:  # an admin's resend: the row stays as it was, they hear why at once
            raise _Stop(error)
        now = self.clock()
        claimed = self.journal.claim_notice(row, now)  # counted as an attempt, so the back-off grows
        if claimed is None:
            self._lost(row, "claim")
            return
        self._retry(claimed, now, error)

    def _fail(self, row: OutboxRow, error: str) -> None:
        if not self.journal.settle_notice(row, FAILED, now=self.clock(), error=error):
            self._lost(row, "failed")
            return
        self.counts.failed[row.event] += 1
        log.error("notice_failed", message_id=row.message_id, notice_event=row.event, company=row.company,
                  employee_id=row.employee_id or None, error=error)

    def _lost(self, row: OutboxRow, step: str) -> None:
        """Another drain moved this row on since it was read: it is theirs, nothing is recorded or counted here."""
        log.info("notice_taken_by_another_drain", message_id=row.message_id, notice_event=row.event,
                 company=row.company, seen=row.status, step=step)

    # -- a send that was interrupted -------------------------------------------------------------

    def recheck(self, row: OutboxRow) -> None:
        """A row left `sending`: looked for in the recipients' mailboxes before anything is sent again."""
        now = self.clock()
        if row.attempted_at is not None and now - row.attempted_at < timedelta(minutes=self.notify.recheck_minutes):
            return  # the relay may still be delivering it: next drain
        domains = {c.domain.lower() for c in self.settings.companies}
        ours = self.companion is not None and all(a.rpartition("@")[2].lower() in domains for a in row.envelope)
        if not ours or self.companion is None:
            self._unconfirmed(row, "its sending was interrupted and whether it arrived cannot be checked "
                                   f"(not every recipient is a mailbox of ours): `lifecycle outbox --resend {row.id}` "
                                   f"sends it again, `lifecycle outbox --forget {row.id}` drops it")
            return
        try:
            missing = [a for a in row.envelope if not self.companion.has_message(a, row.message_id)]
        except TransientError as exc:
            log.warning("notice_recheck_deferred", message_id=row.message_id, error=str(exc))
            return
        except LifecycleError as exc:
            self._unconfirmed(row, f"its sending was interrupted and the mailboxes could not be searched ({exc}): "
                                   f"`lifecycle outbox --resend {row.id}` or `--forget {row.id}`")
            return
        except Exception as exc:  # an unforeseen failure of the search: this row is looked at again next drain
            self.counts.problems += 1
            log.error("notice_recheck_failed", message_id=row.message_id, error=f"{type(exc).__name__}: {exc}",
                      consequence="looked for again at the next drain")
            return
        if not missing:
            if not self.journal.settle_notice(row, SENT, now=now, error=row.last_error):
                self._lost(row, "found delivered")
                return
            log.info("notice_found_delivered", message_id=row.message_id, notice_event=row.event, company=row.company)
            self._sent(row)
            return
        if not self.journal.settle_notice(row, QUEUED, now=now, next_attempt=None, envelope=missing,
                                          error=f"interrupted send: not in {len(missing)} of {len(row.envelope)} "
                                                "mailboxes; sent again to those"):
            self._lost(row, "resend")
            return
        log.warning("notice_resent_after_interruption", message_id=row.message_id, notice_event=row.event,
                    company=row.company, missing=len(missing))

    def _unconfirmed(self, row: OutboxRow, error: str) -> None:
        if not self.journal.settle_notice(row, UNCONFIRMED, now=self.clock(), error=error):
            self._lost(row, "unconfirmed")
            return
        self.counts.unconfirmed += 1
        log.warning("notice_unconfirmed", message_id=row.message_id, notice_event=row.event, company=row.company,
                    error=error)


def open_sender(settings: Settings) -> MailSender:
    """The configured SMTP relay ([notify] must be set)."""
    from connectors.smtp_sender import SmtpSender

    assert settings.notify is not None
    return SmtpSender(settings.notify)


def message_domain(settings: Settings) -> str:
    """The domain of the notices' Message-IDs (the sender's); "" without [notify]: no notice is written."""
    return settings.notify.sender_address.rpartition("@")[2] if settings.notify is not None else ""


def deliver_outbox(
    journal: Journal,
    sender: MailSender,
    settings: Settings,
    *,
    companion: MailCompanion | None,
    vault: PasswordVault | None,
    now: datetime | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> DeliveryCounts:
    """One drain of the outbox (the module's docstring); `now` fixes the clock (tests), else the wall clock's."""
    notify = settings.notify
    if notify is None:
        return DeliveryCounts()
    drain = _Drain(journal, sender, settings, notify, companion, vault,
                   (lambda: now) if now is not None else (lambda: datetime.now(UTC)))
    journal.sweep_held_notices()
    for row in journal.expire_notices(drain.clock(), notify.retry_hours):
        drain.counts.failed[row.event] += 1
        log.error("notice_failed", message_id=row.message_id, notice_event=row.event, company=row.company,
                  error=f"not accepted within {notify.retry_hours:g} hours")
    try:
        for row in journal.interrupted_notices():
            drain.recheck(row)
        seen: set[int] = set()
        while not should_stop():
            rows = [r for r in journal.due_notices(drain.clock(), BATCH) if r.id not in seen]
            if not rows:
                break
            for row in rows:
                if should_stop():
                    break
                seen.add(row.id)
                drain.send(row)
    except _Stop as stop:
        drain.counts.stopped = str(stop)
        log.warning("outbox_paused", reason=str(stop), consequence="the notices wait for the next cycle")
    counts = journal.outbox_counts()
    drain.counts.waiting = sum(counts.get(s, 0) for s in WAITING)
    return drain.counts


def resend(
    journal: Journal, sender: MailSender, settings: Settings, row_id: int, *, vault: PasswordVault | None,
    now: datetime | None = None,
) -> DeliveryCounts:
    """An admin's word: send an `unconfirmed` (or `failed`) notice again now, to the recipients it was for."""
    notify = settings.notify
    if notify is None:
        raise ConfigError("[notify] is not configured: nothing can be sent")
    row = journal.outbox_row(row_id)
    if row is None:
        raise ConfigError(f"outbox has no notice {row_id}: `lifecycle outbox --all` lists them")
    if row.status not in (UNCONFIRMED, FAILED):
        raise ConfigError(f"notice {row_id} is {row.status}: only an unconfirmed or failed notice is resent "
                          "(a waiting one goes by itself)")
    drain = _Drain(journal, sender, settings, notify, None, vault,
                   (lambda: now) if now is not None else (lambda: datetime.now(UTC)))
    try:
        drain.send(row)
    except _Stop as stop:
        drain.counts.stopped = str(stop)
    return drain.counts
