"""Rows of any HR source -> one validated `HrSnapshot`: the part every driver shares.

A driver (CSV, xlsx, SQL, REST) finds the header and the rows; this module maps the header to
fields, validates the rows (`connectors.hr_records`), resolves the managers, sets aside HR's test
records, refuses a feed whose every row was rejected, and names the snapshot by a fingerprint of
what it read.  So every kind gives the same records, the same rejections and the same findings
for the same people.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date

import structlog

from connectors.hr_records import HrRules, cell_text, refuse_unusable, resolve_managers, validate_rows
from connectors.hr_values import map_headers
from lifecycle.domain.errors import FeedError
from lifecycle.domain.hr_settings import HrSettings
from lifecycle.domain.models import HrRecord, HrSnapshot, RejectedRow, Review

__all__ = ["RowsRead", "build_snapshot", "fingerprint_rows", "set_aside_test_records"]

log = structlog.get_logger(__name__)


@dataclass
class RowsRead:
    """What a driver read: the header, the rows as (row number, cells) and what it knows of them.

    `keys` maps a row number to the source's own name for the record (an API's user id), used in
    messages instead of the row number.  `fingerprint`: the driver's ("" = computed from the rows).
    """

    headers: Sequence[str]
    rows: Iterable[tuple[int, Sequence[object]]]
    source: str
    header_row: int = 1
    width: int | None = None
    fingerprint: str = ""
    keys: Mapping[int, str] = field(default_factory=dict)
    details: dict[str, object] = field(default_factory=dict)  # logged with the read (encoding, sheet...)


def build_snapshot(read: RowsRead, settings: HrSettings, company_aliases: Mapping[str, str], today: date) -> HrSnapshot:
    """The validated snapshot of what a driver read.  Raises `FeedError` when the header lacks a required
    column, there is no data row, or every row was rejected."""
    header_map = map_headers([cell_text(h) for h in read.headers], settings.columns)
    rules = HrRules.from_settings(settings, company_aliases)
    digest = hashlib.sha256() if not read.fingerprint else None
    rows: Iterable[tuple[int, Sequence[object]]] = read.rows
    if digest is not None:
        digest.update(repr([cell_text(h) for h in read.headers]).encode())
        rows = _digested(rows, digest)
    dropped: list[Review] = []  # personal addresses that are not addresses: the rows are used without them
    records, rejected = validate_rows(rows, header_map, rules, today, width=read.width, findings=dropped)
    if not records and not rejected:
        raise FeedError(
            f"{read.source} has a header (row {read.header_row}) but no data rows; refusing to treat every employee as "
            "gone; fix: check the HR export job (or the query) and run it again"
        )
    records, rejected = set_aside_test_records(records, rejected, settings.test_records)
    if read.keys:
        rejected = [_keyed(r, read.keys) for r in rejected]
    refuse_unusable(records, rejected, read.source)
    records, reviews = resolve_managers(records, rules.manager_match, rejected)
    if dropped:
        kept = {r.employee_id for r in records}  # not a test record set aside
        reviews = [*reviews, *(r for r in dropped if r.employee_id in kept)]
    fingerprint = read.fingerprint or (digest.hexdigest() if digest is not None else "")
    log.info("hr_feed_read", source=read.source, kind=settings.kind, rows=len(records) + len(rejected),
             accepted=len(records), rejected=len(rejected), fingerprint=fingerprint[:12], **read.details)
    return HrSnapshot(
        records=tuple(records),
        rejected=tuple(rejected),
        source=read.source,
        fingerprint=fingerprint,
        columns=tuple(sorted(header_map)),
        reviews=tuple(reviews),
    )


def fingerprint_rows(headers: Sequence[object], rows: Iterable[Sequence[object]]) -> str:
    """The fingerprint `build_snapshot` gives rows read without one (what a quiet cycle compares)."""
    digest = hashlib.sha256()
    digest.update(repr([cell_text(h) for h in headers]).encode())
    for number, cells in enumerate(rows, 1):
        digest.update(repr((number, [cell_text(c) for c in cells])).encode())
    return digest.hexdigest()


def _digested(rows: Iterable[tuple[int, Sequence[object]]], digest: hashlib._Hash) -> Iterator[tuple[int, Sequence[object]]]:
    for number, cells in rows:
        digest.update(repr((number, [cell_text(c) for c in cells])).encode())
        yield number, cells


def _keyed(row: RejectedRow, keys: Mapping[int, str]) -> RejectedRow:
    key = keys.get(row.row, "")
    return replace(row, key=key) if key else row


def set_aside_test_records(
    records: list[HrRecord], rejected: list[RejectedRow], patterns: tuple[str, ...]
) -> tuple[list[HrRecord], list[RejectedRow]]:
    """Rows HR keeps for testing (TEST001, 测试...) get no account: they are reported like a bad row."""
    compiled = [re.compile(p, re.IGNORECASE) for p in patterns]
    kept: list[HrRecord] = [] if compiled else records
    searches = [p.search for p in compiled]
    for record in records if compiled else ():
        employee_id, name = record.employee_id, record.name
        for search in searches:
            if search(employee_id) is not None or search(name) is not None:
                break
        else:
            kept.append(record)
            continue
        # The first pattern that matches, employee_id before name.
        field_name, pattern = next((f, p.pattern) for p in compiled for f, value in (("employee_id", employee_id),
                                                                                     ("name", name)) if p.search(value))
        rejected.append(
            RejectedRow(
                record.row, field_name,
                f"looks like a test record ({field_name} matches [hr] test_records pattern {pattern!r})",
                "remove the row from the export, or change [hr] test_records if this is a real person",
                employee_id=record.employee_id, company=record.company, test_record=True,
            )
        )
    rejected.sort(key=lambda r: r.row)
    return kept, rejected
