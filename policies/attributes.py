"""The directory attributes HR owns, and how an entry differs from them."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from lifecycle.domain.action_params import HR_OWNED
from lifecycle.domain.models import DirectoryEntry, HrRecord
from policies.placement import dn_key


def split_chinese_name(record: HrRecord) -> tuple[str, str]:
    """Surname and given name for `sn`/`givenName` (both are text, not pinyin)."""
    from policies.naming import split_name  # local import keeps this module light

    if record.family_name and record.name.startswith(record.family_name) and len(record.name) > len(record.family_name):
        return record.family_name, record.name[len(record.family_name) :]
    split = split_name(record.name, record.family_name)
    if not isinstance(split, tuple):  # an unnameable name still needs an sn: use the whole name
        return record.family_name or record.name, ""
    surname, given = split
    # Shared per distinct text: a plan keeps one per new entry, from far fewer distinct surnames and given names.
    return sys.intern(surname or record.name), sys.intern(given)


def display_name(record: HrRecord) -> str:
    return f"{record.name} ({record.english_name})" if record.english_name else record.name


def desired_attributes(record: HrRecord, mail: str, manager_dn: str) -> dict[str, str]:
    surname, given = split_chinese_name(record)
    return {
        "cn": record.name,
        "sn": surname,
        "givenName": given,
        "displayName": display_name(record),
        "mail": mail,
        "employeeNumber": record.employee_id,
        "departmentNumber": record.department,
        "title": record.title,
        "manager": manager_dn,
    }


def current_attributes(entry: DirectoryEntry) -> dict[str, str]:
    return {
        "cn": entry.cn,
        "sn": entry.sn,
        "givenName": entry.given_name,
        "displayName": entry.display_name,
        "mail": entry.mail,
        "employeeNumber": entry.employee_number,
        "departmentNumber": entry.department,
        "title": entry.title,
        "manager": entry.manager,
    }


def attribute_changes(current: dict[str, str], desired: dict[str, str]) -> dict[str, list[Any]]:
    """`{attribute: [before, after]}` for each HR-owned attribute that differs."""
    return _changes(((name, current.get(name, "")) for name in HR_OWNED), desired)


def entry_changes(entry: DirectoryEntry, desired: dict[str, str]) -> dict[str, list[Any]]:
    """`attribute_changes(current_attributes(entry), desired)` without building the entry's dict."""
    values = (entry.cn, entry.sn, entry.given_name, entry.display_name, entry.mail, entry.employee_number,
              entry.department, entry.title, entry.manager)  # in HR_OWNED order
    return _changes(zip(HR_OWNED, values), desired)


def _changes(current: Iterable[tuple[str, str]], desired: dict[str, str]) -> dict[str, list[Any]]:
    changes: dict[str, list[Any]] = {}
    get = desired.get
    for name, before in current:
        before = before or ""
        after = get(name, "") or ""
        if before == after:
            continue
        if name == "manager" and dn_key(before) == dn_key(after):
            continue
        changes[name] = [before or None, after or None]
    return changes


def mail_local_part(entry: DirectoryEntry | None, uid: str) -> str:
    """An adopted entry keeps its address; a domain change keeps the local part."""
    if entry is not None and "@" in entry.mail:
        return entry.mail.split("@", 1)[0]
    return uid
