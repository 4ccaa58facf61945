"""Notices: what a person is told by mail, decided with the plan (policies.notices), sent after the fact.

A notice is plain data: who it is about, whom it goes to, in which language, and the facts its
template needs (names, addresses, dates as ISO text).  It never carries a secret: the one notice
that gives a password (`INITIAL_PASSWORD`) gets it from the vault when it is sent.

A notice with a `cause` is written to the outbox with that action's write-ahead row and is sent
only once the action is applied; a notice without one (the daily digest) has a `key` that names
it, so that it is queued at most once.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LANGUAGES = ("zh-CN", "en")


class NoticeEvent(str, enum.Enum):
    JOINER = "joiner"  # to the manager (+ the branch contact): a new account, its address, the start date
    INACTIVITY_WARNING = "inactivity_warning"  # to the person (+ manager): the suspension date; one login keeps it
    INACTIVITY_SUSPENDED = "inactivity_suspended"  # to the manager: what happened, how to restore
    LEAVER_SUSPENDED = "leaver_suspended"  # to the manager: mail goes to them until when; the deletion date
    BRANCH_TRANSFER = "branch_transfer"  # to the person: the new address; the old one works until a date
    REHIRE = "rehire"  # to the manager: the account is back
    DIGEST = "digest"  # to the branch contact, daily: held actions, rejected HR rows with fixes, reviews
    INITIAL_PASSWORD = "initial_password"  # to the person's personal address only ([accounts] delivery)
    FORWARD_ENDED = "forward_ended"  # to the person (if active) and the target: an admin's forward is over


@dataclass(frozen=True, slots=True)
class Notice:
    event: NoticeEvent
    company: str
    employee_id: str  # whom it is about ("" for a digest)
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    language: str = "zh-CN"
    # What the template shows: JSON values only (dates as ISO text, in the company's time zone).
    facts: Mapping[str, Any] = field(default_factory=dict, hash=False)
    # (kind, employee_id, target) of the action whose success sends it; None for a digest.
    cause: tuple[str, str, str] | None = None
    key: str = ""  # names a notice without a cause ("digest/SZ/2026-12-07"): queued at most once

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": self.event.value,
            "company": self.company,
            "employee_id": self.employee_id,
            "to": list(self.to),
            "cc": list(self.cc),
            "language": self.language,
            "facts": dict(self.facts),
            "cause": list(self.cause) if self.cause is not None else None,
            "key": self.key,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Notice:
        cause = data.get("cause")
        return cls(
            event=NoticeEvent(data["event"]),
            company=str(data["company"]),
            employee_id=str(data.get("employee_id", "")),
            to=tuple(str(a) for a in data.get("to", ())),
            cc=tuple(str(a) for a in data.get("cc", ())),
            language=str(data.get("language", "zh-CN")),
            facts=dict(data.get("facts", {})),
            cause=(str(cause[0]), str(cause[1]), str(cause[2])) if cause else None,
            key=str(data.get("key", "")),
        )
