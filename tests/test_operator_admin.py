"""Admin commands tell the operator the truth: unknown ids, frozen feeds, what is held, in local time."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from connectors.ldap import LdapDirectory
from devservers.slapd import Slapd
from lifecycle.cli.main import main
from lifecycle.domain.settings import load_settings
from lifecycle.engine.cycle import plan_cycle
from lifecycle.journal.store import Journal

DAY_ONE = "2026-12-01T09:00"
UNKNOWN = "999999"
SZ_LEAVING = {"100019", "100020", "100021", "100022", "100023", "100024", "100025"}  # 7 of SZ's 16 rows


def run(config: Path, capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out, err


def log_json(config: Path, capsys, *args: str) -> list[dict]:
    return json.loads(run(config, capsys, "log", "--format", "json", *args)[1])


# -- unknown employee ids -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("hold", UNKNOWN, "--reason", "x"),
        ("release", UNKNOWN),
        ("reinstate", UNKNOWN),
        ("explain", UNKNOWN),
        ("adopt", UNKNOWN, "wfang"),
    ],
    ids=lambda args: args[0],
)
def test_a_command_naming_an_unknown_employee_refuses_it(config: Path, capsys, args: tuple[str, ...]) -> None:
    assert run(config, capsys, "apply", "--now", DAY_ONE)[0] == 0
    before = log_json(config, capsys)
    code, out, err = run(config, capsys, *args)
    assert code == 1
    assert err == f"lifecycle: employee {UNKNOWN} is not in the HR export, the state store or the directory; check the id\n"
    assert "legal hold" not in out
    assert log_json(config, capsys) == before  # nothing recorded
    settings = load_settings(config)
    journal = Journal(settings.state.url)
    try:
        assert UNKNOWN not in journal.load_state().holds and journal.person(UNKNOWN) is None
    finally:
        journal.close()


def test_an_id_known_to_any_one_source_is_accepted(config: Path, demo_slapd: Slapd, capsys) -> None:
    assert run(config, capsys, "apply", "--now", DAY_ONE)[0] == 0
    demo_slapd.load_ldif(
        """dn: uid=outsider,ou=hq,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: outsider
cn: 外人
sn: 外
employeeNumber: 300001
"""
    )
    for employee_id, where in (("100028", "state"), ("100029", "HR only: joins in 2027"),
                               ("100049", "a rejected HR row"), ("300001", "the directory only")):
        code, out, err = run(config, capsys, "hold", employee_id, "--reason", "litigation")
        assert code == 0 and "on legal hold" in out, (where, err)
    code, out, _ = run(config, capsys, "release", "300001")
    assert code == 0 and "hold released" in out


# -- a frozen feed: `plan` and `held` agree ---------------------------------------------------------


def frozen_sz(config: Path, capsys) -> None:
    """SZ's export loses 7 of 16 rows: the day their absence becomes departures, SZ's feed is frozen."""
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[hr]\n", '[hr]\nabsent_means = "terminated"\nabsent_days = 1\n'), encoding="utf-8")
    assert run(config, capsys, "apply", "--now", DAY_ONE)[0] == 0
    path = config.parent / "employees.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(line for line in lines if line.split(",", 1)[0] not in SZ_LEAVING), encoding="utf-8")
    assert run(config, capsys, "apply", "--now", "2026-12-02T09:00")[0] == 0  # absences recorded


def test_held_lists_what_a_frozen_feed_holds_and_how_to_release_it(config: Path, capsys) -> None:
    frozen_sz(config, capsys)
    code, out, _ = run(config, capsys, "plan", "--now", "2026-12-04T09:00")
    assert "7 frozen with the HR feed" in out and "`lifecycle accept-feed SZ`" in out
    assert run(config, capsys, "apply", "--now", "2026-12-04T09:00")[0] == 0

    code, out, _ = run(config, capsys, "held")
    assert code == 0
    assert "Frozen with the HR feed of SZ (7)" in out and "`lifecycle accept-feed SZ`" in out
    assert "SZ's HR rows dropped from 16 to 9" in out
    held = json.loads(run(config, capsys, "held", "--format", "json")[1])
    assert {h["employee_id"] for h in held} == SZ_LEAVING and {h["status"] for h in held} == {"frozen"}
    code, out, _ = run(config, capsys, "approve", str(held[0]["id"]))
    assert code == 1 and "not approvable" in out and "`lifecycle accept-feed SZ`" in out

    # The drop is real: accepted.  The same actions now wait for an approval (the outcome guard), same ids.
    assert run(config, capsys, "accept-feed", "SZ")[0] == 0
    assert run(config, capsys, "apply", "--now", "2026-12-05T09:00")[0] == 0
    after = json.loads(run(config, capsys, "held", "--format", "json")[1])
    assert {(h["id"], h["status"]) for h in after} == {(h["id"], "held") for h in held}
    code, out, _ = run(config, capsys, "held")
    assert "Frozen" not in out and "Waiting for an approval (7)" in out


def test_held_counts_say_what_lifecycle_held_lists_and_what_depends_on_them(config: Path, capsys) -> None:
    from lifecycle.engine.render import summarize_held

    frozen_sz(config, capsys)
    assert run(config, capsys, "accept-feed", "SZ")[0] == 0
    settings = load_settings(config)
    journal = Journal(settings.state.url)
    try:
        with LdapDirectory(settings.directory, settings.companies) as ldap:
            plan = plan_cycle(settings, datetime(2026, 12, 5, 9, tzinfo=ZoneInfo("Asia/Shanghai")), ldap, journal)
    finally:
        journal.close()
    dependent = [h for h in plan.held if not h.approvable]
    assert len(plan.held) == 7 + len(dependent) and dependent  # the suspensions and what follows them (their groups)
    assert summarize_held(plan).fields() == {"held": 7, "held_for_approval": 7, "held_frozen": 0, "held_rejected": 0,
                                             "held_dependent": len(dependent), "held_undecided": 0}

    code, out, _ = run(config, capsys, "plan", "--now", "2026-12-05T09:00")
    assert code == 0
    assert f"; 7 held (+{len(dependent)} that depend on them);" in out.splitlines()[1]
    assert run(config, capsys, "apply", "--now", "2026-12-05T09:00")[0] == 0
    assert len(json.loads(run(config, capsys, "held", "--format", "json")[1])) == 7


# -- times in the company's time zone -------------------------------------------------------------


def test_log_prints_times_in_the_company_time_zone_with_the_offset(config: Path, capsys) -> None:
    assert run(config, capsys, "apply", "--now", DAY_ONE)[0] == 0
    entries = log_json(config, capsys)
    shanghai = ZoneInfo("Asia/Shanghai")
    first = datetime.fromisoformat(entries[0]["logged_at"])
    code, out, _ = run(config, capsys, "log")
    assert code == 0
    assert out.splitlines()[0].startswith(first.astimezone(shanghai).isoformat(sep=" ", timespec="seconds") + "  #")
    assert "+08:00" in out.splitlines()[0]
    # --since is read in the same zone: the printed time of an entry, given back, starts the log there.
    last = entries[-1]
    since = datetime.fromisoformat(last["logged_at"]).astimezone(shanghai).replace(tzinfo=None).isoformat()
    selected = log_json(config, capsys, "--since", since)
    assert selected and selected[-1]["id"] == last["id"] and all(e["logged_at"] >= last["logged_at"] for e in selected)
    code, out, _ = run(config, capsys, "held")
    assert code == 0
    assert "no actions are held as of the last cycle (" in out and "+08:00)" in out
