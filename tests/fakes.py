"""An in-memory directory at the executor's port, for fast engine tests.

It mimics what the real slapd does that the engine relies on (refint rewrites
member/manager on a move and drops members on a delete; groupOfNames needs a
member).  The connector itself is tested against a real slapd.
"""

from __future__ import annotations

from datetime import datetime

from lifecycle.domain.errors import AlreadyExistsError, RecordError
from lifecycle.domain.models import DirectoryEntry, DirectorySnapshot, GroupEntry
from policies.placement import dn_key, split_rdn


class FakeDirectory:
    def __init__(self, created: datetime | None = None) -> None:
        self.people: dict[str, dict] = {}  # dn_key -> attrs (with "dn")
        self.groups: dict[str, dict] = {}
        self.created = created
        self.writes = 0

    # -- reading -------------------------------------------------------------------------
    def read_snapshot(self, known=()) -> DirectorySnapshot:
        entries = tuple(sorted((self._entry(a) for a in self.people.values()), key=lambda e: e.dn.lower()))
        groups = tuple(
            GroupEntry(g["dn"], g["cn"], g["o"], g["ou"], frozenset(g["member"])) for g in sorted(self.groups.values(), key=lambda g: g["dn"])
        )
        return DirectorySnapshot(entries, groups, frozenset(e.uid.lower() for e in entries))

    def _entry(self, a: dict) -> DirectoryEntry:
        return DirectoryEntry(
            dn=a["dn"], uid=a.get("uid", ""), cn=a.get("cn", ""), sn=a.get("sn", ""), given_name=a.get("givenName", ""),
            display_name=a.get("displayName", ""), mail=a.get("mail", ""), employee_number=a.get("employeeNumber", ""),
            department=a.get("departmentNumber", ""), title=a.get("title", ""), manager=a.get("manager", ""),
            locked=bool(a.get("locked")), last_bind=a.get("last_bind"), created=a.get("created", self.created),
        )

    def read_group(self, dn: str) -> GroupEntry | None:
        g = self.groups.get(dn_key(dn))
        return GroupEntry(g["dn"], g["cn"], g["o"], g["ou"], frozenset(g["member"])) if g else None

    def read_person(self, dn: str) -> DirectoryEntry | None:
        a = self.people.get(dn_key(dn))
        return self._entry(a) if a else None

    # -- writing -------------------------------------------------------------------------
    def create_person(self, dn: str, attributes: dict[str, str], password: str | None) -> None:
        self.writes += 1
        if dn_key(dn) in self.people:
            raise AlreadyExistsError(f"{dn} exists", connector="directory")
        self.people[dn_key(dn)] = {"dn": dn, **{k: v for k, v in attributes.items() if v}, "password": password}

    def set_password(self, dn: str, password: str) -> None:
        self.writes += 1
        self._get(dn)["password"] = password

    def modify_person(self, dn: str, changes: dict[str, str | None]) -> None:
        self.writes += 1
        person = self._get(dn)
        for key, value in changes.items():
            if value:
                person[key] = value
            else:
                person.pop(key, None)

    def move_person(self, dn: str, new_superior: str) -> str:
        self.writes += 1
        person = self.people.pop(dn_key(dn))
        new_dn = f"{split_rdn(dn)[0]},{new_superior}"
        person["dn"] = new_dn
        self.people[dn_key(new_dn)] = person
        for other in self.people.values():  # refint
            if other.get("manager") and dn_key(other["manager"]) == dn_key(dn):
                other["manager"] = new_dn
        for group in self.groups.values():
            group["member"] = [new_dn if dn_key(m) == dn_key(dn) else m for m in group["member"]]
        return new_dn

    def lock(self, dn: str) -> None:
        self.writes += 1
        self._get(dn)["locked"] = True

    def unlock(self, dn: str) -> None:
        self.writes += 1
        self._get(dn).pop("locked", None)

    def delete_person(self, dn: str) -> None:
        self.writes += 1
        self.people.pop(dn_key(dn), None)
        for group in self.groups.values():  # refint
            group["member"] = [m for m in group["member"] if dn_key(m) != dn_key(dn)]
        for other in self.people.values():
            if other.get("manager") and dn_key(other["manager"]) == dn_key(dn):
                other.pop("manager")

    def create_group(self, dn: str, company: str, department: str, first_member: str, members: list[str] | None = None) -> None:
        self.writes += 1
        if dn_key(dn) in self.groups:
            raise AlreadyExistsError(f"{dn} exists", connector="directory")
        initial = list(members or [first_member])
        self.groups[dn_key(dn)] = {"dn": dn, "cn": split_rdn(dn)[0][3:], "o": company, "ou": department, "member": initial}

    def add_members(self, group_dn: str, member_dns: list[str]) -> None:
        self.writes += 1
        members = self.groups[dn_key(group_dn)]["member"]
        members.extend(m for m in member_dns if dn_key(m) not in {dn_key(x) for x in members})

    def add_member(self, group_dn: str, member_dn: str) -> None:
        self.writes += 1
        members = self.groups[dn_key(group_dn)]["member"]
        if dn_key(member_dn) not in {dn_key(m) for m in members}:
            members.append(member_dn)

    def remove_member(self, group_dn: str, member_dn: str) -> None:
        self.writes += 1
        group = self.groups[dn_key(group_dn)]
        remaining = [m for m in group["member"] if dn_key(m) != dn_key(member_dn)]
        if not remaining:
            raise RecordError("groupOfNames needs a member", connector="directory")
        group["member"] = remaining

    def delete_group(self, dn: str) -> None:
        self.writes += 1
        self.groups.pop(dn_key(dn), None)

    def ensure_containers(self) -> list[str]:
        return []

    def _get(self, dn: str) -> dict:
        try:
            return self.people[dn_key(dn)]
        except KeyError:
            raise RecordError(f"no such entry {dn}", connector="directory") from None

    # -- test helpers ----------------------------------------------------------------------
    def by_uid(self, uid: str) -> dict | None:
        return next((p for p in self.people.values() if p.get("uid") == uid), None)
