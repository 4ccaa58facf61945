"""Department groups kept equal to HR (tests/MUTATION.md): what `plan_groups` writes, word for word.

One groupOfNames per company + department. Only accounts in the managed subtrees are added or
removed; anything else in a managed group stays; a group left with nobody is deleted; a new
group is made in one action with every member.
"""

from __future__ import annotations

from lifecycle.domain.action_params import GroupDeletionParams, MemberParams, NewGroupParams
from lifecycle.domain.models import Action, ActionKind, GroupEntry
from policies.groups import Departure, Membership, plan_groups, spelling, spelling_variants
from policies.placement import dn_key, group_key

HQ = "ou=hq,ou=people,dc=example,dc=com"
SZ = "ou=sz,ou=people,dc=example,dc=com"
GROUPS = "ou=groups,dc=example,dc=com"
SALES = f"cn=HQ-Sales,{GROUPS}"
A, B, C = f"uid=a,{HQ}", f"uid=b,{HQ}", f"uid=c,{HQ}"
OUTSIDER = "uid=admin,ou=admins,dc=example,dc=com"  # not in a managed subtree


def member(employee_id: str, dn: str, department: str = "Sales", company: str = "HQ") -> Membership:
    return Membership(employee_id, company, department, dn)


def group(*members: str, dn: str = SALES, department: str = "Sales") -> GroupEntry:
    return GroupEntry(dn, dn.split(",")[0][3:], "HQ", department, frozenset(members))


def plan(wanted, groups=(), *, dn_after=None, causes=None, frozen=(), owners=None) -> list[Action]:
    owners = {dn_key(k): v for k, v in (owners or {}).items()}
    causes = {dn_key(k): v for k, v in (causes or {}).items()}
    # Accounts a, b and c exist and stay where they are unless `dn_after` says otherwise.
    dn_after = {dn_key(k): v for k, v in ({A: A, B: B, C: C} | (dn_after or {})).items()}
    return plan_groups(list(wanted), tuple(groups), dn_after, causes, {dn_key(f) for f in frozen}, owners, [HQ, SZ], GROUPS)


def test_a_member_hr_adds_is_one_add_member_with_the_member_as_the_change() -> None:
    actions = plan([member("1", A), member("2", B)], [group(A)], owners={A: "1"})
    assert actions == [Action(
        ActionKind.ADD_MEMBER, "2", "HQ", SALES, "groups", "in department Sales of HQ according to HR",
        changes={"member": [None, B]}, params=MemberParams(SALES, B),
    )]


def test_a_member_hr_moved_elsewhere_leaves_early_with_the_member_as_the_before() -> None:
    actions = plan([member("1", A)], [group(A, B)], owners={A: "1", B: "2"})
    assert actions == [Action(
        ActionKind.REMOVE_MEMBER, "2", "HQ", SALES, "groups", "no longer in department Sales of HQ",
        changes={"member": [B, None]}, params=MemberParams(SALES, B, early=True),
    )]


def test_a_departure_names_its_cause_and_its_employee() -> None:
    actions = plan([member("1", A)], [group(A, B)], causes={B: Departure("2", "account suspended (leaver)")})
    (remove,) = actions
    assert (remove.employee_id, remove.reason) == ("2", "account suspended (leaver)")


def test_a_removal_that_would_empty_the_group_before_the_additions_is_not_early() -> None:
    actions = plan([member("2", B)], [group(A)], owners={A: "1"})
    assert [(a.kind, a.params) for a in actions] == [
        (ActionKind.ADD_MEMBER, MemberParams(SALES, B)),
        (ActionKind.REMOVE_MEMBER, MemberParams(SALES, A)),
    ]
    assert actions[1].changes == {"member": [A, None]} and actions[1].employee_id == "1"


def test_an_entry_we_do_not_manage_keeps_the_group_and_lets_removals_go_early() -> None:
    # The admin in the group is not ours: it stays, and the group is not empty without our members.
    actions = plan([], [group(A, OUTSIDER)], owners={A: "1"})
    assert [(a.kind, a.params) for a in actions] == [
        (ActionKind.REMOVE_MEMBER, MemberParams(SALES, A, early=True)),
    ]
    frozen = f"uid=manual,{HQ}"  # an entry in our subtree that no HR person owns
    actions = plan([], [group(A, frozen)], owners={A: "1"}, frozen=[frozen])
    assert [(a.kind, a.params.member_dn, a.params.early) for a in actions] == [
        (ActionKind.REMOVE_MEMBER, A, True),
    ]


def test_a_group_nobody_is_left_in_is_deleted_naming_who_leaves_it() -> None:
    actions = plan([], [group(B, A)], owners={A: "1", B: "2"})
    assert actions == [Action(
        ActionKind.DELETE_GROUP, "", "HQ", SALES, "groups", "nobody is left in department Sales of HQ",
        params=GroupDeletionParams(SALES, ("1", "2")),
    )]


def test_a_member_pointing_at_a_vanished_account_of_ours_is_removed_as_stale() -> None:
    gone = f"uid=gone,{SZ}"
    actions = plan([member("1", A)], [group(A, gone)], owners={gone: "9"})
    assert actions == [Action(
        ActionKind.REMOVE_MEMBER, "9", "HQ", SALES, "groups", "the account no longer exists",
        changes={"member": [gone, None]}, params=MemberParams(SALES, gone, early=True),
    )]
    (remove,) = plan([member("1", A)], [group(A, gone)], causes={gone: Departure("9", "account deleted (retention)")})
    assert (remove.employee_id, remove.reason) == ("9", "account deleted (retention)")
    (remove,) = plan([member("1", A)], [group(A, gone)])
    assert remove.employee_id == ""


def test_a_stale_member_of_a_group_left_otherwise_empty_is_not_removed_early() -> None:
    gone = f"uid=gone,{SZ}"
    actions = plan([member("2", B)], [group(gone)])
    assert [(a.kind, a.params) for a in actions] == [
        (ActionKind.ADD_MEMBER, MemberParams(SALES, B)),
        (ActionKind.REMOVE_MEMBER, MemberParams(SALES, gone)),
    ]


def test_a_member_the_plan_moves_out_leaves_under_its_current_dn() -> None:
    moved = f"uid=b,{SZ}"
    actions = plan([member("1", A)], [group(A, B)], dn_after={B: moved}, owners={moved: "2"})
    (remove,) = actions
    assert remove.params == MemberParams(SALES, B, early=True)
    assert (remove.employee_id, remove.changes) == ("2", {"member": [B, None]})


def test_a_member_the_plan_moves_and_hr_keeps_stays_without_an_action() -> None:
    moved = f"uid=b,{SZ}"
    assert plan([member("1", A), member("2", moved)], [group(A, B)], dn_after={B: moved}) == []


def test_a_member_the_plan_deletes_is_left_to_the_directory() -> None:
    assert plan([member("1", A)], [group(A, B)], dn_after={B: None}) == []


def test_an_account_re_made_at_the_same_dn_is_still_a_member() -> None:
    remade = f"uid=d,{HQ}"  # no entry today (deleted), created again by this plan: the group still names it
    assert plan([member("1", A), member("4", remade)], [group(A, remade)]) == []


def test_a_new_group_is_one_create_with_every_member_sorted_by_dn() -> None:
    actions = plan([member("3", C), member("1", A), member("2", B)])
    dn = f"cn=HQ-Sales,{GROUPS}"
    assert actions == [Action(
        ActionKind.CREATE_GROUP, "1", "HQ", dn, "groups", "department Sales of HQ according to HR: 3 members",
        changes={"member": [None, [A, B, C]]},
        params=NewGroupParams(dn, "HQ", "Sales", A, (A, B, C)),
    )]
    (one,) = plan([member("2", B)])
    assert one.reason == "department Sales of HQ according to HR: 1 member"


def test_a_department_spelled_two_ways_is_one_group_named_by_the_most_common_spelling() -> None:
    actions = plan([member("1", A, "sales"), member("2", B, "Sales"), member("3", C, "Sales")])
    (create,) = actions
    assert (create.params.department, create.params.members) == ("Sales", (A, B, C))
    assert create.target == f"cn=HQ-Sales,{GROUPS}"
    assert spelling([member("1", A, "sales"), member("2", B, "Sales")]) == ("HQ", "Sales")  # a tie: code order
    assert spelling([member("1", A, "sales"), member("2", B, "sales"), member("3", C, "Sales")]) == ("HQ", "sales")


def test_an_existing_group_spelled_otherwise_is_the_same_group() -> None:
    assert plan([member("1", A, "SALES")], [group(A)]) == []


def test_of_two_groups_with_one_name_the_first_by_dn_is_kept_in_step() -> None:
    other = f"cn=hq-sales,ou=old,{GROUPS}"
    actions = plan([member("1", A), member("2", B)], [group(A, dn=other), group(dn=SALES)])
    # SALES sorts first (cn=HQ-Sales,ou=groups < cn=hq-sales,ou=old...): it gets both; the duplicate is left alone.
    assert [(a.kind, a.target, a.params.member_dn) for a in actions] == [
        (ActionKind.ADD_MEMBER, SALES, A), (ActionKind.ADD_MEMBER, SALES, B),
    ]


def test_spelling_variants_lists_only_departments_hr_spells_more_than_one_way() -> None:
    wanted = [member("1", A, "sales"), member("2", B, "Sales"), member("3", C, "R&D"), member("4", C, "R&D")]
    assert spelling_variants(wanted) == {group_key("HQ", "Sales"): [("HQ", "Sales"), ("HQ", "sales")]}


def test_a_duplicate_group_does_not_stop_the_groups_after_it() -> None:
    duplicate = f"cn=hq-sales,ou=old,{GROUPS}"
    later = f"cn=HQ-Support,ou=old2,{GROUPS}"  # sorts after the duplicate
    actions = plan([member("1", A), member("2", B, "Support")],
                   [group(A), group(dn=duplicate), group(dn=later, department="Support")])
    assert [(a.kind, a.target, a.params.member_dn) for a in actions] == [(ActionKind.ADD_MEMBER, later, B)]


def test_a_removal_nobody_owns_or_explains_names_no_employee() -> None:
    (remove,) = plan([member("1", A)], [group(A, B)])
    assert (remove.employee_id, remove.reason) == ("", "no longer in department Sales of HQ")


def test_every_new_group_is_made_also_after_one_that_exists() -> None:
    actions = plan([member("1", A, "Admin"), member("2", B), member("3", C, "Support")], [group(B)])
    assert [(a.kind, a.params.department) for a in actions] == [
        (ActionKind.CREATE_GROUP, "Admin"), (ActionKind.CREATE_GROUP, "Support"),
    ]


# -- department paths, nested (department_groups = "nested") ------------------------------------

OPS = "广州分公司/运营部"
LOGISTICS = "广州分公司/运营部/物流组"


def path_group(department: str, *members: str) -> GroupEntry:
    dn = f"cn=HQ-{department},{GROUPS}"
    return GroupEntry(dn, f"HQ-{department}", "HQ", department, frozenset(members))


def test_each_level_of_a_path_is_a_member_of_the_level_above() -> None:
    from policies.groups import nested_memberships

    wanted = [member("1", A, LOGISTICS), member("2", B, LOGISTICS), member("3", C, OPS)]
    levels = nested_memberships(wanted, GROUPS)
    assert sorted((m.department, m.dn) for m in levels) == [
        ("广州分公司", f"cn=HQ-{OPS},{GROUPS}"),
        (OPS, f"cn=HQ-{LOGISTICS},{GROUPS}"),
    ]
    assert {m.employee_id for m in levels} == {""}  # a group is nobody's account


def test_nested_groups_are_created_with_their_children_and_a_stale_child_is_removed_only_when_nested() -> None:
    from policies.groups import nested_memberships

    wanted = [member("1", A, LOGISTICS)]
    actions = plan(wanted + nested_memberships(wanted, GROUPS))
    created = {a.params.department: a.params.members for a in actions if a.kind == ActionKind.CREATE_GROUP}
    assert created == {
        LOGISTICS: (A,),
        OPS: (f"cn=HQ-{LOGISTICS},{GROUPS}",),
        "广州分公司": (f"cn=HQ-{OPS},{GROUPS}",),
    }
    # 物流组 was renamed away: its group leaves 运营部, which keeps 1 and 3's new department.
    old_child = f"cn=HQ-{LOGISTICS},{GROUPS}"
    ops = path_group(OPS, old_child, C)
    now_wanted = [member("3", C, OPS)]
    nested = frozenset({dn_key(old_child), dn_key(ops.dn)})
    owners = {dn_key(C): "3"}
    dn_after = {dn_key(k): k for k in (A, B, C)}
    actions = plan_groups(now_wanted, (ops,), dn_after, {}, set(), owners, [HQ, SZ], GROUPS, nested)
    assert [(a.kind, a.params.member_dn) for a in actions] == [(ActionKind.REMOVE_MEMBER, old_child)]
    # In leaf mode the same group member is somebody else's doing: left alone.
    assert plan_groups(now_wanted, (ops,), dn_after, {}, set(), owners, [HQ, SZ], GROUPS) == []
