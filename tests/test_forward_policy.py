"""An admin's forward (`lifecycle forward`) as the planner keeps it: set while in force, over the leaver's default
and a departed address's alias, kept by every later plan, undone when it ends (only what it set), told when it ends.

Over tests/test_mail_history.py's Modoboa-like backend, through compute_plan and the real executor.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from lifecycle.domain.interventions import ExplicitForward
from lifecycle.domain.mail import MailCapability
from lifecycle.domain.models import ActionKind, ReviewKind
from lifecycle.domain.notices import NoticeEvent
from lifecycle.journal.forwards import ForwardRefused, end_forward, new_forward, save_forward
from policies.forwards import ForwardStanding, standing_of
from policies.timeline import next_due
from tests.harness import hr, make_settings, person
from tests.test_mail_history import DOMAINS, EMPLOYEE_ID, MANAGER, POLICY, UID, Variant, World

ADDRESS = f"{UID}@{DOMAINS['HQ']}"
TARGET_ID, TARGET = "3", "zhangwei@example.com"
NOTIFY = {"language": "en"}


@pytest.fixture
def world(tmp_path: Path):
    made = World(tmp_path, Variant("forward", False))
    made.settings = make_settings(tmp_path, mail={"token": "test-token", "leaver_mail": "forward", "archive_before_delete": False},
                                  policy=POLICY,
                                  notify=NOTIFY)
    made.rows[TARGET_ID] = person(TARGET_ID, "张伟")
    made.step("hire")
    yield made
    made.close()


def forward(world: World, *, keep_copy: bool = True, starts: str | None = None, ends: str | None = None) -> ExplicitForward:
    made = new_forward(world.settings, world.journal.person(EMPLOYEE_ID), EMPLOYEE_ID, to=TARGET, keep_copy=keep_copy,
                       starts=starts, ends=ends, reason="王芳's clients go to 张伟", actor="boss", now=world.now)
    save_forward(world.journal, made)
    return made


def mine(world: World) -> list[tuple[str, str, str]]:
    return [(a.kind.value, a.target, a.rule) for a in world.plan().actions if a.employee_id == EMPLOYEE_ID]


def day(world: World, days: int) -> str:
    return (world.today + timedelta(days=days)).isoformat()


def test_an_active_person_s_mail_goes_to_the_target_with_a_copy_until_the_end(world: World) -> None:
    made = forward(world, ends=day(world, 10))
    plan = world.plan()
    [action] = [a for a in plan.actions if a.employee_id == EMPLOYEE_ID]
    assert (action.kind, action.rule) == (ActionKind.FORWARD_MAIL, "forward")
    assert "boss" in action.reason and "王芳's clients go to 张伟" in action.reason
    world.cycle()
    assert world.mail.reaches(ADDRESS) == {ADDRESS, TARGET}
    assert world.plan().actions == ()  # kept: a second plan changes nothing
    world.wait(9)
    assert mine(world) == []
    world.wait(1)  # the start of --until
    plan = world.plan()
    assert [(a.kind, a.rule) for a in plan.actions if a.employee_id == EMPLOYEE_ID] == [(ActionKind.CLEAR_FORWARD, "forward_ended")]
    [told] = [n for n in plan.notices if n.event is NoticeEvent.FORWARD_ENDED]
    assert told.to == (ADDRESS, TARGET) and told.facts["forward_to"] == TARGET and told.facts["ended_on"] == str(made.ends_on)
    world.cycle()
    assert world.mail.reaches(ADDRESS) == {ADDRESS}
    assert world.plan().actions == ()


def test_without_a_copy_on_a_backend_that_always_keeps_one_nothing_is_done_and_a_review_says_so(world: World) -> None:
    forward(world, keep_copy=False)
    plan = world.plan()
    assert [a for a in plan.actions if a.employee_id == EMPLOYEE_ID] == []
    [review] = [r for r in plan.reviews if r.kind is ReviewKind.FORWARD_PROBLEM]
    assert "without keeping a copy" in review.reason and TARGET in review.reason
    world.capabilities = world.capabilities | {MailCapability.FORWARD_WITHOUT_COPY}
    assert mine(world) == [("forward_mail", ADDRESS, "forward")]


def test_a_leaver_s_mail_goes_to_the_target_instead_of_the_manager_and_back_when_it_ends(world: World) -> None:
    forward(world, keep_copy=False, ends=day(world, 20))
    world.cycle()
    world.leave()
    world.cycle()
    assert world.mail.reaches(ADDRESS) == {TARGET}  # not the manager's, and no copy in the suspended mailbox
    assert world.plan().actions == ()
    world.wait(20)
    plan = world.plan()
    assert [(a.kind.value, a.rule) for a in plan.actions if a.employee_id == EMPLOYEE_ID] == [("forward_mail", "forward_ended")]
    [told] = [n for n in plan.notices if n.event is NoticeEvent.FORWARD_ENDED]
    assert told.to == (TARGET,) and told.facts["back_to"] == MANAGER  # the leaver's mailbox is nobody's to read
    world.cycle()
    assert world.mail.reaches(ADDRESS) == {MANAGER}
    assert world.plan().actions == ()


def test_a_departed_address_points_at_the_target_and_back_at_the_manager(world: World) -> None:
    for event in ["leave", "quarter"]:  # retention: the account and the mailbox are deleted, the address stays an alias
        world.step(event)
    assert world.mail.reaches(ADDRESS) == {MANAGER} and world.mail.aliases[ADDRESS].managed
    forward(world, ends=day(world, 5))
    assert mine(world) == [("delete_alias", ADDRESS, "forward"), ("create_alias", ADDRESS, "forward")]
    world.cycle()
    assert world.mail.reaches(ADDRESS) == {TARGET}
    assert world.plan().actions == ()
    world.wait(5)
    assert mine(world) == [("delete_alias", ADDRESS, "forward_ended"), ("create_alias", ADDRESS, "forward_ended")]
    world.cycle()
    assert world.mail.reaches(ADDRESS) == {MANAGER}
    assert world.plan().actions == ()


def test_a_person_s_own_forward_is_left_alone_replaced_while_one_is_in_force_and_cleared_after(world: World) -> None:
    world.mail.set_forward(ADDRESS, ["friend@partner.test"], keep_copy=True)
    assert mine(world) == []
    forward(world, starts=day(world, 2), ends=day(world, 4))
    assert mine(world) == []  # not yet
    world.wait(2)
    [action] = [a for a in world.plan().actions if a.employee_id == EMPLOYEE_ID]
    assert "replaces the forward to friend@partner.test" in action.reason
    world.cycle()
    world.wait(2)
    assert mine(world) == [("clear_forward", ADDRESS, "forward_ended")]
    world.cycle()
    assert world.plan().actions == ()


def test_a_removed_forward_is_undone_by_the_next_plan_and_a_forward_never_set_is_not(world: World) -> None:
    forward(world)
    world.cycle()
    end_forward(world.journal, world.settings, EMPLOYEE_ID, reason="back from leave", actor="boss", now=world.now)
    assert mine(world) == [("clear_forward", ADDRESS, "forward_ended")]
    world.cycle()
    assert world.mail.reaches(ADDRESS) == {ADDRESS}
    world.mail.set_forward(ADDRESS, ["friend@partner.test"], keep_copy=True)  # the person's own, later
    assert mine(world) == []
    with pytest.raises(ForwardRefused, match="no forward standing"):
        end_forward(world.journal, world.settings, EMPLOYEE_ID, reason="again", actor="boss", now=world.now)


def test_the_quiet_daemon_wakes_at_the_start_and_at_the_end(world: World) -> None:
    made = forward(world, starts=day(world, 3), ends=day(world, 7))
    zone = world.settings.company_zone("HQ")
    state = world.journal.load_state()
    due = next_due(hr(*world.rows.values()), world.directory.read_snapshot(), state, world.settings, world.now)
    assert due == datetime(made.starts_on.year, made.starts_on.month, made.starts_on.day, tzinfo=zone)
    assert world.plan().next_due == due
    world.wait(3)
    world.cycle()
    due = next_due(hr(*world.rows.values()), world.directory.read_snapshot(), world.journal.load_state(), world.settings,
                   world.now)
    assert due is not None and due.date() == made.ends_on


@pytest.mark.parametrize(("field", "value", "words"), [
    ("to", "not-an-address", "--to 'not-an-address' is not a mail address"),
    ("to", ADDRESS, "is the person's own address"),
    ("ends", "2000-01-01", "--until 2000-01-01 is not after today"),
    ("ends", "31/12/2099", "--until '31/12/2099' is not a date"),
    ("reason", " ", "--reason is empty"),
])
def test_bad_input_is_refused_naming_the_field(world: World, field: str, value: str, words: str) -> None:
    asked = {"to": TARGET, "keep_copy": True, "starts": None, "ends": None, "reason": "why", **{field: value}}
    with pytest.raises(ForwardRefused, match=words.replace("(", r"\(").replace(")", r"\)")):
        new_forward(world.settings, world.journal.person(EMPLOYEE_ID), EMPLOYEE_ID, actor="boss", now=world.now,
                    **asked)  # type: ignore[arg-type]


def test_standing_by_the_company_s_day() -> None:
    made = ExplicitForward("1", "HQ", TARGET, True, date(2027, 1, 2), date(2027, 1, 5), "why", "boss",
                           datetime(2027, 1, 1).astimezone())
    assert [standing_of(made, date(2027, 1, d)) for d in (1, 2, 4, 5)] == [
        ForwardStanding.NOT_YET, ForwardStanding.IN_FORCE, ForwardStanding.IN_FORCE, ForwardStanding.ENDED]
    assert standing_of(replace(made, starts_on=None, ends_on=None), date(2000, 1, 1)) is ForwardStanding.IN_FORCE
