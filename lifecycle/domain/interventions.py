"""What an admin decided about one person, outside HR: kept in the state store, read by the planner.

- a forward a superior required (seed, article 12): mail to the person goes to another address, from a
  date until a date, with or without a copy kept; it overrides the leaver's default forward;
- a suspension for a violation or a compromised account (articles 14 and 16): locked at once, whatever
  HR says, until an admin lifts it;
- a new account confirmed for a joiner whose possible existing entries an admin looked at and ruled out.

Every one is written and removed with an action-log entry naming the actor and the reason
(lifecycle.journal.interventions).  Nothing here does I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from typing import Any


class InterventionKind(str, enum.Enum):
    FORWARD = "forward"
    SUSPEND = "suspend"
    NEW_ACCOUNT = "new_account"
    UNLINKED = "unlinked"  # names once linked to the employee and unlinked (`lifecycle unlink`): never a joiner's


@dataclass(frozen=True, slots=True)
class ExplicitForward:
    """Mail to the person's address goes to `to` from `starts_on` (None: at once) until `ends_on` (None: until removed)."""

    employee_id: str
    company: str
    to: str  # lower-case address
    keep_copy: bool
    starts_on: date | None
    ends_on: date | None  # the last day it forwards is the day before (it ends at the start of that day)
    reason: str
    actor: str
    created_at: datetime
    # Not yet in force, it replaced one that had started: that one's target, whose forward is undone meanwhile.
    replaces: str = ""

    def details(self) -> dict[str, Any]:
        """What the state store keeps in `interventions.details` (JSON)."""
        return {"to": self.to, "keep_copy": self.keep_copy,
                "starts_on": self.starts_on.isoformat() if self.starts_on else None,
                "ends_on": self.ends_on.isoformat() if self.ends_on else None,
                **({"replaces": self.replaces} if self.replaces else {})}


@dataclass(frozen=True, slots=True)
class AdminSuspension:
    """Locked by an admin (`lifecycle suspend`) until `lifecycle unsuspend`, whatever HR says."""

    employee_id: str
    company: str
    reason: str
    actor: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewAccountDecision:
    """`lifecycle adopt EMPLOYEE --new`: none of the possible existing entries is this joiner."""

    employee_id: str
    company: str
    reason: str
    actor: str
    created_at: datetime


_NONE: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Interventions:
    """Every standing intervention, by employee id."""

    forwards: Mapping[str, ExplicitForward] = field(default_factory=lambda: _NONE, hash=False)
    suspensions: Mapping[str, AdminSuspension] = field(default_factory=lambda: _NONE, hash=False)
    new_accounts: Mapping[str, NewAccountDecision] = field(default_factory=lambda: _NONE, hash=False)
    # employee id -> the uids unlinked from them: the entries may still hold mail, or come back; kept from joiners
    unlinked: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _NONE, hash=False)

    def __bool__(self) -> bool:
        return bool(self.forwards or self.suspensions or self.new_accounts or self.unlinked)


NO_INTERVENTIONS = Interventions()
