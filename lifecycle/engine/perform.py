"""One action as calls to the directory, the mail server and its companion.

Each call is safe to repeat after an interrupted run: a create that meets our
own entry, a move already done, a mailbox or alias an earlier run made are
taken as done (the plan would not ask for them otherwise).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

import structlog

from lifecycle.domain.action_params import (
    AccountParams,
    AddressParams,
    AliasParams,
    AttributeUpdateParams,
    AutoReplyParams,
    ForwardParams,
    GroupDeletionParams,
    HrWriteBackParams,
    MailboxRenameParams,
    MailboxUpdateParams,
    MemberParams,
    MoveParams,
    NewAccountParams,
    NewGroupParams,
    NewMailboxParams,
    PasswordResetParams,
    StateParams,
    WarningParams,
)
from lifecycle.domain.dn import dn_key
from lifecycle.domain.errors import AlreadyExistsError, ConnectorError, HrWriteBackError, RecordError
from lifecycle.domain.models import Action, ActionKind
from lifecycle.domain.ports import Directory, HrWriteBack, MailBackend, MailCompanion
from lifecycle.engine.kinds import MAIL_KINDS
from lifecycle.engine.vault import CredentialVault

log = structlog.get_logger(__name__)
# Suspensions of a person still employed (an admin's, one found made by hand): the lock ends their sessions.
KEPT_OPEN = frozenset({"intervention", "manual"})


class ActionPerformer:
    """Turns actions into calls of the ports (lifecycle.domain.ports); their errors pass through."""

    def __init__(
        self,
        directory: Directory,
        vault: CredentialVault,
        mail: MailBackend | None = None,
        companion: MailCompanion | None = None,
        hr: HrWriteBack | None = None,
    ) -> None:
        self.directory = directory
        self.vault = vault
        self.mail = mail  # when [mail] is configured
        self.companion = companion  # the Dovecot companion: kick, archive, auto-reply
        self.hr = hr  # an HR source that takes the assigned account and address back

    def perform(self, action: Action, passwords: Mapping[str, str], failed_dns: Collection[str]) -> None:
        """Carry out `action`.  `passwords`: the sealed initial passwords of new accounts (issued when missing);
        `failed_dns`: entries whose action failed in this run (left out of new groups)."""
        d = self.directory
        match action.kind, action.params:
            case ActionKind.CREATE_ACCOUNT, NewAccountParams() as p:
                attributes = p.attributes
                password = passwords.get(action.employee_id) or self.vault.issue(
                    action.employee_id, attributes.uid, attributes.mail, action.company
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
                if p.state.get("suspension_rule") in KEPT_OPEN:
                    self.end_sessions(action, p.dn)
            case ActionKind.RESTORE_ACCOUNT, AccountParams() as p:
                d.unlock(p.dn)
            case ActionKind.DELETE_ACCOUNT, AccountParams() as p:
                d.delete_person(p.dn)
            case ActionKind.CREATE_GROUP, NewGroupParams() as p:
                self.create_group(p, failed_dns)
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
                self.perform_mail(action)
            case ActionKind.RESET_PASSWORD, PasswordResetParams() as p:
                self.reset_password(action, p, passwords)
            case ActionKind.WRITE_BACK_HR, HrWriteBackParams() as p:
                if self.hr is None:
                    raise HrWriteBackError("the HR source of this run does not take write-backs ([hr] kind and its "
                                           "writeback settings)")
                self.hr.write_back(action.employee_id, p.account, p.email)
                log.info("hr_written_back", employee_id=action.employee_id, account=p.account, email=p.email)
            case _:
                raise RecordError(f"unknown action kind {action.kind} (parameters {type(action.params).__name__})")

    def reset_password(self, action: Action, p: PasswordResetParams, passwords: Mapping[str, str]) -> None:
        """A fresh initial password (sealed for the batch), to be changed at the next login (the directory sets
        pwdReset with it); open IMAP sessions, logged in with the old one, are ended."""
        # Never an older sealed password: a reset gives the one sealed for it (issue_for), or a new one.
        password = passwords.get(action.employee_id) or self.vault.issue(action.employee_id, p.uid, p.mail, action.company)
        self.directory.set_password(p.dn, password)
        log.info("password_reset", employee_id=action.employee_id, uid=p.uid)
        if self.companion is not None and p.mail:
            try:
                self.companion.kick(p.mail)
            except ConnectorError as exc:  # the password is set: sessions still open end with their clients
                log.warning("imap_sessions_not_ended", employee_id=action.employee_id, address=p.mail, error=str(exc))

    def end_sessions(self, action: Action, dn: str) -> None:
        """End the open IMAP sessions of an account just locked while employed: its mailbox may stay active (a
        backend whose suspended mailbox bounces keeps it so: policies.mailbox), and the lock refuses new logins."""
        if self.companion is None:
            return
        entry = self.directory.read_person(dn)
        if entry is None or not entry.mail:
            return
        try:
            self.companion.kick(entry.mail)
        except ConnectorError as exc:  # the account is locked: sessions still open end with their clients
            log.warning("imap_sessions_not_ended", employee_id=action.employee_id, address=entry.mail, error=str(exc))

    def create_group(self, p: NewGroupParams, failed_dns: Collection[str]) -> None:
        """The group with all its initial members (the planner's `members`) in one add.

        Members whose own account action failed in this run are left out (the
        next plan adds them once they exist).  A group that exists already (an
        interrupted run) gets the members it lacks.
        """
        d, dn, first = self.directory, p.dn, p.first_member
        members = [first] + [m for m in p.members or () if dn_key(m) != dn_key(first) and m not in failed_dns]
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

    def change_members(self, actions: Sequence[Action]) -> None:
        """Several additions to (or removals from) one group, in one write of the group entry."""
        changes = [a.params for a in actions if isinstance(a.params, MemberParams)]
        group, members = changes[0].group_dn, [p.member_dn for p in changes]
        if actions[0].kind == ActionKind.ADD_MEMBER:
            self.directory.add_members(group, members)
        else:
            self.directory.remove_members(group, members)

    def perform_mail(self, action: Action) -> None:
        m = self.mail
        if m is None:
            raise RecordError(f"{action.kind.value}: no mail backend is configured", connector="mail")
        match action.kind, action.params:
            case ActionKind.CREATE_MAILBOX, NewMailboxParams() as p:
                address = p.address
                # No password: the directory is the only password store (the mail server authenticates against it).
                try:
                    m.create_mailbox(address, p.display_name, p.quota_mb)
                except AlreadyExistsError:
                    pass  # ours, from an interrupted run: the plan would not ask otherwise
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
                    m.create_alias(p.address, list(p.recipients), expires=expires, mail_list=p.mail_list)
                except AlreadyExistsError:
                    pass  # made by an interrupted run: the plan would not ask otherwise
            case ActionKind.UPDATE_ALIAS, AliasParams() as p:
                # Only while it is still the list the plan saw (`changes`: its recipients then): an edit by hand wins.
                before = action.changes.get("recipients", [None])[0]
                m.update_alias(p.address, list(p.recipients), list(before) if isinstance(before, list) else None)
            case ActionKind.DELETE_ALIAS, AliasParams() as p:
                # Only while it is still the alias the plan saw: one changed since is someone else's now.
                m.delete_alias(p.address, list(p.recipients))
            case _:
                raise RecordError(f"unknown mail action {action.kind} (parameters {type(action.params).__name__})")
