"""The mailbox side of a person, derived from where their lifecycle stands, not from the path there.

`wanted_mail` says what the person's state after the plan calls for; `plan_mailbox` plans what the
mail snapshot lacks of it.  So every path to a state (a rehire after a deletion, a departure after
an inactivity suspension, a transfer on the way) ends in the same mail, and a person whose mail is
what their state derives gets no action:

- active (employed, account enabled): a mailbox at the account's address, active, with none of the
  daemon's forwards (a leaver's forward to the manager, or the departed address's alias, which a
  mailbox made at that address takes over as its forward); display name and quota (by title)
  follow HR; a branch transfer renames the mailbox into the new domain and keeps the old address
  as an alias for a while;
- suspended as a leaver: the mailbox kept without login; mail to the address forwarded to the
  manager (optionally with an auto-reply) or bounced (`leaver_mail = "reject"`);
- suspended for inactivity, by an admin (`lifecycle suspend`) or found locked by hand: the mailbox kept
  without login, its mail kept, nothing forwarded;
- deleted: no mailbox (archived and verified first); a departed person's address stays an alias
  to the (current) manager, or none with `leaver_mail = "reject"`;
- deleted and employed again (deleted for inactivity, waiting for `lifecycle reinstate`): no alias
  at the address, which the person's own mail is sent to;
- not started, absent without a departure, no account: the mail side is left as it is.

An admin's forward (`lifecycle forward`, policies.forwards) overrides all of this while it is in force:
the active or suspended mailbox forwards to its target (keeping a copy if asked), a departed address is an
alias to it.  When it ends what it set is undone: an active mailbox's forward is cleared, a leaver's goes back
to the manager, a departed address's alias back to the manager (or away).

A forward someone set up on purpose is theirs: on an active mailbox only the daemon's kind (to the
manager alone, as a leaver's goes) is removed.  Likewise only an alias the daemon made, with the
recipients it made it with (`Alias.managed`), is re-pointed or removed; anyone else's is left as it
is.  What the backend cannot do is reported for an admin, never faked.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from lifecycle.domain.action_params import (
    ActionParams,
    AddressParams,
    AliasParams,
    AutoReplyParams,
    ForwardParams,
    MailboxRenameParams,
    MailboxUpdateParams,
    NewMailboxParams,
)
from lifecycle.domain.mail import Alias, Mailbox, MailCapability, MailSnapshot
from lifecycle.domain.models import Action, ActionKind, HrRecord, PersonState, PersonStatus, Review, ReviewKind, SuspensionRule
from lifecycle.domain.settings import MailSettings
from policies.attributes import display_name
from policies.context import PolicyContext
from policies.employment import Standing, employment
from policies.forwards import FORWARD, NO_FORWARD, PersonForward, copy_problem, forward_of, required_by, target_problem
from policies.intent import Intent
from policies.join import PersonView

LEAVER = SuspensionRule.LEAVER.value
# Suspensions that keep the mail in the mailbox and forward nothing (unless an admin's forward says so).
KEEPING = frozenset({SuspensionRule.INACTIVITY, SuspensionRule.INTERVENTION, SuspensionRule.MANUAL})


class MailEnd(str, enum.Enum):
    """Where a person's mail side ends up after the plan."""

    UNTOUCHED = "untouched"  # not started, absent, no account: left as it is
    ACTIVE = "active"
    SUSPENDED = "suspended"
    GONE = "gone"  # no mailbox; the address may stay an alias


@dataclass(frozen=True, slots=True)
class WantedMail:
    """The mail side a lifecycle state derives (the address is the account's, given beside it)."""

    end: MailEnd
    leaver: bool = False  # SUSPENDED, GONE: the suspension (or the deletion) is a leaver's
    forward_to: str = ""  # SUSPENDED: mail to the address goes to this address ("" = nowhere)
    keep_copy: bool = False  # the forward also keeps the mail in the mailbox, where the auto-reply answers
    auto_reply: bool = False
    alias_to: str = ""  # GONE: the address stays an alias to this address
    # GONE: the address must not forward (reject, or employed again).  Neither this nor alias_to (no manager
    # known): an alias there is left as it is.
    no_alias: bool = False
    rule: str = ""  # SUSPENDED: the suspension's rule


UNTOUCHED = WantedMail(MailEnd.UNTOUCHED)
ACTIVE = WantedMail(MailEnd.ACTIVE)
SUSPENDED_FOR_INACTIVITY = WantedMail(MailEnd.SUSPENDED)


def quota_for(record: HrRecord | None, settings: MailSettings) -> int | None:
    """The quota HR's title asks for, or None when the title has no rule."""
    if record is None:
        return None
    return settings.quota_by_title.get(record.title)


def suspension_after(intent: Intent, state: PersonState | None) -> str | None:
    """The rule of the suspension that stands after the plan; None when the account is not suspended."""
    if intent.suspend is not None:
        rule = intent.suspend.extra.get("rule")
        return rule if isinstance(rule, str) and rule else LEAVER
    if intent.enabled or intent.restore is not None or state is None or state.status != PersonStatus.SUSPENDED:
        return None
    recorded = intent.record.extra.get("suspension_rule") if intent.record is not None else None
    if isinstance(recorded, str) and recorded:
        return recorded  # a departure taking over an inactivity suspension
    # A suspension without a rule is a leaver's, as retention reads it.
    return state.suspension_rule.value if state.suspension_rule else LEAVER


def taking_over(intent: Intent) -> bool:
    """This plan makes an earlier suspension a leaver's."""
    return intent.record is not None and intent.record.extra.get("suspension_rule") == LEAVER


def wanted_mail(
    view: PersonView, intent: Intent, manager_mail: str, capabilities: frozenset[MailCapability], settings: MailSettings,
    ctx: PolicyContext,
) -> WantedMail:
    """The mail side the person's lifecycle state after the plan derives."""
    state = view.state
    forwarding = bool(manager_mail) and settings.leaver_mail != "reject"
    rejecting = settings.leaver_mail == "reject"
    if intent.exists_after:
        if intent.enabled:
            return ACTIVE
        rule = suspension_after(intent, state)
        if rule is None:
            return UNTOUCHED
        if rule != LEAVER:
            return replace(SUSPENDED_FOR_INACTIVITY, rule=rule)
        explicit = forward_of(view.employee_id, view.company, ctx, state, intent).in_force
        replying = settings.leaver_mail == "forward_autoreply" and MailCapability.AUTO_REPLY in capabilities
        if explicit is not None:  # an admin's forward instead of the manager; the auto-reply answers from a kept copy
            return WantedMail(MailEnd.SUSPENDED, leaver=True, forward_to=explicit.to, keep_copy=explicit.keep_copy,
                              auto_reply=replying and explicit.keep_copy, rule=LEAVER)
        if not forwarding:
            return WantedMail(MailEnd.SUSPENDED, leaver=True, rule=LEAVER)
        return WantedMail(MailEnd.SUSPENDED, leaver=True, forward_to=manager_mail, keep_copy=replying, auto_reply=replying,
                          rule=LEAVER)
    if intent.delete is not None:
        leaver = state is not None and state.suspension_rule not in KEEPING
        return WantedMail(MailEnd.GONE, leaver=leaver, alias_to=manager_mail if leaver and forwarding else "")
    if not _deleted(intent, state):
        return UNTOUCHED
    if intent.departed:
        return WantedMail(MailEnd.GONE, leaver=True, alias_to=manager_mail if forwarding else "", no_alias=rejecting)
    if employment(view.hr, ctx).standing == Standing.EMPLOYED:
        return WantedMail(MailEnd.GONE, no_alias=True)  # mail to the address is the person's again, not a manager's
    return UNTOUCHED


def _deleted(intent: Intent, state: PersonState | None) -> bool:
    if state is None or not state.uid:
        return False
    if state.status == PersonStatus.DELETED:
        return True
    record = intent.record  # the entry vanished: recorded as deleted by this plan
    return record is not None and record.extra.get("status") == PersonStatus.DELETED.value


def departed_address(view: PersonView, ctx: PolicyContext) -> str:
    """The address a deleted account had: its reserved name in its company's domain."""
    state = view.state
    if state is None or not state.uid:
        return ""
    company = ctx.company(state.company) or ctx.company(view.company)
    return f"{state.uid}@{company.domain}".lower() if company is not None else ""


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
    """What the mail snapshot lacks of the mail side the person's state derives (`address`: the account's after the plan)."""
    wanted = wanted_mail(view, intent, manager_mail, capabilities, settings, ctx)
    end = wanted.end
    if end is MailEnd.UNTOUCHED:
        return []
    plan = _MailPlan(view, mail, capabilities, settings, reviews)
    plan.forward = forward_of(view.employee_id, view.company, ctx, view.state, intent)
    if plan.forward.in_force is not None:
        plan.target_review(address or departed_address(view, ctx), frozenset(c.domain.lower() for c in ctx.settings.companies))
    if end is MailEnd.GONE and intent.delete is None:
        plan.departed_alias(departed_address(view, ctx), wanted)
        return plan.actions
    entry = view.entry
    address = address.lower()
    old_address = entry.mail.lower() if entry is not None and entry.mail and entry.mail.lower() != address else ""
    if end is MailEnd.GONE:
        plan.deletion(intent, wanted, address, old_address)
    elif address:
        box = plan.mailbox_at(address, old_address, ctx)
        if end is MailEnd.ACTIVE:
            departed = departed_address(view, ctx)
            if view.state is not None and view.state.status == PersonStatus.DELETED and departed not in ("", address):
                plan.stale_departed_alias(departed, address)  # rehired into another company
            plan.active(intent, address, box, manager_mail)
        elif box is not None:
            plan.suspended(intent, wanted, address, box, manager_mail)
    return plan.actions


def _inherited(alias: Alias | None, address: str, old_address: str = "") -> tuple[str, ...]:
    """The recipients of the alias at `address` once a mailbox comes there (from `old_address`): its own alias then.

    A recipient at the mailbox's old address follows it to the new one (the backend links recipients to mailboxes).
    """
    if alias is None or not alias.is_active:
        return ()
    return tuple(sorted({address if r == old_address else r for r in alias.recipients}))


class _MailPlan:
    """The mail actions of one person, in the order the state is compared."""

    __slots__ = ("actions", "capabilities", "forward", "inherited", "mail", "renamed", "reviews", "settings", "view")

    def __init__(
        self, view: PersonView, mail: MailSnapshot, capabilities: frozenset[MailCapability], settings: MailSettings,
        reviews: list[Review],
    ) -> None:
        self.view, self.mail, self.capabilities, self.settings, self.reviews = view, mail, capabilities, settings, reviews
        self.actions: list[Action] = []
        self.forward: PersonForward = NO_FORWARD  # the person's explicit forward today (policies.forwards)
        self.renamed = False  # the mailbox is renamed to the address by this plan
        # Renamed onto an (enabled) alias: its recipients, which the mailbox gets as its own alias.
        self.inherited: tuple[str, ...] = ()

    def act(self, kind: ActionKind, target: str, rule: str, reason: str, changes: dict[str, list[Any]], params: ActionParams) -> None:
        view = self.view
        self.actions.append(Action(kind, view.employee_id, view.company, target, rule, reason, changes, params=params))

    def review(self, kind: ReviewKind, target: str, finding: str, fix: str) -> None:
        self.reviews.append(Review(kind, self.view.employee_id, self.view.company, target, finding, fix))

    # -- where the mailbox is --------------------------------------------------------------

    def mailbox_at(self, address: str, old_address: str, ctx: PolicyContext) -> Mailbox | None:
        """The mailbox at `address`, as it is once renamed there from the entry's old address if it is still there."""
        mail = self.mail
        box = mail.mailbox(address)
        if box is not None or not old_address:
            return box
        old_box = mail.mailbox(old_address)
        if old_box is None:
            return None
        self.rename(old_box.address, address, ctx)
        self.renamed = True
        self.inherited = inherited = _inherited(mail.alias(address), address, old_box.address)
        # The mailbox's own forward goes with it, beside what it inherits (MailBackend.rename_mailbox).
        forward = tuple(sorted({r for r in inherited if r != address} | set(old_box.forward_to)))
        copy = bool(forward) and (address in inherited or (bool(old_box.forward_to) and old_box.forward_keeps_copy))
        return replace(old_box, address=address, forward_to=forward, forward_keeps_copy=copy)

    def rename(self, old_address: str, address: str, ctx: PolicyContext) -> None:
        settings = self.settings
        self.act(ActionKind.RENAME_MAILBOX, old_address, "mover", f"branch transfer: the mailbox moves to {address}",
                 {"address": [old_address, address]}, MailboxRenameParams(old_address, address))
        if settings.alias_keep_days and MailCapability.ALIASES in self.capabilities:
            keep_until = ctx.now + timedelta(days=settings.alias_keep_days)
            self.act(ActionKind.CREATE_ALIAS, old_address, "mover",
                     f"the old address keeps working for {settings.alias_keep_days} days (until {keep_until.date()})",
                     {"recipients": [None, [address]]}, AliasParams(old_address, (address,), keep_until.isoformat()))

    # -- each end ----------------------------------------------------------------------------

    def active(self, intent: Intent, address: str, box: Mailbox | None, manager_mail: str) -> None:
        record = self.view.hr
        if box is None:
            if record is not None:
                self.create(intent, address, record, manager_mail)
            return
        if not box.is_active:
            self.act(ActionKind.RESTORE_MAILBOX, address, "rehire" if intent.restore else "repair",
                     "login and delivery restored, with the aliases that point at the address", {"active": [False, True]},
                     AddressParams(address))
        elif self.renamed:
            # A snapshot cannot show it: delivery to a mailbox once suspended rests on its own alias, which a
            # rename leaves at the old address (MailBackend.rename_mailbox).
            self.act(ActionKind.RESTORE_MAILBOX, address, "mover", "delivery to the mailbox is set up at its new address",
                     {}, AddressParams(address))
        forward = box.forward_to
        explicit = self.forward.in_force
        if explicit is not None:
            self.explicit_forward(address, box, delivering=True)
        elif forward and self.forward.ended_to(forward):
            self.clear_forward(address, forward, self.forward.undo_rule, self.ended_words("the mailbox no longer forwards"))
        elif forward:
            rehired = intent.restore is not None or (intent.create is not None and intent.create.rule == "rehire")
            if rehired:
                self.clear_forward(address, forward, "rehire", "the leaver's forward to the manager is removed")
            elif self.inherited:
                self.clear_forward(address, forward, "mover", f"the address forwarded to {', '.join(forward)} before "
                                   "the mailbox came to it; the mailbox takes the address over without that forward")
            elif manager_mail and forward == (manager_mail,):
                self.clear_forward(address, forward, "repair", f"the mailbox forwards to the manager {manager_mail} "
                                   "as a leaver's does, but the employee is active: the forward is removed")
        if record is not None:
            self.update(address, box, record)

    def create(self, intent: Intent, address: str, record: HrRecord, manager_mail: str) -> None:
        settings = self.settings
        quota = quota_for(record, settings)
        quota = settings.default_quota_mb if quota is None else quota
        notify = f"; the address goes to the employee and their manager {manager_mail}" if manager_mail else ""
        half = " (the account exists already: the person is completed)" if intent.create is None else ""
        rule = intent.create.rule if intent.create else "joiner"
        self.act(ActionKind.CREATE_MAILBOX, address, rule, f"mailbox for {record.name}{half}{notify}",
                 {"mailbox": [None, address], "quota_mb": [None, quota]},
                 NewMailboxParams(address, display_name(record), quota, manager_mail))
        # An alias left at the address (the departed address's forward to the manager) would become the
        # new mailbox's forward: everything sent to the employee would go on to its recipients.
        forward = tuple(r for r in _inherited(self.mail.alias(address), address) if r != address)
        if forward:
            self.clear_forward(address, forward, rule, f"the address forwarded to {', '.join(forward)} while it had no "
                               "mailbox; the new mailbox takes the address back without that forward")

    def explicit_forward(self, address: str, box: Mailbox, *, delivering: bool, check_only: bool = False) -> bool:
        """The admin's forward in force on the mailbox: set unless in place; False when the backend cannot set it
        (a FORWARD_PROBLEM review says why, and nothing is changed).  `check_only`: the caller sets it."""
        explicit = self.forward.in_force
        assert explicit is not None
        wanted = (explicit.to,)
        if box.forward_to == wanted and box.forward_keeps_copy == explicit.keep_copy:
            return True
        problem = copy_problem(explicit, delivering, self.capabilities)
        if explicit.to == address:
            problem = "the forward's target is the person's own address"
        if problem:
            how = "keeping" if explicit.keep_copy else "without keeping"
            self.review(ReviewKind.FORWARD_PROBLEM, address, f"{explicit.actor}'s forward of {address} to {explicit.to} "
                        f"({how} a copy) is not set up: {problem}",
                        "change the forward (`lifecycle forward EMPLOYEE --to ADDRESS [--keep-copy] --reason ...`) to what "
                        "the backend can do, or remove it (`lifecycle forward EMPLOYEE --remove --reason ...`)")
            return False
        if check_only:
            return True
        own = f"; it replaces the forward to {', '.join(box.forward_to)} set in the mail server (not restored when it " \
              "ends)" if box.forward_to and not self.forward.ended_to(box.forward_to) else ""
        self.act(ActionKind.FORWARD_MAIL, address, FORWARD, f"mail to {address} goes to {explicit.to}, "
                 f"{required_by(explicit)}{self.copy_words(explicit.keep_copy)}{own}",
                 {"forward_to": [list(box.forward_to) or None, list(wanted)]}, ForwardParams(address, wanted, explicit.keep_copy))
        return True

    @staticmethod
    def copy_words(keep_copy: bool) -> str:
        return "; a copy stays in the mailbox" if keep_copy else "; no copy is kept in the mailbox"

    def ended_words(self, what: str) -> str:
        ended, successor = self.forward.ended, self.forward.replaced_by
        assert ended is not None
        if successor is not None:
            return f"the forward to {ended.to} is replaced by the one to {successor.to} from {successor.starts_on} " \
                   f"({required_by(successor)}): until then {what}"
        return f"the forward to {ended.to} ({required_by(ended)}) has ended: {what}"

    def target_review(self, address: str, domains: frozenset[str]) -> None:
        """The forward in force sends the mail to an address of ours that nobody reads any more (the target left)."""
        explicit = self.forward.in_force
        assert explicit is not None
        problem = target_problem(explicit, self.mail, domains)
        if problem:
            self.review(ReviewKind.FORWARD_PROBLEM, address or explicit.to, f"{explicit.actor}'s forward of "
                        f"{address or self.view.employee_id} to {explicit.to} stays as set, but {problem}",
                        "point the forward at someone who reads the mail (`lifecycle forward EMPLOYEE --to ADDRESS "
                        "--reason ...`), or remove it (`lifecycle forward EMPLOYEE --remove --reason ...`)")

    def clear_forward(self, address: str, forward: tuple[str, ...], rule: str, reason: str) -> None:
        self.act(ActionKind.CLEAR_FORWARD, address, rule, reason, {"forward_to": [list(forward), None]}, AddressParams(address))

    def update(self, address: str, box: Mailbox, record: HrRecord) -> None:
        changes: dict[str, list[Any]] = {}
        wanted_name = display_name(record)
        new_name = None
        if MailCapability.DISPLAY_NAME in self.capabilities and box.display_name != wanted_name:
            changes["display_name"] = [box.display_name, wanted_name]
            new_name = wanted_name
        quota = quota_for(record, self.settings)
        new_quota = None
        if quota is not None and MailCapability.QUOTA in self.capabilities and box.quota_mb != quota:
            changes["quota_mb"] = [box.quota_mb, quota]
            new_quota = quota
        if changes:
            what = ", ".join(sorted(changes))
            self.act(ActionKind.UPDATE_MAILBOX, address, "mover", f"HR record differs from the mailbox in {what}", changes,
                     MailboxUpdateParams(address, new_name, new_quota))

    def suspended(self, intent: Intent, wanted: WantedMail, address: str, box: Mailbox, manager: str) -> None:
        settings, capabilities = self.settings, self.capabilities
        manager_mail = wanted.forward_to
        rule = LEAVER if wanted.leaver else (wanted.rule or SuspensionRule.INACTIVITY.value)
        explicit = self.forward.in_force
        # Locked by an admin or by hand while employed: the directory lock refuses the login already (the mail
        # server authenticates against it), so a backend whose suspended mailbox bounces keeps it active.
        delivering = MailCapability.SUSPEND_KEEPS_DELIVERY in capabilities
        kept_open = rule in (SuspensionRule.INTERVENTION.value, SuspensionRule.MANUAL.value) and not delivering
        if box.is_active and not kept_open:
            if explicit is not None:
                how = f"mail goes to {explicit.to} as {explicit.actor} required"
            elif not wanted.leaver:
                how = "the mail is kept; login comes back when an admin lifts it"
            elif manager_mail:
                how = {"forward": f"mail is forwarded to the manager {manager_mail}",
                       "forward_autoreply": f"mail is forwarded to the manager {manager_mail}, senders get an auto-reply"}[
                    settings.leaver_mail]
            elif settings.leaver_mail == "reject":
                how = "no forward (leaver_mail = reject): nobody reads mail sent to the address"
            else:
                how = "the leaver has no manager with a mailbox: mail to the address bounces"
            self.act(ActionKind.SUSPEND_MAILBOX, address, rule, f"login disabled; {how}", {"active": [True, False]},
                     AddressParams(address))
        if kept_open and not box.is_active:
            self.act(ActionKind.RESTORE_MAILBOX, address, rule, "the directory lock refuses the login already: the "
                     "mailbox receives mail again (a suspended one bounces it on this backend)", {"active": [False, True]},
                     AddressParams(address))
        if not wanted.leaver:
            if explicit is not None:
                self.explicit_forward(address, box, delivering=delivering or (kept_open and box.is_active))
                return
            if box.forward_to and self.forward.ended_to(box.forward_to):
                self.clear_forward(address, box.forward_to, self.forward.undo_rule,
                                   self.ended_words("the mailbox no longer forwards"))
                return
            if self.inherited:
                # Even an alias to the mailbox itself: it would deliver to the suspended mailbox.
                self.clear_forward(address, self.inherited, "mover", f"the mailbox moved to an address that had an alias "
                                   f"(to {', '.join(self.inherited)}); a suspended mailbox gets no mail through it")
            elif manager and box.forward_to == (manager,):  # a leaver's, whose departure HR withdrew
                self.clear_forward(address, box.forward_to, "repair", f"the mailbox forwards to the manager {manager} "
                                   "as a leaver's does, but the employee is not a leaver: the forward is removed")
            return
        if explicit is not None and not self.explicit_forward(address, box, delivering=delivering, check_only=True):
            return
        if not manager_mail:
            if box.forward_to and self.forward.ended_to(box.forward_to):
                self.clear_forward(address, box.forward_to, self.forward.undo_rule, self.ended_words(
                    "the departed person's mailbox no longer forwards (no manager with a mailbox, or leaver_mail = reject)"))
                return
            if settings.leaver_mail != "reject" and (intent.suspend is not None or taking_over(intent)):
                self.review(ReviewKind.UNKNOWN_MANAGER, address, "the leaver has no manager with a mailbox: mail to the "
                            "address will bounce", "set the manager in HR, or forward the address by hand")
            return
        # With an auto-reply the mailbox keeps a copy: its sieve script is what answers the senders.
        in_place = box.forward_to == (manager_mail,) and (box.forward_keeps_copy or not wanted.keep_copy)
        if explicit is not None:  # as the admin asked: a copy kept, or none
            in_place = box.forward_to == (manager_mail,) and box.forward_keeps_copy == wanted.keep_copy
        handling = box.is_active or not in_place  # the leaver's mail handling is (still) being set up
        if wanted.auto_reply and handling:
            # Before the forward: until the forward is in place, the next plan sets the auto-reply again.
            name = self.view.hr.name if self.view.hr else self.view.employee_id
            self.act(ActionKind.AUTO_REPLY, address, LEAVER, "senders are told the person has left", {},
                     AutoReplyParams(address, f"{name} has left", f"{name} has left the company. Please write to {manager_mail}."))
        elif settings.leaver_mail == "forward_autoreply" and handling and MailCapability.AUTO_REPLY not in capabilities:
            self.review(ReviewKind.MAILBOX_KEPT, address, "no auto-reply: the mail backend cannot set one for another user",
                        "configure [mail.dovecot] (sieve), or use leaver_mail = \"forward\"")
        if not in_place:
            if explicit is not None:
                rule, why = FORWARD, f"mail to the departed address goes to {manager_mail} instead of the manager, " \
                                     f"{required_by(explicit)}{self.copy_words(explicit.keep_copy)}"
            elif self.forward.ended_to(box.forward_to):
                rule, why = self.forward.undo_rule, self.ended_words(f"mail to the departed address goes to the manager {manager_mail} again")
            else:
                rule, why = LEAVER, f"mail to the departed address goes to the manager {manager_mail}"
            self.act(ActionKind.FORWARD_MAIL, address, rule, why,
                     {"forward_to": [list(box.forward_to) or None, [manager_mail]]},
                     ForwardParams(address, (manager_mail,), wanted.keep_copy))

    def deletion(self, intent: Intent, wanted: WantedMail, address: str, old_address: str) -> None:
        assert intent.delete is not None
        mail, settings = self.mail, self.settings
        target = (mail.mailbox(address) if address else None) or (mail.mailbox(old_address) if old_address else None)
        gone = address
        if target is not None:
            gone = target.address
            if settings.archive_before_delete and MailCapability.EXPORT not in self.capabilities:
                self.review(ReviewKind.MAILBOX_KEPT, gone, f"the account is deleted, but mailbox {gone} is kept: it "
                            "must be archived first and the mail backend cannot export mailboxes",
                            "configure [mail.dovecot] for archives, or set [mail] archive_before_delete = false")
                return
            why = f"{intent.delete.reason}; the mail goes with the account"
            if settings.archive_before_delete:
                self.act(ActionKind.ARCHIVE_MAILBOX, gone, intent.delete.rule, f"{why}: archived and verified first",
                         {}, AddressParams(gone))
            self.act(ActionKind.DELETE_MAILBOX, gone, intent.delete.rule, why, {"mailbox": [gone, None]}, AddressParams(gone))
        explicit = self.forward.in_force
        alias_to = explicit.to if explicit is not None and wanted.leaver else wanted.alias_to
        if alias_to and gone and MailCapability.ALIASES in self.capabilities and mail.alias(gone) is None:
            if explicit is not None and wanted.leaver:
                rule, why = FORWARD, f"the departed address stays a forward to {alias_to}, {required_by(explicit)}"
            else:
                rule, why = LEAVER, f"the departed address stays a forward to the manager {alias_to} (the address remains reserved)"
            self.act(ActionKind.CREATE_ALIAS, gone, rule, why, {"recipients": [None, [alias_to]]}, AliasParams(gone, (alias_to,)))

    def departed_alias(self, address: str, wanted: WantedMail) -> None:
        """A deleted person's address: an alias to the manager, made again whenever it is missing and re-pointed
        when the manager changes, or none (the daemon's own removed)."""
        mail = self.mail
        if not address or mail.mailbox(address) is not None:
            return  # a mailbox left behind is not ours to replace
        explicit = self.forward.in_force if wanted.leaver else None
        if MailCapability.ALIASES not in self.capabilities:
            if explicit is not None:
                self.review(ReviewKind.FORWARD_PROBLEM, address, f"{explicit.actor}'s forward of the departed address "
                            f"{address} to {explicit.to} is not set up: the mail backend keeps no aliases",
                            "forward the address by hand in the mail server, or remove the forward")
            return
        alias = mail.alias(address)
        if explicit is not None:
            self.explicit_alias(address, alias, explicit.to, required_by(explicit), explicit.actor)
            return
        if alias is not None:
            if not alias.managed or alias.recipients == ((wanted.alias_to,) if wanted.alias_to else ()):
                return  # an admin's or the user's alias is theirs; ours is as the state derives it
            if self.forward.ended_to(alias.recipients):
                back = f"it goes to the manager {wanted.alias_to} again" if wanted.alias_to else "the address no longer forwards"
                self.delete_alias(address, alias, self.forward.undo_rule, self.ended_words(back))
                if wanted.alias_to:
                    self.act(ActionKind.CREATE_ALIAS, address, self.forward.undo_rule, self.ended_words(
                             f"the departed address is a forward to the manager {wanted.alias_to} again"),
                             {"recipients": [None, [wanted.alias_to]]}, AliasParams(address, (wanted.alias_to,)))
                return
            if wanted.alias_to:
                why = f"the departed address forwards to {', '.join(alias.recipients)}, no longer the manager; it is " \
                      f"re-pointed to the manager {wanted.alias_to}"
            elif wanted.leaver and wanted.no_alias:
                why = f"leaver_mail = reject: the departed address no longer forwards to {', '.join(alias.recipients)}"
            elif wanted.no_alias:
                why = f"the employee is employed again: mail to their address no longer goes to " \
                      f"{', '.join(alias.recipients)} (it bounces until the account is reinstated)"
            else:
                return  # no manager known: the forward stays until one is
            self.delete_alias(address, alias, LEAVER if wanted.leaver else "rehire", why)
        if not wanted.alias_to:
            return
        how = "re-pointed" if alias is not None else "it had none"
        self.act(ActionKind.CREATE_ALIAS, address, LEAVER,
                 f"the departed address is kept as a forward to the manager {wanted.alias_to}; {how}",
                 {"recipients": [None, [wanted.alias_to]]}, AliasParams(address, (wanted.alias_to,)))

    def explicit_alias(self, address: str, alias: Alias | None, to: str, why: str, actor: str) -> None:
        """A departed address while an admin's forward is in force: an alias to its target, in place of the daemon's."""
        if alias is not None and alias.is_active and alias.recipients == (to,):
            return
        if alias is not None and not alias.managed:
            self.review(ReviewKind.FORWARD_PROBLEM, address, f"{actor}'s forward of the departed address {address} to {to} "
                        f"is not set up: the address has an alias the daemon did not make (to "
                        f"{', '.join(alias.recipients) or 'nobody'}), which it never changes",
                        "remove or re-point that alias in the mail server, or remove the forward")
            return
        if alias is not None:
            self.delete_alias(address, alias, FORWARD, f"the departed address no longer goes to {', '.join(alias.recipients)}: "
                              f"it goes to {to}, {why}")
        self.act(ActionKind.CREATE_ALIAS, address, FORWARD, f"the departed address is a forward to {to}, {why}",
                 {"recipients": [None, [to]]}, AliasParams(address, (to,)))

    def stale_departed_alias(self, departed: str, address: str) -> None:
        """A rehire at another address: the daemon's alias at the departed one forwards the person's mail elsewhere."""
        mail = self.mail
        alias = mail.alias(departed)
        if alias is None or not alias.managed or address in alias.recipients or mail.mailbox(departed) is not None:
            return  # an admin's or the user's, or a forward to the person's new address
        self.delete_alias(departed, alias, "rehire", f"rehired at {address}: the departed address {departed} no longer "
                          f"forwards to {', '.join(alias.recipients)}")

    def delete_alias(self, address: str, alias: Alias, rule: str, reason: str) -> None:
        self.act(ActionKind.DELETE_ALIAS, address, rule, reason, {"recipients": [list(alias.recipients), None]},
                 AliasParams(address, alias.recipients))
