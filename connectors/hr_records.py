"""Turning raw HR rows into validated `HrRecord`s: pure, no I/O.

Every HR source (the CSV export today, SQL or REST later) hands this module a
header and rows of cell text (mapped to fields by `map_headers`); it returns the records it trusts and one
`RejectedRow` per row it does not.  A bad row never blocks the others and is
never silently dropped: the only rows that leave no trace are blank lines.

Decisions taken here (documented so that callers and admins can rely on them):

- Text values are normalised with NFKC (full-width digits and letters become
  ASCII, the ideographic space becomes a space), zero-width characters and
  the BOM are removed, runs of white space become one space and the value is
  trimmed.  White space between two Chinese characters of `name` /
  `family_name` is removed ("张　伟" -> "张伟").  A value that still holds a
  control character is rejected.
- `employee_id` is kept exactly as given after normalisation (leading zeros
  are neither stripped nor added) and must match ``[A-Za-z0-9][A-Za-z0-9._-]*``
  (at most 64 characters): the id ends up in LDAP and in file names.  Ids
  that Excel mangled (``1.23457E+17``, ``100001.0``) are rejected.
- Duplicate ids are detected case-insensitively; every row carrying the id is
  rejected (this takes precedence over any other problem of those rows).
- `manager_id` names the manager as HR writes it (an id, a work email, a
  name: `resolve_managers` matches it as `[hr] manager_match` says); it never
  rejects the row.  One equal to the row's own id means "no manager".
- With `[hr] department_path_separator`, a department path keeps its levels
  joined by "/", the first `department_strip_prefix` dropped.
- Status words: the built-in table, plus `[hr.status_map]`.
- Placeholder dates (1900-01-01, 9999-12-31, 0000-00-00, in any accepted
  format) mean "no date" for `termination_date` and are an error for
  `hire_date`.  A date may carry a time of day ("2024-01-02 00:00:00", as
  spreadsheets export it); the time is ignored.
- With `today` given, a `hire_date` more than `HIRE_DATE_HORIZON_DAYS` in the
  future is rejected as a probable typo (e.g. 2052 for 2025).
- A row whose cells are all empty (",,,,") counts as a blank line.
- `email`, when given, must look like an address (one "@", a dot in the domain).
- `personal_email` (optional; where an initial password may be sent) must look like an address
  too (no empty label in its domain: not `lina@example.com.`), but a bad one never rejects the row: the row is accepted without it and the value
  becomes a review (`findings`), so HR can correct it.  Whether the address is outside the
  group's own domains is the policy's to judge (policies.notices), not the reader's.
- Every column has a longest accepted value (`FIELD_LIMITS`), counted in
  characters (code points, after normalisation: 张 is one character, as is a).
  A longer value rejects the row, naming the field, its length and the limit.
  The department also has to fit a directory group name (`MAX_DEPARTMENT_BYTES`).

The rules for single cells are in `connectors.hr_values`.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from connectors.hr_values import (
    FIELD_LIMITS,
    HEADER_ALIASES,
    HIRE_DATE_HORIZON_DAYS,
    MAX_ID_LENGTH,
    PERSONAL_EMAIL_LIMIT,
    REQUIRED_FIELDS,
    InvalidValue,
    check_value,
    normalize_employee_id,
    normalize_hr_name,
    normalize_text,
    parse_date,
    parse_status,
)
from lifecycle.domain.errors import FeedError
from lifecycle.domain.hr_settings import HrSettings
from lifecycle.domain.models import HrRecord, HrStatus, RejectedRow, Review, ReviewKind

__all__ = ["HrRules", "cell_text", "refuse_unusable", "resolve_managers", "validate_rows"]

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# Nothing a plain address holds: control characters, white space, and what separates or quotes addresses in a header.
_NOT_IN_ADDRESS = re.compile('[\x00-\x20\x7f-\x9f\ud800-\udfff,;:<>()\\[\\]\\\\"]')
_ID_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# The dots that separate a domain's labels (IDNA reads the full-width ones as dots too).
_LABEL_DOTS = re.compile("[.\u3002\uff0e\uff61]")


@dataclass(frozen=True)
class HrRules:
    """How HR's words are read, the same for every kind of source (`[hr]` and the companies' names)."""

    company_aliases: Mapping[str, str]
    status_map: Mapping[str, HrStatus] = dataclasses.field(default_factory=dict)  # casefolded word -> status
    manager_match: tuple[str, ...] = ("employee_id", "email", "name")
    path_separator: str = ""
    strip_prefix: int = 0
    serial_dates: bool = False

    @classmethod
    def from_settings(cls, settings: HrSettings, company_aliases: Mapping[str, str]) -> HrRules:
        words = {normalize_text(word).casefold(): HrStatus(status) for word, status in settings.status_map.items()}
        return cls(company_aliases, words, tuple(settings.manager_match), settings.department_path_separator,
                   settings.department_strip_prefix, settings.excel_serial_dates)

    def department(self, text: str) -> str:
        """The department as the directory keeps it: a path's levels joined by "/", the first
        `strip_prefix` dropped (the group's own name), at least the last level kept."""
        if not self.path_separator or self.path_separator not in text:
            return text
        levels = [level.strip() for level in text.split(self.path_separator)]
        levels = [level for level in levels if level]
        if not levels:
            return ""
        kept = levels[min(self.strip_prefix, len(levels) - 1):]
        return "/".join(kept)


def cell_text(value: object) -> str:
    """A cell of any source as the text a CSV export would hold: dates in ISO form, whole numbers
    without ".0" (a spreadsheet's 100032.0 is the id 100032), nothing for an empty cell."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return str(int(value))
    return str(value)


def _company_lookup(company_aliases: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    exact = {normalize_text(k): v for k, v in company_aliases.items()}
    folded = {normalize_text(k).casefold(): v for k, v in company_aliases.items()}
    return exact, folded


def _allowed_companies(company_aliases: Mapping[str, str]) -> str:
    codes = sorted(set(company_aliases.values()))
    names = sorted(normalize_text(k) for k, v in company_aliases.items() if normalize_text(k) not in codes)
    if not codes:
        return "no companies are configured"
    text = f"allowed codes: {', '.join(codes)}"
    return text + (f" (or names: {', '.join(names)})" if names else "")


def validate_rows(
    rows: Iterable[tuple[int, Sequence[object]]],
    header_map: dict[str, int],
    company_aliases: Mapping[str, str] | HrRules,
    today: date | None = None,
    *,
    width: int | None = None,
    findings: list[Review] | None = None,
) -> tuple[list[HrRecord], list[RejectedRow]]:
    """Validate `(row number, cells)` pairs; return (records, rejections).

    `header_map` comes from `map_headers`; `company_aliases` maps company
    codes and names to codes.  `width` is the number of header cells: when
    given, a row with fewer cells, or with more cells that are not empty, is
    rejected (a lost or extra delimiter shifts every value after it).
    Without it only rows too short for the mapped columns are rejected.
    Blank rows (no cells, or all cells empty) are skipped.  Never raises for
    bad cell content: every other row becomes a record or a rejection.

    `company_aliases` may be the whole `HrRules`.  A record's `manager_id` is the manager column
    as written (an id, an address or a name): `resolve_managers` turns it into an employee id.
    `findings`, when given, gets a review per accepted row whose `personal_email` was dropped.
    """
    rules = company_aliases if isinstance(company_aliases, HrRules) else HrRules(company_aliases)
    validator = _Validator(header_map, rules, today, width)
    results: list[HrRecord | RejectedRow] = []  # one per non-blank row, in row order
    for row_number, raw in rows:
        cells: Sequence[str] = raw if set(map(type, raw)) <= _STR_ONLY else [cell_text(c) for c in raw]  # type: ignore[assignment]
        if not any(normalize_text(c) for c in cells):
            continue
        results.append(validator.row(row_number, cells))

    # Rows sharing an id (compared case-insensitively), in row order; only duplicated ids get a list.
    first: dict[str, int] = {}
    by_id: dict[str, list[int]] = {}
    for index, result in enumerate(results):
        employee_id = result.employee_id
        if employee_id:
            key = employee_id if employee_id.isdigit() else employee_id.casefold()  # ids are ASCII
            seen = first.setdefault(key, index)
            if seen != index:
                group = by_id.get(key)
                if group is None:
                    by_id[key] = [seen, index]
                else:
                    group.append(index)
    del first
    for group in by_id.values():
        ids = sorted({results[i].employee_id for i in group})
        same = f"the same employee id {ids[0]!r}" if len(ids) == 1 else f"the same employee id ({' / '.join(map(repr, ids))})"
        rows_of = [results[i].row for i in group]
        for index in group:
            result = results[index]
            others = [r for i, r in zip(group, rows_of) if i != index]
            results[index] = RejectedRow(
                result.row,
                "employee_id",
                f"{same} is also on row(s) {', '.join(str(r) for r in others)}; none of these rows is used",
                "keep one row per employee (or correct the wrong id) in the HR export",
                result.employee_id,
                result.company,
                name=result.name,
                email=result.email,
            )

    records = [r for r in results if type(r) is HrRecord]
    rejected = [r for r in results if type(r) is RejectedRow]
    if findings is not None and validator.dropped:
        accepted = {r.row for r in records}  # a row rejected after all says so itself
        findings.extend(review for row, review in validator.dropped if row in accepted)
    return records, rejected


def refuse_unusable(records: Sequence[HrRecord], rejected: Sequence[RejectedRow], source: str) -> None:
    """Raise `FeedError` when rows were read but every one was rejected.

    Such a feed is broken as a whole (a wrong export, a shifted column, a date format changed),
    and would otherwise pass as "0 rows accepted" while monitoring sees success.
    """
    if records or not rejected:
        return
    by_field = Counter(r.field for r in rejected)
    counts = ", ".join(f"{field}: {count}" for field, count in by_field.most_common())
    first = min(rejected, key=lambda r: r.row)
    if len(rejected) == 1:
        raise FeedError(f"the only row of {source} was rejected, so nothing is done with this file: {first.message()}")
    raise FeedError(
        f"every one of the {len(rejected)} rows of {source} was rejected (by field: {counts}), so nothing is done "
        f"with this file; the first: {first.message()}"
    )


# Columns whose values repeat from row to row (a company has a few hundred departments and titles,
# dates and managers are shared): their normalised and parsed values are computed once per distinct
# cell text, and every record refers to one shared string / date object.
_REPEATING = frozenset({"company", "department", "title", "status", "hire_date", "termination_date", "manager_id",
                        "family_name", "english_name"})
_STR_ONLY = frozenset({str})


class _Validator:
    """Rows of one file to records (`row`): the per-file lookups, and caches of per-value work."""

    def __init__(self, header_map: dict[str, int], rules: HrRules, today: date | None, width: int | None) -> None:
        self.header_map = header_map
        self.rules = rules
        self.exact, self.folded = _company_lookup(rules.company_aliases)
        self.allowed = _allowed_companies(rules.company_aliases)
        self.today = today
        self.width = width
        self.needed = max(header_map.values(), default=-1) + 1
        self.horizon = today + timedelta(days=HIRE_DATE_HORIZON_DAYS) if today is not None else None
        # Every column has a limit (a new column without one fails here, in the tests); a configured
        # company name longer than the usual bound must still be accepted.
        self.limits = {field: limit for field, (limit, _) in FIELD_LIMITS.items()}
        self.limits["company"] = max(self.limits["company"], max(map(len, self.exact), default=0))
        # (field, column, name rule?, cache or None, longest value), in header_map order, employee_id left out,
        # and personal_email, which never rejects its row (`_personal_email`).
        self.fields: list[tuple[str, int, bool, dict[str, str] | None, int]] = [
            (field, index, field in ("name", "family_name"), {} if field in _REPEATING else None, self.limits[field])
            for field, index in header_map.items()
            if field not in ("employee_id", "personal_email")
        ]
        self.personal_index = header_map.get("personal_email")
        self.dropped: list[tuple[int, Review]] = []  # (row, review) of each personal_email dropped
        self.shared: dict[str, str] = {}  # one object per distinct value of a repeating column
        self.statuses: dict[str, HrStatus] = {}
        self.hire_dates: dict[str, date] = {}
        self.termination_dates: dict[str, date | None] = {}
        self.manager_ids: dict[str, str] = {}

    def row(self, row: int, cells: Sequence[str]) -> HrRecord | RejectedRow:
        """The row's record, or its first problem (checked in this order) as a rejection."""
        employee_id, id_problem = self._employee_id(cells)
        try:
            self._check_cell_count(cells)
            if id_problem is not None:
                raise _Rejected("employee_id", id_problem.reason, id_problem.fix)
            values = self._values(cells)
            _check_required(employee_id, values)
            company = self._company(values["company"])
            status, hire_date, termination_date, manager_id = self._parsed(values)
            self._check_dates(hire_date, termination_date)
            email = _checked_email(values.get("email", ""))
        except _Rejected as problem:
            name, email = self._identity_hint(cells)
            return RejectedRow(row, problem.field, problem.reason, problem.fix, employee_id, self._company_hint(cells),
                               name=name, email=email)
        if manager_id and manager_id.casefold() == employee_id.casefold():
            manager_id = ""  # "reports to self" means top of the tree: no manager
        personal = self._personal_email(row, employee_id, company, cells) if self.personal_index is not None else ""
        return HrRecord(
            employee_id,
            values["name"],
            company,
            values["department"],
            status,
            hire_date,
            row,
            values.get("family_name", ""),
            values.get("english_name", ""),
            values.get("title", ""),
            manager_id,
            termination_date,
            email,
            values.get("account", ""),
            personal,
        )

    def _personal_email(self, row: int, employee_id: str, company: str, cells: Sequence[str]) -> str:
        """The row's personal address, or "" when it has none or a bad one (then a review says which and why)."""
        assert self.personal_index is not None
        value = normalize_text(cells[self.personal_index])
        if not value:
            return ""
        # An empty label (a trailing dot: `lina@example.com.`) would make the domain look like another one.
        labels = _LABEL_DOTS.split(value.rpartition("@")[2])
        if len(value) > PERSONAL_EMAIL_LIMIT or _NOT_IN_ADDRESS.search(value) or not _EMAIL.fullmatch(value) \
                or not all(labels):
            shown = repr(value) if len(value) <= 80 else f"a value of {len(value):,} characters"
            self.dropped.append((row, Review(
                ReviewKind.INCONSISTENT_RECORD, employee_id, company, f"row {row}",
                f"the personal_email ({HEADER_ALIASES['personal_email'][0]}) {shown} is not an e-mail address; the row is "
                "used without it, so no initial password can be sent there",
                "correct the personal address in HR (name@domain, outside the company's own mail domains) or leave it "
                "empty",
            )))
            return ""
        return value

    def _employee_id(self, cells: Sequence[str]) -> tuple[str, InvalidValue | None]:
        """The row's employee id ("" when invalid, with why): known before any check, so every rejection carries it."""
        id_index = self.header_map.get("employee_id", len(cells))
        raw_id = cells[id_index] if id_index < len(cells) else ""
        if raw_id.isdigit() and raw_id.isascii() and len(raw_id) <= MAX_ID_LENGTH:
            return raw_id, None  # plain digits: what normalize_employee_id returns unchanged
        try:
            return normalize_employee_id(raw_id), None
        except InvalidValue as exc:
            return "", exc

    def _identity_hint(self, cells: Sequence[str]) -> tuple[str, str]:
        """A rejected row's name and work email, as far as their cells can be read (managers are matched by them)."""
        found = []
        for field, normalize in (("name", normalize_hr_name), ("email", normalize_text)):
            index = self.header_map.get(field)
            found.append(normalize(cells[index]) if index is not None and index < len(cells) else "")
        return found[0], found[1]

    def _company_hint(self, cells: Sequence[str]) -> str:
        """A rejected row's company, if its cell names one: whose admins see the rejection ("" for the group's)."""
        index = self.header_map.get("company")
        text = normalize_text(cells[index]) if index is not None and index < len(cells) else ""  # as _company reads it
        return self.exact.get(text) or self.folded.get(text.casefold()) or ""

    def _check_cell_count(self, cells: Sequence[str]) -> None:
        """A lost or extra delimiter shifts every value after it: such a row is not read at all."""
        width = self.width
        count = len(cells)
        if count < self.needed or (width is not None and count < width):
            expected = f"the header has {width}" if width is not None else f"the mapped columns need {self.needed}"
            raise _Rejected(
                "(row)",
                f"the row has {count} cell(s) but {expected}: a delimiter is missing or the row was cut off",
                "check the row in the export: every row needs one value (possibly empty) per column",
            )
        if width is not None and count > width and any(normalize_text(c) for c in cells[width:]):
            raise _Rejected(
                "(row)",
                f"the row has {count} cells but the header has {width}: a value probably contains an unquoted delimiter",
                "quote values that contain the delimiter, or remove the extra cells",
            )

    def _values(self, cells: Sequence[str]) -> dict[str, str]:
        """Every mapped field but the id, normalised and checked for length and control characters."""
        values: dict[str, str] = {}
        shared = self.shared
        for field, index, is_name, cache, limit in self.fields:
            raw = cells[index]
            if cache is not None:
                value = cache.get(raw)
                if value is not None:  # only accepted values are cached
                    values[field] = value
                    continue
            value = normalize_hr_name(raw) if is_name else normalize_text(raw)
            if field == "department":
                value = self.rules.department(value)
            try:
                check_value(field, value, limit)  # a department: once per distinct one, the rest are cache hits
            except InvalidValue as exc:
                raise _Rejected(field, exc.reason, exc.fix) from exc
            if cache is not None:
                value = cache[raw] = shared.setdefault(value, value)
            values[field] = value
        return values

    def _company(self, text: str) -> str:
        """The company code HR's code or name stands for."""
        company = self.exact.get(text) or self.folded.get(text.casefold())
        if company is None:
            raise _Rejected(
                "company",
                f"unknown company {text!r}; {self.allowed}",
                "use one of the company codes, or add the company to [[companies]] in the config",
            )
        return company

    def _parsed(self, values: dict[str, str]) -> tuple[HrStatus, date, date | None, str]:
        """(status, hire date, termination date, manager id), each parsed once per distinct text."""
        field = "status"
        try:
            text = values["status"]
            status = self.statuses.get(text)
            if status is None:
                status = self.statuses[text] = parse_status(text, self.rules.status_map)
            field = "hire_date"
            text = values["hire_date"]
            hire_date = self.hire_dates.get(text)
            if hire_date is None:
                parsed = parse_date(text, allow_placeholder=False, serial_dates=self.rules.serial_dates)
                assert parsed is not None  # a required, non-placeholder value
                hire_date = self.hire_dates[text] = parsed
            field = "termination_date"
            text = values.get("termination_date", "")
            if text in self.termination_dates:  # None is a value here: "no termination date"
                termination_date = self.termination_dates[text]
            else:
                termination_date = self.termination_dates[text] = parse_date(text, serial_dates=self.rules.serial_dates)
            # The manager column names the manager as HR writes it (an id, an address, a name): never a
            # reason to reject the row; resolve_managers finds the person, or says why not.
            text = values.get("manager_id", "")
            manager_id = self.manager_ids.get(text)
            if manager_id is None:
                manager_id = self.manager_ids[text] = _manager_reference(text)
        except InvalidValue as exc:
            raise _Rejected(field, exc.reason, exc.fix) from exc
        return status, hire_date, termination_date, manager_id

    def _check_dates(self, hire_date: date, termination_date: date | None) -> None:
        if self.horizon is not None and hire_date > self.horizon:
            raise _Rejected(
                "hire_date",
                f"hire date {hire_date.isoformat()} is more than {HIRE_DATE_HORIZON_DAYS} days in the future (probably a typo in the year)",
                "correct the hire date",
            )
        if termination_date is not None and termination_date < hire_date:
            raise _Rejected(
                "termination_date",
                f"termination date {termination_date.isoformat()} is before the hire date {hire_date.isoformat()}",
                "correct one of the two dates (a re-hire needs a new hire date and an empty termination date)",
            )


def _manager_reference(text: str) -> str:
    """The manager cell as the reference resolve_managers matches: an id in the id's own form."""
    try:
        return normalize_employee_id(text)
    except InvalidValue:
        return text  # a name, an address, a malformed id: matched (or reported) by resolve_managers


def resolve_managers(
    records: list[HrRecord], manager_match: Sequence[str], rejected: Sequence[RejectedRow] = ()
) -> tuple[list[HrRecord], list[Review]]:
    """Each record's manager reference made an employee id, by the ways `manager_match` lists in order.

    employee_id: a record with that id; email: the one record with that work address; name: the one
    record of the same company with that name.  A reference that matches no one, or several, leaves
    the manager empty and becomes a review naming it (the person is still acted on).  A reference
    shaped like an id that matches no record stays, when ids are matched: the plan reports a manager
    missing from HR (or a manager whose own row was rejected keeps their place).  The `rejected` rows
    count as people too: a name shared with one of them is ambiguous, and a name or address that is
    only theirs names that row's employee (whose rejection leaves the manager attribute as it is).
    """
    ids = {r.employee_id for r in records}
    unresolved = [i for i, r in enumerate(records) if r.manager_id and r.manager_id not in ids]
    if not unresolved:
        return records, []
    by_folded_id: dict[str, str] = {r.employee_id.casefold(): r.employee_id for r in records}
    by_email: dict[str, list[str]] = defaultdict(list)
    by_name: dict[tuple[str, str], list[str]] = defaultdict(list)
    for record in records:
        if record.email:
            by_email[record.email.casefold()].append(record.employee_id)
        by_name[(record.company, record.name)].append(record.employee_id)
    companies = sorted({r.company for r in records})
    for row in rejected:
        if row.employee_id and not row.test_record:
            if row.email and row.employee_id not in by_email[row.email.casefold()]:
                by_email[row.email.casefold()].append(row.employee_id)
            # A row whose company cannot be told could be anyone's namesake.
            for company in [row.company] if row.company else companies:
                if row.name and row.employee_id not in by_name[(company, row.name)]:
                    by_name[(company, row.name)].append(row.employee_id)
    reviews: list[Review] = []
    resolved = list(records)
    for index in unresolved:
        record = records[index]
        reference = record.manager_id
        found, why = _match_manager(record, reference, manager_match, by_folded_id, by_email, by_name)
        if found is None:
            found = ""
            reviews.append(
                Review(ReviewKind.UNKNOWN_MANAGER, record.employee_id, record.company, f"row {record.row}",
                       f"the manager {reference!r} {why}; the person is acted on without a manager",
                       "write the manager's employee id (or work email) in the manager column, "
                       "or give the manager a name unique in the company")
            )
        if found != reference:
            resolved[index] = replace(record, manager_id="" if found == record.employee_id else found)
    return resolved, reviews


def _match_manager(
    record: HrRecord, reference: str, manager_match: Sequence[str], by_folded_id: Mapping[str, str],
    by_email: Mapping[str, list[str]], by_name: Mapping[tuple[str, str], list[str]],
) -> tuple[str | None, str]:
    """(the manager's employee id, "") or (None, why not)."""
    ambiguous = ""
    for way in manager_match:
        if way == "employee_id":
            found = by_folded_id.get(reference.casefold())
            if found is not None:
                return found, ""
        elif way == "email" and "@" in reference:
            matches = by_email.get(reference.casefold(), [])
            if len(matches) == 1:
                return matches[0], ""
            if matches:
                ambiguous = ambiguous or f"is the work email of {len(matches)} people ({', '.join(sorted(matches))})"
        elif way == "name":
            matches = by_name.get((record.company, normalize_hr_name(reference)), [])
            if len(matches) == 1:
                return matches[0], ""
            if matches:
                ambiguous = ambiguous or (f"is ambiguous: {len(matches)} people of {record.company} have that name "
                                          f"({', '.join(sorted(matches))})")
    if ambiguous:
        return None, ambiguous
    if "employee_id" in manager_match and _ID_SHAPE.fullmatch(reference):
        return reference, ""  # an id HR does not list (or whose row was rejected): the plan says so
    ways = " or ".join({"employee_id": "employee id", "email": "work email", "name": "name in the company"}[w]
                       for w in manager_match)
    return None, f"matches no one in the HR export by {ways}"


class _Rejected(Exception):
    """A row's first problem: the field, what is wrong and the fix (becomes its RejectedRow)."""

    def __init__(self, field: str, reason: str, fix: str) -> None:
        super().__init__(reason)
        self.field, self.reason, self.fix = field, reason, fix


def _check_required(employee_id: str, values: dict[str, str]) -> None:
    for field in REQUIRED_FIELDS:
        if field == "employee_id":
            if not employee_id:
                raise _Rejected("employee_id", "the employee id is empty", "fill in the employee id (工号)")
        elif not values.get(field):
            alias = HEADER_ALIASES[field][0]
            raise _Rejected(field, f"the required value {field} ({alias}) is empty", f"fill in {alias} for this employee")


def _checked_email(email: str) -> str:
    if email and not _EMAIL.fullmatch(email):
        raise _Rejected("email", f"{email!r} is not an e-mail address", "correct the address or leave the cell empty")
    return email
