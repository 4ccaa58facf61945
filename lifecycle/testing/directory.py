"""An in-memory `Directory` that behaves like the OpenLDAP the product is deployed against.

What it does as slapd (with the refint overlay on `member` and `manager`, and the LDAP connector
over it) does, checked by the same conformance suite (lifecycle.testing.conformance):

- DNs and values compare without regard to case (lifecycle.domain.dn): one entry per DN, one
  member value per DN, whatever case a caller writes;
- DNs come back with lower-case attribute types (`UID=a,OU=x` is read as `uid=a,ou=x`);
- a move rewrites every `member` and `manager` value naming the old DN; a delete removes them,
  except the only member of a group: a groupOfNames cannot lose its last value, so that
  reference stays (and `reference_holders` reports it), as it does with slapd;
- removing a group's last member is a RecordError; adding a member already there, removing one
  already gone, deleting what is not there, and repeating a move that happened are no-ops;
- writes to an entry that does not exist are RecordError, a create over an existing DN is
  AlreadyExistsError.

It has no containers: any parent DN is accepted, and every person is in the snapshot.  The
stored entries are public (`people`, `groups`) so that a test can arrange what someone did
outside the engine (a login, an admin's edit) and inspect the result.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any

from lifecycle.domain.dn import dn_key, match_key, split_rdns
from lifecycle.domain.errors import AlreadyExistsError, RecordError
from lifecycle.domain.models import DirectoryEntry, DirectorySnapshot, GroupEntry
from lifecycle.domain.ports import DirectoryFeatures

__all__ = ["InMemoryDirectory", "StoredEntry"]

CONNECTOR = "directory"

StoredEntry = dict[str, Any]
"""A stored person: its attributes by LDAP name (`uid`, `cn`, `mail`, `manager`...; one string each, as the
engine writes them) and `dn`, plus the operational values `locked` (bool), `last_bind` and `created`
(datetime) and `password` (the clear text last set).  A stored group: `dn`, `cn`, `o`, `ou` and `member`
(a list of DNs)."""

# How read_snapshot/read_person name the attributes in a DirectoryEntry.
_ENTRY_FIELDS = {
    "uid": "uid", "cn": "cn", "sn": "sn", "givenname": "given_name", "displayname": "display_name", "mail": "mail",
    "employeenumber": "employee_number", "departmentnumber": "department", "title": "title",
}
# The spelling an attribute is stored under, whatever the caller's case.
_SPELLING = {name.lower(): name for name in (
    "uid", "cn", "sn", "givenName", "displayName", "mail", "employeeNumber", "departmentNumber", "title", "manager")}
_OPERATIONAL = frozenset({"dn", "locked", "last_bind", "created", "password"})


def _canonical(dn: str) -> str:
    """The DN as the LDAP connector hands DNs out: attribute types in lower case, no spaces around separators."""
    rdns = []
    for rdn in split_rdns(dn.strip()):
        attribute, equals, value = rdn.strip().partition("=")
        if not equals or not attribute.strip():
            raise RecordError(f"{dn}: not a valid DN", connector=CONNECTOR)
        rdns.append(f"{attribute.strip().lower()}={value.strip()}")
    return ",".join(rdns)


def _unescape(value: str) -> str:
    out, escaped = [], False
    for char in value:
        if escaped or char != "\\":
            out.append(char)
            escaped = False
        else:
            escaped = True
    return "".join(out)


def _first_rdn(dn: str) -> tuple[str, str, str]:
    """(attribute, unescaped value, the RDN as written) of `dn`'s first RDN."""
    rdn = split_rdns(dn)[0]
    attribute, _, value = rdn.partition("=")
    return attribute, _unescape(value), rdn


def _parent(dn: str) -> str:
    return ",".join(split_rdns(dn)[1:])


class InMemoryDirectory:
    """The `Directory` port in memory (lifecycle.domain.ports), for engine and policy tests.

    `created`: the creation time every entry reports (slapd's createTimestamp); None reports none, as a
    directory that hides operational attributes from the bind DN does.  `write_connections`: what
    `features` declares (the engine then writes from that many threads; every call here is atomic).
    """

    def __init__(self, created: datetime | None = None, *, write_connections: int = 1) -> None:
        self.people: dict[str, StoredEntry] = {}
        """Stored people by `dn_key` of their DN."""
        self.groups: dict[str, StoredEntry] = {}
        """Stored groups by `dn_key` of their DN."""
        self.created = created
        self.writes = 0
        """How many write calls were made (failed ones included): what a test of batching counts."""
        self._features = DirectoryFeatures(
            write_connections=write_connections, reference_waits=True, transactions=False, change_stamps=True
        )
        self._lock = threading.RLock()
        self._logins = 0

    @property
    def features(self) -> DirectoryFeatures:
        return self._features

    # -- reading -------------------------------------------------------------------------

    def read_snapshot(self, known: Iterable[str] = ()) -> DirectorySnapshot:
        with self._lock:
            entries = tuple(sorted((self._entry(person) for person in self.people.values()), key=lambda e: e.dn))
            groups = tuple(sorted((self._group(group) for group in self.groups.values()), key=lambda g: g.dn))
        return DirectorySnapshot(entries, groups, frozenset(match_key(e.uid) for e in entries if e.uid))

    def read_person(self, dn: str) -> DirectoryEntry | None:
        with self._lock:
            person = self.people.get(dn_key(_canonical(dn)))
            return self._entry(person) if person is not None else None

    def read_group(self, dn: str) -> GroupEntry | None:
        with self._lock:
            group = self.groups.get(dn_key(_canonical(dn)))
            return self._group(group) if group is not None else None

    def by_uid(self, uid: str) -> StoredEntry | None:
        """The stored person with this uid (compared as the directory does), to inspect or change."""
        wanted = match_key(uid)
        return next((p for p in self.people.values() if match_key(str(p.get("uid", ""))) == wanted), None)

    def _entry(self, person: StoredEntry) -> DirectoryEntry:
        values: dict[str, Any] = {field: "" for field in _ENTRY_FIELDS.values()}
        for name, value in person.items():
            field = _ENTRY_FIELDS.get(name.lower())
            if field is not None:
                values[field] = value
        return DirectoryEntry(
            dn=person["dn"], manager=person.get("manager", ""), locked=bool(person.get("locked")),
            last_bind=person.get("last_bind"), created=person.get("created", self.created), **values,
        )

    @staticmethod
    def _group(group: StoredEntry) -> GroupEntry:
        return GroupEntry(group["dn"], group["cn"], group["o"], group["ou"], frozenset(group["member"]))

    # -- people --------------------------------------------------------------------------

    def create_person(self, dn: str, attributes: dict[str, str], password: str | None) -> None:
        with self._lock:
            self.writes += 1
            dn = _canonical(dn)
            if dn_key(dn) in self.people:
                raise AlreadyExistsError(f"create {dn}: the entry exists", connector=CONNECTOR)
            person: StoredEntry = {"dn": dn}
            for name, value in attributes.items():
                if value:
                    self._set(person, name, _canonical(value) if name.lower() == "manager" else value)
            attribute, value, _ = _first_rdn(dn)
            if not any(name.lower() == attribute for name in person if name not in _OPERATIONAL):
                self._set(person, attribute, value)  # the naming value is in the entry, as LDAP requires
            if password:
                person["password"] = password
            self.people[dn_key(dn)] = person

    def modify_person(self, dn: str, changes: dict[str, str | None]) -> None:
        """Replace each attribute; None or "" removes it (fine when already absent)."""
        with self._lock:
            self.writes += 1
            person = self._person("modify", dn)
            for name, value in changes.items():
                if value:
                    self._set(person, name, _canonical(value) if name.lower() == "manager" else value)
                else:
                    self._set(person, name, None)

    def set_password(self, dn: str, password: str) -> None:
        if not password:
            raise ValueError("password must not be empty")
        with self._lock:
            self.writes += 1
            self._person("set password of", dn)["password"] = password

    def move_person(self, dn: str, new_superior: str) -> str:
        """Move under `new_superior`, keeping the RDN; references follow (refint).  Returns the new DN."""
        with self._lock:
            self.writes += 1
            dn, superior = _canonical(dn), _canonical(new_superior)
            new_dn = f"{_first_rdn(dn)[2]},{superior}"
            if dn_key(_parent(dn)) == dn_key(superior):
                return dn
            person = self.people.pop(dn_key(dn), None)
            if person is None:
                if dn_key(new_dn) in self.people:  # a repeat of a move that happened
                    return self.people[dn_key(new_dn)]["dn"]  # type: ignore[no-any-return]
                raise RecordError(f"move {dn}: no such entry", connector=CONNECTOR)
            if dn_key(new_dn) in self.people:
                self.people[dn_key(dn)] = person
                raise RecordError(f"move {dn} to {superior}: {new_dn} exists", connector=CONNECTOR)
            person["dn"] = new_dn
            self.people[dn_key(new_dn)] = person
            self._rewrite_references(dn, new_dn)
            return new_dn

    def lock(self, dn: str) -> None:
        with self._lock:
            self.writes += 1
            self._person("lock", dn)["locked"] = True

    def unlock(self, dn: str) -> None:
        with self._lock:
            self.writes += 1
            self._person("unlock", dn).pop("locked", None)

    def delete_person(self, dn: str) -> None:
        """Delete; absent is fine.  References go (refint), but a group keeps its only member's value."""
        with self._lock:
            self.writes += 1
            dn = _canonical(dn)
            if self.people.pop(dn_key(dn), None) is not None:
                self._rewrite_references(dn, None)

    def record_login(self, dn: str, when: datetime) -> None:
        """The person logged in at `when` (what slapd's lastbind overlay records)."""
        with self._lock:
            self._person("record a login of", dn)["last_bind"] = when
            self._logins += 1

    # -- groups ----------------------------------------------------------------------------

    def create_group(
        self, dn: str, company: str, department: str, first_member: str, members: Sequence[str] | None = None
    ) -> None:
        with self._lock:
            self.writes += 1
            dn = _canonical(dn)
            if dn_key(dn) in self.groups:
                raise AlreadyExistsError(f"create group {dn}: the entry exists", connector=CONNECTOR)
            initial: list[str] = []
            self._add_values(initial, [m for m in (members or ()) if m] or [first_member])
            _, cn, _ = _first_rdn(dn)
            self.groups[dn_key(dn)] = {"dn": dn, "cn": cn, "o": company, "ou": department, "member": initial}

    def add_member(self, group_dn: str, member_dn: str) -> None:
        self.add_members(group_dn, [member_dn])

    def add_members(self, group_dn: str, member_dns: Sequence[str]) -> None:
        with self._lock:
            self.writes += 1
            self._add_values(self._group_entry("add members to", group_dn)["member"], member_dns)

    def remove_member(self, group_dn: str, member_dn: str) -> None:
        self.remove_members(group_dn, [member_dn])

    def remove_members(self, group_dn: str, member_dns: Sequence[str]) -> None:
        with self._lock:
            self.writes += 1
            group = self._group_entry("remove members from", group_dn)
            gone = {dn_key(_canonical(m)) for m in member_dns if m}
            remaining = [m for m in group["member"] if dn_key(m) not in gone]
            if not remaining:
                raise RecordError(
                    f"remove members from {group['dn']}: a groupOfNames needs at least one member: delete the group "
                    "instead of removing its last member", connector=CONNECTOR,
                )
            group["member"] = remaining

    def delete_group(self, dn: str) -> None:
        with self._lock:
            self.writes += 1
            self.groups.pop(dn_key(_canonical(dn)), None)

    # -- lanes, references, transactions ------------------------------------------------------

    def writer(self, *, defer_references: bool = False) -> AbstractContextManager[None]:
        """Nothing to bind: every call is atomic here."""
        return nullcontext()

    def await_references(self, old_dns: Sequence[str]) -> None:
        """Nothing to wait for: references are rewritten with the move or delete itself."""

    def reference_holders(self, old_dns: Sequence[str]) -> list[str]:
        """DNs of the entries whose member or manager names one of `old_dns`."""
        wanted = {dn_key(_canonical(dn)) for dn in old_dns if dn}
        with self._lock:
            holders = [p["dn"] for p in self.people.values() if p.get("manager") and dn_key(p["manager"]) in wanted]
            holders += [g["dn"] for g in self.groups.values() if any(dn_key(m) in wanted for m in g["member"])]
        return holders

    def transaction(self) -> AbstractContextManager[None]:
        raise NotImplementedError("InMemoryDirectory offers no transactions (features.transactions is False)")

    def ensure_containers(self) -> list[str]:
        """Nothing to create: this directory has no containers."""
        return []

    def read_uids(self, dn: str) -> list[str] | None:
        """The uid of the entry at `dn` ([] when it has none), None when there is no entry."""
        with self._lock:
            person = self.people.get(dn_key(_canonical(dn)))
            if person is None:
                return None
            uid = next((value for name, value in person.items() if name.lower() == "uid"), "")
            return [uid] if uid else []

    def change_stamp(self) -> str | None:
        """Moves with every write call and every login, as slapd's contextCSN does (a write that failed moves
        it too: harmless, a cycle more).  Edits made straight on `people` or `groups` leave it."""
        with self._lock:
            return f"{self.writes}.{self._logins}"

    def entry_versions(self) -> Iterator[tuple[str, bytes | None]]:
        raise NotImplementedError("InMemoryDirectory offers no entry versions (features.entry_versions is False)")

    def close(self) -> None:
        pass

    # -- helpers ---------------------------------------------------------------------------------

    def _person(self, what: str, dn: str) -> StoredEntry:
        person = self.people.get(dn_key(_canonical(dn)))
        if person is None:
            raise RecordError(f"{what} {dn}: no such entry", connector=CONNECTOR)
        return person

    def _group_entry(self, what: str, dn: str) -> StoredEntry:
        group = self.groups.get(dn_key(_canonical(dn)))
        if group is None:
            raise RecordError(f"{what} {dn}: no such entry", connector=CONNECTOR)
        return group

    @staticmethod
    def _set(person: StoredEntry, name: str, value: str | None) -> None:
        """Set (None: remove) an attribute; attribute names compare without regard to case, as in LDAP."""
        folded = name.lower()
        spelling = next((key for key in person if key.lower() == folded and key not in _OPERATIONAL), None)
        if spelling is not None:
            del person[spelling]
        if value is not None:
            person[_SPELLING.get(folded, spelling or name)] = value

    @staticmethod
    def _add_values(members: list[str], new: Iterable[str]) -> None:
        present = {dn_key(m) for m in members}
        for dn in new:
            if not dn:
                continue
            dn = _canonical(dn)
            if dn_key(dn) not in present:
                present.add(dn_key(dn))
                members.append(dn)

    def _rewrite_references(self, old_dn: str, new_dn: str | None) -> None:
        """What refint does after a move (`new_dn`) or a delete (None)."""
        old = dn_key(old_dn)
        for person in self.people.values():
            if person.get("manager") and dn_key(person["manager"]) == old:
                if new_dn is None:
                    del person["manager"]
                else:
                    person["manager"] = new_dn
        for group in self.groups.values():
            members: list[str] = group["member"]
            if not any(dn_key(m) == old for m in members):
                continue
            if new_dn is not None:
                group["member"] = [new_dn if dn_key(m) == old else m for m in members]
            elif len(members) > 1:  # refint cannot take a groupOfNames' last value: that reference stays
                group["member"] = [m for m in members if dn_key(m) != old]
