"""Guards between the plan and the world: nothing destructive goes through unless they say yes.

- Outcome guard: per company, more suspensions + deletions in one cycle than
  `max_destructive`, or than `max_destructive_fraction` of the company's accounts
  (never fewer than `destructive_floor`), are held for an admin's approval.
- `approve_deletions`: every deletion waits for approval.
- Frozen companies (an unhealthy HR feed): no destructive action this cycle, and no
  forward of a departed address removed.
- Rejected by an admin: the same action is not applied while the rejection stands.

- Creation guard: per company, more new accounts in one cycle than `max_creations`, or than
  `max_creation_fraction` of the company's accounts (never fewer than `creation_floor`), are
  held for an admin's approval; a company with no account yet, or none of whose HR exports a clean cycle has
  accepted yet (its first load, resumed after a crash or on an existing directory), is not held.
- A joiner who may have an account already (policies.adoption) is not created: held until an
  admin adopts an entry or asks for a new account (`lifecycle adopt`), not by an approval.
- An admin's own suspension (`lifecycle suspend`, rule "intervention") is the admin's decision:
  the outcome guard neither counts nor holds it.

The rest of the plan goes ahead.  An action that depends on a held suspension
(leaving the person's groups) is held with it; so is what depends on a held creation
(the person's mailbox, groups, write-back), and a manager attribute naming the held
new entry is left out until it exists.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from lifecycle.domain.action_params import (
    AddressParams,
    AliasParams,
    AttributeUpdateParams,
    ForwardParams,
    GroupDeletionParams,
    MemberParams,
    NewAccountParams,
    NewGroupParams,
)
from lifecycle.domain.dn import dn_key
from lifecycle.domain.models import DESTRUCTIVE_KINDS, Action, ActionKey, ActionKind, Held, SuspensionRule
from lifecycle.domain.settings import GuardSettings

ADMINS_OWN = SuspensionRule.INTERVENTION.value  # the rule of an admin's `lifecycle suspend`

# Actions that take something away from a person: held together with their suspension.
FOLLOWERS = frozenset({
    ActionKind.REMOVE_MEMBER, ActionKind.DELETE_GROUP, ActionKind.SUSPEND_MAILBOX, ActionKind.FORWARD_MAIL,
    ActionKind.AUTO_REPLY, ActionKind.ARCHIVE_MAILBOX, ActionKind.DELETE_MAILBOX, ActionKind.CREATE_ALIAS,
})


def action_key(action: Action) -> ActionKey:
    """What identifies "the same action" across cycles, for approvals and rejections."""
    return (action.kind.value, action.employee_id, action.target)


@dataclass(frozen=True)
class Guarded:
    allowed: tuple[Action, ...]
    held: tuple[Held, ...]


def guard_plan(
    actions: Iterable[Action],
    accounts_per_company: dict[str, int],
    settings: GuardSettings,
    *,
    approved: frozenset[ActionKey] = frozenset(),
    rejected: frozenset[ActionKey] = frozenset(),
    frozen: dict[str, str] | None = None,
    waiting: Mapping[str, str] | None = None,
    addresses: Mapping[str, str] | None = None,
    first_loads: frozenset[str] = frozenset(),
) -> Guarded:
    """`waiting`: employee id -> why the joiner's creation waits for an admin (policies.adoption).
    `first_loads`: companies no clean cycle has accepted HR rows of yet (their first load, perhaps resumed after
    a crash): the creation guard does not hold them.
    `addresses`: employee id -> their address in lower case, for the people a suspension or deletion is planned
    for (a list that drops one of them waits with their held suspension)."""
    actions = list(actions)
    frozen = frozen or {}
    waiting = waiting or {}
    addresses = addresses or {}
    held: dict[int, Held] = {}

    destructive: dict[str, list[int]] = defaultdict(list)
    creations: dict[str, list[int]] = defaultdict(list)
    for index, action in enumerate(actions):
        key = action_key(action)
        if action.kind is ActionKind.SUSPEND_ACCOUNT and action.rule == ADMINS_OWN:
            # An admin's decision, taken one person at a time: not the guard's to count or hold, nor held by an
            # older rejection of the same key (an inactivity suspension an admin rejected).
            continue
        if key in rejected:
            held[index] = Held(action, "rejected by an admin; not applied while the rejection stands", approvable=False)
        elif action.kind is ActionKind.CREATE_ACCOUNT:
            if action.employee_id in waiting:
                held[index] = Held(action, waiting[action.employee_id], approvable=False)
            else:  # approved ones count too (approving some of a renumbered feed does not release the rest)
                creations[action.company].append(index)
        elif action.kind is ActionKind.DELETE_ALIAS and action.company in frozen:
            # A broken feed can make departed people look employed again: their address keeps its forward.
            held[index] = Held(action, f"HR feed for {action.company} is frozen: {frozen[action.company]}; "
                                       "the address keeps its forward until the feed is healthy", approvable=False)
        elif action.kind is ActionKind.UPDATE_ALIAS and action.company in frozen and _list_change(action)[1]:
            # A broken feed can make employed people look gone: nobody leaves a list on its word.
            held[index] = Held(action, f"HR feed for {action.company} is frozen: {frozen[action.company]}; nobody "
                                       "leaves the list until the feed is healthy", approvable=False)
        elif action.kind in DESTRUCTIVE_KINDS:
            if action.company in frozen:
                held[index] = Held(action, f"HR feed for {action.company} is frozen: {frozen[action.company]}", approvable=False)
            elif key in approved:
                continue
            elif action.kind == ActionKind.DELETE_ACCOUNT and settings.approve_deletions:
                held[index] = Held(action, "every deletion waits for approval ([guards] approve_deletions = true)")
            else:
                destructive[action.company].append(index)

    for company, indexes in destructive.items():
        accounts = accounts_per_company.get(company, 0)
        limit = min(settings.max_destructive, max(settings.destructive_floor, math.floor(settings.max_destructive_fraction * accounts)))
        if len(indexes) > limit:
            why = (
                f"{len(indexes)} suspensions/deletions for {company} in one cycle exceed the limit of {limit} "
                f"(max_destructive {settings.max_destructive}, {settings.max_destructive_fraction:.0%} of {accounts} accounts, "
                f"floor {settings.destructive_floor}); approve with `lifecycle approve`"
            )
            for index in indexes:
                held[index] = Held(actions[index], why)

    for company, indexes in creations.items():
        accounts = accounts_per_company.get(company, 0)
        if not accounts or company in first_loads:
            continue  # the company's first load: every account is new (also when it resumes after a crash)
        limit = min(settings.max_creations, max(settings.creation_floor, math.floor(settings.max_creation_fraction * accounts)))
        if len(indexes) > limit:
            why = (
                f"{len(indexes)} new accounts for {company} in one cycle exceed the limit of {limit} "
                f"(max_creations {settings.max_creations}, {settings.max_creation_fraction:.0%} of {accounts} accounts, "
                f"floor {settings.creation_floor}); a renumbered HR feed looks like this. If the ids were renumbered, "
                "do not approve: fix the ids in HR (or re-key each person: `lifecycle unlink OLD_ID`, then "
                "`lifecycle adopt NEW_ID OLD_UID`); approve only real joiners, with `lifecycle approve`"
            )
            for index in indexes:
                if action_key(actions[index]) not in approved:
                    held[index] = Held(actions[index], why)
    _hold_what_needs_a_held_creation(actions, held)
    _keep_held_addresses_off_lists(actions, held)

    # What follows a held suspension or deletion waits with it.
    held_people = {h.action.employee_id for h in held.values() if h.action.kind in DESTRUCTIVE_KINDS}
    for index, action in enumerate(actions):
        if index in held or action.kind not in FOLLOWERS:
            continue
        leaving = action.params.leaving if isinstance(action.params, GroupDeletionParams) else ()
        people = set(leaving) | ({action.employee_id} if action.employee_id else set())
        if people & held_people:
            held[index] = Held(action, "waits for a held suspension of a member", approvable=False)
    # A list keeps a person whose suspension is held (list actions name nobody: their addresses tell).
    held_addresses = {addresses[p] for p in held_people if p in addresses}
    for index, action in enumerate(actions):
        if index not in held and action.kind is ActionKind.UPDATE_ALIAS and held_addresses & _list_change(action)[1]:
            held[index] = Held(action, "waits for a held suspension of a member", approvable=False)

    # An alias re-pointed (removed, then made again) is made only once the old one is gone.
    kept_aliases = {(h.action.employee_id, h.action.target) for h in held.values() if h.action.kind is ActionKind.DELETE_ALIAS}
    for index, action in enumerate(actions):
        if index not in held and action.kind is ActionKind.CREATE_ALIAS and (action.employee_id, action.target) in kept_aliases:
            held[index] = Held(action, "waits for the held removal of the alias it replaces", approvable=False)

    allowed = tuple(a for i, a in enumerate(actions) if i not in held)
    return Guarded(allowed, tuple(held[i] for i in sorted(held)))


def _hold_what_needs_a_held_creation(actions: list[Action], held: dict[int, Held]) -> None:
    """The held joiner's other actions wait too (their mailbox, groups, write-back); a group made with them
    as a member is made without them; a manager attribute naming their new entry is left out (a later
    cycle sets it, once the entry exists).  Changes `actions` in place where it leaves something out."""
    new_dns = {dn_key(h.action.target): h.action.employee_id for h in held.values() if h.action.kind is ActionKind.CREATE_ACCOUNT}
    if not new_dns:
        return
    people = set(new_dns.values())
    for index, action in enumerate(actions):
        if index in held:
            continue
        params = action.params
        if isinstance(params, NewGroupParams):
            members = tuple(m for m in (params.members or (params.first_member,)) if dn_key(m) not in new_dns)
            if not members:
                held[index] = Held(action, "waits for the held creation of its only member's account", approvable=False)
            elif members != (params.members or (params.first_member,)):
                actions[index] = replace(action, params=replace(params, first_member=members[0], members=members))
        elif action.employee_id in people or (isinstance(params, MemberParams) and dn_key(params.member_dn) in new_dns):
            owner = action.employee_id if action.employee_id in people else new_dns[dn_key(params.member_dn)]  # type: ignore[union-attr]
            held[index] = Held(action, f"waits for the held creation of the account of {owner}", approvable=False)
        elif isinstance(params, NewAccountParams) and dn_key(params.attributes.manager or "-") in new_dns:
            actions[index] = replace(action, params=replace(params, attributes=replace(params.attributes, manager="")))
        elif isinstance(params, AttributeUpdateParams) and dn_key(params.attributes.get("manager") or "-") in new_dns:
            attributes = {k: v for k, v in params.attributes.items() if k != "manager"}
            if not attributes:
                held[index] = Held(action, "waits for the held creation of its manager's account", approvable=False)
                continue
            changes = {k: v for k, v in action.changes.items() if k != "manager"}
            actions[index] = replace(action, changes=changes, params=replace(params, attributes=attributes))


def _list_change(action: Action) -> tuple[frozenset[str], frozenset[str]]:
    """The addresses an alias action puts on the alias, and those it takes off (lower case)."""
    params = action.params
    if not isinstance(params, AliasParams):
        return frozenset(), frozenset()
    before = action.changes.get("recipients", [None, None])[0] if action.kind is ActionKind.UPDATE_ALIAS else None
    old = frozenset(a.lower() for a in before or ())
    new = frozenset(a.lower() for a in params.recipients)
    return new - old, old - new


def _keep_held_addresses_off_lists(actions: list[Action], held: dict[int, Held]) -> None:
    """The address of a joiner whose account (or mailbox) is held does not exist yet: the mail server refuses an
    alias naming it, so lists are kept in step without it, and a forward to it waits with the creation.
    Changes `actions` in place where it leaves an address out."""
    waiting: dict[str, str] = {}  # address -> whose held creation it waits for
    for item in held.values():
        params = item.action.params
        if item.action.kind is ActionKind.CREATE_ACCOUNT and isinstance(params, NewAccountParams) and params.attributes.mail:
            waiting[params.attributes.mail.lower()] = item.action.employee_id
        elif item.action.kind is ActionKind.CREATE_MAILBOX and isinstance(params, AddressParams):
            waiting[params.address.lower()] = item.action.employee_id
    if not waiting:
        return
    for index, action in enumerate(actions):
        params = action.params
        if index in held or not isinstance(params, (AliasParams, ForwardParams)):
            continue
        if action.kind not in (ActionKind.CREATE_ALIAS, ActionKind.UPDATE_ALIAS, ActionKind.FORWARD_MAIL):
            continue
        absent = [a for a in params.recipients if a.lower() in waiting]
        if not absent:
            continue
        whose = ", ".join(sorted({waiting[a.lower()] for a in absent}))
        why = f"waits for the held creation of the account of {whose}"
        kept = tuple(a for a in params.recipients if a.lower() not in waiting)
        if action.kind is ActionKind.FORWARD_MAIL or not kept:
            held[index] = Held(action, why, approvable=False)
            continue
        changes = dict(action.changes)
        before = changes.get("recipients", [None, None])[0]
        if action.kind is ActionKind.UPDATE_ALIAS and {a.lower() for a in before or ()} == {a.lower() for a in kept}:
            held[index] = Held(action, why, approvable=False)  # only the held joiners were to come in
            continue
        changes["recipients"] = [before, list(kept)]
        reason = _reworded(action.reason, before or (), kept, len(absent))
        actions[index] = replace(action, reason=reason, changes=changes, params=replace(params, recipients=kept))


_IN_STEP = " kept in step: "


def _reworded(reason: str, before: Iterable[str], kept: tuple[str, ...], left_out: int) -> str:
    """A list action's reason once held joiners' addresses are left out of it (policies.resources words it)."""
    note = f"{left_out} held joiner{'s' if left_out > 1 else ''} left out until created"
    head, marker, _ = reason.partition(_IN_STEP)
    if not marker:
        return f"{reason.split(': ', 1)[0]}: {len(kept)} recipients; {note}" if reason.endswith(" recipients") else (
            f"{reason}; {note}")
    old = {a.lower(): a for a in before}
    new = {a.lower(): a for a in kept}
    added = sorted(new[a] for a in new.keys() - old.keys())
    removed = sorted(old[a] for a in old.keys() - new.keys())
    words = "; ".join(part for part in (f"in: {', '.join(added)}" if added else "",
                                         f"out: {', '.join(removed)}" if removed else "") if part)
    return f"{head}{_IN_STEP}{words}; {note}"
