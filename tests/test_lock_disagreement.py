"""A state store that disagrees with the directory about who is locked (restored from an older
backup, or a lock made by hand): a review says so, and nobody's access changes because of it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import ldap3
import pytest

from devservers.slapd import Slapd
from lifecycle.domain.models import ActionKind, HrStatus, ReviewKind
from lifecycle.journal.store import Journal
from tests.conftest import GROUPS_DN, HQ_PEOPLE_DN
from tests.harness import Cycle, at, hr, person

ZHANG = f"uid=zhangsan,{HQ_PEOPLE_DN}"


@pytest.fixture
def cycle(ldap_cycle: Cycle) -> Cycle:
    return ldap_cycle


def _ldap(slapd: Slapd) -> ldap3.Connection:
    return ldap3.Connection(slapd.url, slapd.admin_dn, slapd.admin_password, auto_bind=True)


def _locked(slapd: Slapd, dn: str) -> bool:
    connection = _ldap(slapd)
    try:
        connection.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["pwdAccountLockedTime"])
        return bool(connection.entries[0].entry_attributes_as_dict.get("pwdAccountLockedTime"))
    finally:
        connection.unbind()


def _copy_database(source: Path, target: Path) -> None:
    with sqlite3.connect(source) as live, sqlite3.connect(target) as copy:
        live.backup(copy)  # what an admin's backup tool does (a file copy could miss the WAL)


def _backup(cycle: Cycle, tmp_path: Path) -> Path:
    saved = tmp_path / "state-backup.db"
    _copy_database(tmp_path / "state.db", saved)
    return saved


def _restore(cycle: Cycle, tmp_path: Path, saved: Path) -> None:
    cycle.journal.close()
    for leftover in tmp_path.glob("state.db-*"):
        leftover.unlink()
    _copy_database(saved, tmp_path / "state.db")
    cycle.journal = Journal(cycle.settings.state.url)


def _disagreements(plan) -> list:
    return [r for r in plan.reviews if r.kind is ReviewKind.LOCK_DISAGREEMENT]


def test_a_lock_the_state_does_not_know_of_is_reported_and_kept(cycle: Cycle, slapd: Slapd) -> None:
    export = hr(person("1", "张三", department="Sales"), person("2", "李四", department="Sales"))
    cycle.apply(export, at("2026-12-01T09:00"))
    connection = _ldap(slapd)
    try:  # what a later cycle (lost with the restored backup) or an admin did: locked, out of the group
        assert connection.modify(ZHANG, {"pwdAccountLockedTime": [(ldap3.MODIFY_REPLACE, ["000001010000Z"])]})
        assert connection.modify(f"cn=HQ-Sales,{GROUPS_DN}", {"member": [(ldap3.MODIFY_DELETE, [ZHANG])]})
    finally:
        connection.unbind()

    plan, result = cycle.apply(export, at("2026-12-02T09:00"))
    assert result.ok, result.summary()
    touching = [a for a in plan.actions if a.employee_id == "1"]
    # No unlock, no group re-add, no warning: the lock is only recorded (a suspension by hand), once.
    assert [(a.kind, a.rule) for a in touching] == [(ActionKind.RECORD_STATE, "manual")], [a.to_dict() for a in touching]
    (review,) = _disagreements(plan)
    assert review.employee_id == "1" and "locked in the directory but recorded as active" in review.reason
    assert "pwdAccountLockedTime" in review.fix
    assert _locked(slapd, ZHANG)
    assert cycle.journal.person("1").suspension_rule.value == "manual"
    later = cycle.plan(export, at("2026-12-03T09:00"))
    assert _disagreements(later) == [] and [a for a in later.actions if a.employee_id == "1"] == []


def test_an_unlocked_account_recorded_as_suspended_is_not_deleted_on_old_records(cycle: Cycle, slapd: Slapd, tmp_path: Path) -> None:
    hire = hr(person("1", "张三"), person("2", "李四"))
    cycle.apply(hire, at("2026-12-01T09:00"))
    left = hr(person("1", "张三", status=HrStatus.TERMINATED, left=at("2026-12-02T00:00").date()), person("2", "李四"))
    cycle.apply(left, at("2026-12-03T09:00"))
    assert _locked(slapd, ZHANG)
    saved = _backup(cycle, tmp_path)  # the backup: 张三 suspended as a leaver

    rehired = hr(person("1", "张三", hire=at("2027-01-05T00:00").date()), person("2", "李四"))
    plan, _ = cycle.apply(rehired, at("2027-01-05T09:00"))
    assert ActionKind.RESTORE_ACCOUNT in {a.kind for a in plan.actions}
    assert not _locked(slapd, ZHANG)

    _restore(cycle, tmp_path, saved)  # state from before the rehire; HR's row missing this time
    later = at("2027-06-01T09:00")  # far past the 90-day retention counted from the old suspension
    plan = cycle.plan(hr(person("2", "李四")), later)
    assert [a.kind for a in plan.actions if a.employee_id == "1"] == []
    assert [a.kind for a in plan.held if a.action.employee_id == "1"] == []
    (review,) = _disagreements(plan)
    assert "not locked in the directory but recorded as suspended (leaver rule)" in review.reason
    assert "not deleted" in review.reason


def test_a_leaver_found_unlocked_is_locked_again_and_the_review_says_why(cycle: Cycle, slapd: Slapd) -> None:
    cycle.apply(hr(person("1", "张三")), at("2026-12-01T09:00"))
    left = hr(person("1", "张三", status=HrStatus.TERMINATED, left=at("2026-12-02T00:00").date()))
    cycle.apply(left, at("2026-12-03T09:00"))
    connection = _ldap(slapd)
    try:
        assert connection.modify(ZHANG, {"pwdAccountLockedTime": [(ldap3.MODIFY_DELETE, [])]})
    finally:
        connection.unbind()
    plan, _ = cycle.apply(left, at("2026-12-04T09:00"))
    assert [a.kind for a in plan.actions if a.employee_id == "1"] == [ActionKind.SUSPEND_ACCOUNT]
    (review,) = _disagreements(plan)
    assert "locked again" in review.reason
    assert _locked(slapd, ZHANG)
    assert not _disagreements(cycle.plan(left, at("2026-12-05T09:00")))
