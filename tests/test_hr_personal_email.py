"""HR's optional `personal_email` column: where an initial password may be sent (policies.notices).

It is read under its own name and HR systems' names for it; a value that is not an address never rejects
its row: the row is used without it, and a review tells HR which row to correct.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from connectors.hr_csv import read_hr_csv
from connectors.hr_snapshot import RowsRead, build_snapshot
from connectors.hr_values import map_headers
from lifecycle.domain.models import HrSnapshot, ReviewKind
from lifecycle.domain.settings import HrSettings

ALIASES = {"HQ": "HQ", "集团总部": "HQ"}
TODAY = date(2026, 11, 28)
HEADER = ["employee_id", "name", "company", "department", "status", "hire_date"]
ROW = ["1001", "李娜", "HQ", "研发部", "active", "2026-01-05"]


def snapshot(header: str, *values: str) -> HrSnapshot:
    """One row per value (rows 2, 3...: employees 1002, 1003...), the value in a column named `header`."""
    rows = [(n, [f"10{n:02d}", *ROW[1:], value]) for n, value in enumerate(values, 2)]
    read = RowsRead([*HEADER, header], rows, "test")
    return build_snapshot(read, HrSettings(path=Path("/nonexistent/hr.csv")), ALIASES, TODAY)


@pytest.mark.parametrize("header", ["personal_email", "Personal Email", "个人邮箱", "私人邮箱", "个人邮件", "private email"])
def test_the_column_is_read_under_each_of_its_names(header: str) -> None:
    assert map_headers([*HEADER, header], {})["personal_email"] == len(HEADER)
    found = snapshot(header, " Li.Na@QQ.com ", "")
    assert [r.personal_email for r in found.records] == ["Li.Na@QQ.com", ""]
    assert found.reviews == () and found.rejected == ()
    assert "personal_email" in found.columns


def test_without_the_column_nobody_has_one() -> None:
    read = RowsRead(HEADER, [(2, ROW)], "test")
    found = build_snapshot(read, HrSettings(path=Path("/nonexistent/hr.csv")), ALIASES, TODAY)
    assert found.records[0].personal_email == ""


@pytest.mark.parametrize("bad", ["lina", "lina@qq", "a@b.com;c@d.com", "Li Na <lina@qq.com>", "x" * 300 + "@qq.com",
                                 "li\u0007na@qq.com",
                                 # an empty label: a trailing dot would pass for another domain (policies.notices)
                                 "lina@example.com.", "lina@qq..com", "lina@.qq.com", "lina@qq.com\u3002"])
def test_a_bad_address_is_dropped_with_a_review_and_the_row_is_used(bad: str) -> None:
    found = snapshot("个人邮箱", bad, "ok@qq.com")
    assert [(r.employee_id, r.personal_email) for r in found.records] == [("1002", ""), ("1003", "ok@qq.com")]
    assert found.rejected == ()
    (review,) = found.reviews
    assert (review.kind, review.employee_id, review.company, review.target) == (
        ReviewKind.INCONSISTENT_RECORD, "1002", "HQ", "row 2")
    assert "personal_email (个人邮箱)" in review.reason and "not an e-mail address" in review.reason
    assert len(review.reason) < 400  # a pasted document is not quoted back


def test_a_row_rejected_for_another_reason_gets_no_review_for_its_address() -> None:
    rows = [(2, ["1001", "李娜", "HQ", "研发部", "active", "2026-01-05", "bad"]),
            (3, ["1001", "王芳", "HQ", "研发部", "active", "2026-01-05", "ok@qq.com"]),
            (4, ["1002", "张伟", "HQ", "研发部", "active", "2026-01-05", ""])]
    found = build_snapshot(RowsRead([*HEADER, "personal_email"], rows, "test"), HrSettings(path=Path("/x.csv")), ALIASES,
                           TODAY)
    assert [r.row for r in found.rejected] == [2, 3] and found.reviews == ()


def test_a_csv_export_with_the_chinese_header(tmp_path: Path) -> None:
    path = tmp_path / "hr.csv"
    path.write_text("工号,姓名,公司,部门,状态,入职日期,个人邮箱\n1001,李娜,集团总部,研发部,在职,2026-01-05,lina@163.com\n",
                    encoding="utf-8")
    found = read_hr_csv(HrSettings(path=path), ALIASES, today=TODAY)
    assert found.records[0].personal_email == "lina@163.com"
