"""Bounds on what an HR export may hold: value lengths, spreadsheets and wrong delimiters in
place of CSV, and a file in which no row can be used.

A value too long for the directory or the mail server rejects its row (row, field, length,
limit and fix), never the file; a file that is not a CSV export, or one in which every row is
rejected, is refused as a whole so that `check` and `plan` exit 1 and monitoring sees it.
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date
from pathlib import Path

import pytest

from connectors.hr_csv import read_hr_csv
from connectors.hr_values import FIELD_LIMITS, MAX_DEPARTMENT_BYTES, InvalidValue, normalize_employee_id
from connectors.ldap import LdapDirectory
from devservers.demo import SAMPLE
from lifecycle.cli.main import main
from lifecycle.domain.errors import FeedError
from lifecycle.domain.models import HrRecord, HrSnapshot, HrStatus
from lifecycle.domain.settings import CANONICAL_HR_FIELDS, CompanySettings, DirectorySettings, HrSettings, load_settings
from policies.attributes import display_name
from tests.conftest import HQ_PEOPLE_DN

ALIASES = {"HQ": "HQ", "SZ": "SZ", "深圳分公司": "SZ"}
HEADER = ["工号", "姓名", "姓", "英文名", "公司", "部门", "职务", "上级工号", "状态", "入职日期", "离职日期"]
FIELDS = ["employee_id", "name", "family_name", "english_name", "company", "department", "title", "manager_id",
          "status", "hire_date", "termination_date"]
GOOD = ["100001", "张伟", "张", "David", "HQ", "研发部", "工程师", "", "在职", "2024-01-02", ""]
OTHER = ["100002", "李娜", "李", "", "SZ", "销售部", "销售", "100001", "在职", "2020-05-06", ""]
TODAY = date(2026, 11, 28)
DAY_ONE = "2026-12-01T09:00"


def csv_bytes(rows: list[list[str]], delimiter: str = ",") -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode("utf-8")


def read(tmp_path: Path, data: bytes, name: str = "hr.csv", **settings: object) -> HrSnapshot:
    path = tmp_path / name
    path.write_bytes(data)
    return read_hr_csv(HrSettings(path=path, **settings), ALIASES, today=TODAY)


def with_value(field: str, value: str) -> list[str]:
    row = list(OTHER)
    row[FIELDS.index(field)] = value
    return row


# -- value lengths ------------------------------------------------------------------------


# Per field: a value of exactly the limit (accepted), built from what real values look like.
AT_LIMIT = {
    "name": lambda n: "张" * n,
    "family_name": lambda n: "欧" * n,
    "english_name": lambda n: "a" * n,
    "department": lambda n: "研" * n,
    "title": lambda n: "工" * n,
}
# Every field with a limit, and a value one character over it.
OVER_LIMIT = {
    **AT_LIMIT,
    "employee_id": lambda n: "1" * n,
    "manager_id": lambda n: "1" * n,
    "company": lambda n: "深" * n,
    "status": lambda n: "在" * n,
    "hire_date": lambda n: "2" * n,
    "termination_date": lambda n: "2" * n,
}


@pytest.mark.parametrize("field", sorted(AT_LIMIT))
def test_a_value_of_exactly_the_limit_is_accepted(tmp_path: Path, field: str) -> None:
    limit = FIELD_LIMITS[field][0]
    value = AT_LIMIT[field](limit)
    snap = read(tmp_path, csv_bytes([HEADER, GOOD, with_value(field, value)]))
    assert not snap.rejected
    assert getattr(snap.records[1], field) == value


@pytest.mark.parametrize("field", sorted(OVER_LIMIT))
def test_a_value_over_the_limit_rejects_its_row_only_naming_field_length_limit_and_fix(tmp_path: Path, field: str) -> None:
    limit = FIELD_LIMITS[field][0]
    value = OVER_LIMIT[field](limit + 1)
    snap = read(tmp_path, csv_bytes([HEADER, GOOD, with_value(field, value)]))
    assert [r.employee_id for r in snap.records] == ["100001"]  # the other row goes ahead
    (rejected,) = snap.rejected
    assert (rejected.row, rejected.field) == (3, field)
    assert f"{limit + 1:,} characters long" in rejected.reason and f"the {limit} allowed" in rejected.reason
    assert rejected.fix and "HR system" in rejected.fix
    assert value not in rejected.message()  # the length is told, the text is not repeated


@pytest.mark.parametrize(("field", "value"), [("email", "a" * 250 + "@x.cn"), ("account", "zhangwei" * 9)])
def test_optional_columns_are_bounded_too(tmp_path: Path, field: str, value: str) -> None:
    header, good, other = [*HEADER, "邮箱", "账号"], [*GOOD, "", ""], [*OTHER, "", ""]
    other[header.index({"email": "邮箱", "account": "账号"}[field])] = value
    snap = read(tmp_path, csv_bytes([header, good, other]))
    (rejected,) = snap.rejected
    assert rejected.field == field and f"{len(value)} characters long" in rejected.reason
    assert [r.employee_id for r in snap.records] == ["100001"]


def test_every_column_has_a_limit() -> None:
    # personal_email has its own bound (PERSONAL_EMAIL_LIMIT): a bad one is dropped with a review, never rejects its row.
    assert set(FIELD_LIMITS) == set(CANONICAL_HR_FIELDS) - {"personal_email"}


def test_spaces_around_a_value_do_not_count(tmp_path: Path) -> None:
    limit = FIELD_LIMITS["name"][0]
    snap = read(tmp_path, csv_bytes([HEADER, GOOD, with_value("name", "\u3000 " + "张" * limit + "  ")]))
    assert not snap.rejected and snap.records[1].name == "张" * limit


def test_a_50000_character_name_is_rejected_with_a_short_message(tmp_path: Path) -> None:
    snap = read(tmp_path, csv_bytes([HEADER, GOOD, with_value("name", "张" * 50_000)]))
    (rejected,) = snap.rejected
    assert rejected.field == "name" and "50,000 characters long" in rejected.reason and "64" in rejected.reason
    assert "shorten" in rejected.fix
    assert len(rejected.message()) < 400
    assert [r.name for r in snap.records] == ["张伟"]


def test_a_300_character_department_is_rejected_before_it_reaches_the_directory(tmp_path: Path) -> None:
    snap = read(tmp_path, csv_bytes([HEADER, GOOD, with_value("department", "销售" * 150)]))
    (rejected,) = snap.rejected
    assert rejected.field == "department" and "300 characters long" in rejected.reason
    assert "group" in rejected.reason and "at most 64 characters" in rejected.fix


def test_a_department_of_rare_four_byte_characters_that_does_not_fit_a_group_name_is_rejected(tmp_path: Path) -> None:
    wide = "\U00020000" * 60  # 60 characters (within 64), 240 bytes: more than a group name holds
    assert len(wide) <= FIELD_LIMITS["department"][0] and len(wide.encode()) > MAX_DEPARTMENT_BYTES
    snap = read(tmp_path, csv_bytes([HEADER, GOOD, with_value("department", wide)]))
    (rejected,) = snap.rejected
    assert rejected.field == "department" and "240 bytes" in rejected.reason and str(MAX_DEPARTMENT_BYTES) in rejected.reason


def test_a_department_of_escaped_characters_counts_them_as_the_directory_escapes_them(tmp_path: Path) -> None:
    # 48 four-byte characters (192 bytes) fit exactly; one comma more is 3 bytes in the directory's name.
    fits = "\U00020000" * 48
    one_more = ["100003", *with_value("department", fits + ",")[1:]]
    snap = read(tmp_path, csv_bytes([HEADER, GOOD, with_value("department", fits), one_more]))
    assert [r.department for r in snap.records] == ["研发部", fits]
    (rejected,) = snap.rejected
    assert rejected.row == 4 and "195 bytes" in rejected.reason


def test_a_configured_company_name_longer_than_the_usual_bound_is_accepted(tmp_path: Path) -> None:
    long_name = "深" * (FIELD_LIMITS["company"][0] + 20)
    path = tmp_path / "hr.csv"
    path.write_bytes(csv_bytes([HEADER, GOOD, with_value("company", long_name)]))
    snap = read_hr_csv(HrSettings(path=path), {**ALIASES, long_name: "SZ"}, today=TODAY)
    assert not snap.rejected and snap.records[1].company == "SZ"


def test_the_longest_names_fit_the_mailbox_display_name_column() -> None:
    """Modoboa keeps the display name in first_name, varchar(150)."""
    record = HrRecord("1", "张" * FIELD_LIMITS["name"][0], "HQ", "研发部", HrStatus.ACTIVE, TODAY, 2,
                      english_name="a" * FIELD_LIMITS["english_name"][0])
    assert len(display_name(record)) <= 150


def test_an_over_long_id_is_told_by_its_length() -> None:
    with pytest.raises(InvalidValue, match="200 characters long, more than the 64 allowed") as raised:
        normalize_employee_id("1" * 200)
    assert "1" * 65 not in str(raised.value)


# -- not a CSV export -----------------------------------------------------------------------


def xlsx_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as workbook:
        workbook.writestr("[Content_Types].xml", "<Types/>")
        workbook.writestr("xl/workbook.xml", "<workbook/>")
        workbook.writestr("xl/worksheets/sheet1.xml", "<worksheet>" + "<row/>" * 500 + "</worksheet>")
    return out.getvalue()


@pytest.mark.parametrize("name", ["employees.xlsx", "employees.csv"])
def test_an_xlsx_workbook_is_refused_as_a_spreadsheet_not_an_encoding_problem(tmp_path: Path, name: str) -> None:
    with pytest.raises(FeedError) as raised:
        read(tmp_path, xlsx_bytes(), name=name)
    message = str(raised.value)
    assert "this is a spreadsheet (xlsx)" in message and "export it as CSV (UTF-8)" in message
    assert "encoding" not in message


def test_a_legacy_xls_workbook_is_refused_as_a_spreadsheet(tmp_path: Path) -> None:
    ole = bytes.fromhex("d0cf11e0a1b11ae1") + bytes(range(256)) * 8
    with pytest.raises(FeedError, match=r"this is a spreadsheet \(xls.*export it as CSV \(UTF-8\)"):
        read(tmp_path, ole, name="employees.csv")


@pytest.mark.parametrize(("delimiter", "setting"), [(";", '";"'), ("\t", '"\\t"'), ("|", '"|"')])
def test_a_file_with_another_delimiter_is_told_which_one_and_the_key_to_set(tmp_path: Path, delimiter: str, setting: str) -> None:
    data = csv_bytes([HEADER, GOOD, OTHER], delimiter=delimiter)
    with pytest.raises(FeedError) as raised:
        read(tmp_path, data)
    message = str(raised.value)
    assert f"[hr] delimiter = {setting}" in message and "row 1" in message
    snap = read(tmp_path, data, delimiter=delimiter)  # the fix it names works
    assert [r.employee_id for r in snap.records] == ["100001", "100002"]


def test_a_comma_file_read_with_a_semicolon_setting_is_told_to_set_a_comma(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match='set \\[hr\\] delimiter = ","'):
        read(tmp_path, csv_bytes([HEADER, GOOD]), delimiter=";")


def test_a_header_that_is_wrong_with_every_delimiter_keeps_the_missing_column_message(tmp_path: Path) -> None:
    header = ["工号", "名字", "公司", "部门", "状态", "入职日期"]  # 姓名 misnamed
    with pytest.raises(FeedError) as raised:
        read(tmp_path, csv_bytes([header, ["1", "张伟", "HQ", "研发部", "在职", "2024-01-02"]]))
    assert "no column for required field(s) name (姓名)" in str(raised.value)
    assert "delimiter" not in str(raised.value)


def test_a_file_with_another_delimiter_and_a_wrong_header_is_still_told_the_delimiter(tmp_path: Path) -> None:
    header = ["工号", "名字", "公司", "部门", "状态", "入职日期"]  # 姓名 misnamed as well
    with pytest.raises(FeedError, match='seems to use semicolons; fix: set \\[hr\\] delimiter = ";"') as raised:
        read(tmp_path, csv_bytes([header, ["1", "张伟", "HQ", "研发部", "在职", "2024-01-02"]], delimiter=";"))
    assert "no column for required field(s)" in str(raised.value.__cause__)

def test_a_value_larger_than_the_csv_field_limit_names_the_row_and_says_it_is_probably_not_csv(tmp_path: Path) -> None:
    pasted = "张" * 140_000  # more than the csv module's field limit (131,072 characters)
    data = csv_bytes([HEADER, GOOD]) + f'100002,"{pasted}",,,HQ,研发部,,,在职,2024-01-02,\r\n'.encode()
    with pytest.raises(FeedError) as raised:
        read(tmp_path, data)
    message = str(raised.value)
    assert "line 3 (row 3)" in message and "131,072 characters" in message and "probably not a CSV export" in message
    assert isinstance(raised.value.__cause__, csv.Error)


# -- a file in which no row can be used -----------------------------------------------------


def test_a_file_in_which_every_row_is_rejected_is_refused_naming_the_first(tmp_path: Path) -> None:
    rows = [HEADER, *([str(100001 + i), "张伟", "", "", "BJ", "研发部", "", "", "在职", "2024-01-02", ""] for i in range(10)),
            ["100020", "李娜", "", "", "HQ", "研发部", "", "", "在职", "45292", ""]]
    with pytest.raises(FeedError) as raised:
        read(tmp_path, csv_bytes(rows))
    message = str(raised.value)
    assert "every one of the 11 rows" in message and "company: 10, hire_date: 1" in message
    assert "the first: row 2 (employee 100001): company: unknown company 'BJ'" in message


def test_a_file_of_test_records_only_is_refused(tmp_path: Path) -> None:
    rows = [HEADER, ["TEST001", "测试", "", "", "HQ", "研发部", "", "", "在职", "2024-01-02", ""]]
    with pytest.raises(FeedError, match="the only row of .* was rejected.*test record"):
        read(tmp_path, csv_bytes(rows))


def test_one_good_row_is_enough_for_the_file_to_be_read(tmp_path: Path) -> None:
    bad = ["100002", "李娜", "", "", "BJ", "研发部", "", "", "在职", "2024-01-02", ""]
    snap = read(tmp_path, csv_bytes([HEADER, bad, GOOD]))
    assert [r.employee_id for r in snap.records] == ["100001"] and [r.row for r in snap.rejected] == [2]


# -- through the CLI, against a real slapd ---------------------------------------------------


def run(config: Path, capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out, err


def sample_rows() -> list[list[str]]:
    with SAMPLE.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_check_and_plan_exit_1_when_every_row_is_rejected_and_apply_changes_nothing(config: Path, capsys) -> None:
    hr_path = config.parent / "employees.csv"
    assert run(config, capsys, "apply", "--now", DAY_ONE)[0] == 0
    assert run(config, capsys, "check")[0] == 0  # the directory is fine: only the export will be wrong
    settings = load_settings(config)
    rows = sample_rows()
    company = rows[0].index("公司")
    for row in rows[1:]:
        row[company] = "BJ"  # a company the config does not know: every row is rejected
    hr_path.write_bytes(csv_bytes(rows))

    code, out, err = run(config, capsys, "check")
    assert code == 1
    assert "PROBLEM hr source (csv): every one of the 50 rows" in err and "(by field: company: 50)" in err
    assert "the first: row 2 (employee 100001): company: unknown company 'BJ'" in err

    code, out, err = run(config, capsys, "plan", "--now", "2026-12-02T09:00")
    assert code == 1 and "every one of the 50 rows" in err and not out

    code, _, err = run(config, capsys, "apply", "--now", "2026-12-02T09:00")
    assert code == 1 and "every one of the 50 rows" in err
    with LdapDirectory(settings.directory, settings.companies) as directory:
        entries = directory.read_snapshot().entries
    assert len(entries) == 46 and not any(e.locked for e in entries)


def test_over_long_values_are_rejected_and_the_rest_of_the_export_is_applied(config: Path, capsys) -> None:
    hr_path = config.parent / "employees.csv"
    rows = sample_rows()
    header = rows[0]
    long_department = next(r for r in rows[1:] if r[0] == "100010")
    long_department[header.index("部门")] = "销售" * 150
    long_name = next(r for r in rows[1:] if r[0] == "100011")
    long_name[header.index("姓名")] = "张" * 50_000
    hr_path.write_bytes(csv_bytes(rows))

    code, out, err = run(config, capsys, "apply", "--now", DAY_ONE)
    assert code == 0, out + err
    settings = load_settings(config)
    with LdapDirectory(settings.directory, settings.companies) as directory:
        snapshot = directory.read_snapshot()
    numbers = {e.employee_number for e in snapshot.entries}
    assert "100010" not in numbers and "100011" not in numbers and len(numbers) == 44
    assert max(len(e.cn) for e in snapshot.entries) <= FIELD_LIMITS["name"][0]
    assert all(len(g.department) <= FIELD_LIMITS["department"][0] for g in snapshot.groups)
    code, out, _ = run(config, capsys, "plan", "--now", DAY_ONE)
    assert code == 0  # converged: nothing is retried every cycle
    assert "department (部门) is 300 characters long" in out and "name (姓名) is 50,000 characters long" in out


# -- what the limits promise: the longest accepted values fit the directory ------------------


LONGEST_CODE = "C" * 32  # CompanySettings.code allows at most 32 characters
LONGEST_DEPARTMENTS = [
    "研" * FIELD_LIMITS["department"][0],  # 64 Chinese characters, 192 bytes
    "\U00020000" * 46 + ",+ab",  # rare characters (4 bytes) and escaped ones (3): exactly MAX_DEPARTMENT_BYTES
    "R&D, \"Core\" <a=b>; #" * 3 + "abcd",  # 64 characters, ASCII with many escapes
]


@pytest.mark.parametrize("department", LONGEST_DEPARTMENTS, ids=["chinese", "rare-characters", "escaped-ascii"])
def test_the_longest_values_accepted_make_a_person_and_a_group_the_directory_takes(
    tmp_path: Path, directory_settings: DirectorySettings, department: str
) -> None:
    limit = FIELD_LIMITS["department"][0]
    longest = dict(name="张" * FIELD_LIMITS["name"][0], english_name="a" * FIELD_LIMITS["english_name"][0],
                   title="工" * FIELD_LIMITS["title"][0], family_name="欧" * FIELD_LIMITS["family_name"][0])
    row = with_value("department", department)
    for field, value in longest.items():
        row[FIELDS.index(field)] = value
    (record,) = read(tmp_path, csv_bytes([HEADER, row])).records  # accepted by the reader...
    assert len(record.department) <= limit

    company = CompanySettings(code=LONGEST_CODE, name="", domain="longest.example.com", people_dn=HQ_PEOPLE_DN)
    with LdapDirectory(directory_settings, (company,)) as directory:  # ...and by the directory
        member = directory.person_dn("longest", HQ_PEOPLE_DN)
        attributes = {
            "uid": "longest", "cn": record.name, "sn": record.family_name, "displayName": display_name(record),
            "mail": "longest@longest.example.com", "employeeNumber": "1" * FIELD_LIMITS["employee_id"][0],
            "departmentNumber": record.department, "title": record.title,
        }
        directory.create_person(member, attributes, None)
        dn = directory.group_dn(LONGEST_CODE, record.department)
        directory.create_group(dn, LONGEST_CODE, record.department, member)
        snapshot = directory.read_snapshot()
    (group,) = snapshot.groups
    assert group.department == record.department and group.members == {member}
    (entry,) = snapshot.entries
    assert (entry.cn, entry.title, entry.department) == (record.name, record.title, record.department)

