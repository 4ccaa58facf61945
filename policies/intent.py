"""A person's intended end state after the plan, decided before actions are rendered.

Rules (joiner, leaver, inactivity, retention) fill an Intent; the engine then
renders it into ordered actions.  Keeping the decision apart from the
rendering lets the manager DN and group membership of everyone be known
before any action is written.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from lifecycle.domain.action_params import StateValue
from lifecycle.domain.models import Review


class AccountStep(str, enum.Enum):
    NONE = "none"  # no account, none to be made
    CREATE = "create"
    ADOPT = "adopt"  # link an existing entry, then correct it
    KEEP = "keep"


_NOTHING: Mapping[str, StateValue] = MappingProxyType({})


@dataclass(slots=True)
class Step:
    rule: str
    reason: str
    # What the step records (a record step), or how (a suspension's `rule`, `keep_date`).  Read-only:
    # most steps have none, and they share the one empty map.
    extra: Mapping[str, StateValue] = field(default_factory=lambda: _NOTHING)


@dataclass(slots=True)
class Intent:
    employee_id: str
    company: str
    account: AccountStep = AccountStep.NONE
    uid: str = ""
    dn: str = ""  # DN after the plan (after a move)
    enabled: bool = False  # unlocked and in its groups after the plan
    sync_attributes: bool = False
    # Leave group memberships exactly as they are (not started yet, absent but not a leaver).
    memberships_frozen: bool = False
    # The person has left (HR's termination, or an absence that counts as one): their mail is a leaver's.
    departed: bool = False
    create: Step | None = None
    adopt: Step | None = None
    restore: Step | None = None
    suspend: Step | None = None
    delete: Step | None = None
    warn: Step | None = None
    record: Step | None = None  # state-only bookkeeping (absence)
    # Findings for an admin; most people have none, so no list is made for them (see `review`).
    reviews: tuple[Review, ...] = ()

    def review(self, finding: Review) -> None:
        self.reviews = (*self.reviews, finding)

    @property
    def exists_after(self) -> bool:
        return self.delete is None and self.account in _EXISTING


_EXISTING = (AccountStep.KEEP, AccountStep.CREATE, AccountStep.ADOPT)  # the common case first
