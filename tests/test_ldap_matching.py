"""Keys derived from directory values compare the way slapd compares them (caseIgnoreMatch).

A department renamed by letter case alone, or two spellings of one department in an export,
are one group entry to LDAP: the plan must never create "another" one and delete the first.
"""

from __future__ import annotations

import ldap3
import pytest

from devservers.slapd import Slapd
from lifecycle.domain.dn import dn_key, escape_rdn_value, match_key
from lifecycle.domain.models import ActionKind, ReviewKind
from tests.conftest import GROUPS_DN
from tests.harness import Cycle, at, hr, person

# (a, b, one value to slapd?): checked against the server below, so the table cannot drift from it.
PAIRS = [
    ("HQ-Sales", "HQ-SALES", True),
    ("HQ-销售部", "HQ-销售部", True),
    ("HQ-Ａb", "HQ-ab", True),  # full-width forms fold
    ("HQ-a  b", "HQ-a b", True),  # runs of inner spaces are one space
    ("HQ-ab ", "HQ-ab", True),  # trailing spaces do not count
    ("HQ-Éa", "HQ-éa", True),
    ("HQ-e\u0301x", "HQ-\u00e9x", True),  # decomposed and composed é
    ("HQ-İ", "HQ-i", True),
    ("HQ-ﬁ", "HQ-fi", True),
    ("HQ-Σ", "HQ-σ", True),
    ("HQ-ß", "HQ-SS", False),  # slapd lower-cases one for one; no full case folding
    ("HQ-ς", "HQ-σ", False),
    ("HQ- t", "HQ-t", False),  # a space after the dash is inside the value
    ("HQ-研发一部", "HQ-研发二部", False),
]


def test_match_key_agrees_with_slapd_on_which_names_are_one_entry(slapd: Slapd) -> None:
    connection = ldap3.Connection(slapd.url, slapd.admin_dn, slapd.admin_password, auto_bind=True)
    try:
        for first, second, same in PAIRS:
            for value in (first, second):
                connection.delete(f"cn={escape_rdn_value(value)},{GROUPS_DN}")
            assert connection.add(f"cn={escape_rdn_value(first)},{GROUPS_DN}", ["groupOfNames"], {"member": GROUPS_DN})
            connection.add(f"cn={escape_rdn_value(second)},{GROUPS_DN}", ["groupOfNames"], {"member": GROUPS_DN})
            slapd_says_same = connection.result["description"] == "entryAlreadyExists"
            assert slapd_says_same is same, (first, second, connection.result)
            assert (match_key(first) == match_key(second)) is same, (first, second)
            assert (dn_key(f"cn={first},{GROUPS_DN}") == dn_key(f"CN={second}, {GROUPS_DN.upper()}")) is same
    finally:
        connection.unbind()


@pytest.fixture
def cycle(ldap_cycle: Cycle) -> Cycle:
    return ldap_cycle


def _groups(slapd: Slapd) -> dict[str, set[str]]:
    connection = ldap3.Connection(slapd.url, slapd.admin_dn, slapd.admin_password, auto_bind=True)
    try:
        connection.search(GROUPS_DN, "(objectClass=groupOfNames)", attributes=["cn", "member"])
        return {str(e.cn): {m.split(",")[0].lower() for m in e.member.values} for e in connection.entries}
    finally:
        connection.unbind()


def test_a_department_renamed_by_letter_case_keeps_its_group(cycle: Cycle, slapd: Slapd) -> None:
    day1, day2 = at("2026-12-01T09:00"), at("2026-12-02T09:00")
    before = hr(person("1", "张三", department="Sales"), person("2", "李四", department="Sales"))
    _, result = cycle.apply(before, day1)
    assert result.ok, result.summary()
    assert _groups(slapd) == {"HQ-Sales": {"uid=zhangsan", "uid=lisi"}}

    renamed = hr(person("1", "张三", department="SALES"), person("2", "李四", department="SALES"))
    plan = cycle.plan(renamed, day2)
    group_kinds = {a.kind for a in plan.actions} & {ActionKind.CREATE_GROUP, ActionKind.DELETE_GROUP,
                                                    ActionKind.ADD_MEMBER, ActionKind.REMOVE_MEMBER}
    assert group_kinds == set(), [a.to_dict() for a in plan.actions]
    cycle.apply(renamed, day2)
    assert _groups(slapd) == {"HQ-Sales": {"uid=zhangsan", "uid=lisi"}}
    assert not cycle.plan(renamed, day2).actions


def test_two_spellings_of_one_department_share_one_group_and_reach_a_quiet_cycle(cycle: Cycle, slapd: Slapd) -> None:
    day1 = at("2026-12-01T09:00")
    export = hr(person("1", "张三", department="Sales"), person("2", "李四", department="sales"),
                person("3", "王五", department="Sales"))
    plan, result = cycle.apply(export, day1)
    assert result.ok, result.summary()
    creates = [a for a in plan.actions if a.kind is ActionKind.CREATE_GROUP]
    assert [a.params.department for a in creates] == ["Sales"]  # the spelling most rows use
    assert _groups(slapd) == {"HQ-Sales": {"uid=zhangsan", "uid=lisi", "uid=wangwu"}}
    spelled = [r for r in plan.reviews if r.kind is ReviewKind.INCONSISTENT_RECORD and "letter case" in r.reason]
    assert len(spelled) == 1 and "'Sales', 'sales'" in spelled[0].reason

    for _ in range(2):  # no churn: nothing is removed and re-added cycle after cycle
        again = cycle.plan(export, day1)
        assert not again.actions, [a.to_dict() for a in again.actions]


def test_a_uid_taken_in_other_letter_case_is_taken(cycle: Cycle, slapd: Slapd) -> None:
    connection = ldap3.Connection(slapd.url, slapd.admin_dn, slapd.admin_password, auto_bind=True)
    try:
        assert connection.add(f"uid=ZhangSan,ou=hq,ou=people,{cycle.settings.directory.base_dn}",
                              ["inetOrgPerson"], {"cn": "Someone", "sn": "Else"})
    finally:
        connection.unbind()
    plan = cycle.plan(hr(person("1", "张三")), at("2026-12-01T09:00"))
    # The entry nobody owns may be 张三's own: the creation waits for an admin (policies.adoption), under the
    # name it would get.
    created = [h.action for h in plan.held if h.action.kind is ActionKind.CREATE_ACCOUNT]
    assert [a.params.attributes.uid for a in created] == ["zhangsan2"]
    assert [r.kind for r in plan.reviews if r.employee_id == "1"] == [ReviewKind.POSSIBLE_EXISTING_ACCOUNT]


def test_an_employee_id_that_changed_letter_case_is_neither_a_joiner_nor_a_leaver(cycle: Cycle) -> None:
    day1, day2 = at("2026-12-01T09:00"), at("2026-12-02T09:00")
    cycle.apply(hr(person("GZ0001", "张三")), day1)
    plan = cycle.plan(hr(person("gz0001", "张三")), day2)
    assert not [a for a in plan.actions if a.kind in (ActionKind.CREATE_ACCOUNT, ActionKind.SUSPEND_ACCOUNT)]
    assert any("letter case changed" in r.reason for r in plan.reviews)
