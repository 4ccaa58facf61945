"""HR's own words, mapped in the config (issue 16): status words, company aliases, managers by
name or address, department paths, Excel serial dates; and a company whose rows are mostly
rejected is unusable: nothing is done for it, and it says why."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from connectors.hr_csv import read_hr_csv
from lifecycle.domain.models import ActionKind, HrSnapshot, HrStatus, ReviewKind
from lifecycle.domain.settings import Settings
from lifecycle.engine.cycle import company_aliases
from lifecycle.testing import InMemoryDirectory
from policies.engine import compute_plan
from tests.harness import at, make_settings

NOW = at("2026-12-01T09:00")
TODAY = date(2026, 12, 1)
HEADER = "工号,姓名,公司,部门,职位,直属主管,员工状态,入职日期,离职日期,工作邮箱"


def settings_for(tmp_path: Path, **hr: Any) -> Settings:
    companies = [
        {"code": "HQ", "name": "集团总部", "domain": "example.com", "people_dn": "ou=hq,ou=people,dc=example,dc=com",
         "aliases": ["星河集团有限公司"]},
        {"code": "GZ", "name": "广州分公司", "domain": "gz.example.com", "people_dn": "ou=gz,ou=people,dc=example,dc=com",
         "aliases": ["广州星河贸易有限公司"]},
    ]
    return make_settings(tmp_path, hr={"path": str(tmp_path / "hr.csv"), **hr}, companies=companies)


def read(tmp_path: Path, settings: Settings, *rows: str) -> HrSnapshot:
    Path(settings.hr.path).write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return read_hr_csv(settings.hr, company_aliases(settings), today=TODAY)


def plan_of(settings: Settings, snapshot: HrSnapshot):  # type: ignore[no-untyped-def]
    from lifecycle.journal.store import Journal

    journal = Journal(settings.state.url)
    try:
        directory = InMemoryDirectory(created=NOW - timedelta(days=1))
        return compute_plan(snapshot, directory.read_snapshot(), journal.load_state(), settings, NOW)
    finally:
        journal.close()


def test_status_words_of_chinese_hr_systems_are_read_and_more_can_be_mapped(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, status_map={"停薪留职中": "leave", "在岗": "active", "离职": "active"})
    snap = read(tmp_path, settings,
                "1,李娜,HQ,财务部,经理,,正式,2020-01-01,,",
                "2,王芳,HQ,财务部,会计,,试用,2026-10-01,,",
                "3,张伟,HQ,财务部,会计,,待离职,2019-01-01,2026-12-31,",
                "4,刘洋,HQ,财务部,会计,,停薪留职中,2019-01-01,,",
                "5,陈静,HQ,财务部,会计,,在岗,2019-01-01,,",
                "6,杨帆,HQ,财务部,会计,,离职,2019-01-01,,",
                "7,赵磊,HQ,财务部,会计,,出差,2019-01-01,,")
    statuses = {r.employee_id: r.status for r in snap.records}
    assert statuses == {"1": HrStatus.ACTIVE, "2": HrStatus.ACTIVE, "3": HrStatus.ACTIVE, "4": HrStatus.LEAVE,
                        "5": HrStatus.ACTIVE, "6": HrStatus.ACTIVE}  # the config's word wins over the built-in one
    (rejected,) = snap.rejected
    assert rejected.field == "status" and "'出差'" in rejected.reason
    assert '[hr.status_map] "出差" = "active"' in rejected.fix


def test_a_company_is_known_by_its_code_its_name_and_its_legal_names(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    snap = read(tmp_path, settings,
                "1,李娜,广州星河贸易有限公司,运营部,经理,,正式,2020-01-01,,",
                "2,王芳,广州分公司,运营部,会计,,正式,2020-01-01,,",
                "3,张伟,gz,运营部,会计,,正式,2020-01-01,,",
                "4,刘洋,星河集团有限公司,财务部,会计,,正式,2020-01-01,,")
    assert [(r.employee_id, r.company) for r in snap.records] == [("1", "GZ"), ("2", "GZ"), ("3", "GZ"), ("4", "HQ")]


def test_one_name_for_two_companies_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="'广州分公司' names both HQ and GZ"):
        make_settings(tmp_path, companies=[
            {"code": "HQ", "domain": "example.com", "people_dn": "ou=hq,ou=people,dc=example,dc=com",
             "aliases": ["广州分公司"]},
            {"code": "GZ", "name": "广州分公司", "domain": "gz.example.com",
             "people_dn": "ou=gz,ou=people,dc=example,dc=com"},
        ])


def test_a_manager_by_name_by_address_or_by_id_is_found_and_an_ambiguous_one_is_a_review(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    snap = read(tmp_path, settings,
                "100,乐嘉,GZ,运营部,经理,,正式,2020-01-01,,lejia@gz.example.com",
                "101,王芳,GZ,运营部,专员,乐嘉,正式,2020-01-01,,",
                "102,张伟,GZ,运营部,专员,LeJia@GZ.example.com,正式,2020-01-01,,",
                "103,刘洋,GZ,运营部,专员,100,正式,2020-01-01,,",
                "200,陈静,GZ,物流部,经理,,正式,2020-01-01,,",
                "201,陈静,GZ,财务部,经理,,正式,2020-01-01,,",
                "202,杨帆,GZ,物流部,专员,陈静,正式,2020-01-01,,",
                "300,赵磊,HQ,财务部,专员,乐嘉,正式,2020-01-01,,",  # 乐嘉 is GZ's: a name matches in its own company
                "301,孙丽,HQ,财务部,专员,无此人,正式,2020-01-01,,")
    assert snap.rejected == ()
    managers = {r.employee_id: r.manager_id for r in snap.records}
    assert managers["101"] == managers["102"] == managers["103"] == "100"
    assert managers["202"] == managers["300"] == managers["301"] == ""
    reasons = {r.employee_id: r.reason for r in snap.reviews}
    assert set(reasons) == {"202", "300", "301"}
    assert "'陈静' is ambiguous: 2 people of GZ have that name (200, 201)" in reasons["202"]
    assert "'乐嘉' matches no one" in reasons["300"]
    # The reviews reach the plan, and the people are acted on all the same.
    plan = plan_of(settings, snap)
    found = {(r.kind, r.employee_id) for r in plan.reviews}
    assert {(ReviewKind.UNKNOWN_MANAGER, "202"), (ReviewKind.UNKNOWN_MANAGER, "301")} <= found
    created = {a.employee_id for a in plan.actions if a.kind == ActionKind.CREATE_ACCOUNT}
    assert {"202", "300", "301"} <= created


def test_department_paths_keep_the_path_without_the_groups_own_name(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, department_path_separator="/", department_strip_prefix=1)
    snap = read(tmp_path, settings,
                "1,李娜,GZ,星河集团/广州分公司/运营部/物流组,经理,,正式,2020-01-01,,",
                "2,王芳,GZ, 星河集团 / 广州分公司 /,会计,,正式,2020-01-01,,",
                "3,张伟,HQ,星河集团,会计,,正式,2020-01-01,,")
    assert [r.department for r in snap.records] == ["广州分公司/运营部/物流组", "广州分公司", "星河集团"]


def test_nested_department_groups_make_a_group_per_level_with_the_child_as_member(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, department_path_separator="/", department_strip_prefix=1,
                            department_groups="nested")
    snap = read(tmp_path, settings, "1,李娜,GZ,星河集团/广州分公司/运营部/物流组,经理,,正式,2020-01-01,,")
    plan = plan_of(settings, snap)
    groups = {a.params.department: a.params.members for a in plan.actions if a.kind == ActionKind.CREATE_GROUP}
    base = "ou=groups,dc=example,dc=com"
    assert groups == {
        "广州分公司/运营部/物流组": ("uid=lina,ou=gz,ou=people,dc=example,dc=com",),
        "广州分公司/运营部": (f"cn=GZ-广州分公司/运营部/物流组,{base}",),
        "广州分公司": (f"cn=GZ-广州分公司/运营部,{base}",),
    }


def test_excel_serial_dates_are_read_only_when_the_config_says_so(tmp_path: Path) -> None:
    rows = ("1,李娜,HQ,财务部,经理,,正式,45292,,", "2,王芳,HQ,财务部,会计,,正式,2020-01-01,,")
    (rejected,) = read(tmp_path, settings_for(tmp_path), *rows).rejected
    assert rejected.field == "hire_date" and "Excel date serial" in rejected.reason and "2024-01-01" in rejected.reason
    assert "[hr] excel_serial_dates = true" in rejected.fix
    records = read(tmp_path, settings_for(tmp_path / "b", excel_serial_dates=True), *rows).records
    assert [r.hire_date for r in records] == [date(2024, 1, 1), date(2020, 1, 1)]


def test_a_company_whose_rows_are_mostly_rejected_is_unusable_and_nothing_is_done_for_it(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    gz = [f"{200 + i},员工{i},GZ,运营部,专员,,在职,2020/13/0{i},," for i in range(1, 4)]  # a changed date format
    snap = read(tmp_path, settings, "1,李娜,HQ,财务部,经理,,正式,2020-01-01,,",
                "100,乐嘉,GZ,运营部,经理,,正式,2020-01-01,,", *gz)
    plan = plan_of(settings, snap)
    assert set(plan.unusable) == {"GZ"}
    why = plan.unusable["GZ"]
    assert "3 of its 4 rows were rejected (75%, more than [hr] max_rejected_fraction 50%)" in why
    assert "field hire_date" in why and "row 4" in why and "fix:" in why
    assert {a.company for a in plan.actions} == {"HQ"}  # 乐嘉's good row waits with the rest of GZ
    # A company under the limit goes ahead, its bad rows rejected as usual.
    lenient = settings_for(tmp_path / "b", max_rejected_fraction=0.8)
    plan = plan_of(lenient, read(tmp_path, lenient, "1,李娜,HQ,财务部,经理,,正式,2020-01-01,,",
                                 "100,乐嘉,GZ,运营部,经理,,正式,2020-01-01,,", *gz))
    assert plan.unusable == {} and {a.company for a in plan.actions} == {"HQ", "GZ"}


def test_a_company_with_every_row_rejected_is_unusable_even_under_the_fraction(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, max_rejected_fraction=1.0)
    snap = read(tmp_path, settings, "1,李娜,HQ,财务部,经理,,正式,2020-01-01,,", "100,乐嘉,GZ,运营部,经理,,出差,2020-01-01,,")
    plan = plan_of(settings, snap)
    assert set(plan.unusable) == {"GZ"} and "every one" in plan.unusable["GZ"]


def test_hrs_own_test_rows_do_not_make_a_company_unusable(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    tests = [f"TEST{i},测试{i},GZ,运营部,专员,,在职,2020-01-01,," for i in range(1, 4)]
    snap = read(tmp_path, settings, "100,乐嘉,GZ,运营部,经理,,正式,2020-01-01,,", *tests)
    assert len(snap.rejected) == 3 and all(r.test_record for r in snap.rejected)
    assert plan_of(settings, snap).unusable == {}


def test_one_company_unreadable_row_never_makes_a_healthy_company_unusable(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    gz = [f"{200 + i},员工{i},GZ,运营部,专员,,在职,2020/13/0{i},," for i in range(1, 6)]
    hq = [f"{i},{name},HQ,财务部,会计,,正式,2020-01-01,," for i, name in enumerate(("李娜", "王伟", "张敏", "刘洋"), 1)]
    snap = read(tmp_path, settings, *hq, *gz, "300,王芳,GZZ,运营部,专员,,在职,2020-01-01,,")
    plan = plan_of(settings, snap)
    assert set(plan.unusable) == {"GZ"}
    assert "HQ" in {a.company for a in plan.actions}


def test_rows_naming_no_known_company_make_the_feed_unusable_past_the_fraction(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    snap = read(tmp_path, settings, "1,李娜,HQ,财务部,经理,,正式,2020-01-01,,",
                *[f"{300 + i},王{i},星河新公司,运营部,专员,,在职,2020-01-01,," for i in range(3)])
    plan = plan_of(settings, snap)
    assert set(plan.unusable) == {"*", "HQ", "GZ"} and plan.actions == ()
    assert "3 of its 4 rows were rejected and name no company the config knows" in plan.unusable["HQ"]


def test_a_company_renamed_in_hr_is_unusable_when_it_had_rows_before(tmp_path: Path) -> None:
    from lifecycle.domain.models import FeedBaseline
    from policies.feed_health import unusable_companies

    settings = settings_for(tmp_path)
    hq = [f"{i},李{i},HQ,财务部,会计,,正式,2020-01-01,," for i in range(1, 9)]
    snap = read(tmp_path, settings, *hq, "100,乐嘉,广州星河商贸有限公司,运营部,经理,,正式,2020-01-01,,")
    assert unusable_companies(snap, settings) == {}  # a first feed: nothing to tell GZ's rows from
    found = unusable_companies(snap, settings, FeedBaseline({"HQ": 8, "GZ": 1}, ()))
    assert set(found) == {"GZ"} and "none of its rows was read (the last accepted feed had 1)" in found["GZ"]
    assert "'广州星河商贸有限公司'" in found["GZ"]


@pytest.mark.parametrize(("hq", "gz"), [("HQ", "ＨＱ"), ("星河贸易(广州)有限公司", "星河贸易（广州）有限公司"), ("广州  分公司", "广州 分公司\u200b")])
def test_names_that_hr_rows_would_read_as_one_cannot_name_two_companies(tmp_path: Path, hq: str, gz: str) -> None:
    with pytest.raises(ValidationError, match="names both HQ and GZ"):
        make_settings(tmp_path, companies=[
            {"code": "HQ", "domain": "example.com", "people_dn": "ou=hq,ou=people,dc=example,dc=com",
             "aliases": [hq]},
            {"code": "GZ", "domain": "gz.example.com", "people_dn": "ou=gz,ou=people,dc=example,dc=com",
             "aliases": [gz]},
        ])


def test_an_export_header_gives_way_to_the_projects_own_name_for_the_field() -> None:
    from connectors.hr_values import map_headers

    headers = ["工号", "姓名", "公司", "合同公司", "部门", "主部门", "职务", "岗位", "上级工号", "直属主管", "状态",
               "员工状态", "入职日期"]
    mapping = map_headers(headers, {})
    assert {f: headers[i] for f, i in mapping.items()} == {
        "employee_id": "工号", "name": "姓名", "company": "公司", "department": "部门", "title": "职务",
        "manager_id": "上级工号", "status": "状态", "hire_date": "入职日期"}
    # Two of an export's names for one field, without the project's own: which one is for the admin to say.
    with pytest.raises(Exception, match="all map to department"):
        map_headers(["工号", "姓名", "合同公司", "主部门", "部门全路径", "员工状态", "入职时间"], {})


def test_a_name_shared_with_a_rejected_row_is_ambiguous_and_one_only_a_rejected_row_has_is_that_person(
        tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    snap = read(tmp_path, settings,
                "20,陈静,GZ,物流部,经理,,正式,2020/13/01,,",  # rejected: a bad date
                "21,陈静,GZ,财务部,经理,,正式,2020-01-01,,",
                "30,杨帆,GZ,物流部,专员,陈静,正式,2020-01-01,,",
                "40,乐嘉,GZ,运营部,经理,,正式,2020/13/01,,lejia@gz.example.com",  # rejected too
                "41,王芳,GZ,运营部,专员,乐嘉,正式,2020-01-01,,",
                "42,张伟,GZ,运营部,专员,LeJia@gz.example.com,正式,2020-01-01,,")
    assert {r.employee_id for r in snap.rejected} == {"20", "40"}
    managers = {r.employee_id: r.manager_id for r in snap.records}
    assert managers["30"] == ""  # never 21, the other 陈静
    (review,) = [r for r in snap.reviews if r.employee_id == "30"]
    assert "is ambiguous: 2 people of GZ have that name (20, 21)" in review.reason
    assert managers["41"] == managers["42"] == "40"  # 乐嘉's own row is rejected: the plan leaves the attribute be


def test_a_rejected_rows_company_is_read_as_an_accepted_rows_is(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    hq = [f"{i},{name},HQ,财务部,会计,,正式,2020-01-01,," for i, name in enumerate(("李娜", "王伟", "张敏", "刘洋"), 1)]
    gz = [f"{200 + i},员工{i},ＧＺ,运营部,专员,,在职,2020/13/0{i},," for i in range(1, 9)]  # full-width code, bad dates
    snap = read(tmp_path, settings, *hq, *gz, "300,乐嘉,GZ,运营部,经理,,正式,2020-01-01,,")
    assert {r.company for r in snap.rejected} == {"GZ"}
    plan = plan_of(settings, snap)
    assert set(plan.unusable) == {"GZ"} and "HQ" in {a.company for a in plan.actions}


def test_a_company_taken_out_of_the_config_is_not_a_renamed_one(tmp_path: Path) -> None:
    from lifecycle.domain.models import FeedBaseline
    from policies.feed_health import unusable_companies

    settings = settings_for(tmp_path)
    hq = [f"{i},{name},HQ,财务部,会计,,正式,2020-01-01,," for i, name in enumerate(("李娜", "王伟", "张敏", "刘洋"), 1)]
    snap = read(tmp_path, settings, *hq, "500,孙丽,SZ,研发部,工程师,,正式,2020-01-01,,")
    assert unusable_companies(snap, settings, FeedBaseline({"HQ": 4, "SZ": 1}, ())) == {}


def test_a_manager_named_by_the_name_of_a_row_rejected_as_a_duplicate_is_that_id(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    snap = read(tmp_path, settings,
                "20,陈静,GZ,物流部,经理,,离职,2015-01-01,2019-12-31,",
                "20,陈静,GZ,物流部,经理,,正式,2020-01-01,,",  # a rehire written as a second row: both rejected
                "30,杨帆,GZ,物流部,专员,陈静,正式,2020-01-01,,")
    assert {r.row for r in snap.rejected} == {2, 3}
    (record,) = snap.records
    assert record.manager_id == "20" and snap.reviews == ()  # the plan leaves the attribute as it is
