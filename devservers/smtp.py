"""A real SMTP server (aiosmtpd, RFC 5321) for the notices' tests and the demo, delivering into the test Dovecot.

`SmtpServer(dovecot, modoboa_db).start()` listens on 127.0.0.1 in a background thread
(aiosmtpd.controller.Controller) and plays the relay a Modoboa server's Postfix would be for the daemon:

- every RCPT is resolved with devservers/postfix.py's `resolve()` (Modoboa's own Postfix map queries);
  an address of a Modoboa domain is verified with Dovecot over LMTP at once (like Postfix's
  `reject_unverified_recipient`: no mailbox, 550 to RCPT), so a refusal reaches the client;
- DATA hands the message to Dovecot over LMTP, one transaction per mailbox (as Postfix's lmtp client);
- an address outside the Modoboa domains is accepted (the daemon is a trusted client: `permit_mynetworks`)
  and kept in `.relayed` instead of leaving this machine;
- `.received` lists every accepted message, `(recipients, message)`.

Without a Dovecot or a Modoboa database every recipient is "relayed": the server is then a sink that keeps
what it accepts (for the SMTP-only tests).

Outages: `fail(True)` answers 451 (or the reply given, such as 421) to MAIL, RCPT and DATA until
`fail(False)`; `stop()` then `start()` again listens on the same port (an outage for a while); `stop()`
also ends the open connections, as a stopping Postfix does.  `tls_cert=(cert, key)` offers STARTTLS
(`implicit_tls=True`: TLS from the first byte, smtps://); `self_signed_cert()` makes one for 127.0.0.1
(with `cryptography`, or `openssl req` where the venv lacks it).
`auth={"user": "password"}` offers AUTH PLAIN and LOGIN (after STARTTLS when TLS is on) and requires it
before MAIL.
"""

from __future__ import annotations

import asyncio
import email.policy
import ipaddress
import logging
import smtplib
import ssl
import subprocess
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from devservers.dovecot import DovecotInstance
from devservers.postfix import resolve
from devservers.processes import free_port

LMTP_TIMEOUT = 30.0
HOSTNAME = "mx.lifecycle.test"


class _NoLoginDataWarning(logging.Filter):
    """aiosmtpd 1.4 warns of its own deprecated Session.login_data at every successful AUTH: noise in the tests."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_NoLoginDataWarning())


def self_signed_cert(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate for `host` (and localhost) and its key, (cert.pem, key.pem) in `directory`.

    The certificate is its own CA: a client trusts it with `ssl.create_default_context(cafile=cert)`.
    Made with `cryptography` when the venv has it, else with the system's `openssl req`.
    """
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        _self_signed_with_cryptography(cert, key, host)
    except ImportError:
        san = f"IP:{host}" if _is_ip(host) else f"DNS:{host}"
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={host}",
                "-addext", f"subjectAltName={san},DNS:localhost",
                "-addext", "basicConstraints=critical,CA:TRUE",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
    return cert, key


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _self_signed_with_cryptography(cert: Path, key: Path, host: str) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    alt: list[x509.GeneralName] = [x509.DNSName("localhost")]
    alt.insert(0, x509.IPAddress(ipaddress.ip_address(host)) if _is_ip(host) else x509.DNSName(host))
    now = datetime.now(UTC)
    public = private.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(private, hashes.SHA256())
    )
    key.write_bytes(
        private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key.chmod(0o600)
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def _coded(reply: str, code: str = "550") -> str:
    """resolve()'s refusals carry an enhanced code alone ("5.4.6 ...") where SMTP needs a reply code first."""
    return reply if reply[:3].isdigit() else f"{code} {reply}"


def _relay_denied(address: str, modoboa_db: Path) -> bool:
    """Outside every Modoboa domain (resolve() answers Postfix's 554 Relay access denied and nothing else)."""
    routing = resolve(modoboa_db, address)
    return not routing.expanded and any(reply.startswith("554 5.7.1") for _, reply in routing.bounced)


class _Handler:
    """aiosmtpd's hooks: the Postfix-like routing of SmtpServer (see the module doc)."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_MAIL(  # aiosmtpd's hook names
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.server.failing is not None:
            return self.server.failing
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.server.failing is not None:
            return self.server.failing
        refusal = await asyncio.to_thread(self.server.verify, address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        if self.server.failing is not None:
            return self.server.failing
        content = envelope.original_content or envelope.content or b""
        data = content if isinstance(content, bytes) else content.encode("utf-8")
        secure = session.ssl is not None or self.server.implicit_tls
        return await asyncio.to_thread(
            self.server.accept, envelope.mail_from or "", list(envelope.rcpt_tos), data, secure=secure
        )


class _Controller(Controller):
    """aiosmtpd's threaded controller, keeping the sessions it starts so that stop() can end them."""

    def __init__(self, handler: Any, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.sessions: list[SMTP] = []

    def factory(self) -> SMTP:
        smtp = super().factory()
        self.sessions.append(smtp)
        return smtp

    def end_sessions(self) -> None:
        async def close_all() -> None:
            for smtp in self.sessions:
                transport = smtp.transport
                if transport is not None and not transport.is_closing():
                    transport.abort()
            await asyncio.sleep(0)

        if self.loop.is_running():
            asyncio.run_coroutine_threadsafe(close_all(), self.loop).result(timeout=10)


class SmtpServer:
    """An SMTP server on 127.0.0.1 delivering into the test Dovecot (see the module doc)."""

    def __init__(
        self,
        dovecot: DovecotInstance | None = None,
        modoboa_db: Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls_cert: tuple[Path, Path] | None = None,
        implicit_tls: bool = False,
        auth: Mapping[str, str] | None = None,
    ) -> None:
        if implicit_tls and tls_cert is None:
            raise ValueError("implicit_tls needs tls_cert")
        self.dovecot = dovecot
        self.modoboa_db = Path(modoboa_db) if modoboa_db is not None else None
        self.host = host
        self.port = port
        self.tls_cert = tls_cert
        self.implicit_tls = implicit_tls
        self.auth = dict(auth) if auth is not None else None
        self.received: list[tuple[tuple[str, ...], EmailMessage]] = []
        """Every accepted message: (its envelope recipients, the message)."""
        self.encrypted: list[bool] = []
        """For each accepted message: whether it came over TLS (STARTTLS or smtps)."""
        self.relayed: list[tuple[tuple[str, ...], EmailMessage]] = []
        """Messages for addresses outside the Modoboa domains: (those addresses, the message)."""
        self.delivered: list[tuple[str, str]] = []
        """(mailbox, Message-ID) for every LMTP delivery Dovecot accepted."""
        self.bounced: list[tuple[str, str]] = []
        """(mailbox, reply) for every LMTP delivery Dovecot refused for good after DATA."""
        self.refuse: dict[str, str] = {}
        """Addresses to refuse at RCPT with the reply given (for a server without Dovecot)."""
        self.logins: list[str] = []
        """Users whose AUTH succeeded."""
        self.failing: str | None = None
        self._controller: _Controller | None = None
        self._lock = threading.Lock()

    # -- life -----------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"{'smtps' if self.implicit_tls else 'smtp'}://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> Self:
        """Listen (on the same port as before after a stop())."""
        if self._controller is not None:
            return self
        if not self.port:
            self.port = free_port()
        context = self._tls_context()
        options: dict[str, Any] = {
            "hostname": self.host,
            "port": self.port,
            "server_hostname": HOSTNAME,
            "ready_timeout": 10.0,
            "decode_data": False,
            "enable_SMTPUTF8": True,
        }
        if context is not None and self.implicit_tls:
            options["ssl_context"] = context
        elif context is not None:
            options["tls_context"] = context
        if self.auth is not None:
            options.update(
                authenticator=self._authenticate,
                auth_required=True,
                auth_require_tls=context is not None and not self.implicit_tls,
            )
        controller = _Controller(_Handler(self), **options)
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        """Stop listening and end the open connections; start() listens again on the same port."""
        controller, self._controller = self._controller, None
        if controller is None:
            return
        controller.end_sessions()
        controller.stop()

    def fail(self, failing: bool = True, reply: str = "451 4.3.0 Temporary failure, try again later") -> None:
        """Answer `reply` (a 4xx: 451, 421...) to MAIL, RCPT and DATA until fail(False)."""
        self.failing = reply if failing else None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # -- what the handler asks ------------------------------------------------

    def verify(self, address: str) -> str | None:
        """None to accept RCPT TO:<address>, else the refusal (Postfix's tables, then Dovecot's RCPT answer)."""
        if address.lower() in self.refuse:
            return self.refuse[address.lower()]
        if self.modoboa_db is None or self.dovecot is None or _relay_denied(address, self.modoboa_db):
            return None
        routing = resolve(self.modoboa_db, address)
        if routing.bounced:
            return _coded(routing.bounced[0][1])
        for mailbox in routing.lmtp:
            code, reply = self._lmtp_probe(mailbox)
            if code != 250:
                return f"{code} {reply}"
        return None

    def accept(self, sender: str, recipients: list[str], data: bytes, *, secure: bool = False) -> str:
        """DATA: deliver to the Modoboa mailboxes over LMTP, keep the rest as relayed; the reply to DATA."""
        message = BytesParser(policy=email.policy.default).parsebytes(data)
        assert isinstance(message, EmailMessage)
        mailboxes: list[str] = []
        relayed: list[str] = []
        for address in recipients:
            if self.modoboa_db is None or self.dovecot is None or _relay_denied(address, self.modoboa_db):
                relayed.append(address)
                continue
            routing = resolve(self.modoboa_db, address)
            mailboxes.extend(routing.lmtp)
            relayed.extend(routing.relayed)
        for mailbox in dict.fromkeys(mailboxes):
            code, reply = self._lmtp_deliver(sender, mailbox, data)
            if 400 <= code < 500:
                return f"451 4.3.0 {mailbox}: Dovecot answered {code} {reply}"
            with self._lock:
                if code == 250:
                    self.delivered.append((mailbox, str(message.get("Message-ID", ""))))
                else:
                    self.bounced.append((mailbox, f"{code} {reply}"))
        with self._lock:
            self.received.append((tuple(recipients), message))
            self.encrypted.append(secure)
            if relayed:
                self.relayed.append((tuple(dict.fromkeys(relayed)), message))
        return "250 2.0.0 OK: queued"

    def _authenticate(
        self, smtp: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert self.auth is not None
        if isinstance(data, LoginPassword):
            user = data.login.decode("utf-8", errors="replace")
            if self.auth.get(user) == data.password.decode("utf-8", errors="replace"):
                self.logins.append(user)
                return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)

    # -- TLS and LMTP ----------------------------------------------------------

    def _tls_context(self) -> ssl.SSLContext | None:
        if self.tls_cert is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self.tls_cert[0]), str(self.tls_cert[1]))
        return context

    def _lmtp(self) -> smtplib.LMTP:
        assert self.dovecot is not None
        if self.dovecot.lmtp_port is None or not self.dovecot.running:
            raise smtplib.SMTPConnectError(421, b"Dovecot is not running")
        lmtp = smtplib.LMTP("127.0.0.1", self.dovecot.lmtp_port, local_hostname=HOSTNAME, timeout=LMTP_TIMEOUT)
        lmtp.ehlo(HOSTNAME)
        return lmtp

    def _lmtp_probe(self, mailbox: str) -> tuple[int, str]:
        """Dovecot's answer to RCPT TO:<mailbox> (its userdb), nothing delivered."""
        try:
            with self._lmtp() as lmtp:
                lmtp.mail("")
                code, reply = lmtp.rcpt(mailbox)
                lmtp.rset()
        except (OSError, smtplib.SMTPException) as exc:
            return 451, f"4.4.0 Dovecot LMTP: {exc}"
        return code, reply.decode(errors="replace")

    def _lmtp_deliver(self, sender: str, mailbox: str, data: bytes) -> tuple[int, str]:
        """One LMTP transaction (MAIL, RCPT, DATA) for one mailbox, as Postfix's lmtp client does."""
        try:
            with self._lmtp() as lmtp:
                code, reply = lmtp.mail(sender)
                if code == 250:
                    code, reply = lmtp.rcpt(mailbox)
                if code == 250:
                    code, reply = lmtp.data(data)
        except (OSError, smtplib.SMTPException) as exc:
            return 451, f"4.4.0 Dovecot LMTP: {exc}"
        return code, reply.decode(errors="replace")
