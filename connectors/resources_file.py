"""The admins' resources file ([resources] path): functional mailboxes and mail lists, read and checked.

The file is TOML:

    [department_lists]          # optional: the local part of a department's list ([lists] department = true)
    "总经办" = ""                # "" : no list for that department
    "研发部" = "rd"

    [[mailboxes]]
    company = "HQ"
    address = "it@example.com"
    display_name = "IT 服务台"
    owner = "100009"            # or head_of = "信息技术部", or owner_role = "head of 信息技术部"
    copy_to_owner = true        # optional (default true): the owner receives a copy of its mail
    quota_mb = 2048             # optional (default: [mail] default_quota_mb)

    [[lists]]
    company = "SZ"
    address = "sales@sz.example.com"
    display_name = "深圳销售"
    head_of = "销售部"
    members = ["100017", "partner@other.example"]   # employee ids and/or addresses
    departments = ["销售部"]                         # optional: everyone employed in these departments

What is fatal and what is not: a file that is missing, unreadable or not TOML says nothing reliable, so
`Resources.broken` says why and nothing about resources is changed this cycle (nothing is ever deleted
because the file broke).  One bad entry is skipped with a `ResourceProblem` naming it (its position and
address), the field and the fix; the other entries are used.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lifecycle.domain.resources import (
    NO_RESOURCES,
    FunctionalMailbox,
    MailList,
    Owner,
    ResourceProblem,
    Resources,
)
from lifecycle.domain.settings import Settings

__all__ = ["file_fingerprint", "parse_resources", "read_resources"]

_LOCAL = re.compile(r"[a-z0-9][a-z0-9._+-]*")
_ADDRESS = re.compile(r"[a-z0-9][a-z0-9._+-]*@[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+")
_HEAD_OF = re.compile(r"\s*head\s+of\s+(.+?)\s*$", re.IGNORECASE)
_COMMON = {"company", "address", "display_name", "owner", "head_of", "owner_role"}
_FIELDS = {"mailboxes": _COMMON | {"copy_to_owner", "quota_mb"}, "lists": _COMMON | {"members", "departments"}}
_TOP = {"mailboxes", "lists", "department_lists"}


class _Skip(Exception):
    """An entry that cannot be used: its problem."""

    def __init__(self, problem: ResourceProblem) -> None:
        super().__init__(problem.message())
        self.problem = problem


def file_fingerprint(path: Path | None) -> str:
    """What changes when the file does ("" without one): its digest, or why it cannot be read."""
    if path is None:
        return ""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"unreadable:{exc.errno}"


def read_resources(settings: Settings) -> Resources:
    """The file [resources] path names, checked against the companies; NO_RESOURCES without one."""
    path = settings.resources.path
    if path is None:
        return NO_RESOURCES
    where = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return Resources(broken=f"{where} does not exist; create it (examples/resources.toml) or remove "
                                "[resources] path from the config", source=where, fingerprint="missing")
    except OSError as exc:
        return Resources(broken=f"{where} cannot be read ({exc.strerror or exc}); let the service's user read it",
                         source=where, fingerprint=f"unreadable:{exc.errno}")
    fingerprint = hashlib.sha256(data).hexdigest()[:16]
    try:
        text = data.decode("utf-8")
        parsed = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        return Resources(broken=f"{where} is not UTF-8 text (byte {exc.start}); save it as UTF-8",
                         source=where, fingerprint=fingerprint)
    except tomllib.TOMLDecodeError as exc:
        return Resources(broken=f"{where} is not valid TOML: {exc}; correct it (`lifecycle check` reads it)",
                         source=where, fingerprint=fingerprint)
    found = parse_resources(parsed, settings)
    return Resources(found.mailboxes, found.lists, found.problems, found.department_names, source=where,
                     fingerprint=fingerprint)


def parse_resources(data: Mapping[str, Any], settings: Settings) -> Resources:
    """The entries of a parsed file; each unusable one becomes a problem and is left out."""
    domains = {c.code: c.domain for c in settings.companies}
    problems: list[ResourceProblem] = []
    for key in sorted(set(data) - _TOP):
        problems.append(ResourceProblem(f"[{key}]", key, "unknown section",
                                        "use [[mailboxes]], [[lists]] and [department_lists] only (check the spelling)"))
    seen: dict[str, str] = {}
    mailboxes: list[FunctionalMailbox] = []
    lists: list[MailList] = []
    for section in ("mailboxes", "lists"):
        entries = data.get(section, [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            problems.append(ResourceProblem(f"[[{section}]]", section, "is not a list of tables",
                                            f"write each entry as its own [[{section}]] table"))
            continue
        for index, entry in enumerate(entries, start=1):
            try:
                made = _entry(section, index, entry, domains, seen)
            except _Skip as skip:
                problems.append(skip.problem)
                continue
            if isinstance(made, FunctionalMailbox):
                mailboxes.append(made)
            else:
                lists.append(made)
    names, name_problems = _department_names(data.get("department_lists", {}))
    problems.extend(name_problems)
    return Resources(tuple(mailboxes), tuple(lists), tuple(problems), names)


def _entry(
    section: str, index: int, entry: Mapping[str, Any], domains: Mapping[str, str], seen: dict[str, str],
) -> FunctionalMailbox | MailList:
    raw_address = entry.get("address")
    address = raw_address.strip().lower() if isinstance(raw_address, str) else ""
    where = f"[[{section}]] #{index}" + (f" ({address})" if address else "")
    raw_company = entry.get("company")
    company: str = raw_company if isinstance(raw_company, str) else ""

    def skip(field: str, reason: str, fix: str) -> _Skip:
        return _Skip(ResourceProblem(where, field, reason, fix, company if company in domains else "", address))

    unknown = sorted(set(entry) - _FIELDS[section])
    if unknown:
        raise skip(unknown[0], "unknown field", f"use only {', '.join(sorted(_FIELDS[section]))} (check the spelling)")
    if company not in domains:
        raise skip("company", f"{entry.get('company')!r} is not a company of the config",
                   f"set company to one of {', '.join(sorted(domains))}")
    if not address:
        raise skip("address", "missing", f'add address = "name@{domains[company]}"')
    if not _ADDRESS.fullmatch(address):
        raise skip("address", f"{raw_address!r} is not a plain address",
                   f'write it as "name@{domains[company]}" (letters, digits, . _ + -)')
    domain = address.partition("@")[2]
    if domain != domains[company]:
        raise skip("address", f"{address} is not in {company}'s domain {domains[company]}",
                   f"use an address @{domains[company]}, or the company whose domain is {domain}")
    if address in seen:
        raise skip("address", f"declared already by {seen[address]}", "declare each address once")
    seen[address] = where
    display = entry.get("display_name")
    if not isinstance(display, str) or not display.strip():
        raise skip("display_name", "missing or empty", 'add display_name = "what people see"')
    owner = _owner(entry, skip)
    if section == "mailboxes":
        copy = entry.get("copy_to_owner", True)
        if not isinstance(copy, bool):
            raise skip("copy_to_owner", f"{copy!r} is not true or false", "write copy_to_owner = true or false")
        quota = entry.get("quota_mb")
        if quota is not None and (not isinstance(quota, int) or isinstance(quota, bool) or quota < 0):
            raise skip("quota_mb", f"{quota!r} is not a number of MB", "write quota_mb = 2048 (0: no limit), or leave it out")
        return FunctionalMailbox(company, address, display.strip(), owner, where, copy, quota)
    members = _texts(entry, "members", skip)
    for member in members:
        if "@" in member and not _ADDRESS.fullmatch(member):
            raise skip("members", f"{member!r} is not a plain address", "write an address as name@domain, an employee by id")
        if member == address:
            raise skip("members", "the list is its own member", f"remove {address} from members")
    departments = _texts(entry, "departments", skip, lower=False)
    return MailList(company, address, display.strip(), owner, members, departments, where)


def _owner(entry: Mapping[str, Any], skip: Any) -> Owner:
    given = [k for k in ("owner", "head_of", "owner_role") if k in entry]
    if len(given) != 1:
        raise skip("owner", "no owner" if not given else f"{' and '.join(given)} both given",
                   'give exactly one of owner = "<employee id>", head_of = "<department>" or owner_role = "head of <department>"')
    key = given[0]
    value = entry[key]
    if isinstance(value, int) and not isinstance(value, bool) and key == "owner":
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise skip(key, f"{value!r} is not text", f'write {key} = "..." as text')
    if key == "owner":
        return Owner(employee_id=value.strip())
    if key == "head_of":
        return Owner(head_of=value.strip())
    role = _HEAD_OF.fullmatch(value)
    if role is None:
        raise skip("owner_role", f"{value!r} is not a role this version knows",
                   'write owner_role = "head of <department>" (or head_of = "<department>")')
    return Owner(head_of=role.group(1))


def _texts(entry: Mapping[str, Any], key: str, skip: Any, *, lower: bool = True) -> tuple[str, ...]:
    values = entry.get(key, [])
    if not isinstance(values, list):
        raise skip(key, "is not a list", f'write {key} = ["...", "..."]')
    found: list[str] = []
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # an employee id written as a number
        if not isinstance(value, str) or not value.strip():
            raise skip(key, f"{value!r} is not text", f"write each of {key} as a quoted string")
        text = value.strip()
        text = text.lower() if lower and "@" in text else text
        if text not in found:
            found.append(text)
    return tuple(found)


def _department_names(table: Any) -> tuple[tuple[tuple[str, str], ...], list[ResourceProblem]]:
    if not isinstance(table, dict):
        return (), [ResourceProblem("[department_lists]", "department_lists", "is not a table",
                                    'write [department_lists] then lines such as "研发部" = "rd"')]
    names: list[tuple[str, str]] = []
    problems: list[ResourceProblem] = []
    for department, value in table.items():
        local = value.strip().lower() if isinstance(value, str) else None
        if local is None or (local and not _LOCAL.fullmatch(local)):
            problems.append(ResourceProblem(f"[department_lists] {department!r}", department, f"{value!r} is not a local part",
                                            'write a name such as "rd" (letters, digits, . _ + -), or "" for no list'))
            continue
        names.append((department.strip(), local))
    return tuple(sorted(names)), problems
