"""Where a person stands with the company on a given day, from the HR record alone."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, timedelta

from lifecycle.models import HrRecord, HrStatus
from policies.context import PolicyContext


class Standing(str, enum.Enum):
    NOT_STARTED = "not_started"
    EMPLOYED = "employed"
    DEPARTED = "departed"
    ABSENT = "absent"  # no (valid) HR row at all


@dataclass(frozen=True)
class Employment:
    standing: Standing
    # The day the standing began or will change (hire day, departure day).
    effective: date | None = None
    on_leave: bool = False
    why: str = ""


def employment(record: HrRecord | None, ctx: PolicyContext) -> Employment:
    if record is None:
        return Employment(Standing.ABSENT, why="not in the HR export")
    today = ctx.today(record.company)
    where = f"row {record.row}" if record.row else "HR"
    if record.termination_date is not None and today >= record.termination_date:
        return Employment(
            Standing.DEPARTED, record.termination_date, why=f"termination date {record.termination_date} reached ({where})"
        )
    if record.status == HrStatus.TERMINATED and record.termination_date is None:
        return Employment(Standing.DEPARTED, today, why=f"HR status is terminated with no termination date ({where})")
    start = record.hire_date - timedelta(days=ctx.settings.policy.prehire_days)
    if today < start:
        return Employment(Standing.NOT_STARTED, start, why=f"hire date {record.hire_date} not reached ({where})")
    # Status "terminated" with a future termination date: the date decides (see explain).
    return Employment(
        Standing.EMPLOYED,
        record.hire_date,
        on_leave=record.status == HrStatus.LEAVE,
        why=f"employed since {record.hire_date}, status {record.status.value} ({where})",
    )


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
