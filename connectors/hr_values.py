"""The rules for one cell of an HR export: text, headers, ids, dates, status words, lengths.

Pure, no I/O; `connectors.hr_records` applies them to whole rows and documents what they decide.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, timedelta

from lifecycle.domain.errors import FeedError
from lifecycle.domain.models import HrStatus
from lifecycle.domain.settings import CANONICAL_HR_FIELDS, ZERO_WIDTH

__all__ = [
    "ACCEPTED_DATE_FORMATS",
    "EXPORT_HEADER_ALIASES",
    "FIELD_LIMITS",
    "HEADER_ALIASES",
    "HIRE_DATE_HORIZON_DAYS",
    "MAX_DEPARTMENT_BYTES",
    "MAX_ID_LENGTH",
    "OPTIONAL_FIELDS",
    "PERSONAL_EMAIL_LIMIT",
    "PLACEHOLDER_DATES",
    "READ_FIELDS",
    "REQUIRED_FIELDS",
    "STATUS_VALUES",
    "InvalidValue",
    "check_value",
    "excel_serial_to_date",
    "map_headers",
    "normalize_employee_id",
    "normalize_hr_name",
    "normalize_text",
    "parse_date",
    "parse_status",
]

REQUIRED_FIELDS: tuple[str, ...] = ("employee_id", "name", "company", "department", "status", "hire_date")
OPTIONAL_FIELDS: tuple[str, ...] = tuple(f for f in CANONICAL_HR_FIELDS if f not in REQUIRED_FIELDS)
# Every field a column is read for: the canonical ones, and `personal_email` (where an initial password may be
# sent).  A bad personal address never rejects its row (connectors.hr_records): it is dropped, with a review.
READ_FIELDS: tuple[str, ...] = CANONICAL_HR_FIELDS
PERSONAL_EMAIL_LIMIT = 254  # RFC 5321's longest address

# Headers accepted for each canonical field besides the field's own name (in
# any case/spacing: "employee_id", "Employee ID", "EMPLOYEE-ID").
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "employee_id": ("工号",),
    "name": ("姓名",),
    "family_name": ("姓",),
    "english_name": ("英文名",),
    "company": ("公司",),
    "department": ("部门",),
    "title": ("职务", "职位"),
    "manager_id": ("上级工号",),
    "status": ("状态",),
    "hire_date": ("入职日期",),
    "termination_date": ("离职日期",),
    "email": ("邮箱",),
    "account": ("账号",),
    "personal_email": ("个人邮箱",),
}
# Headers of Chinese HR systems' own exports (DingTalk 智能人事, WeCom, Feishu, Beisen), accepted too;
# a column with one of the names above wins over them, so an export that read before reads the same.
EXPORT_HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "employee_id": ("员工工号", "员工编号", "人员编号"),
    "name": ("员工姓名",),
    "company": ("所属公司", "合同公司", "法人主体", "合同主体"),
    "department": ("所属部门", "部门全路径", "主部门"),
    "title": ("岗位",),
    "manager_id": ("直属主管", "直属上级", "直接主管", "汇报对象", "主管", "上级", "manager"),
    "status": ("员工状态", "在职状态", "人员状态"),
    "hire_date": ("入职时间",),
    "termination_date": ("离职时间", "最后工作日"),
    "email": ("工作邮箱", "企业邮箱"),
    "personal_email": ("私人邮箱", "个人邮件", "personal email", "private email"),
}

# The small, documented table of HR status words (matched case-insensitively
# after NFKC).  Anything else is rejected, never guessed.
STATUS_VALUES: dict[str, HrStatus] = {
    "active": HrStatus.ACTIVE,
    "在职": HrStatus.ACTIVE,
    "正式": HrStatus.ACTIVE,  # confirmed (DingTalk, Beisen)
    "试用": HrStatus.ACTIVE,  # on probation
    "实习": HrStatus.ACTIVE,  # intern
    "待离职": HrStatus.ACTIVE,  # leaving: still at work until the termination date
    "leave": HrStatus.LEAVE,
    "休假": HrStatus.LEAVE,
    "停薪留职": HrStatus.LEAVE,  # unpaid leave, job kept
    "产假": HrStatus.LEAVE,  # maternity leave
    "病假": HrStatus.LEAVE,  # sick leave
    "terminated": HrStatus.TERMINATED,
    "离职": HrStatus.TERMINATED,
    "退休": HrStatus.TERMINATED,  # retired
    "辞职": HrStatus.TERMINATED,  # resigned
    "辞退": HrStatus.TERMINATED,  # dismissed
}

ACCEPTED_DATE_FORMATS = "2024-01-02, 2024/1/2, 2024.01.02, 2024年1月2日 or 20240102"
PLACEHOLDER_DATES: frozenset[tuple[int, int, int]] = frozenset({(1900, 1, 1), (9999, 12, 31), (0, 0, 0)})
HIRE_DATE_HORIZON_DAYS = 730
MAX_ID_LENGTH = 64

# The longest value each column may hold, in characters after normalisation, and what the value
# becomes (told to HR with the limit).  slapd enforces none of the schema's bounds (cn, sn, title:
# {32768}), so without these a pasted document became a 200 KB cn.  The limits:
# - name, family_name, english_name: 64 each, so the mailbox display name "name (english_name)"
#   (131 at most) fits Modoboa's first_name column (varchar(150), Django's AbstractUser);
# - department: 64; it names the group "<company code>-<department>" (see MAX_DEPARTMENT_BYTES);
# - title: 128, room for a long English title;
# - ids: 64 (employeeNumber, the sealed password's file name); email: 254, the most an address
#   can have (RFC 5321) and Modoboa's address columns; account: 64, the longest uid naming allows;
# - company, status and dates are matched or parsed, never written: their bounds only keep a
#   pasted document out of the messages (company: longer if a configured name is longer).
FIELD_LIMITS: dict[str, tuple[int, str]] = {
    "employee_id": (MAX_ID_LENGTH, "it becomes the employee number in the directory"),
    "name": (64, "it becomes the name in the directory and, with the English name, the mailbox's display name"),
    "family_name": (64, "it becomes the surname in the directory"),
    "english_name": (64, "it becomes part of the display name \"name (English name)\" in the directory and the mailbox"),
    "company": (128, "it must be one of the configured company codes or names"),
    "department": (64, "it becomes the name of the department's group in the directory (\"<company code>-<department>\")"),
    "title": (128, "it becomes the job title in the directory"),
    "manager_id": (128, "it must name the manager: their employee id, work email or (unique) name"),
    "status": (32, "it must be one of the status words"),
    "hire_date": (32, f"it must be a date ({ACCEPTED_DATE_FORMATS})"),
    "termination_date": (32, f"it must be a date ({ACCEPTED_DATE_FORMATS})"),
    "email": (254, "it is matched against the mailboxes' addresses, which have at most 254 characters"),
    "account": (64, "it is matched against the directory's account names (uid), which have at most 64 characters"),
}
# Fields that are names or text HR may legitimately write long: the fix is to shorten them.  In
# the others (ids, codes, dates) a value over the limit is text pasted into the wrong column.
_SHORTEN = frozenset({"name", "family_name", "english_name", "department", "title"})
# The department names a group whose RDN is "cn=<company code>-<department>".  slapd's back-mdb
# refuses (result "other") an RDN of more than about 245 bytes of UTF-8, special characters counted
# as slapd escapes them (\2C: 3 bytes), measured on slapd 2.5: its DN index keeps the RDN twice
# under LMDB's 511-byte key limit.  With the longest company code the config allows (32), a
# department of 192 bytes (64 Chinese characters, 3 bytes each) keeps the RDN at 228 bytes.  Only a
# department with characters of 4 bytes (rare ideographs outside the common range, emoji) can
# stay within 64 characters and still exceed this.
MAX_DEPARTMENT_BYTES = 192
_RDN_SPECIAL = re.compile(r'[,+"\\<>;=]')


_CJK = r"\u2e80-\u2fdf\u3005\u3007\u3021-\u3029\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_CJK_GAP = re.compile(rf"(?<=[{_CJK}])\s+(?=[{_CJK}])")
_WHITESPACE = re.compile(r"\s+")
# A value normalize_text leaves as it is has none of these (NFKC aside): white space at either
# end, a run of white space, white space other than " ", a zero-width character.  (Regex \s and
# str.isspace/strip agree on every code point.)
_UNTOUCHED = re.compile(r"\A\s|\s\Z|\s\s|[^\S ]|[\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e]")
# Unicode categories Cc and Cs, exactly.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_TIME_SUFFIX = r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
_DATE_SEP = re.compile(rf"(\d{{4}})([-/.])(\d{{1,2}})\2(\d{{1,2}}){_TIME_SUFFIX}", re.ASCII)
_DATE_CN = re.compile(rf"(\d{{4}})\s*年\s*(\d{{1,2}})\s*月\s*(\d{{1,2}})\s*日?{_TIME_SUFFIX}", re.ASCII)
_DATE_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})", re.ASCII)
_EXCEL_SERIAL = re.compile(r"(\d{5})(?:\.\d+)?", re.ASCII)
_ID_SCIENTIFIC = re.compile(r"[+-]?\d+(?:\.\d*)?[eE][+-]?\d+", re.ASCII)
_ID_DECIMAL = re.compile(r"\d+\.0+", re.ASCII)
_ID_VALID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class InvalidValue(ValueError):
    """A cell value that cannot be accepted: what is wrong and how to fix it."""

    def __init__(self, reason: str, fix: str) -> None:
        super().__init__(f"{reason}; fix: {fix}")
        self.reason = reason
        self.fix = fix


# ---------------------------------------------------------------------------
# Text and headers


def normalize_text(text: str) -> str:
    """NFKC, zero-width characters removed, white space collapsed and trimmed."""
    if _UNTOUCHED.search(text) is None and unicodedata.is_normalized("NFKC", text):
        return text  # nothing to change (nearly every cell): two C calls, no copy
    text = unicodedata.normalize("NFKC", text).translate(ZERO_WIDTH)
    return _WHITESPACE.sub(" ", text).strip()


def normalize_hr_name(text: str) -> str:
    """`normalize_text`, and white space between two Chinese characters removed ("张　伟" -> "张伟")."""
    text = normalize_text(text)
    return _CJK_GAP.sub("", text) if " " in text else text  # normalised text has no other white space


def _header_key(header: str) -> str:
    """The form headers are compared in: "Employee ID" == "employee_id" == "EMPLOYEE-ID"."""
    text = normalize_text(header).casefold()
    return re.sub(r"[\s_\-.]+", "", text)


def map_headers(headers: Sequence[str], columns: Mapping[str, str]) -> dict[str, int]:
    """Map canonical field -> column index.

    `columns` (canonical field -> header, from ``[hr.columns]``) wins over the
    built-in names.  Raises `FeedError` when a required column is missing, a
    configured header is not in the file, or two columns map to one field.
    """
    unknown = sorted(set(columns) - set(READ_FIELDS))
    if unknown:
        raise FeedError(f"[hr.columns] names unknown field(s) {unknown}; allowed: {', '.join(READ_FIELDS)}")
    keys = [_header_key(h) for h in headers]
    shown = ", ".join(repr(normalize_text(h)) for h in headers) or "(none)"
    mapping: dict[str, int] = {}
    claimed: dict[int, str] = {}

    configured_keys: dict[str, str] = {}
    for canonical, header in columns.items():
        key = _header_key(header)
        if key in configured_keys:
            raise FeedError(
                f"[hr.columns] maps both {configured_keys[key]} and {canonical} to the header {header!r}; "
                "fix: map each field to its own column"
            )
        configured_keys[key] = canonical
        found = [i for i, k in enumerate(keys) if k == key and k]
        if not found:
            raise FeedError(
                f"[hr.columns] maps {canonical} to the header {header!r}, which is not in the HR file; "
                f"headers found: {shown}; fix: correct [hr.columns].{canonical} or the export's header"
            )
        if len(found) > 1:
            raise FeedError(
                f"the header {header!r} (configured for {canonical}) appears in columns "
                f"{', '.join(str(i + 1) for i in found)}; fix: rename or remove the extra column(s)"
            )
        mapping[canonical] = found[0]
        claimed[found[0]] = canonical

    names: dict[str, tuple[str, int]] = {}  # header key -> (field, tier: 0 = its own names, 1 = an export's)
    for canonical in READ_FIELDS:
        if canonical in columns:
            continue
        for alias in (canonical, *HEADER_ALIASES.get(canonical, ())):
            names[_header_key(alias)] = (canonical, 0)
        for alias in EXPORT_HEADER_ALIASES.get(canonical, ()):
            names.setdefault(_header_key(alias), (canonical, 1))
    candidates: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for index, key in enumerate(keys):
        if index in claimed or not key:
            continue
        named = names.get(key)
        if named is not None:
            candidates[named[0]].append((named[1], index))
    for canonical, tiered in candidates.items():
        best = min(tier for tier, _ in tiered)
        indexes = [index for tier, index in tiered if tier == best]
        if len(indexes) > 1:
            cols = " and ".join(f"column {i + 1} ({normalize_text(headers[i])!r})" for i in indexes)
            raise FeedError(
                f"{cols} all map to {canonical}; fix: remove or rename all but one of them, "
                f"or choose one with [hr.columns] {canonical} = \"<header>\""
            )
        mapping[canonical] = indexes[0]

    missing = [f for f in REQUIRED_FIELDS if f not in mapping]
    if missing:
        described = ", ".join(f"{f} ({HEADER_ALIASES[f][0]})" for f in missing)
        accepted = "; ".join(f"{f}: {', '.join((*HEADER_ALIASES[f], *EXPORT_HEADER_ALIASES.get(f, ())))}" for f in missing)
        used = set(mapping.values())
        unrecognised = [repr(normalize_text(h)) for i, h in enumerate(headers) if i not in used and normalize_text(h)]
        extra = f"; unrecognised headers: {', '.join(unrecognised)}" if unrecognised else ""
        raise FeedError(
            f"the HR file has no column for required field(s) {described}; headers found: {shown}{extra}; "
            f"headers accepted ({accepted}); "
            f"fix: rename the column(s) in the export to one of the names shown, "
            f"or map them in the config, e.g. [hr.columns] {missing[0]} = \"<header in the file>\""
        )
    return mapping


# ---------------------------------------------------------------------------
# Single values


def excel_serial_to_date(serial: int) -> date:
    """The date an Excel (1900 date system) serial number stands for.

    Serial 1 is 1900-01-01 and serial 60 is the fictitious 1900-02-29 that
    Excel inherited from Lotus 1-2-3 (returned as 1900-02-28 here); from 61 on
    every serial is one day late against a true calendar count.
    """
    if serial < 1:
        raise ValueError(f"Excel date serials start at 1, got {serial}")
    if serial < 60:
        return date(1899, 12, 31) + timedelta(days=serial)
    if serial == 60:
        return date(1900, 2, 28)
    return date(1899, 12, 30) + timedelta(days=serial)


def _date_parts(text: str) -> tuple[int, int, int]:
    for pattern in (_DATE_SEP, _DATE_CN):
        match = pattern.fullmatch(text)
        if match:
            groups = [g for g in match.groups() if g not in ("-", "/", ".")]
            year, month, day = (int(g) for g in groups)
            return year, month, day
    match = _DATE_COMPACT.fullmatch(text)
    if match:
        year, month, day = (int(g) for g in match.groups())
        return year, month, day
    match = _EXCEL_SERIAL.fullmatch(text)
    if match:
        probable = excel_serial_to_date(int(match.group(1)))
        raise InvalidValue(
            f"{text!r} is an Excel date serial number, not a date (it probably means {probable.isoformat()})",
            f"format the date column as text in the spreadsheet (e.g. {probable.isoformat()}) and export again, "
            "or set [hr] excel_serial_dates = true when the column holds Excel dates",
        )
    raise InvalidValue(
        f"{text!r} is not a date in an accepted format",
        f"write the date as {ACCEPTED_DATE_FORMATS}",
    )


def parse_date(text: str, *, allow_placeholder: bool = True, serial_dates: bool = False) -> date | None:
    """Parse an HR date.  Empty -> None.  Placeholders -> None (or an error).

    Accepted: 2024-01-02, 2024/1/2, 2024.01.02, 2024年1月2日, 20240102, full-width
    digits included, optionally followed by a time of day (ignored).  Raises
    `InvalidValue` (a `ValueError`) listing the accepted formats otherwise;
    an Excel serial number (e.g. 45292) is explained, and converted only with `serial_dates`
    ([hr] excel_serial_dates).
    """
    value = normalize_text(text)
    if not value:
        return None
    if serial_dates and (serial := _EXCEL_SERIAL.fullmatch(value)) is not None:
        return excel_serial_to_date(int(serial.group(1)))  # [hr] excel_serial_dates: the admin says they are
    parts = _date_parts(value)
    if parts in PLACEHOLDER_DATES:
        if allow_placeholder:
            return None
        raise InvalidValue(
            f"{value!r} is a placeholder meaning 'no date', but a real date is required here",
            f"enter the actual date as {ACCEPTED_DATE_FORMATS}",
        )
    year, month, day = parts
    if not 1900 <= year <= 2199:
        raise InvalidValue(f"{value!r}: the year {year} is implausible", "correct the year")
    try:
        return date(year, month, day)
    except ValueError as exc:
        raise InvalidValue(
            f"{value!r} is not a real calendar date ({exc})", f"correct the date; accepted formats: {ACCEPTED_DATE_FORMATS}"
        ) from exc


def parse_status(text: str, extra: Mapping[str, HrStatus] | None = None) -> HrStatus:
    """Map an HR status word to `HrStatus`: `extra` ([hr.status_map], keys casefolded), then `STATUS_VALUES`;
    unknown -> `InvalidValue`."""
    value = normalize_text(text)
    key = value.casefold()
    status = (extra or {}).get(key) or STATUS_VALUES.get(key)
    if status is None:
        allowed = ", ".join([*STATUS_VALUES, *(w for w in (extra or {}) if w not in STATUS_VALUES)])
        raise InvalidValue(
            f"unknown status {value!r}; allowed values: {allowed}",
            f'use one of the allowed status values, or map the word in the config: [hr.status_map] "{value}" = '
            '"active" (or "leave", "terminated")',
        )
    return status


def normalize_employee_id(text: str) -> str:
    """NFKC, white space and zero-width characters removed; leading zeros kept.

    Raises `InvalidValue` for an id Excel turned into a number
    ("1.23457E+17", "100001.0") or one with characters other than letters,
    digits, '.', '_' and '-'.  Returns "" for an empty cell.
    """
    value = normalize_text(text)
    if not value:
        return ""
    if len(value) > MAX_ID_LENGTH:  # before the patterns below: the message must not quote a pasted document
        raise InvalidValue(
            f"the id is {len(value):,} characters long, more than the {MAX_ID_LENGTH} allowed",
            f"correct the id in the HR system (at most {MAX_ID_LENGTH} letters, digits, '.', '_' or '-'); "
            "a value this long is usually text pasted into the wrong column",
        )
    if _ID_SCIENTIFIC.fullmatch(value):
        raise InvalidValue(
            f"employee id {value!r} is in scientific notation: Excel converted a long number and its last digits are lost",
            "format the id column as text in the spreadsheet, re-enter the ids and export again",
        )
    if _ID_DECIMAL.fullmatch(value):
        raise InvalidValue(
            f"employee id {value!r} has a decimal part: the id column was exported as a number",
            "format the id column as text in the spreadsheet and export again",
        )
    if not _ID_VALID.fullmatch(value):
        raise InvalidValue(
            f"employee id {value!r} is not valid: use up to {MAX_ID_LENGTH} letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            "correct the id in the HR system",
        )
    return value


# ---------------------------------------------------------------------------
# Lengths and characters


def _too_long(field: str, length: int, limit: int) -> tuple[str, str]:
    """The reason and the fix for a value of `length` characters in a column that allows `limit`."""
    label = f"{field} ({HEADER_ALIASES[field][0]})"
    reason = f"the {label} is {length:,} characters long, more than the {limit} allowed: {FIELD_LIMITS[field][1]}"
    if field in _SHORTEN:
        return reason, f"shorten the {label} to at most {limit} characters in the HR system"
    return reason, f"correct the {label} in the HR system; a value this long is usually text pasted into the wrong column"


def _group_name_problem(department: str) -> tuple[str, str] | None:
    """Why `department` cannot name a directory group (see MAX_DEPARTMENT_BYTES), as (reason, fix); None if it can."""
    size = len(department.encode("utf-8")) + 2 * len(_RDN_SPECIAL.findall(department))
    if size <= MAX_DEPARTMENT_BYTES:
        return None
    reason = (
        f"the department ({HEADER_ALIASES['department'][0]}) {department!r} is too long for the name of its group in "
        f"the directory: its characters take {size} bytes there, more than the {MAX_DEPARTMENT_BYTES} that fit "
        f"(a Chinese character takes 3 bytes; rare characters and emoji take 4, so fewer than "
        f"{FIELD_LIMITS['department'][0]} of them fit)"
    )
    return reason, "shorten the department name in the HR system"


def check_value(field: str, value: str, limit: int) -> None:
    """Raise InvalidValue unless the normalised `value` fits `field`'s column: its length limit, no control
    character, and a department short enough to name its group."""
    if len(value) > limit:
        raise InvalidValue(*_too_long(field, len(value), limit))
    bad = _CONTROL.search(value)
    if bad is not None:
        raise InvalidValue(f"the value contains the control character U+{ord(bad.group()):04X}", "remove it in the HR system")
    if field == "department":
        problem = _group_name_problem(value)
        if problem is not None:
            raise InvalidValue(*problem)
