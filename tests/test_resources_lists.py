"""Lists and functional mailboxes when HR is uncertain about someone (policies.resource_people): whoever the plan
does not settle keeps their place in every list as it is; only a leaver, a suspended or a deleted person goes out;
ownership passes only on a departure.  Over the in-memory directory and Modoboa-like mail backend."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from lifecycle.domain.interventions import InterventionKind
from lifecycle.domain.models import ActionKind, Plan, RejectedRow, ReviewKind
from lifecycle.journal.interventions import save_intervention
from lifecycle.testing.mail import MODOBOA_CAPABILITIES
from policies.engine import compute_plan
from tests.harness import hr
from tests.test_resources_policy import BOSS, DOMAINS, ENGINEER, FILE, HEAD, OTHER, World, reviews

LISTS = ("all@example.com", "rd-all@example.com", "yanfabu@example.com")


@pytest.fixture
def lists(tmp_path: Path) -> Iterator[World]:
    made = World(tmp_path, FILE, department=True, all_staff=True)
    made.cycle()
    made.now += timedelta(hours=1)
    yield made
    made.close()


def plan_of(world: World, *, without: str = "", rejected: tuple[RejectedRow, ...] = (), truncated: bool = False) -> Plan:
    snapshot = hr(*(r for k, r in world.rows.items() if k != without), rejected=rejected)
    if truncated:
        snapshot = replace(snapshot, truncated=True)
    return compute_plan(snapshot, world.directory.read_snapshot(), world.journal.load_state(), world.settings, world.now,
                        mail=world.mail.read_snapshot(DOMAINS), capabilities=MODOBOA_CAPABILITIES, resources=world.resources)


def list_updates(plan: Plan) -> list[str]:
    kinds = (ActionKind.UPDATE_ALIAS, ActionKind.CREATE_ALIAS)
    return [f"{a.target}: {a.reason}" for a in (*plan.actions, *(h.action for h in plan.held)) if a.kind in kinds]


def test_someone_missing_from_one_export_stays_in_every_list(lists: World) -> None:
    plan = plan_of(lists, without=OTHER)  # absent_means = "review": not a leaver yet
    assert list_updates(plan) == []


def test_a_rejected_row_s_person_stays_in_every_list(lists: World) -> None:
    bad = RejectedRow(row=5, employee_id=OTHER, company="HQ", field="hire_date", reason="bad date", fix="fix it")
    assert list_updates(plan_of(lists, without=OTHER, rejected=(bad,))) == []


def test_a_cut_off_file_takes_nobody_out_and_hands_nothing_over(lists: World) -> None:
    lists.rows = {k: r for k, r in lists.rows.items() if k in (BOSS, HEAD)}  # 张伟 (it@'s owner) and 赵敏 cut off
    plan = plan_of(lists, truncated=True)
    assert list_updates(plan) == []
    assert reviews(plan, ReviewKind.RESOURCE_OWNER_CHANGED) == []
    assert not [a for a in plan.actions if a.kind is ActionKind.FORWARD_MAIL and a.target == "it@example.com"]


def test_an_absent_owner_keeps_ownership(lists: World) -> None:
    plan = plan_of(lists, without=ENGINEER)
    assert reviews(plan, ReviewKind.RESOURCE_OWNER_CHANGED) == []
    assert list_updates(plan) == []


def test_a_leaver_still_goes_out_and_a_department_change_still_moves(lists: World) -> None:
    lists.rows[OTHER] = replace(lists.rows[OTHER], termination_date=lists.now.date())
    lists.rows[ENGINEER] = replace(lists.rows[ENGINEER], department="销售部")
    lists.cycle()
    for address in LISTS:
        assert "zhaomin@example.com" not in lists.mail.resolves(address)
    assert "zhangwei@example.com" not in lists.mail.resolves("yanfabu@example.com")
    assert lists.mail.resolves("xiaoshoubu@example.com") == ["zhangwei@example.com"]


def test_a_suspended_owner_stays_owner_and_the_copy_goes_to_the_manager(lists: World) -> None:
    with lists.journal.engine.begin() as conn:
        save_intervention(conn, InterventionKind.SUSPEND, ENGINEER, "HQ", reason="compromised", actor="admin", now=lists.now)
    plan = lists.cycle()
    [said] = reviews(plan, ReviewKind.RESOURCE_OWNER_CHANGED)
    assert "employee 3, cannot receive mail now" in said and "they stay the owner" in said and "employee 2" in said
    assert lists.mail.reaches("it@example.com") == {"it@example.com", "wangfang@example.com"}
    assert "zhangwei@example.com" not in lists.mail.resolves("all@example.com")


def test_a_literal_address_of_one_of_our_people_follows_that_person(tmp_path: Path) -> None:
    made = World(tmp_path, FILE.replace('"partner@outside.test"', '"zhaomin@example.com"'))
    try:
        made.cycle()
        made.now += timedelta(hours=1)
        made.rows[OTHER] = replace(made.rows[OTHER], termination_date=made.now.date())
        made.cycle()
        assert "zhaomin@example.com" not in made.mail.resolves("rd-all@example.com")
    finally:
        made.close()


def test_a_forward_set_by_hand_on_a_functional_mailbox_is_left_alone(lists: World) -> None:
    lists.mail.set_forward("it@example.com", ["helpdesk@outside.test"], keep_copy=True)
    lists.rows[ENGINEER] = replace(lists.rows[ENGINEER], termination_date=lists.now.date())  # the owner leaves
    plan = lists.cycle()
    assert not [a for a in plan.actions if a.kind is ActionKind.FORWARD_MAIL and a.target == "it@example.com"]
    assert any("forwards to helpdesk@outside.test, which the daemon did not set" in r
               for r in reviews(plan, ReviewKind.RESOURCE_PROBLEM))
    assert lists.mail.reaches("it@example.com") >= {"it@example.com"}


# -- lists nothing produces any more, and names that collide ----------------------------------------


def test_a_renamed_department_s_old_list_is_reported_and_still_loses_its_leavers(lists: World) -> None:
    assert lists.mail.aliases["yanfabu@example.com"].mail_list
    for key in (HEAD, ENGINEER, OTHER):
        lists.rows[key] = replace(lists.rows[key], department="研发中心")
    lists.cycle()
    lists.now += timedelta(hours=1)
    lists.rows[OTHER] = replace(lists.rows[OTHER], termination_date=lists.now.date())
    plan = lists.cycle()
    [orphan] = [r for r in reviews(plan, ReviewKind.RESOURCE_PROBLEM) if r.startswith("yanfabu@example.com")]
    assert "neither the resources file nor [lists] produces it any more" in orphan
    assert "declare yanfabu@example.com in the resources file" in orphan
    assert lists.mail.resolves("yanfabu@example.com") == ["wangfang@example.com", "zhangwei@example.com"]
    assert lists.mail.resolves("yanfazhongxin@example.com") == ["wangfang@example.com", "zhangwei@example.com"]
    assert [a.kind for a in lists.plan().actions] == []  # nothing more to do, never deleted


def test_a_list_taken_out_of_the_file_is_reported_not_deleted(lists: World) -> None:
    lists.resources = replace(lists.resources, lists=())
    plan = lists.cycle()
    assert any(r.startswith("rd-all@example.com: rd-all@example.com is a list the daemon made")
               for r in reviews(plan, ReviewKind.RESOURCE_PROBLEM))
    assert "rd-all@example.com" in lists.mail.aliases
    assert not any(r.startswith("it@example.com: it@example.com is a list") for r in reviews(plan, ReviewKind.RESOURCE_PROBLEM))


def test_a_department_named_like_the_all_staff_list_is_refused_not_flipped(tmp_path: Path) -> None:
    made = World(tmp_path, '[department_lists]\n"研发部" = "all"\n', department=True, all_staff=True)
    try:
        plan = made.cycle()
        assert any("all@example.com is the all-staff list" in r for r in reviews(plan, ReviewKind.RESOURCE_PROBLEM))
        assert len(made.mail.resolves("all@example.com")) == 4
        assert list_updates(made.plan()) == []
    finally:
        made.close()


def test_a_skipped_entry_s_address_is_not_taken_over_by_a_department_list(tmp_path: Path) -> None:
    text = '[[lists]]\ncompany = "HQ"\naddress = "yanfabu@example.com"\ndisplay_name = "研发"\n'  # no owner: skipped
    made = World(tmp_path, text, department=True)
    try:
        plan = made.cycle()
        assert "yanfabu@example.com" not in made.mail.aliases
        assert any("yanfabu@example.com is named in the resources file already" in r
                   for r in reviews(plan, ReviewKind.RESOURCE_PROBLEM))
        from policies.resources import reserved_names

        assert "yanfabu" in reserved_names(made.resources)
    finally:
        made.close()
