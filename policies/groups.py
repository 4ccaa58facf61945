"""Department groups: one groupOfNames per company + department, kept equal to HR.

Only members that are accounts in the managed subtrees are added or removed;
anything else an admin put into a managed group stays.  groupOfNames needs
at least one member, so a group left with nobody is deleted, not emptied.

Departments that are paths ("广州分公司/运营部/物流组") name their group by the whole path.
With `[hr] department_groups = "nested"` every level of the path has a group too, and
each level's group is a member of its parent's (`nested_memberships`); a managed group
is then also a member the plan adds and removes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lifecycle.domain.action_params import GroupDeletionParams, MemberParams, NewGroupParams
from lifecycle.domain.models import Action, ActionKind, GroupEntry
from policies.placement import dn_key, group_dn, group_key


@dataclass(frozen=True, slots=True)
class Membership:
    """A person who should be in a department group after the plan."""

    employee_id: str
    company: str
    department: str
    dn: str
    key: str = ""  # dn_key(dn), when the caller has it already

    @property
    def dn_key(self) -> str:
        return self.key or dn_key(self.dn)


@dataclass(frozen=True, slots=True)
class Departure:
    """Why a current member leaves its group (suspension, move...)."""

    employee_id: str
    reason: str


def plan_groups(
    wanted: list[Membership],
    groups: tuple[GroupEntry, ...],
    dn_after: dict[str, str | None],
    causes: dict[str, Departure],
    frozen: set[str],
    owners: Mapping[str, str],
    managed_bases: list[str],
    groups_dn: str,
    nested: frozenset[str] = frozenset(),
) -> list[Action]:
    """Actions bringing managed groups in step with `wanted`.

    An existing group gets one add_member / remove_member per change; removals
    are flagged `early` (the engine orders them before the moves and additions;
    a member the plan moves leaves under its current DN) unless they would
    empty the group first.  A group
    that does not exist yet gets ONE create_group whose params carry every
    initial member (`members`, sorted by DN key; `first_member` is members[0]).

    dn_after maps dn_key(current entry DN) -> DN after the plan (None when the
    entry is deleted by the plan: the directory drops it from groups itself).
    causes maps a post-plan DN key to why that person leaves their groups;
    frozen holds DN keys of existing entries we do not manage (left alone);
    owners maps a post-plan DN key to its employee id; nested holds the DN keys of managed
    groups that may be members of other managed groups (department_groups = "nested").
    """
    # Keyed by the group's name as the directory compares it: departments spelled `Sales` and `SALES`
    # are one entry to LDAP, so they are one group here too.
    by_key: dict[str, list[Membership]] = {}
    for wanted_member in wanted:
        by_key.setdefault(group_key(wanted_member.company, wanted_member.department), []).append(wanted_member)
    bases = [dn_key(b) for b in managed_bases]
    actions: list[Action] = []
    seen: set[str] = set()
    for group in sorted(groups, key=lambda g: dn_key(g.dn)):
        key = group_key(group.company, group.department)
        if key in seen:
            continue  # a duplicate managed group: the first one (by DN) is kept in step
        seen.add(key)
        desired = {m.dn_key: m for m in by_key.get(key, [])}
        current: dict[str, str] = {}  # post-plan DN key -> DN after the plan
        moving: dict[str, str] = {}  # post-plan DN key -> DN value as stored in the group, for members the plan moves
        stale: list[str] = []
        foreign = 0
        for member in sorted(group.members):
            member_key = dn_key(member)
            if member_key in frozen:
                foreign += 1  # an entry we do not manage: its membership is not ours to change
            elif member_key in dn_after:
                after = dn_after[member_key]
                if after is not None:
                    after_key = dn_key(after)
                    current[after_key] = after
                    if after_key != member_key:
                        moving[after_key] = member
            elif member_key in desired or member_key in nested:
                current[member_key] = member  # an account re-made at the same DN, or a level's group: ours
            elif any(member_key.endswith("," + base) for base in bases):
                stale.append(member)  # points at an entry that no longer exists
            else:
                foreign += 1
        adds = [desired[k] for k in sorted(desired) if k not in current]
        removes = [k for k in sorted(current) if k not in desired]
        label = f"department {group.department} of {group.company}"
        if not desired and not foreign:
            leaving = sorted({owners[k] for k in current if k in owners})
            actions.append(
                Action(
                    ActionKind.DELETE_GROUP, "", group.company, group.dn, "groups",
                    f"nobody is left in {label}", params=GroupDeletionParams(group.dn, tuple(leaving)),
                )
            )
            continue
        for added in adds:
            actions.append(_member_action(ActionKind.ADD_MEMBER, group.dn, added.dn, added.employee_id, group.company,
                                          f"in {label} according to HR"))
        # Everyone leaving a group leaves first, before the moves and additions, in one batch: slapd rewrites
        # the whole group entry on every write (and, with 32-bit index hashes, re-indexes every member after a
        # removal), so that is one write per group and batch; and a mover leaves under its old DN before the
        # move, so refint has nothing of ours to rewrite and nothing waits for it (removing the new DN
        # afterwards races refint's rename).  Not when that would empty the group before this plan's
        # additions: a groupOfNames needs a member.
        early = foreign + len(current) - len(removes) > 0
        for key in removes:
            cause = causes.get(key)
            why = cause.reason if cause else f"no longer in {label}"
            who = cause.employee_id if cause else owners.get(key, "")
            removed = moving.get(key, current[key]) if early else current[key]
            actions.append(_member_action(ActionKind.REMOVE_MEMBER, group.dn, removed, who, group.company, why, early=early))
        for dn in stale:
            cause = causes.get(dn_key(dn))
            why = cause.reason if cause else "the account no longer exists"
            who = cause.employee_id if cause else owners.get(dn_key(dn), "")
            actions.append(_member_action(ActionKind.REMOVE_MEMBER, group.dn, dn, who, group.company, why, early=early))
    for key in sorted(by_key):
        if key in seen:
            continue
        members = sorted(by_key[key], key=lambda m: m.dn_key)
        company, department = spelling(members)
        dn = group_dn(company, department, groups_dn)
        first = members[0]
        dns = [m.dn for m in members]
        # One action (one LDAP add) makes the group with everyone HR puts in it; `first_member`
        # (= members[0]) stays for executors and tools that know only the one-member form.
        actions.append(
            Action(
                ActionKind.CREATE_GROUP, first.employee_id, company, dn, "groups",
                f"department {department} of {company} according to HR: {len(dns)} member{'' if len(dns) == 1 else 's'}",
                changes={"member": [None, dns]},
                params=NewGroupParams(dn, company, department, first.dn, tuple(dns)),
            )
        )
    return actions


def nested_memberships(wanted: list[Membership], groups_dn: str) -> list[Membership]:
    """Each level of a department path as a member of the level above ("A/B/C" in "A/B", "A/B" in "A"),
    for the departments people are in."""
    found: dict[tuple[str, str], Membership] = {}
    for company, department in sorted({(m.company, m.department) for m in wanted if "/" in m.department}):
        levels = department.split("/")
        for depth in range(len(levels) - 1, 0, -1):
            child, parent = "/".join(levels[: depth + 1]), "/".join(levels[:depth])
            dn = group_dn(company, child, groups_dn)
            found.setdefault((group_key(company, parent), dn_key(dn)), Membership("", company, parent, dn))
    return list(found.values())


def spelling(members: list[Membership]) -> tuple[str, str]:
    """The (company, department) a new group is named after: HR's most common spelling, then the first in code order."""
    counts: dict[tuple[str, str], int] = {}
    for member in members:
        spelled = (member.company, member.department)
        counts[spelled] = counts.get(spelled, 0) + 1
    return min(counts, key=lambda spelled: (-counts[spelled], spelled))


def spelling_variants(wanted: list[Membership]) -> dict[str, list[tuple[str, str]]]:
    """Group key -> the spellings HR uses for it, where it uses more than one (`Sales` and `sales`)."""
    spellings: dict[str, set[tuple[str, str]]] = {}
    for member in wanted:
        spellings.setdefault(group_key(member.company, member.department), set()).add((member.company, member.department))
    return {key: sorted(found) for key, found in spellings.items() if len(found) > 1}


def _member_action(
    kind: ActionKind, group: str, member: str, employee_id: str, company: str, reason: str, *, early: bool = False
) -> Action:
    before, after = (None, member) if kind == ActionKind.ADD_MEMBER else (member, None)
    return Action(kind, employee_id, company, group, "groups", reason, changes={"member": [before, after]},
                  params=MemberParams(group, member, early))
