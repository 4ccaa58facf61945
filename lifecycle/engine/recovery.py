"""Settling what a crash left `pending`: each such action is looked up where it acts.

A row is `pending` when its request may or may not have been carried out (a
crash after the write-ahead, a connection broken mid-request).  The directory
or the mail server tells which: done, it is journalled `applied` with the state
it records; not done, `interrupted`, and the next plan asks for it again.
"""

from __future__ import annotations

from datetime import datetime

import structlog

from lifecycle.domain.action_params import (
    AccountParams,
    AddressParams,
    AliasParams,
    AttributeUpdateParams,
    GroupDeletionParams,
    MailboxRenameParams,
    MemberParams,
    MoveParams,
    NewAccountParams,
    NewGroupParams,
    PasswordResetParams,
)
from lifecycle.domain.dn import dn_key
from lifecycle.domain.errors import RecordError
from lifecycle.domain.models import ActionKind, params_from_dict
from lifecycle.domain.ports import Directory, MailBackend
from lifecycle.engine.kinds import STATE_ONLY
from lifecycle.engine.vault import CredentialVault
from lifecycle.journal.action_log import ActionStatus, LogEntry
from lifecycle.journal.store import Journal
from policies.attributes import current_attributes

log = structlog.get_logger(__name__)


def recover(journal: Journal, directory: Directory, mail: MailBackend | None,
            vault: CredentialVault | None = None) -> list[LogEntry]:
    """Settle the actions left `pending`: `applied` where the directory (or mail server) shows them done.

    A password reset cannot be seen done: it is done again, with the password sealed for it (`vault`).
    """
    settled = []
    for entry in journal.pending_actions():
        if entry.kind == ActionKind.RESET_PASSWORD.value:
            done = redo_reset(entry, directory, vault)
        else:
            done = already_done(entry, directory, mail)
        status = ActionStatus.APPLIED if done else ActionStatus.INTERRUPTED
        journal.finish_action(
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


def already_done(entry: LogEntry, directory: Directory, mail: MailBackend | None) -> bool:
    """Whether the journalled action's effect is there already."""
    kind = ActionKind(entry.kind)
    if kind in STATE_ONLY:
        return False  # cheap to redo: the next plan decides again
    try:
        params = params_from_dict(kind, entry.params)
    except (ValueError, TypeError) as exc:  # a row of another shape: redone from the directory, as if interrupted
        log.warning("in_flight_action_unreadable", action_id=entry.id, kind=entry.kind, error=str(exc))
        return False
    if isinstance(params, NewAccountParams | AccountParams):  # create, suspend, restore, delete (adopt: state only)
        found = directory.read_person(params.dn)
        if kind == ActionKind.CREATE_ACCOUNT:
            return found is not None and found.employee_number == entry.employee_id
        if kind == ActionKind.DELETE_ACCOUNT:
            return found is None
        if found is None:
            return False
        return found.locked if kind == ActionKind.SUSPEND_ACCOUNT else not found.locked
    if isinstance(params, AddressParams):
        return mail is not None and mail_done(kind, params, mail)
    if isinstance(params, MoveParams):
        return directory.read_person(params.new_dn) is not None
    if isinstance(params, AttributeUpdateParams):
        found = directory.read_person(params.dn)
        if found is None:
            return False
        current = current_attributes(found)
        return all((current.get(k) or "") == (v or "") if k != "manager" else dn_key(current.get(k) or "") == dn_key(v or "")
                   for k, v in params.attributes.items())
    if isinstance(params, NewGroupParams | GroupDeletionParams | MemberParams):
        group = directory.read_group(params.group_dn if isinstance(params, MemberParams) else params.dn)
        if isinstance(params, GroupDeletionParams):
            return group is None
        if group is None:
            return False
        member = dn_key(params.member_dn if isinstance(params, MemberParams) else params.first_member)
        present = member in {dn_key(m) for m in group.members}
        return not present if kind == ActionKind.REMOVE_MEMBER else present
    return False


def redo_reset(entry: LogEntry, directory: Directory, vault: CredentialVault | None) -> bool:
    """Set the password sealed for an interrupted reset again: the person may have been given it already, so
    never another one.  False (re-planned) when none was sealed for it (the crash came first) or it is gone."""
    try:
        params = PasswordResetParams.from_dict(entry.params)
    except (ValueError, TypeError) as exc:
        log.warning("in_flight_action_unreadable", action_id=entry.id, kind=entry.kind, error=str(exc))
        return False
    # Sealed after the write-ahead row: an older file (the hire's initial password) is not this reset's.
    written = datetime.fromisoformat(entry.logged_at)
    password = vault.read_password(entry.employee_id, entry.company, sealed_since=written) if vault is not None else None
    if password is None:
        return False
    try:
        directory.set_password(params.dn, password)
    except RecordError as exc:  # the entry is gone or refuses: the next plan decides again
        log.warning("interrupted_reset_not_redone", action_id=entry.id, employee_id=entry.employee_id, error=str(exc))
        return False
    return True


def mail_done(kind: ActionKind, params: AddressParams, mail: MailBackend) -> bool:
    """Whether a mail action's effect is there; False where the mailbox cannot tell (the action is then re-planned
    from what the mail server shows)."""
    if kind == ActionKind.DELETE_ALIAS:
        return mail.find_alias(params.address) is None
    if kind in (ActionKind.CREATE_ALIAS, ActionKind.UPDATE_ALIAS):  # a list made or kept in step
        alias = mail.find_alias(params.address)
        return (isinstance(params, AliasParams) and alias is not None and alias.managed
                and alias.recipients == tuple(sorted(params.recipients)))
    box = mail.find_mailbox(params.address)
    if kind == ActionKind.CREATE_MAILBOX:
        return box is not None
    if kind == ActionKind.DELETE_MAILBOX:
        return box is None
    if kind == ActionKind.SUSPEND_MAILBOX:
        return box is not None and not box.is_active
    if kind == ActionKind.RESTORE_MAILBOX:
        return box is not None and box.is_active
    if kind == ActionKind.RENAME_MAILBOX:
        return isinstance(params, MailboxRenameParams) and box is None and mail.find_mailbox(params.new_address) is not None
    return False
