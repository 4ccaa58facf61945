"""Write-back (issue 16): once an account exists, an HR source that takes it is told the account and
the work address, as an action of the plan with its own journal entry; HR refusing it fails that
action only, and what HR reads back ends it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from lifecycle.domain.errors import HrWriteBackError
from lifecycle.domain.models import ActionKind, HrSnapshot, HrStatus
from lifecycle.engine.apply import Executor
from lifecycle.journal.action_log import ActionStatus
from lifecycle.testing import InMemoryDirectory
from tests.harness import Cycle, at, make_settings, person

NOW = at("2026-12-01T09:00")
COLUMNS = ("account", "company", "department", "email", "employee_id", "hire_date", "name", "status")


class HrTable:
    """An HR source's write-back side: what it was told, or a refusal."""

    def __init__(self, refuse: str = "") -> None:
        self.told: list[tuple[str, str, str]] = []
        self.refuse = refuse

    def write_back(self, employee_id: str, account: str, email: str) -> None:
        if self.refuse:
            raise HrWriteBackError(self.refuse)
        self.told.append((employee_id, account, email))


@pytest.fixture
def cycle(tmp_path: Path) -> Cycle:
    statement = "UPDATE employees SET account = :account, email = :email WHERE id = :employee_id"
    settings = make_settings(tmp_path, hr={"kind": "sql", "sql": {"url": "sqlite://", "table": "employees",
                                                                   "writeback_statement": statement}})
    made = Cycle(settings, InMemoryDirectory(created=NOW - timedelta(days=1)))
    yield made
    made.close()


def snapshot(*records, columns=COLUMNS) -> HrSnapshot:  # type: ignore[no-untyped-def]
    return HrSnapshot(tuple(records), (), "hr", "fp", columns)


def write_backs(plan) -> list:  # type: ignore[no-untyped-def]
    return [a for a in plan.actions if a.kind == ActionKind.WRITE_BACK_HR]


def apply(cycle: Cycle, plan, hr: HrTable):  # type: ignore[no-untyped-def]
    run_id = cycle.journal.begin_run("apply", NOW)
    return Executor(cycle.directory, cycle.journal, cycle.vault, "test", hr=hr).apply(plan, run_id)


def test_hr_is_told_the_account_and_address_once_the_account_exists_and_then_never_again(cycle: Cycle) -> None:
    lina, fang = person("1", "李娜"), person("2", "王芳", status=HrStatus.TERMINATED)
    first, _ = cycle.apply(snapshot(lina, fang), NOW)
    assert write_backs(first) == []  # the account is being made: nothing to tell HR yet
    plan = cycle.plan(snapshot(lina, fang), NOW)
    (action,) = write_backs(plan)
    assert (action.employee_id, action.target, action.rule) == ("1", "hr:1", "hr_write_back")
    assert action.changes == {"account": [None, "lina"], "email": [None, "lina@example.com"]}
    assert action.reason == "the account exists: HR is told its account lina and email lina@example.com"
    hr = HrTable()
    result = apply(cycle, plan, hr)
    assert result.ok and hr.told == [("1", "lina", "lina@example.com")]
    (entry,) = [e for e in cycle.journal.entries(employee_id="1") if e.kind == "write_back_hr"]
    assert entry.status == ActionStatus.APPLIED
    # HR now holds them (the next read carries them): nothing more to tell, whatever the case.
    told = replace(lina, account="LINA", email="Lina@Example.com")
    assert write_backs(cycle.plan(snapshot(told, fang), NOW)) == []


def test_only_the_values_the_source_carries_are_written_back(cycle: Cycle) -> None:
    lina = person("1", "李娜")
    cycle.apply(snapshot(lina), NOW)
    only_email = tuple(c for c in COLUMNS if c != "account")
    (action,) = write_backs(cycle.plan(snapshot(lina, columns=only_email), NOW))
    assert action.changes == {"email": [None, "lina@example.com"]}
    assert action.params.to_dict() == {"account": "lina", "email": "lina@example.com"}  # never a blank for HR
    neither = tuple(c for c in only_email if c != "email")
    assert write_backs(cycle.plan(snapshot(lina, columns=neither), NOW)) == []  # it could never tell it was done


def test_hr_refusing_a_write_back_fails_that_action_only(cycle: Cycle) -> None:
    lina = person("1", "李娜")
    cycle.apply(snapshot(lina), NOW)
    joiner = person("3", "张伟", department="财务部")
    plan = cycle.plan(snapshot(lina, joiner), NOW)
    assert [a.kind for a in plan.actions].count(ActionKind.WRITE_BACK_HR) == 1
    result = apply(cycle, plan, HrTable(refuse="no row for employee 1 in employees"))
    assert result.counts[ActionStatus.FAILED] == 1 and result.counts[ActionStatus.APPLIED] >= 2
    assert cycle.directory.read_person("uid=zhangwei,ou=hq,ou=people,dc=example,dc=com") is not None
    (entry,) = [e for e in cycle.journal.entries(employee_id="1") if e.kind == "write_back_hr"]
    assert entry.status == ActionStatus.FAILED and "no row for employee 1" in entry.error
    # The next cycle asks again.
    assert len(write_backs(cycle.plan(snapshot(lina, joiner), NOW))) == 2


def test_no_write_back_without_a_source_that_takes_it(tmp_path: Path) -> None:
    plain = Cycle(make_settings(tmp_path), InMemoryDirectory(created=NOW - timedelta(days=1)))
    try:
        lina = person("1", "李娜")
        plain.apply(snapshot(lina), NOW)
        assert write_backs(plain.plan(snapshot(lina), NOW)) == []
    finally:
        plain.close()


def test_a_vendor_that_keeps_no_account_is_told_the_address_only(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, hr={"kind": "rest", "rest": {"preset": "wecom", "app_id": "ww1", "app_secret": "s",
                                                                    "writeback": True,
                                                                    "fields": {"hire_date": "extattrs.入职日期"}}})
    rest = Cycle(settings, InMemoryDirectory(created=NOW - timedelta(days=1)))
    try:
        lina = person("1", "李娜")
        rest.apply(snapshot(lina), NOW)
        (action,) = write_backs(rest.plan(snapshot(lina), NOW))  # the source's columns include an (empty) account
        assert action.changes == {"email": [None, "lina@example.com"]}
        assert write_backs(rest.plan(snapshot(replace(lina, email="lina@example.com")), NOW)) == []
    finally:
        rest.close()


def test_a_statement_that_sets_the_email_only_never_plans_an_account(tmp_path: Path) -> None:
    statement = "UPDATE employees SET work_email = :email WHERE emp_no = :employee_id"
    settings = make_settings(tmp_path, hr={"kind": "sql", "sql": {"url": "sqlite://", "table": "employees",
                                                                   "writeback_statement": statement}})
    sql = Cycle(settings, InMemoryDirectory(created=NOW - timedelta(days=1)))
    try:
        lina = replace(person("1", "李娜"), account="CORP\\li.na")  # HR's own account column, not ours to set
        sql.apply(snapshot(lina), NOW)
        (action,) = write_backs(sql.plan(snapshot(lina), NOW))
        assert action.changes == {"email": [None, "lina@example.com"]}
        assert write_backs(sql.plan(snapshot(replace(lina, email="lina@example.com")), NOW)) == []
    finally:
        sql.close()


def test_an_entry_without_an_address_yet_tells_hr_nothing_rather_than_a_blank() -> None:
    from lifecycle.domain.models import DirectoryEntry
    from policies.join import PersonView
    from policies.write_back import plan_write_back

    entry = DirectoryEntry("uid=lina,ou=hq,ou=people,dc=example,dc=com", "lina", mail="", employee_number="1")
    view = PersonView("1", person("1", "李娜"), None, entry, "HQ")
    assert plan_write_back(view, {"account"}, {"account", "email"}) is None  # the statement would bind a NULL email
    (changed,) = plan_write_back(view, {"account"}, {"account"}).changes  # a statement that sets the account only
    assert changed == "account"
