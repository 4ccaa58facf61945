"""The executor under faults: a server stopping mid-cycle, a crash between the write and
the journal, and a record-level failure.  Nothing is lost and nothing is done twice."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from connectors.ldap import LdapDirectory
from devservers.demo import BASE_DN, COMPANIES, SAMPLE, write_config
from devservers.slapd import Slapd
from lifecycle.domain.errors import RecordError
from lifecycle.domain.settings import load_settings
from lifecycle.engine.apply import Executor
from lifecycle.engine.cycle import apply_cycle, plan_cycle
from lifecycle.engine.vault import CredentialVault
from lifecycle.journal.store import Journal
from lifecycle.testing import InMemoryDirectory
from tests.conftest import SLAPD_TRANSACTION_CRASH
from tests.harness import Cycle, at, hr, make_settings, person

NOW = at("2026-12-01T09:00")


@pytest.fixture
def env(tmp_path: Path):
    units = [f"ou=people,{BASE_DN}", *(f"ou={ou},ou=people,{BASE_DN}" for *_, ou in COMPANIES), f"ou=groups,{BASE_DN}"]
    with Slapd(tmp_path / "slapd", base_dn=BASE_DN, organizational_units=units) as server:
        hr_path = tmp_path / "employees.csv"
        shutil.copyfile(SAMPLE, hr_path)
        settings = load_settings(write_config(tmp_path, server, hr_path))
        yield server, settings


class StopsAfter(LdapDirectory):
    """The real connector, whose server is stopped right after the n-th write."""

    def __init__(self, settings, server: Slapd, writes: int) -> None:
        super().__init__(settings.directory, settings.companies)
        self.server, self.left = server, writes

    def _count(self) -> None:
        self.left -= 1
        if self.left == 0:
            self.server.stop()

    def create_person(self, *args, **kwargs):
        super().create_person(*args, **kwargs)
        self._count()

    def add_member(self, *args, **kwargs):
        super().add_member(*args, **kwargs)
        self._count()


def applied_counts(journal: Journal) -> Counter:
    return Counter((e.kind, e.employee_id, e.target) for e in journal.entries() if e.status == "applied")


@SLAPD_TRANSACTION_CRASH  # the stop is on purpose; a crash of slapd before it is not
@pytest.mark.servers  # `env` runs a slapd
def test_server_stopping_mid_cycle_ends_cleanly_and_the_next_cycle_finishes(env) -> None:
    server, settings = env
    # With LDAP transactions (opt-in), so the stop cuts one: all or nothing.
    settings = settings.with_transactions()
    journal = Journal(settings.state.url)
    with StopsAfter(settings, server, writes=20) as directory:
        plan, result = apply_cycle(settings, NOW, directory, journal)
    assert result.stopped and "TransientError" in result.stopped
    applied, unknown = result.counts["applied"], result.counts["outcome_unknown"]
    assert applied + unknown + result.counts["skipped"] == len(plan.actions)
    # What met the stopped server (the 46 creates of one LDAP transaction, committed or not: slapd never said)
    # has an unknown outcome: pending until the next run re-checks it against the directory.
    assert len(journal.pending_actions()) == unknown >= 1 and applied + unknown >= 20
    server.start()  # same port, same data
    with LdapDirectory(settings.directory, settings.companies) as directory:
        created = len(directory.read_snapshot().entries)
        assert created == applied  # the transaction the stop cut left nothing behind (all or nothing)
        plan2, result2 = apply_cycle(settings, NOW, directory, journal)
        assert result2.ok and journal.pending_actions() == []
        assert len(plan2.actions) == len(plan.actions) - created  # exactly the rest
        assert plan_cycle(settings, NOW, directory, journal).actions == ()
        assert len(directory.read_snapshot().entries) == 46
    counts = applied_counts(journal)
    assert max(counts.values()) == 1  # nothing applied twice
    journal.close()


@pytest.mark.servers  # `env` runs a slapd
def test_crash_between_directory_write_and_journal_is_settled_on_restart(env, monkeypatch) -> None:
    _server, settings = env
    journal = Journal(settings.state.url)
    original = Journal.finish_actions

    def power_cut(self, outcomes, now):
        raise SystemExit("power cut")  # the process dies after the batch's writes, before their outcomes

    monkeypatch.setattr(Journal, "finish_actions", power_cut)
    with LdapDirectory(settings.directory, settings.companies) as directory, pytest.raises(SystemExit):
        apply_cycle(settings, NOW, directory, journal)
    monkeypatch.setattr(Journal, "finish_actions", original)
    pending = journal.pending_actions()
    assert pending and {e.kind for e in pending} == {"create_account"}  # the whole first batch
    crashed = {e.employee_id for e in pending}

    with LdapDirectory(settings.directory, settings.companies) as directory:
        vault = CredentialVault(settings.accounts.initial_password_dir, 16)
        settled = Executor(directory, journal, vault, "test").recover()
        assert {e.employee_id for e in settled} == crashed
        assert all(journal.person(employee_id) is not None for employee_id in crashed)  # state written by the recovery
        plan, result = apply_cycle(settings, NOW, directory, journal)
        assert result.ok
        assert all(not (a.kind.value == "create_account" and a.employee_id in crashed) for a in plan.actions)
        assert plan_cycle(settings, NOW, directory, journal).actions == ()
    for employee_id in crashed:
        creates = [e for e in journal.entries(employee_id=employee_id) if e.kind == "create_account"]
        assert [e.status for e in creates] == ["applied"]
    journal.close()


@pytest.mark.servers  # `env` runs a slapd
def test_interrupted_action_that_did_not_happen_is_marked_and_replanned(env) -> None:
    _server, settings = env
    journal = Journal(settings.state.url)
    with LdapDirectory(settings.directory, settings.companies) as directory:
        plan = plan_cycle(settings, NOW, directory, journal)
        first = plan.actions[0]
        run_id = journal.begin_run("apply", NOW)
        journal.begin_action(run_id, first, NOW, "test")  # crash before the write
        vault = CredentialVault(settings.accounts.initial_password_dir, 16)
        Executor(directory, journal, vault, "test").recover()
        statuses = [e.status for e in journal.entries(employee_id=first.employee_id)]
        assert statuses == ["interrupted"]
        again = plan_cycle(settings, NOW, directory, journal)
        assert first in again.actions  # not lost: planned again from the directory
    journal.close()


class FailsFor(InMemoryDirectory):
    def __init__(self, uid: str) -> None:
        super().__init__(created=NOW)
        self.uid = uid

    def create_person(self, dn, attributes, password):
        if attributes.get("uid") == self.uid:
            raise RecordError(f"constraint violation on {dn}", connector="directory")
        super().create_person(dn, attributes, password)


def test_a_record_level_failure_skips_that_person_only(tmp_path: Path) -> None:
    cycle = Cycle(make_settings(tmp_path), FailsFor("wangfang"))
    snapshot = hr(person("1", "李娜"), person("2", "王芳"), person("3", "张伟"))
    plan, result = cycle.apply(snapshot, NOW)
    # The failed person is left out of the new group's initial members (create_group carries them all).
    assert result.counts["failed"] == 1 and result.counts["skipped"] == 0 and not result.stopped
    assert cycle.directory.by_uid("lina") and cycle.directory.by_uid("zhangwei") and not cycle.directory.by_uid("wangfang")
    failed = [e for e in cycle.journal.entries() if e.status == "failed"]
    assert failed[0].employee_id == "2" and "constraint violation" in failed[0].error
    cycle.directory.uid = "nobody"  # the cause is fixed: the next cycle completes the person
    plan, result = cycle.apply(snapshot, NOW)
    assert result.ok and [a.kind.value for a in plan.actions] == ["create_account", "add_member"]
    assert cycle.plan(snapshot, NOW).actions == ()
    cycle.close()
