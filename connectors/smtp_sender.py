"""The notices' SMTP relay (`[notify]`): the MailSender port over the standard library's smtplib.

- `smtp://HOST[:PORT]` (port 25): plain SMTP, upgraded with STARTTLS whenever the relay offers it,
  the certificate verified (`ssl.create_default_context()`, the system's CAs); `require_tls = true`
  refuses a relay that offers no STARTTLS (ConfigError) instead of sending in clear.
- `smtps://HOST[:PORT]` (port 465): TLS from the first byte.
- AUTH when `username` is set, with the password of `password_file` (read_smtp_password).  A password
  is never sent in clear to another host: AUTH without TLS is allowed on loopback only, and so is the
  personal notice carrying an initial password (ConfigError otherwise; Settings refuses such a
  [notify] for `initial_password_delivery = "personal_email"` already: this is the second lock).

One connection serves every send() of a drain and is closed by close(); a connection the relay dropped
while idle is replaced once.

What goes wrong, and what the caller does next:
- the relay cannot be reached, times out, drops the connection, answers 4xx to the connection, EHLO or
  MAIL FROM, or 421 (closing) anywhere: TransientError (the relay, not this message; try later);
- a refused login (535), a certificate that does not verify, TLS required but not offered, a sender the
  relay refuses (5xx to MAIL FROM): ConfigError (fix the settings);
- recipients refused, for now (4xx) or for good (5xx), some or all of them: returned as {address: reply},
  not raised, so that the outbox retries or fails that message alone and goes on with the next; a refusal
  of the message itself (4xx or 5xx to DATA) refuses every recipient the same way, and so does a message
  smtplib cannot write; an address that is not ASCII, to a relay without SMTPUTF8, is refused with
  553 5.6.7 (RFC 6531) without being offered.

The password never reaches a message or a log: every message is scrubbed of it.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

import structlog

from lifecycle.domain.errors import ConfigError, TransientError
from lifecycle.domain.notices import NoticeEvent
from lifecycle.domain.notify_settings import NotifySettings, loopback_host

log = structlog.get_logger(__name__)

CONNECTOR = "smtp"
DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
CLOSING = 421  # the relay is going away: it closes the connection after this reply
PASSWORD_MESSAGE = f"<lifecycle.{NoticeEvent.INITIAL_PASSWORD.value}."
"""How the Message-ID of a notice carrying a password starts (lifecycle.journal.outbox.message_id_for)."""


def read_smtp_password(settings: NotifySettings) -> str | None:
    """The relay's password from `[notify] password_file` (one trailing newline dropped); None without a file.

    A file that is missing or unreadable is a ConfigError naming it and the fix.
    """
    path = settings.password_file
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"[notify] password_file {path}: cannot read it ({_reason(exc)}): "
            "create it with the SMTP password on one line, readable by the service's user "
            "(or LoadCredential= it), or clear password_file and username for a relay without AUTH"
        ) from exc
    password = text.removesuffix("\n").removesuffix("\r")
    if not password:
        raise ConfigError(f"[notify] password_file {path} is empty: write the SMTP password in it")
    return password


def _reason(exc: OSError | UnicodeDecodeError) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    return exc.strerror or type(exc).__name__


def _reply(code: int, text: bytes | str) -> str:
    words = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else text
    return f"{code} {' '.join(words.split())}".strip()


class SmtpSender:
    """Sends the notices through one SMTP relay (see the module doc); use as a context manager or close()."""

    def __init__(
        self,
        settings: NotifySettings,
        *,
        password: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        """`password`: the AUTH password, else read from `password_file` when first needed.
        `ssl_context`: how the relay's certificate is verified (tests pass one trusting their CA)."""
        self.settings = settings
        parts = urlsplit(settings.smtp_url)
        self.scheme = parts.scheme
        self.host = parts.hostname or ""
        self.port = parts.port or DEFAULT_PORTS[self.scheme]
        self.where = f"SMTP relay {self.scheme}://{self.host}:{self.port}"
        self._password = password
        self._ssl_context = ssl_context
        self._local_hostname = local_hostname
        self._client: smtplib.SMTP | None = None
        self._encrypted = False  # whether the open connection is TLS (smtps, or STARTTLS done)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- the port -------------------------------------------------------------

    def send(self, message: EmailMessage, recipients: Sequence[str]) -> dict[str, str]:
        """Hand `message` to the relay for `recipients`; those refused (for now or for good), {address: reply}."""
        envelope = [address.strip() for address in recipients if address.strip()]
        if not envelope:
            raise ValueError("send() needs at least one recipient")
        what = f"send {message.get('Message-ID', '(no Message-ID)')}"
        client = self._live_client(what)
        if str(message.get("Message-ID", "")).startswith(PASSWORD_MESSAGE) and not self._encrypted \
                and not loopback_host(self.host):
            raise ConfigError(
                f"{what}: {self.where} offers no TLS, and a message carrying an initial password must not cross the "
                "network in clear: set [notify] require_tls = true (with STARTTLS on the relay) or use smtps://"
            )
        unsent: dict[str, str] = {}
        if not client.has_extn("smtputf8"):  # smtplib would refuse the whole message for one such address
            unsent = {address: self._no_smtputf8(address) for address in envelope if not address.isascii()}
            envelope = [address for address in envelope if address not in unsent]
            if not envelope:
                return unsent
        try:
            refused = client.send_message(message, from_addr=self.settings.sender_address, to_addrs=envelope)
        except smtplib.SMTPRecipientsRefused as exc:
            return {**unsent, **self._all_refused(exc, what)}
        except smtplib.SMTPSenderRefused as exc:
            self._drop()
            if exc.smtp_code == 530:
                raise ConfigError(
                    f"{what}: {self.where} requires a login before sending ({_reply(exc.smtp_code, exc.smtp_error)}): "
                    "set [notify] username and password_file"
                ) from exc
            if exc.smtp_code >= 500:
                raise ConfigError(self._scrub(
                    f"{what}: {self.where} refused the sender {self.settings.sender_address}: "
                    f"{_reply(exc.smtp_code, exc.smtp_error)}: set [notify] sender to an address this relay accepts "
                    "(and username to an account allowed to send as it)"
                )) from exc
            raise self._transient(what, exc) from exc
        except smtplib.SMTPDataError as exc:
            self._drop()
            if exc.smtp_code == CLOSING:
                raise self._transient(what, exc) from exc
            reply = self._scrub(_reply(exc.smtp_code, exc.smtp_error))
            log.warning("notify.smtp_message_refused", where=self.where, reply=reply)
            return {**unsent, **dict.fromkeys(envelope, reply)}
        except smtplib.SMTPNotSupportedError as exc:  # the sender's own address is not ASCII (the rest are)
            self._drop()
            raise ConfigError(
                f"{what}: {self.where} does not offer SMTPUTF8, and [notify] sender {self.settings.sender_address!r} "
                "is not ASCII: set sender to an ASCII address, or enable SMTPUTF8 on the relay"
            ) from exc
        except (ValueError, LookupError) as exc:  # smtplib cannot write this message: not the relay's fault
            self._drop()
            reply = f"554 5.6.0 not sent: the message cannot be written for SMTP ({type(exc).__name__}: {exc})"
            log.warning("notify.smtp_message_unwritable", where=self.where, reply=reply)
            return {**unsent, **dict.fromkeys(envelope, self._scrub(reply))}
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            raise self._transient(what, exc) from exc
        return {**unsent, **{address: self._scrub(_reply(code, text)) for address, (code, text) in refused.items()}}

    def check(self) -> list[str]:
        """Connect, EHLO, STARTTLS, AUTH and QUIT (nothing is sent); the problems found, in words."""
        self._drop()
        try:
            self._connect("check the SMTP relay")
        except (ConfigError, TransientError) as exc:
            return [str(exc)]
        finally:
            self.close()
        return []

    def close(self) -> None:
        """QUIT and close the connection, if there is one (errors ignored: it is over either way)."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()

    # -- the connection -------------------------------------------------------

    def _live_client(self, what: str) -> smtplib.SMTP:
        """The open connection if the relay still answers (NOOP), else a new one."""
        if self._client is not None:
            try:
                code, _ = self._client.noop()
            except (OSError, smtplib.SMTPException):
                code = 0
            if code == 250:
                return self._client
            log.info("notify.smtp_reconnect", where=self.where)
            self._drop()
        self._client = self._connect(what)
        return self._client

    def _connect(self, what: str) -> smtplib.SMTP:
        client: smtplib.SMTP | None = None
        timeout = self.settings.timeout_seconds
        try:
            if self.scheme == "smtps":
                client = smtplib.SMTP_SSL(
                    self.host, self.port, local_hostname=self._local_hostname, timeout=timeout, context=self._context()
                )
            else:
                client = smtplib.SMTP(self.host, self.port, local_hostname=self._local_hostname, timeout=timeout)
            client.ehlo()
            encrypted = self.scheme == "smtps"
            if not encrypted and client.has_extn("starttls"):
                client.starttls(context=self._context())
                client.ehlo()
                encrypted = True
            if not encrypted and self.settings.require_tls:
                raise ConfigError(
                    f"{what}: {self.where} offers no STARTTLS and [notify] require_tls is true: "
                    "enable STARTTLS on the relay, use smtps://, or set require_tls = false for a relay on this host"
                )
            if self.settings.username:
                self._login(client, encrypted, what)
            self._encrypted = encrypted
        except ConfigError:
            _close_quietly(client)
            raise
        except ssl.SSLCertVerificationError as exc:
            _close_quietly(client)
            raise ConfigError(
                f"{what}: {self.where}: its TLS certificate does not verify ({exc.verify_message}): "
                "smtp_url must name the host its certificate is for, and the system must trust the certificate's CA "
                "(install it with update-ca-certificates)"
            ) from exc
        except smtplib.SMTPAuthenticationError as exc:
            _close_quietly(client)
            raise ConfigError(self._scrub(
                f"{what}: {self.where} refused the login of {self.settings.username!r}: "
                f"{_reply(exc.smtp_code, exc.smtp_error)}: check [notify] username and the password in password_file"
            )) from exc
        except smtplib.SMTPNotSupportedError as exc:
            _close_quietly(client)
            raise ConfigError(
                f"{what}: {self.where} offers no AUTH (SMTP login) that this client can use: "
                "clear [notify] username and password_file, or enable AUTH PLAIN or LOGIN on the relay"
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            _close_quietly(client)
            raise self._transient(what, exc) from exc
        log.debug("notify.smtp_connected", where=self.where)
        return client

    def _login(self, client: smtplib.SMTP, encrypted: bool, what: str) -> None:
        if not encrypted and not loopback_host(self.host):
            raise ConfigError(
                f"{what}: {self.where} offers no TLS, and the SMTP password must not cross the network in clear: "
                "use smtps://, enable STARTTLS on the relay, or use a relay on this host"
            )
        password = self._password if self._password is not None else read_smtp_password(self.settings)
        if password is None:
            raise ConfigError(
                f"{what}: [notify] username {self.settings.username!r} is set but password_file is not: "
                "set password_file to a file holding the SMTP password, or clear username"
            )
        self._password = password
        client.login(self.settings.username, password)

    def _context(self) -> ssl.SSLContext:
        return self._ssl_context if self._ssl_context is not None else ssl.create_default_context()

    def _drop(self) -> None:
        client, self._client = self._client, None
        _close_quietly(client)

    # -- errors ---------------------------------------------------------------

    def _all_refused(self, exc: smtplib.SMTPRecipientsRefused, what: str) -> dict[str, str]:
        """Nothing accepted: every refusal returned (the outbox tries a 4xx again, a 5xx is final), unless the
        relay answered 421 (it closed the connection, the other recipients were never asked): TransientError."""
        replies = {address: self._scrub(_reply(code, text)) for address, (code, text) in exc.recipients.items()}
        if any(code == CLOSING for code, _ in exc.recipients.values()):
            self._drop()
            raise TransientError(
                f"{what}: {self.where} is closing the connection: " + "; ".join(
                    f"{address}: {reply}" for address, reply in replies.items()
                ),
                connector=CONNECTOR,
            ) from exc
        return replies

    def _no_smtputf8(self, address: str) -> str:
        return (f"553 5.6.7 not sent: {address} is not an ASCII address and {self.where} does not offer SMTPUTF8: "
                "enable SMTPUTF8 on the relay, or give this person an ASCII address")

    def _transient(self, what: str, exc: BaseException) -> TransientError:
        if isinstance(exc, smtplib.SMTPResponseException):
            detail = f"answered {_reply(exc.smtp_code, exc.smtp_error)}"
        elif isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
            # smtplib reports a reply that timed out as SMTPServerDisconnected, the timeout as its context.
            detail = f"no answer within {self.settings.timeout_seconds:g} s ([notify] timeout_seconds)"
        elif isinstance(exc, ConnectionRefusedError):
            detail = "connection refused (is the relay running, and smtp_url's port right?)"
        elif isinstance(exc, smtplib.SMTPServerDisconnected):
            detail = f"closed the connection ({exc or 'no reason given'})"
        else:
            detail = f"{type(exc).__name__}: {exc}"
        return TransientError(self._scrub(f"{what}: {self.where}: {detail}"), connector=CONNECTOR)

    def _scrub(self, text: str) -> str:
        return text.replace(self._password, "***") if self._password else text


def _close_quietly(client: smtplib.SMTP | None) -> None:
    if client is not None:
        try:
            client.close()
        except OSError:
            pass
