"""The thin shell that acts: apply a plan's actions in order and journal each one.

Per action: write-ahead `pending`, perform, then `applied` (with the person's
new state) or `failed`.  A record-level failure skips that person's later
actions and goes on; a transient or auth/config failure stops the run, and
the next cycle re-plans from the real directory, so nothing is lost or done
twice.

Batch by batch (lifecycle.engine.batching: consecutive directory actions of one
kind, up to `batch_size`; mail and state-only actions one at a time):

1. wait for the directory's reference rewrites if this batch's writes could undo
   them (reference_waits.py);
2. write-ahead: all the batch's rows `pending` (or `skipped`, when an earlier
   failure blocks them) in one journal transaction, with the notices each
   pending action causes (`held` in the outbox: lifecycle.journal.outbox), and
   the new accounts' initial passwords sealed (vault.py), before the first
   request is sent;
3. send the requests (sending.py), over the directory's write lanes (lanes.py)
   for directory actions; each action is one call of the ports (perform.py);
4. journal the outcomes with the people's new states in one transaction
   (settling.py), which releases the applied actions' notices, and tell `progress`.

A crash between 2 and 4 leaves `pending` rows, which `recover()` settles against
the directory (recovery.py) at the start of the next run.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from lifecycle.domain.action_params import EntryParams, MoveParams
from lifecycle.domain.errors import ConnectorError
from lifecycle.domain.models import Action, Plan
from lifecycle.domain.notices import Notice
from lifecycle.domain.ports import (
    NO_PROGRESS,
    Directory,
    DirectoryFeatures,
    HrWriteBack,
    MailBackend,
    MailCompanion,
    ProgressSink,
)
from lifecycle.engine.batching import BATCH_SIZE, Failures, batch_end
from lifecycle.engine.kinds import LANE_KINDS, MEMBER_KINDS, RENAMING_KINDS, TRANSACTION_KINDS
from lifecycle.engine.lanes import WriteLanes
from lifecycle.engine.perform import ActionPerformer
from lifecycle.engine.recovery import recover
from lifecycle.engine.reference_waits import ReferenceWaits
from lifecycle.engine.sending import BatchSender
from lifecycle.engine.settling import SettledBatch, settle_batch
from lifecycle.engine.vault import CredentialVault
from lifecycle.journal.action_log import ActionOutcome, ActionStatus, LogEntry
from lifecycle.journal.forwards import forget_undone_forwards
from lifecycle.journal.store import Journal

log = structlog.get_logger(__name__)

UNKNOWN = "outcome_unknown"  # a transient failure mid-request: settled by the next run's recover()


@dataclass
class ApplyResult:
    run_id: str
    counts: Counter[str] = field(default_factory=Counter)
    stopped: str = ""  # why the run stopped early, if it did

    @property
    def ok(self) -> bool:
        return not self.stopped and self.counts[ActionStatus.FAILED] == 0 and self.counts[UNKNOWN] == 0

    @property
    def outcome(self) -> str:
        """The run's outcome as the action log's runs and the daemon's summary word it."""
        return "ok" if self.ok else ("stopped" if self.stopped else "failures")

    def summary(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "counts": dict(self.counts), "stopped": self.stopped}


@dataclass
class _Run:
    """What one `apply` carries from batch to batch."""

    plan: Plan
    run_id: str
    result: ApplyResult
    ending: contextlib.ExitStack  # closes the write lanes, then reports the last progress
    references: ReferenceWaits
    failures: Failures = field(default_factory=Failures)
    features: DirectoryFeatures | None = None  # asked of the directory at the first directory batch
    lanes: WriteLanes | None = None  # started with the first directory batch
    notices: dict[tuple[str, str, str], list[Notice]] = field(default_factory=dict)  # by cause, not yet written

    def take_notices(self, action: Action) -> list[Notice]:
        """The notices `action` causes, given once (a second action of the same key gets none)."""
        return self.notices.pop((action.kind.value, action.employee_id, action.target), [])


class Executor:
    def __init__(
        self,
        directory: Directory,
        journal: Journal,
        vault: CredentialVault,
        actor: str,
        *,
        mail: MailBackend | None = None,
        companion: MailCompanion | None = None,
        batch_size: int = BATCH_SIZE,
        hr: HrWriteBack | None = None,
        message_domain: str = "",
    ) -> None:
        """`message_domain`: the notices' sender's domain (their Message-IDs); "" (no [notify]): no notice is written."""
        self.directory = directory
        self.journal = journal
        self.vault = vault
        self.actor = actor
        self.mail = mail  # when [mail] is configured
        self.performer = ActionPerformer(directory, vault, mail, companion, hr)
        self.batch_size = max(1, batch_size)
        self.message_domain = message_domain

    def recover(self) -> list[LogEntry]:
        """Settle actions a crash left `pending`: completed if the directory shows them done."""
        return recover(self.journal, self.directory, self.mail, self.vault)

    def apply(
        self, plan: Plan, run_id: str, should_stop: Callable[[], bool] = lambda: False,
        progress: ProgressSink = NO_PROGRESS,
    ) -> ApplyResult:
        """Apply in order, batch by batch; `should_stop` is asked between batches (a SIGTERM finishes the one in flight).

        `progress` hears of every action that ends (applied or skipped as done, failed or of unknown outcome as
        failed), a batch at a time; its phase ends however the run does.
        """
        actions = plan.actions
        reported = [0, 0]  # actions ended fine, and failed, as told to `progress` so far

        def report_progress() -> None:
            counts = run.result.counts
            failed = counts[ActionStatus.FAILED] + counts[UNKNOWN]
            done = sum(counts.values()) - failed
            if (done, failed) != tuple(reported):
                progress.advance(done - reported[0], failed - reported[1])
                reported[:] = done, failed

        run = _Run(plan, run_id, ApplyResult(run_id), contextlib.ExitStack(), ReferenceWaits(self.directory))
        if self.message_domain:
            for notice in plan.notices:
                if notice.cause is not None:
                    run.notices.setdefault(notice.cause, []).append(notice)
        progress.start("apply", len(actions))
        with run.ending:
            run.ending.callback(progress.finish)
            run.ending.callback(report_progress)
            index = 0
            while index < len(actions):
                if should_stop():
                    run.result.stopped = "stop requested"
                    log.warning("run_stopped", reason="stop requested", remaining=len(actions) - index)
                    break
                end = batch_end(actions, index, self.batch_size)
                stopped = self._wait_for_references(run, actions[index:end])
                if stopped is not None:
                    end = index  # nothing of this batch was sent
                else:
                    stopped = self._apply_batch(run, actions[index:end])
                if stopped is not None:
                    remaining = actions[end:]
                    self.journal.record_actions(run_id, remaining, ActionStatus.SKIPPED, plan.now, self.actor,
                                                error="run stopped: " + str(stopped))
                    run.result.counts[ActionStatus.SKIPPED] += len(remaining)
                    log.error("run_stopped", reason=run.result.stopped, connector=stopped.connector,
                              skipped=len(remaining))
                    break
                index = end
                report_progress()
            run.references.wait_for_all()
        forget_undone_forwards(self.journal)  # an admin's forward undone once: a later own forward is the person's
        return run.result

    def _wait_for_references(self, run: _Run, batch: Sequence[Action]) -> ConnectorError | None:
        error = run.references.wait_before(batch)
        if error is not None:
            run.result.stopped = f"{type(error).__name__}: {error}"
        return error

    def _features(self, run: _Run) -> DirectoryFeatures:
        if run.features is None:
            run.features = self.directory.features
        return run.features

    def _lanes(self, run: _Run) -> WriteLanes:
        if run.lanes is None:
            run.lanes = run.ending.enter_context(WriteLanes(self.directory, self._features(run)))
        return run.lanes

    def _apply_batch(self, run: _Run, batch: Sequence[Action]) -> ConnectorError | None:
        """Apply one batch; returns the error that stops the run, if one does."""
        blocked = [run.failures.blocks(action) for action in batch]
        rows = [(a, ActionStatus.SKIPPED if why else ActionStatus.PENDING, why) for a, why in zip(batch, blocked, strict=True)]
        notices = [run.take_notices(a) if not why else [] for a, why in zip(batch, blocked, strict=True)]
        ids = self.journal.begin_actions(run.run_id, rows, run.plan.now, self.actor,  # write-ahead, one transaction
                                         notices=notices if any(notices) else (), message_domain=self.message_domain)
        skipped = sum(1 for why in blocked if why)
        if skipped:
            run.result.counts[ActionStatus.SKIPPED] += skipped
        live = [i for i, why in enumerate(blocked) if not why]
        if not live:
            return None
        passwords = self.vault.issue_for([batch[i] for i in live])
        sender = BatchSender(batch, self.performer, passwords=passwords, failed_dns=run.failures.dns)
        kind = batch[live[0]].kind
        if kind in LANE_KINDS:
            lanes = self._lanes(run)
            # A group's member changes go as one write; a lane's writes in LDAP transactions where offered.
            group_writes = kind in MEMBER_KINDS
            in_transactions = (kind in TRANSACTION_KINDS or group_writes) and self._features(run).transactions
            sender.send_over_lanes(live, lanes, group_writes=group_writes, in_transactions=in_transactions)
        else:
            sender.send_inline(live)
        settled = settle_batch(self.journal, run.plan.now, batch, ids, live, sender.ended)
        return self._count_batch(run, batch, settled)

    def _count_batch(self, run: _Run, batch: Sequence[Action], settled: SettledBatch) -> ConnectorError | None:
        """Count a journalled batch, note its failures and moves; returns the error that stops the run, if one does."""
        result, stop = run.result, settled.stop
        for pos, done in settled.finished:
            self._count(run, batch[pos], done, state_lost=pos in settled.unrecorded)
        if settled.unknown:
            result.counts[UNKNOWN] += settled.unknown
        if stop is not None:
            result.stopped = f"{type(stop).__name__}: {stop}"
        moved = [batch[pos].params for pos, done in settled.finished
                 if done.status == ActionStatus.APPLIED and batch[pos].kind in RENAMING_KINDS]
        gone = [params.dn for params in moved if isinstance(params, EntryParams)]
        if gone and self._features(run).reference_waits:
            # Not waited for here: see lifecycle.engine.reference_waits.
            error = run.references.note_moved(gone, [p.new_dn for p in moved if isinstance(p, MoveParams)])
            if error is not None and stop is None:
                result.stopped = f"{type(error).__name__}: {error}"
                return error
        return stop

    def _count(self, run: _Run, action: Action, done: ActionOutcome, *, state_lost: bool = False) -> None:
        run.result.counts[done.status] += 1
        if done.status == ActionStatus.FAILED and state_lost:
            run.failures.people.add(action.employee_id)
        elif done.status == ActionStatus.FAILED:
            log.warning("action_failed", kind=action.kind.value, employee_id=action.employee_id, target=action.target,
                        error=done.error)
            run.failures.note(action)

