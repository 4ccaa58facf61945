"""Build the DingTalk-style example roster: `roster.xlsx` and the same people as `roster-gb18030.csv`.

    .venv/bin/python examples/dingtalk/make_roster.py [DIRECTORY]

writes both files into DIRECTORY (default: next to this script).  The workbook is laid out as
DingTalk 智能人事 exports its 花名册: a title row, then a two-level header (group labels such as
基本信息 merged across their columns over the sub-headers; 工号, 姓名 and 手机号 merged down over
both header rows), dates as date cells (and a few hire dates as bare Excel serial numbers, as a
column formatted "General" holds them).  The CSV is what "Save As CSV" on Chinese Windows gives:
GB18030, one header row, no title.

tests/test_hr_roster_e2e.py builds the roster with this module and checks the committed files
against it; examples/dingtalk/README.md says what the roster shows.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import astuple, dataclass
from datetime import date
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

__all__ = ["CSV_NAME", "HEADER", "PEOPLE", "TITLE", "XLSX_NAME", "Person", "build", "write_csv", "write_xlsx"]

HERE = Path(__file__).resolve().parent
XLSX_NAME = "roster.xlsx"
CSV_NAME = "roster-gb18030.csv"
TITLE = "智能人事花名册(导出时间:2026-12-01 10:00)"
# The header as (group label, its sub-headers); a group of one header with no label is merged down
# over both header rows.
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("", ("工号",)),
    ("", ("姓名",)),
    ("基本信息", ("部门", "职位", "直属主管", "员工状态", "工作邮箱")),
    ("入离职信息", ("入职日期", "离职日期", "合同公司")),
    ("", ("手机号",)),
)
HEADER: tuple[str, ...] = tuple(h for _, headers in GROUPS for h in headers)
_EXCEL_EPOCH = date(1899, 12, 30)  # serial 1 is 1900-01-01 (and Excel's fictitious 1900-02-29 is long past)


@dataclass(frozen=True)
class Person:
    """One row of the roster, in the header's order.  `serial`: the hire date is written as a bare
    Excel serial number (a cell formatted "General"), not as a date cell."""

    employee_id: str
    name: str
    department: str
    title: str
    manager: str  # 直属主管: a name as DingTalk writes it; a 工号 or a work email where a name cannot do
    status: str
    email: str
    hire_date: date
    termination_date: date | None
    company: str  # 合同公司: the legal name of the employing company
    mobile: str
    serial: bool = False


_GROUP = "星河集团"
_HQ, _SZ, _GZ = "星河集团有限公司", "深圳星河科技有限公司", "广州星河贸易有限公司"

PEOPLE: tuple[Person, ...] = (
    # 集团总部 (HQ)
    Person("200001", "林志远", f"{_GROUP}/集团总部/总经办", "总裁", "", "正式", "linzhiyuan@example.com",
           date(2015, 3, 1), None, _HQ, "13800000001"),
    Person("200002", "周雪", f"{_GROUP}/集团总部/人力资源部", "人力资源总监", "林志远", "正式", "zhouxue@example.com",
           date(2017, 6, 12), None, _HQ, "13800000002"),
    Person("200003", "郑凯", f"{_GROUP}/集团总部/人力资源部/招聘组", "招聘专员", "周雪", "试用", "",
           date(2026, 10, 8), None, _HQ, "13800000003", serial=True),
    Person("200004", "何琳", f"{_GROUP}/集团总部/财务部", "财务经理", "林志远", "正式", "helin@example.com",
           date(2018, 9, 3), None, _HQ, "13800000004"),
    Person("200005", "韩梅", f"{_GROUP}/集团总部/财务部", "会计", "何琳", "长期病假", "",
           date(2019, 4, 22), None, _HQ, "13800000005"),
    # 深圳分公司 (SZ): two people called 王磊
    Person("200010", "王磊", f"{_GROUP}/深圳分公司/总经办", "总经理", "200001", "正式", "wanglei@sz.example.com",
           date(2016, 5, 16), None, _SZ, "13800000010"),
    Person("200011", "陈思远", f"{_GROUP}/深圳分公司/研发部", "研发总监", "王磊", "正式", "chensiyuan@sz.example.com",
           date(2018, 2, 26), None, _SZ, "13800000011"),
    Person("200012", "刘畅", f"{_GROUP}/深圳分公司/研发部/后端组", "工程师", "陈思远", "正式", "liuchang@sz.example.com",
           date(2020, 7, 6), None, _SZ, "13800000012"),
    Person("200013", "赵琪", f"{_GROUP}/深圳分公司/研发部/前端组", "工程师", "陈思远", "试用", "",
           date(2026, 9, 1), None, _SZ, "13800000013", serial=True),
    Person("200014", "王磊", f"{_GROUP}/深圳分公司/研发部/后端组", "高级工程师", "陈思远", "正式", "wanglei2@sz.example.com",
           date(2021, 3, 15), None, _SZ, "13800000014"),
    Person("200015", "孙悦", f"{_GROUP}/深圳分公司/研发部/测试组", "测试工程师", "陈思远", "待离职", "sunyue@sz.example.com",
           date(2022, 8, 1), date(2026, 12, 31), _SZ, "13800000015"),
    Person("200016", "吴涛", f"{_GROUP}/深圳分公司/市场部", "市场经理", "wanglei@sz.example.com", "正式",
           "wutao@sz.example.com", date(2019, 11, 11), None, _SZ, "13800000016"),
    Person("200017", "黄蕾", f"{_GROUP}/深圳分公司/市场部", "市场专员", "吴涛", "离职", "",
           date(2023, 2, 20), date(2026, 6, 30), _SZ, "13800000017"),
    # 广州分公司 (GZ)
    Person("200020", "陈晓燕", f"{_GROUP}/广州分公司/总经办", "总经理", "linzhiyuan@example.com", "正式",
           "chenxiaoyan@gz.example.com", date(2017, 1, 9), None, _GZ, "13800000020"),
    Person("200021", "杨一帆", f"{_GROUP}/广州分公司/运营部", "运营经理", "陈晓燕", "正式", "yangyifan@gz.example.com",
           date(2019, 5, 20), None, _GZ, "13800000021"),
    Person("200022", "许晴", f"{_GROUP}/广州分公司/运营部/物流组", "物流专员", "杨一帆", "正式", "",
           date(2021, 10, 18), None, _GZ, "13800000022"),
    Person("200023", "马骏", f"{_GROUP}/广州分公司/运营部/物流组", "物流专员", "杨一帆", "试用", "",
           date(2026, 11, 2), None, _GZ, "13800000023", serial=True),
    Person("200024", "罗佳", f"{_GROUP}/广州分公司/运营部/客服组", "客服专员", "杨一帆", "正式", "luojia@gz.example.com",
           date(2020, 3, 2), None, _GZ, "13800000024"),
    Person("200025", "谢婷", f"{_GROUP}/广州分公司/销售部", "销售经理", "陈晓燕", "正式", "xieting@gz.example.com",
           date(2018, 6, 4), None, _GZ, "13800000025"),
    Person("200026", "郭建国", f"{_GROUP}/广州分公司/运营部", "仓储顾问", "杨一帆", "返聘", "",
           date(2024, 1, 2), None, _GZ, "13800000026"),
    # A company the config does not know: the row is rejected, naming the company and the fix.
    Person("200030", "钱多多", f"{_GROUP}/北京办事处/销售部", "销售", "林志远", "正式", "",
           date(2025, 4, 1), None, "北京星河咨询有限公司", "13800000030"),
)


def excel_serial(day: date) -> int:
    """The Excel (1900 date system) serial number of `day` (a day after 1900-02-28)."""
    return (day - _EXCEL_EPOCH).days


Cell = str | int | date | None


def _cells(person: Person) -> list[Cell]:
    """The row's cells as the workbook holds them: dates as date cells or serials, nothing for an empty cell."""
    values: list[Cell] = list(astuple(person)[: len(HEADER)])
    if person.serial:
        values[HEADER.index("入职日期")] = excel_serial(person.hire_date)
    return [None if value == "" else value for value in values]


def _csv_cells(person: Person) -> list[str]:
    """The row as Excel saves it to CSV: a date cell in its format, a serial as its number."""
    text: list[str] = []
    for value in _cells(person):
        if value is None:
            text.append("")
        elif isinstance(value, date):
            text.append(value.isoformat())
        else:
            text.append(str(value))
    return text


def write_xlsx(path: Path) -> None:
    """The roster as a DingTalk-style workbook: title row, two-level header, data from row 4."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "花名册"
    bold, centred = Font(bold=True), Alignment(horizontal="center", vertical="center")
    sheet.cell(row=1, column=1, value=TITLE).font = Font(bold=True, size=14)
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADER))
    column = 1
    for label, headers in GROUPS:
        if not label:  # one header merged down over both header rows
            cell = sheet.cell(row=2, column=column, value=headers[0])
            sheet.merge_cells(start_row=2, start_column=column, end_row=3, end_column=column)
            cell.font, cell.alignment = bold, centred
            column += 1
            continue
        cell = sheet.cell(row=2, column=column, value=label)
        cell.font, cell.alignment = bold, centred
        sheet.merge_cells(start_row=2, start_column=column, end_row=2, end_column=column + len(headers) - 1)
        for header in headers:
            sub = sheet.cell(row=3, column=column, value=header)
            sub.font, sub.alignment = bold, centred
            column += 1
    for row, person in enumerate(PEOPLE, start=4):
        for column, value in enumerate(_cells(person), start=1):
            cell = sheet.cell(row=row, column=column, value=value)
            if isinstance(value, date):
                cell.number_format = "yyyy-mm-dd"
    sheet.freeze_panes = "C4"
    workbook.save(path)


def write_csv(path: Path) -> None:
    """The roster as a GB18030 CSV (Excel's "CSV (逗号分隔)" on Chinese Windows): header row, then the people."""
    with open(path, "w", encoding="gb18030", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(_csv_cells(person) for person in PEOPLE)


def build(directory: Path) -> tuple[Path, Path]:
    """Write roster.xlsx and roster-gb18030.csv into `directory`; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    xlsx, text = directory / XLSX_NAME, directory / CSV_NAME
    write_xlsx(xlsx)
    write_csv(text)
    return xlsx, text


def main(argv: list[str]) -> int:
    target = Path(argv[0]) if argv else HERE
    for path in build(target):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
