"""The Dovecot companion and the mail path, against a real Modoboa 2.12 and a real Dovecot 2.3.

Dovecot (devservers/dovecot.py) checks IMAP passwords against the test's
directory (passdb ldap) and finds mailboxes in the Modoboa test instance's
database with the queries of Modoboa's installer; mail is delivered with
`deliver()`: Modoboa's Postfix map queries, then LMTP into Dovecot.  One Dovecot serves the session; every test starts with a clean
Modoboa database and no mail, no session, no archive, no recorded message.
"""

from __future__ import annotations

import email.header
import imaplib
import json
import re
import shutil
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from connectors.mail_dovecot import (
    ARCHIVES_PER_MAILBOX,
    AUTOREPLY_SCRIPT,
    ArchiveNotVerified,
    DoveadmError,
    DovecotCompanion,
    DovecotSettings,
    count_maildir,
)
from connectors.mail_dovecot.doveadm import Doveadm
from connectors.mail_modoboa import CAPABILITIES as MODOBOA_CAPABILITIES
from connectors.mail_modoboa import ModoboaBackend
from devservers.dovecot import DovecotInstance, session_pids
from devservers.modoboa import ModoboaInstance
from devservers.postfix import Delivery, deliver, resolve
from devservers.slapd import Slapd, ssha
from lifecycle.cli.main import main
from lifecycle.domain.errors import ConnectorConfigError, RecordError, TransientError
from lifecycle.domain.mail import MailCapability

DOMAIN = "example.com"
PASSWORD = "Known-Pass-2024"
OUTSIDER = "customer@partner.test"


# -- fixtures -------------------------------------------------------------------


def companion_settings(dovecot: DovecotInstance, **overrides: object) -> DovecotSettings:
    values: dict[str, object] = {
        "api_url": dovecot.api_url,
        "api_key": SecretStr(dovecot.api_key),
        "archive_dir": dovecot.archive_dir,
        "timeout_seconds": 10.0,
    }
    values.update(overrides)
    return DovecotSettings.model_validate(values)


@pytest.fixture
def companion(dovecot: DovecotInstance) -> Iterator[DovecotCompanion]:
    with DovecotCompanion(companion_settings(dovecot)) as instance:
        yield instance


def mailbox(backend: ModoboaBackend, address: str, directory: Slapd | None = None) -> str:
    """A Modoboa mailbox, created the way the engine creates one (no password of its own); with `directory`, its
    person too, whose password (PASSWORD) was already changed (no pwdReset), so IMAP logins work."""
    backend.ensure_domains([address.partition("@")[2]])
    local = address.partition("@")[0]
    backend.create_mailbox(address, local.title(), 100)
    if directory is not None:
        directory.load_ldif(
            f"dn: uid={local},ou=people,{directory.base_dn}\nobjectClass: inetOrgPerson\nuid: {local}\ncn: {local}\n"
            f"sn: {local}\nmail: {address}\nuserPassword: {ssha(PASSWORD)}\n"
        )
    return address


def login(dovecot: DovecotInstance, address: str, password: str = PASSWORD) -> imaplib.IMAP4:
    assert dovecot.imap_port is not None
    connection = imaplib.IMAP4("127.0.0.1", dovecot.imap_port, timeout=10)
    try:
        connection.login(address, password)
    except BaseException:
        connection.shutdown()
        raise
    return connection


def login_fails(dovecot: DovecotInstance, address: str, password: str = PASSWORD) -> bool:
    try:
        connection = login(dovecot, address, password)
    except imaplib.IMAP4.error as exc:
        assert "AUTHENTICATIONFAILED" in str(exc) or "Authentication failed" in str(exc)
        return True
    connection.logout()
    return False


def imap_subjects(dovecot: DovecotInstance, address: str, folder: str = "INBOX") -> list[str]:
    """What the user sees over IMAP (login, select, fetch the subjects)."""
    connection = login(dovecot, address)
    try:
        status, _ = connection.select(folder, readonly=True)
        assert status == "OK"
        status, data = connection.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        subjects = []
        for item in data:
            if isinstance(item, tuple):
                raw = item[1].decode().split(":", 1)[1].strip() if b":" in item[1] else ""
                subjects.append(str(email.header.make_header(email.header.decode_header(raw))))
        return subjects
    finally:
        connection.logout()


def send(dovecot: DovecotInstance, modoboa: ModoboaInstance, recipient: str, subject: str, sender: str = OUTSIDER) -> Delivery:
    return deliver(dovecot, modoboa.db_path, sender, recipient, subject, f"{subject}\n\n-- a test message\n")


def session_ends(connection: imaplib.IMAP4, timeout: float = 5.0) -> bool:
    """True once the server has closed the session (NOOP answered with BYE or the socket closed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            connection.noop()
        except (imaplib.IMAP4.abort, OSError):
            return True
        time.sleep(0.05)
    return False


# -- logins and last login --------------------------------------------------------


def test_imap_login_with_the_directory_password_records_last_login(
    mail_backend: ModoboaBackend, modoboa: ModoboaInstance, dovecot: DovecotInstance, slapd: Slapd
) -> None:
    address = mailbox(mail_backend, "zhangwei@example.com", slapd)
    found = mail_backend.find_mailbox(address)
    assert found is not None and found.last_login is None

    assert login_fails(dovecot, address, "Not-The-Password-0")
    connection = login(dovecot, address)
    connection.logout()

    found = mail_backend.find_mailbox(address)
    assert found is not None and found.last_login is not None
    assert abs(datetime.now(UTC) - found.last_login) < timedelta(minutes=1)
    assert MailCapability.LAST_LOGIN in mail_backend.capabilities()


def test_suspend_blocks_logins_kick_ends_sessions_restore_keeps_all_mail(
    mail_backend: ModoboaBackend, modoboa: ModoboaInstance, dovecot: DovecotInstance, companion: DovecotCompanion, slapd: Slapd
) -> None:
    address = mailbox(mail_backend, "lina@example.com", slapd)
    open_session = login(dovecot, address)
    assert send(dovecot, modoboa, address, "before suspension").delivered == (address,)

    mail_backend.suspend(address)
    assert login_fails(dovecot, address)
    # A suspension only stops new logins: the open session goes on until kicked.
    assert open_session.noop()[0] == "OK"
    assert companion.kick(address) is True
    assert session_ends(open_session)
    deadline = time.monotonic() + 5  # the ended process leaves anvil's list a moment after its socket closed
    while companion.kick(address) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert companion.kick(address) is False  # nothing left to end

    # Mail sent while suspended is NOT bounced on a Modoboa server: suspension
    # disables the account's aliases, Postfix then hands the address to Dovecot
    # unchanged, and the installer's userdb finds inactive accounts too.  It is
    # kept in the mailbox, unseen until the account comes back.
    assert resolve(modoboa.db_path, address).lmtp == (address,)
    while_suspended = send(dovecot, modoboa, address, "while suspended")
    assert while_suspended.delivered == (address,) and while_suspended.bounced == ()
    assert dovecot.subjects(address) == ["before suspension", "while suspended"]

    mail_backend.restore(address)
    assert send(dovecot, modoboa, address, "after restore").delivered == (address,)
    assert imap_subjects(dovecot, address) == ["before suspension", "while suspended", "after restore"]


def test_mail_to_a_departed_person_reaches_the_manager(
    mail_backend: ModoboaBackend, modoboa: ModoboaInstance, dovecot: DovecotInstance, companion: DovecotCompanion, slapd: Slapd
) -> None:
    manager = mailbox(mail_backend, "boss@example.com", slapd)
    leaver = mailbox(mail_backend, "leaver@example.com")
    assert send(dovecot, modoboa, leaver, "while employed").delivered == (leaver,)

    mail_backend.suspend(leaver)
    mail_backend.set_forward(leaver, [manager])
    forwarded = send(dovecot, modoboa, leaver, "after leaving")
    assert forwarded.expanded == (manager,)
    assert forwarded.delivered == (manager,)
    assert imap_subjects(dovecot, manager) == ["after leaving"]
    assert dovecot.subjects(leaver) == ["while employed"]  # the forward keeps no copy

    # So an auto-reply in the leaver's mailbox never runs while such a forward is set.
    companion.put_autoreply(leaver, "Left", f"Please write to {manager}.")
    assert send(dovecot, modoboa, leaver, "forwarded, no reply").delivered == (manager,)
    assert dovecot.sent_messages() == []

    # Addresses that do not exist bounce at Dovecot; foreign domains at Postfix.
    unknown = send(dovecot, modoboa, "nobody@example.com", "lost")
    assert unknown.delivered == () and unknown.bounced_addresses == ("nobody@example.com",)
    assert unknown.bounced[0][1].startswith("550")
    relay = send(dovecot, modoboa, "someone@elsewhere.test", "relay")
    assert relay.bounced == (("someone@elsewhere.test", "554 5.7.1 Relay access denied"),)


# -- backup -------------------------------------------------------------------------


def inbox_guid(dovecot: DovecotInstance, address: str) -> str:
    return dovecot.doveadm("-f", "flow", "mailbox", "status", "-u", address, "guid", "INBOX").stdout.split("guid=")[1].strip()


def first_message_file(archive: Path) -> Path:
    return next(path for sub in ("new", "cur") for path in sorted((archive / sub).iterdir()))


class DamagesEachArchive(httpx.BaseTransport):
    """The real API, but right after each backup that succeeded one message file of its archive is gone (a disk fault)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        sent = json.loads(request.content or b"null")
        if sent and sent[0][0] == "backup":
            response.read()
            if response.json()[0][0] == "doveadmResponse":
                first_message_file(Path(sent[0][1]["destination"][0].removeprefix("maildir:"))).unlink()
        return response


def test_backup_exports_every_folder_and_verifies_the_count(
    mail_backend: ModoboaBackend, modoboa: ModoboaInstance, dovecot: DovecotInstance, slapd: Slapd
) -> None:
    address = mailbox(mail_backend, "wangfang@example.com", slapd)
    for n in range(3):
        assert send(dovecot, modoboa, address, f"message {n}").delivered == (address,)
    connection = login(dovecot, address)
    try:
        connection.select("INBOX")
        assert connection.copy("1", "Trash")[0] == "OK"
        connection.store("1", "+FLAGS", "\\Deleted")
        connection.expunge()
        message = b"From: wangfang@example.com\r\nTo: x@partner.test\r\nSubject: sent by her\r\n\r\nhello\r\n"
        assert connection.append("Sent", "\\Seen", None, message)[0] == "OK"
    finally:
        connection.logout()
    mail_backend.suspend(address)  # a leaver's mailbox is exported after the suspension

    with DovecotCompanion(companion_settings(dovecot)) as companion:
        assert companion.message_count(address) == 4 == dovecot.message_count(address)
        archive = companion.backup(address)
        assert send(dovecot, modoboa, address, "arrived after the export").delivered == (address,)
        again = companion.backup(address)  # a retry: the same archive, brought up to date

    assert archive == dovecot.archive_dir / DOMAIN / f"wangfang-{inbox_guid(dovecot, address)}"
    assert again == archive and [p.name for p in (dovecot.archive_dir / DOMAIN).iterdir()] == [archive.name]
    assert count_maildir(archive) == 5 == dovecot.message_count(address)  # the export took nothing away
    assert count_maildir(archive / ".Trash") == 1 and count_maildir(archive / ".Sent") == 1


def test_backup_that_does_not_match_the_mailbox_is_refused_and_replaced_at_the_next_try(
    mail_backend: ModoboaBackend, modoboa: ModoboaInstance, dovecot: DovecotInstance
) -> None:
    address = mailbox(mail_backend, "liqiang@example.com")
    for n in range(2):
        assert send(dovecot, modoboa, address, f"message {n}").delivered == (address,)
    first = dovecot.archive_dir / DOMAIN / f"liqiang-{inbox_guid(dovecot, address)}"

    with (
        DovecotCompanion(companion_settings(dovecot), transport=DamagesEachArchive()) as damaging,
        pytest.raises(ArchiveNotVerified) as caught,
    ):
        damaging.backup(address)
    message = str(caught.value)
    assert "archive not verified, the mailbox is kept (not deleted)" in message
    assert f"{first} holds 1 messages, the mailbox 2" in message
    assert re.search(rf"unverified: {re.escape(str(first))} \(owner \S+, mode 0700\)", message), message
    assert f"fix: the next try brings {first} up to date, or writes a fresh archive beside it" in message
    assert dovecot.message_count(address) == 2

    # The next try: dsync cannot bring an archive that lost a file up to date (exit code 65), so one
    # fresh archive replaces it; a later try brings that one up to date instead of writing another.
    with DovecotCompanion(companion_settings(dovecot)) as companion:
        replaced = companion.backup(address)
        assert send(dovecot, modoboa, address, "arrived later").delivered == (address,)
        again = companion.backup(address)
    assert replaced == again == first.with_name(f"{first.name}-2")
    assert count_maildir(replaced) == 3 == dovecot.message_count(address)
    assert sorted(p.name for p in (dovecot.archive_dir / DOMAIN).iterdir()) == [first.name, replaced.name]


def test_archives_that_keep_failing_stop_at_the_limit_until_removed(
    mail_backend: ModoboaBackend, modoboa: ModoboaInstance, dovecot: DovecotInstance
) -> None:
    address = mailbox(mail_backend, "liqiang@example.com")
    for n in range(2):
        assert send(dovecot, modoboa, address, f"message {n}").delivered == (address,)
    first = dovecot.archive_dir / DOMAIN / f"liqiang-{inbox_guid(dovecot, address)}"
    expected = [first.name, *(f"{first.name}-{n}" for n in range(2, ARCHIVES_PER_MAILBOX + 1))]

    with DovecotCompanion(companion_settings(dovecot), transport=DamagesEachArchive()) as damaging:
        for _cycle in range(ARCHIVES_PER_MAILBOX + 2):  # retried every cycle, the fault lasting
            with pytest.raises(ArchiveNotVerified) as caught:
                damaging.backup(address)
    assert sorted(p.name for p in (dovecot.archive_dir / DOMAIN).iterdir()) == expected
    assert f"{ARCHIVES_PER_MAILBOX} archives of this mailbox failed" in str(caught.value)
    assert "remove them on the Dovecot server" in str(caught.value)
    assert caught.value.archives == [first.with_name(name) for name in expected]
    assert dovecot.message_count(address) == 2

    for name in expected:  # the fix the message gives
        shutil.rmtree(first.with_name(name))
    with DovecotCompanion(companion_settings(dovecot)) as companion:
        assert companion.backup(address) == first
    assert count_maildir(first) == 2


# The demo HR file's 马超 (Shenzhen) leaves on 2027-01-15; retention is 90 days.
LEAVER, LEAVER_ADDRESS = "100028", "machao@sz.example.com"


def run(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_mailbox_whose_archive_is_not_verified_is_never_deleted(
    config: Path,
    mail_backend: ModoboaBackend,
    modoboa: ModoboaInstance,
    dovecot: DovecotInstance,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with open(config, "a", encoding="utf-8") as handle:
        handle.write(
            f"""
[mail]
url = "{modoboa.url}"
token = "{modoboa.token}"
max_writes_per_second = 1000
max_requests_per_minute = 1000000

[mail.dovecot]
api_url = "{dovecot.api_url}"
api_key = "{dovecot.api_key}"
archive_dir = "{dovecot.archive_dir}"
"""
        )
    assert run(config, capsys, "apply", "--now", "2026-12-01T09:00")[0] == 0
    assert send(dovecot, modoboa, LEAVER_ADDRESS, "before leaving").delivered == (LEAVER_ADDRESS,)
    assert run(config, capsys, "apply", "--now", "2027-01-16T09:00")[0] == 0

    export = Doveadm.run

    def export_then_lose_a_message(self: Doveadm, command: str, parameters: dict, **kwargs: object) -> list:
        rows = export(self, command, parameters, **kwargs)  # type: ignore[arg-type]
        if command == "backup":
            first_message_file(Path(parameters["destination"][0].removeprefix("maildir:"))).unlink()
        return rows

    monkeypatch.setattr(Doveadm, "run", export_then_lose_a_message)
    for cycle in ("09:00", "09:15", "09:30", "09:45", "10:00"):  # retention over: archive and delete, cycle after cycle
        _code, out, err = run(config, capsys, "apply", "--now", f"2027-04-17T{cycle}")
        assert mail_backend.find_mailbox(LEAVER_ADDRESS) is not None, out + err
        assert dovecot.message_count(LEAVER_ADDRESS) == 1
    archives = sorted((dovecot.archive_dir / "sz.example.com").glob("machao-*"))
    assert len(archives) == ARCHIVES_PER_MAILBOX  # not one more per cycle
    _code, out, _ = run(config, capsys, "log", "--employee", LEAVER, "--format", "json")
    entries = json.loads(out)
    assert not [e for e in entries if e["kind"] in ("archive_mailbox", "delete_mailbox") and e["status"] == "applied"]
    failed = [e for e in entries if e["kind"] == "archive_mailbox" and e["status"] == "failed"]
    assert len(failed) == 5 and "the mailbox is kept (not deleted)" in failed[-1]["error"], failed[-1]
    assert [e["status"] for e in entries if e["kind"] == "delete_mailbox"] == ["skipped"] * 5

    monkeypatch.undo()  # the fault found and gone, the admin removes the unverified archives (the message's fix)
    for archive in archives:
        shutil.rmtree(archive)
    assert run(config, capsys, "apply", "--now", "2027-04-17T10:15")[0] == 0
    assert mail_backend.find_mailbox(LEAVER_ADDRESS) is None
    [archive] = (dovecot.archive_dir / "sz.example.com").glob("machao-*")
    assert count_maildir(archive) == 1


# -- auto-reply -------------------------------------------------------------------


def test_autoreply_answers_mail_to_a_departed_person_with_the_managers_address(
    mail_backend: ModoboaBackend, modoboa: ModoboaInstance, dovecot: DovecotInstance, companion: DovecotCompanion
) -> None:
    manager = mailbox(mail_backend, "boss@example.com")
    leaver = mailbox(mail_backend, "zhangwei@example.com")
    # The person's own filter script, active before they left.
    dovecot.doveadm(
        "sieve", "put", "-u", leaver, "-a", "filters", stdin=b'require ["fileinto"];\nif false { fileinto "Junk"; }\n'
    )
    mail_backend.suspend(leaver)

    subject = "张伟已离职 / Zhang Wei has left"
    text = f"张伟已离职。Zhang Wei has left the company, please write to {manager}."
    companion.put_autoreply(leaver, subject, text)
    companion.put_autoreply(leaver, subject, text)  # again: the same, still remembering "filters"

    first = send(dovecot, modoboa, leaver, "a question")
    assert first.delivered == (leaver,)
    replies = dovecot.sent_messages()
    assert len(replies) == 1
    reply = replies[0]
    assert reply["X-Lifecycle-Sendmail-Args"].split()[-1] == OUTSIDER  # the envelope recipient
    assert [a.addr_spec for a in reply["To"].addresses] == [OUTSIDER]
    assert reply["Subject"] == subject
    assert reply["Auto-Submitted"].startswith("auto-replied")
    assert reply["In-Reply-To"] == first.message_id
    assert manager in reply.get_content()

    send(dovecot, modoboa, leaver, "a second question")
    assert len(dovecot.sent_messages()) == 1  # once per sender per autoreply_days

    companion.remove_autoreply(leaver)
    companion.remove_autoreply(leaver)  # absent is fine
    send(dovecot, modoboa, leaver, "from someone else", sender="other@partner.test")
    assert len(dovecot.sent_messages()) == 1
    listing = dovecot.doveadm("sieve", "list", "-u", leaver).stdout
    assert AUTOREPLY_SCRIPT not in listing
    assert re.search(r"^filters\s+ACTIVE", listing, re.MULTILINE)


# -- check, settings, errors ----------------------------------------------------------


def test_check_and_capabilities(dovecot: DovecotInstance, companion: DovecotCompanion, tmp_path: Path) -> None:
    assert companion.check() == []
    expected = {MailCapability.AUTO_REPLY, MailCapability.EXPORT, MailCapability.KICK_SESSIONS}
    assert expected == DovecotCompanion.CAPABILITIES
    assert not DovecotCompanion.CAPABILITIES & MODOBOA_CAPABILITIES  # adds, never overlaps

    wrong_key = "not-the-key-0123456789"
    with DovecotCompanion(companion_settings(dovecot, api_key=SecretStr(wrong_key))) as bad:
        problems = bad.check()
        assert len(problems) == 1 and "HTTP 401" in problems[0] and wrong_key not in problems[0]
        with pytest.raises(ConnectorConfigError) as caught:
            bad.kick("someone@example.com")
        assert wrong_key not in str(caught.value)

    with DovecotCompanion(companion_settings(dovecot, archive_dir=tmp_path / "missing")) as no_archive:
        assert [p for p in no_archive.check() if "does not exist on the Dovecot server" in p]

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
        with DovecotCompanion(companion_settings(dovecot, api_url=closed)) as unreachable:
            assert "is unreachable" in unreachable.check()[0]
            with pytest.raises(TransientError):
                unreachable.message_count("someone@example.com")


def test_errors_are_mapped(dovecot: DovecotInstance, companion: DovecotCompanion) -> None:
    with pytest.raises(DoveadmError, match="no such user") as caught:
        companion.message_count("nobody@example.com")
    assert isinstance(caught.value, RecordError) and caught.value.exit_code == 67
    with pytest.raises(RecordError, match="single e-mail address"):
        companion.kick("*@example.com")  # a mask would kick everyone
    with pytest.raises(RecordError, match="single e-mail address"):
        companion.kick("not-an-address")
    with pytest.raises(RecordError, match="single e-mail address"):
        companion.backup("someone@..")  # archive_dir/<domain> must stay inside archive_dir

    def answer(status: int, body: object) -> DovecotCompanion:
        transport = httpx.MockTransport(lambda request: httpx.Response(status, json=body))
        return DovecotCompanion(companion_settings(dovecot), transport=transport)

    with answer(500, {}) as broken, pytest.raises(TransientError, match="HTTP 500"):
        broken.kick("a@example.com")
    with answer(403, {}) as forbidden, pytest.raises(ConnectorConfigError):
        forbidden.kick("a@example.com")
    busy = answer(200, [["error", {"type": "exitCode", "exitCode": 75}, "lifecycle-1"]])
    with busy, pytest.raises(TransientError, match="temporary failure"):
        busy.backup("a@example.com")
    old = answer(200, [["error", {"type": "unknownMethod", "exitCode": 0}, "lifecycle-1"]])
    with old, pytest.raises(ConnectorConfigError, match="no command sieveList"):
        old.put_autoreply("a@example.com", "s", "t")


def test_settings() -> None:
    settings = DovecotSettings(api_url="http://mail.example.com:8080/", api_key=SecretStr("k"), archive_dir=Path("/srv/a"))
    assert settings.api_url == "http://mail.example.com:8080/doveadm/v1"
    with pytest.raises(ValidationError, match="api_key_file"):
        DovecotSettings(api_url="http://x:8080", archive_dir=Path("/srv/a"))
    with pytest.raises(ValidationError, match="absolute"):
        DovecotSettings(api_url="http://x:8080", api_key=SecretStr("k"), archive_dir=Path("relative"))
    with pytest.raises(ValidationError, match="mail location"):
        DovecotSettings(api_url="http://x:8080", api_key=SecretStr("k"), archive_dir=Path("/srv/a:INDEX=x"))
    with pytest.raises(ValidationError, match="http"):
        DovecotSettings(api_url="ftp://x", api_key=SecretStr("k"), archive_dir=Path("/srv/a"))


def test_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "dovecot-key"
    key_file.write_text("s3cret\n", encoding="utf-8")
    settings = DovecotSettings(api_url="http://x:8080", api_key_file=key_file, archive_dir=Path("/srv/a"))
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)


# -- the instance itself ----------------------------------------------------------------


def test_a_stopped_instance_leaves_nothing_running(modoboa_server: ModoboaInstance, tmp_path: Path) -> None:
    instance = DovecotInstance(tmp_path / "own", modoboa_server.db_path)
    with instance:
        instance.start()
        master = instance.master_pid
        assert master is not None and len(session_pids(master)) >= 3
        data_dir = instance.data_dir
        assert instance.imap_port is not None
        imaplib.IMAP4("127.0.0.1", instance.imap_port, timeout=5).shutdown()
    assert session_pids(master) == []
    assert not instance.running
    assert not data_dir.exists() or data_dir == instance.workdir
    shutil.rmtree(tmp_path / "own")
