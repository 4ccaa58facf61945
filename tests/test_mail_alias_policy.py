"""The departed address's alias follows the person's lifecycle state: re-pointed when HR changes the manager,
removed when the state says the address must not forward (`leaver_mail = "reject"`, employed again, rehired at
another address); only an alias the daemon made and nobody changed since (Alias.managed) is ever touched.

Over tests/test_mail_history.py's Modoboa-like backend, through compute_plan and the real executor.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from lifecycle.domain.models import ActionKind
from lifecycle.engine.apply import Executor
from lifecycle.testing import AliasRow
from tests.harness import make_settings, person
from tests.test_mail_history import (
    DOMAINS,
    EMPLOYEE_ID,
    INACTIVE,
    MANAGER,
    POLICY,
    UID,
    Variant,
    World,
)

ADDRESS = f"{UID}@{DOMAINS['HQ']}"
NEW_MANAGER_ID, NEW_MANAGER = "3", "zhangwei@example.com"


@pytest.fixture
def world(tmp_path: Path):
    made = World(tmp_path, Variant("forward", False))
    made.rows[NEW_MANAGER_ID] = person(NEW_MANAGER_ID, "张伟")
    yield made
    made.close()


def deleted_leaver(world: World) -> None:
    for event in ["hire", "leave", "quarter"]:
        world.step(event)
    assert world.mail.reaches(ADDRESS) == {MANAGER} and world.mail.aliases[ADDRESS].managed


def mail_actions(world: World) -> list[tuple[str, str, str]]:
    return [(a.kind.value, a.target, a.rule) for a in world.plan().actions
            if a.kind.value.endswith(("alias", "forward", "mailbox"))]


def test_a_new_manager_gets_the_departed_address_s_mail(world: World) -> None:
    deleted_leaver(world)
    world.rows[EMPLOYEE_ID] = replace(world.rows[EMPLOYEE_ID], manager_id=NEW_MANAGER_ID)
    plan = world.plan()
    mine = [(a.kind, a.target, a.params.recipients) for a in plan.actions if a.employee_id == EMPLOYEE_ID]
    assert mine == [(ActionKind.DELETE_ALIAS, ADDRESS, (MANAGER,)), (ActionKind.CREATE_ALIAS, ADDRESS, (NEW_MANAGER,))]
    world.cycle()
    assert world.mail.reaches(ADDRESS) == {NEW_MANAGER}
    assert world.plan().actions == ()


def test_switching_to_reject_removes_the_departed_address_s_forward(world: World) -> None:
    deleted_leaver(world)
    world.settings = make_settings(Path(world.settings.hr.path).parent, mail={"token": "test-token", "leaver_mail": "reject"}, policy=POLICY)
    assert mail_actions(world) == [("delete_alias", ADDRESS, "leaver")]
    world.cycle()
    assert world.mail.reaches(ADDRESS) == frozenset() and ADDRESS not in world.mail.aliases
    assert world.plan().actions == ()


def test_a_rehire_at_another_company_ends_the_old_address_s_forward_to_the_old_manager(world: World) -> None:
    deleted_leaver(world)
    world.transfer()
    world.hire()
    new_address = f"{UID}@{DOMAINS['SZ']}"
    assert ("delete_alias", ADDRESS, "rehire") in mail_actions(world)
    world.cycle()
    assert ADDRESS not in world.mail.aliases and world.mail.reaches(new_address) == {new_address}
    assert world.plan().actions == ()


def test_employed_again_after_a_deletion_for_inactivity_the_address_no_longer_goes_to_the_manager(world: World) -> None:
    for event in ["hire", *INACTIVE, "quarter", "leave"]:
        world.step(event)
    assert world.mail.reaches(ADDRESS) == {MANAGER}
    world.wait(1)
    # HR withdraws the termination: employed since the old hire date, the account waits for `lifecycle reinstate`.
    world.rows[EMPLOYEE_ID] = replace(world.rows[EMPLOYEE_ID], termination_date=None)
    assert mail_actions(world) == [("delete_alias", ADDRESS, "rehire")]
    world.cycle()
    assert world.mail.reaches(ADDRESS) == frozenset()
    assert world.plan().actions == ()


@pytest.mark.parametrize("change", ["manager", "reject", "employed again"])
def test_an_alias_an_admin_made_or_changed_is_never_touched(world: World, change: str) -> None:
    deleted_leaver(world)
    world.mail.aliases[ADDRESS] = AliasRow([MANAGER])  # made by hand, say, after the daemon's was lost
    world.mail.aliases[f"{UID}@{DOMAINS['SZ']}"] = row = AliasRow([MANAGER], made_with=("someone@example.org",))
    assert not row.managed  # the daemon's, re-pointed by an admin since
    if change == "manager":
        world.rows[EMPLOYEE_ID] = replace(world.rows[EMPLOYEE_ID], manager_id=NEW_MANAGER_ID)
    elif change == "reject":
        world.settings = make_settings(Path(world.settings.hr.path).parent,
                                       mail={"token": "test-token", "leaver_mail": "reject"}, policy=POLICY)
    else:
        world.rows[EMPLOYEE_ID] = replace(world.rows[EMPLOYEE_ID], termination_date=None)
    assert [a for a in world.plan().actions if a.kind is ActionKind.DELETE_ALIAS] == []


def test_an_alias_changed_between_plan_and_apply_is_left_and_the_action_fails(world: World) -> None:
    deleted_leaver(world)
    world.settings = make_settings(Path(world.settings.hr.path).parent,
                                   mail={"token": "test-token", "leaver_mail": "reject"}, policy=POLICY)
    plan = world.plan()
    world.mail.aliases[ADDRESS].recipients = ["team@example.com"]  # an admin re-points it meanwhile
    result = Executor(world.directory, world.journal, world.vault, "test", mail=world.mail).apply(
        plan, world.journal.begin_run("apply", world.now))
    assert not result.ok
    assert world.mail.aliases[ADDRESS].recipients == ["team@example.com"]
    assert world.plan().actions == ()  # it is the admin's now


@pytest.mark.parametrize("done", [True, False], ids=["removed before the crash", "crashed before the request"])
def test_a_removal_interrupted_by_a_crash_is_settled_and_not_lost(world: World, done: bool) -> None:
    deleted_leaver(world)
    world.settings = make_settings(Path(world.settings.hr.path).parent,
                                   mail={"token": "test-token", "leaver_mail": "reject"}, policy=POLICY)
    (removal,) = world.plan().actions
    journal = world.journal
    journal.begin_action(journal.begin_run("apply", world.now), removal, world.now, "test")  # pending, then the crash
    if done:
        world.mail.delete_alias(ADDRESS, removal.params.recipients)
    Executor(world.directory, journal, world.vault, "test", mail=world.mail).recover()
    statuses = [e.status for e in journal.entries(employee_id=EMPLOYEE_ID) if e.kind == "delete_alias"]
    assert statuses == (["applied"] if done else ["interrupted"])
    assert world.plan().actions == (() if done else (removal,))
    world.cycle()
    assert ADDRESS not in world.mail.aliases and world.plan().actions == ()
