"""Every lifecycle event reaches the mailbox: the CLI against a real slapd and a real Modoboa."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.mail_modoboa import ModoboaBackend, ModoboaSettings
from devservers.modoboa import ModoboaInstance
from lifecycle.cli.main import main

DAY_ONE = "2026-12-01T09:00"
LEAVER = "100028"  # 马超 (SZ), leaves 2027-01-15; manager 孙丽 (100024) sunli@sz.example.com
ADDRESS, MANAGER = "machao@sz.example.com", "sunli@sz.example.com"
LEAVER_DATES = "2022-03-01,2027-01-15"  # 马超's hire and termination dates in the sample export


@pytest.fixture
def mail_config(config: Path, modoboa: ModoboaInstance) -> Path:
    text = config.read_text(encoding="utf-8")
    text += f"""
[mail]
url = "{modoboa.url}"
token = "{modoboa.token}"
max_writes_per_second = 1000
max_requests_per_minute = 1000000
archive_before_delete = false

[mail.quota_by_title]
"总裁" = 5120
"""
    config.write_text(text, encoding="utf-8")
    return config


@pytest.fixture
def backend(modoboa: ModoboaInstance):
    from pydantic import SecretStr

    b = ModoboaBackend(ModoboaSettings(url=modoboa.url, token=SecretStr(modoboa.token), max_writes_per_second=1000,
                                       max_requests_per_minute=1_000_000))
    yield b
    b.close()


def run(config: Path, capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out, err


def plan_json(config: Path, capsys, now: str) -> dict:
    code, out, err = run(config, capsys, "plan", "--now", now, "--format", "json")
    assert code in (0, 2), err
    return json.loads(out)


def domains(backend) -> list[str]:
    return ["example.com", "sz.example.com", "gz.example.com"]


def test_joiners_get_mailboxes_and_leavers_lose_login_with_mail_forwarded(mail_config: Path, backend, capsys) -> None:
    plan = plan_json(mail_config, capsys, DAY_ONE)
    creates = [a for a in plan["actions"] if a["kind"] == "create_mailbox"]
    assert len(creates) == 46
    assert all("password" not in json.dumps(a) for a in creates)
    boss = next(a for a in creates if a["employee_id"] == "100001")
    assert boss["params"]["quota_mb"] == 5120 and boss["target"] == "simaguang@example.com"
    zhang = next(a for a in creates if a["employee_id"] == "100019")
    assert zhang["target"] == "zhangwei2@sz.example.com" and "shanxiongxin@sz.example.com" in zhang["reason"]

    code, out, err = run(mail_config, capsys, "apply", "--now", DAY_ONE)
    assert code == 0, out + err
    snapshot = backend.read_snapshot(domains(backend))
    assert len(snapshot.mailboxes) == 46
    assert snapshot.mailbox("simaguang@example.com").quota_mb == 5120
    assert snapshot.mailbox("zhangwei3@gz.example.com").is_active
    assert plan_json(mail_config, capsys, DAY_ONE)["actions"] == []  # directory and mail converged

    code, out, err = run(mail_config, capsys, "apply", "--now", "2027-01-16T09:00")
    assert code == 0, out + err
    box = backend.find_mailbox("machao@sz.example.com")
    assert box is not None and not box.is_active
    assert box.forward_to == ("sunli@sz.example.com",)
    assert plan_json(mail_config, capsys, "2027-01-16T09:00")["actions"] == []

    # After retention (no archive ability, archive_before_delete = false): deleted, address kept as a forward.
    code, out, err = run(mail_config, capsys, "apply", "--now", "2027-04-17T09:00")
    assert code == 0, out + err
    assert backend.find_mailbox("machao@sz.example.com") is None
    alias = backend.read_snapshot(domains(backend)).alias("machao@sz.example.com")
    assert alias is not None and alias.recipients == ("sunli@sz.example.com",)
    assert plan_json(mail_config, capsys, "2027-04-17T09:00")["actions"] == []


def edit_hr(config: Path, old: str, new: str) -> None:
    hr = config.parent / "employees.csv"
    text = hr.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    hr.write_text(text.replace(old, new), encoding="utf-8")


def apply(config: Path, capsys, now: str) -> None:
    code, out, err = run(config, capsys, "apply", "--now", now)
    assert code == 0, out + err


def test_a_rehire_after_deletion_takes_the_address_back_from_the_managers_forward(
    mail_config: Path, modoboa: ModoboaInstance, backend, capsys
) -> None:
    from tests.test_mail_modoboa import postfix_resolves

    apply(mail_config, capsys, DAY_ONE)
    apply(mail_config, capsys, "2027-01-16T09:00")
    apply(mail_config, capsys, "2027-04-17T09:00")  # retention over: deleted, the address forwards to the manager
    assert postfix_resolves(modoboa.db_path, ADDRESS) == [MANAGER]

    edit_hr(mail_config, LEAVER_DATES, "2027-05-10,")  # hired again
    plan = plan_json(mail_config, capsys, "2027-05-10T09:00")
    mine = [(a["kind"], a["target"]) for a in plan["actions"] if a["employee_id"] == LEAVER and "@" in a["target"]]
    assert mine == [("create_mailbox", ADDRESS), ("clear_forward", ADDRESS)]
    apply(mail_config, capsys, "2027-05-10T09:00")
    box = backend.find_mailbox(ADDRESS)
    assert box is not None and box.is_active and box.forward_to == ()
    assert postfix_resolves(modoboa.db_path, ADDRESS) == [ADDRESS]  # the former manager gets none of it
    assert plan_json(mail_config, capsys, "2027-05-10T09:00")["actions"] == []


def test_a_departure_after_an_inactivity_suspension_gets_the_leaver_handling(
    mail_config: Path, modoboa: ModoboaInstance, backend, capsys
) -> None:
    from tests.test_mail_modoboa import postfix_resolves

    # Only 马超 goes unused (the others are exempt), and he has not left yet.
    hr = mail_config.parent / "employees.csv"
    others = [line.split(",", 1)[0] for line in hr.read_text(encoding="utf-8").splitlines()]
    exempt = ", ".join(f'"{e}"' for e in others if e.isdigit() and e != LEAVER)
    text = mail_config.read_text(encoding="utf-8")
    mail_config.write_text(text.replace("retention_days = 90\n", f"retention_days = 90\ninactivity_exempt = [{exempt}]\n"),
                           encoding="utf-8")
    edit_hr(mail_config, LEAVER_DATES, "2022-03-01,")
    apply(mail_config, capsys, DAY_ONE)
    apply(mail_config, capsys, "2027-06-01T09:00")  # warned
    apply(mail_config, capsys, "2027-06-16T09:00")  # suspended for inactivity: login off, mail bounces
    assert postfix_resolves(modoboa.db_path, ADDRESS) == []

    edit_hr(mail_config, "2022-03-01,", "2022-03-01,2027-07-01")
    plan = plan_json(mail_config, capsys, "2027-07-01T09:00")
    mine = {a["kind"]: a for a in plan["actions"] if a["employee_id"] == LEAVER}
    assert sorted(mine) == ["forward_mail", "record_state"]
    assert mine["record_state"]["params"]["state"]["suspension_rule"] == "leaver"
    apply(mail_config, capsys, "2027-07-01T09:00")
    assert postfix_resolves(modoboa.db_path, ADDRESS) == [MANAGER]  # the departed person's mail reaches the manager
    assert plan_json(mail_config, capsys, "2027-07-01T09:00")["actions"] == []

    # Retention counts from the departure: 90 days after the inactivity suspension nothing is deleted yet.
    assert plan_json(mail_config, capsys, "2027-09-20T09:00")["actions"] == []
    apply(mail_config, capsys, "2027-09-30T09:00")
    assert backend.find_mailbox(ADDRESS) is None
    assert postfix_resolves(modoboa.db_path, ADDRESS) == [MANAGER]  # the address stays a forward
    assert plan_json(mail_config, capsys, "2027-09-30T09:00")["actions"] == []


def test_mailbox_kept_when_it_cannot_be_archived(mail_config: Path, backend, capsys) -> None:
    text = mail_config.read_text(encoding="utf-8").replace("archive_before_delete = false", "archive_before_delete = true")
    mail_config.write_text(text, encoding="utf-8")
    assert run(mail_config, capsys, "apply", "--now", DAY_ONE)[0] == 0
    assert run(mail_config, capsys, "apply", "--now", "2027-01-16T09:00")[0] == 0
    plan = plan_json(mail_config, capsys, "2027-04-17T09:00")
    assert [a["kind"] for a in plan["actions"] if a["employee_id"] == LEAVER] == ["delete_account"]
    assert any(r["kind"] == "mailbox_kept" and r["employee_id"] == LEAVER for r in plan["reviews"])


def test_transfer_renames_the_mailbox_and_keeps_the_old_address(mail_config: Path, backend, capsys) -> None:
    assert run(mail_config, capsys, "apply", "--now", DAY_ONE)[0] == 0
    hr = mail_config.parent / "employees.csv"
    hr.write_text(hr.read_text(encoding="utf-8").replace("100027,徐强,,,SZ,销售部", "100027,徐强,,,GZ,市场部"), encoding="utf-8")
    plan = plan_json(mail_config, capsys, DAY_ONE)
    kinds = [a["kind"] for a in plan["actions"] if a["employee_id"] == "100027"]
    # The old department group is left first (under the old DN), then the move and the mailbox's new address.
    assert kinds[:3] == ["remove_member", "move_account", "rename_mailbox"] and "create_alias" in kinds
    code, out, err = run(mail_config, capsys, "apply", "--now", DAY_ONE)
    assert code == 0, out + err
    assert backend.find_mailbox("xuqiang@gz.example.com") is not None
    assert backend.find_mailbox("xuqiang@sz.example.com") is None
    old = backend.read_snapshot(domains(backend)).alias("xuqiang@sz.example.com")
    assert old is not None and old.recipients == ("xuqiang@gz.example.com",)
    assert plan_json(mail_config, capsys, DAY_ONE)["actions"] == []


def test_rehire_restores_the_mailbox_and_removes_the_forward(mail_config: Path, backend, capsys) -> None:
    assert run(mail_config, capsys, "apply", "--now", DAY_ONE)[0] == 0
    assert run(mail_config, capsys, "apply", "--now", "2027-01-16T09:00")[0] == 0
    hr = mail_config.parent / "employees.csv"
    hr.write_text(hr.read_text(encoding="utf-8").replace("2022-03-01,2027-01-15", "2027-02-01,"), encoding="utf-8")
    code, out, err = run(mail_config, capsys, "apply", "--now", "2027-02-01T09:00")
    assert code == 0, out + err
    box = backend.find_mailbox("machao@sz.example.com")
    assert box is not None and box.is_active and box.forward_to in ((), ("machao@sz.example.com",))
    assert plan_json(mail_config, capsys, "2027-02-01T09:00")["actions"] == []


def test_a_half_made_person_is_completed_and_an_existing_mailbox_is_adopted(mail_config: Path, backend, capsys) -> None:
    backend.ensure_domains(domains(backend))
    backend.create_mailbox("simaguang@example.com", "司马光", 100, "Pre-existing-1")  # adopted by address
    plan = plan_json(mail_config, capsys, DAY_ONE)
    kinds = [(a["kind"], a["employee_id"]) for a in plan["actions"]]
    assert ("create_mailbox", "100001") not in kinds
    assert ("update_mailbox", "100001") in kinds  # adopted; the title's quota rule and the display name apply
    assert run(mail_config, capsys, "apply", "--now", DAY_ONE)[0] == 0
    assert backend.find_mailbox("simaguang@example.com").quota_mb == 5120
    backend.delete_mailbox("lina@example.com")  # as if the mailbox step had failed
    plan = plan_json(mail_config, capsys, DAY_ONE)
    assert [(a["kind"], a["employee_id"]) for a in plan["actions"]] == [("create_mailbox", "100010")]
    assert "completed" in next(a["reason"] for a in plan["actions"] if a["kind"] == "create_mailbox")
    assert run(mail_config, capsys, "apply", "--now", DAY_ONE)[0] == 0
    assert plan_json(mail_config, capsys, DAY_ONE)["actions"] == []


def test_check_reports_the_mail_backend(mail_config: Path, capsys) -> None:
    code, out, err = run(mail_config, capsys, "check")
    assert code == 0, out + err
    assert "mail" in out and "aliases" in out


class OutageProxy:
    """In front of Modoboa: for `seconds` after the `after`-th write, every request gets 429
    (Retry-After: 1) or 503 in turn, then all is well again.  Counts what reached Modoboa."""

    def __init__(self, upstream: str, *, after: int, seconds: float) -> None:
        from tests.test_mail_modoboa import FaultProxy

        outer = self

        class Windowed(FaultProxy):
            def _handle(self, handler):  # type: ignore[no-untyped-def]
                import time

                with outer.lock:
                    if handler.command in ("POST", "PATCH", "PUT", "DELETE"):
                        outer.writes_seen += 1
                        if outer.writes_seen == outer.after:
                            outer.window_until = time.monotonic() + outer.seconds
                    failing = time.monotonic() < outer.window_until
                    if failing:
                        outer.faults += 1
                if failing:
                    length = int(handler.headers.get("Content-Length") or 0)
                    if length:
                        handler.rfile.read(length)
                    status, headers = ((429, {"Retry-After": "1"}) if outer.faults % 2 else (503, {}))
                    self._reply(handler, status, {**headers, "Content-Type": "application/json"}, b'{"detail": "outage"}')
                    return
                super()._handle(handler)

        import threading

        self.lock = threading.Lock()
        self.after, self.seconds = after, seconds
        self.writes_seen, self.faults, self.window_until = 0, 0, 0.0
        self.proxy = Windowed(upstream, budget=5000)

    def __enter__(self):
        self.proxy.__enter__()
        return self

    def __exit__(self, *exc):
        self.proxy.__exit__(*exc)


def test_an_outage_of_429_and_503_is_ridden_out_without_losing_or_repeating_a_write(
    config: Path, modoboa: ModoboaInstance, backend, capsys
) -> None:
    with OutageProxy(modoboa.url, after=20, seconds=2.5) as outage:
        text = config.read_text(encoding="utf-8") + (
            f'\n[mail]\nurl = "{outage.proxy.url}"\ntoken = "{modoboa.token}"\n'
            "max_writes_per_second = 1000\nmax_requests_per_minute = 1000000\narchive_before_delete = false\n"
        )
        config.write_text(text, encoding="utf-8")
        code, out, err = run(config, capsys, "apply", "--now", DAY_ONE)
        assert code == 0, out + err
        assert outage.faults >= 3  # the outage happened in the middle of the cycle
        created = [p for m, p, _ in outage.proxy.forwarded if m == "POST" and p == "/api/v2/accounts/"]
        assert len(created) == 46  # every mailbox created exactly once
        assert plan_json(config, capsys, DAY_ONE)["actions"] == []
    code, out, _ = run(config, capsys, "log", "--format", "json")
    applied = [(e["kind"], e["employee_id"], e["target"]) for e in json.loads(out) if e["status"] == "applied"]
    assert len(applied) == len(set(applied))
    assert len(backend.read_snapshot(domains(backend)).mailboxes) == 46


def test_the_mail_token_and_passwords_never_reach_output_logs_or_the_journal(
    mail_config: Path, modoboa: ModoboaInstance, capsys
) -> None:
    from lifecycle.domain.settings import load_settings
    from lifecycle.engine.vault import CredentialVault

    written = []
    for args in (
        ("--log-level", "DEBUG", "--log-json", "apply", "--now", DAY_ONE),
        ("--log-level", "DEBUG", "plan", "--now", "2027-01-16T09:00", "--format", "json"),
        ("--log-level", "DEBUG", "--log-json", "apply", "--now", "2027-01-16T09:00"),
        ("check",),
        ("log", "--format", "json"),
    ):
        _code, out, err = run(mail_config, capsys, *args)
        written.append(out + err)
    settings = load_settings(mail_config)
    vault = CredentialVault(settings.accounts.initial_password_dir, 16)
    secrets_ = [modoboa.token] + [vault.read_password(p.stem, p.parent.name) for p in settings.accounts.initial_password_dir.glob("*/*.txt")]
    assert len(secrets_) == 47 and all(secrets_)
    text = "\n".join(written)
    db = b"".join(p.read_bytes() for p in mail_config.parent.glob("state.db*"))
    for secret in secrets_:
        assert secret not in text and secret.encode() not in db


def test_explain_includes_the_mailbox(mail_config: Path, capsys) -> None:
    assert run(mail_config, capsys, "apply", "--now", DAY_ONE)[0] == 0
    code, out, _ = run(mail_config, capsys, "explain", LEAVER, "--now", "2027-01-16T09:00")
    assert code == 0 and "suspend_mailbox machao@sz.example.com" in out and "forward_mail" in out


LEAVER_ROW = "100028,马超,,,SZ,销售部,销售代表,100024,在职,2022-03-01,2027-01-15"


def deleted_leaver(config: Path, modoboa: ModoboaInstance, capsys) -> None:
    from tests.test_mail_modoboa import postfix_resolves

    apply(config, capsys, DAY_ONE)
    apply(config, capsys, "2027-01-16T09:00")
    apply(config, capsys, "2027-04-17T09:00")  # retention over: deleted, the address forwards to the manager
    assert postfix_resolves(modoboa.db_path, ADDRESS) == [MANAGER]


def test_a_leaver_rehired_at_another_company_leaves_no_forward_to_the_old_manager(
    mail_config: Path, modoboa: ModoboaInstance, backend, capsys
) -> None:
    """The leaver's forward to the manager goes with the renamed mailbox (and is removed with the rehire): the old
    address gets the expiring transfer alias instead of forwarding to the manager for ever."""
    from tests.test_mail_modoboa import postfix_resolves

    apply(mail_config, capsys, DAY_ONE)
    apply(mail_config, capsys, "2027-01-16T09:00")
    assert postfix_resolves(modoboa.db_path, ADDRESS) == [MANAGER]
    edit_hr(mail_config, LEAVER_ROW, "100028,马超,,,GZ,市场部,销售代表,100036,在职,2027-02-01,")
    apply(mail_config, capsys, "2027-02-01T09:00")
    new_address = "machao@gz.example.com"
    assert postfix_resolves(modoboa.db_path, new_address) == [new_address]
    assert postfix_resolves(modoboa.db_path, ADDRESS) == [new_address]
    old = backend.read_snapshot(domains(backend)).alias(ADDRESS)
    assert old is not None and old.expires is not None and old.managed  # the transfer alias, for alias_keep_days
    assert plan_json(mail_config, capsys, "2027-02-01T09:00")["actions"] == []


def test_a_deleted_leaver_rehired_at_another_company_the_departed_address_stops_forwarding(
    mail_config: Path, modoboa: ModoboaInstance, backend, capsys
) -> None:
    from tests.test_mail_modoboa import postfix_resolves

    deleted_leaver(mail_config, modoboa, capsys)
    edit_hr(mail_config, LEAVER_ROW, "100028,马超,,,GZ,市场部,销售代表,100036,在职,2027-05-10,")
    plan = plan_json(mail_config, capsys, "2027-05-10T09:00")
    removals = [(a["target"], a["rule"]) for a in plan["actions"] if a["kind"] == "delete_alias"]
    assert removals == [(ADDRESS, "rehire")]
    apply(mail_config, capsys, "2027-05-10T09:00")
    assert postfix_resolves(modoboa.db_path, ADDRESS) == []
    assert postfix_resolves(modoboa.db_path, "machao@gz.example.com") == ["machao@gz.example.com"]
    assert plan_json(mail_config, capsys, "2027-05-10T09:00")["actions"] == []


def test_the_departed_address_follows_hr_s_manager_and_leaver_mail(
    mail_config: Path, modoboa: ModoboaInstance, backend, capsys
) -> None:
    from tests.test_mail_modoboa import postfix_resolves

    deleted_leaver(mail_config, modoboa, capsys)
    edit_hr(mail_config, LEAVER_ROW, LEAVER_ROW.replace(",100024,", ",100025,"))  # HR names another manager
    plan = plan_json(mail_config, capsys, "2027-04-18T09:00")
    mine = [(a["kind"], a["params"]["recipients"]) for a in plan["actions"] if a["employee_id"] == LEAVER]
    assert [kind for kind, _ in mine] == ["delete_alias", "create_alias"] and mine[0][1] == [MANAGER]
    new_manager = mine[1][1][0]
    assert new_manager != MANAGER
    apply(mail_config, capsys, "2027-04-18T09:00")
    assert postfix_resolves(modoboa.db_path, ADDRESS) == [new_manager]
    assert plan_json(mail_config, capsys, "2027-04-18T09:00")["actions"] == []

    text = mail_config.read_text(encoding="utf-8")
    mail_config.write_text(text.replace("archive_before_delete = false\n",
                                        "archive_before_delete = false\nleaver_mail = \"reject\"\n"), encoding="utf-8")
    apply(mail_config, capsys, "2027-04-19T09:00")
    assert postfix_resolves(modoboa.db_path, ADDRESS) == []  # nobody reads the departed address's mail
    assert plan_json(mail_config, capsys, "2027-04-19T09:00")["actions"] == []
