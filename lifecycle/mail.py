"""The mail port: what the engine may ask of a mail backend (pure types, no I/O).

A backend (connectors/mail_*.py) says what it can do through
`capabilities()`; the engine plans only what the backend supports, and
reports the rest for an admin.  Every address handed in or out is lower-case.

Errors are those of lifecycle.errors: TransientError (retry later, with
`retry_after` when the server said), RecordError (this address/action
failed; AlreadyExistsError for a create whose target exists),
ConnectorConfigError (credentials/configuration: stop the backend).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from datetime import datetime
from enum import Enum
from typing import Protocol, runtime_checkable


class MailCapability(str, Enum):
    """What a backend can do; absent means the engine must not plan it."""

    SUSPEND_KEEPS_DELIVERY = "suspend_keeps_delivery"
    """suspend() blocks logins but mail to the address is still delivered."""
    FORWARD_KEEPS_COPY = "forward_keeps_copy"
    """set_forward() can forward while keeping a copy in the mailbox."""
    FORWARD_WITHOUT_COPY = "forward_without_copy"
    """set_forward() can forward without keeping a copy."""
    ALIASES = "aliases"
    """create_alias()/delete_alias() and aliases in the snapshot."""
    AUTO_REPLY = "auto_reply"
    EXPORT = "export"
    """The mailbox content can be exported before deletion."""
    LAST_LOGIN = "last_login"
    """Mailbox.last_login is maintained by the backend."""
    QUOTA = "quota"
    DISPLAY_NAME = "display_name"
    CREATE_DOMAIN = "create_domain"
    """ensure_domains() can create missing domains."""
    KICK_SESSIONS = "kick_sessions"
    """suspend() also ends open IMAP/POP/webmail sessions."""


@dataclass(frozen=True, slots=True)
class Mailbox:
    address: str
    display_name: str
    quota_mb: int
    """0 means no quota."""
    is_active: bool
    last_login: datetime | None
    """Aware, UTC; None when the account never logged in (or the backend cannot tell)."""
    created: datetime | None
    forward_to: tuple[str, ...] = ()
    forward_keeps_copy: bool = False
    """Meaningful only with forward_to: mail is forwarded and also stored here."""


@dataclass(frozen=True, slots=True)
class Alias:
    address: str
    recipients: tuple[str, ...]
    is_active: bool


@dataclass(frozen=True)
class MailSnapshot:
    """Mailboxes and aliases of the domains asked for, sorted by address.

    A forward is a property of its mailbox (Mailbox.forward_to), not an alias.
    """

    mailboxes: tuple[Mailbox, ...]
    aliases: tuple[Alias, ...]
    domains: tuple[str, ...]
    """The domains that exist on the backend among those asked for."""

    def strings(self) -> Iterator[str]:
        """Each mailbox's address and display name: what a directory snapshot read next can share."""
        for box in self.mailboxes:
            yield box.address
            yield box.display_name

    def mailbox(self, address: str) -> Mailbox | None:
        return self._mailboxes_by_address.get(address.lower())

    def alias(self, address: str) -> Alias | None:
        return self._aliases_by_address.get(address.lower())

    # Built on first use: the planner looks up every person's mailbox (a scan each was O(n^2) at 100k).
    @cached_property
    def _mailboxes_by_address(self) -> dict[str, Mailbox]:
        found: dict[str, Mailbox] = {}
        for box in self.mailboxes:
            found.setdefault(box.address, box)  # the first, as the scan gave
        return found

    @cached_property
    def _aliases_by_address(self) -> dict[str, Alias]:
        found: dict[str, Alias] = {}
        for alias in self.aliases:
            found.setdefault(alias.address, alias)
        return found


@runtime_checkable
class MailBackend(Protocol):
    """A mail server's administration API, as the engine uses it."""

    def capabilities(self) -> frozenset[MailCapability]: ...

    def check(self) -> list[str]:
        """Problems that make the backend unusable or unsafe; empty when healthy."""
        ...

    def ensure_domains(self, domains: Sequence[str]) -> list[str]:
        """Create the missing domains (never deletes one); returns those created."""
        ...

    def read_snapshot(self, domains: Sequence[str]) -> MailSnapshot: ...

    def find_mailbox(self, address: str) -> Mailbox | None: ...

    def create_mailbox(self, address: str, display_name: str, quota_mb: int | None, password: str) -> Mailbox:
        """Raises AlreadyExistsError when a mailbox with that address exists."""
        ...

    def update_mailbox(self, address: str, *, display_name: str | None = None, quota_mb: int | None = None) -> None: ...

    def suspend(self, address: str) -> None:
        """No more logins (and, unless SUSPEND_KEEPS_DELIVERY, no more delivery)."""
        ...

    def restore(self, address: str) -> None:
        """Undo suspend(): logins and delivery, including the aliases that point at it."""
        ...

    def set_password(self, address: str, password: str) -> None: ...

    def set_forward(self, address: str, recipients: Sequence[str]) -> None: ...

    def clear_forward(self, address: str) -> None: ...

    def create_alias(self, address: str, recipients: Sequence[str]) -> None: ...

    def delete_alias(self, address: str) -> None: ...

    def delete_mailbox(self, address: str, keep_dir: bool = True) -> None: ...
