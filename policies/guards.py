"""Guards between the plan and the world: nothing destructive goes through unless they say yes.

- Outcome guard: per company, more suspensions + deletions in one cycle than
  `max_destructive`, or than `max_destructive_fraction` of the company's accounts
  (never fewer than `destructive_floor`), are held for an admin's approval.
- `approve_deletions`: every deletion waits for approval.
- Frozen companies (an unhealthy HR feed): no destructive action this cycle, and no
  forward of a departed address removed.
- Rejected by an admin: the same action is not applied while the rejection stands.

The rest of the plan goes ahead.  An action that depends on a held suspension
(leaving the person's groups) is held with it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from lifecycle.domain.action_params import GroupDeletionParams
from lifecycle.domain.models import DESTRUCTIVE_KINDS, Action, ActionKey, ActionKind, Held
from lifecycle.domain.settings import GuardSettings

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
) -> Guarded:
    actions = list(actions)
    frozen = frozen or {}
    held: dict[int, Held] = {}

    destructive: dict[str, list[int]] = defaultdict(list)
    for index, action in enumerate(actions):
        key = action_key(action)
        if key in rejected:
            held[index] = Held(action, "rejected by an admin; not applied while the rejection stands", approvable=False)
        elif action.kind is ActionKind.DELETE_ALIAS and action.company in frozen:
            # A broken feed can make departed people look employed again: their address keeps its forward.
            held[index] = Held(action, f"HR feed for {action.company} is frozen: {frozen[action.company]}; "
                                       "the address keeps its forward until the feed is healthy", approvable=False)
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

    # What follows a held suspension or deletion waits with it.
    held_people = {h.action.employee_id for h in held.values() if h.action.kind in DESTRUCTIVE_KINDS}
    for index, action in enumerate(actions):
        if index in held or action.kind not in FOLLOWERS:
            continue
        leaving = action.params.leaving if isinstance(action.params, GroupDeletionParams) else ()
        people = set(leaving) | ({action.employee_id} if action.employee_id else set())
        if people & held_people:
            held[index] = Held(action, "waits for a held suspension of a member", approvable=False)

    # An alias re-pointed (removed, then made again) is made only once the old one is gone.
    kept_aliases = {(h.action.employee_id, h.action.target) for h in held.values() if h.action.kind is ActionKind.DELETE_ALIAS}
    for index, action in enumerate(actions):
        if index not in held and action.kind is ActionKind.CREATE_ALIAS and (action.employee_id, action.target) in kept_aliases:
            held[index] = Held(action, "waits for the held removal of the alias it replaces", approvable=False)

    allowed = tuple(a for i, a in enumerate(actions) if i not in held)
    return Guarded(allowed, tuple(held[i] for i in sorted(held)))
