"""Sending one batch: its actions' requests, over the write lanes, and how each one ended.

Over the lanes, a lane's share of a batch goes one write at a time, except
where fewer requests do the same work: a batch's member changes of one group
go as one write of the group (`ActionPerformer.change_members`), and where the
directory offers transactions (`DirectoryFeatures.transactions`), a lane's
writes go in LDAP transactions of 2, 4, 8... up to TRANSACTION_SIZE writes.  A
write refused as a whole (one group's write, one transaction) wrote nothing, so
its actions go again one at a time to find which one it was: each failure is
its own.  A transient or configuration error, or a crash, stops the batch:
every lane stops sending, and an open transaction is abandoned (nothing of it
written).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

import structlog

from lifecycle.domain.errors import ConnectorConfigError, RecordError, TransientError
from lifecycle.domain.models import Action
from lifecycle.engine.batching import Failures, entry_key
from lifecycle.engine.lanes import WriteLanes
from lifecycle.engine.perform import ActionPerformer
from lifecycle.journal.action_log import ActionStatus

log = structlog.get_logger(__name__)

# Writes per transaction at most: one sync to disk for many writes instead of one each (most of the gain
# is had by 32); a batch's first transactions are smaller (see `BatchSender._write_in_transactions`).
TRANSACTION_SIZE = 32

STOPPED = "stop"  # a transient or configuration error: the run stops after this batch
CRASHED = "crash"  # anything else: re-raised once the batch is journalled


@dataclass(frozen=True, slots=True)
class Ended:
    """How a sent action ended: ActionStatus.APPLIED, SKIPPED or FAILED, or STOPPED or CRASHED with the error."""

    status: str
    error: str | BaseException = ""


class _Halted(Exception):
    """Another lane stopped the batch: the open LDAP transaction is abandoned."""


class BatchSender:
    """Sends one batch's live actions (those no earlier failure blocks) and keeps how each ended (`ended`).

    A position of `ended` left None was never sent.  Actions of a person or entry whose action failed
    earlier in this batch are skipped as they come up (`Failures`).
    """

    def __init__(
        self, batch: Sequence[Action], performer: ActionPerformer, *,
        passwords: Mapping[str, str], failed_dns: Collection[str],
    ) -> None:
        self.batch = batch
        self.ended: list[Ended | None] = [None] * len(batch)
        self._performer = performer
        self._passwords = passwords
        self._failed_dns = failed_dns  # of the run's earlier batches
        self._failures = Failures()  # of this batch, from every lane
        self._halt = threading.Event()
        self._lock = threading.Lock()

    # -- entry points -------------------------------------------------------------------------

    def send_inline(self, positions: list[int]) -> None:
        """One action after the other, in the calling thread (mail and state-only actions)."""
        self._perform_each(positions)

    def send_over_lanes(self, positions: list[int], lanes: WriteLanes, *, group_writes: bool, in_transactions: bool) -> None:
        """Each lane's share at once; `group_writes`: a group's member changes as one write; `in_transactions`: in
        LDAP transactions."""
        by_lane: list[list[int]] = [[] for _ in range(lanes.count)]
        for pos in positions:
            by_lane[lanes.lane_of(entry_key(self.batch[pos]))].append(pos)

        def send_lane(share: list[int]) -> None:
            writes = self._writes_by_group(share) if group_writes else [[pos] for pos in share]
            if in_transactions:
                self._write_in_transactions(writes)
            else:
                self._write_one_by_one(writes)

        try:
            lanes.run([functools.partial(send_lane, share) for share in by_lane if share])
        except BaseException:
            self._halt.set()  # interrupted while waiting (KeyboardInterrupt): the lanes send nothing more
            raise

    # -- one action, one write ----------------------------------------------------------------

    def _applied(self, pos: int) -> None:
        action = self.batch[pos]
        self.ended[pos] = Ended(ActionStatus.APPLIED)
        # Logged as it happens (the batch's journal commit follows; a crash before it is settled by recover()).
        log.info("action_applied", kind=action.kind.value, employee_id=action.employee_id, company=action.company,
                 target=action.target, rule=action.rule)

    def _unblocked(self, positions: list[int]) -> list[int]:
        """Those of `positions` no earlier failure in this batch (same person or entry) blocks; the others skipped."""
        ready = []
        for pos in positions:
            with self._lock:
                why = self._failures.blocks(self.batch[pos])
            if why:
                self.ended[pos] = Ended(ActionStatus.SKIPPED, why)
            else:
                ready.append(pos)
        return ready

    def _perform(self, action: Action) -> None:
        self._performer.perform(action, self._passwords, self._failed_dns)

    def _perform_each(self, positions: list[int]) -> None:
        for pos in positions:
            if self._halt.is_set():
                return
            if not self._unblocked([pos]):
                continue
            action = self.batch[pos]
            try:
                self._perform(action)
            except RecordError as exc:
                self.ended[pos] = Ended(ActionStatus.FAILED, exc)
                with self._lock:
                    self._failures.note(action)
            except (TransientError, ConnectorConfigError) as exc:
                self.ended[pos] = Ended(STOPPED, exc)
                self._halt.set()
                return
            except BaseException as exc:
                self.ended[pos] = Ended(CRASHED, exc)
                self._halt.set()
                return
            else:
                self._applied(pos)

    # -- several actions in one request -------------------------------------------------------

    def _write_as_one(self, ready: list[int], write: Callable[[], None], fallback: Callable[[], None] | None = None) -> bool:
        """`write` carries all of `ready` at once (one modify of a group, one LDAP transaction): all or nothing.

        Refused: nothing was written, so `fallback` (default: each action alone) finds which one
        it was, and each failure is its own.  True: written.
        """
        try:
            write()
        except _Halted:
            return False  # abandoned: nothing was written; their outcomes stay "never sent"
        except RecordError:
            if fallback is not None:
                fallback()
            else:
                self._perform_each(ready)
            return False
        except (TransientError, ConnectorConfigError) as exc:
            for pos in ready:
                self.ended[pos] = Ended(STOPPED, exc)
            self._halt.set()
            return False
        except BaseException as exc:
            for pos in ready:
                self.ended[pos] = Ended(CRASHED, exc)
            self._halt.set()
            return False
        for pos in ready:
            self._applied(pos)
        return True

    def _writes_by_group(self, positions: list[int]) -> list[list[int]]:
        """Member changes of one kind: one write per group carrying all of its changes."""
        by_group: dict[str, list[int]] = {}
        for pos in positions:
            by_group.setdefault(entry_key(self.batch[pos]), []).append(pos)
        return list(by_group.values())

    def _send_write(self, write: list[int]) -> None:
        """The request(s) of one write: one action, or several member changes of one group."""
        if len(write) == 1:
            self._perform(self.batch[write[0]])
        else:
            self._performer.change_members([self.batch[pos] for pos in write])

    def _perform_write(self, write: list[int]) -> None:
        if len(write) <= 1:
            self._perform_each(write)
        else:
            self._write_as_one(write, functools.partial(self._send_write, write))

    def _write_one_by_one(self, writes: list[list[int]]) -> None:
        for write in writes:
            if self._halt.is_set():
                return
            self._perform_write(self._unblocked(write) if len(write) > 1 else write)

    def _write_in_transactions(self, writes: list[list[int]]) -> None:
        """LDAP transactions of 2, 4, 8... up to TRANSACTION_SIZE writes: a connection that keeps breaking
        after a few dozen requests still commits some in every run, where one big transaction never would."""
        start, size = 0, 2
        while start < len(writes) and not self._halt.is_set():
            chunk = [ready for write in writes[start : start + size] if (ready := self._unblocked(write))]
            start += size
            if len(chunk) <= 1:
                self._write_one_by_one(chunk)
            elif self._write_as_one([pos for write in chunk for pos in write],
                                    functools.partial(self._transaction, chunk),
                                    functools.partial(self._write_one_by_one, chunk)):
                size = min(size * 2, TRANSACTION_SIZE)

    def _transaction(self, writes: list[list[int]]) -> None:
        with self._performer.directory.transaction():
            for write in writes:
                if self._halt.is_set():
                    raise _Halted  # another lane stopped the batch
                self._send_write(write)
