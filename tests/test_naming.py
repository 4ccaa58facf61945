"""Naming policy: Chinese name -> mailbox local part / uid."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypinyin.constants import PINYIN_DICT

from policies.naming import (
    MAX_COUNTER,
    SUFFIX_ROOM,
    LocalPartsExhausted,
    NameParts,
    NamingProblem,
    choose_local_part,
    name_parts,
    normalize_name,
    propose_local_part,
    render_local_part,
    split_name,
)
from policies.surnames import COMPOUND_SURNAMES, SINGLE_SURNAMES, TRADITIONAL_TO_SIMPLIFIED, surname_reading

LOCAL_PART = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def propose(name: str, family_name: str = "", template: str = "{pinyin}", u_umlaut: str = "v", max_length: int = 32):
    return propose_local_part(name, family_name, template, u_umlaut, max_length)


def assert_problem(result: object) -> NamingProblem:
    assert isinstance(result, NamingProblem), result
    assert result.reason and result.fix
    return result


# --- surnames pypinyin reads wrongly ---------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("曾伟", "zengwei"),
        ("单雄", "shanxiong"),
        ("解放", "xiefang"),
        ("仇英", "qiuying"),
        ("朴槿", "piaojin"),
        ("区明", "ouming"),
        ("查良镛", "zhaliangyong"),
        ("盖聂", "genie"),
        ("乐嘉", "yuejia"),
        ("缪斯", "miaosi"),
        ("覃勇", "qinyong"),
        ("翟欣", "zhaixin"),
    ],
)
def test_surnames_read_from_the_table(name: str, expected: str) -> None:
    assert propose(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [("张单", "zhangdan"), ("李乐", "lile"), ("王曾", "wangceng"), ("刘解", "liujie")],
)
def test_table_applies_to_the_surname_only(name: str, expected: str) -> None:
    assert propose(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("卜伟", "buwei"),
        ("都伟", "duwei"),
        ("薄伟", "bowei"),
        ("尉缭", "weiliao"),
        ("秘伟", "biwei"),
        ("繁伟", "powei"),
        ("种师道", "chongshidao"),
        ("折克行", "shekexing"),
        ("万伟", "wanwei"),
    ],
)
def test_more_single_surnames(name: str, expected: str) -> None:
    assert propose(name) == expected


# --- compound surnames ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected", "surname"),
    [
        ("欧阳娜娜", "ouyangnana", "ouyang"),
        ("司马光", "simaguang", "sima"),
        ("诸葛亮", "zhugeliang", "zhuge"),
        ("上官婉儿", "shangguanwaner", "shangguan"),
        ("尉迟恭", "yuchigong", "yuchi"),
        ("万俟卨", "moqixie", "moqi"),
        ("长孙无忌", "zhangsunwuji", "zhangsun"),
        ("澹台灭明", "tantaimieming", "tantai"),
        ("令狐冲", "linghuchong", "linghu"),
        ("爱新觉罗溥仪", "aixinjueluopuyi", "aixinjueluo"),
    ],
)
def test_compound_surnames(name: str, expected: str, surname: str) -> None:
    assert propose(name) == expected
    parts = name_parts(name)
    assert isinstance(parts, NameParts)
    assert parts.surname == surname


def test_traditional_forms_use_the_same_table() -> None:
    assert propose("尉遲恭") == "yuchigong"
    assert propose("單雄") == "shanxiong"
    assert propose("歐陽娜娜") == "ouyangnana"


def test_name_that_is_exactly_a_compound_is_split_after_the_first_character() -> None:
    assert split_name("欧阳") == ("欧", "阳")


# --- family_name column wins ------------------------------------------------


def test_family_name_column_wins_over_the_compound_guess() -> None:
    assert split_name("欧阳娜娜") == ("欧阳", "娜娜")
    assert split_name("欧阳娜娜", "欧") == ("欧", "阳娜娜")
    # 单于 is not guessed as the compound surname: 单 + 于飞 is the common case.
    assert split_name("单于飞") == ("单", "于飞")
    assert propose("单于飞") == "shanyufei"
    assert propose("欧阳娜娜", family_name="欧", template="{surname}.{given}") == "ou.yangnana"


def test_family_name_that_does_not_prefix_the_name_is_ignored() -> None:
    assert split_name("张伟", "Zhang") == ("张", "伟")
    assert split_name(" 欧阳　娜娜 ", "欧阳\u200b") == ("欧阳", "娜娜")


def test_family_name_not_in_the_table_is_read_per_character() -> None:
    assert propose("陈李明", family_name="陈李", template="{surname}.{given}") == "chenli.ming"
    assert propose("曾单明", family_name="曾单", template="{surname}.{given}") == "zengshan.ming"


def test_family_name_equal_to_the_whole_name_is_a_problem() -> None:
    problem = assert_problem(split_name("欧阳", "欧阳"))
    assert "given name is empty" in problem.reason


# --- characters -------------------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), [("王㛃", "wangjie"), ("李堃", "likun"), ("张喆", "zhangzhe"), ("王燚", "wangyi")])
def test_rare_characters_convert(name: str, expected: str) -> None:
    assert propose(name) == expected


def test_character_without_reading_is_refused() -> None:
    problem = assert_problem(propose("张𠀾"))
    assert "𠀾" in problem.reason and "U+2003E" in problem.reason
    assert "[naming.overrides]" in problem.fix


@pytest.mark.parametrize(
    ("u_umlaut", "lvbu", "nvwa", "lvyin"),
    [("v", "lvbu", "nvwa", "lvyin"), ("yu", "lyubu", "nyuwa", "lyuyin"), ("u", "lubu", "nuwa", "luyin")],
)
def test_u_umlaut(u_umlaut: str, lvbu: str, nvwa: str, lvyin: str) -> None:
    assert propose("吕布", u_umlaut=u_umlaut) == lvbu
    assert propose("吕女娲", template="{given}", u_umlaut=u_umlaut) == nvwa
    assert propose("吕绿茵", template="{given}", u_umlaut=u_umlaut) == lvyin


def test_u_umlaut_in_table_readings_and_lve() -> None:
    assert propose("闾丘露", u_umlaut="yu") == "lyuqiulu"
    assert propose("张略", u_umlaut="yu") == "zhanglyue"
    assert propose("张略", u_umlaut="v") == "zhanglve"


def test_unknown_u_umlaut_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        name_parts("吕布", u_umlaut="ü")


# --- normalisation ----------------------------------------------------------


@pytest.mark.parametrize("raw", ["张　伟", "张\u200b伟", " 张伟 ", "\ufeff张伟\u2060", "张\t伟\n", "\u3000张\u200c\u200d伟\u3000"])
def test_whitespace_and_zero_width_are_removed(raw: str) -> None:
    assert normalize_name(raw) == "张伟"
    assert propose(raw) == "zhangwei"


def test_nfkc_folds_compatibility_ideographs() -> None:
    assert normalize_name("\uf900\u4f1f") == "\u8c48\u4f1f"  # CJK COMPATIBILITY IDEOGRAPH-F900 -> 豈
    assert propose("\uf900\u4f1f") == "qiwei"


def test_full_width_latin_is_a_latin_name() -> None:
    assert normalize_name("ＪＯＨＮ") == "JOHN"
    problem = assert_problem(propose("ＪＯＨＮ"))
    assert "Latin" in problem.reason


# --- refusals ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "in_reason"),
    [
        ("张3", "digits"),
        ("张伟２", "digits"),
        ("John Smith", "Latin letters"),
        ("张Wei", "mixes Latin"),
        ("买买提·艾力", "separator"),
        ("阿依古丽•买买提", "separator"),
        ("买买提・艾力", "separator"),
        ("买买提‧艾力", "separator"),
        ("买买提.艾力", "separator"),
        ("买买提．艾力", "separator"),
        ("", "empty"),
        ("  \u3000", "empty"),
        ("张", "only one character"),
        ("张〇", "not Chinese characters"),
        ("김민준", "not Chinese characters"),
        ("张😀", "not Chinese characters"),
    ],
)
def test_refusals_have_reason_and_fix(name: str, in_reason: str) -> None:
    problem = assert_problem(propose(name))
    assert in_reason in problem.reason
    assert "[naming.overrides]" in problem.fix


def test_problem_names_the_employee() -> None:
    problem = assert_problem(propose("John Smith"))
    assert "<employee_id>" in problem.fix
    named = problem.for_employee("E1234")
    assert '"E1234" = "<local part>"' in named.fix
    assert named.reason == problem.reason
    assert str(named).startswith(problem.reason + "; fix: ")


def test_split_name_refuses_one_character() -> None:
    assert_problem(split_name("张"))
    assert_problem(split_name(""))


# --- templates and length ---------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{pinyin}", "zhangwei"),
        ("{surname}.{given}", "zhang.wei"),
        ("{surname}{given_initials}", "zhangw"),
        ("{given}.{surname}", "wei.zhang"),
        ("{initials}", "zw"),
        ("{given}_{surname}", "wei_zhang"),
        ("{surname}-{given}", "zhang-wei"),
        ("{Surname}", None),
    ],
)
def test_templates(template: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(ValueError):
            propose("张伟", template=template)
    else:
        assert propose("张伟", template=template) == expected


def test_initials_cover_every_syllable() -> None:
    assert propose("欧阳娜娜", template="{initials}") == "oynn"
    assert propose("欧阳娜娜", template="{surname}{given_initials}") == "ouyangnn"


def test_template_cleanup() -> None:
    parts = NameParts("zhang", "wei", ("zhang",), ("wei",))
    assert render_local_part(parts, "..{surname}..{given}..", 32) == "zhang.wei"
    assert render_local_part(parts, "Mail.{surname}", 32) == "mail.zhang"
    assert render_local_part(parts, "-_{pinyin}_-", 32) == "zhangwei"
    assert render_local_part(parts, "{surname} {given}", 32) == "zhangwei"


def test_truncation_keeps_room_for_the_counter() -> None:
    # max_length 10 -> base at most 10 - SUFFIX_ROOM = 7 characters
    assert SUFFIX_ROOM == 3
    assert propose("上官婉儿", max_length=10) == "shanggu"
    assert propose("上官婉儿", max_length=32) == "shangguanwaner"
    # a cut that ends on a separator drops it
    assert propose("上官婉儿", template="{surname}.{given}", max_length=12) == "shangguan"
    assert propose("张伟", max_length=4) == "z"


def test_max_length_without_room_is_a_problem() -> None:
    problem = assert_problem(propose("张伟", max_length=3))
    assert "max_length" in problem.reason


# --- collisions -------------------------------------------------------------


def test_choose_local_part_counts_up() -> None:
    taken: set[str] = set()
    chosen = []
    for _ in range(3):
        uid = choose_local_part("zhangwei", taken.__contains__)
        taken.add(uid)
        chosen.append(uid)
    assert chosen == ["zhangwei", "zhangwei2", "zhangwei3"]


def test_choose_local_part_takes_the_first_free() -> None:
    taken = {"zhangwei", "zhangwei2", "zhangwei4"}
    assert choose_local_part("zhangwei", taken.__contains__) == "zhangwei3"
    assert choose_local_part("liwei", taken.__contains__) == "liwei"


def test_choose_local_part_is_deterministic_and_case_insensitive_by_contract() -> None:
    directory = {"ZhangWei", "zhangwei2"}
    lowered = {u.lower() for u in directory}
    results = {choose_local_part("zhangwei", lambda c: c.lower() in lowered) for _ in range(5)}
    assert results == {"zhangwei3"}


def test_choose_local_part_exhausted() -> None:
    with pytest.raises(LocalPartsExhausted):
        choose_local_part("zhangwei", lambda _: True)
    assert choose_local_part("zw", lambda c: c != f"zw{MAX_COUNTER}") == f"zw{MAX_COUNTER}"


# --- the table itself -------------------------------------------------------


def test_table_is_well_formed() -> None:
    syllable = re.compile(r"[a-zü]+")
    for key, reading in {**SINGLE_SURNAMES, **COMPOUND_SURNAMES}.items():
        assert len(reading) == len(key), key
        assert all(syllable.fullmatch(s) for s in reading), key
    assert all(len(k) == 1 for k in SINGLE_SURNAMES)
    assert all(len(k) >= 2 for k in COMPOUND_SURNAMES)
    for trad, simp in TRADITIONAL_TO_SIMPLIFIED.items():
        assert len(trad) == len(simp) == 1 and trad != simp
        assert trad not in SINGLE_SURNAMES, trad


def test_surname_reading_lookup() -> None:
    assert surname_reading("曾") == ("zeng",)
    assert surname_reading("尉迟") == ("yu", "chi")
    assert surname_reading("尉") == ("wei",)
    assert surname_reading("张") is None
    assert surname_reading("陈李") is None


# --- properties -------------------------------------------------------------

TEMPLATES = st.sampled_from(
    ["{pinyin}", "{surname}.{given}", "{surname}{given_initials}", "{initials}", "{given}_{surname}", "{given_initials}-{surname}"]
)
NAME_CHARS = st.one_of(
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
    st.sampled_from(list("曾单解仇朴区查盖乐缪覃翟尉迟欧阳吕女绿略·• 　\u200b.3aＡ𠀾㛃")),
    st.characters(),
)
NAMES = st.one_of(st.text(), st.text(alphabet=NAME_CHARS, max_size=8))


@settings(max_examples=300, deadline=None)
@given(
    name=NAMES,
    family_name=st.one_of(st.just(""), st.text(alphabet=NAME_CHARS, max_size=3)),
    template=TEMPLATES,
    u_umlaut=st.sampled_from(["v", "yu", "u"]),
    max_length=st.integers(min_value=3, max_value=64),
)
def test_propose_is_a_problem_or_a_valid_local_part(
    name: str, family_name: str, template: str, u_umlaut: str, max_length: int
) -> None:
    result = propose_local_part(name, family_name, template, u_umlaut, max_length)
    if isinstance(result, NamingProblem):
        assert result.reason and result.fix
    else:
        assert LOCAL_PART.match(result), result
        assert result.isascii()
        assert 0 < len(result) <= max_length - SUFFIX_ROOM
        assert ".." not in result and not result.endswith(".")


# Every URO character pypinyin has a reading for (a few, like 兙, have none).
READABLE_HAN = [chr(c) for c in range(0x4E00, 0xA000) if c in PINYIN_DICT]


@settings(max_examples=200, deadline=None)
@given(name=st.text(alphabet=st.sampled_from(READABLE_HAN), min_size=2, max_size=6))
def test_plain_han_names_always_convert(name: str) -> None:
    result = propose(name, max_length=64)
    assert isinstance(result, str) and re.fullmatch(r"[a-z]+", result), (name, result)


@given(raw=st.text())
def test_normalize_is_idempotent(raw: str) -> None:
    once = normalize_name(raw)
    assert normalize_name(once) == once
    assert not any(ch.isspace() for ch in once)


@given(
    base=st.from_regex(r"[a-z][a-z0-9._-]{0,12}", fullmatch=True),
    taken=st.sets(st.from_regex(r"[a-z][a-z0-9._-]{0,14}", fullmatch=True), max_size=20),
    counters=st.sets(st.integers(min_value=2, max_value=30), max_size=25),
    base_taken=st.booleans(),
)
def test_choose_never_returns_a_taken_name(base: str, taken: set[str], counters: set[int], base_taken: bool) -> None:
    taken = set(taken) | {f"{base}{n}" for n in counters}
    if base_taken:
        taken.add(base)
    chosen = choose_local_part(base, taken.__contains__)
    assert chosen not in taken
    assert chosen == base or (chosen.startswith(base) and chosen[len(base) :].isdigit())
    assert chosen == choose_local_part(base, taken.__contains__)
