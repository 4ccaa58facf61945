"""Against a real slapd, through the CLI: `adopt --new` is refused while an entry carries the employee's number (a
new account would carry it too, and a number on two entries blocks the employee for good); a renumbered employee is
re-keyed with `lifecycle unlink OLD` then `lifecycle adopt NEW OLD_UID`, keeping one account."""

from __future__ import annotations

from pathlib import Path

import ldap3

from devservers.slapd import Slapd
from lifecycle.domain.settings import load_settings
from lifecycle.journal.interventions import read_interventions
from lifecycle.journal.store import Journal
from tests.test_adoption_e2e import DAY_ONE, DAY_TWO, GZ, HEXUE, connect, existing_entries, people, plan_of, run, uids


def test_adopt_new_is_refused_while_an_entry_carries_the_employees_number(config: Path, demo_slapd: Slapd, capsys) -> None:
    existing_entries(demo_slapd)
    code, _out, err = run(config, capsys, "adopt", "100036", "--new", "--reason", "not her")
    assert code == 1 and f"remove employeeNumber from {HEXUE} first" in err and "lifecycle adopt 100036 hexue" in err, err
    journal = Journal(load_settings(config).state.url)
    with journal.engine.connect() as conn:
        assert "100036" not in read_interventions(conn).new_accounts
    journal.close()
    with connect(demo_slapd) as ldap:
        assert ldap.modify(HEXUE, {"employeeNumber": [(ldap3.MODIFY_DELETE, [])]}), ldap.result
    assert run(config, capsys, "adopt", "100036", "--new", "--reason", "not her")[0] == 0
    plan = plan_of(config, capsys, DAY_ONE)  # the company's first load: the creation guard holds none of it
    assert not [h for h in plan["held"] if h["employee_id"] == "100036"]
    [made] = [a for a in plan["actions"] if a["employee_id"] == "100036" and a["kind"] == "create_account"]
    assert made["target"] == f"uid=hexue2,{GZ}"  # hexue is the other entry's, which is not hers
    assert not [r for r in plan["reviews"] if r["employee_id"] == "100036" and r["kind"] == "possible_existing_account"]


def test_a_renumbered_employee_is_re_keyed_with_unlink_then_adopt(config: Path, demo_slapd: Slapd, capsys) -> None:
    assert run(config, capsys, "apply", "--now", DAY_ONE)[0] == 0
    assert people(config)["100036"] == [f"uid=hexue,{GZ}"]
    export = config.parent / "employees.csv"
    export.write_text(export.read_text(encoding="utf-8").replace("100036", "900036"), encoding="utf-8")
    plan = plan_of(config, capsys, DAY_TWO)
    assert [a["target"] for a in plan["actions"] if a["kind"] == "create_account"] == [f"uid=hexue2,{GZ}"]

    code, _out, err = run(config, capsys, "adopt", "900036", "hexue")
    assert code == 1 and "already carries employeeNumber 100036" in err
    code, _out, err = run(config, capsys, "unlink", "100036", "--reason", "HR renumbered her 900036")
    assert code == 0, err
    code, _out, err = run(config, capsys, "adopt", "900036", "hexue")
    assert code == 0, err
    assert run(config, capsys, "apply", "--now", DAY_TWO)[0] == 0
    numbers = people(config)
    assert numbers["900036"] == [f"uid=hexue,{GZ}"] and "100036" not in numbers
    assert "hexue2" not in uids(config)
    assert not plan_of(config, capsys, DAY_TWO)["actions"]
