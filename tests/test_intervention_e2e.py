"""`lifecycle suspend`, `unsuspend`, `reset-password` as an employee sees them: IMAP logins and open sessions,
with real slapd, Modoboa and Dovecot (tests/mail_fixtures.py), driven through the CLI.

IMAP checks the directory's password: a locked entry is refused, a password with pwdReset answers
"[EXPIRED] change it first" (tests/test_one_password.py).
"""

from __future__ import annotations

import imaplib
import json
import time
from pathlib import Path

import ldap3
import pytest

from connectors.ldap import LdapDirectory
from devservers.dovecot import DovecotInstance
from devservers.modoboa import ModoboaInstance
from devservers.slapd import Slapd
from lifecycle.cli.main import main
from lifecycle.domain.settings import load_settings
from lifecycle.engine.cycle import current_actor
from lifecycle.engine.vault import CredentialVault
from tests.mail_fixtures import PASSWORD_PAGE, mail_sections

pytestmark = pytest.mark.servers

DAY_ONE = "2026-12-01T09:00"
EID = "100004"  # 张伟, HQ, employed throughout
OTHER = "100005"
CHOSEN = "Chosen-by-Zhang-2027"
REFUSED = "[AUTHENTICATIONFAILED] Authentication failed."
MUST_CHANGE = f"[EXPIRED] Your password must be changed first: {PASSWORD_PAGE}"


@pytest.fixture
def full_config(config: Path, modoboa: ModoboaInstance, dovecot: DovecotInstance) -> Path:
    with open(config, "a", encoding="utf-8") as handle:
        handle.write(mail_sections(modoboa, dovecot, archive=None))
    return config


def run(config: Path, capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out, err


def entry_of(config: Path, employee_id: str = EID):
    settings = load_settings(config)
    with LdapDirectory(settings.directory, settings.companies) as ldap:
        entry = ldap.find_by_employee_number(employee_id)
    assert entry is not None
    return entry


def sealed(config: Path, employee_id: str = EID) -> str:
    password = CredentialVault(load_settings(config).accounts.initial_password_dir, 16).read_password(employee_id)
    assert password
    return password


def choose_password(slapd: Slapd, dn: str, old: str, new: str = CHOSEN) -> None:
    with ldap3.Connection(ldap3.Server(slapd.url), dn, old, auto_bind=True) as person:
        assert person.extend.standard.modify_password(dn, old, new), person.result


def open_session(dovecot: DovecotInstance, address: str, password: str) -> imaplib.IMAP4:
    assert dovecot.imap_port is not None
    connection = imaplib.IMAP4("127.0.0.1", dovecot.imap_port, timeout=10)
    connection.login(address, password)
    return connection


def session_ends(connection: imaplib.IMAP4, timeout: float = 5.0) -> bool:
    """True once the server closed the session (NOOP answered with BYE, or the socket closed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            connection.noop()
        except (imaplib.IMAP4.abort, OSError):
            return True
        time.sleep(0.05)
    return False


def unlock_by_hand(slapd: Slapd, dn: str) -> None:
    with ldap3.Connection(slapd.url, slapd.admin_dn, slapd.admin_password, auto_bind=True) as admin:
        assert admin.modify(dn, {"pwdAccountLockedTime": [(ldap3.MODIFY_DELETE, [])]}), admin.result


def planned_for(config: Path, capsys, now: str, employee_id: str = EID) -> tuple[list[dict], list[dict]]:
    code, out, err = run(config, capsys, "plan", "--now", now, "--format", "json")
    assert code in (0, 2), err
    plan = json.loads(out)
    return ([a for a in plan["actions"] if a["employee_id"] == employee_id],
            [r for r in plan["reviews"] if r["employee_id"] == employee_id])


def logged(config: Path, capsys, employee_id: str = EID) -> list[dict]:
    code, out, _ = run(config, capsys, "log", "--employee", employee_id, "--format", "json")
    assert code == 0
    return json.loads(out)


def test_suspend_ends_the_session_keeps_the_lock_whatever_hr_says_and_unsuspend_gives_it_back(
    full_config: Path, dovecot: DovecotInstance, demo_slapd: Slapd, capsys
) -> None:
    assert run(full_config, capsys, "apply", "--now", DAY_ONE)[0] == 0
    entry = entry_of(full_config)
    choose_password(demo_slapd, entry.dn, sealed(full_config))
    session = open_session(dovecot, entry.mail, CHOSEN)

    code, out, err = run(full_config, capsys, "suspend", EID, "--reason", "违规共享账号 ticket 77", "--now", "2026-12-01T10:00")
    assert code == 0, out + err
    assert "suspended now" in out
    assert dovecot.login(entry.mail, CHOSEN) == REFUSED
    assert session_ends(session)  # the open session is ended, not only new logins refused
    entries = logged(full_config, capsys)
    (recorded,) = [e for e in entries if e["kind"] == "suspend"]
    assert (recorded["actor"], recorded["reason"], recorded["status"]) == (current_actor(), "违规共享账号 ticket 77", "recorded")
    applied = {(e["kind"], e["rule"]) for e in entries if e["status"] == "applied"}
    assert ("suspend_account", "intervention") in applied  # the mailbox: policies.mailbox decides (logins refused above)

    # HR still says employed: a full cycle keeps it locked and plans nothing for the person.
    assert run(full_config, capsys, "apply", "--now", "2026-12-02T09:00")[0] == 0
    assert entry_of(full_config).locked and dovecot.login(entry.mail, CHOSEN) == REFUSED
    assert planned_for(full_config, capsys, "2026-12-02T09:05") == ([], [])

    # Unlocked by hand while the suspension stands: locked again, reported once.
    unlock_by_hand(demo_slapd, entry.dn)
    assert run(full_config, capsys, "apply", "--now", "2026-12-02T10:00")[0] == 0
    assert entry_of(full_config).locked
    reviews = [e for e in logged(full_config, capsys) if e["kind"] == "lock_disagreement"]
    assert len(reviews) == 1 and "locked again" in reviews[0]["reason"]
    assert planned_for(full_config, capsys, "2026-12-02T10:05") == ([], [])

    code, out, err = run(full_config, capsys, "unsuspend", EID, "--reason", "处理完毕", "--now", "2026-12-03T09:00")
    assert code == 0, out + err
    assert "login given back now" in out
    assert dovecot.login(entry.mail, CHOSEN) == "OK"  # the person's own password: no new one
    assert planned_for(full_config, capsys, "2026-12-03T09:05") == ([], [])
    (lifted,) = [e for e in logged(full_config, capsys) if e["kind"] == "unsuspend"]
    assert (lifted["actor"], lifted["reason"]) == (current_actor(), "处理完毕")


def test_reset_password_refuses_the_old_one_and_the_new_one_must_be_changed_first(
    full_config: Path, dovecot: DovecotInstance, demo_slapd: Slapd, capsys
) -> None:
    assert run(full_config, capsys, "apply", "--now", DAY_ONE)[0] == 0
    entry = entry_of(full_config)
    initial = sealed(full_config)
    choose_password(demo_slapd, entry.dn, initial)
    session = open_session(dovecot, entry.mail, CHOSEN)

    code, out, err = run(full_config, capsys, "reset-password", EID, "--reason", "钓鱼邮件泄露", "--now", "2026-12-01T10:00")
    assert code == 0, out + err
    fresh = sealed(full_config)
    assert fresh not in (initial, CHOSEN) and fresh not in out + err  # never shown: sealed where delivery says
    assert f"credentials/HQ/{EID}.txt" in out
    assert dovecot.login(entry.mail, CHOSEN) == REFUSED
    assert dovecot.login(entry.mail, fresh) == MUST_CHANGE
    assert session_ends(session)
    entries = logged(full_config, capsys)
    (asked,) = [e for e in entries if e["kind"] == "reset_password_requested"]
    assert (asked["actor"], asked["reason"]) == (current_actor(), "钓鱼邮件泄露")
    (reset,) = [e for e in entries if e["kind"] == "reset_password" and e["status"] == "applied"]
    assert reset["rule"] == "intervention" and "an admin asked for a new password" in reset["reason"]
    assert planned_for(full_config, capsys, "2026-12-01T10:05") == ([], [])

    # Asked for while suspended: due until the unsuspend, which gives it.
    choose_password(demo_slapd, entry.dn, fresh, "Chosen-Again-2027")
    assert run(full_config, capsys, "suspend", EID, "--reason", "调查", "--now", "2026-12-02T09:00")[0] == 0
    code, out, err = run(full_config, capsys, "reset-password", EID, "--reason", "再次重置", "--now", "2026-12-02T09:10")
    assert code == 0, out + err
    assert "given when the account is unsuspended" in out
    code, out, err = run(full_config, capsys, "unsuspend", EID, "--reason", "调查结束", "--now", "2026-12-02T10:00")
    assert code == 0, out + err
    assert "asked for while it was suspended is given now" in out
    latest = sealed(full_config)
    assert latest != fresh and dovecot.login(entry.mail, latest) == MUST_CHANGE
    assert dovecot.login(entry.mail, "Chosen-Again-2027") == REFUSED


def test_an_intervention_applies_that_persons_actions_only(full_config: Path, dovecot: DovecotInstance, capsys) -> None:
    assert run(full_config, capsys, "apply", "--now", DAY_ONE)[0] == 0
    hr = full_config.parent / "employees.csv"
    lines = hr.read_text(encoding="utf-8").splitlines(keepends=True)
    # Another person's change is pending (a new title to write to the directory): left to the next cycle.
    hr.write_text("".join(line.replace(",薪酬专员,", ",薪酬主管,") if line.startswith(OTHER + ",") else line
                          for line in lines), encoding="utf-8")
    pending, _ = planned_for(full_config, capsys, "2026-12-01T10:00", OTHER)
    assert pending, "the test needs a pending change of another person"
    assert run(full_config, capsys, "suspend", EID, "--reason", "violation", "--now", "2026-12-01T10:00")[0] == 0
    assert entry_of(full_config).locked
    still, _ = planned_for(full_config, capsys, "2026-12-01T10:05", OTHER)
    assert [a["kind"] for a in still] == [a["kind"] for a in pending]


def test_bad_input_is_refused_in_words_and_records_nothing(full_config: Path, dovecot: DovecotInstance, capsys) -> None:
    assert run(full_config, capsys, "apply", "--now", DAY_ONE)[0] == 0
    code, _, err = run(full_config, capsys, "suspend", "999999", "--reason", "x")
    assert code == 1 and "999999" in err and "check the id" in err
    code, _, err = run(full_config, capsys, "reset-password", EID, "--reason", "   ")
    assert code == 1 and "--reason is empty" in err
    code, _, err = run(full_config, capsys, "unsuspend", EID, "--reason", "nothing to lift")
    assert code == 1 and "not suspended by an admin" in err
    assert not entry_of(full_config).locked
    assert not [e for e in logged(full_config, capsys) if e["kind"] in ("suspend", "unsuspend", "reset_password_requested")]
