"""The CLI end to end against a real slapd, with the shipped sample HR export."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from connectors.ldap import LdapDirectory
from devservers.demo import BASE_DN
from devservers.slapd import Slapd
from lifecycle.cli.main import main
from lifecycle.domain.settings import load_settings
from lifecycle.engine.vault import CredentialVault
from tests.conftest import SLAPD_TRANSACTION_CRASH

DAY_ONE = "2026-12-01T09:00"
LEAVER = "100028"  # 马超: termination date 2027-01-15


def run(config: Path, capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out, err


def directory(config: Path) -> LdapDirectory:
    settings = load_settings(config)
    return LdapDirectory(settings.directory, settings.companies)


def test_sample_export_plan_apply_leave_and_delete(config: Path, capsys) -> None:
    code, out, _ = run(config, capsys, "plan", "--now", DAY_ONE, "--format", "json")
    assert code == 2
    plan = json.loads(out)
    # New groups are made with all their members in one create_group (no add_member per member).
    assert {a["kind"] for a in plan["actions"]} == {"create_account", "create_group"}
    groups = [a for a in plan["actions"] if a["kind"] == "create_group"]
    assert all(g["params"]["members"][0] == g["params"]["first_member"] for g in groups)
    assert sum(len(g["params"]["members"]) for g in groups) > len(groups)
    assert all(set(a) >= {"kind", "employee_id", "company", "target", "changes", "rule", "reason"} for a in plan["actions"])
    assert sorted((r["row"], r["employee_id"], r["field"]) for r in plan["rejected"]) == [
        (50, "100049", "termination_date"),
        (51, "100050", "company"),
    ]
    assert all(a["employee_id"] not in ("100049", "100050") for a in plan["actions"])

    code, out, _ = run(config, capsys, "apply", "--now", DAY_ONE)
    assert code == 0, out
    with directory(config) as ldap:
        snapshot = ldap.read_snapshot()
    by_number = {e.employee_number: e for e in snapshot.entries}
    assert len(by_number) == 46  # 48 accepted rows: one left before, one joins later
    assert (by_number["100004"].uid, by_number["100019"].uid, by_number["100035"].uid) == ("zhangwei", "zhangwei2", "zhangwei3")
    assert by_number["100019"].mail == "zhangwei2@sz.example.com"
    assert by_number["100017"].uid == "zengwei"
    assert by_number["100018"].uid == "shanxiongxin"
    assert by_number["100003"].uid == "ouyangnana"
    assert by_number["100005"].uid == "lvxiaoyan"
    assert by_number["100019"].manager == by_number["100018"].dn
    assert "100014" not in by_number and "100029" not in by_number
    sales = next(g for g in snapshot.groups if (g.company, g.department) == ("SZ", "销售部"))
    assert by_number[LEAVER].dn in sales.members

    code, out, _ = run(config, capsys, "plan", "--now", DAY_ONE)
    assert code == 0, out

    settings = load_settings(config)
    password = CredentialVault(settings.accounts.initial_password_dir, 16).read_password(LEAVER)
    assert password
    leaver_dn = by_number[LEAVER].dn
    with directory(config) as ldap:
        assert ldap.bind_as(leaver_dn, password)

    assert run(config, capsys, "plan", "--now", "2027-01-15T00:30")[0] == 2  # the day itself, company time
    code, out, _ = run(config, capsys, "apply", "--now", "2027-01-16T09:00")
    assert code == 0
    with directory(config) as ldap:
        entry = ldap.read_person(leaver_dn)
        assert entry is not None and entry.locked
        assert not ldap.bind_as(leaver_dn, password)
        sales = next(g for g in ldap.read_snapshot().groups if (g.company, g.department) == ("SZ", "销售部"))
        assert leaver_dn not in sales.members

    code, out, _ = run(config, capsys, "plan", "--now", "2027-04-16T08:59", "--format", "json")
    assert all(a["kind"] != "delete_account" for a in json.loads(out)["actions"])
    assert run(config, capsys, "apply", "--now", "2027-04-16T09:00")[0] == 0
    with directory(config) as ldap:
        assert ldap.read_person(leaver_dn) is None

    code, out, _ = run(config, capsys, "log", "--employee", LEAVER, "--format", "json")
    entries = json.loads(out)
    assert [(e["kind"], e["status"]) for e in entries if e["kind"].endswith("account")] == [
        ("create_account", "applied"),
        ("suspend_account", "applied"),
        ("delete_account", "applied"),
    ]
    assert all(e["rule"] and e["reason"] and e["actor"] for e in entries)
    code, out, _ = run(config, capsys, "log", "--format", "json")
    rejected = [e for e in json.loads(out) if e["status"] == "rejected"]
    assert sorted(e["employee_id"] for e in rejected) == ["100049", "100050"]  # logged once, not per cycle
    code, out, _ = run(config, capsys, "log", "--company", "GZ", "--format", "json")
    assert json.loads(out) and all(e["company"] == "GZ" for e in json.loads(out))


def count_transactions(monkeypatch) -> list[int]:
    """The number of people created inside each LDAP transaction that was committed, from now on."""
    sizes: list[int] = []
    inside: list[int] = []
    transaction, create_person = LdapDirectory.transaction, LdapDirectory.create_person

    @contextlib.contextmanager
    def counted(self):
        inside.append(0)
        try:
            with transaction(self):
                yield
            sizes.append(inside[-1])
        finally:
            inside.pop()

    def create(self, *args, **kwargs):
        if inside:
            inside[-1] += 1
        return create_person(self, *args, **kwargs)

    monkeypatch.setattr(LdapDirectory, "transaction", counted)
    monkeypatch.setattr(LdapDirectory, "create_person", create)
    return sizes


@SLAPD_TRANSACTION_CRASH
def test_apply_with_transactions_writes_this_run_in_ldap_transactions_only(config: Path, capsys, monkeypatch) -> None:
    sizes = count_transactions(monkeypatch)
    code, _out, err = run(config, capsys, "apply", "--now", DAY_ONE, "--transactions")
    assert code == 0, err
    assert "watch the run" in err  # the admin is told what the flag risks
    # All 46 joiners created in transactions of 2, 4, 8, ... writes.
    assert sum(sizes) == 46 and sizes[:3] == [2, 4, 8]
    with directory(config) as ldap:
        assert len([e for e in ldap.read_snapshot().entries if e.employee_number]) == 46
    assert load_settings(config).directory.transactions is False  # the config is not changed

    # The next run, without the flag: the leaver's suspension and nothing in a transaction.
    sizes.clear()
    code, _out, err = run(config, capsys, "apply", "--now", "2027-01-16T09:00")
    assert code == 0, err
    assert sizes == [] and "watch the run" not in err
    with directory(config) as ldap:
        assert ldap.find_by_employee_number(LEAVER).locked


def test_saved_plan_is_applied_exactly_or_refused_when_stale(config: Path, tmp_path: Path, capsys) -> None:
    saved = tmp_path / "plan.json"
    assert run(config, capsys, "plan", "--now", DAY_ONE, "--out", str(saved))[0] == 2
    hr_path = tmp_path / "employees.csv"
    original = hr_path.read_text(encoding="utf-8")
    hr_path.write_text(original + "100099,钱多多,,,HQ,财务部,会计,,在职,2024-01-01,\n", encoding="utf-8")
    code, _, err = run(config, capsys, "apply", "--plan", str(saved))
    assert code == 1 and "refused" in err and "100099" in err
    with directory(config) as ldap:
        assert ldap.read_snapshot().entries == ()  # nothing applied
    hr_path.write_text(original, encoding="utf-8")
    code, out, _ = run(config, capsys, "apply", "--plan", str(saved))
    assert code == 0, out
    assert run(config, capsys, "plan", "--now", DAY_ONE)[0] == 0


def test_explain_tells_state_history_and_what_comes_next(config: Path, capsys) -> None:
    run(config, capsys, "apply", "--now", DAY_ONE)
    code, out, _ = run(config, capsys, "explain", LEAVER, "--now", DAY_ONE)
    assert code == 0
    assert "uid=machao" in out and "2027-01-15" in out and "deleted" in out and "create_account" in out
    code, out, _ = run(config, capsys, "explain", "100029", "--now", DAY_ONE)
    assert "2027-02-01" in out and "created" in out
    code, out, _ = run(config, capsys, "explain", "100049", "--now", DAY_ONE)
    assert "rejected" in out and "row 50" in out


def test_existing_entries_are_adopted_and_unknown_ones_left_alone(config: Path, demo_slapd: Slapd, capsys) -> None:
    hq = f"ou=hq,ou=people,{BASE_DN}"
    demo_slapd.load_ldif(
        f"""dn: uid=sima,{hq}
objectClass: inetOrgPerson
uid: sima
cn: 司马光
sn: 司马
mail: guang.sima@example.com
employeeNumber: 100001
title: 老板

dn: uid=stranger,{hq}
objectClass: inetOrgPerson
uid: stranger
cn: 陌生人
sn: 陌

dn: uid=wfang,{hq}
objectClass: inetOrgPerson
uid: wfang
cn: 王芳
sn: 王
"""
    )
    _code, out, _ = run(config, capsys, "plan", "--now", DAY_ONE, "--format", "json")
    plan = json.loads(out)
    sima = [a for a in plan["actions"] if a["employee_id"] == "100001"]
    assert [a["kind"] for a in sima][:2] == ["adopt_account", "update_account"]
    assert sima[1]["changes"]["title"] == ["老板", "总裁"]
    assert "uid" not in sima[1]["changes"] and "mail" not in sima[1]["changes"]
    assert not any("stranger" in a["target"] or "stranger" in json.dumps(a["params"]) for a in plan["actions"])
    assert any(r["kind"] == "unmatched_entry" and "stranger" in r["target"] for r in plan["reviews"])
    assert run(config, capsys, "apply", "--now", DAY_ONE)[0] == 0
    with directory(config) as ldap:
        entry = ldap.find_by_employee_number("100001")
        assert entry is not None and entry.uid == "sima" and entry.mail == "guang.sima@example.com" and entry.title == "总裁"
        stranger = ldap.read_person(f"uid=stranger,{hq}")
        assert stranger is not None and stranger.employee_number == ""
    assert run(config, capsys, "plan", "--now", DAY_ONE)[0] == 0


def test_check_names_problems_without_leaking_the_password(config: Path, demo_slapd: Slapd, capsys) -> None:
    assert run(config, capsys, "check")[0] == 0
    demo_slapd.stop()
    code, out, err = run(config, capsys, "check")
    assert code == 1 and "directory" in err
    assert demo_slapd.admin_password not in out + err
    code, out, err = run(config, capsys, "plan")
    assert code == 1 and "directory" in err and demo_slapd.admin_password not in out + err


def test_bad_config_fails_with_the_key_name(tmp_path: Path, config: Path, capsys) -> None:
    text = config.read_text(encoding="utf-8").replace("[policy]\n", "[policy]\nretension_days = 30\n")
    bad = tmp_path / "bad.toml"
    bad.write_text(text, encoding="utf-8")
    code, _, err = run(bad, capsys, "plan")
    assert code == 1 and "policy.retension_days: unknown key" in err and "retention_days" in err


def test_environment_overrides_the_file(config: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("LIFECYCLE_DIRECTORY__URL", "ldap://127.0.0.1:9")
    code, _, err = run(config, capsys, "plan")
    assert code == 1 and "127.0.0.1:9" in err


def test_no_secret_reaches_output_logs_or_the_action_log(config: Path, tmp_path: Path, demo_slapd: Slapd, capsys) -> None:
    captured = []
    for args in (
        ("--log-level", "DEBUG", "plan", "--now", DAY_ONE, "--format", "json", "--out", str(tmp_path / "p.json")),
        ("--log-level", "DEBUG", "--log-json", "apply", "--now", DAY_ONE),
        ("--log-level", "DEBUG", "apply", "--now", "2027-01-16T09:00"),
        ("log", "--format", "json"),
        ("explain", LEAVER),
    ):
        _code, out, err = run(config, capsys, *args)
        captured.append(out + err)
    settings = load_settings(config)
    vault = CredentialVault(settings.accounts.initial_password_dir, 16)
    secrets_ = [demo_slapd.admin_password]
    secrets_ += [vault.read_password(p.stem, p.parent.name) for p in settings.accounts.initial_password_dir.glob("*/*.txt")]
    assert len(secrets_) > 40 and all(secrets_)
    written = "\n".join(captured)
    written += (tmp_path / "p.json").read_text(encoding="utf-8")
    db = (tmp_path / "state.db").read_bytes()
    for path in tmp_path.glob("state.db*"):
        db += path.read_bytes()
    for secret in secrets_:
        assert secret not in written
        assert secret.encode() not in db
    modes = {p.stat().st_mode & 0o777 for p in settings.accounts.initial_password_dir.glob("*/*.txt")}
    assert modes == {0o600}


def test_check_says_whether_notices_are_sent_and_what_the_outbox_holds(tmp_path: Path, config: Path, capsys) -> None:
    from devservers.smtp import SmtpServer

    code, out, _ = run(config, capsys, "check")
    assert code == 0 and "notify: not configured: nothing is sent" in out
    with SmtpServer() as server:
        notifying = tmp_path / "notify.toml"
        notifying.write_text(config.read_text(encoding="utf-8")
                             + f'\n[notify]\nsmtp_url = "{server.url}"\nsender = "IT <it@example.com>"\n', encoding="utf-8")
        assert run(notifying, capsys, "apply", "--now", DAY_ONE)[0] == 0  # the store and its (empty) outbox
        code, out, _ = run(notifying, capsys, "check")
        assert code == 0 and f"notify: ok (SMTP relay {server.url}, from IT <it@example.com>)" in out
        assert "outbox: 0 waiting, 0 failed, 0 unconfirmed" in out
        server.stop()
        code, out, err = run(notifying, capsys, "check")
    assert code == 1 and "notify:" in err and server.url.removeprefix("smtp://") in err
