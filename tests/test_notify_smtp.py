"""The notices' SMTP driver (connectors.smtp_sender) against a real SMTP server (devservers/smtp.py: aiosmtpd).

Delivery goes on into the real test Dovecot over LMTP, with the recipients resolved by Modoboa's own Postfix
map queries: a notice is read back from the mailbox as Dovecot stored it.  TLS is real (a certificate made
for 127.0.0.1 with openssl), so is AUTH; outages are the server answering 451/421, stopped, or silent.
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import devservers.smtp
from connectors.mail_modoboa import ModoboaBackend
from connectors.notices import compose
from connectors.smtp_sender import SmtpSender, read_smtp_password
from devservers.dovecot import DovecotInstance
from devservers.modoboa import ModoboaInstance
from devservers.smtp import SmtpServer, self_signed_cert
from lifecycle.domain.errors import ConfigError, TransientError
from lifecycle.domain.notices import Notice, NoticeEvent
from lifecycle.domain.notify_settings import NotifySettings
from lifecycle.journal.outbox import message_id_for

pytestmark = pytest.mark.servers  # the SMTP server of each test, and openssl for its certificate

MANAGER = "li.na@example.com"
MAILBOX_PASSWORD = "Known-Pass-2024"
SMTP_USER, SMTP_PASSWORD = "notify", "Smtp-Secret-7781"
SENDER = "IT 信息部 <it@example.com>"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture
def trusting(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    """A client context that trusts the test certificate, and only it."""
    return ssl.create_default_context(cafile=str(certificate[0]))


@pytest.fixture
def sink() -> Iterator[SmtpServer]:
    """An SMTP server without Dovecot: it keeps what it accepts."""
    with SmtpServer() as server:
        yield server


def settings(server: SmtpServer, **values: object) -> NotifySettings:
    return NotifySettings.model_validate({"smtp_url": server.url, "sender": SENDER, "timeout_seconds": 10, **values})


def message(subject: str = "a notice", message_id: str = "<n.1@lifecycle.test>") -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"], mail["Message-ID"] = SENDER, MANAGER, subject, message_id
    mail.set_content("hello\n")
    return mail


def joiner_notice(cc: tuple[str, ...]) -> Notice:
    facts = {
        "name": "张伟", "employee_id": "100231", "company": "SZ", "company_name": "深圳分公司", "account": "zhangwei",
        "address": "zhangwei@example.com", "manager_name": "李娜", "contact": "it-sz@partner.test", "password_page": "",
        "start_date": "2026-12-14", "department": "财务部", "title": "会计", "password_delivery": "file",
    }
    return Notice(event=NoticeEvent.JOINER, company="SZ", employee_id="100231", to=(MANAGER,), cc=cc, language="zh-CN",
                  facts=facts, cause=("create_account", "100231", "zhangwei"))


def mailbox_messages(dovecot: DovecotInstance, address: str) -> list[EmailMessage]:
    """Every message of the mailbox as stored by Dovecot (doveadm fetch: what an IMAP reader gets, without a login)."""
    result = dovecot.doveadm("-f", "json", "fetch", "-u", address, "text", "all")
    found = []
    for row in json.loads(result.stdout or "[]"):
        parsed = email.message_from_bytes(row["text"].encode("utf-8"), policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        found.append(parsed)
    return found


# -- delivery into a real mailbox ----------------------------------------------------


def test_a_composed_notice_reaches_the_mailbox_and_a_refused_recipient_is_returned(
    dovecot: DovecotInstance, modoboa: ModoboaInstance, mail_backend: ModoboaBackend
) -> None:
    mail_backend.ensure_domains(["example.com"])
    mail_backend.create_mailbox(MANAGER, "Li Na", 100, MAILBOX_PASSWORD)
    notice = joiner_notice(cc=("it-sz@partner.test", "nobody@example.com"))
    composed = compose(notice, sender=SENDER, message_id="<joiner.100231.ab12@lifecycle.test>",
                       zone=ZoneInfo("Asia/Shanghai"), now=datetime(2026, 12, 7, 1, 30, tzinfo=UTC))
    with SmtpServer(dovecot, modoboa.db_path) as server, SmtpSender(settings(server)) as sender:
        refused = sender.send(composed, [*notice.to, *notice.cc])
        # Dovecot has no mailbox for nobody@: refused at RCPT, the others accepted.
        assert list(refused) == ["nobody@example.com"] and refused["nobody@example.com"].startswith("550")
        assert server.relayed[0][0] == ("it-sz@partner.test",)  # outside the Modoboa domains: relayed, not delivered
        assert server.delivered == [(MANAGER, "<joiner.100231.ab12@lifecycle.test>")]

    [received] = mailbox_messages(dovecot, MANAGER)
    assert received["Message-ID"] == "<joiner.100231.ab12@lifecycle.test>"
    assert received["From"].addresses[0].display_name == "IT 信息部"
    assert received["From"].addresses[0].addr_spec == "it@example.com"
    assert received["To"] == MANAGER and "it-sz@partner.test" in received["Cc"]
    assert str(received["Subject"]).strip() == "新员工账号已开通：张伟（2026年12月14日入职）"
    assert received["Date"] == "Mon, 07 Dec 2026 09:30:00 +0800"
    assert received["Auto-Submitted"] == "auto-generated" and received["Content-Language"] == "zh-CN"
    plain, html = received.get_body(("plain",)), received.get_body(("html",))
    assert plain is not None and html is not None
    assert "账号：zhangwei" in plain.get_content() and "入职日期：2026年12月14日" in plain.get_content()
    assert '<html lang="zh-CN">' in html.get_content() and "zhangwei@example.com" in html.get_content()
    assert [part.get_content_type() for part in received.iter_parts()] == ["text/plain", "text/html"]


# -- TLS ---------------------------------------------------------------------------------


def test_starttls_with_a_verified_certificate(
    certificate: tuple[Path, Path], trusting: ssl.SSLContext
) -> None:
    with SmtpServer(tls_cert=certificate) as server:
        with SmtpSender(settings(server, require_tls=True), ssl_context=trusting) as sender:
            assert sender.check() == []
            assert sender.send(message(), [MANAGER]) == {}
        assert server.encrypted == [True]
        # The system's CAs do not know the test certificate: refused, and said how to fix it.
        with SmtpSender(settings(server)) as untrusting:
            [problem] = untrusting.check()
            assert "does not verify" in problem and "update-ca-certificates" in problem
            with pytest.raises(ConfigError, match="certificate does not verify"):
                untrusting.send(message(), [MANAGER])
        assert len(server.received) == 1


def test_a_certificate_made_with_openssl_serves_as_well(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the venv has no `cryptography`, self_signed_cert() uses `openssl req`: the result must verify too."""

    def no_cryptography(*args: object) -> None:
        raise ImportError("cryptography")

    monkeypatch.setattr(devservers.smtp, "_self_signed_with_cryptography", no_cryptography)
    made = self_signed_cert(tmp_path)
    with SmtpServer(tls_cert=made) as server:
        trusting = ssl.create_default_context(cafile=str(made[0]))
        with SmtpSender(settings(server, require_tls=True), ssl_context=trusting) as sender:
            assert sender.send(message(), [MANAGER]) == {}
        assert server.encrypted == [True]


def test_smtps_is_tls_from_the_first_byte(certificate: tuple[Path, Path], trusting: ssl.SSLContext) -> None:
    with SmtpServer(tls_cert=certificate, implicit_tls=True) as server:
        assert server.url.startswith("smtps://")
        with SmtpSender(settings(server), ssl_context=trusting) as sender:
            assert sender.send(message(), [MANAGER]) == {}
        assert server.encrypted == [True]


def test_require_tls_refuses_a_relay_without_starttls(sink: SmtpServer) -> None:
    with SmtpSender(settings(sink, require_tls=True)) as sender:
        with pytest.raises(ConfigError, match="offers no STARTTLS and \\[notify\\] require_tls is true"):
            sender.send(message(), [MANAGER])
        [problem] = sender.check()
        assert "require_tls" in problem
    assert sink.received == []
    with SmtpSender(settings(sink)) as plain:  # without require_tls, a local relay in clear is fine
        assert plain.send(message(), [MANAGER]) == {}
    assert sink.encrypted == [False]


# -- AUTH --------------------------------------------------------------------------------


def test_auth_with_the_password_file(
    certificate: tuple[Path, Path], trusting: ssl.SSLContext, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    password_file = tmp_path / "smtp-password"
    password_file.write_text(SMTP_PASSWORD + "\n", encoding="utf-8")
    with SmtpServer(tls_cert=certificate, auth={SMTP_USER: SMTP_PASSWORD}) as server:
        good = settings(server, username=SMTP_USER, password_file=str(password_file))
        assert read_smtp_password(good) == SMTP_PASSWORD  # the trailing newline dropped
        with SmtpSender(good, ssl_context=trusting) as sender:
            assert sender.check() == []
            assert sender.send(message(), [MANAGER]) == {}
        assert server.logins == [SMTP_USER, SMTP_USER] and len(server.received) == 1

        password_file.write_text("Wrong-" + SMTP_PASSWORD + "\n", encoding="utf-8")
        with SmtpSender(good, ssl_context=trusting) as sender:
            with pytest.raises(ConfigError) as refused:
                sender.send(message(), [MANAGER])
            [problem] = sender.check()
        for text in (str(refused.value), problem, repr(refused.value.args)):
            assert "refused the login of 'notify'" in text and "535" in text and "password_file" in text
            assert SMTP_PASSWORD not in text
        # Without AUTH, the server wants it before MAIL.
        with SmtpSender(settings(server), ssl_context=trusting) as anonymous, pytest.raises(ConfigError, match="requires a login"):
            anonymous.send(message(), [MANAGER])
        assert len(server.received) == 1
    output = capsys.readouterr()
    assert SMTP_PASSWORD not in output.out + output.err


def test_a_missing_password_file_is_named(sink: SmtpServer, tmp_path: Path) -> None:
    missing = settings(sink, username=SMTP_USER, password_file=str(tmp_path / "absent"))
    with pytest.raises(ConfigError, match=f"password_file {tmp_path / 'absent'}: cannot read it"):
        read_smtp_password(missing)
    with SmtpSender(missing) as sender:
        [problem] = sender.check()
        assert str(tmp_path / "absent") in problem
    assert read_smtp_password(settings(sink)) is None


# -- outages and refusals ------------------------------------------------------------------


def test_a_stopped_server_is_transient_and_the_sender_reconnects_when_it_is_back(sink: SmtpServer) -> None:
    with SmtpSender(settings(sink)) as sender:
        assert sender.send(message(message_id="<n.1@lifecycle.test>"), [MANAGER]) == {}
        sink.stop()
        with pytest.raises(TransientError, match="connection refused") as down:
            sender.send(message(message_id="<n.2@lifecycle.test>"), [MANAGER])
        assert down.value.connector == "smtp"
        assert sender.check() != []
        sink.start()  # the same port
        assert sender.send(message(message_id="<n.3@lifecycle.test>"), [MANAGER]) == {}
        # The relay drops the connection the sender keeps between sends (a restart): reconnected once, sent.
        sink.stop()
        sink.start()
        assert sender.send(message(message_id="<n.4@lifecycle.test>"), [MANAGER]) == {}
    assert [str(mail["Message-ID"]) for _, mail in sink.received] == [
        "<n.1@lifecycle.test>", "<n.3@lifecycle.test>", "<n.4@lifecycle.test>"
    ]


@pytest.mark.parametrize("reply", ["451 4.3.0 Temporary failure, try again later", "421 4.3.2 Service shutting down"])
def test_a_4xx_answer_is_transient(sink: SmtpServer, reply: str) -> None:
    with SmtpSender(settings(sink)) as sender:
        sink.fail(True, reply)
        with pytest.raises(TransientError, match=reply.split()[0]):
            sender.send(message(), [MANAGER])
        sink.fail(False)
        assert sender.send(message(), [MANAGER]) == {}
    assert len(sink.received) == 1


def test_a_silent_server_times_out_as_transient() -> None:
    with socket.socket() as listener:  # accepts connections (the backlog) and never says a word
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        silent = NotifySettings(smtp_url=f"smtp://127.0.0.1:{port}", timeout_seconds=0.5)
        with SmtpSender(silent) as sender, pytest.raises(TransientError, match="no answer within 0.5 s"):
            sender.send(message(), [MANAGER])


def test_every_recipient_refused_for_now_or_for_good_is_returned_not_raised(sink: SmtpServer) -> None:
    sink.refuse.update({"a@partner.test": "550 5.1.1 <a@partner.test>: user unknown",
                        "b@partner.test": "553 5.7.1 not allowed"})
    with SmtpSender(settings(sink)) as sender:
        refused = sender.send(message(), ["a@partner.test", "b@partner.test"])
        assert refused == {"a@partner.test": "550 5.1.1 <a@partner.test>: user unknown",
                           "b@partner.test": "553 5.7.1 not allowed"}
        # One refused for now, one for good, nothing accepted: both returned, so that the outbox retries the one
        # and gives up on the other, and goes on with its next notice (a raise would stop the drain for 72 h).
        sink.refuse["c@partner.test"] = "450 4.2.0 mailbox busy"
        assert sender.send(message(), ["a@partner.test", "c@partner.test"]) == {
            "a@partner.test": "550 5.1.1 <a@partner.test>: user unknown", "c@partner.test": "450 4.2.0 mailbox busy"}
        assert sender.send(message(), ["c@partner.test"]) == {"c@partner.test": "450 4.2.0 mailbox busy"}
        # The connection is still usable after refusals.
        assert sender.send(message(), ["d@partner.test", "a@partner.test"]) == {
            "a@partner.test": "550 5.1.1 <a@partner.test>: user unknown"
        }
    assert [recipients for recipients, _ in sink.received] == [("d@partner.test",)]


def test_a_421_to_rcpt_is_the_relay_closing_and_transient(sink: SmtpServer) -> None:
    sink.refuse["a@partner.test"] = "421 4.3.2 Service shutting down"
    with SmtpSender(settings(sink)) as sender:
        with pytest.raises(TransientError, match="is closing the connection: a@partner.test: 421"):
            sender.send(message(), ["a@partner.test", "b@partner.test"])
        del sink.refuse["a@partner.test"]
        assert sender.send(message(), ["a@partner.test", "b@partner.test"]) == {}  # reconnected
    assert [recipients for recipients, _ in sink.received] == [("a@partner.test", "b@partner.test")]


@pytest.mark.parametrize("reply", ["452 4.3.1 Insufficient system storage", "554 5.6.0 Message content rejected"])
def test_a_refusal_of_the_message_at_data_is_returned_for_every_recipient(
    sink: SmtpServer, monkeypatch: pytest.MonkeyPatch, reply: str
) -> None:
    """4xx or 5xx to DATA refuses this message, not the relay: the outbox retries or fails it, then goes on."""
    monkeypatch.setattr(sink, "accept", lambda *args, **kwargs: reply)  # the server's answer to DATA
    with SmtpSender(settings(sink)) as sender:
        assert sender.send(message(), [MANAGER, "b@partner.test"]) == {MANAGER: reply, "b@partner.test": reply}
        monkeypatch.setattr(sink, "accept", lambda *args, **kwargs: "421 4.3.2 Service shutting down")
        with pytest.raises(TransientError, match="421 4.3.2"):  # but a relay closing is the relay
            sender.send(message(), [MANAGER])
    assert sink.received == []


@pytest.fixture
def ascii_only_sink() -> Iterator[SmtpServer]:
    """A relay that does not offer SMTPUTF8 (RFC 6531), as many still do not."""
    with SmtpServer() as server:
        assert server._controller is not None
        server._controller.SMTP_kwargs["enable_SMTPUTF8"] = False  # the sessions it starts from now on
        yield server


def test_a_non_ascii_address_to_a_relay_without_smtputf8_is_refused_alone(ascii_only_sink: SmtpServer) -> None:
    refusal = ("553 5.6.7 not sent: 张伟@partner.test is not an ASCII address and SMTP relay "
               f"smtp://127.0.0.1:{ascii_only_sink.port} does not offer SMTPUTF8: enable SMTPUTF8 on the relay, "
               "or give this person an ASCII address")
    with SmtpSender(settings(ascii_only_sink)) as sender:
        assert sender.send(message(), [MANAGER, "张伟@partner.test"]) == {"张伟@partner.test": refusal}
        assert sender.send(message(), ["张伟@partner.test"]) == {"张伟@partner.test": refusal}  # nothing to send
    assert [recipients for recipients, _ in ascii_only_sink.received] == [(MANAGER,)]


# -- the personal notice carries a password: never in clear off this host ----------------------------------


def this_hosts_address() -> str:
    """An address of this machine that is not loopback (the interface of its default route)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent, the kernel picks the interface
        except OSError as exc:  # every machine this suite runs on (and CI's) has a route out: say what is missing
            pytest.fail(f"this test needs an address of this machine besides loopback (a relay on 'another host'): {exc}",
                        pytrace=False)
        return str(probe.getsockname()[0])


def password_message() -> EmailMessage:
    return message("your initial password", message_id_for("initial_password", "run-1", 7, 0, "example.com"))


def test_a_message_carrying_a_password_is_never_sent_in_clear_to_another_host(sink: SmtpServer, tmp_path: Path) -> None:
    with SmtpSender(settings(sink)) as local:  # a relay on this host: the message never crosses the network
        assert local.send(password_message(), ["zhang.wei@partner.test"]) == {}
    host = this_hosts_address()
    with SmtpServer(host=host) as remote, SmtpSender(settings(remote)) as sender:
        with pytest.raises(ConfigError, match="must not cross the network in clear: set \\[notify\\] require_tls = true"):
            sender.send(password_message(), ["zhang.wei@partner.test"])
        assert sender.send(message(), [MANAGER]) == {}  # a notice without a password may go as before
        assert [str(mail["Subject"]) for _, mail in remote.received] == ["a notice"]
    cert = self_signed_cert(tmp_path / "tls", host)
    with SmtpServer(host=host, tls_cert=cert) as remote, SmtpSender(
            settings(remote), ssl_context=ssl.create_default_context(cafile=str(cert[0]))) as sender:
        assert sender.send(password_message(), ["zhang.wei@partner.test"]) == {}  # over STARTTLS
        assert remote.encrypted == [True]
