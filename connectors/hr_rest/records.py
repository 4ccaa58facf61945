"""A vendor's users and departments -> rows of canonical HR fields (what `build_snapshot` validates).

Each preset reads its users and its department tree and hands them here as `Person`s: the user's
own fields (the vendor's JSON), its main department, its direct manager where the vendor names one,
and its status word.  This module makes the row:

- a field named in `[hr.rest] fields` (or the preset's default) is read at its path; "|epoch_s" and
  "|epoch_ms" turn a Unix time into a date in `[hr.rest] timezone`;
- `department` is the path of department names from below the root to the main department, joined
  by "/" (`root_name` before it), so `[hr] department_path_separator = "/"` and
  `department_strip_prefix` apply;
- `company`: `fields.company` when set, else `[hr.rest] company`, else the department at
  `company_level` (through `company_map`);
- `manager_id`: the manager's employee id (the vendor's user id mapped through this same read): the
  user's direct manager, else the leader of the user's department (the next department up when the
  user leads it);
- one row per user: users are one only when their vendor user id is the same (a person listed under
  two departments); users sharing an employee id are all kept, and the shared duplicate-id check
  rejects them all (two people with one 工号, a rehire listed twice);
- the rows are ordered by the vendor's user id (records without one, by their content), so the
  fingerprint does not move with the API's order;
- write-back finds the user by the employee id as the HR record holds it (normalized: a full-width
  `Ｅ００２` is `E002`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from connectors.hr_records import cell_text
from connectors.hr_rest.client import dig
from connectors.hr_snapshot import RowsRead, fingerprint_rows
from connectors.hr_values import InvalidValue, normalize_employee_id
from lifecycle.domain.hr_rest_settings import CANONICAL_REST_FIELDS, HrRestSettings

__all__ = ["Department", "DepartmentTree", "Person", "Rows", "employee_key", "rows_of"]

HEADERS: tuple[str, ...] = CANONICAL_REST_FIELDS


@dataclass(frozen=True, slots=True)
class Department:
    id: str
    name: str
    parent: str  # "" for the root


@dataclass
class DepartmentTree:
    """The departments read, by id; `leaders` by department id (the vendor's user ids)."""

    root: str
    departments: dict[str, Department] = field(default_factory=dict)
    leaders: dict[str, list[str]] = field(default_factory=dict)

    def add(self, department: Department) -> None:
        self.departments[department.id] = department

    def chain(self, department_id: str) -> list[str]:
        """The department's ids from it up to (not including) the root; [] for the root or one not read."""
        ids: list[str] = []
        current = department_id
        while current and current != self.root and current in self.departments and current not in ids:
            ids.append(current)
            current = self.departments[current].parent
        return ids

    def path(self, department_id: str) -> list[str]:
        return [self.departments[i].name for i in reversed(self.chain(department_id))]

    def leader_above(self, user_id: str, department_id: str) -> str:
        """The first leader other than the user, from the department up to the root."""
        for current in [*self.chain(department_id), self.root]:
            for leader in self.leaders.get(current, ()):
                if leader and leader != user_id:
                    return leader
        return ""


@dataclass(frozen=True, slots=True)
class Person:
    """One user as a preset read it."""

    key: str  # the vendor's user id (named in messages, used for write-back); "" when the API gives none
    data: Mapping[str, Any]  # the vendor's JSON for the user (plus what the preset derived)
    department: str  # the main department's id
    manager: str = ""  # the direct manager's vendor user id, when the vendor names one
    status: str = "active"


@dataclass(frozen=True, slots=True)
class Rows:
    """What one read made: the rows, and for write-back the vendor user ids of each employee id."""

    read: RowsRead
    users: dict[str, tuple[str, ...]]  # employee_key(employee id) -> the vendor user ids holding it
    address_returned: bool  # some user's answer has the write-back field (a vendor may withhold it)


def employee_key(employee_id: str) -> str:
    """An employee id as the duplicate-id check compares it: normalized (NFKC, spaces), case-insensitive."""
    try:
        value = normalize_employee_id(employee_id)
    except InvalidValue:
        value = employee_id.strip()  # such a row is rejected; its raw text still names it
    return value if value.isdigit() else value.casefold()


def rows_of(people: Iterable[Person], tree: DepartmentTree, settings: HrRestSettings, defaults: Mapping[str, str],
            source: str) -> Rows:
    """The rows for `build_snapshot`, and employee id -> vendor user ids (for write-back)."""
    paths = {**defaults, **{k: v for k, v in settings.fields.items()}}
    if settings.writeback:
        paths["email"] = settings.writeback_field  # read back where it is written, so one write ends it
    zone = ZoneInfo(settings.timezone)
    listed: list[tuple[int, Person]] = []  # (its place in the vendor's list, the user), one per user id
    seen: set[str] = set()
    for place, person in enumerate(people, 1):
        if not person.key or person.key not in seen:
            seen.add(person.key)
            listed.append((place, person))
    employee_ids = {p.key: _text(_value(p.data, paths.get("employee_id", ""), zone)) for _, p in listed if p.key}
    made = [(place, p, [_cell(name, p, tree, settings, paths, zone, employee_ids) for name in HEADERS])
            for place, p in listed]
    made.sort(key=lambda item: (item[1].key, [cell_text(c) for c in item[2]]))
    rows: list[tuple[int, Sequence[object]]] = []  # numbered by their place in the vendor's list
    keys: dict[int, str] = {}
    users: dict[str, list[str]] = {}
    for place, person, cells in made:
        rows.append((place, cells))
        if person.key:
            keys[place] = person.key
            employee_id = _text(cells[HEADERS.index("employee_id")])
            if employee_id:
                users.setdefault(employee_key(employee_id), []).append(person.key)
    fingerprint = fingerprint_rows(HEADERS, [cells for _, cells in rows]) if rows else ""
    read = RowsRead(HEADERS, rows, source, fingerprint=fingerprint, keys=keys,
                    details={"departments": len(tree.departments), "users": len(rows)})
    address = settings.writeback_field.partition("|")[0]
    returned = any(dig(p.data, address) is not None for _, p, _ in made)
    return Rows(read, {eid: tuple(keys_) for eid, keys_ in users.items()}, returned)


def _cell(name: str, person: Person, tree: DepartmentTree, settings: HrRestSettings, paths: Mapping[str, str],
          zone: ZoneInfo, employee_ids: Mapping[str, str]) -> object:
    path = paths.get(name, "")
    if name == "department" and not path:
        return "/".join([n for n in (settings.root_name,) if n] + tree.path(person.department)) or settings.root_name
    if name == "company" and not path:
        return _company(person, tree, settings)
    if name == "manager_id" and not path:
        manager = person.manager or tree.leader_above(person.key, person.department)
        return employee_ids.get(manager, "") if manager != person.key else ""
    if name == "status" and not path:
        return person.status
    return _value(person.data, path, zone)


def _company(person: Person, tree: DepartmentTree, settings: HrRestSettings) -> str:
    if settings.company:
        return settings.company
    levels = tree.path(person.department)
    if len(levels) <= settings.company_level:
        return ""
    name = levels[settings.company_level]
    return settings.company_map.get(name, name)


def _value(data: Mapping[str, Any], path: str, zone: ZoneInfo) -> object:
    if not path:
        return None
    where, _, convert = path.partition("|")
    value = dig(data, where)
    if convert and value not in (None, "", 0, "0"):
        return _epoch_date(value, 1000 if convert == "epoch_ms" else 1, zone)
    if isinstance(value, list | dict):
        return str(value)
    return value


def _epoch_date(value: object, per_second: int, zone: ZoneInfo) -> object:
    try:
        seconds = int(str(value)) / per_second
        return datetime.fromtimestamp(seconds, UTC).astimezone(zone).date()
    except (ValueError, OverflowError, OSError):
        return value  # left as it is: the row is rejected naming the value


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()
