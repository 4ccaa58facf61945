"""The ports: what the engine asks of the world, and nothing about how.

Connectors (connectors/) implement these; the engine (lifecycle.engine) and the
tests' fakes (lifecycle.testing) use only what is declared here.  A connector
says what it can do through declared features, never by the engine probing for
attributes: an implementation that lacks a feature sets its flag to False and
still provides the method with the plain behaviour described below.

Errors are those of lifecycle.domain.errors: TransientError (retry later),
RecordError (this record or action failed; AlreadyExistsError for a create whose
target exists), ConnectorConfigError (credentials or configuration: stop).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable

from lifecycle.domain.mail import Alias, Mailbox, MailCapability, MailSnapshot
from lifecycle.domain.models import DirectoryEntry, DirectorySnapshot, GroupEntry, HrSnapshot


@runtime_checkable
class HrSource(Protocol):
    """Where the personnel records come from (a CSV export, an HR system's API, a database view)."""

    @property
    def name(self) -> str:
        """What an admin calls this source in messages (the file's path, the system's URL)."""
        ...

    def read(self, today: date) -> HrSnapshot:
        """Every record the source holds now; a bad row becomes a RejectedRow, never an exception.

        Raises FeedError when the whole source is unusable (unreadable, wrong columns, every row rejected).
        """
        ...

    def age_seconds(self) -> float | None:
        """How long ago the source last changed (a file's mtime); None when it cannot tell, which the
        cycle takes as "still changing" (settling: nothing destructive on its word).  A source read in
        one consistent snapshot (a database transaction) is never half-written: `math.inf`."""
        ...

    def fingerprint(self) -> str:
        """What changes when the records do (a quiet cycle compares it before reading anything else):
        the file's digest, or the digest of a read; "" when the source cannot be read now."""
        ...


@runtime_checkable
class HrWriteBack(Protocol):
    """An HR source that takes back the account and work address the daemon assigned (an SQL
    UPDATE, a vendor API that lets the work email be set)."""

    def write_back(self, employee_id: str, account: str, email: str) -> None:
        """Record them for `employee_id`; raises `HrWriteBackError` (naming why, no secret) when HR refuses."""
        ...


@dataclass(frozen=True, slots=True)
class DirectoryFeatures:
    """What a directory can do beyond the plain calls of `Directory`, declared by the connector."""

    write_connections: int = 1
    """How many writers may run at once (each `writer()` binds the calling thread to one)."""
    reference_waits: bool = False
    """`await_references()`/`reference_holders()` see the server's referential-integrity rewrites."""
    transactions: bool = False
    """`transaction()` commits the calling thread's writes together, all or nothing."""
    change_stamps: bool = False
    """`change_stamp()` gives a stamp that moves with every write to the directory, logins included."""
    entry_versions: bool = False
    """`entry_versions()` lists a version of every entry `read_snapshot()` reads that moves with every write
    to that entry, and `read_uids()` reads any entry's uids: what tells which entries changed when the
    directory's stamp moved or it keeps none."""


@runtime_checkable
class Directory(Protocol):
    """An account directory (OpenLDAP, later Active Directory), as the engine reads and writes it."""

    @property
    def features(self) -> DirectoryFeatures: ...

    def read_snapshot(self, known: Iterable[str] = ()) -> DirectorySnapshot:
        """Every managed person and group.  `known` are strings the caller already holds (addresses):
        equal values in the snapshot may share them."""
        ...

    def read_person(self, dn: str) -> DirectoryEntry | None: ...
    def read_group(self, dn: str) -> GroupEntry | None: ...

    def create_person(self, dn: str, attributes: dict[str, str], password: str | None) -> None: ...
    def modify_person(self, dn: str, changes: dict[str, str | None]) -> None: ...
    def set_password(self, dn: str, password: str) -> None: ...
    def move_person(self, dn: str, new_superior: str) -> str: ...
    def lock(self, dn: str) -> None: ...
    def unlock(self, dn: str) -> None: ...
    def delete_person(self, dn: str) -> None: ...

    def create_group(
        self, dn: str, company: str, department: str, first_member: str, members: Sequence[str] | None = None
    ) -> None: ...
    def add_member(self, group_dn: str, member_dn: str) -> None: ...
    def add_members(self, group_dn: str, member_dns: Sequence[str]) -> None: ...
    def remove_member(self, group_dn: str, member_dn: str) -> None: ...
    def remove_members(self, group_dn: str, member_dns: Sequence[str]) -> None: ...
    def delete_group(self, dn: str) -> None: ...

    def writer(self, *, defer_references: bool = False) -> AbstractContextManager[None]:
        """Bind the calling thread's writes to a connection of its own (a no-op with one connection)."""
        ...

    def await_references(self, old_dns: Sequence[str]) -> None:
        """Wait until the server has rewritten references to moved/deleted DNs (no-op without reference_waits)."""
        ...

    def reference_holders(self, old_dns: Sequence[str]) -> list[str]:
        """Entries still referring to any of `old_dns` (empty without reference_waits)."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """All-or-nothing writes of the calling thread; only called when features.transactions."""
        ...

    def ensure_containers(self) -> list[str]:
        """Create the missing containers (the companies' people OUs, the groups OU); returns the DNs created."""
        ...

    def change_stamp(self) -> str | None:
        """A stamp of the whole directory: equal stamps, no write in between (reads leave it).  None when
        there is none to give (without change_stamps, or a server that keeps none, such as an OpenLDAP
        without syncprov)."""
        ...

    def entry_versions(self) -> Iterator[tuple[str, bytes | None]]:
        """(DN, version) of every entry `read_snapshot()` reads (people, managed groups, every holder of a
        uid); only called when features.entry_versions.

        The version moves with every write to the entry and says nothing else (compare it, do not parse
        it); None when the directory withheld it, and such an entry must be taken as changed.  DNs are as
        the directory spells them: they compare with `dn_key` as the snapshot's do.
        """
        ...

    def read_uids(self, dn: str) -> list[str] | None:
        """The uids of any entry (a person, a service account), None when it does not exist; only called
        when features.entry_versions."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class MailBackend(Protocol):
    """A mail server's administration API, as the engine uses it.  Every address is lower-case."""

    def capabilities(self) -> frozenset[MailCapability]: ...

    def check(self) -> list[str]:
        """Problems that make the backend unusable or unsafe; empty when healthy."""
        ...

    def ensure_domains(self, domains: Sequence[str]) -> list[str]:
        """Create the missing domains (never deletes one); returns those created."""
        ...

    def read_snapshot(self, domains: Sequence[str]) -> MailSnapshot: ...

    def find_mailbox(self, address: str) -> Mailbox | None: ...

    def create_mailbox(self, address: str, display_name: str, quota_mb: int | None, password: str | None = None) -> Mailbox:
        """Raises AlreadyExistsError when a mailbox with that address exists.

        An alias already at the address stays and becomes the new mailbox's forward (clear_forward() removes it).
        The directory is the only password store (mail logins check it): the engine passes no `password`, and a
        server whose API insists on one gets a long random value that is never kept, logged or shown.
        """
        ...

    def update_mailbox(self, address: str, *, display_name: str | None = None, quota_mb: int | None = None) -> None: ...

    def suspend(self, address: str) -> None:
        """No more logins (and, unless SUSPEND_KEEPS_DELIVERY, no more delivery)."""
        ...

    def restore(self, address: str) -> None:
        """Undo suspend(): logins and delivery, including the aliases that point at it.  Harmless on an
        active mailbox, where it (re)establishes delivery."""
        ...

    def rename_mailbox(self, address: str, new_address: str) -> None:
        """Move the mailbox, with its mail, to `new_address`.

        The mailbox's forward goes with it; an alias at the new address becomes its forward too (its recipients
        added, without an expiry).  Other aliases stay at their addresses, with the mailbox as their recipient.
        Delivery at the new address is promised only after restore().
        """
        ...

    def set_forward(self, address: str, recipients: Sequence[str], keep_copy: bool | None = None) -> None: ...

    def clear_forward(self, address: str) -> None: ...

    def find_alias(self, address: str) -> Alias | None:
        """The alias at an address that has no mailbox (a mailbox's own alias is its forward)."""
        ...

    def create_alias(
        self, address: str, recipients: Sequence[str], expires: datetime | None = None, *, mail_list: bool = False
    ) -> None:
        """A managed alias (Alias.managed; with `mail_list`, marked as a list: Alias.mail_list).  Raises
        AlreadyExistsError when an alias with other recipients is at the address; one with these recipients becomes
        managed, with this expiry (what a rename left there)."""
        ...

    def delete_alias(self, address: str, recipients: Sequence[str] | None = None) -> None:
        """Remove the alias at an address that has no mailbox; absent is fine.  With `recipients`, only a managed alias
        with exactly these recipients is removed: one changed since the plan read it is left."""
        ...

    def update_alias(self, address: str, recipients: Sequence[str], expected: Sequence[str] | None = None) -> None:
        """Give a managed alias (Alias.managed) these recipients; it stays managed, marked as a list (Alias.mail_list).  With `expected`, only while its
        recipients are exactly those (as the plan read them): RecordError for one changed since, or not managed, or
        absent (a list's members kept in step never overwrite an admin's edit)."""
        ...

    def delete_mailbox(self, address: str, keep_dir: bool = True) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class MailCompanion(Protocol):
    """What the mail store itself does beside the admin API (Dovecot): end sessions, auto-replies, archives.

    Its `CAPABILITIES` join the backend's (KICK_SESSIONS, AUTO_REPLY, EXPORT) so the policies plan for them.
    """

    CAPABILITIES: ClassVar[frozenset[MailCapability]]

    def check(self) -> list[str]: ...

    def kick(self, user: str) -> bool:
        """End the user's open sessions; True when there were some."""
        ...

    def put_autoreply(self, user: str, subject: str, text: str) -> None: ...

    def remove_autoreply(self, user: str) -> None: ...

    def has_message(self, user: str, message_id: str) -> bool:
        """Whether a message with this Message-ID header is in any folder of `user`'s mailbox (a notice
        whose sending was interrupted is looked for before it is sent again)."""
        ...

    def backup(self, user: str) -> Path:
        """Archive the mailbox; raises unless the archive holds every message the mailbox held."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class MailSender(Protocol):
    """Hands a finished message to an SMTP relay (connectors.smtp_sender) for the notices' outbox."""

    def send(self, message: EmailMessage, recipients: Sequence[str]) -> dict[str, str]:
        """Send `message` to `recipients` (the envelope); the refused ones, {address: the server's reply}.

        A permanent refusal of some recipients is returned, not raised.  TransientError when the relay
        could not be reached or refused for now (4xx): nothing was accepted, trying later may help.
        ConfigError for a refused login or a TLS the settings require but the relay lacks.
        """
        ...

    def check(self) -> list[str]:
        """Problems found connecting and logging in (nothing is sent); empty when ready."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class ProgressSink(Protocol):
    """Where the engine reports a long step's progress (a terminal bar, log lines, systemd STATUS=)."""

    def start(self, phase: str, total: int) -> None:
        """A phase begins with `total` units of work (actions, entries)."""
        ...

    def advance(self, done: int = 1, failed: int = 0) -> None:
        """`done` and `failed` units ended since the last call (they do not overlap: together, what ended)."""
        ...

    def finish(self) -> None: ...


class NoProgress:
    """The sink that reports nothing: the default where no one watches."""

    def start(self, phase: str, total: int) -> None:
        pass

    def advance(self, done: int = 1, failed: int = 0) -> None:
        pass

    def finish(self) -> None:
        pass


NO_PROGRESS = NoProgress()
