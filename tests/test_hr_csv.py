"""HR CSV connector and the pure row validation behind it."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from connectors.hr_csv import read_hr_csv
from connectors.hr_records import validate_rows
from connectors.hr_values import (
    STATUS_VALUES,
    excel_serial_to_date,
    map_headers,
    normalize_employee_id,
    normalize_text,
    parse_date,
    parse_status,
)
from lifecycle.domain.errors import FeedError
from lifecycle.domain.models import HrSnapshot, HrStatus
from lifecycle.domain.settings import HrSettings

ALIASES = {"HQ": "HQ", "集团总部": "HQ", "SZ": "SZ", "深圳分公司": "SZ", "GZ": "GZ", "广州分公司": "GZ"}
CN_HEADER = "工号,姓名,姓,英文名,公司,部门,职务,上级工号,状态,入职日期,离职日期"
EN_HEADER = "employee_id,name,family_name,english_name,company,department,title,manager_id,status,hire_date,termination_date"
SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "demo" / "employees.csv"
TODAY = date(2026, 11, 28)


def write(tmp_path: Path, text: str, encoding: str = "utf-8", name: str = "hr.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def read(path: Path, **kwargs: object) -> HrSnapshot:
    return read_hr_csv(HrSettings(path=path, **kwargs), ALIASES, today=TODAY)


def csv_text(*rows: str, header: str = CN_HEADER) -> str:
    return "\n".join((header, *rows)) + "\n"


GOOD = "100001,张伟,张,David,HQ,研发部,工程师,,在职,2024-01-02,"


# --------------------------------------------------------------------------- headers


def test_chinese_headers(tmp_path: Path) -> None:
    snap = read(write(tmp_path, csv_text(GOOD, "100002,李娜,,,SZ,销售部,销售,100001,休假,2020/5/6,")))
    assert not snap.rejected
    first, second = snap.records
    assert first.employee_id == "100001" and first.name == "张伟" and first.family_name == "张"
    assert first.english_name == "David" and first.company == "HQ" and first.department == "研发部"
    assert first.title == "工程师" and first.status is HrStatus.ACTIVE and first.hire_date == date(2024, 1, 2)
    assert first.termination_date is None and first.row == 2
    assert second.manager_id == "100001" and second.status is HrStatus.LEAVE and second.row == 3


def test_canonical_headers_and_variants(tmp_path: Path) -> None:
    snap = read(write(tmp_path, csv_text(GOOD, header=EN_HEADER)))
    assert [r.employee_id for r in snap.records] == ["100001"]
    headers = ["Employee ID", " NAME ", "Company", "department", "Status", "Hire-Date", "Termination Date", "E-mail"]
    mapping = map_headers(headers, {})
    assert mapping == {
        "employee_id": 0,
        "name": 1,
        "company": 2,
        "department": 3,
        "status": 4,
        "hire_date": 5,
        "termination_date": 6,
        "email": 7,
    }


def test_headers_normalised_nfkc_and_zero_width() -> None:
    headers = ["\ufeff工号", "姓\u200b名", "公司 ", "部　门", "状态", "入职日期", "职位", "邮箱", "账号"]
    mapping = map_headers(headers, {})
    assert mapping["employee_id"] == 0 and mapping["name"] == 1 and mapping["department"] == 3
    assert mapping["title"] == 6 and mapping["email"] == 7 and mapping["account"] == 8


def test_configured_mapping_wins(tmp_path: Path) -> None:
    text = "员工编号,工号,全名,公司,部门,状态,到岗日期\nE-01,old,王芳,GZ,市场部,active,2023-03-04\n"
    columns = {"employee_id": "员工编号", "name": "全名", "hire_date": "到岗日期"}
    snap = read(write(tmp_path, text), columns=columns)
    (record,) = snap.records
    assert record.employee_id == "E-01" and record.name == "王芳" and record.hire_date == date(2023, 3, 4)


def test_configured_header_absent_from_file() -> None:
    with pytest.raises(FeedError, match=r"\[hr.columns\] maps employee_id to the header '员工编号'.*headers found"):
        map_headers(CN_HEADER.split(","), {"employee_id": "员工编号"})


def test_missing_required_column() -> None:
    headers = ["工号", "姓名", "公司", "部门", "状态", "到岗日期"]
    with pytest.raises(FeedError) as info:
        map_headers(headers, {})
    message = str(info.value)
    assert "hire_date (入职日期)" in message
    assert "'到岗日期'" in message  # headers found / unrecognised
    assert "[hr.columns]" in message and "rename" in message


def test_missing_required_column_via_reader(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match="status"):
        read(write(tmp_path, "工号,姓名,公司,部门,入职日期\n1,张伟,HQ,研发部,2024-01-02\n"))


def test_duplicate_mapped_headers() -> None:
    with pytest.raises(FeedError, match=r"'职务'.*'职位'.*title"):
        map_headers(["工号", "姓名", "公司", "部门", "状态", "入职日期", "职务", "职位"], {})
    with pytest.raises(FeedError, match="employee_id"):
        map_headers(["工号", "Employee ID", "姓名", "公司", "部门", "状态", "入职日期"], {})
    # Choosing one explicitly resolves it.
    mapping = map_headers(["工号", "姓名", "公司", "部门", "状态", "入职日期", "职务", "职位"], {"title": "职位"})
    assert mapping["title"] == 7


# --------------------------------------------------------------------------- encodings


def test_utf8_with_bom(tmp_path: Path) -> None:
    snap = read(write(tmp_path, csv_text(GOOD), "utf-8-sig"))
    assert [r.employee_id for r in snap.records] == ["100001"]


def test_utf8_with_bom_pinned_utf8(tmp_path: Path) -> None:
    snap = read(write(tmp_path, csv_text(GOOD), "utf-8-sig"), encoding="utf-8")
    assert [r.employee_id for r in snap.records] == ["100001"]


@pytest.mark.parametrize("pinned", ["auto", "gb18030"])
def test_gb18030_with_char_outside_gbk(tmp_path: Path, pinned: str) -> None:
    with pytest.raises(UnicodeEncodeError):
        "㛃".encode("gbk")
    text = csv_text("100001,张㛃,张,,HQ,研发部,工程师,,在职,2024-01-02,", "100002,吕小燕,,,SZ,销售部,,,在职,2023年6月1日,")
    with capture_logs() as logs:
        snap = read(write(tmp_path, text, "gb18030"), encoding=pinned)
    assert [r.name for r in snap.records] == ["张㛃", "吕小燕"]
    assert logs[-1]["encoding"] == "gb18030"


def test_gbk_auto_detected(tmp_path: Path) -> None:
    snap = read(write(tmp_path, csv_text(GOOD, "100002,欧阳娜娜,欧阳,,GZ,运营部,专员,100001,离职,2019-01-01,2025-12-31"), "gbk"))
    assert [r.name for r in snap.records] == ["张伟", "欧阳娜娜"]


def test_utf16_auto_detected(tmp_path: Path) -> None:
    snap = read(write(tmp_path, csv_text(GOOD), "utf-16"))
    assert [r.name for r in snap.records] == ["张伟"]


def test_gbk_file_pinned_utf8_fails_clearly(tmp_path: Path) -> None:
    path = write(tmp_path, csv_text(GOOD), "gbk")
    with pytest.raises(FeedError) as info:
        read(path, encoding="utf-8")
    message = str(info.value)
    assert str(path) in message and "'utf-8'" in message
    assert "offset 0" in message and "line 1" in message
    assert 'encoding = "gb18030"' in message and '"auto"' in message


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    "text",
    ["2024-01-02", "2024/1/2", "2024/01/02", "2024.01.02", "2024.1.2", "2024年1月2日", "2024年01月02日", "20240102",
     "２０２４－０１－０２", "２０２４年１月２日", "２０２４０１０２", " 2024-01-02 ", "2024-01-02 00:00:00", "2024/1/2 0:00"],
)
def test_date_formats(text: str) -> None:
    assert parse_date(text) == date(2024, 1, 2)


@pytest.mark.parametrize("text", ["", "  ", "\u3000"])
def test_empty_date(text: str) -> None:
    assert parse_date(text) is None


@pytest.mark.parametrize("text", ["2024-13-01", "2024-02-30", "2024-01/02", "02/01/2024", "Jan 2 2024", "2024", "abc", "1850-01-01"])
def test_invalid_dates_list_formats(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_date(text)
    message = str(info.value)
    assert repr(normalize_text(text)) in message
    if "year" not in message:
        assert "2024年1月2日" in message and "20240102" in message


def test_excel_serial_rejected_with_probable_date() -> None:
    with pytest.raises(ValueError, match=r"Excel date serial.*2024-01-01.*as text"):
        parse_date("45292")
    with pytest.raises(ValueError, match="2024-01-02"):
        parse_date("45293.0")


def test_excel_serial_arithmetic() -> None:
    assert excel_serial_to_date(1) == date(1900, 1, 1)
    assert excel_serial_to_date(59) == date(1900, 2, 28)
    assert excel_serial_to_date(61) == date(1900, 3, 1)  # 60 is the fictitious 1900-02-29
    assert excel_serial_to_date(45292) == date(2024, 1, 1)


@pytest.mark.parametrize("text", ["1900-01-01", "9999-12-31", "0000-00-00", "1900/1/1", "99991231", "00000000"])
def test_placeholder_dates(text: str) -> None:
    assert parse_date(text) is None
    with pytest.raises(ValueError, match="placeholder"):
        parse_date(text, allow_placeholder=False)


def test_placeholder_dates_in_rows(tmp_path: Path) -> None:
    snap = read(
        write(
            tmp_path,
            csv_text(
                "1,张伟,,,HQ,研发部,,,在职,2024-01-02,1900-01-01",
                "2,李娜,,,HQ,研发部,,,在职,2024-01-02,9999-12-31",
                "3,王芳,,,HQ,研发部,,,在职,1900-01-01,",
            ),
        )
    )
    assert [(r.employee_id, r.termination_date) for r in snap.records] == [("1", None), ("2", None)]
    (rejected,) = snap.rejected
    assert rejected.row == 4 and rejected.field == "hire_date" and "placeholder" in rejected.reason


def test_excel_serial_in_row(tmp_path: Path) -> None:
    snap = read(write(tmp_path, csv_text(GOOD, "1,张伟,,,HQ,研发部,,,在职,45292,")))
    (rejected,) = snap.rejected
    assert rejected.field == "hire_date" and "2024-01-01" in rejected.reason and "text" in rejected.fix


def test_hire_date_far_in_future_rejected() -> None:
    header = map_headers(EN_HEADER.split(","), {})
    rows = [(2, ["1", "张伟", "", "", "HQ", "研发部", "", "", "active", "2052-01-02", ""]),
            (3, ["2", "李娜", "", "", "HQ", "研发部", "", "", "active", "2027-02-01", ""])]
    records, rejected = validate_rows(rows, header, ALIASES, today=TODAY)
    assert [r.employee_id for r in records] == ["2"]
    assert rejected[0].field == "hire_date" and "future" in rejected[0].reason
    records, rejected = validate_rows(rows, header, ALIASES)  # no today: no horizon check
    assert len(records) == 2 and not rejected


# --------------------------------------------------------------------------- ids and text


@pytest.mark.parametrize(
    ("text", "expected"),
    [("100001", "100001"), ("１０００１", "10001"), (" 000123 ", "000123"), ("\u200b100001\ufeff", "100001"),
     ("E-1001", "E-1001"), ("", "")],
)
def test_normalize_employee_id(text: str, expected: str) -> None:
    assert normalize_employee_id(text) == expected


@pytest.mark.parametrize("text", ["1.23457E+17", "1.23457e+17", "1E5", "100001.0"])
def test_excel_mangled_ids_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="Excel|exported as a number"):
        normalize_employee_id(text)


@pytest.mark.parametrize("text", ["../etc", "100 001", "张三", "a/b", "-1"])
def test_invalid_ids_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="not valid"):
        normalize_employee_id(text)


def test_full_width_digits_in_rows(tmp_path: Path) -> None:
    snap = read(write(tmp_path, csv_text("１０００１,张伟,,,ＨＱ,研发部,,１０００２,在职,２０２４年１月２日,")))
    (record,) = snap.records
    assert record.employee_id == "10001" and record.manager_id == "10002"
    assert record.company == "HQ" and record.hire_date == date(2024, 1, 2)


def test_scientific_id_in_row(tmp_path: Path) -> None:
    snap = read(write(tmp_path, csv_text("1.23457E+17,张伟,,,HQ,研发部,,,在职,2024-01-02,", GOOD)))
    assert [r.employee_id for r in snap.records] == ["100001"]
    (rejected,) = snap.rejected
    assert rejected.row == 2 and rejected.field == "employee_id" and "scientific notation" in rejected.reason


def test_text_normalisation(tmp_path: Path) -> None:
    snap = read(write(tmp_path, csv_text("1,\u3000张\u3000伟\u200b ,张,\u200bDavid  Zhang ,HQ, 研发部 ,高级　工程师,,在职,2024-01-02,")))
    (record,) = snap.records
    assert record.name == "张伟" and record.english_name == "David Zhang"
    assert record.department == "研发部" and record.title == "高级 工程师"


def test_manager_self_reference_dropped(tmp_path: Path) -> None:
    snap = read(write(tmp_path, csv_text("100001,司马光,司马,,HQ,总经办,总裁,100001,在职,2015-03-01,")))
    (record,) = snap.records
    assert record.manager_id == ""


def test_a_manager_that_matches_no_one_keeps_the_row_without_a_manager_and_says_so(tmp_path: Path) -> None:
    snap = read(write(tmp_path, csv_text(GOOD, "100002,张伟,,,HQ,研发部,,1.00001E+05,在职,2015-03-01,")))
    assert snap.rejected == ()
    (record,) = [r for r in snap.records if r.employee_id == "100002"]
    assert record.manager_id == ""
    (review,) = snap.reviews
    assert review.kind.value == "unknown_manager" and review.employee_id == "100002"
    assert "'1.00001E+05'" in review.reason and "matches no one" in review.reason


# --------------------------------------------------------------------------- statuses


@pytest.mark.parametrize(("text", "expected"), sorted(STATUS_VALUES.items()))
def test_status_table(text: str, expected: HrStatus) -> None:
    assert parse_status(text) is expected


@pytest.mark.parametrize(("text", "expected"), [("ACTIVE", HrStatus.ACTIVE), (" Leave ", HrStatus.LEAVE), ("Terminated", HrStatus.TERMINATED)])
def test_status_case_insensitive(text: str, expected: HrStatus) -> None:
    assert parse_status(text) is expected


def test_unknown_status(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="allowed values: active, 在职"):
        parse_status("出差")
    snap = read(write(tmp_path, csv_text(GOOD, "1,张伟,,,HQ,研发部,,,出差,2024-01-02,")))
    (rejected,) = snap.rejected
    assert rejected.field == "status" and "'出差'" in rejected.reason and "离职" in rejected.reason


# --------------------------------------------------------------------------- row-level rejections


def test_duplicate_ids_reject_all_rows_naming_each_other(tmp_path: Path) -> None:
    snap = read(
        write(
            tmp_path,
            csv_text(
                "100001,张伟,,,HQ,研发部,,,在职,2024-01-02,",
                GOOD.replace("100001", "100002"),
                "100001,张伟,,,SZ,销售部,,,在职,2020-01-02,",
                "100001,张伟,,,GZ,销售部,,,在职,bad-date,",
            ),
        )
    )
    assert [r.employee_id for r in snap.records] == ["100002"]
    by_row = {r.row: r for r in snap.rejected}
    assert sorted(by_row) == [2, 4, 5]
    assert all(r.field == "employee_id" and r.employee_id == "100001" for r in by_row.values())
    assert "row(s) 4, 5" in by_row[2].reason
    assert "row(s) 2, 5" in by_row[4].reason
    assert "row(s) 2, 4" in by_row[5].reason
    assert snap.rejected_ids() == {"100001"}


def test_duplicate_ids_case_insensitive() -> None:
    header = map_headers(EN_HEADER.split(","), {})
    row = ["", "张伟", "", "", "HQ", "研发部", "", "", "active", "2024-01-02", ""]
    records, rejected = validate_rows([(2, ["e1", *row[1:]]), (3, ["E1", *row[1:]])], header, ALIASES)
    assert not records and {r.employee_id for r in rejected} == {"e1", "E1"}


def test_termination_before_hire(tmp_path: Path) -> None:
    snap = read(write(tmp_path, csv_text(GOOD, "1,张伟,,,HQ,研发部,,,离职,2023-05-10,2022-05-10")))
    (rejected,) = snap.rejected
    assert rejected.field == "termination_date" and "2022-05-10" in rejected.reason and "2023-05-10" in rejected.reason


def test_unknown_company_names_allowed_codes(tmp_path: Path) -> None:
    snap = read(write(tmp_path, csv_text(GOOD, "1,张伟,,,BJ,研发部,,,在职,2024-01-02,")))
    (rejected,) = snap.rejected
    assert rejected.field == "company" and "'BJ'" in rejected.reason
    assert "GZ, HQ, SZ" in rejected.reason


def test_company_by_name_or_code_any_case(tmp_path: Path) -> None:
    snap = read(
        write(
            tmp_path,
            csv_text("1,张伟,,,深圳分公司,研发部,,,在职,2024-01-02,", "2,李娜,,,gz,研发部,,,在职,2024-01-02,", "3,王芳,,,Hq,研发部,,,在职,2024-01-02,"),
        )
    )
    assert [r.company for r in snap.records] == ["SZ", "GZ", "HQ"]


@pytest.mark.parametrize("field_index", [0, 1, 4, 5, 8, 9])
def test_missing_required_value(field_index: int) -> None:
    header = map_headers(EN_HEADER.split(","), {})
    cells = ["1", "张伟", "", "", "HQ", "研发部", "", "", "active", "2024-01-02", ""]
    cells[field_index] = " "
    records, (rejected,) = validate_rows([(7, cells)], header, ALIASES)
    assert not records
    assert rejected.row == 7 and rejected.field == EN_HEADER.split(",")[field_index] and "empty" in rejected.reason


def test_short_and_long_rows(tmp_path: Path) -> None:
    snap = read(
        write(
            tmp_path,
            csv_text(
                "1,张伟,,,HQ,研发部,,,在职,2024-01-02",  # one cell short
                "2,李娜,,,HQ,研发部,,,在职,2024-01-02,,extra",  # a value too many
                "3,王芳,,,HQ,研发部,,,在职,2024-01-02,,,",  # trailing empty cells: fine
            ),
        )
    )
    assert [r.employee_id for r in snap.records] == ["3"]
    short, long = snap.rejected
    assert short.row == 2 and short.employee_id == "1" and "10 cell(s) but the header has 11" in short.reason
    assert long.row == 3 and "unquoted delimiter" in long.reason


def test_blank_lines_skipped_but_counted(tmp_path: Path) -> None:
    snap = read(write(tmp_path, CN_HEADER + "\n\n" + GOOD + "\n,,,,,,,,,,\n\n" + GOOD.replace("100001", "100002") + "\n"))
    assert [(r.employee_id, r.row) for r in snap.records] == [("100001", 3), ("100002", 6)]
    assert not snap.rejected


def test_control_character_rejected() -> None:
    header = map_headers(EN_HEADER.split(","), {})
    cells = ["1", "张\x00伟", "", "", "HQ", "研发部", "", "", "active", "2024-01-02", ""]
    _, (rejected,) = validate_rows([(2, cells)], header, ALIASES)
    assert rejected.field == "name" and "U+0000" in rejected.reason


def test_bad_rows_never_hide_good_rows(tmp_path: Path) -> None:
    good = [f"1000{i:02d},员工{i},,,HQ,研发部,工程师,,在职,2024-01-{i + 1:02d}," for i in range(10)]
    bad = ["200001,坏行,,,XX,研发部,,,在职,2024-01-02,", "200002,坏行,,,HQ,研发部,,,在职,45292,", "200003,坏行,,,HQ,研发部,,,未知,2024-01-02,"]
    rows = good[:3] + bad[:1] + good[3:7] + bad[1:2] + good[7:] + bad[2:]
    snap = read(write(tmp_path, csv_text(*rows)))
    assert len(snap.records) == 10 and len(snap.rejected) == 3
    assert [r.row for r in snap.rejected] == [5, 10, 14]
    assert snap.rejected_ids() == {"200001", "200002", "200003"}


# --------------------------------------------------------------------------- the file as a whole


def test_snapshot_source_fingerprint_and_log(tmp_path: Path) -> None:
    path = write(tmp_path, csv_text(GOOD, "x,李娜,,,HQ,研发部,,,在职,45292,"))
    with capture_logs() as logs:
        snap = read(path)
    assert snap.source == str(path)
    assert snap.fingerprint == hashlib.sha256(path.read_bytes()).hexdigest()
    (entry,) = [e for e in logs if e["event"] == "hr_feed_read"]
    assert entry["rows"] == 2 and entry["accepted"] == 1 and entry["rejected"] == 1 and entry["encoding"] == "utf-8"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    with pytest.raises(FeedError, match=r"nope\.csv: No such file"):
        read(path)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match="Is a directory"):
        read(tmp_path)


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match="empty"):
        read(write(tmp_path, "\n\n"))
    with pytest.raises(FeedError, match="no data rows"):
        read(write(tmp_path, CN_HEADER + "\n\n"))


def test_unbalanced_quote_refuses_the_file(tmp_path: Path) -> None:
    text = csv_text(GOOD, '100002,"李娜,,,HQ,研发部,,,在职,2024-01-02,', "100003,王芳,,,HQ,研发部,,,在职,2024-01-02,")
    with pytest.raises(FeedError, match=r"line 3 \(row 3\).*double quote"):
        read(write(tmp_path, text))
    text = csv_text(GOOD, '100002,李娜,,,HQ,研发部,,,在职,2024-01-02,"', "100003,王芳,,,HQ,研发部,,,在职,2024-01-02,")
    with pytest.raises(FeedError, match="double quote"):
        read(write(tmp_path, text))


def test_quoted_multiline_value_is_one_row(tmp_path: Path) -> None:
    text = csv_text('100001,张伟,,,HQ,研发部,"高级\n工程师",,在职,2024-01-02,', "100002,李娜,,,HQ,研发部,,,在职,2024-01-02,")
    snap = read(write(tmp_path, text))
    assert [(r.title, r.row) for r in snap.records] == [("高级 工程师", 2), ("", 3)]


def test_other_delimiter_and_sep_line(tmp_path: Path) -> None:
    text = "sep=;\n" + csv_text(GOOD.replace(",", ";"), header=CN_HEADER.replace(",", ";"))
    snap = read(write(tmp_path, text), delimiter=";")
    assert [(r.employee_id, r.row) for r in snap.records] == [("100001", 3)]


def test_sample_file() -> None:
    snap = read(SAMPLE)
    assert len(snap.records) == 48
    assert [(r.row, r.field) for r in snap.rejected] == [(50, "termination_date"), (51, "company")]
    by_id = {r.employee_id: r for r in snap.records}
    assert sum(r.name == "张伟" and r.status is HrStatus.ACTIVE for r in snap.records) == 3
    assert by_id["100005"].status is HrStatus.LEAVE
    assert by_id["100014"].status is HrStatus.TERMINATED and by_id["100014"].termination_date == date(2026, 6, 30)
    assert by_id["100028"].termination_date == date(2027, 1, 15)
    assert by_id["100029"].hire_date == date(2027, 2, 1)
    managers = {r.manager_id for r in snap.records if r.manager_id}
    assert managers <= set(by_id)
    assert {r.company for r in snap.records} == {"HQ", "SZ", "GZ"}


# --------------------------------------------------------------------------- property


HEADER = EN_HEADER.split(",")
HEADER_MAP = map_headers(HEADER, {})
plausible_cell = st.sampled_from(["", "1", "100001", "张伟", "HQ", "gz", "在职", "离职", "active", "2024-01-02", "45292",
                                  "9999-12-31", "1.2E+17", "\u3000", "\u200b", "研发部"])
cell = st.one_of(st.text(max_size=12), plausible_cell)
row_cells = st.one_of(
    st.lists(cell, min_size=len(HEADER), max_size=len(HEADER)),
    st.lists(cell, max_size=len(HEADER) + 3),
    st.tuples(
        st.sampled_from(["1", "2", "3", "E-7", "１２"]), st.sampled_from(["张伟", "李 娜"]), st.just(""), st.just(""),
        st.sampled_from(["HQ", "深圳分公司", "BJ"]), st.just("研发部"), st.just(""), cell,
        st.sampled_from(["在职", "休假", "terminated"]), st.sampled_from(["2024-01-02", "2024年1月2日", "20240230"]), cell,
    ).map(list),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row_cells, max_size=12), st.booleans())
def test_validate_rows_loses_nothing(rows: list[list[str]], with_width: bool) -> None:
    numbered = [(i + 2, cells) for i, cells in enumerate(rows)]
    records, rejected = validate_rows(numbered, HEADER_MAP, ALIASES, today=TODAY, width=len(HEADER) if with_width else None)
    expected = sorted(n for n, cells in numbered if any(normalize_text(c) for c in cells))
    assert sorted([r.row for r in records] + [r.row for r in rejected]) == expected
    accepted_ids = [r.employee_id.casefold() for r in records]
    assert len(accepted_ids) == len(set(accepted_ids))
    assert not {r.employee_id for r in records} & {r.employee_id for r in rejected if r.employee_id}
