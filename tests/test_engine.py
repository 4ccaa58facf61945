"""The policy engine end to end on a directory double: joiner, mover, leaver, inactivity."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from lifecycle.domain.action_params import MemberParams
from lifecycle.domain.models import ActionKind, HrStatus, RejectedRow, ReviewKind
from lifecycle.testing import InMemoryDirectory
from tests.harness import Cycle, at, hr, kinds, make_settings, person

NOW = at("2026-12-01T09:00")


@pytest.fixture
def cycle(tmp_path):
    c = Cycle(make_settings(tmp_path), InMemoryDirectory(created=NOW - timedelta(days=1)))
    yield c
    c.close()


def test_three_zhang_wei_get_numbered_names_in_hire_order_and_zeng_is_zeng(cycle):
    snapshot = hr(
        person("3", "张伟", "SZ", hire=date(2021, 1, 1)),
        person("1", "张伟", hire=date(2019, 1, 1)),
        person("2", "张伟", hire=date(2020, 1, 1)),
        person("4", "曾伟"),
    )
    plan, result = cycle.apply(snapshot, NOW)
    assert result.ok
    uids = {a.employee_id: a.params.attributes.uid for a in plan.actions if a.kind == ActionKind.CREATE_ACCOUNT}
    assert uids == {"1": "zhangwei", "2": "zhangwei2", "3": "zhangwei3", "4": "zengwei"}
    assert cycle.directory.by_uid("zhangwei3")["mail"] == "zhangwei3@sz.example.com"
    assert cycle.directory.by_uid("zhangwei3")["dn"] == "uid=zhangwei3,ou=sz,ou=people,dc=example,dc=com"
    assert cycle.plan(snapshot, NOW).actions == ()


def test_joiner_gets_group_and_manager(cycle):
    snapshot = hr(person("1", "李娜", department="财务部"), person("2", "王芳", department="财务部", manager="1"))
    plan, _ = cycle.apply(snapshot, NOW)
    assert ("create_group", "1") in kinds(plan)
    wang = cycle.directory.by_uid("wangfang")
    assert wang["manager"] == "uid=lina,ou=hq,ou=people,dc=example,dc=com"
    group = cycle.directory.groups["cn=hq-财务部,ou=groups,dc=example,dc=com"]
    assert sorted(group["member"]) == sorted([wang["dn"], cycle.directory.by_uid("lina")["dn"]])


def test_future_hire_waits_until_the_local_hire_day(cycle):
    snapshot = hr(person("1", "李娜", hire=date(2026, 12, 2)))
    assert cycle.plan(snapshot, at("2026-12-01T23:59")).actions == ()
    # 2026-12-01T16:00Z is already 2026-12-02 00:00 in Shanghai.
    assert kinds(cycle.plan(snapshot, at("2026-12-01T16:00+00:00")))[0] == ("create_account", "1")


def test_prehire_days_create_the_account_early(tmp_path):
    c = Cycle(make_settings(tmp_path, policy={"prehire_days": 3}), InMemoryDirectory())
    snapshot = hr(person("1", "李娜", hire=date(2026, 12, 4)))
    assert kinds(c.plan(snapshot, NOW))[0] == ("create_account", "1")
    c.close()


def test_mover_updates_department_title_manager_and_groups(cycle):
    cycle.apply(hr(person("1", "李娜", department="财务部"), person("2", "王芳", department="财务部")), NOW)
    moved = hr(person("1", "李娜", department="财务部"), person("2", "王芳", department="市场部", title="经理", manager="1"))
    plan, result = cycle.apply(moved, NOW)
    assert result.ok
    update = next(a for a in plan.actions if a.kind == ActionKind.UPDATE_ACCOUNT)
    assert update.changes["departmentNumber"] == ["财务部", "市场部"]
    assert update.changes["title"] == ["工程师", "经理"]
    assert cycle.directory.by_uid("wangfang")["departmentNumber"] == "市场部"
    old = cycle.directory.groups["cn=hq-财务部,ou=groups,dc=example,dc=com"]["member"]
    assert all("wangfang" not in m for m in old)
    assert "cn=hq-市场部,ou=groups,dc=example,dc=com" in cycle.directory.groups
    assert cycle.plan(moved, NOW).actions == ()


def test_company_transfer_moves_entry_and_changes_mail_domain(cycle):
    cycle.apply(hr(person("1", "李娜"), person("2", "王芳", manager="1")), NOW)
    transferred = hr(person("1", "李娜", "SZ"), person("2", "王芳", manager="1"))
    plan, result = cycle.apply(transferred, NOW)
    assert result.ok
    mine = [a for a in plan.actions if a.employee_id == "1"]
    assert [a.kind for a in mine][:3] == [ActionKind.REMOVE_MEMBER, ActionKind.MOVE_ACCOUNT, ActionKind.UPDATE_ACCOUNT]
    # The old group is left under the old DN, before the move (refint then has nothing of ours to rename).
    assert mine[0].params == MemberParams("cn=HQ-研发部,ou=groups,dc=example,dc=com",
                                          "uid=lina,ou=hq,ou=people,dc=example,dc=com", early=True)
    lina = cycle.directory.by_uid("lina")
    assert lina["dn"] == "uid=lina,ou=sz,ou=people,dc=example,dc=com"
    assert lina["mail"] == "lina@sz.example.com"
    assert cycle.directory.by_uid("wangfang")["manager"] == lina["dn"]
    assert cycle.journal.person("1").company == "SZ"
    assert cycle.plan(transferred, NOW).actions == ()


def test_removals_go_first_in_one_batch_unless_they_would_empty_the_group(cycle):
    start = hr(person("1", "李娜", department="研发部"), person("2", "王芳", department="研发部"),
               person("3", "张伟", department="研发部"), person("4", "刘洋", department="市场部"))
    cycle.apply(start, NOW)
    # 李娜 and 张伟 leave 研发部, which keeps 王芳; 刘洋 leaves 市场部, which only 李娜 joins.
    moved = hr(person("1", "李娜", department="市场部"), person("2", "王芳", department="研发部"),
               person("3", "张伟", "SZ", department="研发部"), person("4", "刘洋", department="财务部"))
    plan, result = cycle.apply(moved, NOW)
    assert result.ok
    steps = [(a.kind.value, a.employee_id, a.target.split(",")[0], isinstance(a.params, MemberParams) and a.params.early) for a in plan.actions
             if a.kind in (ActionKind.ADD_MEMBER, ActionKind.REMOVE_MEMBER, ActionKind.MOVE_ACCOUNT)]
    assert steps == [
        ("remove_member", "1", "cn=HQ-研发部", True),  # first, together: one write of 研发部
        ("remove_member", "3", "cn=HQ-研发部", True),  # under the old DN, before the move
        ("move_account", "3", "uid=zhangwei", False),
        ("add_member", "1", "cn=HQ-市场部", False),
        ("remove_member", "4", "cn=HQ-市场部", False),  # after 李娜 joined: 市场部 is never empty
    ]
    assert plan.actions[1].params.member_dn == "uid=zhangwei,ou=hq,ou=people,dc=example,dc=com"
    groups = cycle.directory.groups
    assert [m.split(",")[0] for m in groups["cn=hq-研发部,ou=groups,dc=example,dc=com"]["member"]] == ["uid=wangfang"]
    assert [m.split(",")[0] for m in groups["cn=hq-市场部,ou=groups,dc=example,dc=com"]["member"]] == ["uid=lina"]
    assert cycle.plan(moved, NOW).actions == ()


def test_leaver_is_suspended_then_deleted_only_after_retention(cycle):
    cycle.apply(hr(person("1", "李娜"), person("2", "王芳")), NOW)
    leaving = hr(person("1", "李娜"), person("2", "王芳", status=HrStatus.TERMINATED, left=date(2026, 12, 10)))
    assert cycle.plan(leaving, at("2026-12-09T23:59")).actions == ()
    plan, _ = cycle.apply(leaving, at("2026-12-10T00:01"))
    assert ("suspend_account", "2") in kinds(plan)
    assert cycle.directory.by_uid("wangfang")["locked"] is True
    assert all("wangfang" not in m for g in cycle.directory.groups.values() for m in g["member"])
    suspended = at("2026-12-10T00:01")
    assert ("delete_account", "2") not in kinds(cycle.plan(leaving, suspended + timedelta(days=89, hours=23)))
    plan, _ = cycle.apply(leaving, suspended + timedelta(days=90))
    assert ("delete_account", "2") in kinds(plan)
    assert cycle.directory.by_uid("wangfang") is None
    assert cycle.journal.person("2").status.value == "deleted"
    assert cycle.plan(leaving, suspended + timedelta(days=91)).actions == ()


def test_status_terminated_without_date_suspends_now(cycle):
    cycle.apply(hr(person("1", "李娜")), NOW)
    plan = cycle.plan(hr(person("1", "李娜", status=HrStatus.TERMINATED)), NOW)
    assert kinds(plan) == [("suspend_account", "1")] or ("suspend_account", "1") in kinds(plan)


def test_rehire_before_deletion_restores_the_same_account(cycle):
    cycle.apply(hr(person("1", "李娜")), NOW)
    cycle.apply(hr(person("1", "李娜", status=HrStatus.TERMINATED, left=date(2026, 12, 5))), at("2026-12-06"))
    plan, _ = cycle.apply(hr(person("1", "李娜", hire=date(2027, 1, 10))), at("2027-01-10T08:00"))
    assert ("restore_account", "1") in kinds(plan)
    assert ("create_account", "1") not in kinds(plan)
    lina = cycle.directory.by_uid("lina")
    assert not lina.get("locked")
    assert any(lina["dn"] in g["member"] for g in cycle.directory.groups.values())


def test_rehire_after_deletion_gets_the_reserved_name_back(cycle):
    cycle.apply(hr(person("1", "李娜")), NOW)
    cycle.apply(hr(person("1", "李娜", left=date(2026, 12, 5))), at("2026-12-06"))
    cycle.apply(hr(person("1", "李娜", left=date(2026, 12, 5))), at("2027-06-01"))
    assert cycle.directory.by_uid("lina") is None
    # Meanwhile another 李娜 joins: the deleted person's name stays reserved.
    cycle.apply(hr(person("1", "李娜", left=date(2026, 12, 5)), person("2", "李娜")), at("2027-06-02"))
    assert cycle.directory.by_uid("lina2")["employeeNumber"] == "2"
    plan, _ = cycle.apply(hr(person("1", "李娜", hire=date(2027, 7, 1)), person("2", "李娜")), at("2027-07-01T09:00"))
    create = next(a for a in plan.actions if a.kind == ActionKind.CREATE_ACCOUNT)
    assert create.params.attributes.uid == "lina"
    assert create.rule == "rehire"


def test_rejected_row_is_never_acted_on(cycle):
    cycle.apply(hr(person("1", "李娜"), person("2", "王芳")), NOW)
    rejected = RejectedRow(3, "termination_date", "before hire date", "fix the date", employee_id="2")
    plan = cycle.plan(hr(person("1", "李娜"), rejected=(rejected,)), at("2027-12-01"))
    assert all(a.employee_id != "2" for a in plan.actions)
    assert all("wangfang" not in str(a.params) for a in plan.actions)
    assert plan.rejected == (rejected,)


def test_vanished_person_is_reported_not_suspended_by_default(cycle):
    cycle.apply(hr(person("1", "李娜"), person("2", "王芳")), NOW)
    plan = cycle.plan(hr(person("1", "李娜")), at("2027-03-01"))
    assert plan.actions == ()
    assert [r.kind for r in plan.reviews] == [ReviewKind.ABSENT_FROM_HR]


def test_absent_means_terminated_counts_days_from_the_first_absence(tmp_path):
    c = Cycle(make_settings(tmp_path, hr={"absent_means": "terminated", "absent_days": 3}), InMemoryDirectory(created=NOW))
    c.apply(hr(person("1", "李娜"), person("2", "王芳")), NOW)
    without = hr(person("1", "李娜"))
    plan, _ = c.apply(without, at("2026-12-02T09:00"))
    assert kinds(plan) == [("record_state", "2")]
    assert c.plan(without, at("2026-12-04T09:00")).actions == ()
    plan = c.plan(without, at("2026-12-05T09:00"))
    suspend = next(a for a in plan.actions if a.kind == ActionKind.SUSPEND_ACCOUNT)
    assert "2026-12-02" in suspend.reason
    # Back in the export before the threshold: the count resets.
    plan, _ = c.apply(hr(person("1", "李娜"), person("2", "王芳")), at("2026-12-03T09:00"))
    assert kinds(plan) == [("record_state", "2")]
    assert c.journal.person("2").absent_since is None
    c.close()


def test_inactivity_warns_then_suspends_and_skips_people_on_leave(tmp_path):
    created = at("2026-01-01T09:00")
    c = Cycle(make_settings(tmp_path), InMemoryDirectory(created=created))
    team = hr(person("1", "李娜"), person("2", "王芳", status=HrStatus.LEAVE))
    c.apply(team, created)
    # Created counts as last use; 183 - 14 days later the warning is due.
    assert c.plan(team, created + timedelta(days=168)).actions == ()
    plan, _ = c.apply(team, created + timedelta(days=169))
    assert kinds(plan) == [("warn_inactive", "1")]
    assert c.plan(team, created + timedelta(days=182)).actions == ()
    plan, _ = c.apply(team, created + timedelta(days=184))
    assert ("suspend_account", "1") in kinds(plan)
    assert all(a.employee_id != "2" for a in plan.actions)
    assert c.directory.by_uid("lina")["locked"] is True
    assert c.journal.person("1").suspension_rule.value == "inactivity"
    # HR still says active: an inactivity suspension is not undone by HR, and is deleted after retention.
    assert c.plan(team, created + timedelta(days=200)).actions == ()
    assert ("delete_account", "1") in kinds(c.plan(team, created + timedelta(days=184 + 90)))
    c.close()


def test_a_long_idle_account_is_warned_before_it_is_suspended(tmp_path):
    created = at("2025-01-01T09:00")
    c = Cycle(make_settings(tmp_path), InMemoryDirectory(created=created))
    team = hr(person("1", "李娜"))
    c.apply(team, created)
    first_seen = created + timedelta(days=400)
    plan, _ = c.apply(team, first_seen)
    assert kinds(plan) == [("warn_inactive", "1")]
    assert c.plan(team, first_seen + timedelta(days=13)).actions == ()
    assert ("suspend_account", "1") in kinds(c.plan(team, first_seen + timedelta(days=14)))
    c.close()


def test_a_login_after_the_warning_cancels_it(tmp_path):
    created = at("2026-01-01T09:00")
    directory = InMemoryDirectory(created=created)
    c = Cycle(make_settings(tmp_path), directory)
    team = hr(person("1", "李娜"))
    c.apply(team, created)
    c.apply(team, created + timedelta(days=170))
    directory.by_uid("lina")["last_bind"] = created + timedelta(days=175)
    assert c.plan(team, created + timedelta(days=190)).actions == ()
    c.close()


def test_unmatched_entry_is_reported_and_untouched(cycle):
    cycle.directory.create_person("uid=stranger,ou=hq,ou=people,dc=example,dc=com", {"uid": "stranger", "cn": "某人", "sn": "某"}, None)
    plan = cycle.plan(hr(person("1", "李娜")), NOW)
    assert all("stranger" not in a.target for a in plan.actions)
    assert any(r.kind == ReviewKind.UNMATCHED_ENTRY and "stranger" in r.target for r in plan.reviews)


def test_existing_entry_is_adopted_with_its_uid_and_address(cycle):
    dn = "uid=nali,ou=hq,ou=people,dc=example,dc=com"
    cycle.directory.create_person(dn, {"uid": "nali", "cn": "李娜", "sn": "李", "mail": "na.li@example.com", "employeeNumber": "1"}, None)
    plan, result = cycle.apply(hr(person("1", "李娜", department="财务部")), NOW)
    assert result.ok
    assert kinds(plan)[0] == ("adopt_account", "1")
    assert ("create_account", "1") not in kinds(plan)
    entry = cycle.directory.by_uid("nali")
    assert entry["mail"] == "na.li@example.com" and entry["departmentNumber"] == "财务部"
    assert cycle.journal.person("1").uid == "nali"


def test_match_by_mail_waits_for_admin_confirmation(cycle):
    dn = "uid=nali,ou=hq,ou=people,dc=example,dc=com"
    cycle.directory.create_person(dn, {"uid": "nali", "cn": "李娜", "sn": "李", "mail": "na.li@example.com"}, None)
    record = replace(person("1", "李娜"), email="na.li@example.com")
    plan = cycle.plan(hr(record), NOW)
    assert plan.actions == ()  # neither adopted nor duplicated
    assert [r.kind for r in plan.reviews] == [ReviewKind.CONFIRM_MATCH]
    cycle.journal.confirm_match("1", "nali", "HQ", "admin", NOW)
    plan, result = cycle.apply(hr(record), NOW)
    assert result.ok and kinds(plan)[0] == ("adopt_account", "1")
    assert cycle.directory.by_uid("nali")["employeeNumber"] == "1"


def test_unnameable_name_is_held_for_an_admin_and_override_wins(tmp_path):
    c = Cycle(make_settings(tmp_path), InMemoryDirectory())
    snapshot = hr(person("1", "买买提·艾力"), person("2", "张伟"))
    plan = c.plan(snapshot, NOW)
    assert all(a.employee_id != "1" for a in plan.actions)
    assert any(r.kind == ReviewKind.NAME_NEEDS_ADMIN and r.employee_id == "1" and "naming.overrides" in r.fix for r in plan.reviews)
    c.close()
    c = Cycle(make_settings(tmp_path, naming={"overrides": {"1": "maimaiti.aili", "2": "wei.zhang"}}), InMemoryDirectory())
    plan, _ = c.apply(snapshot, NOW)
    uids = {a.employee_id: a.params.attributes.uid for a in plan.actions if a.kind == ActionKind.CREATE_ACCOUNT}
    assert uids == {"1": "maimaiti.aili", "2": "wei.zhang"}
    c.close()


def test_a_name_is_chosen_once_and_never_renamed(cycle):
    cycle.apply(hr(person("1", "李娜")), NOW)
    # HR corrects the name: cn changes, the uid and address do not.
    plan, _ = cycle.apply(hr(person("1", "李静")), NOW)
    assert kinds(plan) == [("update_account", "1")]
    assert cycle.directory.by_uid("lina")["cn"] == "李静"


def test_missing_entry_for_an_active_person_is_recreated_with_the_same_name(cycle):
    cycle.apply(hr(person("1", "李娜")), NOW)
    cycle.directory.people.clear()
    cycle.directory.groups.clear()
    plan, _ = cycle.apply(hr(person("1", "李娜")), NOW)
    create = next(a for a in plan.actions if a.kind == ActionKind.CREATE_ACCOUNT)
    assert create.params.attributes.uid == "lina" and create.rule == "repair"


def test_plan_is_deterministic(cycle):
    snapshot = hr(*(person(str(i), name) for i, name in enumerate(["张伟", "王芳", "张伟", "李娜", "欧阳娜娜"])))
    assert cycle.plan(snapshot, NOW) == cycle.plan(snapshot, NOW)


def test_absence_is_not_counted_while_rows_without_an_id_are_rejected(tmp_path):
    c = Cycle(make_settings(tmp_path, hr={"absent_means": "terminated", "absent_days": 1}), InMemoryDirectory(created=NOW))
    c.apply(hr(person("1", "李娜"), person("2", "王芳")), NOW)
    c.apply(hr(person("1", "李娜")), NOW)  # absence recorded
    unreadable = RejectedRow(3, "employee_id", "1.23E+17 is Excel's scientific notation", "export ids as text")
    plan = c.plan(hr(person("1", "李娜"), rejected=(unreadable,)), NOW + timedelta(days=5))
    assert plan.actions == ()
    assert any(r.kind == ReviewKind.ABSENT_FROM_HR and "no readable employee id" in r.reason for r in plan.reviews)
    assert ("suspend_account", "2") in kinds(c.plan(hr(person("1", "李娜")), NOW + timedelta(days=5)))
    c.close()


def test_status_and_dates_that_disagree_are_reported_and_the_date_decides(cycle):
    cycle.apply(hr(person("1", "李娜"), person("2", "王芳")), NOW)
    snapshot = hr(
        person("1", "李娜", status=HrStatus.TERMINATED, left=date(2027, 1, 15)),
        person("2", "王芳", status=HrStatus.ACTIVE, left=date(2026, 11, 30)),
    )
    plan = cycle.plan(snapshot, NOW)
    assert kinds(plan).count(("suspend_account", "2")) == 1
    assert ("suspend_account", "1") not in kinds(plan)
    assert sorted(r.employee_id for r in plan.reviews if r.kind == ReviewKind.INCONSISTENT_RECORD) == ["1", "2"]


def test_unknown_manager_is_reported_and_left_empty(cycle):
    plan, _ = cycle.apply(hr(person("1", "李娜", manager="999")), NOW)
    assert any(r.kind == ReviewKind.UNKNOWN_MANAGER and "999" in r.reason for r in plan.reviews)
    assert "manager" not in cycle.directory.by_uid("lina")


def test_next_due_is_the_next_instant_time_alone_changes_the_plan(cycle):
    from policies.timeline import next_due

    snapshot = hr(person("1", "李娜", left=date(2027, 1, 15)), person("2", "王芳", hire=date(2026, 12, 20)))
    cycle.apply(snapshot, NOW)
    due = next_due(snapshot, cycle.directory.read_snapshot(), cycle.journal.load_state(), cycle.settings, NOW)
    assert due == at("2026-12-20T00:00")
    before = cycle.plan(snapshot, due - timedelta(seconds=1))
    assert before.actions == ()
    # An empty plan carries it (the daemon reads it there instead of joining everything again).
    assert before.next_due == due and cycle.plan(snapshot, NOW).next_due == due
    after = cycle.plan(snapshot, due)
    assert after.actions != () and after.next_due is None


def test_a_create_keeps_its_changes_as_its_attributes_yet_shows_and_journals_them(cycle):
    import json as _json

    from lifecycle.domain.models import Action
    from lifecycle.engine.render import plan_json

    plan, result = cycle.apply(hr(person("1", "李娜", department="财务部")), NOW)
    create = next(a for a in plan.actions if a.kind == ActionKind.CREATE_ACCOUNT)
    assert create.changes == {} and create.params.state is None  # held once, in params.attributes
    assert create.all_params()["state"] == {
        "uid": "lina", "company": "HQ", "status": "active", "created_at": NOW.isoformat(), "suspended_at": None,
        "suspension_rule": None, "deleted_at": None, "warned_at": None, "absent_since": None,
    }
    stored = cycle.journal.load_state().by_employee()["1"]
    assert (stored.uid, stored.company, stored.status.value, stored.created_at) == ("lina", "HQ", "active", NOW)
    shown = create.all_changes()
    assert shown["uid"] == [None, "lina"] and shown["departmentNumber"] == [None, "财务部"]
    assert all(before is None and after for before, after in shown.values())
    assert create.to_dict()["changes"] == shown
    saved = _json.loads(plan_json(plan))["actions"]
    assert next(a for a in saved if a["kind"] == "create_account")["changes"] == shown
    assert Action.from_dict(create.to_dict()) == create  # a saved plan reads back equal to a fresh one
    [logged] = [e for e in cycle.journal.entries() if e.kind == "create_account"]
    assert logged.changes == shown and logged.params["state"] == create.all_params()["state"] and result.ok
