"""The thin shell that acts: apply a plan's actions in order and journal each one.

Per action: write-ahead `pending`, perform, then `applied` (with the person's
new state) or `failed`.  A record-level failure skips that person's later
actions and goes on; a transient or auth/config failure stops the run, and
the next cycle re-plans from the real directory, so nothing is lost or done
twice.

Batches.  Consecutive directory actions of one kind (the plan is ordered by
phase, and actions of one phase do not depend on each other except several
actions on the same entry) are applied together, up to `batch_size` at a
time: all their `pending` rows are committed in one transaction before the
first request is sent, the requests go out over the directory's write lanes
(`write_connections` connections; every action on the same entry goes
through the same lane, in plan order), and all outcomes with the people's new
states are committed in one transaction afterwards.  A crash in between
leaves `pending` rows, which `recover()` settles against the directory, as
for a single action.  After moves and deletes, only a batch whose member
changes refint could undo waits for it (`_await_references_before`).
A batch's member additions (or removals) on one group are one write of the
group, each still journalled as its own action.
Mail actions (rate limited) and state-only actions go one at a time.
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import os
import queue
import secrets
import string
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import structlog
from sqlalchemy.exc import SQLAlchemyError

from lifecycle.domain.errors import AlreadyExistsError, ConnectorConfigError, RecordError, TransientError
from lifecycle.journal.action_log import ActionOutcome, ActionStatus, LogEntry
from lifecycle.journal.store import Journal
from lifecycle.domain.action_params import (
    AccountParams,
    AddressParams,
    AliasParams,
    AttributeUpdateParams,
    AutoReplyParams,
    EntryParams,
    ForwardParams,
    GroupDeletionParams,
    MailboxRenameParams,
    MailboxUpdateParams,
    MemberParams,
    MoveParams,
    NewAccountParams,
    NewGroupParams,
    NewMailboxParams,
    StateParams,
    WarningParams,
)
from lifecycle.domain.models import Action, ActionKind, DirectoryEntry, GroupEntry, Plan, params_from_dict
from lifecycle.domain.ports import NO_PROGRESS, ProgressSink
from policies.attributes import current_attributes
from policies.placement import dn_key

log = structlog.get_logger(__name__)

UNKNOWN = "outcome_unknown"  # a transient failure mid-request: settled by the next run's recover()
STATE_ONLY = frozenset({ActionKind.ADOPT_ACCOUNT, ActionKind.WARN_INACTIVE, ActionKind.RECORD_STATE})
MAIL_KINDS = frozenset({
    ActionKind.CREATE_MAILBOX, ActionKind.UPDATE_MAILBOX, ActionKind.RENAME_MAILBOX, ActionKind.SUSPEND_MAILBOX,
    ActionKind.RESTORE_MAILBOX, ActionKind.FORWARD_MAIL, ActionKind.CLEAR_FORWARD, ActionKind.AUTO_REPLY,
    ActionKind.ARCHIVE_MAILBOX, ActionKind.DELETE_MAILBOX, ActionKind.CREATE_ALIAS, ActionKind.DELETE_ALIAS,
})
# Sent over the directory's write lanes.
LANE_KINDS = frozenset({
    ActionKind.CREATE_ACCOUNT, ActionKind.UPDATE_ACCOUNT, ActionKind.MOVE_ACCOUNT, ActionKind.SUSPEND_ACCOUNT,
    ActionKind.RESTORE_ACCOUNT, ActionKind.DELETE_ACCOUNT, ActionKind.CREATE_GROUP, ActionKind.ADD_MEMBER,
    ActionKind.REMOVE_MEMBER, ActionKind.DELETE_GROUP,
})
GROUP_KINDS = frozenset({ActionKind.ADD_MEMBER, ActionKind.REMOVE_MEMBER, ActionKind.CREATE_GROUP, ActionKind.DELETE_GROUP})
MEMBER_KINDS = frozenset({ActionKind.ADD_MEMBER, ActionKind.REMOVE_MEMBER})
# One write each and no read in between: a lane's share of a batch can go as one LDAP transaction
# (so can a batch's group writes, when each group's member changes go as one write).
TRANSACTION_KINDS = frozenset({ActionKind.CREATE_ACCOUNT, ActionKind.UPDATE_ACCOUNT, ActionKind.SUSPEND_ACCOUNT,
                               ActionKind.RESTORE_ACCOUNT})
# Writes per transaction at most: one sync to disk for 32 writes instead of 32 (most of the gain); a run's
# first transactions are smaller (see `perform_together`).
TRANSACTION_SIZE = 32
# Actions per batch: one journal transaction before and one after; `should_stop` is asked between batches,
# so a SIGTERM waits for at most one batch (~0.1-0.5 s of LDAP writes).
BATCH_SIZE = 500
# Member changes go as one write per group and batch, so their batches are wider: a cycle's removals
# from a group then cost slapd one rewrite (and re-index) of the group, not one per batch.
MEMBER_BATCH_FACTOR = 4
ANY_HOLDER = "*"  # in `_Run.holders`: who holds references is unknown: any member change naming a moved DN waits


class Directory(Protocol):
    """The part of the directory connector the executor uses.

    Optional, used when present (the LDAP connector has them): `write_connections`
    (int), `writer(defer_references=...)` (a context manager binding the calling
    thread's writes to a connection of its own), `await_references(old_dns)`,
    `reference_holders(old_dns)`, `remove_members(group_dn, member_dns)`
    (with it, a batch's additions to a group go as one `add_members` and its
    removals as one `remove_members`), and `offers_transactions()` with
    `transaction()` (a context manager: the calling thread's writes inside
    are committed together on leaving, all or nothing).
    """

    def create_person(self, dn: str, attributes: dict[str, str], password: str | None) -> None: ...
    def modify_person(self, dn: str, changes: dict[str, str | None]) -> None: ...
    def set_password(self, dn: str, password: str) -> None: ...
    def move_person(self, dn: str, new_superior: str) -> str: ...
    def lock(self, dn: str) -> None: ...
    def unlock(self, dn: str) -> None: ...
    def delete_person(self, dn: str) -> None: ...
    def create_group(
        self, dn: str, company: str, department: str, first_member: str, members: Sequence[str] | None = None
    ) -> None: ...
    def add_member(self, group_dn: str, member_dn: str) -> None: ...
    def add_members(self, group_dn: str, member_dns: Sequence[str]) -> None: ...
    def remove_member(self, group_dn: str, member_dn: str) -> None: ...
    def delete_group(self, dn: str) -> None: ...
    def read_person(self, dn: str) -> DirectoryEntry | None: ...
    def read_group(self, dn: str) -> GroupEntry | None: ...


@dataclass
class ApplyResult:
    run_id: str
    counts: Counter[str] = field(default_factory=Counter)
    stopped: str = ""  # why the run stopped early, if it did

    @property
    def ok(self) -> bool:
        return not self.stopped and self.counts[ActionStatus.FAILED] == 0 and self.counts[UNKNOWN] == 0

    def summary(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "counts": dict(self.counts), "stopped": self.stopped}


PASSWORD_ALPHABET = string.ascii_letters + string.digits + "-_.!"


def _syncfs(fd: int) -> bool:
    """syncfs(2) on the file system holding `fd`: True when done, False where unavailable."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        call = libc.syncfs
    except (OSError, AttributeError):
        return False
    if call(fd) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"syncfs: {os.strerror(errno)}")
    return True


class CredentialVault:
    """Seals each new account's initial password in a root-only file for its recipient.

    The password never appears in the plan, the action log or any log line.
    Each file is written to a 0600 temporary file, made durable, and renamed
    into place (atomic); `issue_many` does that for a batch with one file
    system sync instead of one fsync per file.
    """

    def __init__(self, directory: Path, length: int) -> None:
        self.directory = directory
        self.length = length

    def _password(self) -> str:
        alphabet, size = PASSWORD_ALPHABET, len(PASSWORD_ALPHABET)
        limit = 256 - 256 % size  # rejection sampling: every character equally likely
        while True:
            chars: list[str] = []
            while len(chars) < self.length:
                chars.extend(alphabet[b % size] for b in secrets.token_bytes(self.length * 2) if b < limit)
            password = "".join(chars[: self.length])
            if any(c.isdigit() for c in password) and any(c.isupper() for c in password) and any(c.islower() for c in password):
                return password

    def issue(self, employee_id: str, uid: str, mail: str) -> str:
        return self.issue_many([(employee_id, uid, mail)])[employee_id]

    def issue_many(self, people: Sequence[tuple[str, str, str]]) -> dict[str, str]:
        """A new password for each (employee_id, uid, mail), sealed and durable before this returns."""
        if not people:
            return {}
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.directory, 0o700)
        passwords: dict[str, str] = {}
        written: list[tuple[Path, Path]] = []
        for employee_id, uid, mail in people:
            password = self._password()
            path = self.directory / f"{employee_id}.txt"
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.fchmod(fd, 0o600)  # a leftover temporary file keeps its old mode through O_TRUNC
                os.write(fd, f"employee_id: {employee_id}\nlogin: {uid}\nmail: {mail}\ninitial_password: {password}\n".encode())
                if len(people) == 1:
                    os.fsync(fd)
            finally:
                os.close(fd)
            passwords[employee_id] = password
            written.append((tmp, path))
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            if len(people) > 1 and not _syncfs(dir_fd):
                for tmp, _ in written:
                    fd = os.open(tmp, os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
            for tmp, path in written:
                os.replace(tmp, path)
            os.fsync(dir_fd)  # the renames
        finally:
            os.close(dir_fd)
        return passwords

    def read_password(self, employee_id: str) -> str | None:
        path = self.directory / f"{employee_id}.txt"
        try:
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.startswith("initial_password: "):
                    return line.removeprefix("initial_password: ")
        except FileNotFoundError:
            return None
        return None


class _Halted(Exception):
    """Another lane stopped the batch: the open LDAP transaction is abandoned."""


class _Lanes:
    """Where a batch's directory writes run: `count` threads, each writing through its own
    connection (`directory.writer`), or inline in the calling thread.

    Used as a context manager for one `apply`; threads and connections end with it.
    """

    def __init__(self, directory: Any) -> None:
        self.supported = callable(getattr(directory, "writer", None))
        self.count = max(1, int(getattr(directory, "write_connections", 1) or 1)) if self.supported else 1
        self.defers_references = self.supported and all(
            callable(getattr(directory, name, None)) for name in ("await_references", "reference_holders")
        )
        self._directory = directory
        self._stack = contextlib.ExitStack()
        self._queues: list[queue.SimpleQueue[Callable[[], None] | None]] = []
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> _Lanes:
        if not self.supported:
            return self
        if self.count == 1:  # inline, on the shared connection: the same requests as one action at a time
            self._stack.enter_context(self._directory.writer(defer_references=self.defers_references, own_connection=False))
            return self
        for number in range(self.count):
            jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
            context = contextvars.copy_context()  # structlog's bound run_id
            thread = threading.Thread(target=context.run, args=(self._serve, jobs), name=f"ldap-lane-{number}", daemon=True)
            thread.start()
            self._queues.append(jobs)
            self._threads.append(thread)
        return self

    def _serve(self, jobs: queue.SimpleQueue[Callable[[], None] | None]) -> None:
        with self._directory.writer(defer_references=self.defers_references):
            while (job := jobs.get()) is not None:
                job()

    def __exit__(self, *exc_info: object) -> None:
        for jobs in self._queues:
            jobs.put(None)
        for thread in self._threads:
            thread.join(timeout=30)
        self._stack.close()

    def lane_of(self, action: Action) -> int:
        if self.count == 1:
            return 0
        return zlib.crc32(_entry_key(action).encode("utf-8")) % self.count

    def run(self, work: Sequence[Callable[[], None]]) -> None:
        """Run each callable (one per lane) on its lane; wait for all of them."""
        if not self._threads:
            for job in work:
                job()
            return
        futures: list[Future[None]] = []
        for number, job in enumerate(work):
            future: Future[None] = Future()

            def wrapped(job: Callable[[], None] = job, future: Future[None] = future) -> None:
                try:
                    job()
                except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                    future.set_exception(exc)
                else:
                    future.set_result(None)

            self._queues[number].put(wrapped)
            futures.append(future)
        for future in futures:
            future.result()


@dataclass
class _Run:
    """What one `apply` carries from batch to batch."""

    plan: Plan
    run_id: str
    result: ApplyResult
    failed_people: set[str] = field(default_factory=set)
    failed_dns: set[str] = field(default_factory=set)
    # Moved or deleted DNs whose references refint may not have rewritten yet, and the entries holding them.
    unsettled: list[str] = field(default_factory=list)
    holders: set[str] = field(default_factory=set)
    renamed: set[str] = field(default_factory=set)  # DN keys of the unsettled, before and after their move


class Executor:
    def __init__(
        self,
        directory: Directory,
        journal: Journal,
        vault: CredentialVault,
        actor: str,
        *,
        mail: Any = None,
        companion: Any = None,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self.directory = directory
        self.journal = journal
        self.vault = vault
        self.actor = actor
        self.mail = mail  # the mail backend (lifecycle.domain.mail.MailBackend), when [mail] is configured
        self.companion = companion  # the Dovecot companion: kick, archive, auto-reply
        self.batch_size = max(1, batch_size)
        self._failed_dns: set[str] = set()
        self._transactions: bool | None = None  # whether the directory offers LDAP transactions, asked once

    def recover(self) -> list[LogEntry]:
        """Settle actions a crash left `pending`: completed if the directory shows them done."""
        settled = []
        for entry in self.journal.pending_actions():
            done = self._already_done(entry)
            status = ActionStatus.APPLIED if done else ActionStatus.INTERRUPTED
            self.journal.finish_action(
                entry.id,
                status,
                employee_id=entry.employee_id,
                state=entry.params.get("state") if done else None,
                now=datetime.fromisoformat(entry.effective_at),
                error="" if done else "interrupted before completion; re-planned from the directory",
            )
            log.info("in_flight_action_settled", action_id=entry.id, kind=entry.kind, status=status)
            settled.append(entry)
        return settled

    def _already_done(self, entry: LogEntry) -> bool:
        kind = ActionKind(entry.kind)
        if kind in STATE_ONLY:
            return False  # cheap to redo: the next plan decides again
        try:
            params = params_from_dict(kind, entry.params)
        except (ValueError, TypeError) as exc:  # a row of another shape: redone from the directory, as if interrupted
            log.warning("in_flight_action_unreadable", action_id=entry.id, kind=entry.kind, error=str(exc))
            return False
        if isinstance(params, NewAccountParams | AccountParams):  # create, suspend, restore, delete (adopt: state only)
            found = self.directory.read_person(params.dn)
            if kind == ActionKind.CREATE_ACCOUNT:
                return found is not None and found.employee_number == entry.employee_id
            if kind == ActionKind.DELETE_ACCOUNT:
                return found is None
            if found is None:
                return False
            return found.locked if kind == ActionKind.SUSPEND_ACCOUNT else not found.locked
        if isinstance(params, AddressParams):
            return self._mail_done(kind, params)
        if isinstance(params, MoveParams):
            return self.directory.read_person(params.new_dn) is not None
        if isinstance(params, AttributeUpdateParams):
            found = self.directory.read_person(params.dn)
            if found is None:
                return False
            current = current_attributes(found)
            return all((current.get(k) or "") == (v or "") if k != "manager" else dn_key(current.get(k) or "") == dn_key(v or "")
                       for k, v in params.attributes.items())
        if isinstance(params, NewGroupParams | GroupDeletionParams | MemberParams):
            group = self.directory.read_group(params.group_dn if isinstance(params, MemberParams) else params.dn)
            if isinstance(params, GroupDeletionParams):
                return group is None
            if group is None:
                return False
            member = dn_key(params.member_dn if isinstance(params, MemberParams) else params.first_member)
            present = member in {dn_key(m) for m in group.members}
            return not present if kind == ActionKind.REMOVE_MEMBER else present
        return False

    def apply(
        self, plan: Plan, run_id: str, should_stop: Callable[[], bool] = lambda: False,
        progress: ProgressSink = NO_PROGRESS,
    ) -> ApplyResult:
        """Apply in order, batch by batch; `should_stop` is asked between batches (a SIGTERM finishes the one in flight).

        `progress` hears of every action that ends (applied or skipped as done, failed or of unknown outcome as
        failed), a batch at a time.
        """
        run = _Run(plan, run_id, ApplyResult(run_id))
        self._failed_dns = run.failed_dns
        actions = plan.actions
        reported = [0, 0]  # actions ended fine, and failed, as told to `progress` so far

        def report_progress() -> None:
            counts = run.result.counts
            failed = counts[ActionStatus.FAILED] + counts[UNKNOWN]
            done = sum(counts.values()) - failed
            if (done, failed) != tuple(reported):
                progress.advance(done - reported[0], failed - reported[1])
                reported[:] = done, failed

        progress.start("apply", len(actions))
        with contextlib.ExitStack() as ending, _Lanes(self.directory) as lanes:
            ending.callback(progress.finish)
            ending.callback(report_progress)
            index = 0
            while index < len(actions):
                if should_stop():
                    run.result.stopped = "stop requested"
                    log.warning("run_stopped", reason="stop requested", remaining=len(actions) - index)
                    break
                end = self._batch_end(actions, index)
                stopped = self._await_references_before(run, actions[index:end])
                if stopped is not None:
                    end = index  # nothing of this batch was sent
                else:
                    stopped = self._apply_batch(run, actions[index:end], lanes)
                if stopped is not None:
                    remaining = actions[end:]
                    self.journal.record_actions(run_id, remaining, ActionStatus.SKIPPED, plan.now, self.actor,
                                                error="run stopped: " + str(stopped))
                    run.result.counts[ActionStatus.SKIPPED] += len(remaining)
                    log.error("run_stopped", reason=run.result.stopped, connector=getattr(stopped, "connector", ""),
                              skipped=len(remaining))
                    break
                index = end
                report_progress()
            if run.unsettled:
                # The next read (the next cycle, an admin's query) sees the settled directory.
                try:
                    self.directory.await_references(run.unsettled)  # type: ignore[attr-defined]
                except (TransientError, ConnectorConfigError, RecordError) as exc:
                    log.warning("references_not_checked", error=str(exc), entries=len(run.unsettled))
        return run.result

    def _await_references_before(self, run: _Run, batch: Sequence[Action]) -> Exception | None:
        """Wait for refint before a batch whose writes it could undo.

        slapd's refint rewrites references to a moved or deleted DN in the
        background, one DN after the other (~0.3 s of slapd's CPU each at 100k
        entries), after the move or delete was answered: on each holder, one
        atomic modify deleting the old value and adding the new one, which fails
        if the old value is gone by then.  So a write to a holder in the meantime
        is safe when it replaces the attribute (a report's new manager), removes
        the old value (a mover leaving its old group before the move) or touches
        other values; it is undone only when it adds or removes the moved
        person's own value, e.g. removing the new DN from the old group before
        refint has renamed it there.  Only a batch with such a member change on
        a holder waits; everything else runs while refint works.
        """
        if not run.unsettled or batch[0].kind not in MEMBER_KINDS:
            return None
        everywhere = ANY_HOLDER in run.holders
        if not any(isinstance(a.params, MemberParams) and dn_key(a.params.member_dn) in run.renamed
                   and (everywhere or _entry_key(a) in run.holders) for a in batch):
            return None
        try:
            self.directory.await_references(run.unsettled)  # type: ignore[attr-defined]
        except (TransientError, ConnectorConfigError) as exc:
            run.result.stopped = f"{type(exc).__name__}: {exc}"
            return exc
        except RecordError as exc:
            log.warning("references_not_checked", error=str(exc), entries=len(run.unsettled))
        run.unsettled.clear()
        run.holders.clear()
        run.renamed.clear()
        return None

    def _batch_end(self, actions: Sequence[Action], start: int) -> int:
        """End of the batch starting at `start`: consecutive actions of the same kind; mail actions one by one."""
        kind = actions[start].kind
        if kind in MAIL_KINDS:
            return start + 1
        width = self.batch_size * (MEMBER_BATCH_FACTOR if kind in MEMBER_KINDS else 1)
        end, limit = start + 1, min(len(actions), start + width)
        while end < limit and actions[end].kind == kind:
            end += 1
        return end

    def _apply_batch(self, run: _Run, batch: Sequence[Action], lanes: _Lanes) -> Exception | None:
        """Apply one batch; returns the error that stops the run, if one does."""
        plan, result = run.plan, run.result
        blocked = [_blocked(action, run.failed_people, run.failed_dns) for action in batch]
        rows = [(a, ActionStatus.SKIPPED if why else ActionStatus.PENDING, why) for a, why in zip(batch, blocked, strict=True)]
        ids = self.journal.begin_actions(run.run_id, rows, plan.now, self.actor)  # write-ahead, one transaction
        skipped = sum(1 for why in blocked if why)
        if skipped:
            result.counts[ActionStatus.SKIPPED] += skipped
        live = [i for i, why in enumerate(blocked) if not why]
        if not live:
            return None
        passwords = self._issue_passwords([batch[i] for i in live])
        # Per action: None = never sent; else (status, error or exception).
        outcomes: list[tuple[str, Any] | None] = [None] * len(batch)
        halt = threading.Event()
        lock = threading.Lock()
        batch_people: set[str] = set()
        batch_dns: set[str] = set()

        def applied(pos: int) -> None:
            action = batch[pos]
            outcomes[pos] = (ActionStatus.APPLIED, "")
            # Logged as it happens (the batch's journal commit follows; a crash before it is settled by recover()).
            log.info("action_applied", kind=action.kind.value, employee_id=action.employee_id, company=action.company,
                     target=action.target, rule=action.rule)

        def unblocked(positions: list[int]) -> list[int]:
            """Those of `positions` no earlier failure in this batch (same person or entry) blocks; the others skipped."""
            ready = []
            for pos in positions:
                with lock:
                    why = _blocked(batch[pos], batch_people, batch_dns)
                if why:
                    outcomes[pos] = (ActionStatus.SKIPPED, why)
                else:
                    ready.append(pos)
            return ready

        def perform_all(positions: list[int]) -> None:
            for pos in positions:
                if halt.is_set():
                    return
                if not unblocked([pos]):
                    continue
                action = batch[pos]
                try:
                    self._perform(action, passwords)
                except RecordError as exc:
                    outcomes[pos] = (ActionStatus.FAILED, exc)
                    with lock:
                        _note_failure(action, batch_people, batch_dns)
                except (TransientError, ConnectorConfigError) as exc:
                    outcomes[pos] = ("stop", exc)
                    halt.set()
                    return
                except BaseException as exc:  # noqa: BLE001 - a crash: recorded below, then re-raised
                    outcomes[pos] = ("crash", exc)
                    halt.set()
                    return
                else:
                    applied(pos)

        def perform_as_one(ready: list[int], write: Callable[[], None], fallback: Callable[[], None] | None = None) -> bool:
            """`write` carries all of `ready` at once (one modify of a group, one LDAP transaction): all or nothing.

            Refused: nothing was written, so `fallback` (default: each action alone) finds which one
            it was, and each failure is its own.  True: written.
            """
            try:
                write()
            except _Halted:
                return False  # abandoned: nothing was written; their outcomes stay "never sent"
            except RecordError:
                fallback() if fallback is not None else perform_all(ready)
                return False
            except (TransientError, ConnectorConfigError) as exc:
                for pos in ready:
                    outcomes[pos] = ("stop", exc)
                halt.set()
                return False
            except BaseException as exc:  # noqa: BLE001 - a crash: recorded below, then re-raised
                for pos in ready:
                    outcomes[pos] = ("crash", exc)
                halt.set()
                return False
            for pos in ready:
                applied(pos)
            return True

        # A write is one action, or several member changes of one group (`_change_members`).
        def perform_write(write: list[int]) -> None:
            if len(write) <= 1:
                perform_all(write)
            else:
                perform_as_one(write, lambda: self._change_members([batch[pos] for pos in write]))

        def send_write(write: list[int]) -> None:
            if len(write) == 1:
                self._perform(batch[write[0]], passwords)
            else:
                self._change_members([batch[pos] for pos in write])

        def writes_by_group(positions: list[int]) -> list[list[int]]:
            """Member changes of one kind: one write per group carrying all of its changes."""
            by_group: dict[str, list[int]] = {}
            for pos in positions:
                by_group.setdefault(_entry_key(batch[pos]), []).append(pos)
            return list(by_group.values())

        def perform_one_by_one(writes: list[list[int]]) -> None:
            for write in writes:
                if halt.is_set():
                    return
                perform_write(unblocked(write) if len(write) > 1 else write)

        def perform_together(writes: list[list[int]]) -> None:
            """LDAP transactions of 2, 4, 8... up to TRANSACTION_SIZE writes: a connection that keeps breaking
            after a few dozen requests still commits some in every run, where one big transaction never would."""
            start, size = 0, 2
            while start < len(writes) and not halt.is_set():
                chunk = [ready for write in writes[start : start + size] if (ready := unblocked(write))]
                start += size
                if len(chunk) <= 1:
                    perform_one_by_one(chunk)
                elif perform_as_one([pos for write in chunk for pos in write], lambda chunk=chunk: in_transaction(chunk),
                                    lambda chunk=chunk: perform_one_by_one(chunk)):
                    size = min(size * 2, TRANSACTION_SIZE)

        def in_transaction(writes: list[list[int]]) -> None:
            with self.directory.transaction():  # type: ignore[attr-defined]
                for write in writes:
                    if halt.is_set():
                        raise _Halted  # another lane stopped the batch
                    send_write(write)

        if batch[live[0]].kind in LANE_KINDS:
            by_lane: list[list[int]] = [[] for _ in range(lanes.count)]
            for pos in live:
                by_lane[lanes.lane_of(batch[pos])].append(pos)
            kind = batch[live[0]].kind
            group_writes = kind in MEMBER_KINDS and self._changes_members_together()
            together = (kind in TRANSACTION_KINDS or group_writes) and self._writes_in_transactions()

            def perform_lane(positions: list[int]) -> None:
                writes = writes_by_group(positions) if group_writes else [[pos] for pos in positions]
                (perform_together if together else perform_one_by_one)(writes)

            try:
                lanes.run([lambda positions=positions: perform_lane(positions) for positions in by_lane if positions])
            except BaseException:
                halt.set()  # interrupted while waiting (KeyboardInterrupt): the lanes send nothing more
                raise
        else:
            perform_all(live)
        return self._settle_batch(run, batch, ids, live, outcomes, lanes)

    def _writes_in_transactions(self) -> bool:
        if self._transactions is None:
            offers = getattr(self.directory, "offers_transactions", None)
            self._transactions = False
            if callable(offers) and callable(getattr(self.directory, "transaction", None)):
                try:
                    self._transactions = bool(offers())
                except (TransientError, ConnectorConfigError, RecordError) as exc:
                    log.warning("transactions_not_checked", error=str(exc))  # one write at a time, as without
        return self._transactions

    def _changes_members_together(self) -> bool:
        return callable(getattr(self.directory, "remove_members", None))

    def _change_members(self, actions: Sequence[Action]) -> None:
        """Several additions to (or removals from) one group, in one write of the group entry."""
        changes = [a.params for a in actions if isinstance(a.params, MemberParams)]
        group, members = changes[0].group_dn, [p.member_dn for p in changes]
        if actions[0].kind == ActionKind.ADD_MEMBER:
            self.directory.add_members(group, members)
        else:
            self.directory.remove_members(group, members)  # type: ignore[attr-defined]

    def _issue_passwords(self, actions: Sequence[Action]) -> dict[str, str]:
        """Sealed initial passwords for the batch's new accounts, durable before any of them is created."""
        people = [(a.employee_id, a.params.attributes.uid, a.params.attributes.mail)
                  for a in actions if isinstance(a.params, NewAccountParams)]
        return self.vault.issue_many(people) if people else {}

    def _settle_batch(
        self, run: _Run, batch: Sequence[Action], ids: list[int], live: list[int],
        outcomes: list[tuple[str, Any] | None], lanes: _Lanes,
    ) -> Exception | None:
        plan, result = run.plan, run.result
        stop: Exception | None = None
        crash: BaseException | None = None
        for pos in live:  # the first stop in plan order names the run's end
            outcome = outcomes[pos]
            if outcome is not None and outcome[0] == "stop" and stop is None:
                stop = outcome[1]
            if outcome is not None and outcome[0] == "crash" and crash is None:
                crash = outcome[1]
        finished: list[tuple[int, ActionOutcome]] = []
        for pos in live:
            action, outcome = batch[pos], outcomes[pos]
            if outcome is None:
                if crash is not None:
                    continue  # never sent; left `pending` for recover() like the one that crashed
                reason = stop or crash
                finished.append((pos, ActionOutcome(ids[pos], ActionStatus.SKIPPED, "run stopped: " + str(reason))))
                continue
            status, detail = outcome
            if status == ActionStatus.APPLIED:
                finished.append((pos, ActionOutcome(ids[pos], status, "", action.employee_id, action.all_params().get("state"))))
            elif status == ActionStatus.SKIPPED:
                finished.append((pos, ActionOutcome(ids[pos], status, str(detail))))
            elif status == ActionStatus.FAILED:
                finished.append((pos, ActionOutcome(ids[pos], status, str(detail))))
            elif status == "stop" and isinstance(detail, ConnectorConfigError):
                finished.append((pos, ActionOutcome(ids[pos], ActionStatus.FAILED, str(detail))))
            # "stop" with a TransientError: the request may have been carried out before the connection
            # broke; the outcome is unknown, so the row stays `pending` and the next run's recover()
            # settles it against the directory instead of guessing here.  "crash": pending as well.
        if crash is not None:
            with contextlib.suppress(Exception):  # best effort: the crash is what must surface
                self.journal.finish_actions([o for _, o in finished], plan.now)
            raise crash
        unrecorded: set[int] = set()
        try:
            self.journal.finish_actions([o for _, o in finished], plan.now)  # outcomes + states, one transaction
        except SQLAlchemyError:
            finished, unrecorded = self._finish_one_by_one(run, batch, finished)
        for pos, done in finished:
            self._count(run, batch[pos], done, state_lost=pos in unrecorded)
        unknown = sum(1 for pos in live if outcomes[pos] is not None and outcomes[pos][0] == "stop"
                      and isinstance(outcomes[pos][1], TransientError))
        if unknown:
            result.counts[UNKNOWN] += unknown
        if stop is not None:
            result.stopped = f"{type(stop).__name__}: {stop}"
        moved = [batch[pos].params for pos, done in finished if done.status == ActionStatus.APPLIED
                 and batch[pos].kind in (ActionKind.MOVE_ACCOUNT, ActionKind.DELETE_ACCOUNT)]
        gone = [params.dn for params in moved if isinstance(params, EntryParams)]
        if gone and lanes.defers_references:
            # Not waited for here: see `_await_references_before`.  One search finds who holds references.
            run.unsettled.extend(gone)
            run.renamed.update(dn_key(dn) for dn in (*gone, *(p.new_dn for p in moved if isinstance(p, MoveParams))) if dn)
            try:
                run.holders.update(dn_key(h) for h in self.directory.reference_holders(gone))  # type: ignore[attr-defined]
            except (TransientError, ConnectorConfigError) as exc:
                if stop is None:
                    result.stopped = f"{type(exc).__name__}: {exc}"
                    return exc
            except RecordError as exc:
                log.warning("references_not_checked", error=str(exc), entries=len(gone))
                run.holders.add(ANY_HOLDER)  # not known who holds them: a member change naming them waits
        return stop

    def _finish_one_by_one(
        self, run: _Run, batch: Sequence[Action], finished: list[tuple[int, ActionOutcome]]
    ) -> tuple[list[tuple[int, ActionOutcome]], set[int]]:
        """The batch's outcome transaction failed: record each outcome alone, so one bad state fails one action."""
        settled: list[tuple[int, ActionOutcome]] = []
        unrecorded: set[int] = set()
        for pos, done in finished:
            action = batch[pos]
            try:
                self.journal.finish_action(done.action_id, done.status, employee_id=done.employee_id, state=done.state,
                                           now=run.plan.now, error=done.error)
            except SQLAlchemyError as exc:
                if done.status != ActionStatus.APPLIED:
                    raise
                # The write happened but the state would not take it: a record-level failure, not a dead run.
                error = f"state not recorded: {type(exc).__name__}"
                self.journal.finish_action(done.action_id, ActionStatus.FAILED, error=error)
                log.error("state_not_recorded", kind=action.kind.value, employee_id=action.employee_id, error=type(exc).__name__)
                done = ActionOutcome(done.action_id, ActionStatus.FAILED, error)
                unrecorded.add(pos)
            settled.append((pos, done))
        return settled, unrecorded

    def _count(self, run: _Run, action: Action, done: ActionOutcome, *, state_lost: bool = False) -> None:
        run.result.counts[done.status] += 1
        if done.status == ActionStatus.FAILED and state_lost:
            run.failed_people.add(action.employee_id)
        elif done.status == ActionStatus.FAILED:
            log.warning("action_failed", kind=action.kind.value, employee_id=action.employee_id, target=action.target,
                        error=done.error)
            _note_failure(action, run.failed_people, run.failed_dns)

    def _perform(self, action: Action, passwords: dict[str, str] | None = None) -> None:
        d = self.directory
        match action.kind, action.params:
            case ActionKind.CREATE_ACCOUNT, NewAccountParams() as p:
                attributes = p.attributes
                password = (passwords or {}).get(action.employee_id) or self.vault.issue(
                    action.employee_id, attributes.uid, attributes.mail
                )
                try:
                    d.create_person(p.dn, attributes.to_dict(), password)
                except AlreadyExistsError:
                    found = d.read_person(p.dn)
                    if found is None or found.employee_number != action.employee_id:
                        raise
                    # Our own entry from an interrupted run: make the sealed password the valid one.
                    d.set_password(p.dn, password)
            case ActionKind.UPDATE_ACCOUNT, AttributeUpdateParams() as p:
                d.modify_person(p.dn, dict(p.attributes))
            case ActionKind.MOVE_ACCOUNT, MoveParams() as p:
                if d.read_person(p.dn) is None and d.read_person(p.new_dn) is not None:
                    return  # moved already (an earlier run was interrupted after the move)
                d.move_person(p.dn, p.new_superior)
            case ActionKind.SUSPEND_ACCOUNT, AccountParams() as p:
                d.lock(p.dn)
            case ActionKind.RESTORE_ACCOUNT, AccountParams() as p:
                d.unlock(p.dn)
            case ActionKind.DELETE_ACCOUNT, AccountParams() as p:
                d.delete_person(p.dn)
            case ActionKind.CREATE_GROUP, NewGroupParams() as p:
                self._create_group(p)
            case ActionKind.ADD_MEMBER, MemberParams() as p:
                d.add_member(p.group_dn, p.member_dn)
            case ActionKind.REMOVE_MEMBER, MemberParams() as p:
                d.remove_member(p.group_dn, p.member_dn)
            case ActionKind.DELETE_GROUP, GroupDeletionParams() as p:
                d.delete_group(p.dn)
            case ActionKind.WARN_INACTIVE, WarningParams() as p:
                # Delivery of the notice by mail belongs to the mail backend; the journal is the record.
                log.info("inactivity_warning", employee_id=action.employee_id, mail=p.mail, reason=action.reason)
            case (ActionKind.ADOPT_ACCOUNT, AccountParams()) | (ActionKind.RECORD_STATE, StateParams()):
                pass  # state only: written with the outcome
            case kind, AddressParams() if kind in MAIL_KINDS:
                self._perform_mail(action)
            case _:
                raise RecordError(f"unknown action kind {action.kind} (parameters {type(action.params).__name__})")

    def _create_group(self, p: NewGroupParams) -> None:
        """The group with all its initial members (the planner's `members`) in one add.

        Members whose own account action failed in this run are left out (the
        next plan adds them once they exist).  A group that exists already (an
        interrupted run) gets the members it lacks.
        """
        d, dn, first = self.directory, p.dn, p.first_member
        members = [first] + [m for m in p.members or () if dn_key(m) != dn_key(first) and m not in self._failed_dns]
        try:
            d.create_group(dn, p.company, p.department, first, members=members)
        except AlreadyExistsError:
            group = d.read_group(dn)
            if group is None:
                raise
            have = {dn_key(m) for m in group.members}
            missing = [m for m in members if dn_key(m) not in have]
            if missing:
                d.add_members(dn, missing)

    def _perform_mail(self, action: Action) -> None:
        m = self.mail
        if m is None:
            raise RecordError(f"{action.kind.value}: no mail backend is configured", connector="mail")
        match action.kind, action.params:
            case ActionKind.CREATE_MAILBOX, NewMailboxParams() as p:
                address = p.address
                # One initial password for the account and the mailbox, sealed once.
                password = self.vault.read_password(action.employee_id) or self.vault.issue(
                    action.employee_id, address.split("@", 1)[0], address
                )
                try:
                    m.create_mailbox(address, p.display_name, p.quota_mb, password)
                except AlreadyExistsError:
                    m.set_password(address, password)  # ours, from an interrupted run
                log.info("mailbox_created", employee_id=action.employee_id, address=address, notify_manager=p.manager)
            case ActionKind.UPDATE_MAILBOX, MailboxUpdateParams() as p:
                m.update_mailbox(p.address, display_name=p.display_name, quota_mb=p.quota_mb)
            case ActionKind.RENAME_MAILBOX, MailboxRenameParams() as p:
                m.rename_mailbox(p.address, p.new_address)
            case ActionKind.SUSPEND_MAILBOX, AddressParams(address=address):
                m.suspend(address)
                if self.companion is not None:
                    self.companion.kick(address)
            case ActionKind.RESTORE_MAILBOX, AddressParams(address=address):
                m.restore(address)
                if self.companion is not None:
                    self.companion.remove_autoreply(address)  # a leaver's "has left" reply ends with the rehire
            case ActionKind.FORWARD_MAIL, ForwardParams() as p:
                m.set_forward(p.address, list(p.recipients), keep_copy=p.keep_copy)
            case ActionKind.CLEAR_FORWARD, AddressParams(address=address):
                m.clear_forward(address)
            case ActionKind.AUTO_REPLY, AutoReplyParams() as p:
                if self.companion is None:
                    raise RecordError("auto-reply needs [mail.dovecot]", connector="mail")
                self.companion.put_autoreply(p.address, p.subject, p.text)
            case ActionKind.ARCHIVE_MAILBOX, AddressParams(address=address):
                if self.companion is None:
                    raise RecordError("archiving needs [mail.dovecot]", connector="mail")
                archive = self.companion.backup(address)  # raises unless the archive's message count is verified
                log.info("mailbox_archived", employee_id=action.employee_id, address=address, archive=str(archive))
            case ActionKind.DELETE_MAILBOX, AddressParams(address=address):
                m.delete_mailbox(address, keep_dir=self.companion is None)
            case ActionKind.CREATE_ALIAS, AliasParams() as p:
                expires = datetime.fromisoformat(p.expires) if p.expires else None
                try:
                    m.create_alias(p.address, list(p.recipients), expires=expires)
                except AlreadyExistsError:
                    pass  # made by an interrupted run: the plan would not ask otherwise
            case ActionKind.DELETE_ALIAS, AliasParams() as p:
                # Only while it is still the alias the plan saw: one changed since is someone else's now.
                m.delete_alias(p.address, list(p.recipients))
            case _:
                raise RecordError(f"unknown mail action {action.kind} (parameters {type(action.params).__name__})")

    def _mail_done(self, kind: ActionKind, params: AddressParams) -> bool:
        if self.mail is None:
            return False
        if kind == ActionKind.DELETE_ALIAS:
            return self.mail.find_alias(params.address) is None
        box = self.mail.find_mailbox(params.address)
        if kind == ActionKind.CREATE_MAILBOX:
            return box is not None
        if kind == ActionKind.DELETE_MAILBOX:
            return box is None
        if kind == ActionKind.SUSPEND_MAILBOX:
            return box is not None and not box.is_active
        if kind == ActionKind.RESTORE_MAILBOX:
            return box is not None and box.is_active
        if kind == ActionKind.RENAME_MAILBOX:
            return isinstance(params, MailboxRenameParams) and box is None and self.mail.find_mailbox(params.new_address) is not None
        return False


def _blocked(action: Action, failed_people: set[str], failed_dns: set[str]) -> str:
    if action.employee_id and action.employee_id in failed_people and action.kind not in (
        ActionKind.ADD_MEMBER, ActionKind.REMOVE_MEMBER, ActionKind.CREATE_GROUP, ActionKind.DELETE_GROUP
    ):
        return "an earlier action for this employee failed in this run"
    p = action.params
    member = p.member_dn if isinstance(p, MemberParams) else p.first_member if isinstance(p, NewGroupParams) else ""
    if member and member in failed_dns:
        return "the member's account action failed earlier in this run"
    if isinstance(p, GroupDeletionParams) and set(p.leaving) & failed_people:
        return "an action for a member of this group failed earlier in this run"
    return ""


def _entry_key(action: Action) -> str:
    """The entry an action writes, as a comparison key."""
    p = action.params
    entry = p.group_dn if isinstance(p, MemberParams) else p.dn if isinstance(p, EntryParams) else ""
    return dn_key(entry or action.target)


def _note_failure(action: Action, failed_people: set[str], failed_dns: set[str]) -> None:
    """Remember a failed action: later actions of its person, and on its entry, are skipped (`_blocked`)."""
    if action.employee_id:
        failed_people.add(action.employee_id)
    p = action.params
    dn = p.dn if isinstance(p, EntryParams) else ""
    new_dn = p.new_dn if isinstance(p, MoveParams) else ""
    failed_dns.update(v for v in (dn, new_dn, action.target) if v)
