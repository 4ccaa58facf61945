"""The HR export as the HrSource port: its name, its records, its age; and the cycle's settling check on that age."""

from __future__ import annotations

import os
import time
from datetime import date
from pathlib import Path

from connectors.hr_csv import CsvHrSource
from lifecycle.domain.ports import HrSource
from lifecycle.engine.cycle import company_aliases, open_hr, read_hr
from tests.harness import make_settings

EXPORT = """工号,姓名,公司,部门,状态,入职日期
1001,李娜,HQ,研发部,在职,2024-03-01
1002,王芳,深圳分公司,销售部,在职,2025-01-15
1003,张伟,XX,销售部,在职,2025-01-15
"""


def _settings(tmp_path: Path, min_age: int = 60):
    settings = make_settings(tmp_path, guards={"min_file_age_seconds": min_age})
    Path(settings.hr.path).write_text(EXPORT, encoding="utf-8")
    return settings


def _age(path: str, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_the_csv_export_is_an_hr_source(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    source = open_hr(settings)
    assert isinstance(source, CsvHrSource) and isinstance(source, HrSource)
    assert source.name == str(settings.hr.path)
    snapshot = source.read(date(2026, 12, 1))
    assert [(r.employee_id, r.company) for r in snapshot.records] == [("1001", "HQ"), ("1002", "SZ")]  # names or codes
    assert [(r.row, r.field) for r in snapshot.rejected] == [(4, "company")]
    assert snapshot.source == str(settings.hr.path) and len(snapshot.fingerprint) == 64


def test_its_age_is_the_file_s_and_unknown_once_the_file_is_gone(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    source = CsvHrSource(settings.hr, company_aliases(settings))
    _age(settings.hr.path, 3600)
    age = source.age_seconds()
    assert age is not None and 3599 <= age <= 3610
    os.unlink(settings.hr.path)
    assert source.age_seconds() is None


def test_a_file_written_moments_ago_is_settling_for_the_guards(tmp_path: Path) -> None:
    settings = _settings(tmp_path, min_age=60)
    source = open_hr(settings)
    _age(settings.hr.path, 5)
    assert read_hr(settings, source).settling
    _age(settings.hr.path, 120)
    fresh = read_hr(settings, source)
    assert not fresh.settling and len(fresh.records) == 2


def test_a_file_gone_right_after_its_read_is_settling_not_trusted(tmp_path: Path) -> None:
    """A writer that deletes and recreates the export: an age the source cannot tell is no proof of a finished file."""
    settings = _settings(tmp_path, min_age=60)
    _age(settings.hr.path, 3600)

    class GoneAfterRead(CsvHrSource):
        def age_seconds(self) -> float | None:
            os.unlink(self.settings.path)
            return super().age_seconds()

    source = GoneAfterRead(settings.hr, company_aliases(settings))
    snapshot = read_hr(settings, source)
    assert snapshot.settling and len(snapshot.records) == 2
