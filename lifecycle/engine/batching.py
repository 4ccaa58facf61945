"""Batches: where one ends, and which of its actions an earlier failure blocks.

Consecutive directory actions of one kind are applied together: the plan is
ordered by phase, and actions of one phase do not depend on each other except
several actions on the same entry (which one write lane keeps in order).  Mail
actions (rate limited) go one at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from lifecycle.domain.action_params import EntryParams, GroupDeletionParams, MemberParams, MoveParams, NewGroupParams
from lifecycle.domain.dn import dn_key
from lifecycle.domain.models import Action
from lifecycle.engine.kinds import GROUP_KINDS, MAIL_KINDS, MEMBER_KINDS

# Actions per batch: one journal transaction before and one after; `should_stop` is asked between batches,
# so a SIGTERM waits for at most one batch of directory writes.
BATCH_SIZE = 500
# Member changes go as one write per group and batch, so their batches are wider: a cycle's removals
# from a group then cost slapd one rewrite (and re-index) of the group, not one per batch.
MEMBER_BATCH_FACTOR = 4


def batch_end(actions: Sequence[Action], start: int, batch_size: int) -> int:
    """End of the batch starting at `start`: consecutive actions of the same kind; mail actions one by one."""
    kind = actions[start].kind
    if kind in MAIL_KINDS:
        return start + 1
    width = batch_size * (MEMBER_BATCH_FACTOR if kind in MEMBER_KINDS else 1)
    end, limit = start + 1, min(len(actions), start + width)
    while end < limit and actions[end].kind == kind:
        end += 1
    return end


def entry_key(action: Action) -> str:
    """The entry an action writes, as a comparison key."""
    p = action.params
    entry = p.group_dn if isinstance(p, MemberParams) else p.dn if isinstance(p, EntryParams) else ""
    return dn_key(entry or action.target)


@dataclass
class Failures:
    """The people and entries whose action failed (in a run, or in one batch): their later actions are skipped."""

    people: set[str] = field(default_factory=set)
    dns: set[str] = field(default_factory=set)

    def blocks(self, action: Action) -> str:
        """Why an earlier failure blocks `action`; empty when none does."""
        if action.employee_id and action.employee_id in self.people and action.kind not in GROUP_KINDS:
            return "an earlier action for this employee failed in this run"
        p = action.params
        member = p.member_dn if isinstance(p, MemberParams) else p.first_member if isinstance(p, NewGroupParams) else ""
        if member and member in self.dns:
            return "the member's account action failed earlier in this run"
        if isinstance(p, GroupDeletionParams) and set(p.leaving) & self.people:
            return "an action for a member of this group failed earlier in this run"
        return ""

    def note(self, action: Action) -> None:
        """Remember a failed action: the later actions of its person, and on its entry, are blocked."""
        if action.employee_id:
            self.people.add(action.employee_id)
        p = action.params
        dn = p.dn if isinstance(p, EntryParams) else ""
        new_dn = p.new_dn if isinstance(p, MoveParams) else ""
        self.dns.update(v for v in (dn, new_dn, action.target) if v)
