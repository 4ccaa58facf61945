"""Where a person stands with the company on a given day, from the HR record alone."""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import date, timedelta

from lifecycle.domain.models import HrRecord, HrStatus
from policies.context import PolicyContext


class Standing(str, enum.Enum):
    NOT_STARTED = "not_started"
    EMPLOYED = "employed"
    DEPARTED = "departed"
    ABSENT = "absent"  # no (valid) HR row at all


class Employment:
    """Where a person stands: `standing` since/until `effective`, and why (in words).

    `why` may be given as a function: the words are then made only when an action
    or review quotes them (nearly never, for the many people who simply stay employed).
    """

    __slots__ = ("_why", "effective", "on_leave", "standing")

    def __init__(
        self, standing: Standing, effective: date | None = None, on_leave: bool = False, why: str | Callable[[], str] = ""
    ) -> None:
        self.standing = standing
        # The day the standing began or will change (hire day, departure day).
        self.effective = effective
        self.on_leave = on_leave
        self._why = why

    @property
    def why(self) -> str:
        why = self._why
        if not isinstance(why, str):
            why = self._why = why()
        return why

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Employment):
            return NotImplemented
        mine = (self.standing, self.effective, self.on_leave, self.why)
        return mine == (other.standing, other.effective, other.on_leave, other.why)

    def __hash__(self) -> int:
        return hash((self.standing, self.effective, self.on_leave))  # not the words: they are made only when read

    def __repr__(self) -> str:
        return (f"Employment(standing={self.standing!r}, effective={self.effective!r}, on_leave={self.on_leave!r}, "
                f"why={self.why!r})")


def employment(record: HrRecord | None, ctx: PolicyContext) -> Employment:
    if record is None:
        return Employment(Standing.ABSENT, why="not in the HR export")
    today = ctx.today(record.company)
    if record.termination_date is not None and today >= record.termination_date:
        return Employment(
            Standing.DEPARTED, record.termination_date,
            why=f"termination date {record.termination_date} reached ({_where(record)})",
        )
    if record.status == HrStatus.TERMINATED and record.termination_date is None:
        return Employment(Standing.DEPARTED, today, why=f"HR status is terminated with no termination date ({_where(record)})")
    start = record.hire_date - timedelta(days=ctx.settings.policy.prehire_days)
    if today < start:
        return Employment(Standing.NOT_STARTED, start, why=f"hire date {record.hire_date} not reached ({_where(record)})")
    # Status "terminated" with a future termination date: the date decides (see explain).
    return Employment(
        Standing.EMPLOYED,
        record.hire_date,
        on_leave=record.status == HrStatus.LEAVE,
        why=lambda: f"employed since {record.hire_date}, status {record.status.value} ({_where(record)})",
    )


def _where(record: HrRecord) -> str:
    return f"row {record.row}" if record.row else "HR"


def status_disagreement(record: HrRecord | None, ctx: PolicyContext) -> str:
    """Words for an HR status that contradicts the dates ("" when they agree); the date decides."""
    if record is None or record.termination_date is None:
        return ""
    reached = ctx.today(record.company) >= record.termination_date
    if record.status == HrStatus.TERMINATED and not reached:
        return f"status is terminated but the termination date {record.termination_date} is still ahead; the date decides"
    if record.status != HrStatus.TERMINATED and reached:
        return (f"status is {record.status.value} but the termination date {record.termination_date} has passed; "
                "treated as a leaver")
    return ""
