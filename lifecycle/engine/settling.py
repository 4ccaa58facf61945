"""Journalling how a batch's actions ended: every outcome, with the people's new states, in one transaction.

What a batch's sending left:
- applied, failed (record-level) or skipped: journalled so;
- never sent because the batch stopped: skipped, "run stopped";
- stopped by a configuration error: failed (the request was refused);
- stopped by a transient error: the request may have been carried out before the
  connection broke.  The outcome is unknown, so the row stays `pending` and the
  next run's recover() settles it against the directory instead of guessing;
- a crash: the rows stay `pending` as well (recover() again), and the crash is
  re-raised once the others are journalled.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from sqlalchemy.exc import SQLAlchemyError

from lifecycle.domain.errors import ConnectorConfigError, TransientError
from lifecycle.domain.models import Action
from lifecycle.engine.sending import CRASHED, STOPPED, Ended
from lifecycle.journal.action_log import ActionOutcome, ActionStatus
from lifecycle.journal.store import Journal

log = structlog.get_logger(__name__)


@dataclass
class SettledBatch:
    """A batch's journalled outcomes, by position in the batch, and what stops the run."""

    finished: list[tuple[int, ActionOutcome]] = field(default_factory=list)
    unrecorded: set[int] = field(default_factory=set)  # applied, but the state would not take it: failed
    unknown: int = 0  # sent when a transient error stopped the batch: left `pending`
    stop: TransientError | ConnectorConfigError | None = None  # the first in plan order


def settle_batch(
    journal: Journal, now: datetime, batch: Sequence[Action], ids: Sequence[int], live: Sequence[int],
    ended: Sequence[Ended | None],
) -> SettledBatch:
    """Journal the outcomes of the `live` positions of `batch` (whose write-ahead rows are `ids`)."""
    settled = SettledBatch()
    crash: BaseException | None = None
    for pos in live:  # the first stop in plan order names the run's end
        outcome = ended[pos]
        if outcome is None:
            continue
        if outcome.status == STOPPED and isinstance(outcome.error, TransientError | ConnectorConfigError):
            if settled.stop is None:
                settled.stop = outcome.error
            if isinstance(outcome.error, TransientError):
                settled.unknown += 1
        elif outcome.status == CRASHED and crash is None and isinstance(outcome.error, BaseException):
            crash = outcome.error
    for pos in live:
        action, outcome = batch[pos], ended[pos]
        if outcome is None:
            if crash is not None:
                continue  # never sent; left `pending` for recover() like the one that crashed
            reason = settled.stop or crash
            settled.finished.append((pos, ActionOutcome(ids[pos], ActionStatus.SKIPPED, "run stopped: " + str(reason))))
        elif outcome.status == ActionStatus.APPLIED:
            state = action.all_params().get("state")
            settled.finished.append((pos, ActionOutcome(ids[pos], outcome.status, "", action.employee_id, state)))
        elif outcome.status in (ActionStatus.SKIPPED, ActionStatus.FAILED):
            settled.finished.append((pos, ActionOutcome(ids[pos], outcome.status, str(outcome.error))))
        elif outcome.status == STOPPED and isinstance(outcome.error, ConnectorConfigError):
            settled.finished.append((pos, ActionOutcome(ids[pos], ActionStatus.FAILED, str(outcome.error))))
        # STOPPED by a TransientError, or CRASHED: left `pending` (the module's docstring).
    if crash is not None:
        with contextlib.suppress(Exception):  # best effort: the crash is what must surface
            journal.finish_actions([o for _, o in settled.finished], now)
        raise crash
    try:
        journal.finish_actions([o for _, o in settled.finished], now)  # outcomes + states, one transaction
    except SQLAlchemyError:
        settled.finished, settled.unrecorded = _finish_one_by_one(journal, now, batch, settled.finished)
    return settled


def _finish_one_by_one(
    journal: Journal, now: datetime, batch: Sequence[Action], finished: list[tuple[int, ActionOutcome]]
) -> tuple[list[tuple[int, ActionOutcome]], set[int]]:
    """The batch's outcome transaction failed: record each outcome alone, so one bad state fails one action."""
    settled: list[tuple[int, ActionOutcome]] = []
    unrecorded: set[int] = set()
    for pos, done in finished:
        action = batch[pos]
        try:
            journal.finish_action(done.action_id, done.status, employee_id=done.employee_id, state=done.state,
                                  now=now, error=done.error)
        except SQLAlchemyError as exc:
            if done.status != ActionStatus.APPLIED:
                raise
            # The write happened but the state would not take it: a record-level failure, not a dead run.
            error = f"state not recorded: {type(exc).__name__}"
            journal.finish_action(done.action_id, ActionStatus.FAILED, error=error)
            log.error("state_not_recorded", kind=action.kind.value, employee_id=action.employee_id, error=type(exc).__name__)
            done = ActionOutcome(done.action_id, ActionStatus.FAILED, error)
            unrecorded.add(pos)
        settled.append((pos, done))
    return settled, unrecorded
