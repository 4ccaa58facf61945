"""The HrSource contract (lifecycle.testing.conformance) against the shipped fake and the CSV export's reader."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from connectors.hr_csv import CsvHrSource
from lifecycle.domain.models import HrRecord
from lifecycle.engine.cycle import company_aliases
from lifecycle.testing import InMemoryHrSource
from lifecycle.testing.conformance import HrSourceContract
from lifecycle.testing.conformance.hr import Publish
from tests.harness import make_settings

HEADER = "employee_id,name,company,department,title,manager_id,status,hire_date,termination_date\n"


def row(record: HrRecord) -> str:
    left = record.termination_date.isoformat() if record.termination_date else ""
    return (f"{record.employee_id},{record.name},{record.company},{record.department},{record.title},"
            f"{record.manager_id},{record.status.value},{record.hire_date.isoformat()},{left}\n")


class TestInMemoryHrSource(HrSourceContract):
    @pytest.fixture
    def publish(self) -> Publish:
        source = InMemoryHrSource()

        def publish(records: Sequence[HrRecord]) -> InMemoryHrSource:
            source.replace(records)
            return source

        return publish


class TestCsvHrSource(HrSourceContract):
    @pytest.fixture
    def publish(self, tmp_path: Path) -> Publish:
        settings = make_settings(tmp_path)
        source = CsvHrSource(settings.hr, company_aliases(settings))

        def publish(records: Sequence[HrRecord]) -> CsvHrSource:
            Path(settings.hr.path).write_text(HEADER + "".join(map(row, records)), encoding="utf-8")
            return source

        return publish
