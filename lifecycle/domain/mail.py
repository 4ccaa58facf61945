"""The mail records: mailboxes, aliases and the snapshot of a mail server (pure types, no I/O).

The port itself (MailBackend) is in lifecycle.domain.ports.

A backend (connectors/mail_*.py) says what it can do through
`capabilities()`; the engine plans only what the backend supports, and
reports the rest for an admin.  Every address handed in or out is lower-case.

Errors are those of lifecycle.domain.errors: TransientError (retry later, with
`retry_after` when the server said), RecordError (this address/action
failed; AlreadyExistsError for a create whose target exists),
ConnectorConfigError (credentials/configuration: stop the backend).
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from functools import cached_property
from typing import overload


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
    """Enabled and not expired: mail to the address goes to the recipients."""
    managed: bool = False
    """Made by this daemon (create_alias) and its recipients unchanged since: the daemon may re-point or
    remove it.  Any other alias is an admin's or the user's, and is left alone."""
    expires: datetime | None = None
    mail_list: bool = False
    """Managed, and made as a mail list (policies.resources): one no rule produces any more is reported."""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_NO_TIME = -(2**63)  # None in a time column


def _micros(moment: datetime | None) -> int:
    return _NO_TIME if moment is None else (moment - _EPOCH) // _MICROSECOND


def _moment(micros: int) -> datetime | None:
    return None if micros == _NO_TIME else _EPOCH + micros * _MICROSECOND


class Mailboxes(Sequence[Mailbox]):
    """Mailboxes sorted by address, kept column by column (a Mailbox is made when one is asked for).

    A Mailbox object per person, and a dict to find them, weighed much more at group scale
    (bench/README.md); the columns keep times and quotas as machine integers and `find` is a
    binary search over the addresses.  A backend's listing fills them through `MailboxesBuilder`.
    """

    __slots__ = ("_addresses", "_created", "_flags", "_forwards", "_logins", "_names", "_quotas")
    _addresses: tuple[str, ...]
    _names: tuple[str, ...]
    _quotas: array[int]
    _flags: bytes
    _logins: array[int]  # microseconds since the epoch (_micros)
    _created: array[int]
    _forwards: dict[int, tuple[str, ...]]  # position -> forward_to, for the mailboxes that forward

    def __init__(self, boxes: Iterable[Mailbox]) -> None:
        builder = MailboxesBuilder()
        for box in boxes:
            builder.add(box)
        builder.fill(self)

    def __len__(self) -> int:
        return len(self._addresses)

    @overload
    def __getitem__(self, index: int) -> Mailbox: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Mailbox, ...]: ...
    def __getitem__(self, index: int | slice) -> Mailbox | tuple[Mailbox, ...]:
        if isinstance(index, slice):
            return tuple(self._box(i) for i in range(*index.indices(len(self))))
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("mailbox index out of range")
        return self._box(index)

    def __iter__(self) -> Iterator[Mailbox]:
        return map(self._box, range(len(self)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    def __hash__(self) -> int:
        raise TypeError("unhashable type: 'Mailboxes'")  # equal to any sequence of the same mailboxes, as a list is

    def __repr__(self) -> str:
        return f"Mailboxes({list(self)!r})"

    def strings(self) -> Iterator[str]:
        """Every address, then every display name (no Mailbox made)."""
        yield from self._addresses
        yield from self._names

    def find(self, address: str) -> Mailbox | None:
        """The (first) mailbox with exactly this address."""
        index = bisect.bisect_left(self._addresses, address)
        return self._box(index) if index < len(self) and self._addresses[index] == address else None

    def _box(self, i: int) -> Mailbox:
        flags = self._flags[i]
        return Mailbox(self._addresses[i], self._names[i], self._quotas[i], bool(flags & 1), _moment(self._logins[i]),
                       _moment(self._created[i]), self._forwards.get(i, ()), bool(flags & 2))


class MailboxesBuilder:
    """Collects a listing's mailboxes into `Mailboxes` without keeping a small object per mailbox while
    the listing is parsed.

    The addresses and names of each `flush()`ed part (a domain) are kept as one string each; they
    become separate strings in `build()`, after the parsed pages are gone.  Strings kept from the
    pages themselves would pin the parser's freed memory in place, leaving more than twice the data
    resident (bench/README.md).
    """

    def __init__(self) -> None:
        self._texts: list[str] = []  # flushed parts: addresses, then names, concatenated
        self._lengths = array("I")  # per mailbox: address length, name length
        self._pending: list[str] = []
        self._quotas = array("q")
        self._flags = bytearray()
        self._logins = array("q")
        self._created = array("q")
        self._forwards: dict[int, tuple[str, ...]] = {}

    def add(self, box: Mailbox) -> None:
        if box.forward_to:
            self._forwards[len(self._flags)] = box.forward_to
        self._pending += (box.address, box.display_name)
        self._lengths.extend((len(box.address), len(box.display_name)))
        self._quotas.append(box.quota_mb)
        self._flags.append(box.is_active | box.forward_keeps_copy << 1)
        self._logins.append(_micros(box.last_login))
        self._created.append(_micros(box.created))

    def flush(self) -> None:
        """Let go of the strings added so far (kept as one string)."""
        if self._pending:
            self._texts.append("".join(self._pending))
            self._pending = []

    def build(self) -> Mailboxes:
        mailboxes = Mailboxes.__new__(Mailboxes)
        self.fill(mailboxes)
        return mailboxes

    def fill(self, mailboxes: Mailboxes) -> None:
        """Set the columns of `mailboxes`: the mailboxes added, sorted by address (of equal
        addresses, the first added stays first)."""
        self.flush()
        addresses, names = self._strings()  # the flushed parts go with this call, before the columns are made
        order = sorted(range(len(addresses)), key=addresses.__getitem__)  # stable
        mailboxes._addresses = tuple([addresses[i] for i in order])
        mailboxes._names = tuple([names[i] for i in order])
        mailboxes._quotas = array("q", [self._quotas[i] for i in order])
        mailboxes._flags = bytes([self._flags[i] for i in order])
        mailboxes._logins = array("q", [self._logins[i] for i in order])
        mailboxes._created = array("q", [self._created[i] for i in order])
        position = {was: now for now, was in enumerate(order) if was in self._forwards} if self._forwards else {}
        mailboxes._forwards = {position[was]: to for was, to in self._forwards.items()}

    def _strings(self) -> tuple[list[str], list[str]]:
        """Every address and every display name, in the order added, cut out of the flushed parts."""
        text, offset, lengths = "".join(self._texts), 0, self._lengths
        self._texts = []
        addresses: list[str] = []
        names: list[str] = []
        shared: dict[str, str] = {}  # display names repeat
        for i in range(0, len(lengths), 2):
            end = offset + lengths[i]
            addresses.append(text[offset:end])
            offset, end = end, end + lengths[i + 1]
            name = text[offset:end]
            names.append(shared.setdefault(name, name))
            offset = end
        return addresses, names


@dataclass(frozen=True)
class MailSnapshot:
    """Mailboxes and aliases of the domains asked for, sorted by address.

    A forward is a property of its mailbox (Mailbox.forward_to), not an alias.
    `mailboxes` may be given as any sequence of Mailbox; it is kept as `Mailboxes`.
    """

    mailboxes: Mailboxes
    aliases: tuple[Alias, ...]
    domains: tuple[str, ...]
    """The domains that exist on the backend among those asked for."""

    def __post_init__(self) -> None:
        if not isinstance(self.mailboxes, Mailboxes):
            object.__setattr__(self, "mailboxes", Mailboxes(self.mailboxes))

    def strings(self) -> Iterator[str]:
        """Each mailbox's address and display name: what a directory snapshot read next can share."""
        return self.mailboxes.strings()

    def mailbox(self, address: str) -> Mailbox | None:
        return self.mailboxes.find(address.lower())

    def alias(self, address: str) -> Alias | None:
        return self._aliases_by_address.get(address.lower())

    @cached_property
    def _aliases_by_address(self) -> dict[str, Alias]:
        found: dict[str, Alias] = {}
        for alias in self.aliases:
            found.setdefault(alias.address, alias)
        return found
