"""The whole lifecycle as an employee sees it: IMAP logins and delivered mail, with real slapd,
Modoboa and Dovecot, driven by `lifecycle apply`.

IMAP checks the directory's password (tests/mail_fixtures.py's `dovecot` on the demo's slapd): the
sealed initial password only gets "change it first" until the employee chose their own with an
LDAP Password Modify (what the console's /password page does)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ldap3 import Connection, Server

from devservers.dovecot import DovecotInstance
from devservers.modoboa import ModoboaInstance
from devservers.postfix import deliver
from devservers.slapd import Slapd
from lifecycle.cli.main import main
from lifecycle.domain.settings import load_settings
from lifecycle.engine.vault import CredentialVault
from tests.mail_fixtures import PASSWORD_PAGE

DAY_ONE = "2026-12-01T09:00"
LEAVER, ADDRESS, MANAGER = "100028", "machao@sz.example.com", "sunli@sz.example.com"
OUTSIDER = "customer@partner.test"
CHOSEN = "Chosen-by-Machao-2027"
MUST_CHANGE = f"[EXPIRED] Your password must be changed first: {PASSWORD_PAGE}"


@pytest.fixture
def full_config(config: Path, modoboa: ModoboaInstance, dovecot: DovecotInstance) -> Path:
    with open(config, "a", encoding="utf-8") as handle:
        handle.write(
            f"""
[mail]
url = "{modoboa.url}"
token = "{modoboa.token}"
max_writes_per_second = 1000
max_requests_per_minute = 1000000
leaver_mail = "forward_autoreply"

[mail.dovecot]
api_url = "{dovecot.api_url}"
api_key = "{dovecot.api_key}"
archive_dir = "{dovecot.archive_dir}"
"""
        )
    return config


def run(config: Path, capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out, err


def can_log_in(dovecot: DovecotInstance, address: str, password: str) -> bool:
    return dovecot.login(address, password) == "OK"


def choose_password(slapd: Slapd, address: str, old: str, new: str = CHOSEN) -> None:
    """The employee replaces the initial password: LDAP Password Modify bound as themself."""
    with Connection(Server(slapd.url), slapd.admin_dn, slapd.admin_password, auto_bind=True) as admin:
        admin.search(slapd.base_dn, f"(mail={address})", attributes=["1.1"])
        [entry] = admin.entries
    with Connection(Server(slapd.url), entry.entry_dn, old, auto_bind=True) as person:
        assert person.extend.standard.modify_password(entry.entry_dn, old, new), person.result


def sealed_password(config: Path) -> str:
    password = CredentialVault(load_settings(config).accounts.initial_password_dir, 16).read_password(LEAVER)
    assert password
    return password


def send(dovecot: DovecotInstance, modoboa: ModoboaInstance, subject: str, to: str = ADDRESS):
    return deliver(dovecot, modoboa.db_path, OUTSIDER, to, subject, f"{subject}\n")


def test_join_leave_forward_autoreply_archive_and_delete(
    full_config: Path, modoboa: ModoboaInstance, dovecot: DovecotInstance, demo_slapd: Slapd, capsys
) -> None:
    code, out, err = run(full_config, capsys, "check")
    assert code == 0, out + err
    assert "export                   yes" in out and "auto_reply               yes" in out

    code, out, err = run(full_config, capsys, "apply", "--now", DAY_ONE)
    assert code == 0, out + err
    password = sealed_password(full_config)
    assert dovecot.login(ADDRESS, password) == MUST_CHANGE  # one password, the directory's, to be changed first
    choose_password(demo_slapd, ADDRESS, password)
    assert can_log_in(dovecot, ADDRESS, CHOSEN) and not can_log_in(dovecot, ADDRESS, password)
    send(dovecot, modoboa, "before leaving")

    code, out, err = run(full_config, capsys, "apply", "--now", "2027-01-16T09:00")
    assert code == 0, out + err
    assert not can_log_in(dovecot, ADDRESS, CHOSEN)
    delivery = send(dovecot, modoboa, "after leaving")
    assert MANAGER in delivery.delivered  # the manager gets the departed person's mail
    replies = [m for m in dovecot.sent_messages() if "has left" in str(m["Subject"])]
    assert replies and MANAGER in replies[0].get_content()  # and the sender is told whom to write to
    code, out, _ = run(full_config, capsys, "plan", "--now", "2027-01-16T09:00", "--format", "json")
    assert json.loads(out)["actions"] == []

    kept = dovecot.message_count(ADDRESS)
    assert kept >= 1
    code, out, err = run(full_config, capsys, "apply", "--now", "2027-04-17T09:00")
    assert code == 0, out + err
    archives = list((dovecot.archive_dir / "sz.example.com").glob("machao-*"))
    assert len(archives) == 1  # archived (and verified) before the deletion
    code, out, _ = run(full_config, capsys, "log", "--employee", LEAVER, "--format", "json")
    kinds = [e["kind"] for e in json.loads(out) if e["status"] == "applied"]
    assert kinds.index("archive_mailbox") < kinds.index("delete_mailbox") < kinds.index("delete_account")
    assert MANAGER in send(dovecot, modoboa, "after deletion").delivered  # the address stays a forward


def test_rehire_restores_login_and_mail_sent_before_and_after(
    full_config: Path, modoboa: ModoboaInstance, dovecot: DovecotInstance, demo_slapd: Slapd, capsys
) -> None:
    assert run(full_config, capsys, "apply", "--now", DAY_ONE)[0] == 0
    choose_password(demo_slapd, ADDRESS, sealed_password(full_config))
    send(dovecot, modoboa, "one")
    assert run(full_config, capsys, "apply", "--now", "2027-01-16T09:00")[0] == 0
    assert not can_log_in(dovecot, ADDRESS, CHOSEN)
    hr = full_config.parent / "employees.csv"
    hr.write_text(hr.read_text(encoding="utf-8").replace("2022-03-01,2027-01-15", "2027-02-01,"), encoding="utf-8")
    code, out, err = run(full_config, capsys, "apply", "--now", "2027-02-01T09:00")
    assert code == 0, out + err
    fresh = sealed_password(full_config)  # a rehire gets a fresh initial password, to be changed first
    assert dovecot.login(ADDRESS, fresh) == MUST_CHANGE and not can_log_in(dovecot, ADDRESS, CHOSEN)
    choose_password(demo_slapd, ADDRESS, fresh, "Chosen-Again-2027")
    assert can_log_in(dovecot, ADDRESS, "Chosen-Again-2027")
    delivery = send(dovecot, modoboa, "two")
    assert ADDRESS in delivery.delivered and MANAGER not in delivery.delivered  # the forward is gone
    subjects = dovecot.subjects(ADDRESS)
    assert "one" in subjects and "two" in subjects
    code, out, _ = run(full_config, capsys, "plan", "--now", "2027-02-01T09:00", "--format", "json")
    assert json.loads(out)["actions"] == []


def edit_hr(config: Path, old: str, new: str) -> None:
    hr = config.parent / "employees.csv"
    text = hr.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    hr.write_text(text.replace(old, new), encoding="utf-8")


def test_a_rehire_after_deletion_gets_the_mail_and_the_former_manager_none(
    full_config: Path, modoboa: ModoboaInstance, dovecot: DovecotInstance, capsys
) -> None:
    assert run(full_config, capsys, "apply", "--now", DAY_ONE)[0] == 0
    assert run(full_config, capsys, "apply", "--now", "2027-01-16T09:00")[0] == 0
    assert run(full_config, capsys, "apply", "--now", "2027-04-17T09:00")[0] == 0  # archived, deleted
    assert MANAGER in send(dovecot, modoboa, "while gone").delivered
    edit_hr(full_config, "2022-03-01,2027-01-15", "2027-05-10,")
    code, out, err = run(full_config, capsys, "apply", "--now", "2027-05-10T09:00")
    assert code == 0, out + err
    # Deleted and created again: a new entry with a new initial password, to be changed first.
    assert dovecot.login(ADDRESS, sealed_password(full_config)) == MUST_CHANGE
    delivery = send(dovecot, modoboa, "back again")
    assert delivery.delivered == (ADDRESS,)  # not to the former manager as well
    assert "back again" not in dovecot.subjects(MANAGER)
    code, out, _ = run(full_config, capsys, "plan", "--now", "2027-05-10T09:00", "--format", "json")
    assert json.loads(out)["actions"] == []


def test_a_departure_after_an_inactivity_suspension_forwards_and_answers_like_any_leavers(
    full_config: Path, modoboa: ModoboaInstance, dovecot: DovecotInstance, capsys
) -> None:
    hr = full_config.parent / "employees.csv"
    ids = [line.split(",", 1)[0] for line in hr.read_text(encoding="utf-8").splitlines()]
    exempt = ", ".join(f'"{e}"' for e in ids if e.isdigit() and e != LEAVER)  # only 马超 goes unused
    text = full_config.read_text(encoding="utf-8")
    full_config.write_text(text.replace("retention_days = 90\n", f"retention_days = 90\ninactivity_exempt = [{exempt}]\n"),
                           encoding="utf-8")
    edit_hr(full_config, "2022-03-01,2027-01-15", "2022-03-01,")
    for now in (DAY_ONE, "2027-06-01T09:00", "2027-06-16T09:00"):  # created, warned, suspended for inactivity
        assert run(full_config, capsys, "apply", "--now", now)[0] == 0
    assert MANAGER not in send(dovecot, modoboa, "while idle").delivered  # an inactivity suspension forwards nothing

    edit_hr(full_config, "2022-03-01,", "2022-03-01,2027-07-01")
    code, out, err = run(full_config, capsys, "apply", "--now", "2027-07-01T09:00")
    assert code == 0, out + err
    delivery = send(dovecot, modoboa, "after leaving")
    assert MANAGER in delivery.delivered  # the manager gets the departed person's mail
    replies = [m for m in dovecot.sent_messages() if "has left" in str(m["Subject"])]
    assert replies and MANAGER in replies[0].get_content()  # and the sender is told whom to write to
    code, out, _ = run(full_config, capsys, "plan", "--now", "2027-07-01T09:00", "--format", "json")
    assert json.loads(out)["actions"] == []
    assert run(full_config, capsys, "apply", "--now", "2027-09-30T09:00")[0] == 0  # retention from the departure
    assert MANAGER in send(dovecot, modoboa, "after deletion").delivered  # the address stays a forward

