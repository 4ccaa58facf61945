"""Managers in HR that loop back (A manages B manages A) or point at the person themselves."""

from __future__ import annotations

from lifecycle.domain.models import ActionKind, ReviewKind
from lifecycle.testing import InMemoryDirectory
from policies.managers import manager_chain_reviews
from tests.harness import Cycle, at, hr, make_settings, person

NOW = at("2026-12-01T09:00")


def _loops(plan) -> list:
    return [r for r in plan.reviews if r.kind is ReviewKind.MANAGER_LOOP]


def test_a_manager_loop_is_a_review_naming_its_rows(tmp_path) -> None:
    cycle = Cycle(make_settings(tmp_path), InMemoryDirectory(created=NOW))
    export = hr(
        person("10", "张三", manager="11", row=2),
        person("11", "李四", manager="12", row=3),
        person("12", "王五", manager="10", row=4),
        person("13", "赵六", manager="10", row=5),  # reports into the loop: not part of it
        person("14", "钱七", manager="", row=6),
    )
    plan = cycle.plan(export, NOW)
    (loop,) = _loops(plan)
    assert loop.employee_id == "10" and loop.target == "rows 2, 3, 4"
    assert "10 (row 2) -> 11 (row 3) -> 12 (row 4) -> 10 (row 2)" in loop.reason
    assert "manager column" in loop.fix
    cycle.close()


def test_a_self_manager_is_a_review_and_gets_no_manager(tmp_path) -> None:
    cycle = Cycle(make_settings(tmp_path), InMemoryDirectory(created=NOW))
    plan = cycle.plan(hr(person("20", "张三", manager="20", row=7), person("21", "李四", manager="20", row=8)), NOW)
    (loop,) = _loops(plan)
    assert loop.employee_id == "20" and loop.target == "row 7" and "their own manager" in loop.reason
    created = {a.employee_id: a for a in plan.actions if a.kind is ActionKind.CREATE_ACCOUNT}
    assert created["20"].params.attributes.manager == ""
    assert created["21"].params.attributes.manager.startswith("uid=zhangsan,")
    cycle.close()


def test_chains_without_loops_make_no_review() -> None:
    records = [person(str(n), "张三", manager=str(n + 1) if n < 50 else "", row=n) for n in range(1, 51)]
    assert manager_chain_reviews(records) == []
    two_loops = [person("1", "张三", manager="2", row=2), person("2", "李四", manager="1", row=3),
                 person("3", "王五", manager="4", row=4), person("4", "赵六", manager="3", row=5),
                 person("5", "钱七", manager="9", row=6)]  # an unknown manager is another review's business
    assert [r.target for r in manager_chain_reviews(two_loops)] == ["rows 2, 3", "rows 4, 5"]
