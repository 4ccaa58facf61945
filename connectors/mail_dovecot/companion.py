"""The Dovecot companion: what a mail backend without Dovecot access cannot do, over doveadm's HTTP API.

`[mail.dovecot]` (optional) next to a backend such as Modoboa, whose admin
API cannot end IMAP sessions, export a mailbox or set an auto-reply:

- `kick(user)`: end the user's open IMAP/POP3 sessions (after a suspension,
  which only stops new logins);
- `backup(user)`: export the whole mailbox (every folder) as a maildir to
  `archive_dir/<domain>/<local>-<INBOX GUID>` with doveadm `backup` (dsync),
  then verify it: the archive must hold as many messages as the live
  mailbox, or ArchiveNotVerified (a RecordError) and the mailbox must not be
  deleted (archive.py);
- `put_autoreply(user, subject, text)` / `remove_autoreply(user)`: a sieve
  vacation script (autoreply.py);
- `message_count(user)`: messages over all folders; `check()`: reachable,
  key accepted, every command there with the parameter types this driver
  sends, archive_dir present on the server.

The API and its error mapping are in doveadm.py.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

import httpx
import structlog

from connectors.mail_dovecot import autoreply
from connectors.mail_dovecot.archive import Archiver
from connectors.mail_dovecot.doveadm import COMMANDS, CONNECTOR, EX_NOTFOUND, Doveadm, DoveadmError
from lifecycle.domain.errors import ConnectorConfigError, RecordError, TransientError
from lifecycle.domain.mail import MailCapability
from lifecycle.domain.settings import DovecotSettings

log = structlog.get_logger(__name__)

_MESSAGE_ID = re.compile(r"<[^<>@\s\x00]+@[^<>@\s\x00]+>")


def _address(value: str) -> str:
    """A single user: no doveadm mask characters (kick never matches anyone else), nothing a mail location reads.

    `*`/`?` are kick wildcards; `:` separates mail location parameters and `%`
    starts a variable in one (the archive path is `maildir:<dir>/<domain>/<local>-...`);
    no part starts with a dot, so `<domain>` is never `..` nor hidden.
    """
    address = value.strip().lower()
    local, sep, domain = address.partition("@")
    if (
        not sep
        or not local
        or not domain
        or "@" in domain
        or local.startswith(".")
        or domain.startswith(".")
        or any(c in address for c in "*?,/:% \t\r\n\"'\\")
    ):
        raise RecordError(f"{value!r} is not a single e-mail address", connector=CONNECTOR)
    return address


class DovecotCompanion:
    """Kick, export and auto-reply for the mailboxes of a Dovecot server, over doveadm's HTTP API."""

    CAPABILITIES: ClassVar[frozenset[MailCapability]] = frozenset(
        {MailCapability.AUTO_REPLY, MailCapability.EXPORT, MailCapability.KICK_SESSIONS}
    )
    """What a mail backend can do once this companion is configured next to it."""

    def __init__(
        self,
        settings: DovecotSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.doveadm = Doveadm(settings, transport=transport, sleep=sleep)
        self.archives = Archiver(self.doveadm, settings.archive_dir, backup_timeout=settings.backup_timeout_seconds)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.doveadm.close()

    def check(self) -> list[str]:
        """Problems that make the companion unusable; empty when healthy."""
        try:
            declared = self.doveadm.declared_commands(what="list the doveadm commands")
        except (TransientError, ConnectorConfigError, RecordError) as exc:
            return [str(exc)]
        problems: list[str] = []
        for name, params in COMMANDS.items():
            if name not in declared:
                hint = " (the sieve commands need Pigeonhole: dovecot-sieve)" if name.startswith("sieve") else ""
                problems.append(f"doveadm API {self.settings.api_url}: no command {name}{hint}")
                continue
            for param, kind in params.items():
                if declared[name].get(param) != kind:
                    problems.append(
                        f"doveadm API: {name} parameter {param} is {declared[name].get(param)!r}, this module sends {kind}"
                    )
        return problems or self._archive_dir_problems()

    def _archive_dir_problems(self) -> list[str]:
        archive = self.settings.archive_dir
        try:
            if self.archives.exists(archive, what=f"look for archive_dir {archive}"):
                return []
        except (TransientError, ConnectorConfigError, RecordError) as exc:
            return [str(exc)]
        missing = (
            f"archive_dir {archive} does not exist on the Dovecot server: create it there, owned by the mail user "
            "(mode 0700; on the daemon's host systemd/lifecycle.tmpfiles makes /var/lib/lifecycle/archive)"
        )
        return [missing]

    def kick(self, user: str) -> bool:
        """End the open sessions of `user`; True if there were any."""
        address = _address(user)
        try:
            rows = self.doveadm.run("kick", {"mask": [address]}, what=f"kick {address}")
        except DoveadmError as exc:
            if exc.exit_code == EX_NOTFOUND:
                return False
            raise
        kicked = any(address in str(row.get("result", "")).lower().split() for row in rows)
        log.info("mail.sessions_kicked", address=address, kicked=kicked)
        return kicked

    def message_count(self, user: str) -> int:
        """Messages over all folders of the mailbox."""
        return self.archives.message_count(_address(user))

    def has_message(self, user: str, message_id: str) -> bool:
        """Whether a message with this Message-ID is in any folder of the mailbox (doveadm search).

        IMAP's HEADER search matches a substring (case-insensitively): only a whole `<left@right>`, whose
        brackets cannot occur inside another Message-ID, makes that an exact match.
        """
        address = _address(user)
        if not _MESSAGE_ID.fullmatch(message_id):
            raise RecordError(f"{message_id!r} is not a Message-ID (<left@right>)", connector=CONNECTOR)
        query = ["mailbox", "*", "header", "Message-ID", message_id]
        rows = self.doveadm.run("search", {"user": address, "query": query}, what=f"look for {message_id} in {address}")
        return bool(rows)

    def backup(self, user: str) -> Path:
        """Export the mailbox and verify the archive (archive.py's Archiver.backup); the archive's path."""
        return self.archives.backup(_address(user))

    def put_autoreply(self, user: str, subject: str, text: str) -> None:
        """Reply `text` (at most once per sender per autoreply_days) to mail delivered to the mailbox."""
        autoreply.put_autoreply(self.doveadm, _address(user), subject, text, days=self.settings.autoreply_days)

    def remove_autoreply(self, user: str) -> None:
        """Remove the auto-reply (absent is fine) and re-activate the script that was active before it."""
        autoreply.remove_autoreply(self.doveadm, _address(user))


def companion_capabilities(backend: frozenset[MailCapability], companion: DovecotCompanion | None) -> frozenset[MailCapability]:
    """A backend's abilities with the companion's added (none without one)."""
    return backend | (companion.CAPABILITIES if companion is not None else frozenset())
