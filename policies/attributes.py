"""The directory attributes HR owns, and how an entry differs from them."""

from __future__ import annotations

from typing import Any

from lifecycle.models import DirectoryEntry, HrRecord

# Attributes the daemon keeps equal to HR; everything else on an entry is left alone.
HR_OWNED = ("cn", "sn", "givenName", "displayName", "mail", "employeeNumber", "departmentNumber", "title", "manager")


def split_chinese_name(record: HrRecord) -> tuple[str, str]:
    """Surname and given name for `sn`/`givenName` (both are text, not pinyin)."""
    from policies.naming import split_name  # local import keeps this module light

    if record.family_name and record.name.startswith(record.family_name) and len(record.name) > len(record.family_name):
        return record.family_name, record.name[len(record.family_name) :]
    split = split_name(record.name, record.family_name)
    if not isinstance(split, tuple):  # an unnameable name still needs an sn: use the whole name
        return record.family_name or record.name, ""
    surname, given = split
    return (surname or record.name), given


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
    changes: dict[str, list[Any]] = {}
    for name in HR_OWNED:
        before, after = current.get(name, "") or "", desired.get(name, "") or ""
        same = _dn_key(before) == _dn_key(after) if name == "manager" else before == after
        if not same:
            changes[name] = [before or None, after or None]
    return changes


def _dn_key(dn: str) -> str:
    return ",".join(part.strip().lower() for part in dn.split(","))


def mail_local_part(entry: DirectoryEntry | None, uid: str) -> str:
    """An adopted entry keeps its address; a domain change keeps the local part."""
    if entry is not None and "@" in entry.mail:
        return entry.mail.split("@", 1)[0]
    return uid
