"""The creation guard against a real slapd, through the CLI: a renumbered HR feed makes no second account for
anyone until an admin approves; a company's first load is not held."""

from __future__ import annotations

import json
from pathlib import Path

from connectors.ldap import LdapDirectory
from lifecycle.cli.main import main
from lifecycle.domain.settings import load_settings

DAY_ONE, DAY_TWO = "2026-12-01T09:00", "2026-12-02T09:00"


def run(config: Path, capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out, err


def accounts(config: Path) -> dict[str, int]:
    """Entries per company subtree."""
    settings = load_settings(config)
    with LdapDirectory(settings.directory, settings.companies) as ldap:
        entries = ldap.read_snapshot().entries
    return {c.code: sum(1 for e in entries if e.dn.lower().endswith(c.people_dn.lower())) for c in settings.companies}


def renumber(config: Path) -> None:
    """Every employee id (and every manager id) of the export changed: 1000xx becomes 9000xx."""
    path = config.parent / "employees.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text(lines[0] + "".join(line.replace("1000", "9000") for line in lines[1:]), encoding="utf-8")


def test_a_first_load_is_not_held_and_a_renumbered_feed_creates_nothing_until_approved(config: Path, capsys) -> None:
    _, out, _ = run(config, capsys, "plan", "--now", DAY_ONE, "--format", "json")
    first = json.loads(out)
    assert not first["held"] and len([a for a in first["actions"] if a["kind"] == "create_account"]) > 30
    assert run(config, capsys, "apply", "--now", DAY_ONE)[0] == 0
    before = accounts(config)
    assert before["HQ"] > 10 and before["SZ"] > 10

    renumber(config)
    _, out, _ = run(config, capsys, "plan", "--now", DAY_TWO, "--format", "json")
    plan = json.loads(out)
    assert not [a for a in plan["actions"] if a["kind"] in ("create_account", "create_mailbox", "add_member",
                                                            "write_back_hr", "create_group")], plan["actions"]
    creations = [h for h in plan["held"] if h["kind"] == "create_account"]
    assert {h["company"] for h in creations} == {"HQ", "SZ", "GZ"}
    assert all(h["approvable"] and "exceed the limit" in h["held_reason"] for h in creations)
    assert run(config, capsys, "apply", "--now", DAY_TWO)[0] == 0
    assert accounts(config) == before  # nobody got a second account

    code, out, _ = run(config, capsys, "held", "--format", "json")
    held = [h for h in json.loads(out) if h["kind"] == "create_account"]
    assert {h["company"] for h in held} == {"HQ", "SZ", "GZ"} and all(h["status"] == "held" for h in held)
    code, out, _ = run(config, capsys, "held")
    assert "renumbered HR feed" in out
    gz = [str(h["id"]) for h in held if h["company"] == "GZ"]
    code, out, _ = run(config, capsys, "approve", *gz)
    assert code == 0 and out.count("approved") == len(gz)
    assert run(config, capsys, "apply", "--now", "2026-12-02T10:00")[0] == 0
    after = accounts(config)
    assert after["GZ"] == before["GZ"] + len(gz)  # the approved ones only
    assert (after["HQ"], after["SZ"]) == (before["HQ"], before["SZ"])
