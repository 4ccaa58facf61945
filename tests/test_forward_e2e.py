"""`lifecycle forward` end to end: real slapd, Modoboa and Dovecot, mail delivered as Modoboa's Postfix maps would
(devservers/postfix.py), notices through the SMTP server of devservers/smtp.py into the same mailboxes.

- an active person, a copy kept: mail reaches the target and stays in the mailbox; a second apply changes nothing;
  on --until the forward is cleared and the person and the target are told;
- without a copy on Modoboa (which always keeps one in an active mailbox): a review, nothing half-done;
- a leaver: mail goes to the target instead of the manager, none kept; on --until back to the manager;
- a departed address (mailbox deleted, alias kept): the alias points at the target, and back at the manager;
- the command's bad input exits 1 naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from devservers.dovecot import DovecotInstance
from devservers.modoboa import ModoboaInstance
from devservers.postfix import deliver
from devservers.smtp import SmtpServer
from lifecycle.cli.main import main, parse_now
from lifecycle.domain.settings import load_settings
from lifecycle.journal.store import Journal
from tests.mail_fixtures import mail_sections

pytestmark = pytest.mark.servers

DAY_ONE = "2026-12-01T09:00"
PERSON, TARGET_ID = "100030", "100019"  # active in SZ
LEAVER, LEAVER_ADDRESS, MANAGER = "100028", "machao@sz.example.com", "sunli@sz.example.com"
OUTSIDER = "customer@partner.test"


@pytest.fixture
def smtp(dovecot: DovecotInstance, modoboa: ModoboaInstance) -> Iterator[SmtpServer]:
    server = SmtpServer(dovecot, modoboa.db_path).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def forward_config(config: Path, modoboa: ModoboaInstance, dovecot: DovecotInstance, smtp: SmtpServer) -> Path:
    text = config.read_text(encoding="utf-8") + mail_sections(modoboa, dovecot) + f"""
[notify]
smtp_url = "{smtp.url}"
sender = "IT <it@example.com>"
recheck_minutes = 1
"""
    config.write_text(text, encoding="utf-8")
    return config


def forward_at(monkeypatch: pytest.MonkeyPatch, when: str, config: Path, capsys: pytest.CaptureFixture[str],
               *args: str) -> tuple[int, str]:
    """`lifecycle forward ARGS` as if the clock said `when` (a forward is recorded as of the clock, never --now)."""
    moment = parse_now(when, load_settings(config).policy.timezone)
    monkeypatch.setattr("lifecycle.cli.forward.clock", lambda: moment)
    return run(config, capsys, "forward", *args)


def run(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out + err


def apply(config: Path, capsys: pytest.CaptureFixture[str], now: str) -> None:
    code, out = run(config, capsys, "apply", "--now", now)
    assert code == 0, out


def planned(config: Path, capsys: pytest.CaptureFixture[str], now: str) -> dict:
    code, out = run(config, capsys, "plan", "--now", now, "--format", "json")
    assert code in (0, 2), out
    return json.loads(out)


def address_of(config: Path, employee_id: str) -> str:
    journal = Journal(load_settings(config).state.url)
    try:
        person = journal.person(employee_id)
    finally:
        journal.close()
    assert person is not None
    return f"{person.uid}@sz.example.com"


@pytest.fixture
def addresses(forward_config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    """The accounts made on day one: (the person's address, the target's)."""
    apply(forward_config, capsys, DAY_ONE)
    return address_of(forward_config, PERSON), address_of(forward_config, TARGET_ID)


def send(dovecot: DovecotInstance, modoboa: ModoboaInstance, to: str, subject: str) -> set[str]:
    return set(deliver(dovecot, modoboa.db_path, OUTSIDER, to, subject, f"{subject}\n").delivered)


def test_an_active_person_s_forward_with_a_copy_and_its_end(forward_config: Path, addresses: tuple[str, str],
                                                             modoboa: ModoboaInstance, dovecot: DovecotInstance,
                                                             capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    PERSON_ADDRESS, TARGET = addresses
    code, out = forward_at(monkeypatch, DAY_ONE, forward_config, capsys, PERSON, "--to", TARGET, "--keep-copy", "--until", "2026-12-10",
                    "--reason", "客户交接")
    assert code == 0 and "applied by the next cycle" in out, out
    code, out = run(forward_config, capsys, "forward", "--list", "--format", "json", "--now", DAY_ONE)
    [row] = json.loads(out)
    assert (row["employee_id"], row["address"], row["to"], row["keep_copy"], row["until"], row["standing"]) == (
        PERSON, PERSON_ADDRESS, TARGET, True, "2026-12-10", "in force")

    apply(forward_config, capsys, "2026-12-02T09:00")
    assert send(dovecot, modoboa, PERSON_ADDRESS, "while forwarded") == {PERSON_ADDRESS, TARGET}
    assert planned(forward_config, capsys, "2026-12-03T09:00")["actions"] == []  # kept by the next reconciliation

    apply(forward_config, capsys, "2026-12-10T09:00")
    assert send(dovecot, modoboa, PERSON_ADDRESS, "after the end") == {PERSON_ADDRESS}
    for address in (PERSON_ADDRESS, TARGET):
        assert any("转发已结束" in s for s in dovecot.subjects(address)), (address, dovecot.subjects(address))
    apply(forward_config, capsys, "2026-12-10T10:00")
    assert sum("转发已结束" in s for s in dovecot.subjects(TARGET)) == 1  # told once


def test_without_a_copy_modoboa_cannot_and_nothing_is_done(forward_config: Path, addresses: tuple[str, str],
                                                           capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    TARGET = addresses[1]
    code, out = forward_at(monkeypatch, DAY_ONE, forward_config, capsys, PERSON, "--to", TARGET, "--reason", "r")
    assert code == 0, out
    plan = planned(forward_config, capsys, "2026-12-02T09:00")
    assert [a for a in plan["actions"] if a["employee_id"] == PERSON] == []
    assert [r["kind"] for r in plan["reviews"] if r["employee_id"] == PERSON] == ["forward_problem"]


def test_a_leaver_and_then_the_departed_address_go_to_the_target_instead_of_the_manager(
        forward_config: Path, addresses: tuple[str, str], modoboa: ModoboaInstance, dovecot: DovecotInstance,
        capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    TARGET = addresses[1]
    code, out = forward_at(monkeypatch, DAY_ONE, forward_config, capsys, LEAVER, "--to", TARGET, "--until", "2027-02-01",
                    "--reason", "接手客户")
    assert code == 0, out
    apply(forward_config, capsys, "2027-01-16T09:00")  # the last day was 2027-01-15
    kept = dovecot.message_count(LEAVER_ADDRESS)
    assert send(dovecot, modoboa, LEAVER_ADDRESS, "to the leaver") == {TARGET}
    assert dovecot.message_count(LEAVER_ADDRESS) == kept  # no copy in the suspended mailbox
    assert planned(forward_config, capsys, "2027-01-17T09:00")["actions"] == []

    apply(forward_config, capsys, "2027-02-01T09:00")
    assert send(dovecot, modoboa, LEAVER_ADDRESS, "back to the manager") == {MANAGER}
    assert any("转发已结束" in s for s in dovecot.subjects(TARGET))

    apply(forward_config, capsys, "2027-04-17T09:00")  # retention: mailbox and account deleted, the address an alias
    assert send(dovecot, modoboa, LEAVER_ADDRESS, "departed") == {MANAGER}
    code, out = forward_at(monkeypatch, "2027-04-17T09:00", forward_config, capsys, LEAVER, "--to", TARGET, "--until", "2027-05-01",
                    "--reason", "接手客户")
    assert code == 0, out
    apply(forward_config, capsys, "2027-04-18T09:00")
    assert send(dovecot, modoboa, LEAVER_ADDRESS, "departed, forwarded") == {TARGET}
    assert planned(forward_config, capsys, "2027-04-19T09:00")["actions"] == []
    apply(forward_config, capsys, "2027-05-01T09:00")
    assert send(dovecot, modoboa, LEAVER_ADDRESS, "departed, back") == {MANAGER}


ELSEWHERE = "successor@partner.test"


@pytest.mark.parametrize(("args", "words"), [
    (["999999", "--to", ELSEWHERE, "--reason", "r"], "employee 999999 is not in"),
    ([PERSON, "--to", "not-an-address", "--reason", "r"], "--to 'not-an-address' is not a mail address"),
    ([PERSON, "--to", ELSEWHERE, "--until", "2026-11-01", "--reason", "r"], "--until 2026-11-01 is not after today"),
    ([PERSON, "--to", ELSEWHERE, "--reason", " "], "--reason is required"),
])
def test_bad_input_exits_1_naming_the_field(forward_config: Path, addresses: tuple[str, str], capsys, args: list[str],
                                            words: str, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = forward_at(monkeypatch, DAY_ONE, forward_config, capsys, *args)
    assert code == 1 and words in out, out
