"""Adoption never gives one person two accounts: the issue's three cases against a real slapd, through the CLI.

The demo's HR export has no email column.  Before the first load the directory already holds:
- `uid=yjia` in GZ (cn 乐嘉, mail yuejia@gz.example.com, no employeeNumber): employee 100032;
- `uid=hexue` outside the companies' subtrees, with employee 100036's number;
- `uid=gaoming` in GZ, an `account`/`posixAccount` login without inetOrgPerson: employee 100037.
Each joiner is held as "possible existing account" until an admin adopts an entry or asks for a new one.
"""

from __future__ import annotations

import json
from pathlib import Path

import ldap3

from connectors.ldap import LdapDirectory
from devservers.demo import BASE_DN
from devservers.slapd import Slapd
from lifecycle.cli.main import main
from lifecycle.domain.settings import load_settings

DAY_ONE, DAY_TWO, DAY_THREE = "2026-12-01T09:00", "2026-12-02T09:00", "2026-12-03T09:00"
GZ = f"ou=gz,ou=people,{BASE_DN}"
LEGACY = f"ou=legacy,{BASE_DN}"
YJIA, HEXUE, GAOMING = f"uid=yjia,{GZ}", f"uid=hexue,{LEGACY}", f"uid=gaoming,{GZ}"


def run(config: Path, capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out, err


def plan_of(config: Path, capsys, now: str) -> dict:
    code, out, err = run(config, capsys, "plan", "--now", now, "--format", "json")
    assert code in (0, 2), err
    return json.loads(out)


def connect(slapd: Slapd) -> ldap3.Connection:
    return ldap3.Connection(slapd.url, slapd.admin_dn, slapd.admin_password, auto_bind=True)


def existing_entries(slapd: Slapd) -> None:
    with connect(slapd) as ldap:
        assert ldap.add(YJIA, ["inetOrgPerson"], {"cn": "乐嘉", "sn": "乐", "mail": "yuejia@gz.example.com"}), ldap.result
        assert ldap.add(LEGACY, ["organizationalUnit"], {"ou": "legacy"}), ldap.result
        assert ldap.add(HEXUE, ["inetOrgPerson"], {"cn": "何雪", "sn": "何", "employeeNumber": "100036"}), ldap.result
        assert ldap.add(GAOMING, ["account", "posixAccount"], {
            "cn": "高明", "uidNumber": "5037", "gidNumber": "5000", "homeDirectory": "/home/gaoming"}), ldap.result


def people(config: Path) -> dict[str, list[str]]:
    """employeeNumber -> the DNs of the entries carrying it, anywhere under the base DN, whatever their class."""
    settings = load_settings(config)
    with LdapDirectory(settings.directory, settings.companies) as ldap:
        snapshot = ldap.read_snapshot()
    found: dict[str, list[str]] = {}
    for entry in (*snapshot.entries, *snapshot.outside, *snapshot.other_classes):
        if entry.employee_number:
            found.setdefault(entry.employee_number, []).append(entry.dn)
    return found


def uids(config: Path) -> set[str]:
    settings = load_settings(config)
    with LdapDirectory(settings.directory, settings.companies) as ldap:
        return set(ldap.read_snapshot().taken_uids)


def test_the_three_existing_accounts_are_held_then_adopted_one_account_per_person(
    config: Path, demo_slapd: Slapd, capsys
) -> None:
    existing_entries(demo_slapd)
    plan = plan_of(config, capsys, DAY_ONE)
    possible = {r["employee_id"]: r for r in plan["reviews"] if r["kind"] == "possible_existing_account"}
    assert set(possible) == {"100032", "100036", "100037"}
    assert YJIA in possible["100032"]["target"] and "lifecycle adopt 100032 yjia" in possible["100032"]["fix"]
    assert HEXUE in possible["100036"]["target"] and "employeeNumber 100036" in possible["100036"]["reason"]
    assert GAOMING in possible["100037"]["target"]
    assert not [a for a in plan["actions"] if a["employee_id"] in possible]
    held = {(h["kind"], h["employee_id"]): h for h in plan["held"]}
    for employee_id in possible:
        creation = held[("create_account", employee_id)]
        assert not creation["approvable"] and "possible existing account" in creation["held_reason"]
    # Nobody is made the report of an account that is not made: 100037's manager is 100036.
    made = {a["employee_id"]: a for a in plan["actions"] if a["kind"] == "create_account"}
    held_dns = {h["target"].lower() for h in plan["held"] if h["kind"] == "create_account"}
    assert all(a["params"]["attributes"].get("manager", "").lower() not in held_dns for a in made.values())
    assert not [a for a in plan["actions"] if a["kind"] == "create_group"
                and held_dns & {m.lower() for m in a["params"]["members"]}]

    code, out, err = run(config, capsys, "apply", "--now", DAY_ONE)
    assert code == 0, out + err
    numbers = people(config)
    assert numbers["100036"] == [HEXUE]  # untouched, and no second entry
    assert "100032" not in numbers and "100037" not in numbers
    assert not {"yuejia2", "hexue2", "gaoming2"} & uids(config)

    # 乐嘉: the entry is hers.
    code, out, err = run(config, capsys, "adopt", "100032", "yjia")
    assert code == 0, err
    # 何雪: her entry outside the subtrees is moved under GZ, where the daemon manages people.
    code, out, err = run(config, capsys, "adopt", "100036", "hexue")
    assert code == 0 and f"moved to uid=hexue,{GZ}" in out, out + err
    # 高明: a login of another class cannot be managed; the admin has it made an inetOrgPerson entry, then adopts it.
    code, out, err = run(config, capsys, "adopt", "100037", "gaoming")
    assert code == 1 and "not an inetOrgPerson entry" in err and "lifecycle adopt 100037 --new" in err
    with connect(demo_slapd) as ldap:
        assert ldap.delete(GAOMING)
        assert ldap.add(GAOMING, ["inetOrgPerson", "posixAccount"], {
            "cn": "高明", "sn": "高", "uidNumber": "5037", "gidNumber": "5000", "homeDirectory": "/home/gaoming"})
    code, out, err = run(config, capsys, "adopt", "100037", "gaoming")
    assert code == 0, err

    code, out, err = run(config, capsys, "apply", "--now", DAY_TWO)
    assert code == 0, out + err
    numbers = people(config)
    assert numbers["100032"] == [YJIA]
    assert numbers["100036"] == [f"uid=hexue,{GZ}"]
    assert numbers["100037"] == [GAOMING]
    assert not {"yuejia2", "hexue2", "gaoming2"} & uids(config)
    settings = load_settings(config)
    with LdapDirectory(settings.directory, settings.companies) as ldap:
        assert ldap.read_person(GAOMING).manager.lower() == f"uid=hexue,{GZ}".lower()  # type: ignore[union-attr]
    again = plan_of(config, capsys, DAY_TWO)
    assert not again["actions"], again["actions"]
    assert not [r for r in again["reviews"] if r["kind"] == "possible_existing_account"]


def test_a_new_account_when_none_of_the_entries_is_the_person(config: Path, demo_slapd: Slapd, capsys) -> None:
    existing_entries(demo_slapd)
    assert run(config, capsys, "apply", "--now", DAY_ONE)[0] == 0
    code, out, err = run(config, capsys, "adopt", "100032", "yjia", "--new")
    assert code == 1 and "not both" in err
    code, out, err = run(config, capsys, "adopt", "100032", "--new", "--reason", "yjia is 叶佳, a contractor")
    assert code == 0, err
    assert run(config, capsys, "apply", "--now", DAY_TWO)[0] == 0
    numbers = people(config)
    assert len(numbers["100032"]) == 1 and numbers["100032"][0].startswith("uid=yuejia2,")
    code, out, _ = run(config, capsys, "log", "--format", "json")
    assert code == 0 and "yjia is 叶佳, a contractor" in out


def test_unlink_undoes_a_wrong_link_then_adopt_links_the_right_entry(config: Path, demo_slapd: Slapd, capsys) -> None:
    existing_entries(demo_slapd)
    assert run(config, capsys, "apply", "--now", DAY_ONE)[0] == 0
    assert run(config, capsys, "adopt", "100032", "--new", "--reason", "looked like someone else")[0] == 0
    assert run(config, capsys, "apply", "--now", DAY_TWO)[0] == 0
    wrong = people(config)["100032"]
    assert len(wrong) == 1 and wrong[0].startswith("uid=yuejia2,")

    code, out, err = run(config, capsys, "adopt", "100032", "yjia")
    assert code == 1 and "already linked to yuejia2" in err and "lifecycle unlink 100032" in err
    code, out, err = run(config, capsys, "unlink", "100032", "--reason", "yjia was hers all along")
    assert code == 0, err
    assert "100032" not in people(config)  # the wrong entry no longer carries her number

    plan = plan_of(config, capsys, DAY_THREE)
    touched = [a for a in plan["actions"] if "yuejia2" in a["target"] or "yuejia2" in json.dumps(a["params"])]
    assert not touched, touched  # neither deleted nor changed, nor linked again
    possible = [r for r in plan["reviews"] if r["kind"] == "possible_existing_account" and r["employee_id"] == "100032"]
    assert len(possible) == 1 and YJIA in possible[0]["target"]

    assert run(config, capsys, "adopt", "100032", "yjia")[0] == 0
    assert run(config, capsys, "apply", "--now", DAY_THREE)[0] == 0
    assert people(config)["100032"] == [YJIA]
    assert "yuejia2" in uids(config)  # left as it is: its name is never given to anyone else
    code, out, _ = run(config, capsys, "log", "--format", "json")
    assert "yjia was hers all along" in out
    assert run(config, capsys, "unlink", "100099", "--reason", "x")[0] == 1  # an unknown employee


def test_a_duplicate_employee_number_outside_the_subtrees_blocks_that_employee(
    config: Path, demo_slapd: Slapd, capsys
) -> None:
    assert run(config, capsys, "apply", "--now", DAY_ONE)[0] == 0
    before = people(config)["100036"]
    with connect(demo_slapd) as ldap:
        assert ldap.add(LEGACY, ["organizationalUnit"], {"ou": "legacy"})
        assert ldap.add(f"uid=hx,{LEGACY}", ["account"], {"description": "an old login"})
        assert ldap.modify(f"uid=hx,{LEGACY}", {"objectClass": [(ldap3.MODIFY_ADD, ["extensibleObject"])],
                                                "employeeNumber": [(ldap3.MODIFY_ADD, ["100036"])]}), ldap.result
    changed = Path(config.parent / "employees.csv")
    changed.write_text(changed.read_text(encoding="utf-8").replace("100036,何雪,,,GZ,市场部,市场总监",
                                                                   "100036,何雪,,,GZ,市场部,副总裁"), encoding="utf-8")
    plan = plan_of(config, capsys, DAY_TWO)
    duplicate = [r for r in plan["reviews"] if r["kind"] == "duplicate_employee_number" and r["employee_id"] == "100036"]
    assert len(duplicate) == 1 and f"uid=hx,{LEGACY}" in duplicate[0]["target"]
    assert not [a for a in plan["actions"] if a["employee_id"] == "100036"]
    assert run(config, capsys, "apply", "--now", DAY_TWO)[0] == 0
    assert people(config)["100036"] == [*before, f"uid=hx,{LEGACY}"]
