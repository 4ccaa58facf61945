"""`lifecycle suspend` / `unsuspend` / `reset-password` as the CLI runs them, on a real slapd (no mail): the
active-instance lock, the real clock for what is recorded, a second suspension refused, and words that follow
each action's outcome rather than the plan.

The mail side (IMAP logins and sessions) is tests/test_intervention_e2e.py's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.ldap import LdapDirectory
from lifecycle.cli.main import main
from lifecycle.domain.action_params import AttributeUpdateParams
from lifecycle.domain.errors import RecordError
from lifecycle.domain.models import Action, ActionKind
from lifecycle.domain.settings import load_settings
from lifecycle.journal.interventions import read_interventions
from lifecycle.journal.store import Journal
from lifecycle.runtime.leader import FileLock

pytestmark = pytest.mark.servers

DAY_ONE = "2026-12-01T09:00"
EID = "100004"  # 张伟, HQ, employed throughout


def run(config: Path, capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out, err


def locked(config: Path) -> bool:
    settings = load_settings(config)
    with LdapDirectory(settings.directory, settings.companies) as ldap:
        entry = ldap.find_by_employee_number(EID)
    assert entry is not None
    return entry.locked


def store(config: Path) -> Journal:
    return Journal(load_settings(config).state.url)


def service_lock(config: Path) -> FileLock:
    """The lock a running daemon holds (lifecycle.runtime.leader.leadership_for on the config's SQLite store)."""
    return FileLock(Path(load_settings(config).state.url.removeprefix("sqlite:///") + ".lock"))


def test_with_the_service_running_the_decision_is_recorded_and_left_to_the_daemon(config: Path, capsys) -> None:
    assert run(config, capsys, "apply", "--now", DAY_ONE)[0] == 0
    journal = store(config)
    run_id = journal.begin_run("apply", datetime.now(UTC))  # the daemon's run, live: one action in flight
    dn = "uid=lvxiaoyan,ou=hq,ou=people,dc=example,dc=com"
    title = Action(ActionKind.UPDATE_ACCOUNT, "100005", "HQ", dn, "attributes", "title changed in HR", {"title": ["薪酬专员", "薪酬主管"]},
                   params=AttributeUpdateParams(dn, {"title": "薪酬主管"}))
    live = journal.begin_action(run_id, title, datetime.now(UTC), "daemon")
    service = service_lock(config)
    assert service.try_acquire()
    try:
        code, out, err = run(config, capsys, "suspend", EID, "--reason", "compromised, ticket 9")
    finally:
        service.release()
    assert code == 0, out + err
    assert "the suspension is recorded; the service is running" in out
    assert "the running daemon applies it at its next cycle, which the decision starts within seconds" in out
    assert not locked(config)  # nothing applied by the CLI
    assert [e.id for e in journal.pending_actions()] == [live]  # the daemon's live row is not settled under it
    with journal.engine.connect() as conn:
        assert EID in read_interventions(conn).suspensions
    journal.close()

    # The daemon's next cycle applies it (here: a cycle run by hand once the lock is free).
    assert run(config, capsys, "apply", "--now", "2026-12-01T10:00")[0] == 0
    assert locked(config)


def test_with_the_lock_free_it_is_applied_at_once_and_recorded_at_the_real_clock(config: Path, capsys) -> None:
    assert run(config, capsys, "apply", "--now", DAY_ONE)[0] == 0
    started = datetime.now(UTC).replace(microsecond=0)  # the store keeps seconds
    # --now before the account was made: the plan is made as of then, the reset is recorded as of now.
    code, out, err = run(config, capsys, "reset-password", EID, "--reason", "phished", "--now", "2026-11-30T09:00")
    assert code == 0, out + err
    assert "new initial password set" in out
    code, out, err = run(config, capsys, "suspend", EID, "--reason", "violation", "--now", "2026-11-30T10:00")
    assert code == 0, out + err
    assert "suspended now" in out and locked(config)
    assert not service_lock(config).check()  # released: `try_acquire` by the daemon succeeds
    journal = store(config)
    with journal.engine.connect() as conn:
        assert read_interventions(conn).suspensions[EID].created_at >= started
    asked = [e for e in journal.entries(employee_id=EID) if e.kind in ("reset_password_requested", "suspend")]
    assert len(asked) == 2 and all(datetime.fromisoformat(e.effective_at) >= started for e in asked)
    journal.close()
    lock = service_lock(config)
    assert lock.try_acquire()
    lock.release()


def test_a_second_suspension_is_refused_in_words_and_records_nothing(config: Path, capsys) -> None:
    assert run(config, capsys, "apply", "--now", DAY_ONE)[0] == 0
    assert run(config, capsys, "suspend", EID, "--reason", "first reason")[0] == 0
    code, out, err = run(config, capsys, "suspend", EID, "--reason", "second reason")
    assert code == 1, out + err
    assert "already suspended by" in err and ": first reason;" in err and "`lifecycle unsuspend` first" in err
    journal = store(config)
    recorded = [e for e in journal.entries(employee_id=EID) if e.kind == "suspend"]
    journal.close()
    assert [e.reason for e in recorded] == ["first reason"]


def test_the_words_follow_the_outcome_not_the_plan(config: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(config, capsys, "apply", "--now", DAY_ONE)[0] == 0

    def refused(self: LdapDirectory, dn: str) -> None:
        raise RecordError("the directory refused the lock (test)")

    monkeypatch.setattr(LdapDirectory, "lock", refused)
    code, out, err = run(config, capsys, "suspend", EID, "--reason", "violation")
    assert code == 1
    assert "suspended now" not in out and "locked already" not in out
    assert "locking the account did not succeed" in err
    monkeypatch.undo()
    assert not locked(config)
    # The suspension stands: the next cycle locks the account.
    assert run(config, capsys, "apply")[0] == 0
    assert locked(config)


def test_the_last_member_suspended_takes_their_department_group_with_them_at_once(config: Path, capsys) -> None:
    assert run(config, capsys, "apply", "--now", DAY_ONE)[0] == 0
    code, out, err = run(config, capsys, "suspend", "100031", "--reason", "violation", "--now", DAY_ONE)  # GZ 总经办's only one
    assert code == 0, out + err
    assert "delete_group cn=GZ-总经办" in out, out
    code, out, _ = run(config, capsys, "plan", "--now", DAY_ONE)
    assert code == 0, out  # nothing of the suspension is left for the next cycle
