"""The directory attributes HR owns, as the executor reads them back (tests/MUTATION.md).

The planner compares an entry with HR through `entry_changes`; the executor, asked after a
failure whether an update already happened, reads the entry through `current_attributes`
under the LDAP attribute names. Both must see the same nine attributes under the same names,
or a finished update is retried (or an unfinished one taken as done).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from lifecycle.domain.action_params import HR_OWNED, NewEntryAttributes
from lifecycle.domain.models import DirectoryEntry
from policies.attributes import (
    attribute_changes,
    current_attributes,
    desired_attributes,
    display_name,
    entry_changes,
    mail_local_part,
    split_chinese_name,
)
from tests.harness import person

MANAGER = "uid=boss,ou=hq,ou=people,dc=example,dc=com"
ENTRY = DirectoryEntry(
    dn="uid=zhangsan,ou=hq,ou=people,dc=example,dc=com", uid="zhangsan", cn="张三", sn="张", given_name="三",
    display_name="张三 (Sam)", mail="zhangsan@example.com", employee_number="1", department="研发部", title="工程师",
    manager=MANAGER,
)
SAME = {"cn": "张三", "sn": "张", "givenName": "三", "displayName": "张三 (Sam)", "mail": "zhangsan@example.com",
        "employeeNumber": "1", "departmentNumber": "研发部", "title": "工程师", "manager": MANAGER}


def test_the_executor_reads_each_hr_owned_attribute_under_its_ldap_name() -> None:
    assert current_attributes(ENTRY) == SAME
    assert list(current_attributes(ENTRY)) == list(HR_OWNED)


def test_an_entry_equal_to_hr_has_no_changes_by_either_reading() -> None:
    assert attribute_changes(current_attributes(ENTRY), SAME) == {}
    assert entry_changes(ENTRY, SAME) == {}


@pytest.mark.parametrize("name", HR_OWNED)
def test_one_attribute_hr_changed_is_one_change_with_its_before_and_after(name: str) -> None:
    desired = SAME | {name: "uid=other,ou=hq,ou=people,dc=example,dc=com" if name == "manager" else "new"}
    expected = {name: [SAME[name], desired[name]]}
    assert entry_changes(ENTRY, desired) == expected
    assert attribute_changes(current_attributes(ENTRY), desired) == expected


def test_an_attribute_the_entry_lacks_is_added_and_one_hr_emptied_is_removed() -> None:
    bare = replace(ENTRY, title="", department="")
    desired = SAME | {"title": "", "mail": ""}  # title: empty on both sides, no change
    expected = {"departmentNumber": [None, "研发部"], "mail": ["zhangsan@example.com", None]}
    assert entry_changes(bare, desired) == expected
    assert attribute_changes(current_attributes(bare), desired) == expected
    # A current dict missing an attribute reads as empty, like an entry without it.
    partial = {k: v for k, v in current_attributes(bare).items() if k not in ("departmentNumber", "title")}
    assert attribute_changes(partial, desired) == expected


def test_a_manager_dn_spelled_in_other_letter_case_or_spacing_is_not_a_change() -> None:
    desired = SAME | {"manager": "UID=Boss, OU=HQ,ou=people,dc=example,dc=com"}
    assert entry_changes(ENTRY, desired) == {}
    assert attribute_changes(current_attributes(ENTRY), desired) == {}


def test_other_attributes_compare_with_letter_case() -> None:
    desired = SAME | {"title": "Engineer", "mail": "ZhangSan@example.com"}
    changes = attribute_changes(current_attributes(replace(ENTRY, title="engineer")), desired)
    assert changes == {"title": ["engineer", "Engineer"], "mail": ["zhangsan@example.com", "ZhangSan@example.com"]}


def test_an_attribute_missing_from_the_desired_values_reads_as_empty() -> None:
    desired = {k: v for k, v in SAME.items() if k != "title"}
    assert entry_changes(ENTRY, desired) == {"title": ["工程师", None]}
    assert attribute_changes(current_attributes(ENTRY), desired) == {"title": ["工程师", None]}


def test_a_new_entry_carries_its_uid_and_exactly_the_hr_owned_attributes() -> None:
    made = NewEntryAttributes.of("zhangsan", SAME)
    assert list(made.to_dict().items()) == [("uid", "zhangsan"), *((k, SAME[k]) for k in HR_OWNED)]
    assert NewEntryAttributes.from_dict(made.to_dict()) == made
    with pytest.raises(ValueError, match="expected exactly"):
        NewEntryAttributes.of("zhangsan", {k: v for k, v in SAME.items() if k != "title"})
    with pytest.raises(ValueError, match="expected exactly"):
        NewEntryAttributes.of("zhangsan", {**SAME, "homeDirectory": "/home/zhangsan"})
    with pytest.raises(ValueError, match="homeDirectory"):
        NewEntryAttributes.from_dict({**made.to_dict(), "homeDirectory": "/home/zhangsan"})


@pytest.mark.parametrize("name, family_name, expected", [
    ("张三", "", ("张", "三")),  # the first character is the surname
    ("欧阳娜娜", "", ("欧阳", "娜娜")),  # a known compound surname
    ("单于丹", "单于", ("单于", "丹")),  # the HR family-name column wins
    ("张三", "李", ("张", "三")),  # a family name the name does not start with is not used
    ("张", "", ("张", "")),  # one character: the whole name is the sn
    ("张三", "张三", ("张三", "")),  # only a family name: it is the sn
])
def test_sn_and_given_name_are_the_surname_and_the_rest_of_the_chinese_name(name, family_name, expected) -> None:
    record = person("1", name, family_name=family_name)
    assert split_chinese_name(record) == expected
    desired = desired_attributes(record, "x@example.com", "")
    assert (desired["sn"], desired["givenName"], desired["cn"]) == (*expected, name)


def test_the_display_name_adds_the_english_name_in_brackets() -> None:
    record = replace(person("1", "张三", department="Sales", title="Lead", manager="2"), english_name="Sam")
    assert display_name(record) == "张三 (Sam)"
    assert display_name(person("1", "张三")) == "张三"
    assert desired_attributes(record, "zhangsan@example.com", MANAGER) == {
        "cn": "张三", "sn": "张", "givenName": "三", "displayName": "张三 (Sam)", "mail": "zhangsan@example.com",
        "employeeNumber": "1", "departmentNumber": "Sales", "title": "Lead", "manager": MANAGER,
    }


def test_an_adopted_entry_keeps_its_local_part_and_a_new_one_is_its_uid() -> None:
    assert mail_local_part(replace(ENTRY, mail="san.zhang@old.example.com"), "zhangsan") == "san.zhang"
    assert mail_local_part(replace(ENTRY, mail=""), "zhangsan") == "zhangsan"
    assert mail_local_part(replace(ENTRY, mail="not-an-address"), "zhangsan") == "zhangsan"
    assert mail_local_part(None, "zhangsan") == "zhangsan"
