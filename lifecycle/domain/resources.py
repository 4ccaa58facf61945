"""Functional mailboxes and mail lists the admins declare ([resources] path): pure types, no I/O.

Read from the admins' TOML file by connectors.resources_file; planned by policies.resources.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Owner:
    """Who answers for a resource: an employee, or a role ("the head of 运营部" of a company)."""

    employee_id: str = ""
    head_of: str = ""  # a department: its head (the one member whose manager is outside it) is the owner


@dataclass(frozen=True, slots=True)
class FunctionalMailbox:
    """A mailbox nobody logs in to as a person (`it@`, `hr@`, a unit's): kept, never inactive."""

    company: str
    address: str  # lower-case, in the company's domain
    display_name: str
    owner: Owner
    where: str = ""  # how an admin finds it in the file: "mailboxes[2] (it@example.com)"
    copy_to_owner: bool = True  # its mail is also forwarded to the owner (the mailbox keeps it too)
    quota_mb: int | None = None  # None: [mail] default_quota_mb


@dataclass(frozen=True, slots=True)
class MailList:
    """An address whose mail goes to its members (employees, by id, or addresses)."""

    company: str
    address: str
    display_name: str
    owner: Owner
    members: tuple[str, ...] = ()  # employee ids or addresses
    departments: tuple[str, ...] = ()  # the company's departments whose people are members too
    where: str = ""


@dataclass(frozen=True, slots=True)
class ResourceProblem:
    """An entry of the file that cannot be used as written: skipped (the others are made), reported."""

    where: str  # "lists[3] (sales@sz.example.com)"
    field: str
    reason: str
    fix: str
    company: str = ""  # whose admins see it ("" the group's)
    address: str = ""

    def message(self) -> str:
        return f"{self.where}: {self.field}: {self.reason}; fix: {self.fix}"


@dataclass(frozen=True, slots=True)
class Resources:
    """What the admins' file declares ("" source: none configured).

    `broken`: why the file as a whole could not be read (missing, unreadable, not TOML): then nothing about
    resources is changed this cycle (nothing made, nothing re-pointed) and a review says so.
    `department_names`: the file's [department_lists] table, department -> local part ("" = no list).
    """

    mailboxes: tuple[FunctionalMailbox, ...] = ()
    lists: tuple[MailList, ...] = ()
    problems: tuple[ResourceProblem, ...] = ()
    department_names: tuple[tuple[str, str], ...] = ()
    broken: str = ""
    source: str = ""
    fingerprint: str = ""  # of the file's bytes: a quiet daemon notices an edit

    def addresses(self) -> frozenset[str]:
        return frozenset({m.address for m in self.mailboxes} | {m.address for m in self.lists})


NO_RESOURCES = Resources()
