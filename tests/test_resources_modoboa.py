"""Functional mailboxes and lists against real slapd, Modoboa and Dovecot, driven by `lifecycle check/plan/apply`:
made and kept in step over cycles, the owner's departure handed over, a bad entry skipped, a reserved name, and
mail to a list delivered to its members (Postfix's alias map over Modoboa's tables, LMTP into Dovecot)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.mail_modoboa import ModoboaBackend, ModoboaSettings
from devservers.dovecot import DovecotInstance
from devservers.modoboa import ModoboaInstance
from devservers.postfix import deliver
from devservers.slapd import Slapd
from lifecycle.cli.main import main
from tests.mail_fixtures import mail_sections
from tests.test_mail_modoboa import postfix_resolves

DAY_ONE, LEFT, JOINED = "2026-12-01T09:00", "2027-01-16T09:00", "2027-02-01T09:00"
LEAVER, MANAGER_ID = "100028", "100024"  # 马超 (SZ 销售部) leaves 2027-01-15; his manager 孙丽, head of 销售部
LEAVER_MAIL, MANAGER = "machao@sz.example.com", "sunli@sz.example.com"

RESOURCES = """
[department_lists]
"总经办" = ""

[[mailboxes]]
company = "SZ"
address = "service@sz.example.com"
display_name = "深圳客服"
owner = "100028"

[[mailboxes]]
company = "SZ"
address = "hujun@sz.example.com"
display_name = "胡军工作室"
head_of = "研发部"

[[lists]]
company = "SZ"
address = "sales@sz.example.com"
display_name = "深圳销售"
head_of = "销售部"
members = ["100017", "agency@partner.test"]
departments = ["销售部"]

[[lists]]
company = "SZ"
address = "wrong@example.com"
display_name = "错的"
owner = "100017"
"""


@pytest.fixture
def resources_config(config: Path, modoboa: ModoboaInstance) -> Path:
    resources = config.parent / "resources.toml"
    resources.write_text(RESOURCES, encoding="utf-8")
    with open(config, "a", encoding="utf-8") as handle:
        handle.write(mail_sections(modoboa) + f"""
[resources]
path = "{resources}"

[lists]
department = true
all_staff = true
""")
    return config


@pytest.fixture
def backend(modoboa: ModoboaInstance):
    from pydantic import SecretStr

    made = ModoboaBackend(ModoboaSettings(url=modoboa.url, token=SecretStr(modoboa.token), max_writes_per_second=1000,
                                          max_requests_per_minute=1_000_000))
    yield made
    made.close()


def run(config: Path, capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out, err


def plan(config: Path, capsys, now: str) -> dict:
    code, out, err = run(config, capsys, "plan", "--now", now, "--format", "json")
    assert code in (0, 2), err
    return json.loads(out)


def apply(config: Path, capsys, now: str) -> None:
    code, out, err = run(config, capsys, "apply", "--now", now)
    assert code == 0, out + err


def resource_actions(found: dict) -> list[tuple[str, str]]:
    return [(a["kind"], a["target"]) for a in found["actions"] if a["employee_id"] == ""]


def reviews(found: dict, kind: str) -> list[dict]:
    return [r for r in found["reviews"] if r["kind"] == kind]


def test_resources_are_made_kept_in_step_and_handed_over(
    resources_config: Path, modoboa: ModoboaInstance, backend: ModoboaBackend, dovecot: DovecotInstance,
    demo_slapd: Slapd, capsys,
) -> None:
    code, out, err = run(resources_config, capsys, "check")
    assert code == 1  # the bad entry is a problem to fix
    assert "resources: " in out and "2 functional mailboxes, 1 lists, 1 entries skipped" in out
    assert ("PROBLEM resources: [[lists]] #2 (wrong@example.com): address: wrong@example.com is not in SZ's domain "
            "sz.example.com; fix: use an address @sz.example.com") in err

    first = plan(resources_config, capsys, DAY_ONE)
    made = resource_actions(first)
    assert ("create_mailbox", "service@sz.example.com") in made and ("forward_mail", "service@sz.example.com") in made
    assert ("create_alias", "sales@sz.example.com") in made and ("create_alias", "yanfabu@sz.example.com") in made
    assert ("create_alias", "all@gz.example.com") in made
    assert not any(target.startswith("zongjingban@") for _, target in made)  # "" under [department_lists]
    [bad] = [r for r in reviews(first, "resource_problem") if r["target"] == "wrong@example.com"]
    assert "the entry is skipped" in bad["reason"]
    apply(resources_config, capsys, DAY_ONE)
    assert plan(resources_config, capsys, DAY_ONE)["actions"] == []  # converged

    box = backend.find_mailbox("service@sz.example.com")
    assert box is not None and box.display_name == "深圳客服" and box.forward_to == (LEAVER_MAIL,) and box.forward_keeps_copy
    sales = sorted(postfix_resolves(modoboa.db_path, "sales@sz.example.com"))
    assert "agency@partner.test" in sales and "zengwei@sz.example.com" in sales and LEAVER_MAIL in sales
    assert MANAGER in sales
    alias = backend.find_alias("sales@sz.example.com")
    assert alias is not None and alias.managed

    # Mail to the list reaches its members' mailboxes.
    delivery = deliver(dovecot, modoboa.db_path, "customer@partner.test", "sales@sz.example.com", "to sales", "hello\n")
    assert MANAGER in delivery.delivered and LEAVER_MAIL in delivery.delivered
    assert "to sales" in dovecot.subjects(MANAGER)
    # The functional mailbox keeps its mail and its owner gets a copy.
    delivery = deliver(dovecot, modoboa.db_path, "customer@partner.test", "service@sz.example.com", "to service", "hi\n")
    assert {"service@sz.example.com", LEAVER_MAIL} <= set(delivery.delivered)

    # The leaver leaves the lists; the functional mailbox he owned passes to his manager, with a review.
    after = plan(resources_config, capsys, LEFT)
    updates = {a["target"]: a for a in after["actions"] if a["kind"] == "update_alias"}
    assert {"sales@sz.example.com", "xiaoshoubu@sz.example.com", "all@sz.example.com"} <= set(updates)
    assert f"out: {LEAVER_MAIL}" in updates["sales@sz.example.com"]["reason"]
    [handed] = reviews(after, "resource_owner_changed")
    assert handed["employee_id"] == LEAVER and handed["target"] == "service@sz.example.com"
    assert f"employee {MANAGER_ID} ({MANAGER})" in handed["reason"] and f'owner = "{MANAGER_ID}"' in handed["fix"]
    apply(resources_config, capsys, LEFT)
    assert LEAVER_MAIL not in postfix_resolves(modoboa.db_path, "xiaoshoubu@sz.example.com")
    assert backend.find_mailbox("service@sz.example.com").forward_to == (MANAGER,)
    assert plan(resources_config, capsys, LEFT)["actions"] == []

    # 胡军 joins: hujun@ is a declared address, so he is hujun2, and he comes into his department's list.
    apply(resources_config, capsys, JOINED)
    assert "hujun2@sz.example.com" in postfix_resolves(modoboa.db_path, "yanfabu@sz.example.com")
    assert backend.find_mailbox("hujun2@sz.example.com") is not None
    assert plan(resources_config, capsys, JOINED)["actions"] == []


def test_a_broken_file_changes_nothing_and_check_says_why(resources_config: Path, backend: ModoboaBackend, capsys) -> None:
    apply(resources_config, capsys, DAY_ONE)
    (resources_config.parent / "resources.toml").write_text("[[lists]\n", encoding="utf-8")
    found = plan(resources_config, capsys, LEFT)
    assert resource_actions(found) == []  # not even the leaver's removal from the lists
    [broken] = [r for r in reviews(found, "resource_problem") if "is not valid TOML" in r["reason"]]
    assert "nothing about functional mailboxes and lists is changed" in broken["reason"]
    assert backend.find_alias("sales@sz.example.com") is not None
    code, _, err = run(resources_config, capsys, "check")
    assert code == 1 and "PROBLEM resources: " in err and "is not valid TOML" in err


def test_a_list_taken_out_of_the_file_is_reported_and_still_loses_its_leaver(
    resources_config: Path, modoboa: ModoboaInstance, backend: ModoboaBackend, capsys,
) -> None:
    apply(resources_config, capsys, DAY_ONE)
    made = backend.find_alias("sales@sz.example.com")
    assert made is not None and made.managed and made.mail_list  # the list note in Modoboa's description
    box = backend.find_mailbox("service@sz.example.com")
    assert box is not None and box.forward_to == (LEAVER_MAIL,)
    declared = RESOURCES[:RESOURCES.index('[[lists]]\ncompany = "SZ"\naddress = "sales@')]
    (resources_config.parent / "resources.toml").write_text(declared, encoding="utf-8")
    after = plan(resources_config, capsys, LEFT)
    [orphan] = [r for r in reviews(after, "resource_problem") if r["target"] == "sales@sz.example.com"]
    assert "a list the daemon made, but neither the resources file nor [lists] produces it any more" in orphan["reason"]
    [update] = [a for a in after["actions"] if a["kind"] == "update_alias" and a["target"] == "sales@sz.example.com"]
    assert f"out: {LEAVER_MAIL}" in update["reason"]
    apply(resources_config, capsys, LEFT)
    left = sorted(postfix_resolves(modoboa.db_path, "sales@sz.example.com"))
    assert LEAVER_MAIL not in left and "agency@partner.test" in left and MANAGER in left
    still = backend.find_alias("sales@sz.example.com")
    assert still is not None and still.mail_list
    assert [a for a in plan(resources_config, capsys, LEFT)["actions"] if a["target"] == "sales@sz.example.com"] == []
