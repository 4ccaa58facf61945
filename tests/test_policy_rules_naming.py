"""Names and addresses (tests/MUTATION.md).

`policies/names.py`: one namespace across all domains, compared without letter case; an address
belongs to its employee; `[naming.overrides]` wins but is never taken from someone else; a
collision gets the first free counter. `policies/naming.py` and `surnames.py`: the refusals an
admin reads, word for word, templates, and compound surnames.
"""

from __future__ import annotations

import pytest

from lifecycle.domain.settings import NamingSettings
from policies.attributes import split_chinese_name
from policies.names import NameAllocator
from policies.naming import (
    MAX_COUNTER,
    LocalPartsExhausted,
    NameParts,
    NamingProblem,
    choose_local_part,
    lower_name,
    name_parts,
    render_local_part,
    split_name,
)
from policies.surnames import compound_prefix
from tests.harness import person


def allocator(taken=(), owners=None, overrides=None, lowered=frozenset()) -> NameAllocator:
    naming = NamingSettings(overrides=overrides or {})
    return NameAllocator(set(taken), dict(owners or {}), naming, lowered=frozenset(lowered))


def test_an_override_another_employee_owns_is_refused_naming_that_employee() -> None:
    names = allocator(owners={"zhang.san": "7"}, overrides={"1": "zhang.san"})
    assert names.allocate(person("1", "张三")) == NamingProblem(
        reason="the override 'zhang.san' is already used by employee 7",
        fix='choose another value for [naming.overrides] "1"',
    )


def test_an_override_an_unowned_entry_holds_is_refused_as_another_entrys() -> None:
    names = allocator(taken={"Zhang.San"}, overrides={"1": "zhang.san"})  # taken without regard to letter case
    assert names.allocate(person("1", "张三")) == NamingProblem(
        reason="the override 'zhang.san' is already used by another entry",
        fix='choose another value for [naming.overrides] "1"',
    )
    names = allocator(lowered={"zhang.san"}, overrides={"1": "zhang.san"})
    assert isinstance(names.allocate(person("1", "张三")), NamingProblem)


def test_an_override_its_own_employee_holds_is_given_back() -> None:
    names = allocator(taken={"zhang.san"}, owners={"zhang.san": "1"}, overrides={"1": "zhang.san"})
    assert names.allocate(person("1", "张三")) == "zhang.san"


def test_a_free_override_is_given_and_then_belongs_to_its_employee() -> None:
    names = allocator(overrides={"1": "boss", "2": "boss"})
    assert names.allocate(person("1", "张三")) == "boss"
    assert names.is_taken("BOSS")
    problem = names.allocate(person("2", "李四"))
    assert isinstance(problem, NamingProblem) and problem.reason.endswith("already used by employee 1")
    assert names.allocate(person("3", "张三")) == "zhangsan"  # an override does not stand for the pinyin


def test_a_taken_name_gets_the_first_free_counter_and_the_next_holder_the_one_after() -> None:
    names = allocator(taken={"ZhangSan", "zhangsan3"}, lowered={"zhangsan2"})
    assert [names.allocate(person(str(n), "张三")) for n in range(1, 4)] == ["zhangsan4", "zhangsan5", "zhangsan6"]
    assert names.allocate(person("9", "李四")) == "lisi"
    assert names.is_taken("LiSi") and names.is_taken("zhangsan5") and not names.is_taken("zhangsan7")


def test_a_free_base_is_given_as_it_is_then_counted_from_two() -> None:
    names = allocator()
    assert [names.allocate(person(str(n), "张三")) for n in range(1, 4)] == ["zhangsan", "zhangsan2", "zhangsan3"]


def test_when_every_counter_is_taken_the_allocator_says_so() -> None:
    names = allocator(taken={"zhangsan", *(f"zhangsan{n}" for n in range(2, MAX_COUNTER + 1))})
    with pytest.raises(LocalPartsExhausted, match=r"'zhangsan' and zhangsan2 \.\.\. zhangsan999 are all taken"):
        names.allocate(person("1", "张三"))


def test_a_name_without_pinyin_asks_for_an_override_for_that_employee() -> None:
    names = allocator()
    for employee_id in ("1", "2"):  # the same name twice: the second from the cache, with its own id
        problem = names.allocate(person(employee_id, "Smith"))
        assert isinstance(problem, NamingProblem)
        assert problem.reason == "name 'Smith' is written in Latin letters; only Chinese names are converted automatically"
        assert problem.fix == f'add [naming.overrides] "{employee_id}" = "<local part>" to the config'


def test_the_family_name_column_decides_the_base() -> None:
    names = allocator()
    # 解 read as a surname is xie, inside a given name jie: the same name, two bases.
    assert names.allocate(person("1", "曾解文", family_name="曾解")) == "zengxiewen"
    assert names.allocate(person("2", "曾解文")) == "zengjiewen"


def test_the_last_counter_is_given_before_the_allocator_gives_up() -> None:
    names = allocator(taken={"zhangsan", *(f"zhangsan{n}" for n in range(2, MAX_COUNTER))})
    assert names.allocate(person("1", "张三")) == f"zhangsan{MAX_COUNTER}"


def test_a_name_given_by_pinyin_belongs_to_its_employee_against_a_later_override() -> None:
    names = allocator(overrides={"2": "zhangsan"})
    assert names.allocate(person("1", "张三")) == "zhangsan"
    problem = names.allocate(person("2", "李四"))
    assert isinstance(problem, NamingProblem) and problem.reason == "the override 'zhangsan' is already used by employee 1"


# -- the refusals an admin reads (policies/naming.py), word for word -------------------------------

OVERRIDE = 'add "<employee_id>" = "<local part>" under [naming.overrides] in the config'


@pytest.mark.parametrize("name, family_name, reason, fix", [
    ("", "", "name '' is empty", f"fill in the name column of the HR export, or {OVERRIDE}"),
    ("张", "", "name '张' has only one character; a surname and a given name are needed",
     f"correct the name in the HR export, or {OVERRIDE}"),
    ("买买提·艾力", "", "name '买买提·艾力' contains a separator (dotted names such as 买买提·艾力 have no single pinyin "
     "spelling to derive a mailbox from)", f'{OVERRIDE}, spelled as agreed with the person (e.g. "maimaiti.aili")'),
    ("张3", "", "name '张3' contains digits",
     f"correct the name in the HR export (digits usually mean a typo or a placeholder row), or {OVERRIDE}"),
    ("张①", "", "name '张①' contains digits",
     f"correct the name in the HR export (digits usually mean a typo or a placeholder row), or {OVERRIDE}"),
    ("Smith", "", "name 'Smith' is written in Latin letters; only Chinese names are converted automatically",
     f"put the Chinese name in the name column of the HR export, or {OVERRIDE}"),
    ("张Smith", "", "name '张Smith' mixes Latin letters with other characters; only Chinese names are converted "
     "automatically", f"put the Chinese name in the name column of the HR export, or {OVERRIDE}"),
    ("张😀", "", "name '张😀' contains characters that are not Chinese characters: '😀' (U+1F600)",
     f"correct the name in the HR export, or {OVERRIDE}"),
    ("张𠀾", "", "name '张𠀾': no pinyin reading is known for 𠀾 (U+2003E)", OVERRIDE),
    ("张𠀾𠀿", "", "name '张𠀾𠀿': no pinyin reading is known for 𠀾 (U+2003E), 𠀿 (U+2003F)", OVERRIDE),
    # A CJK compatibility ideograph NFKC keeps (U+FA0E) is a Chinese character, only without a reading.
    ("张﨎", "", "name '张﨎': no pinyin reading is known for 﨎 (U+FA0E)", OVERRIDE),
    ("张😀😎", "", "name '张😀😎' contains characters that are not Chinese characters: '😀' (U+1F600), '😎' (U+1F60E)",
     f"correct the name in the HR export, or {OVERRIDE}"),
    ("张𐄇", "", "name '张𐄇' contains digits",  # a numeral that is not a decimal digit (category No)
     f"correct the name in the HR export (digits usually mean a typo or a placeholder row), or {OVERRIDE}"),
    ("张三", "张三", "name '张三' is only the family name '张三'; the given name is empty",
     f"correct the name or family name in the HR export, or {OVERRIDE}"),
])
def test_a_name_that_needs_a_guess_is_refused_with_its_reason_and_fix(name, family_name, reason, fix) -> None:
    assert name_parts(name, family_name) == NamingProblem(reason, fix)


def test_a_name_without_characters_is_refused_by_the_split_as_having_none() -> None:
    assert split_name(" ") == NamingProblem("name '' has no characters; a surname and a given name are needed",
                                            f"correct the name in the HR export, or {OVERRIDE}")


def test_a_max_length_without_room_for_the_counter_is_refused() -> None:
    assert render_local_part(name_parts("张三"), "{pinyin}", 3) == NamingProblem(
        "naming.max_length=3 leaves no room for a name after the 3 characters kept for the collision counter",
        f"set naming.max_length to at least 4 (or {OVERRIDE})",
    )
    assert render_local_part(name_parts("张三"), "{pinyin}", 4) == "z"


def test_a_template_that_leaves_nothing_usable_is_refused() -> None:
    assert render_local_part(NameParts("", "", (), ()), "{pinyin}", 32) == NamingProblem(
        "template '{pinyin}' gives no usable local part for ''", f"change naming.template, or {OVERRIDE}")


@pytest.mark.parametrize("template, message", [
    ("{nope}", "template '{nope}': placeholders ['nope']; use ['given', 'given_initials', 'initials', 'pinyin', 'surname']"),
    ("plain", "template 'plain': placeholders (none); use ['given', 'given_initials', 'initials', 'pinyin', 'surname']"),
])
def test_a_template_with_an_unknown_or_no_placeholder_is_an_error(template: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        render_local_part(name_parts("张三"), template, 32)
    assert str(raised.value) == message


@pytest.mark.parametrize("template, expected", [
    ("{surname}.{given}", "ouyan"), ("{initials}", "oynn"), ("{given_initials}{surname}", "nnouy"),
    ("{surname}..{given}", "ouyan"), ("_{pinyin}_", "ouyan"), ("{given}-{surname}", "nana"),
])
def test_a_template_is_filled_cleaned_and_cut_to_leave_room_for_the_counter(template: str, expected: str) -> None:
    assert render_local_part(name_parts("欧阳娜娜"), template, 8) == expected


def test_u_umlaut_is_written_as_configured() -> None:
    assert [name_parts("吕女", u_umlaut=u).pinyin for u in ("v", "yu", "u")] == ["lvnv", "lyunyu", "lunu"]
    with pytest.raises(ValueError, match=r"u_umlaut must be one of \['u', 'v', 'yu'\], not 'x'"):
        name_parts("张三", u_umlaut="x")


# -- compound surnames (policies/surnames.py) -------------------------------------------------------

def test_a_compound_surname_in_traditional_characters_is_the_surname_as_written() -> None:
    assert compound_prefix("歐陽娜娜") == "歐陽"
    assert split_name("歐陽娜娜") == ("歐陽", "娜娜")
    assert split_chinese_name(person("1", "歐陽娜娜")) == ("歐陽", "娜娜")  # the sn attribute, not 歐


def test_a_compound_surname_needs_a_given_name_after_it() -> None:
    assert compound_prefix("爱新觉罗") == ""  # all surname: not read as the compound
    assert compound_prefix("爱新觉罗明") == "爱新觉罗"
    assert compound_prefix("爱新觉") == ""  # the first two characters of a compound are not one
    assert compound_prefix("欧阳") == ""


def test_choose_local_part_tries_every_counter_up_to_the_last_and_then_gives_up() -> None:
    taken = {"li", "li2"}
    assert choose_local_part("li", taken.__contains__, max_counter=3) == "li3"
    with pytest.raises(LocalPartsExhausted) as raised:
        choose_local_part("li", (taken | {"li3"}).__contains__, max_counter=3)
    assert str(raised.value) == "'li' and li2 ... li3 are all taken"


def test_a_name_is_compared_as_the_directory_compares_it() -> None:
    assert [lower_name(n) for n in ("zhangsan", "ZhangSan", "a  b", "ab ")] == ["zhangsan", "zhangsan", "a b", "ab"]
