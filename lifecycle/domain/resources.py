"""Functional mailboxes and mail lists the admins declare ([resources] path): pure types, no I/O.

Read from the admins' TOML file by connectors.resources_file; planned by policies.resources.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Owner:
    """Who answers for a resource: an employee, or a role ("the head of 运营部" of a company)."""

    employee_id: str = ""
    head_of: str = ""  # a department: its head is the owner (the manager most of its people report to)


@dataclass(frozen=True, slots=True)
class FunctionalMailbox:
    """A mailbox nobody logs in to as a person (`it@`, `hr@`, a unit's): kept, never inactive."""

    company: str
    address: str  # lower-case, in the company's domain
    display_name: str
    owner: Owner


@dataclass(frozen=True, slots=True)
class MailList:
    """An address whose mail goes to its members (employees, by id, or addresses)."""

    company: str
    address: str
    display_name: str
    owner: Owner
    members: tuple[str, ...] = ()  # employee ids or addresses


@dataclass(frozen=True, slots=True)
class Resources:
    """What the admins' file declares ("" source: none configured)."""

    mailboxes: tuple[FunctionalMailbox, ...] = ()
    lists: tuple[MailList, ...] = ()
    source: str = ""
    fingerprint: str = ""  # of the file's bytes: a quiet daemon notices an edit


NO_RESOURCES = Resources()
