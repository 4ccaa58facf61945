"""The `HrSource` contract: what the engine relies on from a source of personnel records."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date

import pytest

from lifecycle.domain.errors import FeedError
from lifecycle.domain.models import HrRecord, HrStatus
from lifecycle.domain.ports import HrSource

TODAY = date(2026, 12, 1)
Publish = Callable[[Sequence[HrRecord]], HrSource]
"""Makes HR hold exactly these records (a new export, a changed view) and returns the source that reads them."""

STAFF = (
    HrRecord("1", "李娜", "HQ", "财务部", HrStatus.ACTIVE, date(2020, 1, 1), title="经理"),
    HrRecord("2", "王芳", "HQ", "财务部", HrStatus.ACTIVE, date(2021, 3, 15), title="会计", manager_id="1"),
    HrRecord("3", "欧阳娜娜", "SZ", "研发部", HrStatus.TERMINATED, date(2019, 7, 1), title="工程师",
             termination_date=date(2026, 11, 30)),
)


def fields(record: HrRecord) -> tuple[object, ...]:
    """What every source carries of a record (a row number or a family name column are the source's own)."""
    return (record.employee_id, record.name, record.company, record.department, record.status, record.hire_date,
            record.title, record.manager_id, record.termination_date)


class HrSourceContract:
    """The contract; a subclass provides `publish` (companies HQ and SZ exist)."""

    @pytest.fixture
    def publish(self) -> Publish:
        raise NotImplementedError("an HrSourceContract subclass provides `publish`")

    def test_it_is_an_hr_source_with_a_name(self, publish: Publish) -> None:
        source = publish(STAFF)
        assert isinstance(source, HrSource)
        assert isinstance(source.name, str) and source.name
        age = source.age_seconds()
        assert age is None or age >= 0

    def test_it_reads_every_record_it_holds(self, publish: Publish) -> None:
        snapshot = publish(STAFF).read(TODAY)
        assert sorted(map(fields, snapshot.records)) == sorted(map(fields, STAFF))
        assert snapshot.rejected == () and snapshot.source

    def test_the_fingerprint_changes_with_the_content_and_only_then(self, publish: Publish) -> None:
        first = publish(STAFF).read(TODAY).fingerprint
        assert first and publish(STAFF).read(TODAY).fingerprint == first
        moved = (STAFF[0], replace(STAFF[1], department="研发部"), STAFF[2])
        changed = publish(moved).read(TODAY)
        assert changed.fingerprint != first
        assert {r.employee_id: r.department for r in changed.records}["2"] == "研发部"

    def test_its_fingerprint_tells_a_change_without_a_full_snapshot(self, publish: Publish) -> None:
        source = publish(STAFF)
        first = source.fingerprint()
        assert first and first == source.read(TODAY).fingerprint  # what the daemon compares with the plan's
        assert publish(STAFF).fingerprint() == first
        moved = (STAFF[0], replace(STAFF[1], title="主管"), STAFF[2])
        assert publish(moved).fingerprint() not in ("", first)

    def test_a_source_without_a_row_is_refused_whole(self, publish: Publish) -> None:
        with pytest.raises(FeedError):
            publish(()).read(TODAY)
