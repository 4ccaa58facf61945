"""The mailbox side of every lifecycle event, planned only as far as the backend can go.

- joiner: a mailbox at the account's address, right after the account;
- mover: display name and quota (by title) follow HR; a branch transfer renames the
  mailbox into the new domain and keeps the old address as an alias for a while;
- leaver: login suspended; mail to the address forwarded to the manager (optionally
  with an auto-reply) or bounced; after retention: archived, verified, deleted, and
  the address kept as a forward to the manager;
- rehire: the mailbox is restored and the leaver's forward removed.

What the backend cannot do is reported for an admin, never faked.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from lifecycle.mail import MailCapability, MailSnapshot
from lifecycle.models import Action, ActionKind, HrRecord, PersonStatus, Review, ReviewKind, SuspensionRule
from lifecycle.settings import MailSettings
from policies.attributes import display_name
from policies.context import PolicyContext
from policies.intent import Intent
from policies.join import PersonView


def quota_for(record: HrRecord | None, settings: MailSettings) -> int | None:
    """The quota HR's title asks for, or None when the title has no rule."""
    if record is None:
        return None
    return settings.quota_by_title.get(record.title)


def plan_mailbox(
    view: PersonView,
    intent: Intent,
    address: str,
    manager_mail: str,
    mail: MailSnapshot,
    capabilities: frozenset[MailCapability],
    settings: MailSettings,
    ctx: PolicyContext,
    reviews: list[Review],
) -> list[Action]:
    eid, company, record, entry, state = view.employee_id, view.company, view.hr, view.entry, view.state
    actions: list[Action] = []

    def act(kind: ActionKind, target: str, rule: str, reason: str, changes: dict | None = None, **params: Any) -> None:
        actions.append(Action(kind, eid, company, target, rule, reason, changes or {}, params))

    address = address.lower()
    box = mail.mailbox(address) if address else None
    old_address = entry.mail.lower() if entry is not None and entry.mail and entry.mail.lower() != address else ""
    old_box = mail.mailbox(old_address) if old_address else None

    if intent.delete is not None:
        target = box or old_box
        if target is None:
            return actions
        if settings.archive_before_delete and MailCapability.EXPORT not in capabilities:
            reviews.append(
                Review(ReviewKind.MAILBOX_KEPT, eid, company, target.address,
                       f"the account is deleted, but mailbox {target.address} is kept: it must be archived first and "
                       "the mail backend cannot export mailboxes",
                       "configure [mail.dovecot] for archives, or set [mail] archive_before_delete = false"))
            return actions
        why = f"{intent.delete.reason}; the mail goes with the account"
        if settings.archive_before_delete:
            act(ActionKind.ARCHIVE_MAILBOX, target.address, intent.delete.rule, f"{why}: archived and verified first",
                address=target.address)
        act(ActionKind.DELETE_MAILBOX, target.address, intent.delete.rule, why, {"mailbox": [target.address, None]},
            address=target.address)
        leaver = state is not None and state.suspension_rule == SuspensionRule.LEAVER
        if leaver and settings.leaver_mail != "reject" and manager_mail and MailCapability.ALIASES in capabilities:
            act(ActionKind.CREATE_ALIAS, target.address, "leaver",
                f"the departed address stays a forward to the manager {manager_mail} (the address remains reserved)",
                {"recipients": [None, [manager_mail]]}, address=target.address, recipients=[manager_mail])
        return actions

    if not intent.exists_after or not address:
        return actions
    suspending = intent.suspend is not None
    suspended_after = suspending or (state is not None and state.status == PersonStatus.SUSPENDED and intent.restore is None
                                     and not intent.enabled)
    rule = intent.suspend.extra.get("rule") if suspending else (state.suspension_rule.value if state and state.suspension_rule else "")

    if box is None:
        if old_box is not None and not suspended_after:
            keep_until = ctx.now + timedelta(days=settings.alias_keep_days)
            act(ActionKind.RENAME_MAILBOX, old_box.address, "mover",
                f"branch transfer: the mailbox moves to {address}", {"address": [old_box.address, address]},
                address=old_box.address, new_address=address)
            if settings.alias_keep_days and MailCapability.ALIASES in capabilities:
                act(ActionKind.CREATE_ALIAS, old_box.address, "mover",
                    f"the old address keeps working for {settings.alias_keep_days} days (until {keep_until.date()})",
                    {"recipients": [None, [address]]}, address=old_box.address, recipients=[address],
                    expires=keep_until.isoformat())
        elif not suspended_after and record is not None:
            quota = quota_for(record, settings)
            quota = settings.default_quota_mb if quota is None else quota
            notify = f"; the address goes to the employee and their manager {manager_mail}" if manager_mail else ""
            half = " (the account exists already: the person is completed)" if intent.create is None else ""
            act(ActionKind.CREATE_MAILBOX, address, intent.create.rule if intent.create else "joiner",
                f"mailbox for {record.name}{half}{notify}", {"mailbox": [None, address], "quota_mb": [None, quota]},
                address=address, display_name=display_name(record), quota_mb=quota, manager=manager_mail)
        return actions

    if suspended_after:
        if box.is_active:
            how = {"forward": f"mail is forwarded to the manager {manager_mail}",
                   "forward_autoreply": f"mail is forwarded to the manager {manager_mail}, senders get an auto-reply",
                   "reject": "no forward (leaver_mail = reject): nobody reads mail sent to the address"}[settings.leaver_mail] \
                if rule == SuspensionRule.LEAVER.value else "the mail is kept; login comes back when an admin lifts it"
            act(ActionKind.SUSPEND_MAILBOX, address, rule or "leaver", f"login disabled; {how}", {"active": [True, False]},
                address=address)
        if rule == SuspensionRule.LEAVER.value and settings.leaver_mail != "reject" and manager_mail:
            # With an auto-reply the mailbox keeps a copy: its sieve script is what answers the senders.
            keep_copy = settings.leaver_mail == "forward_autoreply" and MailCapability.AUTO_REPLY in capabilities
            if tuple(sorted(box.forward_to)) != (manager_mail,) or (keep_copy and not box.forward_keeps_copy):
                act(ActionKind.FORWARD_MAIL, address, "leaver", f"mail to the departed address goes to the manager {manager_mail}",
                    {"forward_to": [list(box.forward_to) or None, [manager_mail]]}, address=address, recipients=[manager_mail],
                    keep_copy=keep_copy)
            if settings.leaver_mail == "forward_autoreply" and box.is_active:
                if MailCapability.AUTO_REPLY in capabilities:
                    name = record.name if record else eid
                    act(ActionKind.AUTO_REPLY, address, "leaver", "senders are told the person has left",
                        address=address, subject=f"{name} has left",
                        text=f"{name} has left the company. Please write to {manager_mail}.")
                else:
                    reviews.append(Review(ReviewKind.MAILBOX_KEPT, eid, company, address,
                                          "no auto-reply: the mail backend cannot set one for another user",
                                          "configure [mail.dovecot] (sieve), or use leaver_mail = \"forward\""))
        elif rule == SuspensionRule.LEAVER.value and not manager_mail and settings.leaver_mail != "reject" and suspending:
            reviews.append(Review(ReviewKind.UNKNOWN_MANAGER, eid, company, address,
                                  "the leaver has no manager with a mailbox: mail to the address will bounce",
                                  "set the manager in HR, or forward the address by hand"))
        return actions

    if not box.is_active and intent.enabled:
        act(ActionKind.RESTORE_MAILBOX, address, "rehire" if intent.restore else "repair",
            "login and delivery restored, with the aliases that point at the address", {"active": [False, True]},
            address=address)
    if intent.restore is not None and box.forward_to:
        act(ActionKind.CLEAR_FORWARD, address, "rehire", "the leaver's forward to the manager is removed",
            {"forward_to": [list(box.forward_to), None]}, address=address)
    if record is not None:
        changes: dict[str, list[Any]] = {}
        wanted_name = display_name(record)
        if MailCapability.DISPLAY_NAME in capabilities and box.display_name != wanted_name:
            changes["display_name"] = [box.display_name, wanted_name]
        quota = quota_for(record, settings)
        if quota is not None and MailCapability.QUOTA in capabilities and box.quota_mb != quota:
            changes["quota_mb"] = [box.quota_mb, quota]
        if changes:
            act(ActionKind.UPDATE_MAILBOX, address, "mover", f"HR record differs from the mailbox in {', '.join(sorted(changes))}",
                changes, address=address, **{k: v[1] for k, v in changes.items()})
    return actions

