"""`LdapDirectory`: the OpenLDAP directory as the engine sees it (lifecycle.domain.ports.Directory).

Each call is one job of a module of this package: reads (snapshot.py), writes
(operations.py), the refint wait (references.py), over sessions (session.py)
that own the connections and map every failure onto the project's errors.
Reads share one session; writes go over the calling thread's lane (`writer()`)
or that same session.  Every DN handed out is canonical (dn.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Self

import structlog

from connectors.ldap import dn as dns
from connectors.ldap import operations, references, snapshot
from connectors.ldap.dn import canonical_dn, is_within, split_first_rdn
from connectors.ldap.session import CONNECTOR, Session, WriteLanes
from lifecycle.domain.dn import dn_key
from lifecycle.domain.errors import ConnectorConfigError, RecordError, TransientError
from lifecycle.domain.models import DirectoryEntry, DirectorySnapshot, GroupEntry
from lifecycle.domain.ports import DirectoryFeatures
from lifecycle.domain.settings import CompanySettings, DirectorySettings

log = structlog.get_logger(__name__)
TRANSACTION_EXTENSIONS = {"1.3.6.1.1.21.1", "1.3.6.1.1.21.3"}  # RFC 5805 Start and End Transaction


class LdapDirectory:
    """Reads and changes people and managed groups in an LDAP directory."""

    def __init__(self, settings: DirectorySettings, companies: Sequence[CompanySettings]) -> None:
        self.settings = settings
        self.companies = tuple(companies)
        self.base_dn = canonical_dn(settings.base_dn)
        self.groups_dn = canonical_dn(settings.groups_dn)
        self._session = Session(settings)
        self._lanes = WriteLanes(self._session, lambda: Session(settings))
        self._offers_transactions: bool | None = None
        self._naming_context: str | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    # -- what it can do -----------------------------------------------------------------

    @property
    def features(self) -> DirectoryFeatures:
        """Lanes as configured, refint waits, change stamps (None without syncprov) and entry versions
        always; transactions where asked for and offered (one read of the root DSE; when it fails, writes
        go one at a time and the next call asks again)."""
        try:
            transactions = self.offers_transactions()
        except (TransientError, ConnectorConfigError, RecordError) as err:
            log.warning("directory.transactions_not_checked", error=str(err))
            transactions = False
        return DirectoryFeatures(write_connections=self.write_connections, reference_waits=True, transactions=transactions,
                                 change_stamps=True, entry_versions=True)

    @property
    def write_connections(self) -> int:
        """How many lanes (connections) the executor may write over at once (`[directory] write_connections`)."""
        return max(1, int(self.settings.write_connections))

    def offers_transactions(self) -> bool:
        """Whether to write in LDAP transactions: `[directory] transactions` and the server offers them."""
        if not self.settings.transactions:
            return False
        if self._offers_transactions is None:
            self._offers_transactions = set(self._session.root_values("supportedExtension")) >= TRANSACTION_EXTENSIONS
        return self._offers_transactions

    def writer(
        self, *, defer_references: bool = False, own_connection: bool | None = None
    ) -> contextlib.AbstractContextManager[None]:
        """The calling thread's writes over a connection of its own while inside (session.WriteLanes); by default
        only with several `write_connections`: with one, over the shared connection, as the port says."""
        if own_connection is None:
            own_connection = self.write_connections > 1
        return self._lanes.writer(defer_references=defer_references, own_connection=own_connection)

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """The calling thread's writes in one LDAP transaction, all or nothing (session.WriteLanes)."""
        return self._lanes.transaction()

    # -- reading --------------------------------------------------------------------

    def _people_dns(self) -> list[str]:
        return [company.people_dn for company in self.companies]

    def read_snapshot(self, known: Iterable[str] = ()) -> DirectorySnapshot:
        """Every person under the companies' people_dn, the managed groups, and all uids (snapshot.py)."""
        for label, dn in self._containers():
            if not self._session.exists(dn):  # else its people would look deleted (or not yet created)
                raise ConnectorConfigError(
                    f"read directory: {label} {dn} does not exist; create it or fix the configuration "
                    "(`check` lists what is missing)",
                    connector=CONNECTOR,
                )
        return snapshot.read_snapshot(self._session, self.base_dn, self._people_dns(), self.groups_dn, known)

    def read_person(self, dn: str) -> DirectoryEntry | None:
        return snapshot.read_person(self._session, dn)

    def read_group(self, dn: str) -> GroupEntry | None:
        return snapshot.read_group(self._session, dn)

    def read_uids(self, dn: str) -> list[str] | None:
        return snapshot.read_uids(self._session, dn)

    def find_by_employee_number(self, employee_number: str) -> DirectoryEntry | None:
        return snapshot.find_by_employee_number(self._session, self._people_dns(), employee_number)

    def entry_versions(self) -> Iterator[tuple[str, bytes | None]]:
        """(DN, entryCSN) of every entry the snapshot reads (snapshot.py)."""
        return snapshot.entry_versions(self._session, self.base_dn)

    def change_stamp(self) -> str | None:
        """What the server says about the last change to the database holding the base DN (syncprov's
        contextCSN): equal stamps, no write in between.  None where the server keeps none (no syncprov)."""
        if self._naming_context is None:
            self._naming_context = snapshot.naming_context(self._session, self.base_dn) or ""
        return snapshot.change_stamp(self._session, self._naming_context) if self._naming_context else None

    # -- naming -----------------------------------------------------------------------

    @staticmethod
    def person_dn(uid: str, people_dn: str) -> str:
        return dns.person_dn(uid, people_dn)

    def group_dn(self, company: str, department: str) -> str:
        return dns.group_dn(company, department, self.groups_dn)

    # -- writes (operations.py) ---------------------------------------------------------

    def create_person(self, dn: str, attributes: Mapping[str, str], password: str | None) -> None:
        operations.create_person(self._lanes, dn, attributes, password)

    def modify_person(self, dn: str, changes: Mapping[str, str | None]) -> None:
        operations.modify_person(self._lanes, dn, changes)

    def set_password(self, dn: str, password: str) -> None:
        operations.set_password(self._lanes, dn, password)

    def move_person(self, dn: str, new_superior: str) -> str:
        """Move under `new_superior`, keeping the RDN; returns the new DN.  Inside a
        `writer(defer_references=True)` lane the wait for refint is the caller's (`await_references`)."""
        new_dn, moved = operations.move_person(self._lanes, self._session, dn, new_superior)
        if moved and not self._lanes.defers_references():
            self.await_references([dn])
        return new_dn

    def lock(self, dn: str) -> None:
        operations.lock(self._lanes, dn)

    def unlock(self, dn: str) -> None:
        operations.unlock(self._lanes, dn)

    def delete_person(self, dn: str) -> None:
        if operations.delete_person(self._lanes, dn) and not self._lanes.defers_references():
            self.await_references([dn])

    def create_group(
        self, dn: str, company: str, department: str, first_member: str, members: Sequence[str] | None = None
    ) -> None:
        operations.create_group(self._lanes, dn, company, department, first_member, members)

    def add_member(self, group_dn: str, member_dn: str) -> None:
        operations.add_member(self._lanes, group_dn, member_dn)

    def add_members(self, group_dn: str, member_dns: Sequence[str]) -> None:
        """Several members in one write of the group entry; one at a time when one of them is there already."""
        if not operations.add_members(self._lanes, group_dn, member_dns):
            for member_dn in dict.fromkeys(m for m in member_dns if m):
                self.add_member(group_dn, member_dn)

    def remove_member(self, group_dn: str, member_dn: str) -> None:
        operations.remove_member(self._lanes, group_dn, member_dn)

    def remove_members(self, group_dn: str, member_dns: Sequence[str]) -> None:
        """Several removals in one write of the group entry; one at a time when one of them is gone already."""
        if not operations.remove_members(self._lanes, group_dn, member_dns):
            for member_dn in dict.fromkeys(m for m in member_dns if m):
                self.remove_member(group_dn, member_dn)

    def delete_group(self, dn: str) -> None:
        operations.delete_group(self._lanes, dn)

    # -- refint (references.py) -------------------------------------------------------

    def await_references(self, old_dns: Sequence[str]) -> None:
        """Wait until the server has rewritten the references to these moved or deleted DNs."""
        references.await_references(self._session, self.base_dn, old_dns, self.settings.timeout_seconds)

    def reference_holders(self, old_dns: Sequence[str], *, limit: int = 0) -> list[str]:
        """DNs of entries whose member or manager names one of `old_dns` (at most `limit`, 0: all)."""
        return references.reference_holders(self._session, self.base_dn, old_dns, limit=limit)

    # -- setup and health -------------------------------------------------------------

    def _containers(self) -> list[tuple[str, str]]:
        """(label, dn) of every container the configuration relies on."""
        labelled = [(f"companies[{c.code}].people_dn", canonical_dn(c.people_dn)) for c in self.companies]
        labelled.append(("directory.groups_dn", self.groups_dn))
        return labelled

    def ensure_containers(self) -> list[str]:
        """Create missing people_dn/groups_dn organizational units (and missing parents)."""
        if not self._session.exists(self.base_dn):
            raise ConnectorConfigError(f"directory.base_dn {self.base_dn} does not exist; create it first", connector=CONNECTOR)
        created: list[str] = []
        for label, dn in self._containers():
            if not is_within(dn, self.base_dn):
                raise ConnectorConfigError(f"{label} {dn} is not under directory.base_dn {self.base_dn}", connector=CONNECTOR)
            missing: list[str] = []
            current = dn
            while dn_key(current) != dn_key(self.base_dn) and not self._session.exists(current):
                missing.append(current)
                current = split_first_rdn(current)[1]
            for container in reversed(missing):
                rdn, _ = split_first_rdn(container)
                if len(rdn) != 1 or rdn[0][0].lower() != "ou":
                    raise ConnectorConfigError(
                        f"{label}: {container} is missing and only ou= containers are created automatically; create it by hand",
                        connector=CONNECTOR,
                    )
                operations.add_container(self._session, container, rdn[0][1])
                log.info("directory.container_created", dn=container)
                created.append(container)
        return created

    def check(self) -> list[str]:
        """Problems that would make the daemon unsafe or useless; empty when healthy."""
        try:
            self._session.connect()
        except (TransientError, ConnectorConfigError) as err:
            return [str(err)]
        problems: list[str] = []
        try:
            if not self._session.exists(self.base_dn):
                return [f"directory.base_dn {self.base_dn} does not exist (or {self.settings.bind_dn} cannot read it)"]
            for label, dn in self._containers():
                if not self._session.exists(dn):
                    problems.append(f"{label} {dn} does not exist; create it (ensure_containers does) or fix the setting")
            lockout = "(&(objectClass=pwdPolicy)(pwdLockout=TRUE))"
            if not list(snapshot.entries(self._session, "find password policy", self.base_dn, lockout, ["1.1"])):
                problems.append(
                    f"no password policy with pwdLockout: TRUE is readable under {self.base_dn}: disabling an account "
                    "(pwdAccountLockedTime) would NOT block its logins; load the ppolicy overlay with "
                    "olcPPolicyUseLockout: TRUE, set pwdLockout: TRUE on its default policy (olcPPolicyDefault), "
                    f"and let {self.settings.bind_dn} read that entry"
                )
        except (TransientError, ConnectorConfigError, RecordError) as err:
            problems.append(str(err))
        return problems

    def bind_as(self, dn: str, password: str) -> bool:
        """True when a simple bind as `dn` succeeds (on a fresh connection).

        An empty password would be an unauthenticated bind, which servers
        accept; it is reported as a failure, never as a login.
        """
        if not password:
            return False
        return self._session.bind_succeeds(dn, password)
