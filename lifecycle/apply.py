"""The thin shell that acts: apply a plan's actions in order and journal each one.

Per action: write-ahead `pending`, perform, then `applied` (with the person's
new state) or `failed`.  A record-level failure skips that person's later
actions and goes on; a transient or auth/config failure stops the run, and
the next cycle re-plans from the real directory, so nothing is lost or done
twice.
"""

from __future__ import annotations

import os
import secrets
import string
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import structlog
from sqlalchemy.exc import SQLAlchemyError

from lifecycle.errors import AlreadyExistsError, ConnectorConfigError, RecordError, TransientError
from lifecycle.journal import ActionStatus, Journal, LogEntry
from lifecycle.models import Action, ActionKind, DirectoryEntry, GroupEntry, Plan
from policies.attributes import current_attributes
from policies.placement import dn_key

log = structlog.get_logger(__name__)

UNKNOWN = "outcome_unknown"  # a transient failure mid-request: settled by the next run's recover()
STATE_ONLY = frozenset({ActionKind.ADOPT_ACCOUNT, ActionKind.WARN_INACTIVE, ActionKind.RECORD_STATE})
MAIL_KINDS = frozenset({
    ActionKind.CREATE_MAILBOX, ActionKind.UPDATE_MAILBOX, ActionKind.RENAME_MAILBOX, ActionKind.SUSPEND_MAILBOX,
    ActionKind.RESTORE_MAILBOX, ActionKind.FORWARD_MAIL, ActionKind.CLEAR_FORWARD, ActionKind.AUTO_REPLY,
    ActionKind.ARCHIVE_MAILBOX, ActionKind.DELETE_MAILBOX, ActionKind.CREATE_ALIAS,
})


class Directory(Protocol):
    """The part of the directory connector the executor uses."""

    def create_person(self, dn: str, attributes: dict[str, str], password: str | None) -> None: ...
    def modify_person(self, dn: str, changes: dict[str, str | None]) -> None: ...
    def set_password(self, dn: str, password: str) -> None: ...
    def move_person(self, dn: str, new_superior: str) -> str: ...
    def lock(self, dn: str) -> None: ...
    def unlock(self, dn: str) -> None: ...
    def delete_person(self, dn: str) -> None: ...
    def create_group(self, dn: str, company: str, department: str, first_member: str) -> None: ...
    def add_member(self, group_dn: str, member_dn: str) -> None: ...
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


class CredentialVault:
    """Seals each new account's initial password in a root-only file for its recipient.

    The password never appears in the plan, the action log or any log line.
    """

    def __init__(self, directory: Path, length: int) -> None:
        self.directory = directory
        self.length = length

    def issue(self, employee_id: str, uid: str, mail: str) -> str:
        alphabet = string.ascii_letters + string.digits + "-_.!"
        while True:
            password = "".join(secrets.choice(alphabet) for _ in range(self.length))
            if any(c.isdigit() for c in password) and any(c.isupper() for c in password) and any(c.islower() for c in password):
                break
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.directory, 0o700)
        path = self.directory / f"{employee_id}.txt"
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f"employee_id: {employee_id}\nlogin: {uid}\nmail: {mail}\ninitial_password: {password}\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        return password

    def read_password(self, employee_id: str) -> str | None:
        path = self.directory / f"{employee_id}.txt"
        try:
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.startswith("initial_password: "):
                    return line.removeprefix("initial_password: ")
        except FileNotFoundError:
            return None
        return None


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
    ) -> None:
        self.directory = directory
        self.journal = journal
        self.vault = vault
        self.actor = actor
        self.mail = mail  # the mail backend (lifecycle.mail.MailBackend), when [mail] is configured
        self.companion = companion  # the Dovecot companion: kick, archive, auto-reply

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
        kind, params = ActionKind(entry.kind), entry.params
        if kind in STATE_ONLY:
            return False  # cheap to redo: the next plan decides again
        if kind in (ActionKind.CREATE_ACCOUNT, ActionKind.SUSPEND_ACCOUNT, ActionKind.RESTORE_ACCOUNT, ActionKind.DELETE_ACCOUNT):
            found = self.directory.read_person(params["dn"])
            if kind == ActionKind.CREATE_ACCOUNT:
                return found is not None and found.employee_number == entry.employee_id
            if kind == ActionKind.DELETE_ACCOUNT:
                return found is None
            if found is None:
                return False
            return found.locked if kind == ActionKind.SUSPEND_ACCOUNT else not found.locked
        if kind in MAIL_KINDS:
            return self._mail_done(kind, params)
        if kind == ActionKind.MOVE_ACCOUNT:
            return self.directory.read_person(params["new_dn"]) is not None
        if kind == ActionKind.UPDATE_ACCOUNT:
            found = self.directory.read_person(params["dn"])
            if found is None:
                return False
            current = current_attributes(found)
            return all((current.get(k) or "") == (v or "") if k != "manager" else dn_key(current.get(k) or "") == dn_key(v or "")
                       for k, v in params["attributes"].items())
        if kind in (ActionKind.CREATE_GROUP, ActionKind.DELETE_GROUP, ActionKind.ADD_MEMBER, ActionKind.REMOVE_MEMBER):
            group = self.directory.read_group(params.get("dn") or params["group_dn"])
            if kind == ActionKind.DELETE_GROUP:
                return group is None
            if group is None:
                return False
            member = dn_key(params.get("first_member") or params.get("member_dn") or "")
            present = member in {dn_key(m) for m in group.members}
            return not present if kind == ActionKind.REMOVE_MEMBER else present
        return False

    def apply(self, plan: Plan, run_id: str, should_stop: Callable[[], bool] = lambda: False) -> ApplyResult:
        """Apply in order; `should_stop` is asked between actions (a SIGTERM finishes the one in flight)."""
        result = ApplyResult(run_id)
        failed_people: set[str] = set()
        failed_dns: set[str] = set()
        for index, action in enumerate(plan.actions):
            if should_stop():
                result.stopped = "stop requested"
                log.warning("run_stopped", reason="stop requested", remaining=len(plan.actions) - index)
                break
            blocked_by = _blocked(action, failed_people, failed_dns)
            if blocked_by:
                self.journal.record_actions(run_id, [action], ActionStatus.SKIPPED, plan.now, self.actor, error=blocked_by)
                result.counts[ActionStatus.SKIPPED] += 1
                continue
            action_id = self.journal.begin_action(run_id, action, plan.now, self.actor)
            try:
                self._perform(action)
            except RecordError as exc:
                self.journal.finish_action(action_id, ActionStatus.FAILED, error=str(exc))
                result.counts[ActionStatus.FAILED] += 1
                log.warning("action_failed", kind=action.kind.value, employee_id=action.employee_id, target=action.target, error=str(exc))
                if action.employee_id:
                    failed_people.add(action.employee_id)
                failed_dns.update(v for v in (action.params.get("dn"), action.params.get("new_dn"), action.target) if v)
                continue
            except (TransientError, ConnectorConfigError) as exc:
                if isinstance(exc, TransientError):
                    # The request may have been carried out before the connection broke: the
                    # outcome is unknown, so the row stays `pending` and the next run's recover()
                    # settles it against the directory instead of guessing here.
                    result.counts[UNKNOWN] += 1
                else:
                    self.journal.finish_action(action_id, ActionStatus.FAILED, error=str(exc))
                    result.counts[ActionStatus.FAILED] += 1
                result.stopped = f"{type(exc).__name__}: {exc}"
                remaining = plan.actions[index + 1 :]
                self.journal.record_actions(run_id, remaining, ActionStatus.SKIPPED, plan.now, self.actor, error="run stopped: " + str(exc))
                result.counts[ActionStatus.SKIPPED] += len(remaining)
                log.error("run_stopped", reason=result.stopped, connector=getattr(exc, "connector", ""), skipped=len(remaining))
                break
            try:
                self.journal.finish_action(
                    action_id, ActionStatus.APPLIED, employee_id=action.employee_id, state=action.params.get("state"), now=plan.now
                )
            except SQLAlchemyError as exc:
                # The write happened but the state would not take it: a record-level failure, not a dead run.
                self.journal.finish_action(action_id, ActionStatus.FAILED, error=f"state not recorded: {type(exc).__name__}")
                result.counts[ActionStatus.FAILED] += 1
                failed_people.add(action.employee_id)
                log.error("state_not_recorded", kind=action.kind.value, employee_id=action.employee_id, error=type(exc).__name__)
                continue
            result.counts[ActionStatus.APPLIED] += 1
            log.info("action_applied", kind=action.kind.value, employee_id=action.employee_id, company=action.company,
                     target=action.target, rule=action.rule)
        return result

    def _perform(self, action: Action) -> None:
        p, d = action.params, self.directory
        match action.kind:
            case ActionKind.CREATE_ACCOUNT:
                attributes = p["attributes"]
                password = self.vault.issue(action.employee_id, attributes["uid"], attributes.get("mail", ""))
                try:
                    d.create_person(p["dn"], attributes, password)
                except AlreadyExistsError:
                    found = d.read_person(p["dn"])
                    if found is None or found.employee_number != action.employee_id:
                        raise
                    # Our own entry from an interrupted run: make the sealed password the valid one.
                    d.set_password(p["dn"], password)
            case ActionKind.UPDATE_ACCOUNT:
                d.modify_person(p["dn"], p["attributes"])
            case ActionKind.MOVE_ACCOUNT:
                if d.read_person(p["dn"]) is None and d.read_person(p["new_dn"]) is not None:
                    return  # moved already (an earlier run was interrupted after the move)
                d.move_person(p["dn"], p["new_superior"])
            case ActionKind.SUSPEND_ACCOUNT:
                d.lock(p["dn"])
            case ActionKind.RESTORE_ACCOUNT:
                d.unlock(p["dn"])
            case ActionKind.DELETE_ACCOUNT:
                d.delete_person(p["dn"])
            case ActionKind.CREATE_GROUP:
                try:
                    d.create_group(p["dn"], p["company"], p["department"], p["first_member"])
                except AlreadyExistsError:
                    d.add_member(p["dn"], p["first_member"])
            case ActionKind.ADD_MEMBER:
                d.add_member(p["group_dn"], p["member_dn"])
            case ActionKind.REMOVE_MEMBER:
                d.remove_member(p["group_dn"], p["member_dn"])
            case ActionKind.DELETE_GROUP:
                d.delete_group(p["dn"])
            case ActionKind.WARN_INACTIVE:
                # Delivery of the notice by mail belongs to the mail backend; the journal is the record.
                log.info("inactivity_warning", employee_id=action.employee_id, mail=p.get("mail", ""), reason=action.reason)
            case ActionKind.ADOPT_ACCOUNT | ActionKind.RECORD_STATE:
                pass  # state only: written with the outcome
            case kind if kind in MAIL_KINDS:
                self._perform_mail(action)
            case _:
                raise RecordError(f"unknown action kind {action.kind}")

    def _perform_mail(self, action: Action) -> None:
        p, m = action.params, self.mail
        if m is None:
            raise RecordError(f"{action.kind.value}: no mail backend is configured", connector="mail")
        address = p["address"]
        match action.kind:
            case ActionKind.CREATE_MAILBOX:
                # One initial password for the account and the mailbox, sealed once.
                password = self.vault.read_password(action.employee_id) or self.vault.issue(
                    action.employee_id, address.split("@", 1)[0], address
                )
                try:
                    m.create_mailbox(address, p["display_name"], p["quota_mb"], password)
                except AlreadyExistsError:
                    m.set_password(address, password)  # ours, from an interrupted run
                log.info("mailbox_created", employee_id=action.employee_id, address=address, notify_manager=p.get("manager", ""))
            case ActionKind.UPDATE_MAILBOX:
                m.update_mailbox(address, display_name=p.get("display_name"), quota_mb=p.get("quota_mb"))
            case ActionKind.RENAME_MAILBOX:
                m.rename_mailbox(address, p["new_address"])
            case ActionKind.SUSPEND_MAILBOX:
                m.suspend(address)
                if self.companion is not None:
                    self.companion.kick(address)
            case ActionKind.RESTORE_MAILBOX:
                m.restore(address)
                if self.companion is not None:
                    self.companion.remove_autoreply(address)  # a leaver's "has left" reply ends with the rehire
            case ActionKind.FORWARD_MAIL:
                m.set_forward(address, p["recipients"], keep_copy=p.get("keep_copy", False))
            case ActionKind.CLEAR_FORWARD:
                m.clear_forward(address)
            case ActionKind.AUTO_REPLY:
                if self.companion is None:
                    raise RecordError("auto-reply needs [mail.dovecot]", connector="mail")
                self.companion.put_autoreply(address, p["subject"], p["text"])
            case ActionKind.ARCHIVE_MAILBOX:
                if self.companion is None:
                    raise RecordError("archiving needs [mail.dovecot]", connector="mail")
                archive = self.companion.backup(address)  # raises unless the archive's message count is verified
                log.info("mailbox_archived", employee_id=action.employee_id, address=address, archive=str(archive))
            case ActionKind.DELETE_MAILBOX:
                m.delete_mailbox(address, keep_dir=self.companion is None)
            case ActionKind.CREATE_ALIAS:
                expires = datetime.fromisoformat(p["expires"]) if p.get("expires") else None
                try:
                    m.create_alias(address, p["recipients"], expires=expires)
                except AlreadyExistsError:
                    pass  # made by an interrupted run: the plan would not ask otherwise

    def _mail_done(self, kind: ActionKind, params: dict[str, Any]) -> bool:
        if self.mail is None:
            return False
        box = self.mail.find_mailbox(params["address"])
        if kind == ActionKind.CREATE_MAILBOX:
            return box is not None
        if kind == ActionKind.DELETE_MAILBOX:
            return box is None
        if kind == ActionKind.SUSPEND_MAILBOX:
            return box is not None and not box.is_active
        if kind == ActionKind.RESTORE_MAILBOX:
            return box is not None and box.is_active
        if kind == ActionKind.RENAME_MAILBOX:
            return box is None and self.mail.find_mailbox(params["new_address"]) is not None
        return False


def _blocked(action: Action, failed_people: set[str], failed_dns: set[str]) -> str:
    if action.employee_id and action.employee_id in failed_people and action.kind not in (
        ActionKind.ADD_MEMBER, ActionKind.REMOVE_MEMBER, ActionKind.CREATE_GROUP, ActionKind.DELETE_GROUP
    ):
        return "an earlier action for this employee failed in this run"
    member = action.params.get("member_dn") or action.params.get("first_member")
    if member and member in failed_dns:
        return "the member's account action failed earlier in this run"
    if set(action.params.get("leaving", ())) & failed_people:
        return "an action for a member of this group failed earlier in this run"
    return ""
