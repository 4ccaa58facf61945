"""Notices end to end: `lifecycle apply` against a real slapd, Modoboa and Dovecot, sending through a real SMTP
server (devservers/smtp.py) that delivers into the mailboxes the cycle made; each notice read back from the
recipient's mailbox.

- a joiner's manager finds the notice in their mailbox, in the company's language;
- a process killed (-9) between "the relay accepted" and "marked sent": the next cycle finds the message in
  the mailbox (doveadm search by Message-ID) and does not send it again;
- the relay down for several cycles: every cycle ends ok, the outbox grows; back up: each notice arrives once;
- no password in any stored notice, the action log or the output.
"""

from __future__ import annotations

import email
import email.header
import email.policy
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devservers.dovecot import DovecotInstance
from devservers.modoboa import ModoboaInstance
from devservers.smtp import SmtpServer
from lifecycle.cli.main import main
from lifecycle.domain.settings import load_settings
from lifecycle.engine.outbox_delivery import deliver_outbox, open_sender
from lifecycle.journal.store import Journal

ROOT = Path(__file__).resolve().parent.parent
DAY_ONE = "2026-12-01T09:00"


@pytest.fixture
def smtp(dovecot: DovecotInstance, modoboa: ModoboaInstance) -> Iterator[SmtpServer]:
    server = SmtpServer(dovecot, modoboa.db_path).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def notify_config(config: Path, modoboa: ModoboaInstance, dovecot: DovecotInstance, smtp: SmtpServer) -> Path:
    # joiner_days: the demo's hire dates go back years; the most [notify] allows (ten years) makes most of its
    # accounts joiners whose managers are told, rather than an initial load that tells nobody.
    text = config.read_text(encoding="utf-8")
    text += f"""
[mail]
url = "{modoboa.url}"
token = "{modoboa.token}"
max_writes_per_second = 1000
max_requests_per_minute = 1000000
archive_before_delete = false

[mail.dovecot]
api_url = "{dovecot.api_url}"
api_key = "{dovecot.api_key}"
archive_dir = "{dovecot.archive_dir}"

[notify]
smtp_url = "{smtp.url}"
sender = "IT <it@example.com>"
recheck_minutes = 1
joiner_days = 3650
"""
    config.write_text(text, encoding="utf-8")
    return config


def run(config: Path, capfd: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capfd.readouterr()
    code = main(["--config", str(config), *args])
    out, err = capfd.readouterr()
    return code, out + err


def outbox(config: Path) -> list[dict]:
    with sqlite3.connect(config.parent / "state.db") as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("select * from outbox order by id")]


def mailbox(dovecot: DovecotInstance, address: str) -> list[email.message.EmailMessage]:
    """Every message in the mailbox, all folders, as Dovecot stores it (doveadm fetch: no login needed)."""
    result = dovecot.doveadm("-f", "json", "fetch", "-u", address, "text", "all", check=False)
    if result.returncode != 0:
        return []
    messages = []
    for row in json.loads(result.stdout or "[]"):
        parsed = email.message_from_string(row["text"], policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        messages.append(parsed)
    return messages


def copies(dovecot: DovecotInstance, address: str, message_id: str) -> int:
    return sum(1 for m in mailbox(dovecot, address) if (m["Message-ID"] or "").strip() == message_id)


def every_notice_arrived_once(config: Path, dovecot: DovecotInstance) -> int:
    rows = outbox(config)
    assert rows and all(r["status"] == "sent" for r in rows), [(r["id"], r["status"], r["last_error"]) for r in rows]
    for row in rows:
        notice = json.loads(row["notice"])
        for address in (*notice["to"], *notice["cc"]):
            assert copies(dovecot, address, row["message_id"]) == 1, (address, row["message_id"])
    return len(rows)


def passwords(config: Path) -> list[str]:
    found = [p.read_text(encoding="utf-8").strip().splitlines()[-1].split()[-1]
             for p in (config.parent / "credentials").rglob("*.txt")]
    assert found
    return found


def test_a_joiner_s_manager_reads_the_notice_in_their_mailbox(notify_config: Path, dovecot: DovecotInstance,
                                                               smtp: SmtpServer, capfd) -> None:
    code, output = run(notify_config, capfd, "apply", "--now", DAY_ONE)
    assert code == 0, output
    rows = outbox(notify_config)
    joiners = [r for r in rows if r["event"] == "joiner"]
    assert joiners and {r["status"] for r in rows} == {"sent"}
    every_notice_arrived_once(notify_config, dovecot)
    # 张伟 (100019, SZ) joins: his manager is told, in the company's language (zh-CN by default).
    row = next(r for r in joiners if r["employee_id"] == "100019")
    notice = json.loads(row["notice"])
    (manager,) = notice["to"]
    (message,) = [m for m in mailbox(dovecot, manager) if m["Message-ID"].strip() == row["message_id"]]
    assert message["To"].addresses[0].addr_spec == manager
    assert message["From"].addresses[0].addr_spec == "it@example.com"
    assert notice["language"] == "zh-CN" and any("\u4e00" <= c <= "\u9fff" for c in str(message["Subject"]))
    body = message.get_body(("plain",)).get_content()
    assert "zhangwei2@sz.example.com" in body
    for secret in passwords(notify_config):  # no password in what was sent, stored, logged or printed
        assert secret not in output and secret not in body
        assert all(secret not in r["notice"] for r in rows)
    with sqlite3.connect(notify_config.parent / "state.db") as conn:
        logged = " ".join(" ".join(map(str, r)) for r in conn.execute("select * from action_log"))
    assert not any(secret in logged for secret in passwords(notify_config))
    # A second cycle sends nothing again.
    assert run(notify_config, capfd, "apply", "--now", DAY_ONE)[0] == 0
    assert every_notice_arrived_once(notify_config, dovecot) == len(rows)


KILLED_AFTER_ACCEPT = textwrap.dedent("""
    import os, signal, sys
    from connectors.smtp_sender import SmtpSender
    from lifecycle.domain.settings import load_settings
    from lifecycle.engine.outbox_delivery import deliver_outbox
    from lifecycle.journal.store import Journal

    class Dies(SmtpSender):
        def send(self, message, recipients):
            refused = super().send(message, recipients)  # the relay took it...
            os.kill(os.getpid(), signal.SIGKILL)  # ...and the process dies before marking it sent
            return refused

    settings = load_settings(sys.argv[1])
    deliver_outbox(Journal(settings.state.url), Dies(settings.notify), settings, companion=None, vault=None)
""")


@pytest.mark.servers
def test_killed_between_accepted_and_marked_the_notice_arrives_exactly_once(
    notify_config: Path, dovecot: DovecotInstance, smtp: SmtpServer, capfd
) -> None:
    smtp.fail(True)  # the cycle applies; its notices wait in the outbox
    assert run(notify_config, capfd, "apply", "--now", DAY_ONE)[0] == 0
    smtp.fail(False)
    waiting = [r for r in outbox(notify_config) if r["status"] == "queued"]
    assert len(waiting) > 3 and any(r["event"] == "joiner" for r in waiting)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    settings = load_settings(notify_config)
    journal = Journal(settings.state.url)
    try:
        sender = open_sender(settings)
        later = datetime.now(UTC) + timedelta(hours=2)  # past the back-off of the one tried during the outage
        # Let the killer find due rows: send all but three now, so it works on a fresh one.
        with journal.engine.begin() as conn:
            conn.exec_driver_sql("update outbox set next_attempt_at = NULL where status = 'queued'")
        killed = subprocess.run([sys.executable, "-c", KILLED_AFTER_ACCEPT, str(notify_config)], env=env,
                                capture_output=True, text=True, timeout=120)
        assert killed.returncode == -9, killed.stderr
        (interrupted,) = [r for r in outbox(notify_config) if r["status"] == "sending"]
        notice = json.loads(interrupted["notice"])
        (address,) = notice["to"]
        assert copies(dovecot, address, interrupted["message_id"]) == 1  # it did arrive

        with journal.engine.begin() as conn:  # the next cycle comes after recheck_minutes (1)
            conn.exec_driver_sql("update outbox set attempted_at = ? where id = ?",
                                 ((datetime.now(UTC) - timedelta(minutes=2)).isoformat(timespec="seconds"),
                                  interrupted["id"]))
        assert run(notify_config, capfd, "apply", "--now", DAY_ONE)[0] == 0  # the next cycle re-checks, then sends
        deliver_outbox(journal, sender, settings, companion=None, vault=None, now=later)
        sender.close()
    finally:
        journal.close()
    after = {r["id"]: r for r in outbox(notify_config)}
    assert after[interrupted["id"]]["status"] == "sent"
    assert copies(dovecot, address, interrupted["message_id"]) == 1  # found in the mailbox: not sent twice
    every_notice_arrived_once(notify_config, dovecot)


def test_an_smtp_outage_over_several_cycles_delays_the_notices_and_loses_none(
    notify_config: Path, dovecot: DovecotInstance, smtp: SmtpServer, capfd
) -> None:
    smtp.stop()
    sizes = []
    for day in ("2026-12-01T09:00", "2026-12-01T10:00", "2026-12-01T11:00"):
        code, output = run(notify_config, capfd, "apply", "--now", day)
        assert code == 0, output  # the cycle goes on
        sizes.append(sum(1 for r in outbox(notify_config) if r["status"] in ("queued", "held", "sending")))
    assert sizes[0] > 3 and sizes == sorted(sizes)
    assert any(r["event"] == "joiner" for r in outbox(notify_config))
    assert all(r["status"] == "queued" for r in outbox(notify_config))
    assert smtp.received == []

    smtp.start()
    assert run(notify_config, capfd, "apply", "--now", "2026-12-01T12:00")[0] == 0
    settings = load_settings(notify_config)
    journal = Journal(settings.state.url)
    sender = open_sender(settings)
    try:  # the ones tried during the outage wait out their back-off
        deliver_outbox(journal, sender, settings, companion=None, vault=None, now=datetime.now(UTC) + timedelta(hours=2))
    finally:
        sender.close()
        journal.close()
    assert every_notice_arrived_once(notify_config, dovecot) == sizes[-1]
