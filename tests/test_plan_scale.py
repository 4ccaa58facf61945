"""Issue 6 (100k people): the planner's and readers' fast paths give what the plain code gave.

No timings here: scaling is guarded by counting operations (a quadratic step shows
as a count that grows with the square of the input), and every shortcut is checked
against the straightforward definition it replaces.
"""

from __future__ import annotations

import io
import re
import unicodedata
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.hr_csv import _lines
from connectors.hr_values import normalize_hr_name, normalize_text
from lifecycle.domain.models import ActionKind, GroupEntry, PersonStatus, SuspensionRule
from lifecycle.engine.render import plan_text
from lifecycle.journal.state import person_state, person_states
from lifecycle.testing import InMemoryDirectory
from policies.context import PolicyContext
from policies.groups import Membership, plan_groups
from policies.names import NameAllocator
from policies.naming import choose_local_part, normalize_name
from policies.placement import dn_key
from tests.harness import Cycle, at, hr, make_settings, person

NOW = at("2026-12-01T09:00")
GROUPS = "ou=groups,dc=example,dc=com"
HQ = "ou=hq,ou=people,dc=example,dc=com"

# Text with what the fast paths look at: white space of every kind, zero-width and
# compatibility characters, CJK (with gaps), control characters, surrogates, commas.
TRICKY = st.text(
    alphabet=st.sampled_from(
        [*list("aZ张伟 ,=\\"), "\u3000", "\t", "\n", "\r", "\x0b", "\x1c", "\x85", "\xa0", "\u2028", "\u200b", "\ufeff", "\xad", "\u180e", "\u2060", "Ａ", "１", "①", "ﬁ", "\x00", "\x7f", "\x9f", "İ", "ß", "Σ", "ǅ", "́"]
    ),
    max_size=12,
)


def _reference_normalize_text(text: str) -> str:
    zero_width = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"), None)
    text = unicodedata.normalize("NFKC", text).translate(zero_width)
    return re.sub(r"\s+", " ", text).strip()


def _reference_dn_key(dn: str) -> str:
    # Each value as slapd's caseIgnoreMatch takes it (tests/test_ldap_matching.py checks that against slapd).
    return ",".join(" ".join(unicodedata.normalize("NFKC", part).replace("\u0130", "i").lower().split()) for part in dn.split(","))


def _reference_normalize_name(raw: str) -> str:
    text = unicodedata.normalize("NFKC", raw)
    text = "".join(ch for ch in text if not ch.isspace() and ch not in "\u200b\u200c\u200d\ufeff\u2060")
    return unicodedata.normalize("NFKC", text)


@settings(max_examples=600, derandomize=True)
@given(TRICKY)
def test_fast_paths_equal_their_definitions(text: str) -> None:
    assert normalize_text(text) == _reference_normalize_text(text)
    assert dn_key(text) == _reference_dn_key(text)
    assert normalize_name(text) == _reference_normalize_name(text)
    cjk_gap = re.compile(r"(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])")
    assert normalize_hr_name(text) == cjk_gap.sub("", _reference_normalize_text(text))


@settings(max_examples=600, derandomize=True)
@given(st.lists(st.sampled_from(["a", ",", '"', "\r", "\n", "\r\n", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "中"]),
                max_size=16).map("".join))
def test_csv_lines_are_the_lines_stringio_gives(text: str) -> None:
    assert list(_lines(text)) == list(io.StringIO(text, newline=""))


def test_company_of_dn_caches_by_parent_without_changing_answers(tmp_path) -> None:
    ctx = PolicyContext(make_settings(tmp_path), NOW)

    def reference(dn: str) -> str | None:
        lowered = _reference_dn_key(dn)
        keys = sorted((("," + _reference_dn_key(c.people_dn), c.code) for c in ctx.settings.companies),
                      key=lambda item: -len(item[0]))
        return next((code for suffix, code in keys if lowered.endswith(suffix)), None)

    dns = [f"uid=a,{HQ}", "UID=B, OU=HQ,ou=People,dc=Example,dc=com", "uid=c,ou=sz,ou=people,dc=example,dc=com",
           r"uid=a\,ou=hq,ou=people,dc=example,dc=com", "uid=x,ou=other,dc=example,dc=com", HQ, "ou=people,dc=example,dc=com",
           f"cn=x,uid=y,{HQ}", "", "uid=nocomma", f",{HQ}"]
    for _ in range(2):  # the second round answers from the cache
        for dn in dns:
            assert ctx.company_of_dn(dn) == reference(dn), dn


def _member(n: int, department: str = "研发部") -> Membership:
    return Membership(str(n), "HQ", department, f"uid=user{n:03d},{HQ}")


def test_a_new_group_is_one_create_group_with_every_member_sorted() -> None:
    wanted = [_member(n) for n in (7, 3, 12, 1)]
    actions = plan_groups(wanted, (), {}, {}, set(), {}, [HQ], GROUPS)
    assert [a.kind for a in actions] == [ActionKind.CREATE_GROUP]
    params = actions[0].params
    assert list(params.members) == sorted((m.dn for m in wanted), key=dn_key)
    assert params.first_member == params.members[0] == f"uid=user001,{HQ}"
    assert actions[0].employee_id == "1"
    assert actions[0].changes == {"member": [None, list(params.members)]}


def test_an_existing_group_still_gets_one_action_per_member_change() -> None:
    group = GroupEntry(f"cn=HQ-研发部,{GROUPS}", "HQ-研发部", "HQ", "研发部", frozenset({f"uid=user001,{HQ}", f"uid=user002,{HQ}"}))
    dn_after = {dn_key(f"uid=user{n:03d},{HQ}"): f"uid=user{n:03d},{HQ}" for n in (1, 2, 3, 4)}
    wanted = [_member(1), _member(3), _member(4)]
    actions = plan_groups(wanted, (group,), dn_after, {}, set(), {dn_key(f"uid=user002,{HQ}"): "2"}, [HQ], GROUPS)
    assert [(a.kind, a.params.member_dn) for a in actions] == [
        (ActionKind.ADD_MEMBER, f"uid=user003,{HQ}"),
        (ActionKind.ADD_MEMBER, f"uid=user004,{HQ}"),
        (ActionKind.REMOVE_MEMBER, f"uid=user002,{HQ}"),
    ]


def test_initial_load_plans_groups_with_their_members_and_applies_them(tmp_path) -> None:
    cycle = Cycle(make_settings(tmp_path), InMemoryDirectory(created=NOW - timedelta(days=1)))
    try:
        snapshot = hr(person("1", "李娜", department="财务部"), person("2", "王芳", department="财务部", manager="1"),
                      person("3", "张伟", department="财务部"), person("4", "曾伟", department="研发部"))
        plan, result = cycle.apply(snapshot, NOW)
        assert result.ok
        assert not [a for a in plan.actions if a.kind == ActionKind.ADD_MEMBER]
        created = {a.params.department: a.params.members for a in plan.actions if a.kind == ActionKind.CREATE_GROUP}
        assert {k: len(v) for k, v in created.items()} == {"财务部": 3, "研发部": 1}
        finance = cycle.directory.groups[dn_key(f"cn=HQ-财务部,{GROUPS}")]
        assert sorted(map(dn_key, finance["member"])) == sorted(map(dn_key, created["财务部"]))
        assert "3 members" in plan_text(plan)
        assert cycle.plan(snapshot, NOW).actions == ()
    finally:
        cycle.close()


class _CountingSet(set):
    lookups = 0

    def __contains__(self, item: object) -> bool:
        _CountingSet.lookups += 1
        return super().__contains__(item)


def test_numbering_a_common_name_is_linear_and_names_like_choose_local_part(tmp_path) -> None:
    naming = make_settings(tmp_path).naming
    taken = {"zhangwei", "zhangwei2", "zhangwei5"}
    allocator = NameAllocator(set(taken), {}, naming)
    allocator._taken = _CountingSet(allocator._taken)
    reference = set(taken)
    people = 400
    for n in range(people):
        record = person(str(n), "张伟")
        expected = choose_local_part("zhangwei", lambda name: name in reference)
        reference.add(expected)
        assert allocator.allocate(record) == expected
    # Resuming where the last search ended: about one look-up per person, not n/2 on average.
    assert _CountingSet.lookups < 3 * people + 10


def test_stored_state_rows_become_the_same_person_states() -> None:
    when = "2026-01-02T03:04:05+00:00"
    rows = [
        ("1", "lina", "HQ", "active", when, None, None, None, None, None, None, False, when),
        ("2", "wangfang", "SZ", "suspended", when, when, "leaver", None, "2026-02-01T00:00:00+00:00", None, None, 1, None),
        ("3", "zhangwei", "HQ", "deleted", None, when, "inactivity", when, None, when, when, 0, None),
    ]
    columns = ("employee_id", "uid", "company", "status", "created_at", "suspended_at", "suspension_rule", "deleted_at",
               "absent_since", "warned_at", "restored_at", "match_confirmed", "reset_due_at")
    fast = person_states(rows)
    assert fast == tuple(person_state(dict(zip(columns, row))) for row in rows)
    assert fast[1].status == PersonStatus.SUSPENDED and fast[2].suspension_rule == SuspensionRule.INACTIVITY
    assert fast[0].created_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert fast[0].created_at is fast[1].created_at  # one object per distinct timestamp
    with pytest.raises(ValueError):
        person_states([("4", "x", "HQ", "bogus", None, None, None, None, None, None, None, False, None)])


def test_employment_words_are_made_when_quoted(tmp_path) -> None:
    from policies.employment import Standing, employment

    ctx = PolicyContext(make_settings(tmp_path), NOW)
    emp = employment(person("9", "李娜", hire=date(2020, 5, 6)), ctx)
    assert emp.standing == Standing.EMPLOYED
    assert emp.why.startswith("employed since 2020-05-06, status active (")
    assert emp == employment(person("9", "李娜", hire=date(2020, 5, 6)), ctx)
