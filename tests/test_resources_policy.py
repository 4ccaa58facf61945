"""Functional mailboxes and lists (policies.resources) through compute_plan and the real executor, over the
in-memory directory and Modoboa-like mail backend: made, kept in step, handed over, reserved; the file's checks."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.resources_file import parse_resources, read_resources
from lifecycle.domain.models import ActionKind, HrRecord, HrStatus, Plan, ReviewKind
from lifecycle.domain.resources import NO_RESOURCES, Resources
from lifecycle.engine.apply import Executor
from lifecycle.engine.vault import CredentialVault
from lifecycle.journal.store import Journal
from lifecycle.testing import InMemoryDirectory
from lifecycle.testing.mail import MODOBOA_CAPABILITIES, AliasRow, InMemoryMailBackend
from policies.engine import compute_plan
from policies.resource_people import department_local_part
from policies.resources import reserved_names
from tests.harness import at, hr, make_settings, person

DOMAINS = ("example.com", "sz.example.com")
BOSS, HEAD, ENGINEER, OTHER = "1", "2", "3", "4"  # 李娜 (总经办), 王芳 (研发部 head), 张伟, 赵敏 (研发部)

FILE = """
[[mailboxes]]
company = "HQ"
address = "it@example.com"
display_name = "IT 服务台"
owner = "3"

[[lists]]
company = "HQ"
address = "rd-all@example.com"
display_name = "研发全体"
head_of = "研发部"
members = ["1", "partner@outside.test"]
departments = ["研发部"]
"""


class World:
    def __init__(self, workdir: Path, text: str = FILE, **lists: Any) -> None:
        self.settings = make_settings(workdir, mail={"token": "test-token"}, lists=lists or {})
        self.now = at("2026-12-01T09:00")
        self.directory = InMemoryDirectory()
        self.journal = Journal(self.settings.state.url)
        self.vault = CredentialVault(self.settings.accounts.initial_password_dir, self.settings.accounts.password_length)
        self.mail = InMemoryMailBackend(DOMAINS, clock=lambda: self.now)
        self.resources = parse_resources(tomllib.loads(text), self.settings) if text else NO_RESOURCES
        self.rows: dict[str, HrRecord] = {
            BOSS: person(BOSS, "李娜", department="总经办"),
            HEAD: person(HEAD, "王芳", manager=BOSS),
            ENGINEER: person(ENGINEER, "张伟", manager=HEAD),
            OTHER: person(OTHER, "赵敏", manager=HEAD),
        }

    def plan(self) -> Plan:
        return compute_plan(hr(*self.rows.values()), self.directory.read_snapshot(), self.journal.load_state(),
                            self.settings, self.now, mail=self.mail.read_snapshot(DOMAINS),
                            capabilities=MODOBOA_CAPABILITIES, resources=self.resources)

    def cycle(self) -> Plan:
        plan = self.plan()
        result = Executor(self.directory, self.journal, self.vault, "test", mail=self.mail).apply(
            plan, self.journal.begin_run("apply", self.now))
        assert result.ok, (result.summary(), [(a.kind.value, a.target) for a in plan.actions])
        return plan

    def close(self) -> None:
        self.journal.close()


@pytest.fixture
def world(tmp_path: Path):
    made = World(tmp_path)
    yield made
    made.close()


def resource_actions(plan: Plan) -> list[tuple[str, str]]:
    return [(a.kind.value, a.target) for a in plan.actions if a.employee_id == ""]


def reviews(plan: Plan, kind: ReviewKind) -> list[str]:
    return [f"{r.target}: {r.reason} | {r.fix}" for r in plan.reviews if r.kind is kind]


def test_a_functional_mailbox_and_a_list_are_made_and_then_nothing_changes(world: World) -> None:
    plan = world.cycle()
    assert resource_actions(plan) == [("create_mailbox", "it@example.com"), ("forward_mail", "it@example.com"),
                                      ("create_alias", "rd-all@example.com")]
    assert world.mail.accounts["it@example.com"].display_name == "IT 服务台"
    # Its mail stays in it@ and a copy goes to the owner; no person, so no directory entry, nothing inactive.
    assert world.mail.reaches("it@example.com") == {"it@example.com", "zhangwei@example.com"}
    assert all(e.mail != "it@example.com" for e in world.directory.read_snapshot().entries)
    assert world.mail.resolves("rd-all@example.com") == ["lina@example.com", "partner@outside.test", "wangfang@example.com",
                                                         "zhangwei@example.com", "zhaomin@example.com"]
    assert world.mail.aliases["rd-all@example.com"].managed
    assert world.plan().actions == ()


def test_a_leaver_goes_out_of_the_list_and_a_joiner_comes_in(world: World) -> None:
    world.cycle()
    world.rows[OTHER] = replace(world.rows[OTHER], termination_date=world.now.date())
    world.rows["5"] = person("5", "钱进", manager=HEAD, hire=world.now.date())
    world.now += timedelta(hours=1)
    plan = world.cycle()
    [update] = [a for a in plan.actions if a.kind is ActionKind.UPDATE_ALIAS]
    assert "in: qianjin@example.com" in update.reason and "out: zhaomin@example.com" in update.reason
    assert "qianjin@example.com" in world.mail.resolves("rd-all@example.com")
    assert "zhaomin@example.com" not in world.mail.resolves("rd-all@example.com")
    assert world.plan().actions == ()


def test_a_list_changed_by_hand_is_left_alone_and_reported(world: World) -> None:
    world.cycle()
    world.mail.aliases["rd-all@example.com"].recipients.append("someone@outside.test")
    world.rows["5"] = person("5", "钱进", manager=HEAD)
    plan = world.plan()
    assert ("update_alias", "rd-all@example.com") not in resource_actions(plan)
    assert any("changed by hand" in r for r in reviews(plan, ReviewKind.RESOURCE_PROBLEM))


def test_the_owner_s_departure_hands_over_to_the_manager_with_a_review(world: World) -> None:
    world.cycle()
    world.rows[ENGINEER] = replace(world.rows[ENGINEER], termination_date=world.now.date())
    world.now += timedelta(hours=1)
    plan = world.cycle()
    [handed] = reviews(plan, ReviewKind.RESOURCE_OWNER_CHANGED)
    assert handed.startswith("it@example.com: [[mailboxes]] #1 (it@example.com): the owner, employee 3, has left")
    assert "employee 2 (wangfang@example.com)" in handed and 'owner = "2"' in handed
    assert world.mail.reaches("it@example.com") == {"it@example.com", "wangfang@example.com"}
    assert resource_actions(world.plan()) == []


def test_the_chain_is_followed_past_a_manager_who_left_too(world: World) -> None:
    world.rows[HEAD] = replace(world.rows[HEAD], status=HrStatus.TERMINATED)
    world.rows[ENGINEER] = replace(world.rows[ENGINEER], status=HrStatus.TERMINATED)
    plan = world.plan()
    [handed] = reviews(plan, ReviewKind.RESOURCE_OWNER_CHANGED)
    assert "employee 1 (lina@example.com)" in handed


def test_head_of_is_the_one_member_whose_manager_is_outside(world: World) -> None:
    world.cycle()
    assert world.mail.aliases["rd-all@example.com"].recipients  # made with its head as the owner
    world.rows[OTHER] = replace(world.rows[OTHER], manager_id=BOSS)  # two heads now
    assert any("has 2 people whose manager is outside it (2, 4)" in r for r in reviews(world.plan(), ReviewKind.RESOURCE_PROBLEM))


def test_one_bad_entry_is_skipped_with_a_review_and_the_others_are_made(tmp_path: Path) -> None:
    text = FILE + """
[[lists]]
company = "HQ"
address = "sales@sz.example.com"
display_name = "销售"
owner = "1"
"""
    made = World(tmp_path, text)
    try:
        plan = made.cycle()
        [bad] = reviews(plan, ReviewKind.RESOURCE_PROBLEM)
        assert bad.startswith("sales@sz.example.com: [[lists]] #2 (sales@sz.example.com): address: sales@sz.example.com is "
                              "not in HQ's domain example.com")
        assert "use an address @example.com" in bad
        assert "rd-all@example.com" in made.mail.aliases and "it@example.com" in made.mail.accounts
    finally:
        made.close()


def test_a_joiner_whose_name_is_reserved_gets_the_next_one(tmp_path: Path) -> None:
    made = World(tmp_path, FILE.replace("it@example.com", "zhangwei@example.com"))
    try:
        plan = made.plan()
        [create] = [a for a in plan.actions if a.kind is ActionKind.CREATE_ACCOUNT and a.employee_id == ENGINEER]
        assert create.target.startswith("uid=zhangwei2,")
    finally:
        made.close()


def test_department_and_all_staff_lists_follow_hr(tmp_path: Path) -> None:
    made = World(tmp_path, '[department_lists]\n"总经办" = ""\n', department=True, all_staff=True)
    try:
        made.cycle()
        assert made.mail.resolves("yanfabu@example.com") == ["wangfang@example.com", "zhangwei@example.com",
                                                            "zhaomin@example.com"]
        assert "zongjingban@example.com" not in made.mail.aliases  # "" in [department_lists]: no list
        assert len(made.mail.resolves("all@example.com")) == 4
        assert made.plan().actions == ()
        made.rows[ENGINEER] = replace(made.rows[ENGINEER], department="销售部")
        made.now += timedelta(hours=1)
        made.cycle()
        assert "zhangwei@example.com" not in made.mail.resolves("yanfabu@example.com")
        assert made.mail.resolves("xiaoshoubu@example.com") == ["zhangwei@example.com"]
    finally:
        made.close()


def test_reserved_names_include_the_list_names(tmp_path: Path) -> None:
    settings_like = make_settings(tmp_path, lists={"department": True, "all_staff": True})
    found = reserved_names(Resources(department_names=(("研发部", "rd"),)), [person("1", "李娜", department="研发部"),
                                                                            person("2", "王芳", department="运营部")],
                           settings_like)
    assert found == {"rd", "yunyingbu", "all"}
    assert department_local_part("IT 部") == "itbu"


def test_an_alias_already_there_is_not_taken_over(world: World) -> None:
    world.mail.aliases["rd-all@example.com"] = AliasRow(["lina@example.com"])
    plan = world.plan()
    assert ("create_alias", "rd-all@example.com") not in resource_actions(plan)
    assert any("not made by the daemon" in r for r in reviews(plan, ReviewKind.RESOURCE_PROBLEM))


# -- the file ---------------------------------------------------------------------------------------


def test_an_unreadable_file_changes_nothing_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "resources.toml"
    path.write_text("[[mailboxes]\n", encoding="utf-8")
    settings = make_settings(tmp_path, mail={"token": "t"}, resources={"path": str(path)})
    found = read_resources(settings)
    assert "is not valid TOML" in found.broken and found.fingerprint
    made = World(tmp_path, "")
    try:
        made.cycle()  # the persons' mail, no resources
        made.resources = found
        plan = made.plan()
        assert resource_actions(plan) == []
        [review] = reviews(plan, ReviewKind.RESOURCE_PROBLEM)
        assert "nothing about functional mailboxes and lists is changed" in review
    finally:
        made.close()


@pytest.mark.parametrize(("entry", "field", "fix"), [
    ('company = "XX"\naddress = "a@example.com"\ndisplay_name = "A"\nowner = "1"', "company", "one of HQ, SZ"),
    ('company = "HQ"\naddress = "A B@example.com"\ndisplay_name = "A"\nowner = "1"', "address", "letters, digits"),
    ('company = "HQ"\naddress = "a@example.com"\nowner = "1"', "display_name", "display_name ="),
    ('company = "HQ"\naddress = "a@example.com"\ndisplay_name = "A"', "owner", "exactly one of"),
    ('company = "HQ"\naddress = "a@example.com"\ndisplay_name = "A"\nowner = "1"\nhead_of = "研发部"', "owner", "exactly one"),
    ('company = "HQ"\naddress = "a@example.com"\ndisplay_name = "A"\nowner_role = "boss of 研发部"', "owner_role", "head of"),
    ('company = "HQ"\naddress = "a@example.com"\ndisplay_name = "A"\nowner = "1"\nmember = ["2"]', "member", "spelling"),
    ('company = "HQ"\naddress = "a@example.com"\ndisplay_name = "A"\nowner = "1"\nmembers = "2"', "members", "members = ["),
])
def test_each_bad_field_is_named_with_its_fix(tmp_path: Path, entry: str, field: str, fix: str) -> None:
    settings = make_settings(tmp_path)
    found = parse_resources(tomllib.loads(f"[[lists]]\n{entry}\n"), settings)
    [problem] = found.problems
    assert found.lists == () and problem.field == field and fix in problem.fix, problem
    assert problem.where.startswith("[[lists]] #1")


def test_owner_role_and_numbers_and_duplicates(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    text = ('[[mailboxes]]\ncompany = "HQ"\naddress = "HR@Example.com"\ndisplay_name = "HR"\nowner_role = "Head of 人力资源部"\n'
            '[[lists]]\ncompany = "HQ"\naddress = "hr@example.com"\ndisplay_name = "HR"\nowner = 100001\n')
    found = parse_resources(tomllib.loads(text), settings)
    [box] = found.mailboxes
    assert box.address == "hr@example.com" and box.owner.head_of == "人力资源部"
    [duplicate] = found.problems
    assert duplicate.where == "[[lists]] #1 (hr@example.com)" and "declared already by [[mailboxes]] #1" in duplicate.reason


def test_the_example_file_is_valid(tmp_path: Path) -> None:
    example = Path(__file__).parent.parent / "examples" / "resources.toml"
    from devservers.demo import COMPANIES

    settings = make_settings(tmp_path, companies=[
        {"code": code, "name": name, "domain": domain, "people_dn": f"ou={ou},ou=people,dc=example,dc=com"}
        for code, name, domain, ou in COMPANIES])
    found = parse_resources(tomllib.loads(example.read_text(encoding="utf-8")), settings)
    assert found.problems == () and found.mailboxes and found.lists


def test_an_edit_of_the_file_changes_the_config_fingerprint(tmp_path: Path) -> None:
    """What wakes a quiet daemon (lifecycle.engine.quiet compares it) and makes a saved plan stale."""
    from lifecycle.engine.cycle import config_fingerprint

    path = tmp_path / "resources.toml"
    path.write_text(FILE, encoding="utf-8")
    settings = make_settings(tmp_path, mail={"token": "t"}, resources={"path": str(path)})
    before = config_fingerprint(settings)
    assert config_fingerprint(settings, read_resources(settings).fingerprint) == before
    path.write_text(FILE.replace("IT 服务台", "IT 支持"), encoding="utf-8")
    assert config_fingerprint(settings) != before
    path.unlink()
    assert config_fingerprint(settings) not in (before, "")
