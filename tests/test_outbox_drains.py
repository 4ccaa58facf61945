"""The outbox's drains under pressure (lifecycle.engine.outbox_delivery, lifecycle.journal.outbox, lifecycle.daemon.notices).

- two drains at once: a drain acting on what it read before another drain moved the row on changes nothing,
  so an interrupted notice is sent once;
- a notice left `sending` is due for its re-check: a daemon whose cycles are all quiet still settles it;
- one notice's trouble (its password unreadable, facts missing, its vault copy not removable, a mailbox
  search that breaks) is that notice's alone: the drain goes on with the next;
- the daemon closes its planned cycle's SMTP connection (QUIT);
- a digest's Message-ID keeps every company code apart.

A real SMTP server (devservers/smtp.py) and the real state store (SQLite and PostgreSQL, from tests.test_outbox);
the Message-ID test alone is pure.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote

import pytest

from devservers.slapd import Slapd
from devservers.smtp import SmtpServer
from lifecycle.daemon.notices import DaemonNotices
from lifecycle.domain.notices import Notice
from lifecycle.domain.settings import Settings
from lifecycle.engine.outbox_delivery import _Drain, open_sender
from lifecycle.engine.vault import CredentialVault
from lifecycle.journal.outbox import keyed_message_id
from lifecycle.journal.store import Journal
from lifecycle.runtime.metrics import Metrics
from tests.daemon_support import (
    Daemon,
    demo_slapd,  # noqa: F401 - fixture
    make_config,
    next_summary,
    wait_until,
)
from tests.test_outbox import (  # noqa: F401 - fixtures
    drain,
    interrupted,
    joiner_notice,
    journal,
    personal_notice,
    pg_url,
    queue,
    queued_now,
    settings,
    smtp,
    store_url,
    update_action,
)


class Mailboxes:
    """The companion's view of the recipients' mailboxes: what the real SMTP server has taken for them."""

    def __init__(self, server: SmtpServer, broken: str = "") -> None:
        self.server, self.broken = server, broken

    def has_message(self, user: str, message_id: str) -> bool:
        if message_id == self.broken:
            raise RuntimeError("doveadm answered something unexpected")
        return any(user in rcpt and (m["Message-ID"] or "").strip() == message_id for rcpt, m in self.server.received)


def drain_of(journal: Journal, settings: Settings, sender, companion, now: datetime, vault=None) -> _Drain:
    assert settings.notify is not None
    return _Drain(journal, sender, settings, settings.notify, companion, vault, lambda: now)


# -- two drains at once --------------------------------------------------------------------------------


@pytest.mark.servers
def test_a_drain_acting_on_a_stale_read_resends_nothing(journal: Journal, settings: Settings, smtp: SmtpServer) -> None:
    """Drain B lists a notice left `sending` by a crash, then is slow; drain A re-checks it (not in the mailbox:
    queued), claims it, and while A is in its SMTP conversation B re-checks its stale copy and looks for due rows."""
    (row_id,) = queued_now(journal)
    interrupted(journal, row_id, 20)
    now = datetime.now(UTC)
    mailboxes = Mailboxes(smtp)
    relay = open_sender(settings)
    b = drain_of(journal, settings, relay, mailboxes, now)
    (stale,) = journal.interrupted_notices()

    class Meanwhile:
        """A's relay: B goes on with what it read while A's message is on its way."""

        def send(self, message: EmailMessage, recipients) -> dict[str, str]:
            b.recheck(stale)
            for row in journal.due_notices(now):
                b.send(row)
            return relay.send(message, recipients)

    a = drain_of(journal, settings, Meanwhile(), mailboxes, now)
    try:
        (fresh,) = journal.interrupted_notices()
        a.recheck(fresh)  # not in the mailbox: to be sent again
        (due,) = journal.due_notices(now)
        a.send(due)
    finally:
        relay.close()
    assert len(smtp.received) == 1
    row = journal.outbox_row(row_id)
    assert row is not None and row.status == "sent" and row.attempts == 2  # the interrupted attempt and A's
    assert a.counts.sent == {"joiner": 1}
    assert sum(b.counts.sent.values()) == 0 and b.counts.retrying == 0 and b.counts.unconfirmed == 0


@pytest.mark.servers
def test_a_claim_or_a_mark_applies_only_to_the_row_as_it_was_read(journal: Journal) -> None:
    (row_id,) = queued_now(journal)
    now = datetime.now(UTC).replace(microsecond=0)
    (read_by_a,) = journal.due_notices(now)
    (read_by_b,) = journal.due_notices(now)
    claimed = journal.claim_notice(read_by_a, now)
    assert claimed is not None and claimed.status == "sending" and claimed.attempts == 1 and claimed.attempted_at == now
    assert journal.claim_notice(read_by_b, now) is None  # one claim wins
    assert journal.settle_notice(claimed, "queued", now=now, error="451 later", next_attempt=now)
    assert journal.claim_notice(read_by_b, now) is None  # queued again, but no longer as B read it
    assert not journal.settle_notice(read_by_b, "failed", now=now)
    assert not journal.settle_notice(claimed, "sent", now=now)  # A's claim is spent
    row = journal.outbox_row(row_id)
    assert row is not None and (row.status, row.attempts, row.last_error) == ("queued", 1, "451 later")


# -- a notice left `sending` is due for its re-check ------------------------------------------------


@pytest.mark.servers
def test_a_notice_left_sending_is_due_for_its_recheck_in_a_quiet_daemon(journal: Journal, settings: Settings,
                                                                        smtp: SmtpServer) -> None:
    (young,) = queued_now(journal)
    interrupted(journal, young, 5)
    recheck = timedelta(minutes=15)  # the settings' recheck_minutes
    young_row = journal.outbox_row(young)
    assert young_row is not None and young_row.attempted_at is not None
    assert journal.outbox_next_attempt(recheck) == young_row.attempted_at + recheck  # not before its re-check
    notices = DaemonNotices(Metrics())
    assert notices.next_wake(settings, journal) == young_row.attempted_at + recheck

    _, old = queued_now(journal)
    interrupted(journal, old, 20)
    old_row = journal.outbox_row(old)
    assert old_row is not None and old_row.attempted_at is not None
    assert journal.outbox_next_attempt(recheck) == old_row.attempted_at + recheck  # in the past: now
    notices.quiet_drain(settings, journal, lambda: False)  # a quiet cycle drains: re-checked
    assert journal.outbox_row(old).status == "unconfirmed"  # no mailbox of ours to look in: the admin's
    assert journal.outbox_row(young).status == "sending"
    assert smtp.received == []


# -- one notice's trouble is its own ---------------------------------------------------------------------


class StuckVault(CredentialVault):
    """A vault whose copy of one password cannot be removed (a read-only file system, say)."""

    stuck = "E10"

    def destroy(self, employee_id: str, company: str | None = None) -> None:
        if employee_id == self.stuck:
            raise OSError(30, "Read-only file system")
        super().destroy(employee_id, company)


@pytest.mark.servers
def test_one_notice_s_trouble_fails_or_defers_it_and_the_drain_goes_on(
    journal: Journal, settings: Settings, smtp: SmtpServer
) -> None:
    vault = StuckVault(settings.accounts.initial_password_dir, 16)
    (vault.directory / "HQ" / "E7.txt").mkdir(parents=True)  # E7's sealed file cannot be read (for now)
    passwords = vault.issue_many([("E9", "e9", "e9@example.com", "HQ"), ("E10", "e10", "e10@example.com", "HQ")])
    broken = update_action(8)
    no_facts = joiner_notice(broken)
    no_facts = Notice(no_facts.event, no_facts.company, no_facts.employee_id, no_facts.to, (), "zh-CN",
                      {k: v for k, v in no_facts.facts.items() if k != "name"}, cause=no_facts.cause)
    last = update_action(11)
    ids = queue(journal, [personal_notice("E7"), (broken, no_facts), personal_notice("E9"), personal_notice("E10"),
                          (last, joiner_notice(last))])

    counts = drain(journal, settings, vault=vault)
    assert counts.sent == {"initial_password": 2, "joiner": 1} and counts.failed == {"joiner": 1}
    assert counts.retrying == 1 and counts.problems == 2 and not counts.stopped
    unreadable, missing, *_ = (journal.outbox_row(i) for i in ids)
    assert unreadable.status == "queued" and unreadable.attempts == 1 and unreadable.next_attempt_at is not None
    assert "cannot read the initial password from the vault: IsADirectoryError" in unreadable.last_error
    assert missing.status == "failed" and "lacks the facts name" in missing.last_error
    assert [journal.outbox_row(i).status for i in ids[2:]] == ["sent"] * 3
    bodies = {rcpt: m.get_body(("plain",)).get_content() for rcpt, m in smtp.received}
    assert passwords["E9"] in bodies[("E9@personal.example.net",)]
    assert passwords["E10"] in bodies[("E10@personal.example.net",)]
    assert vault.read_password("E9", "HQ") is None and vault.read_password("E10", "HQ") == passwords["E10"]


@pytest.mark.servers
def test_a_mailbox_search_that_breaks_leaves_its_notice_and_rechecks_the_others(
    journal: Journal, settings: Settings, smtp: SmtpServer
) -> None:
    first, second = queued_now(journal, 2)
    for row_id in (first, second):
        interrupted(journal, row_id, 20)
    counts = drain(journal, settings, companion=Mailboxes(smtp, broken=journal.outbox_row(first).message_id))
    assert counts.problems == 1 and counts.sent == {"joiner": 1}  # the second: not found, so sent again
    assert journal.outbox_row(first).status == "sending"  # looked for again at the next drain
    assert journal.outbox_row(second).status == "sent" and len(smtp.received) == 1


# -- the daemon closes its SMTP connection ------------------------------------------------------------------


class SmtpLines(logging.Handler):
    """The commands the in-process SMTP server reads (aiosmtpd logs each line at DEBUG on mail.log)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if "_handle_client readline" in text:
            self.lines.append(text)


@pytest.fixture
def smtp_lines() -> Iterator[SmtpLines]:
    logger = logging.getLogger("mail.log")
    handler, level = SmtpLines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.mark.servers
def test_the_daemon_says_quit_after_a_cycle_s_notices(tmp_path: Path, demo_slapd: Slapd, smtp: SmtpServer,
                                                      smtp_lines: SmtpLines) -> None:
    hired = (date.today() - timedelta(days=3)).isoformat()  # a joiner: the manager is told
    config = make_config(tmp_path, demo_slapd, f'[notify]\nsmtp_url = "{smtp.url}"\nsender = "IT <it@example.com>"\n',
                         rows=[f"100003,新人,,,HQ,总经办,助理,100001,在职,{hired},"], small=True)
    daemon = Daemon(config)
    try:
        first = next_summary(daemon, 0, kind="normal")
        assert first["outcome"] == "ok", first
        wait_until(lambda: smtp.received, what="the joiner's notice")
        sent_at = next(i for i, line in enumerate(smtp_lines.lines) if "b'data" in line.lower())
        wait_until(lambda: any("b'quit" in line.lower() for line in smtp_lines.lines[sent_at:]),
                   what="QUIT after the notice")
    finally:
        assert daemon.stop() == 0
    assert any(m["Message-ID"].strip().startswith("<lifecycle.joiner.") for _, m in smtp.received)


# -- a digest's Message-ID -------------------------------------------------------------------------------------


def test_a_digest_message_id_keeps_every_company_code_apart_and_can_be_read_back() -> None:
    codes = ["SZ", "SZ_", "SZ-", "sz", "S_Z", "S-Z", "S.Z", "HQ1", "H-Q_1"]
    ids = {code: keyed_message_id("digest", f"digest/{code}/2026-12-07", "example.com") for code in codes}
    assert ids["SZ"] == "<lifecycle.digest.digest.SZ.2026-12-07@example.com>"
    assert len(set(ids.values())) == len(codes)
    atom = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
    for code, message_id in ids.items():
        assert re.fullmatch(rf"<{atom}(\.{atom})*@example\.com>", message_id), message_id  # RFC 5322 dot-atom
        parts = message_id[1:].partition("@")[0].split(".")[2:]
        assert "/".join(unquote(p) for p in parts) == f"digest/{code}/2026-12-07"
