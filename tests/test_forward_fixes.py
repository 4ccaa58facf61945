"""An admin's forward where the first version went wrong (review of issue 18, item 1): a replacement starting later,
the person's own forward after an ended one, a rehire, a withdrawn departure under an admin's suspension, a branch
transfer, a target who leaves, an admin's suspension on Modoboa, a loop and a recorded past.

Over tests/test_mail_history.py's Modoboa-like backend, through compute_plan and the real executor.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import pytest

from lifecycle.cli.forward import cmd_forward
from lifecycle.domain.interventions import InterventionKind
from lifecycle.domain.models import ReviewKind
from lifecycle.domain.notices import NoticeEvent
from lifecycle.journal.forwards import ForwardRefused, end_forward, forwards_of, new_forward, save_forward
from lifecycle.journal.interventions import save_intervention
from tests.harness import make_settings, person
from tests.test_forward_policy import ADDRESS, NOTIFY, TARGET, TARGET_ID, day, forward, mine
from tests.test_mail_history import EMPLOYEE_ID, MANAGER, POLICY, Variant, World

OTHER = "other@partner.test"


def make_world(tmp_path: Path, *, dovecot: bool = False) -> World:
    made = World(tmp_path, Variant("forward", dovecot))
    made.settings = make_settings(tmp_path, mail={"token": "test-token", "leaver_mail": "forward",
                                                  "archive_before_delete": False}, policy=POLICY, notify=NOTIFY)
    made.rows[TARGET_ID] = person(TARGET_ID, "张伟")
    made.step("hire")
    return made


@pytest.fixture
def world(tmp_path: Path):
    made = make_world(tmp_path)
    yield made
    made.close()


def ended_notices(world: World) -> list[tuple[str, ...]]:
    return [n.to for n in world.plan().notices if n.event is NoticeEvent.FORWARD_ENDED]


def test_a_forward_in_force_replaced_by_one_starting_later_is_undone_until_the_new_one_starts(world: World) -> None:
    forward(world)
    world.cycle()
    later = new_forward(world.settings, world.journal.person(EMPLOYEE_ID), EMPLOYEE_ID, to=OTHER, keep_copy=True,
                        starts=day(world, 7), ends=None, reason="next week to the partner", actor="boss", now=world.now)
    save_forward(world.journal, later)
    plan = world.plan()
    [undo] = [a for a in plan.actions if a.employee_id == EMPLOYEE_ID]
    assert (undo.kind.value, undo.rule) == ("clear_forward", "forward") and f"replaced by the one to {OTHER}" in undo.reason
    assert not [n for n in plan.notices if n.event is NoticeEvent.FORWARD_ENDED]
    world.cycle()
    assert world.mail.reaches(ADDRESS) == {ADDRESS}
    assert world.plan().actions == ()
    world.wait(7)
    assert mine(world) == [("forward_mail", ADDRESS, "forward")]
    world.cycle()
    box = world.mail.read_snapshot(["example.com"]).mailbox(ADDRESS)
    assert box is not None and box.forward_to == (OTHER,)


def test_removing_a_replacement_not_yet_in_force_still_undoes_the_one_it_replaced(world: World) -> None:
    forward(world)
    world.cycle()
    later = new_forward(world.settings, world.journal.person(EMPLOYEE_ID), EMPLOYEE_ID, to=OTHER, keep_copy=True,
                        starts=day(world, 7), ends=None, reason="next week", actor="boss", now=world.now)
    save_forward(world.journal, later)
    end_forward(world.journal, world.settings, EMPLOYEE_ID, reason="not needed", actor="boss", now=world.now)
    assert mine(world) == [("clear_forward", ADDRESS, "forward_ended")]
    world.cycle()
    assert world.mail.reaches(ADDRESS) == {ADDRESS}


def test_an_ended_forward_is_undone_once_and_the_person_s_own_forward_to_that_address_is_theirs(world: World) -> None:
    forward(world, ends=day(world, 3))
    world.cycle()
    world.wait(3)
    assert ended_notices(world) == [(ADDRESS, TARGET)]
    world.cycle()
    assert forwards_of(world.journal, None) == []  # undone: forgotten
    world.wait(30)
    world.mail.set_forward(ADDRESS, [TARGET], keep_copy=True)  # the person's own, later
    assert mine(world) == [] and ended_notices(world) == []
    world.cycle()
    assert world.mail.reaches(ADDRESS) == {ADDRESS, TARGET}


def test_a_rehire_ends_the_leaver_s_forward_and_tells_the_target(world: World) -> None:
    forward(world, keep_copy=False)  # until removed
    world.leave()
    world.cycle()
    assert world.mail.reaches(ADDRESS) == {TARGET}
    world.wait(10)
    world.hire()
    plan = world.plan()
    assert ("clear_forward", ADDRESS, "forward_ended") in [(a.kind.value, a.target, a.rule) for a in plan.actions]
    assert [n.to for n in plan.notices if n.event is NoticeEvent.FORWARD_ENDED] == [(TARGET,)]
    world.cycle()
    assert world.mail.reaches(ADDRESS) == {ADDRESS}
    assert world.plan().actions == () and forwards_of(world.journal, None) == []
    world.wait(1)
    forward(world)  # made after the rehire: it stands
    assert mine(world) == [("forward_mail", ADDRESS, "forward")]


def test_an_admin_s_suspension_after_a_withdrawn_departure_stops_the_leaver_s_forward(world: World) -> None:
    world.leave()
    world.cycle()
    assert world.mail.reaches(ADDRESS) == {MANAGER}
    with world.journal.engine.begin() as conn:
        save_intervention(conn, InterventionKind.SUSPEND, EMPLOYEE_ID, "HQ", reason="violation", actor="admin",
                          now=world.now)
    world.wait(1)
    world.withdraw()
    world.cycle()
    assert world.mail.reaches(ADDRESS) == {ADDRESS}  # kept for the person, not the manager's
    assert world.plan().actions == ()


def test_after_a_branch_transfer_the_new_company_s_admins_have_the_forward(world: World) -> None:
    forward(world)
    world.cycle()
    world.transfer()
    world.cycle()
    assert [f.company for f in forwards_of(world.journal, ["SZ"])] == ["SZ"]
    assert forwards_of(world.journal, ["HQ"]) == []
    with pytest.raises(ForwardRefused):
        end_forward(world.journal, world.settings, EMPLOYEE_ID, reason="x", actor="hq", now=world.now, companies=["HQ"])
    end_forward(world.journal, world.settings, EMPLOYEE_ID, reason="x", actor="sz", now=world.now, companies=["SZ"])


def test_a_target_who_leaves_is_a_review_and_the_forward_stays(world: World) -> None:
    forward(world)
    world.cycle()
    world.rows[TARGET_ID] = replace(world.rows[TARGET_ID], termination_date=world.today)
    world.cycle()
    plan = world.plan()
    [review] = [r for r in plan.reviews if r.kind is ReviewKind.FORWARD_PROBLEM]
    assert review.employee_id == EMPLOYEE_ID and TARGET in review.reason and "suspended" in review.reason
    assert "lifecycle forward EMPLOYEE --to" in review.fix
    assert mine(world) == []


def test_an_admin_s_suspension_on_modoboa_keeps_the_mail_arriving_and_ends_the_sessions(tmp_path: Path) -> None:
    world = make_world(tmp_path, dovecot=True)
    try:
        kicked: list[str] = []
        assert world.companion is not None
        world.companion.kick = lambda user: kicked.append(user) or True  # type: ignore[method-assign]
        with world.journal.engine.begin() as conn:
            save_intervention(conn, InterventionKind.SUSPEND, EMPLOYEE_ID, "HQ", reason="violation", actor="admin",
                              now=world.now)
        plan = world.cycle()
        assert "suspend_mailbox" not in [a.kind.value for a in plan.actions if a.employee_id == EMPLOYEE_ID]
        assert world.mail.reaches(ADDRESS) == {ADDRESS} and world.mail.accounts[ADDRESS].active
        assert kicked == [ADDRESS]
        assert world.plan().actions == ()
    finally:
        world.close()


def test_a_former_address_of_the_person_is_refused_as_a_loop(world: World) -> None:
    for to in ("wangfang@sz.example.com", "WangFang@Example.com"):
        with pytest.raises(ForwardRefused, match="the person's own address"):
            new_forward(world.settings, world.journal.person(EMPLOYEE_ID), EMPLOYEE_ID, to=to, keep_copy=True,
                        starts=None, ends=None, reason="r", actor="boss", now=world.now)


def test_the_command_records_as_of_the_clock_never_a_past_now(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    args = argparse.Namespace(list=False, employee_id=EMPLOYEE_ID, to=TARGET, remove=False, keep_copy=True, starts=None,
                              ends=day(world, -1), reason="r", now=None, company=None, all=False, format="text")
    monkeypatch.setattr("lifecycle.cli.forward.clock", lambda: world.now)
    with pytest.raises(ForwardRefused, match="is not after today"):
        cmd_forward(args, world.settings)
    with pytest.raises(ForwardRefused, match="--now goes only with --list"):
        cmd_forward(replace_ns(args, now=(world.now.replace(year=2000)).isoformat()), world.settings)
    assert forwards_of(world.journal, None) == []


def replace_ns(args: argparse.Namespace, **changes: object) -> argparse.Namespace:
    return argparse.Namespace(**{**vars(args), **changes})
