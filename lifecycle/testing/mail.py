"""An in-memory `MailBackend` that keeps mail as Modoboa 2.12 does (with the Modoboa connector over it).

Modoboa's data model, as connectors/mail_modoboa documents it and the conformance suite
(lifecycle.testing.conformance) checks against a real 2.12:

- an account per mailbox, and alias rows by address; a forward is the alias at the mailbox's own
  address (its recipients: the targets, plus the mailbox itself when it keeps a copy);
- each mailbox also has a hidden self-alias that a suspension disables for good (2.12 never enables
  it again), which is why restore() makes a visible one;
- suspending disables every alias whose only recipient is the mailbox, and takes the mailbox out of
  its own forward (a leaver's forward to a manager goes on); restoring enables them again;
- deleting a mailbox deletes every alias at its address and takes the mailbox off the others; an
  alias made at an address later becomes the forward of a mailbox created there; renaming a mailbox
  takes its own alias along (merged into one at the new address, whose expiry goes) and leaves the
  other aliases where they are, now pointing at the new address;
- an expired alias delivers nothing; only the aliases `create_alias` made, with their recipients
  unchanged since, are `managed`;
- domains must exist (`ensure_domains`) before mailboxes are made in them; every address is
  handled in lower case.

The stored rows are public (`accounts`, `aliases`) so that a test can arrange what an admin or a
user did outside the engine, and `resolves`/`reaches` tell where mail to an address goes
(Postfix's alias map over these tables).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from lifecycle.domain.errors import AlreadyExistsError, RecordError
from lifecycle.domain.mail import Alias, Mailbox, Mailboxes, MailCapability, MailSnapshot

__all__ = ["MODOBOA_CAPABILITIES", "AliasRow", "InMemoryMailBackend", "MailAccount"]

CONNECTOR = "mail"

MODOBOA_CAPABILITIES = frozenset({
    MailCapability.FORWARD_KEEPS_COPY, MailCapability.ALIASES, MailCapability.LAST_LOGIN, MailCapability.QUOTA,
    MailCapability.DISPLAY_NAME, MailCapability.CREATE_DOMAIN,
})
"""What Modoboa 2.12 offers without Dovecot: suspension bounces mail, a forward keeps a copy or is an
admin's alias, no auto-reply, export or session kick."""


@dataclass
class MailAccount:
    """A Modoboa account with its mailbox."""

    display_name: str
    quota_mb: int
    created: datetime
    active: bool = True
    last_login: datetime | None = None
    self_alias: bool = True
    """Modoboa's hidden self-alias (the address to itself): disabled by a suspension, never enabled again."""


@dataclass
class AliasRow:
    """A visible Modoboa alias."""

    recipients: list[str]
    enabled: bool = True
    expires: datetime | None = None
    made_with: tuple[str, ...] | None = None
    """The recipients `create_alias` made it with (the Modoboa connector keeps them in the description)."""
    as_list: bool = False
    """Made (or kept in step) as a mail list: the Modoboa connector's list note."""

    @property
    def managed(self) -> bool:
        return self.made_with == tuple(sorted(self.recipients))

    @property
    def mail_list(self) -> bool:
        return self.as_list and self.managed

    def delivers(self, now: datetime) -> bool:
        return self.enabled and (self.expires is None or self.expires > now)


def _address(address: str) -> str:
    return address.strip().lower()


def _domain(address: str) -> str:
    return address.rpartition("@")[2]


class InMemoryMailBackend:
    """The `MailBackend` port (lifecycle.domain.ports) in memory, behaving like Modoboa 2.12.

    `domains`: those that exist from the start.  `clock`: the time aliases expire against and new
    mailboxes are created at (default: now, UTC).  `on_delete(address, keep_dir)`: called after a
    mailbox is deleted, for a companion fake to drop what lived in the mailbox's directory.
    """

    def __init__(
        self,
        domains: Iterable[str] = (),
        *,
        clock: Callable[[], datetime] | None = None,
        capabilities: frozenset[MailCapability] = MODOBOA_CAPABILITIES,
        on_delete: Callable[[str, bool], None] | None = None,
    ) -> None:
        self.domains: set[str] = {_address(d) for d in domains if d.strip()}
        self.accounts: dict[str, MailAccount] = {}
        """Accounts by address."""
        self.aliases: dict[str, AliasRow] = {}
        """Visible aliases by address (a mailbox's own alias, its forward, among them)."""
        self._clock = clock or (lambda: datetime.now(UTC))
        self._capabilities = capabilities
        self._on_delete = on_delete
        self._lock = threading.RLock()

    @property
    def now(self) -> datetime:
        return self._clock()

    # -- reading ---------------------------------------------------------------------------------

    def capabilities(self) -> frozenset[MailCapability]:
        return self._capabilities

    def check(self) -> list[str]:
        return []

    def ensure_domains(self, domains: Sequence[str]) -> list[str]:
        with self._lock:
            created = sorted({_address(d) for d in domains if d.strip()} - self.domains)
            self.domains.update(created)
            return created

    def read_snapshot(self, domains: Sequence[str]) -> MailSnapshot:
        with self._lock:
            present = sorted({_address(d) for d in domains if d.strip()} & self.domains)
            wanted = set(present)
            boxes = [self._mailbox(address) for address in self.accounts if _domain(address) in wanted]
            aliases = tuple(
                self._alias(address) for address in sorted(self.aliases)
                if _domain(address) in wanted and address not in self.accounts  # a mailbox's own alias is its forward
            )
            return MailSnapshot(mailboxes=Mailboxes(boxes), aliases=aliases, domains=tuple(present))

    def find_mailbox(self, address: str) -> Mailbox | None:
        address = _address(address)
        with self._lock:
            return self._mailbox(address) if address in self.accounts else None

    def find_alias(self, address: str) -> Alias | None:
        address = _address(address)
        with self._lock:
            return self._alias(address) if address in self.aliases else None

    # -- mailboxes ---------------------------------------------------------------------------------

    def create_mailbox(self, address: str, display_name: str, quota_mb: int | None, password: str | None = None) -> Mailbox:
        address = _address(address)
        with self._lock:
            if address in self.accounts:
                raise AlreadyExistsError(f"mailbox {address} already exists", connector=CONNECTOR)
            if _domain(address) not in self.domains:
                raise RecordError(f"create mailbox {address}: domain {_domain(address)} does not exist", connector=CONNECTOR)
            if quota_mb is not None and quota_mb < 0:
                raise RecordError(f"create mailbox {address}: quota {quota_mb} MB is negative", connector=CONNECTOR)
            # An alias row already at the address stays, and from now on is the mailbox's forward.
            self.accounts[address] = MailAccount(display_name, quota_mb or 0, self.now)
            return self._mailbox(address)

    def update_mailbox(self, address: str, *, display_name: str | None = None, quota_mb: int | None = None) -> None:
        with self._lock:
            account = self._account(address)
            if quota_mb is not None and quota_mb < 0:
                raise RecordError(f"update mailbox {address}: quota {quota_mb} MB is negative", connector=CONNECTOR)
            if display_name is not None:
                account.display_name = display_name
            if quota_mb is not None:
                account.quota_mb = quota_mb

    def record_login(self, address: str, when: datetime) -> None:
        """The user logged in at `when` (Modoboa's last_login)."""
        with self._lock:
            self._account(address).last_login = when

    def suspend(self, address: str) -> None:
        address = _address(address)
        with self._lock:
            account = self._account(address)
            if account.active:  # Modoboa's signal: disabling an account disables every alias whose only recipient it is
                account.active = False
                account.self_alias = False
                for row in self.aliases.values():
                    if row.recipients == [address]:
                        row.enabled = False
            own = self.aliases.get(address)
            if own is not None and address in own.recipients and len(own.recipients) > 1:
                own.recipients = [r for r in own.recipients if r != address]  # a forward goes on, without the copy
                own.enabled = True

    def restore(self, address: str) -> None:
        address = _address(address)
        with self._lock:
            account = self._account(address)
            account.active = True
            for other, row in self.aliases.items():
                if other != address and row.recipients == [address]:
                    row.enabled = True
            own = self.aliases.get(address)
            if own is None:
                self.aliases[address] = AliasRow([address])
            elif address not in own.recipients or not own.enabled or own.expires is not None:
                own.recipients = sorted(set(own.recipients) | {address})
                own.enabled = True
                own.expires = None  # the transfer alias a mailbox renamed back took over: its delivery now

    def rename_mailbox(self, address: str, new_address: str) -> None:
        address, new_address = _address(address), _address(new_address)
        with self._lock:
            if new_address in self.accounts and address not in self.accounts:
                return  # renamed already by an interrupted run
            account = self._account(address)
            if new_address in self.accounts:
                raise AlreadyExistsError(f"rename mailbox {address}: {new_address} exists", connector=CONNECTOR)
            if _domain(new_address) not in self.domains:
                raise RecordError(f"rename mailbox {address}: domain {_domain(new_address)} does not exist",
                                  connector=CONNECTOR)
            own = self.aliases.get(address)
            self.accounts[new_address] = account
            del self.accounts[address]
            # Alias rows stay at their addresses; recipients follow the mailbox (they link to it).
            for row in self.aliases.values():
                row.recipients = [new_address if r == address else r for r in row.recipients]
            # The connector takes the mailbox's own alias along; one at the new address becomes its own, expiry dropped.
            if own is None:
                return
            del self.aliases[address]
            if not own.enabled:
                return  # its suspended delivery: restore() makes it again
            here = self.aliases.get(new_address)
            kept = here.recipients if here is not None and here.delivers(self.now) else []
            self.aliases[new_address] = AliasRow(sorted(set(kept) | set(own.recipients)))

    def delete_mailbox(self, address: str, keep_dir: bool = True) -> None:
        """Delete the account and every alias at its address; aliases elsewhere lose it as a recipient."""
        address = _address(address)
        with self._lock:
            if self.accounts.pop(address, None) is None:
                return
            self.aliases.pop(address, None)
            for other in list(self.aliases):
                row = self.aliases[other]
                row.recipients = [r for r in row.recipients if r != address]
                if not row.recipients:
                    del self.aliases[other]
        if self._on_delete is not None:
            self._on_delete(address, keep_dir)

    # -- forwards and aliases -----------------------------------------------------------------------

    def set_forward(self, address: str, recipients: Sequence[str], keep_copy: bool | None = None) -> None:
        address = _address(address)
        targets = sorted({_address(r) for r in recipients} - {address})
        if not targets:
            raise RecordError(f"forward {address}: no recipient other than itself", connector=CONNECTOR)
        with self._lock:
            account = self._account(address)
            self._check_recipients(f"forward {address}", targets)
            copy = account.active if keep_copy is None else keep_copy
            self.aliases[address] = AliasRow(targets + ([address] if copy else []))

    def clear_forward(self, address: str) -> None:
        address = _address(address)
        with self._lock:
            if address not in self.aliases:
                return
            if self._account(address).active:
                self.aliases[address] = AliasRow([address])  # only the mailbox itself: delivery goes on
            else:
                del self.aliases[address]

    def create_alias(
        self, address: str, recipients: Sequence[str], expires: datetime | None = None, *, mail_list: bool = False
    ) -> None:
        address = _address(address)
        targets = sorted({_address(r) for r in recipients})
        if not targets:
            raise RecordError(f"create alias {address}: no recipient", connector=CONNECTOR)
        with self._lock:
            row = self.aliases.get(address)
            if row is not None and sorted(row.recipients) != targets:
                raise AlreadyExistsError(f"alias {address} already exists", connector=CONNECTOR)
            if address in self.accounts:
                raise RecordError(f"create alias {address}: a mailbox has that address", connector=CONNECTOR)
            self._check_recipients(f"create alias {address}", targets)
            # One there with these recipients (what a rename left) becomes this one, expiry included.
            self.aliases[address] = AliasRow(targets, expires=expires, made_with=tuple(targets), as_list=mail_list)

    def delete_alias(self, address: str, recipients: Sequence[str] | None = None) -> None:
        address = _address(address)
        with self._lock:
            row = self.aliases.get(address)
            if row is None:
                return
            if address in self.accounts:
                raise RecordError(f"delete alias {address}: it is a mailbox's forward", connector=CONNECTOR)
            expected = sorted({_address(r) for r in recipients}) if recipients is not None else None
            if expected is not None and (sorted(row.recipients) != expected or not row.managed):
                raise RecordError(f"delete alias {address}: changed since the plan", connector=CONNECTOR)
            del self.aliases[address]

    def update_alias(self, address: str, recipients: Sequence[str], expected: Sequence[str] | None = None) -> None:
        address = _address(address)
        targets = sorted({_address(r) for r in recipients})
        if not targets:
            raise RecordError(f"update alias {address}: no recipient", connector=CONNECTOR)
        with self._lock:
            row = self.aliases.get(address)
            if row is None or address in self.accounts:
                raise RecordError(f"update alias {address}: no alias there", connector=CONNECTOR)
            if sorted(row.recipients) == targets and row.mail_list:
                return
            wanted = sorted({_address(r) for r in expected}) if expected is not None else None
            if not row.managed or (wanted is not None and sorted(row.recipients) != wanted):
                raise RecordError(f"update alias {address}: changed since the plan", connector=CONNECTOR)
            self._check_recipients(f"update alias {address}", targets)
            row.recipients = list(targets)
            row.made_with = tuple(targets)
            row.as_list = True

    def close(self) -> None:
        pass

    # -- where mail goes (Postfix's virtual alias map over Modoboa's tables) --------------------------

    def resolves(self, address: str) -> list[str]:
        """The recipients the alias map gives for `address`; [] means the mail bounces."""
        address = _address(address)
        with self._lock:
            found: set[str] = set()
            row = self.aliases.get(address)
            if row is not None and row.delivers(self.now):
                found.update(row.recipients)
            account = self.accounts.get(address)
            if account is not None and account.self_alias:
                found.add(address)
            return sorted(found)

    def reaches(self, address: str, seen: frozenset[str] = frozenset()) -> frozenset[str]:
        """The mailboxes a message to `address` ends in."""
        address = _address(address)
        reached: set[str] = set()
        for recipient in self.resolves(address):
            if recipient == address:
                reached.add(address)
            elif recipient not in seen:
                reached |= self.reaches(recipient, seen | {address})
        return frozenset(reached)

    # -- helpers -----------------------------------------------------------------------------------------

    def _check_recipients(self, what: str, recipients: Iterable[str]) -> None:
        """Modoboa takes an address of a domain it hosts only as a recipient that is there: a mailbox or an alias."""
        for recipient in recipients:
            if _domain(recipient) in self.domains and recipient not in self.accounts and recipient not in self.aliases:
                raise RecordError(f"{what}: local recipient {recipient} not found", connector=CONNECTOR)

    def _account(self, address: str) -> MailAccount:
        account = self.accounts.get(_address(address))
        if account is None:
            raise RecordError(f"no mailbox {address}", connector=CONNECTOR)
        return account

    def _alias(self, address: str) -> Alias:
        row = self.aliases[address]
        return Alias(address, tuple(sorted(row.recipients)), row.delivers(self.now), row.managed, row.expires,
                     row.mail_list)

    def _mailbox(self, address: str) -> Mailbox:
        account = self.accounts[address]
        own = self.aliases.get(address)
        forward_to: tuple[str, ...] = ()
        keeps_copy = False
        if own is not None and own.delivers(self.now):
            forward_to = tuple(sorted(r for r in own.recipients if r != address))
            keeps_copy = bool(forward_to) and address in own.recipients
        return Mailbox(address, account.display_name, account.quota_mb, account.active, account.last_login,
                       account.created, forward_to, keeps_copy)
