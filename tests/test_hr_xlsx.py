"""The HR export as an Excel workbook (connectors.hr_xlsx): sheets, headers below titles and merged over two
rows, cells as Excel holds them, files that are not workbooks."""

from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from connectors.hr_csv import CsvHrSource
from connectors.hr_xlsx import HEADER_SEARCH_ROWS, XlsxHrSource, read_hr_xlsx
from lifecycle.domain.errors import FeedError
from lifecycle.domain.hr_settings import HrSettings
from lifecycle.domain.models import HrRecord, HrSnapshot, HrStatus, ReviewKind
from lifecycle.engine.cycle import company_aliases
from lifecycle.testing.conformance import HrSourceContract
from lifecycle.testing.conformance.hr import Publish
from tests.harness import make_settings

TODAY = date(2026, 12, 1)
ALIASES = {"HQ": "HQ", "SZ": "SZ", "深圳星河科技有限公司": "SZ"}
HEADER = ["工号", "姓名", "公司", "部门", "状态", "入职日期"]
ZHANG = ["100001", "张伟", "HQ", "研发部", "在职", date(2020, 1, 2)]
LI = ["100002", "李娜", "SZ", "市场部", "在职", date(2021, 3, 4)]
Cells = Sequence[object]


def workbook(path: Path, rows: Sequence[Cells], *, merges: Sequence[str] = (), title: str = "花名册",
             more_sheets: Sequence[str] = ()) -> Path:
    """Write `rows` from row 1 of the first sheet (None: an empty cell; a row of none: a blank row)."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    for number, cells in enumerate(rows, 1):
        for column, value in enumerate(cells, 1):
            if value is not None:
                sheet.cell(row=number, column=column, value=value)
    for merged in merges:
        sheet.merge_cells(merged)
    for name in more_sheets:
        book.create_sheet(name).append(["not", "the", "roster"])
    book.save(path)
    return path


def read(path: Path, **hr: object) -> HrSnapshot:
    return read_hr_xlsx(HrSettings(kind="xlsx", path=path, **hr), ALIASES, today=TODAY)


def refused(path: Path, **hr: object) -> str:
    with pytest.raises(FeedError) as caught:
        read(path, **hr)
    return str(caught.value)


def by_id(snapshot: HrSnapshot) -> dict[str, HrRecord]:
    return {r.employee_id: r for r in snapshot.records}


# -- the sheet and its header ----------------------------------------------------------------------


def test_the_header_is_found_below_title_rows_and_rows_keep_their_sheet_numbers(tmp_path: Path) -> None:
    path = workbook(tmp_path / "roster.xlsx", [
        ["智能人事花名册(导出时间:2026-12-01 10:00)"],
        ["共 2 人"],
        [],
        HEADER,
        ZHANG,
        [],
        LI,
    ], merges=["A1:F1"])
    snapshot = read(path)
    assert [(r.row, r.employee_id, r.name, r.company, r.department) for r in snapshot.records] == [
        (5, "100001", "张伟", "HQ", "研发部"),
        (7, "100002", "李娜", "SZ", "市场部"),
    ]
    assert snapshot.rejected == () and snapshot.source == f"{path} (sheet '花名册')"


def test_a_rejection_names_the_row_excel_shows(tmp_path: Path) -> None:
    path = workbook(tmp_path / "roster.xlsx", [
        ["花名册"], [], HEADER, ZHANG, [], [], ["100003", "王芳", "BJ", "财务部", "在职", date(2022, 5, 6)], LI,
    ])
    snapshot = read(path)
    (rejected,) = snapshot.rejected
    assert (rejected.row, rejected.employee_id, rejected.field) == (7, "100003", "company")
    assert rejected.message().startswith("row 7")
    assert sorted(by_id(snapshot)) == ["100001", "100002"]


def test_header_row_names_the_header(tmp_path: Path) -> None:
    # Row 2 looks like a header too (a stale copy above the real one): the setting decides.
    stale = ["工号", "姓名", "公司", "部门", "状态", "入职日期", "备注"]
    path = workbook(tmp_path / "roster.xlsx", [["说明"], stale, ["100009", "旧", "HQ", "x", "在职", "2020-01-01"],
                                               HEADER, ZHANG])
    assert sorted(by_id(read(path))) == ["100001", "100009"]  # found: row 2; row 4, a header again, is rejected
    snapshot = read(path, header_row=4)
    assert [(r.row, r.employee_id) for r in snapshot.records] == [(5, "100001")]


def test_a_header_row_that_is_not_the_header_is_refused_naming_the_setting(tmp_path: Path) -> None:
    path = workbook(tmp_path / "roster.xlsx", [["花名册"], HEADER, ZHANG])
    message = refused(path, header_row=1)
    assert "row 1 ([hr] header_row = 1)" in message
    assert "employee_id (工号)" in message and "[hr.columns]" in message
    assert "has 3 row(s), but [hr] header_row = 9" in refused(path, header_row=9)


def test_without_a_header_the_rows_looked_at_and_the_headers_expected_are_named(tmp_path: Path) -> None:
    rows: list[Cells] = [["花名册"], ["员工编码", "名字", "公司", "部门", "状态", "入职日期"],
                         ["100001", "张伟", "HQ", "研发部", "在职", "2020-01-02"]]
    message = refused(workbook(tmp_path / "roster.xlsx", rows))
    assert f"no header found in rows 1-{len(rows)}" in message
    assert "the row that comes closest, row 2" in message
    assert "employee_id (工号)" in message and "name (姓名)" in message  # what is expected
    assert "'员工编码'" in message  # what is there
    assert "[hr] header_row" in message and "[hr.columns]" in message
    # [hr.columns] maps the export's own headers.
    snapshot = read(workbook(tmp_path / "mapped.xlsx", rows), columns={"employee_id": "员工编码", "name": "名字"})
    assert [(r.row, r.employee_id, r.name) for r in snapshot.records] == [(3, "100001", "张伟")]


def test_the_header_is_looked_for_in_the_first_rows_only(tmp_path: Path) -> None:
    rows: list[Cells] = [[f"说明第 {n} 行"] for n in range(1, HEADER_SEARCH_ROWS + 3)] + [HEADER, ZHANG]
    path = workbook(tmp_path / "roster.xlsx", rows)
    assert f"no header found in rows 1-{HEADER_SEARCH_ROWS}" in refused(path)
    header_at = HEADER_SEARCH_ROWS + 3
    assert [(r.row, r.employee_id) for r in read(path, header_row=header_at).records] == [(header_at + 1, "100001")]


def test_the_sheet_is_the_first_unless_named(tmp_path: Path) -> None:
    path = workbook(tmp_path / "roster.xlsx", [HEADER, ZHANG], title="花名册", more_sheets=["说明", "离职人员"])
    assert sorted(by_id(read(path))) == ["100001"]
    book = Workbook()
    first = book.active
    assert first is not None
    first.title = "说明"
    first.append(["本表由钉钉导出"])
    roster = book.create_sheet("在职人员")
    roster.append(HEADER)
    roster.append(LI)
    book.save(tmp_path / "second.xlsx")
    snapshot = read(tmp_path / "second.xlsx", sheet="在职人员")
    assert sorted(by_id(snapshot)) == ["100002"] and "在职人员" in snapshot.source
    assert sorted(by_id(read(tmp_path / "second.xlsx", sheet=" 在职人员 "))) == ["100002"]  # spacing as typed
    message = refused(tmp_path / "second.xlsx")
    assert "(sheet '说明'): no header found" in message
    assert "the workbook has other sheets ('在职人员'): name the roster's with [hr] sheet" in message


def test_an_unknown_sheet_is_refused_listing_the_sheets(tmp_path: Path) -> None:
    path = workbook(tmp_path / "roster.xlsx", [HEADER, ZHANG], title="花名册", more_sheets=["说明"])
    message = refused(path, sheet="Sheet1")
    assert "no sheet named 'Sheet1'" in message and "'花名册', '说明'" in message and "[hr] sheet" in message


def test_a_dingtalk_two_level_header_is_read_as_one(tmp_path: Path) -> None:
    """工号 and 姓名 merged down over rows 2-3, 基本信息 and 入离职信息 merged across their sub-headers in row 3:
    read-only mode sees 工号 in A2 alone, so A3 takes it from above."""
    path = workbook(tmp_path / "roster.xlsx", [
        ["智能人事花名册(导出时间:2026-12-01 10:00)"],
        ["工号", "姓名", "基本信息", None, None, "入离职信息", None, None, "手机号"],
        [None, None, "部门", "职位", "员工状态", "入职日期", "离职日期", "合同公司", None],
        ["100001", "张伟", "研发部", "工程师", "正式", date(2020, 1, 2), None, "深圳星河科技有限公司", "13800000001"],
        ["100002", "李娜", "市场部", "经理", "待离职", date(2021, 3, 4), date(2026, 12, 31), "深圳星河科技有限公司", None],
    ], merges=["A1:I1", "A2:A3", "B2:B3", "C2:E2", "F2:H2", "I2:I3"])
    snapshot = read(path)
    assert snapshot.rejected == ()
    assert [(r.row, r.employee_id, r.name, r.company, r.department, r.title, r.status, r.termination_date)
            for r in snapshot.records] == [
        (4, "100001", "张伟", "SZ", "研发部", "工程师", HrStatus.ACTIVE, None),
        (5, "100002", "李娜", "SZ", "市场部", "经理", HrStatus.ACTIVE, date(2026, 12, 31)),
    ]
    assert set(snapshot.columns) >= {"employee_id", "name", "title", "termination_date"}


def test_a_header_merged_over_three_rows_is_read_as_one(tmp_path: Path) -> None:
    path = workbook(tmp_path / "roster.xlsx", [
        ["工号", "姓名", "员工信息", None, None, None],
        [None, None, "组织", None, "状态信息", None],
        [None, None, "公司", "部门", "状态", "入职日期"],
        ZHANG,
    ], merges=["A1:A3", "B1:B3", "C1:F1", "C2:D2", "E2:F2"])
    assert [(r.row, r.employee_id, r.name, r.department) for r in read(path).records] == [(4, "100001", "张伟", "研发部")]


def test_a_two_level_header_whose_upper_row_maps_alone_ends_on_its_lower_row(tmp_path: Path) -> None:
    """Every required column merged down; the lower row holds only sub-headers of optional or unknown columns:
    it is the header's second level, not a person (and not a rejected row)."""
    path = workbook(tmp_path / "roster.xlsx", [
        ["花名册"],
        [*HEADER, "联系方式", None, "其他信息", None],
        [None] * 6 + ["工作邮箱", "手机号", "籍贯", "血型"],
        [*ZHANG, "zhangwei@example.com", "13800000001", "湖南", "A"],
    ], merges=["A2:A3", "B2:B3", "C2:C3", "D2:D3", "E2:E3", "F2:F3", "G2:H2", "I2:J2"])
    snapshot = read(path)
    assert snapshot.rejected == ()
    assert [(r.row, r.employee_id, r.email) for r in snapshot.records] == [(4, "100001", "zhangwei@example.com")]
    assert "email" in snapshot.columns
    # The lower level with unknown sub-headers only is a header level all the same.
    unknown = workbook(tmp_path / "unknown.xlsx", [
        [*HEADER, "其他信息", None], [None] * 6 + ["籍贯", "血型"], [*ZHANG, "湖南", "A"]],
        merges=["G1:H1"])
    snapshot = read(unknown)
    assert snapshot.rejected == () and [(r.row, r.employee_id) for r in snapshot.records] == [(3, "100001")]


def test_a_data_row_under_the_header_stays_a_row(tmp_path: Path) -> None:
    """A person right under the header, optional cells empty, or even the id missing, is data, never a header level."""
    path = workbook(tmp_path / "roster.xlsx", [
        [*HEADER, "职位", "工作邮箱"],
        [None, "王芳", "HQ", "财务部", "在职", date(2022, 5, 6), None, None],
        [*ZHANG, None, None],
    ])
    snapshot = read(path)
    assert [(r.row, r.employee_id) for r in snapshot.records] == [(3, "100001")]
    assert [(r.row, r.field) for r in snapshot.rejected] == [(2, "employee_id")]


def test_a_header_repeated_right_below_it_is_part_of_it(tmp_path: Path) -> None:
    """A repeated header line (an export's "page" header) or a lower level naming the same columns is no person."""
    path = workbook(tmp_path / "roster.xlsx", [["花名册"], HEADER, HEADER, ZHANG, HEADER, LI])
    snapshot = read(path)
    assert [(r.row, r.employee_id) for r in snapshot.records] == [(4, "100001"), (6, "100002")]
    (repeated,) = snapshot.rejected  # further down it is a row like any other, and a bad one
    assert (repeated.row, repeated.field) == (5, "employee_id")


def test_columns_without_a_header_and_rows_of_any_length_are_read(tmp_path: Path) -> None:
    path = workbook(tmp_path / "roster.xlsx", [
        [*HEADER, None, "职位"],
        [*ZHANG, "a note in a column without a header", "工程师"],
        ["100002", "李娜", "SZ", "市场部", "在职", date(2021, 3, 4)],  # 职位 not stored at all
    ])
    snapshot = read(path)
    assert snapshot.rejected == ()
    assert {r.employee_id: r.title for r in snapshot.records} == {"100001": "工程师", "100002": ""}


def test_rows_are_read_whole_when_the_sheet_misstates_its_size(tmp_path: Path) -> None:
    """Some writers give <dimension ref="A1"/>; read-only mode would then cut every row to column A."""
    path = workbook(tmp_path / "roster.xlsx", [HEADER, ZHANG, LI])
    rewrite_part(path, "xl/worksheets/sheet1.xml",
                 lambda xml: xml.replace(b'<dimension ref="A1:F3"', b'<dimension ref="A1"'))
    assert sorted(by_id(read(path))) == ["100001", "100002"]


# -- cells -----------------------------------------------------------------------------------------


def test_date_and_datetime_cells_are_dates(tmp_path: Path) -> None:
    path = workbook(tmp_path / "roster.xlsx", [
        [*HEADER, "离职日期"],
        [*ZHANG[:5], datetime(2020, 1, 2, 9, 30), datetime(2026, 12, 31, 0, 0)],
        [*LI, "2027/1/15"],
    ])
    records = by_id(read(path))
    assert (records["100001"].hire_date, records["100001"].termination_date) == (date(2020, 1, 2), date(2026, 12, 31))
    assert (records["100002"].hire_date, records["100002"].termination_date) == (date(2021, 3, 4), date(2027, 1, 15))


def test_a_serial_number_in_a_date_column_needs_excel_serial_dates(tmp_path: Path) -> None:
    path = workbook(tmp_path / "roster.xlsx", [HEADER, [*ZHANG[:5], 45293], LI])  # 45293: 2024-01-02
    snapshot = read(path)
    (rejected,) = snapshot.rejected
    assert (rejected.row, rejected.employee_id, rejected.field) == (2, "100001", "hire_date")
    assert "Excel date serial number" in rejected.reason and "2024-01-02" in rejected.reason
    assert by_id(read(path, excel_serial_dates=True))["100001"].hire_date == date(2024, 1, 2)


def test_ids_written_as_numbers_are_ids(tmp_path: Path) -> None:
    path = workbook(tmp_path / "roster.xlsx", [
        [*HEADER, "上级工号"],
        [100001, *ZHANG[1:], None],
        [100002.0, *LI[1:], 100001.0],
    ])
    records = by_id(read(path))
    assert sorted(records) == ["100001", "100002"]
    assert records["100002"].manager_id == "100001"


def test_an_id_too_long_for_excel_to_keep_is_rejected_as_excel_shows_it(tmp_path: Path) -> None:
    """Excel keeps 15 significant digits: 123456789012345678 typed into a number cell is stored as 1.23456789012345E+17."""
    path = workbook(tmp_path / "roster.xlsx", [HEADER, [1.23456789012345e17, *ZHANG[1:]], LI])
    (rejected,) = read(path).rejected
    assert (rejected.row, rejected.field) == (2, "employee_id")
    assert "'1.23457E+17' is in scientific notation" in rejected.reason and "digits are lost" in rejected.reason


def test_a_formula_without_a_saved_value_reads_as_empty_and_the_row_is_rejected_naming_the_field(
    tmp_path: Path,
) -> None:
    """openpyxl (like other programs that do not compute formulas) saves a formula without its value."""
    path = workbook(tmp_path / "roster.xlsx", [
        [*HEADER, "职位"],
        ["100001", "张伟", "HQ", '=IF(TRUE,"研发部","")', "在职", date(2020, 1, 2), None],
        [*LI, "=UPPER(\"manager\")"],
    ])
    snapshot = read(path)
    (rejected,) = snapshot.rejected
    assert (rejected.row, rejected.employee_id, rejected.field) == (2, "100001", "department")
    assert "department (部门) is empty" in rejected.reason
    assert by_id(snapshot)["100002"].title == ""


def test_a_formula_is_read_as_the_value_excel_saved(tmp_path: Path) -> None:
    path = workbook(tmp_path / "roster.xlsx", [HEADER, ["100001", "张伟", "HQ", "=D9", "在职", date(2020, 1, 2)], LI])
    rewrite_part(path, "xl/worksheets/sheet1.xml",
                 lambda xml: xml.replace(b"<f>D9</f><v></v>", b"<f>D9</f><v>\xe7\xa0\x94\xe5\x8f\x91\xe9\x83\xa8</v>")
                 .replace(b"<f>D9</f><v />", b"<f>D9</f><v>\xe7\xa0\x94\xe5\x8f\x91\xe9\x83\xa8</v>")
                 .replace(b'<c r="D2"><f>', b'<c r="D2" t="str"><f>'))
    assert by_id(read(path))["100001"].department == "研发部"


# -- the file --------------------------------------------------------------------------------------


def test_a_csv_renamed_xlsx_is_refused_pointing_to_the_csv_kind(tmp_path: Path) -> None:
    path = tmp_path / "roster.xlsx"
    path.write_text("工号,姓名,公司,部门,状态,入职日期\n100001,张伟,HQ,研发部,在职,2020-01-02\n", encoding="gb18030")
    message = refused(path)
    assert "is not an xlsx workbook: it is a text file" in message and 'kind = "csv"' in message


def test_a_legacy_xls_file_is_refused_with_how_to_save_it(tmp_path: Path) -> None:
    path = tmp_path / "roster.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504) + b"\x01\x02" * 300)
    message = refused(path)
    assert "Excel 97-2003 (.xls)" in message and "password" in message and "Excel Workbook (*.xlsx)" in message


@pytest.mark.parametrize("damage", ["cut off", "not a workbook inside", "ods"])
def test_a_damaged_archive_is_refused_with_a_fix(tmp_path: Path, damage: str) -> None:
    path = workbook(tmp_path / "roster.xlsx", [HEADER, ZHANG])
    data = path.read_bytes()
    if damage == "cut off":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "not a workbook inside":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("readme.txt", "hello")
        path.write_bytes(buffer.getvalue())
    else:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        path.write_bytes(buffer.getvalue())
    message = refused(path)
    assert f"{path} " in message and "fix:" in message
    if damage == "ods":
        assert "OpenDocument spreadsheet (.ods)" in message
    else:
        assert "cannot be read as an xlsx workbook: the file is damaged or cut off" in message


def test_a_sheet_that_breaks_off_is_refused_naming_where(tmp_path: Path) -> None:
    path = workbook(tmp_path / "roster.xlsx", [HEADER, ZHANG, LI])
    rewrite_part(path, "xl/worksheets/sheet1.xml", lambda xml: xml[: xml.index(b'<row r="3"') + 12])
    message = refused(path)
    assert "sheet '花名册'" in message and "damaged or cut off" in message and "run the HR export again" in message


def test_an_empty_or_missing_file_or_sheet_is_refused(tmp_path: Path) -> None:
    assert "cannot read the HR file" in refused(tmp_path / "nowhere.xlsx")
    (tmp_path / "zero.xlsx").write_bytes(b"")
    assert "is empty (0 bytes)" in refused(tmp_path / "zero.xlsx")
    assert "is empty (no header row, no data)" in refused(workbook(tmp_path / "blank.xlsx", []))
    assert "has a header (row 2) but no data rows" in refused(workbook(tmp_path / "header.xlsx", [["花名册"], HEADER]))


def test_a_workbook_named_otherwise_is_read(tmp_path: Path) -> None:
    """openpyxl refuses a path not ending in .xlsx; an export job's 花名册_20261201 is a workbook all the same."""
    path = workbook(tmp_path / "roster.xlsx", [HEADER, ZHANG])
    renamed = path.rename(tmp_path / "花名册_20261201")
    assert sorted(by_id(read(renamed))) == ["100001"]


def test_the_csv_source_refuses_a_workbook_pointing_to_the_xlsx_kind(tmp_path: Path) -> None:
    path = workbook(tmp_path / "employees.csv", [HEADER, ZHANG])
    with pytest.raises(FeedError, match='kind = "xlsx"'):
        CsvHrSource(HrSettings(path=path), ALIASES).read(TODAY)


# -- the source ------------------------------------------------------------------------------------


def test_the_source_fingerprints_the_file_and_tells_its_age(tmp_path: Path) -> None:
    path = workbook(tmp_path / "roster.xlsx", [HEADER, ZHANG])
    source = XlsxHrSource(HrSettings(kind="xlsx", path=path), ALIASES)
    first = source.fingerprint()
    assert first == hashlib.sha256(path.read_bytes()).hexdigest() == source.read(TODAY).fingerprint
    assert source.name == str(path)
    os.utime(path, (1_700_000_000, 1_700_000_000))
    age = source.age_seconds()
    assert age is not None and age > 86_400
    workbook(path, [HEADER, ZHANG, LI])
    assert source.fingerprint() not in ("", first)
    assert source.read(TODAY).fingerprint == source.fingerprint()
    path.unlink()
    assert source.fingerprint() == "" and source.age_seconds() is None


def test_managers_named_in_a_workbook_are_resolved_like_any_source(tmp_path: Path) -> None:
    path = workbook(tmp_path / "roster.xlsx", [
        [*HEADER, "直属主管"],
        [*ZHANG, None],
        ["100003", "张伟", "HQ", "研发部", "在职", date(2022, 1, 1), None],
        ["100004", "王芳", "HQ", "研发部", "在职", date(2023, 1, 1), "张伟"],
        [*LI, "zhangwei@example.com"],
    ])
    snapshot = read(path)
    assert by_id(snapshot)["100004"].manager_id == ""
    reviews = {r.employee_id: r for r in snapshot.reviews}
    assert sorted(reviews) == ["100002", "100004"]
    assert all(r.kind == ReviewKind.UNKNOWN_MANAGER for r in snapshot.reviews)
    assert reviews["100004"].target == "row 4" and "'张伟' is ambiguous" in reviews["100004"].reason
    assert reviews["100002"].target == "row 5" and "matches no one" in reviews["100002"].reason


class TestXlsxHrSource(HrSourceContract):
    @pytest.fixture
    def publish(self, tmp_path: Path) -> Publish:
        settings = make_settings(tmp_path, hr={"kind": "xlsx", "path": str(tmp_path / "hr.xlsx")})
        source = XlsxHrSource(settings.hr, company_aliases(settings))

        def publish(records: Sequence[HrRecord]) -> XlsxHrSource:
            header = ["employee_id", "name", "company", "department", "title", "manager_id", "status", "hire_date",
                      "termination_date"]
            rows: list[Cells] = [["HR export", "2026-12-01"], header]
            rows += [[r.employee_id, r.name, r.company, r.department, r.title, r.manager_id or None, r.status.value,
                      r.hire_date, r.termination_date] for r in records]
            same_bytes_for_same_rows(workbook(settings.hr.path, rows))
            return source

        return publish


def same_bytes_for_same_rows(path: Path) -> None:
    """Pin what openpyxl stamps with the clock (the save time in docProps/core.xml, each part's time in the
    archive): the same rows written twice, seconds apart, are then the same file, as an export job's would be."""
    with zipfile.ZipFile(path) as archive:
        parts = {info.filename: archive.read(info) for info in archive.infolist()}
    parts["docProps/core.xml"] = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", b"2026-12-01T00:00:00Z",
                                        parts["docProps/core.xml"])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 12, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)


def rewrite_part(path: Path, part: str, change: object) -> None:
    """Rewrite one part of the workbook's archive (as another program would have written it)."""
    assert callable(change)
    with zipfile.ZipFile(path) as archive:
        parts = {info.filename: archive.read(info) for info in archive.infolist()}
    changed = change(parts[part])
    assert changed != parts[part], f"{part} of {path} is not as expected"
    parts[part] = changed
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
