"""Admin decisions through the CLI against a real slapd: held actions, approvals, legal holds, feed baseline."""

from __future__ import annotations

import json
from pathlib import Path

from connectors.ldap import LdapDirectory
from lifecycle.cli.main import main
from lifecycle.domain.settings import load_settings

DAY_ONE = "2026-12-01T09:00"


def run(config: Path, capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out, err


def with_settings(config: Path, text: str) -> Path:
    config.write_text(config.read_text(encoding="utf-8").replace("[guards]\n", "[guards]\n" + text), encoding="utf-8")
    return config


def locked(config: Path, employee_id: str) -> bool:
    settings = load_settings(config)
    with LdapDirectory(settings.directory, settings.companies) as ldap:
        entry = ldap.find_by_employee_number(employee_id)
    assert entry is not None
    return entry.locked


def drop_rows(config: Path, ids: set[str]) -> None:
    path = config.parent / "employees.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(line for line in lines if line.split(",", 1)[0] not in ids), encoding="utf-8")


SZ_LEAVING = {"100019", "100020", "100021", "100022", "100023", "100024", "100025"}  # 7 of SZ's 16 rows


def test_a_broken_feed_is_frozen_then_accepted_then_mass_suspension_is_held_until_approved(config: Path, capsys) -> None:
    config.write_text(config.read_text(encoding="utf-8").replace("[hr]\n", '[hr]\nabsent_means = "terminated"\nabsent_days = 1\n'),
                      encoding="utf-8")
    assert run(config, capsys, "apply", "--now", DAY_ONE)[0] == 0
    drop_rows(config, SZ_LEAVING)  # 47 % of SZ vanishes from the export
    assert run(config, capsys, "apply", "--now", "2026-12-02T09:00")[0] == 0  # absences recorded
    code, out, _ = run(config, capsys, "plan", "--now", "2026-12-04T09:00", "--format", "json")
    plan = json.loads(out)
    assert "SZ" in plan["frozen"] and "HQ" not in plan["frozen"]
    assert not any(a["kind"] == "suspend_account" for a in plan["actions"])
    assert {h["employee_id"] for h in plan["held"] if h["kind"] == "suspend_account"} == SZ_LEAVING
    assert run(config, capsys, "apply", "--now", "2026-12-04T09:00")[0] == 0
    assert not locked(config, "100024")

    code, out, _ = run(config, capsys, "accept-feed", "SZ")
    assert code == 0 and "SZ: baseline 16 -> 9 rows" in out
    # The drop is accepted, but 7 suspensions in a 16-account company exceed the guard: held for approval.
    assert run(config, capsys, "apply", "--now", "2026-12-05T09:00")[0] == 0
    code, out, _ = run(config, capsys, "held", "--format", "json")
    held = json.loads(out)
    assert {h["employee_id"] for h in held} == SZ_LEAVING and all(h["status"] == "held" for h in held)
    assert not locked(config, "100024")
    code, out, _ = run(config, capsys, "held")
    assert "exceed the limit of 5" in out

    ids = [str(h["id"]) for h in held]
    code, out, _ = run(config, capsys, "reject", ids[0])
    assert code == 0 and "rejected" in out
    code, out, _ = run(config, capsys, "approve", *ids[1:])
    assert code == 0 and out.count("approved") == 6
    assert run(config, capsys, "apply", "--now", "2026-12-05T10:00")[0] == 0
    rejected_id = held[0]["employee_id"]
    assert not locked(config, rejected_id)
    assert all(locked(config, h["employee_id"]) for h in held[1:])
    code, out, _ = run(config, capsys, "held", "--format", "json")
    assert json.loads(out) == []
    code, out, _ = run(config, capsys, "log", "--format", "json")
    decisions = [e for e in json.loads(out) if e["kind"] in ("approve", "reject", "accept_feed")]
    assert len(decisions) == 8 and all(e["actor"] for e in decisions)


def test_legal_hold_stops_deletion_until_released(config: Path, capsys) -> None:
    assert run(config, capsys, "apply", "--now", DAY_ONE)[0] == 0
    assert run(config, capsys, "apply", "--now", "2027-01-16T09:00")[0] == 0  # 马超 (100028) suspended
    code, out, _ = run(config, capsys, "hold", "100028", "--reason", "litigation 2027-03")
    assert code == 0 and "legal hold" in out
    assert run(config, capsys, "hold", "100028", "--reason", "again")[0] == 1
    code, out, _ = run(config, capsys, "plan", "--now", "2027-06-01T09:00", "--format", "json")
    assert all(a["kind"] != "delete_account" for a in json.loads(out)["actions"])
    code, out, _ = run(config, capsys, "explain", "100028", "--now", "2027-06-01T09:00")
    assert "legal hold" in out
    assert run(config, capsys, "apply", "--now", "2027-06-01T09:00")[0] == 0
    assert locked(config, "100028")  # still there, still disabled
    code, out, _ = run(config, capsys, "release", "100028", "--reason", "case closed")
    assert code == 0
    code, out, _ = run(config, capsys, "plan", "--now", "2027-06-01T09:00", "--format", "json")
    assert [a["kind"] for a in json.loads(out)["actions"] if a["employee_id"] == "100028"] == ["delete_account"]
    code, out, _ = run(config, capsys, "log", "--employee", "100028", "--format", "json")
    assert [e["kind"] for e in json.loads(out) if e["rule"] == "admin"] == ["hold", "release"]


def test_approve_deletions_makes_every_deletion_wait(config: Path, capsys) -> None:
    with_settings(config, "approve_deletions = true\n")
    assert run(config, capsys, "apply", "--now", DAY_ONE)[0] == 0
    assert run(config, capsys, "apply", "--now", "2027-01-16T09:00")[0] == 0
    assert run(config, capsys, "apply", "--now", "2027-05-01T09:00")[0] == 0
    assert locked(config, "100028")
    held = json.loads(run(config, capsys, "held", "--format", "json")[1])
    assert [(h["kind"], h["employee_id"]) for h in held] == [("delete_account", "100028")]
    assert run(config, capsys, "approve", str(held[0]["id"]))[0] == 0
    assert run(config, capsys, "apply", "--now", "2027-05-01T10:00")[0] == 0
    settings = load_settings(config)
    with LdapDirectory(settings.directory, settings.companies) as ldap:
        assert ldap.find_by_employee_number("100028") is None
