"""HR input torture, end to end: a CSV file on disk -> the CLI (`plan`/`apply`) -> a real slapd.

Every bad input either gets a clear message (row, field, fix; or the whole feed
refused naming the column) or is handled correctly, never crashes, and never
causes a destructive action (suspension, deletion) or a duplicate account.

The `config` fixture (tests/conftest.py) is a throwaway slapd laid out like the
demo plus a config whose HR export is a copy of the shipped sample; the tests
rewrite that file and run the real commands.  Day one is 2026-12-01, when the
sample's 46 accounts are created.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from connectors.hr_csv import read_hr_csv
from connectors.ldap import LdapDirectory
from devservers.demo import SAMPLE
from lifecycle.cli.main import main
from lifecycle.domain.models import DirectorySnapshot
from lifecycle.domain.settings import HrSettings, load_settings
from lifecycle.engine.cycle import company_aliases
from lifecycle.journal.store import Journal

DAY_ONE = "2026-12-01T09:00"
LEAVER = "100028"  # 马超, SZ: termination date 2027-01-15
AFTER_LEAVING = "2027-01-16T09:00"
FULL_WIDTH = str.maketrans("0123456789-/", "０１２３４５６７８９－／")


# -- helpers ----------------------------------------------------------------------------


def sample() -> list[list[str]]:
    """The shipped export as rows of cells, header first."""
    with SAMPLE.open(encoding="utf-8", newline="") as handle:
        return [row for row in csv.reader(handle)]


def column(name: str) -> int:
    return sample()[0].index(name)


def row_of(rows: list[list[str]], employee_id: str) -> list[str]:
    return next(r for r in rows if r and r[0] == employee_id)


def csv_text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)  # what Excel writes
    return out.getvalue()


def hr_file(config: Path) -> Path:
    return config.parent / "employees.csv"


def write_hr(config: Path, rows: list[list[str]], *, encoding: str = "utf-8", bom: bool = False) -> None:
    data = csv_text(rows).encode(encoding)
    hr_file(config).write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)


def set_option(config: Path, section: str, line: str) -> None:
    """Add `line` to an existing [section] of the config written by the fixture."""
    text = config.read_text(encoding="utf-8")
    header = f"[{section}]\n"
    assert header in text
    config.write_text(text.replace(header, header + line + "\n", 1), encoding="utf-8")


def run(config: Path, capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out, err


def plan(config: Path, capsys, now: str) -> dict:
    code, out, err = run(config, capsys, "plan", "--now", now, "--format", "json")
    assert code in (0, 2), err
    return json.loads(out)


def apply(config: Path, capsys, now: str) -> str:
    code, out, err = run(config, capsys, "apply", "--now", now)
    assert code == 0, out + err
    return out


def snapshot(config: Path) -> DirectorySnapshot:
    settings = load_settings(config)
    with LdapDirectory(settings.directory, settings.companies) as directory:
        return directory.read_snapshot()


def people(config: Path) -> dict[str, object]:
    return {e.employee_number: e for e in snapshot(config).entries}


def log(config: Path) -> list:
    journal = Journal(load_settings(config).state.url)
    try:
        return list(journal.entries())
    finally:
        journal.close()


def applied(config: Path, *kinds: str) -> list:
    return [e for e in log(config) if e.status == "applied" and (not kinds or e.kind in kinds)]


def destructive(config: Path) -> list:
    return applied(config, "suspend_account", "delete_account")


def kinds_for(planned: dict, employee_id: str) -> list[str]:
    return [a["kind"] for a in planned["actions"] if a["employee_id"] == employee_id]


def rejected(planned: dict) -> dict[int, dict]:
    return {r["row"]: r for r in planned["rejected"]}


def day_one(config: Path, capsys, rows: list[list[str]] | None = None) -> dict[str, object]:
    if rows is not None:
        write_hr(config, rows)
    apply(config, capsys, DAY_ONE)
    return people(config)


# -- ids --------------------------------------------------------------------------------


def test_duplicate_ids_reject_both_rows_naming_each_other_and_leave_the_account_alone(config: Path, capsys) -> None:
    before = day_one(config, capsys)
    rows = sample()
    twin = row_of(rows, "100027").copy()  # 徐强's row, typed with 马超's id by mistake
    twin[0] = LEAVER
    rows.insert(10, twin)  # spreadsheet row 11
    leaver_row = next(i for i, r in enumerate(rows, 1) if r[:2] == [LEAVER, "马超"])
    write_hr(config, rows)

    planned = plan(config, capsys, AFTER_LEAVING)  # 马超's termination date has passed
    bad = rejected(planned)
    assert bad[11]["field"] == "employee_id" and bad[leaver_row]["field"] == "employee_id"
    assert f"row(s) {leaver_row}" in bad[11]["reason"] and "row(s) 11" in bad[leaver_row]["reason"]
    assert LEAVER in bad[11]["reason"] and "fix" not in bad[11]["reason"] and bad[11]["fix"]
    assert kinds_for(planned, LEAVER) == []  # a rejected row is never acted on, in either direction

    apply(config, capsys, AFTER_LEAVING)
    after = people(config)
    assert not after[LEAVER].locked and after.keys() == before.keys()
    assert destructive(config) == []
    code, out, _ = run(config, capsys, "plan", "--now", AFTER_LEAVING)
    assert code == 0 and f"row {leaver_row} (employee {LEAVER}): employee_id: the same employee id" in out


def _zero_padded(rows: list[list[str]]) -> list[list[str]]:
    """The sample with 8-digit ids: 100001 -> 00100001 (and the manager ids likewise)."""
    manager = column("上级工号")
    padded = [rows[0]]
    for row in rows[1:]:
        row = row.copy()
        row[0] = row[0].zfill(8)
        row[manager] = row[manager].zfill(8) if row[manager] else ""
        padded.append(row)
    return padded


def _lost_zeros(rows: list[list[str]], count: int) -> list[list[str]]:
    """The first `count` people's ids exported as numbers: the leading zeros are gone."""
    out = [r.copy() for r in rows]
    for row in out[1 : count + 1]:
        row[0] = row[0].lstrip("0")
    return out


def test_ids_that_lost_their_leading_zeros_are_neither_joiners_nor_leavers(config: Path, capsys) -> None:
    # The dangerous set-up: people missing from the export count as leavers after a day.
    set_option(config, "hr", 'absent_means = "terminated"\nabsent_days = 1')
    padded = _zero_padded(sample())
    before = day_one(config, capsys, padded)
    assert len(before) == 46 and "00100001" in before

    write_hr(config, _lost_zeros(padded, 5))  # 00100001..00100005 now read 100001..100005
    for now in ("2026-12-02T09:00", "2026-12-05T09:00", "2027-01-10T09:00"):
        planned = plan(config, capsys, now)
        for old in ("00100001", "00100002", "00100003", "00100004", "00100005"):
            assert kinds_for(planned, old) == [] and kinds_for(planned, old.lstrip("0")) == []
        assert sum("leading zeros lost" in r["reason"] for r in planned["reviews"]) == 5
        apply(config, capsys, now)
    after = people(config)
    assert after.keys() == before.keys()  # no second account for anyone
    assert not any(e.locked for e in after.values())
    assert destructive(config) == []


def test_ids_that_lost_their_leading_zeros_change_nothing_at_all(config: Path, capsys) -> None:
    padded = _zero_padded(sample())
    day_one(config, capsys, padded)
    mangled = _lost_zeros(padded, 5)
    manager = column("上级工号")
    for row in mangled[1:]:  # the manager column is a number column too
        if row[manager].lstrip("0") in {r[0] for r in mangled[1:6]}:
            row[manager] = row[manager].lstrip("0")
    write_hr(config, mangled)
    assert plan(config, capsys, "2026-12-02T09:00")["actions"] == []


def test_ids_that_gained_leading_zeros_are_neither_joiners_nor_leavers(config: Path, capsys) -> None:
    set_option(config, "hr", 'absent_means = "terminated"\nabsent_days = 1')
    before = day_one(config, capsys)  # the ids were 100001...; the export now pads them to 8 digits
    write_hr(config, _zero_padded(sample()))
    for now in ("2026-12-02T09:00", "2026-12-05T09:00"):
        apply(config, capsys, now)
    after = people(config)
    assert len(after) == len(before)  # no second account for anyone
    assert destructive(config) == []


def test_full_width_digits_in_ids_and_dates_change_nothing(config: Path, capsys) -> None:
    day_one(config, capsys)
    rows = sample()
    dates = [column("工号"), column("上级工号"), column("入职日期"), column("离职日期")]
    wide = [rows[0]] + [[c.translate(FULL_WIDTH) if i in dates else c for i, c in enumerate(r)] for r in rows[1:]]
    assert wide[1][0] == "１００００１" and wide[2][column("入职日期")] == "２０１９／７／１５"
    write_hr(config, wide)
    code, out, _ = run(config, capsys, "plan", "--now", DAY_ONE)
    assert code == 0, out  # the same people, the same dates: nothing to do
    planned = plan(config, capsys, AFTER_LEAVING)
    assert "suspend_account" in kinds_for(planned, LEAVER)
    assert sorted(r["employee_id"] for r in planned["rejected"]) == ["100049", "100050"]  # as in the sample


# -- the feed as a whole ----------------------------------------------------------------


@pytest.mark.parametrize(("dropped", "named"), [("状态", "status (状态)"), ("工号", "employee_id (工号)")])
def test_a_missing_required_column_refuses_the_whole_feed(config: Path, capsys, dropped: str, named: str) -> None:
    before = day_one(config, capsys)
    rows = sample()
    index = rows[0].index(dropped)
    write_hr(config, [r[:index] + r[index + 1 :] for r in rows])
    for command in ("plan", "apply"):
        code, out, err = run(config, capsys, command, "--now", AFTER_LEAVING)
        assert code == 1 and out == ""
        assert f"required field(s) {named}" in err and "fix:" in err
        assert "Traceback" not in err
    assert people(config) == before  # nothing changed, 马超 included
    assert destructive(config) == []


def test_a_bom_changes_nothing(config: Path, capsys) -> None:
    plain = plan(config, capsys, DAY_ONE)
    write_hr(config, sample(), bom=True)
    with_bom = plan(config, capsys, DAY_ONE)
    assert with_bom["actions"] == plain["actions"] and with_bom["rejected"] == plain["rejected"]
    set_option(config, "hr", 'encoding = "utf-8"')  # pinned: the BOM is still not part of the first header
    assert plan(config, capsys, DAY_ONE)["actions"] == plain["actions"]


def test_a_gbk_file_pinned_to_utf8_fails_clearly_and_auto_reads_it(config: Path, capsys) -> None:
    rows = sample()
    write_hr(config, rows, encoding="gbk")
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[hr]\n", '[hr]\nencoding = "utf-8"\n', 1), encoding="utf-8")
    code, out, err = run(config, capsys, "apply", "--now", DAY_ONE)
    assert code == 1 and out == ""
    assert "cannot decode" in err and "line 1" in err and 'encoding = "gb18030"' in err and "fix:" in err
    assert snapshot(config).entries == ()

    config.write_text(text, encoding="utf-8")  # encoding = "auto" (the default)
    by_number = day_one(config, capsys)
    assert len(by_number) == 46
    assert (by_number["100003"].cn, by_number["100003"].uid, by_number["100003"].department) == ("欧阳娜娜", "ouyangnana", "人力资源部")


# -- dates and statuses -----------------------------------------------------------------


def test_excel_date_serials_reject_the_row_and_never_act_on_it(config: Path, capsys) -> None:
    day_one(config, capsys)
    rows = sample()
    row_of(rows, LEAVER)[column("离职日期")] = "46402"  # 2027-01-15 as Excel stores it
    row_of(rows, "100012")[column("入职日期")] = "45293.0"  # 2024-01-02, with Excel's decimal part
    newcomer = row_of(rows, "100016").copy()
    newcomer[0:2], newcomer[column("入职日期")] = ["100060", "钱多多"], "46357"
    rows.append(newcomer)
    write_hr(config, rows)
    planned = plan(config, capsys, AFTER_LEAVING)
    bad = {r["employee_id"]: r for r in planned["rejected"]}
    assert bad[LEAVER]["field"] == "termination_date" and "probably means 2027-01-15" in bad[LEAVER]["reason"]
    assert bad["100012"]["field"] == "hire_date" and "probably means 2024-01-02" in bad["100012"]["reason"]
    assert bad["100060"]["row"] == len(rows) and "format the date column as text" in bad["100060"]["fix"]
    assert not {LEAVER, "100012", "100060"} & {a["employee_id"] for a in planned["actions"]}
    apply(config, capsys, AFTER_LEAVING)
    assert not people(config)[LEAVER].locked and "100060" not in people(config)
    assert destructive(config) == []


PLACEHOLDERS = {"100010": "9999-12-31", "100020": "1900-01-01", "100033": "9999/12/31", "100037": "1900年1月1日",
                "100045": "19000101", "100046": "９９９９－１２－３１"}


def test_placeholder_termination_dates_mean_no_termination(config: Path, capsys) -> None:
    day_one(config, capsys)
    rows = sample()
    for employee_id, placeholder in PLACEHOLDERS.items():
        row_of(rows, employee_id)[column("离职日期")] = placeholder
    write_hr(config, rows)
    for now in (DAY_ONE, AFTER_LEAVING, "2027-03-01T09:00"):
        planned = plan(config, capsys, now)
        assert all(kinds_for(planned, e) == [] for e in PLACEHOLDERS), now
        assert not PLACEHOLDERS.keys() & {r["employee_id"] for r in planned["rejected"]}
    apply(config, capsys, AFTER_LEAVING)
    assert [e.employee_id for e in destructive(config)] == [LEAVER]  # the real leaver only


def test_a_status_that_disagrees_with_the_dates_is_reviewed_and_the_date_decides(config: Path, capsys) -> None:
    day_one(config, capsys)
    rows = sample()
    status, left = column("状态"), column("离职日期")
    row_of(rows, "100012")[status], row_of(rows, "100012")[left] = "在职", "2026-11-30"  # left, says active
    row_of(rows, "100013")[status], row_of(rows, "100013")[left] = "离职", "2027-03-01"  # leaves later, says gone
    write_hr(config, rows)
    planned = plan(config, capsys, DAY_ONE)
    reviews = {r["employee_id"]: r for r in planned["reviews"] if r["kind"] == "inconsistent_record"}
    assert "termination date 2026-11-30 has passed" in reviews["100012"]["reason"]
    assert "still ahead; the date decides" in reviews["100013"]["reason"]
    assert reviews["100012"]["fix"] and reviews["100012"]["target"] == f"row {rows.index(row_of(rows, '100012')) + 1}"
    assert "suspend_account" in kinds_for(planned, "100012")
    assert kinds_for(planned, "100013") == []
    apply(config, capsys, DAY_ONE)
    assert people(config)["100012"].locked and not people(config)["100013"].locked
    assert "suspend_account" in kinds_for(plan(config, capsys, "2027-03-01T00:30"), "100013")


# -- text that reaches the directory ----------------------------------------------------

NASTY = [
    # (employee id, name, department, title): every RFC 4514 special, a leading '#', edge spaces
    ("900001", '张伟, +"\\<>;=', "研发,一部+#1", '#1 "首席"<架构>; a=b \\ c'),
    ("900002", "#李娜", "#市场部", " 经理 "),
    ("900003", " 王芳 ", "  销售, 二部  ", "a,b+c"),
    ("900004", "赵敏", 'x=1;y<2>"z"\\', "=\\#"),
]


def test_dn_special_characters_reach_the_directory_intact(config: Path, capsys) -> None:
    rows = sample()[:1]
    for employee_id, name, department, title in NASTY:
        rows.append([employee_id, name, "", "", "HQ", department, title, "", "在职", "2024-01-02", ""])
    write_hr(config, rows)
    text = config.read_text(encoding="utf-8")
    overrides = "\n".join(f'"{e}" = "user{e}"' for e, *_ in NASTY[:2])
    config.write_text(text + f"\n[naming.overrides]\n{overrides}\n", encoding="utf-8")

    planned = plan(config, capsys, DAY_ONE)
    assert planned["rejected"] == []
    apply(config, capsys, DAY_ONE)
    entries = people(config)
    expected = {
        "900001": ('张伟, +"\\<>;=', "研发,一部+#1", '#1 "首席"<架构>; a=b \\ c'),
        "900002": ("#李娜", "#市场部", "经理"),
        "900003": ("王芳", "销售, 二部", "a,b+c"),
        "900004": ("赵敏", 'x=1;y<2>"z"\\', "=\\#"),
    }
    assert {e: (entries[e].cn, entries[e].department, entries[e].title) for e in expected} == expected
    assert (entries["900001"].uid, entries["900003"].uid, entries["900004"].uid) == ("user900001", "wangfang", "zhaomin")
    groups = {(g.company, g.department): g for g in snapshot(config).groups}
    for employee_id, (_, department, _) in expected.items():
        assert entries[employee_id].dn in groups[("HQ", department)].members
    assert "研发\\,一部\\+#1" in groups[("HQ", "研发,一部+#1")].dn
    code, out, _ = run(config, capsys, "plan", "--now", DAY_ONE)
    assert code == 0, out  # read back exactly as written: nothing to correct

    # A mover between two such departments: out of one group (deleted, nobody left), into the other.
    rows[1][5] = 'x=1;y<2>"z"\\'
    write_hr(config, rows)
    apply(config, capsys, "2026-12-02T09:00")
    groups = {(g.company, g.department): g for g in snapshot(config).groups}
    assert ("HQ", "研发,一部+#1") not in groups
    assert groups[("HQ", 'x=1;y<2>"z"\\')].members == {entries["900001"].dn, entries["900004"].dn}
    assert run(config, capsys, "plan", "--now", "2026-12-02T09:00")[0] == 0


def test_zero_width_and_ideographic_spaces_in_names_are_ignored(config: Path, capsys) -> None:
    rows = sample()[:1]
    for employee_id, name in [
        ("910001", "张\u200b伟"),
        ("910002", "王\u3000芳"),
        ("910003", "\u3000李娜\u3000"),
        ("910004", "\ufeff刘\u200d洋\u2060"),
        ("910005", "欧阳\u00a0娜娜"),
        ("9100\u200b06", "陈 静"),  # a zero-width space inside the id too
    ]:
        rows.append([employee_id, name, "", "", "HQ", "研发部", "工程师", "", "在职", "2024-01-02", ""])
    write_hr(config, rows)
    planned = plan(config, capsys, DAY_ONE)
    assert planned["rejected"] == [] and not [r for r in planned["reviews"] if r["kind"] == "name_needs_admin"]
    apply(config, capsys, DAY_ONE)
    entries = people(config)
    assert {e: (x.uid, x.cn) for e, x in entries.items()} == {
        "910001": ("zhangwei", "张伟"),
        "910002": ("wangfang", "王芳"),
        "910003": ("lina", "李娜"),
        "910004": ("liuyang", "刘洋"),
        "910005": ("ouyangnana", "欧阳娜娜"),
        "910006": ("chenjing", "陈静"),
    }


# -- managers ---------------------------------------------------------------------------


def test_manager_cycles_plan_apply_and_converge(config: Path, capsys) -> None:
    rows = sample()[:1]
    team = [  # (id, name, company, manager): A<->B, a self-manager, a three-cycle across companies
        ("920001", "张伟", "HQ", "920002"),
        ("920002", "李娜", "HQ", "920001"),
        ("920003", "王芳", "HQ", "920003"),
        ("920004", "刘洋", "HQ", "920005"),
        ("920005", "陈静", "SZ", "920006"),
        ("920006", "杨帆", "GZ", "920004"),
    ]
    for employee_id, name, company, manager in team:
        rows.append([employee_id, name, "", "", company, "研发部", "工程师", manager, "在职", "2024-01-02", ""])
    write_hr(config, rows)
    apply(config, capsys, DAY_ONE)
    entries = people(config)
    managers = {e: x.manager for e, x in entries.items()}
    assert managers == {
        "920001": entries["920002"].dn,
        "920002": entries["920001"].dn,
        "920003": "",  # reports to self: top of the tree
        "920004": entries["920005"].dn,
        "920005": entries["920006"].dn,
        "920006": entries["920004"].dn,
    }
    assert run(config, capsys, "plan", "--now", DAY_ONE)[0] == 0

    # The cycle moves: 920005 goes to GZ; whoever it manages follows the new DN in the same cycle.
    rows[5][4] = "GZ"
    write_hr(config, rows)
    apply(config, capsys, "2026-12-02T09:00")
    entries = people(config)
    assert ",ou=gz," in entries["920005"].dn and entries["920004"].manager == entries["920005"].dn
    assert run(config, capsys, "plan", "--now", "2026-12-02T09:00")[0] == 0


# -- test records -----------------------------------------------------------------------


def test_test_records_are_reported_and_never_get_an_account(config: Path, capsys) -> None:
    """Rows whose id or name marks them as tests ([hr] test_records) are set aside like bad rows."""
    rows = sample()[:2]  # one real person: a file of test records only is refused as a whole
    for employee_id, name, department in [
        ("TEST001", "测试", "测试部"),
        ("930001", "测试用户", "研发部"),
        ("test-002", "张三", "研发部"),
        ("930003", "Test User", "研发部"),
    ]:
        rows.append([employee_id, name, "", "", "HQ", department, "工程师", "", "在职", "2024-01-02", ""])
    write_hr(config, rows)
    planned = plan(config, capsys, DAY_ONE)
    flagged = {r["employee_id"]: r for r in planned["rejected"]}
    assert set(flagged) == {"TEST001", "930001", "test-002", "930003"}
    assert all("test record" in r["reason"] and "test_records" in r["fix"] for r in flagged.values())
    assert not any(a["employee_id"] in flagged for a in planned["actions"])
    apply(config, capsys, DAY_ONE)
    assert not {"TEST001", "930001", "test-002", "930003"} & people(config).keys()


# -- a file cut off ---------------------------------------------------------------------


def _cut(config: Path, rows: list[list[str]], employee_id: str, keep: str) -> None:
    """Write `rows`, cut inside `employee_id`'s row right after the text `keep` (no final newline)."""
    text = csv_text(rows)
    line = csv_text([row_of(rows, employee_id)]).rstrip("\r\n")
    start = text.index(line)
    assert line.startswith(keep)
    hr_file(config).write_bytes(text[: start + len(keep)].encode("utf-8"))


def test_a_file_cut_off_mid_row_applies_the_good_rows_and_suspends_nobody(config: Path, capsys) -> None:
    set_option(config, "hr", 'absent_means = "terminated"\nabsent_days = 1')
    day_one(config, capsys)
    rows = sample()
    row_of(rows, "100010")[column("职务")] = "高级系统管理员"  # a change in a good row
    row_of(rows, LEAVER)[column("离职日期")] = "2027-01-10"
    _cut(config, rows, "100030", "100030,郭婷,,,SZ,行政")  # rows 100031.. are gone, 100030 is short

    settings = load_settings(config)
    snapshot_read = read_hr_csv(settings.hr, company_aliases(settings))
    assert snapshot_read.truncated and len(snapshot_read.records) == 29

    now = AFTER_LEAVING  # 马超 left on 2027-01-10 per the (complete) row 29
    code, out, _ = run(config, capsys, "plan", "--now", now)
    assert code == 2
    assert "looks cut off" in out and "row 31 (employee 100030): (row): the row has" in out
    planned = plan(config, capsys, now)
    assert sorted(h["kind"] for h in planned["held"] if h["employee_id"] == LEAVER) == ["remove_member", "suspend_account"]
    assert "update_account" in kinds_for(planned, "100010")
    assert not any(a["kind"] in ("suspend_account", "delete_account") for a in planned["actions"])

    for day in ("2027-01-16T09:00", "2027-01-17T09:00", "2027-01-20T09:00"):  # the export stays broken for days
        apply(config, capsys, day)
    entries = people(config)
    assert entries["100010"].title == "高级系统管理员"
    assert len(entries) == 46 and not any(e.locked for e in entries.values())
    assert destructive(config) == []

    write_hr(config, rows)  # the export is whole again: the real leaver goes, and only they
    apply(config, capsys, "2027-01-21T09:00")
    assert [e.employee_id for e in destructive(config)] == [LEAVER]
    assert run(config, capsys, "plan", "--now", "2027-01-21T09:00")[0] == 0


def test_a_file_cut_inside_the_last_date_suspends_nobody(config: Path, capsys) -> None:
    day_one(config, capsys)
    rows = sample()
    leaver = row_of(rows, LEAVER)
    rows.remove(leaver)
    rows.append(leaver)  # 马超 last: termination 2027-01-15
    _cut(config, rows, LEAVER, ",".join(leaver)[:-1])  # "...,2027-01-1": still a date, two weeks early
    planned = plan(config, capsys, "2027-01-02T09:00")
    held = {h["kind"]: h for h in planned["held"] if h["employee_id"] == LEAVER}
    assert "looks cut off" in held["suspend_account"]["held_reason"]
    apply(config, capsys, "2027-01-02T09:00")
    assert destructive(config) == []
    write_hr(config, rows)  # whole again: the true date decides
    assert kinds_for(plan(config, capsys, "2027-01-02T09:00"), LEAVER) == []
    apply(config, capsys, AFTER_LEAVING)
    assert [e.employee_id for e in destructive(config)] == [LEAVER]


@pytest.mark.parametrize(
    ("tail", "cut"),
    [
        ("2027-01-15\r\n", False),  # a final line break: complete
        ("", False),  # no final line break, but the last value is empty: nothing to cut
        ('"2027-01-15"', False),  # the last value closes its quote: complete
        ("2027-01-1", True),  # no final line break and a value at the end: may be cut
    ],
)
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "gb18030"])
def test_when_a_file_counts_as_cut_off(tmp_path: Path, tail: str, cut: bool, encoding: str) -> None:
    text = csv_text(sample()[:3]) + "100099,周杰,,,HQ,行政部,行政专员,,在职,2025-03-17," + tail
    path = tmp_path / "hr.csv"
    path.write_bytes(text.encode(encoding))
    snapshot_read = read_hr_csv(HrSettings(path=path), {"HQ": "HQ"})
    assert len(snapshot_read.records) == 3 and snapshot_read.truncated is cut


def test_a_utf16_file_with_a_final_line_break_is_not_cut_off_even_if_its_last_row_is_bad(tmp_path: Path) -> None:
    path = tmp_path / "hr.csv"
    path.write_bytes(csv_text(sample()).encode("utf-16"))  # the sample's last row (100050, BJ) is rejected
    snapshot_read = read_hr_csv(HrSettings(path=path), {"HQ": "HQ", "SZ": "SZ", "GZ": "GZ"})
    assert snapshot_read.rejected[-1].employee_id == "100050" and not snapshot_read.truncated


def test_no_broken_export_crashes_the_cli_or_costs_anyone_their_account(config: Path, capsys) -> None:
    """A grab bag of broken exports, one a day, in the dangerous absent_means mode."""
    set_option(config, "hr", 'absent_means = "terminated"\nabsent_days = 1')
    before = day_one(config, capsys)
    header = sample()[0]
    cases = {
        "empty": (b"", "empty (no header row)"),
        "zeroed block": (SAMPLE.read_bytes()[:600] + bytes(800) + SAMPLE.read_bytes()[1400:], "the file is damaged"),
        "header only": (csv_text([header]).encode(), "no data rows"),
        "binary": (bytes(range(256)) * 4, "cannot"),
        "open quote": ((csv_text(sample()[:3]) + '100003,"欧阳娜娜,欧阳,,HQ\r\n' + csv_text(sample()[4:])).encode(), "double quote"),
        "semicolons": (csv_text(sample()).replace(",", ";").encode(), 'set [hr] delimiter = ";"'),
        "nul bytes": (csv_text(sample()).encode().replace(b"100001,", b"100\x00001,"), "NUL bytes (the first on line 2)"),
        "utf-16": (csv_text(sample()).encode("utf-16"), "2 rejected rows"),
    }
    for day, (name, (data, expected)) in enumerate(cases.items(), start=2):
        hr_file(config).write_bytes(data)
        code, out, err = run(config, capsys, "apply", "--now", f"2026-12-{day:02d}T09:00")
        assert code in (0, 1) and "Traceback" not in err, name
        assert expected in out + err, (name, out, err)
        if code == 0:
            code, out, _ = run(config, capsys, "plan", "--now", f"2026-12-{day:02d}T09:00")
            assert expected in out
    assert people(config).keys() == before.keys() and not any(e.locked for e in people(config).values())
    assert destructive(config) == []


# -- a company's feed unusable ------------------------------------------------------------


def test_a_company_whose_rows_are_mostly_rejected_is_left_alone_and_every_command_says_so(config: Path, capsys) -> None:
    before = day_one(config, capsys)
    rows = sample()
    gz = [r for r in rows[1:] if r and r[column("公司")] == "GZ"]
    for row in gz:
        row[column("入职日期")] = "03/01/2015"  # HR's export switched to a US date format for GZ
        row[column("职务")] = "新职务"  # what would otherwise be an update of every GZ account
    row_of(rows, "100002")[column("职务")] = "总裁秘书"  # HQ goes ahead
    write_hr(config, rows)
    code, out, err = run(config, capsys, "plan", "--now", DAY_ONE, "--format", "json")
    assert code == 1, err
    planned = json.loads(out)
    assert set(planned["unusable"]) == {"GZ"}
    assert {a["company"] for a in planned["actions"]} == {"HQ"}
    assert f"PROBLEM hr feed GZ: GZ's HR feed is unusable: {len(gz)} of its {len(gz)} rows were rejected (every one)" in err
    assert "field hire_date" in err and "'03/01/2015' is not a date" in err and "fix: write the date as" in err
    code, out, err = run(config, capsys, "apply", "--now", DAY_ONE)
    assert code == 1 and "PROBLEM hr feed GZ" in err
    after = people(config)
    assert after["100002"].title == "总裁秘书"
    assert {e: after[e] for e in before if before[e].dn.endswith("ou=gz,ou=people,dc=example,dc=com")} == {
        e: before[e] for e in before if before[e].dn.endswith("ou=gz,ou=people,dc=example,dc=com")}
    code, out, err = run(config, capsys, "check")
    assert code == 1 and "PROBLEM hr feed GZ" in err
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ") and line.split()}
    assert "UNUSABLE" in lines["GZ"] and f"{len(gz)} rejected" in lines["GZ"] and lines["HQ"].rstrip().endswith("ok")
    assert f"{len(gz)} x hire_date" in out


def test_a_company_hr_renamed_is_unusable_for_check_and_plan_alike(config: Path, capsys) -> None:
    before = day_one(config, capsys)
    rows = sample()
    for row in rows[1:]:
        if row and row[column("公司")] == "GZ":
            row[column("公司")] = "广州星河新贸易有限公司"  # HR switched to a legal name the config does not know
    write_hr(config, rows)
    code, out, err = run(config, capsys, "check")
    assert code == 1 and "PROBLEM hr feed GZ: GZ's HR feed is unusable: none of its rows was read" in err
    assert "'广州星河新贸易有限公司'" in err
    code, out, err = run(config, capsys, "plan", "--now", DAY_ONE, "--format", "json")
    assert code == 1 and set(json.loads(out)["unusable"]) == {"GZ"}
    code, _, _ = run(config, capsys, "apply", "--now", AFTER_LEAVING)
    assert code == 1
    gz = {e for e, entry in before.items() if entry.dn.endswith("ou=gz,ou=people,dc=example,dc=com")}
    after = people(config)
    assert {e: after[e] for e in gz} == {e: before[e] for e in gz}
    assert [e.employee_id for e in destructive(config)] == [LEAVER]  # SZ goes ahead: its leaver leaves


def test_a_plan_for_another_day_reads_hire_dates_as_of_that_day(config: Path, capsys) -> None:
    rows = sample()
    newcomer = row_of(rows, "100016").copy()
    newcomer[0:2], newcomer[column("入职日期")] = ["100060", "钱多多"], "2029-06-01"
    rows.append(newcomer)
    write_hr(config, rows)
    today = plan(config, capsys, DAY_ONE)  # 2026-12-01: more than two years ahead, a probable typo
    assert rejected(today)[len(rows)]["field"] == "hire_date"
    later = plan(config, capsys, "2028-01-01T09:00")  # previewing 2028: a hire 17 months ahead is plausible
    assert len(rows) not in rejected(later)
