"""What admins decided outside HR, applied to one person's intent: a suspension until lifted.

An admin's suspension (`lifecycle suspend`, seed articles 14 and 16) locks the account at once,
whatever HR says, and keeps it locked until `lifecycle unsuspend`:

- no inactivity warning, no restore by a rehire, no deletion clock of its own (it records no
  `suspended_at`): retention starts only if HR makes the person a leaver, who then takes the
  suspension over, dated the departure;
- an unlock made by hand in the directory while it stands is locked again (lock_state reports it);
- once lifted, an account HR still employs is given back at once (RESTORE_ACCOUNT, rule
  "intervention", no new password unless one was asked for); a leaver's flow takes over otherwise.

A suspension recorded because a lock made by hand was found ("manual", lock_state) has no deletion
clock either, and is taken over by a departure the same way.
"""

from __future__ import annotations

from collections.abc import Iterable

from lifecycle.domain.action_params import GroupDeletionParams
from lifecycle.domain.interventions import AdminSuspension
from lifecycle.domain.models import Action, ActionKind, PersonStatus, SuspensionRule
from policies.context import PolicyContext
from policies.employment import Standing, employment
from policies.intent import AccountStep, Intent, Step
from policies.join import PersonView

RULE = SuspensionRule.INTERVENTION.value
_KEPT_BY_ADMINS = (SuspensionRule.INTERVENTION, SuspensionRule.MANUAL)
# What an admin's lock takes away with it, whatever HR says: the person leaves their groups, the mailbox its logins.
_FOLLOWING_THE_LOCK = frozenset({ActionKind.REMOVE_MEMBER, ActionKind.SUSPEND_MAILBOX, ActionKind.DELETE_GROUP})


def intervene(view: PersonView, intent: Intent, ctx: PolicyContext) -> None:
    """Apply the person's standing interventions (ctx.interventions) to the intent decided from HR."""
    suspension = ctx.interventions.suspensions.get(view.employee_id) if ctx.interventions else None
    state = view.state
    recorded = state.suspension_rule if state is not None and state.status == PersonStatus.SUSPENDED else None
    if suspension is None and recorded not in _KEPT_BY_ADMINS:
        return  # nearly everyone
    if intent.departed:
        _leaver_takes_over(view, intent, ctx)
    elif suspension is not None:
        _keep_suspended(view, intent, suspension)
    elif recorded is SuspensionRule.INTERVENTION:
        _lift(view, intent, ctx)
    if (suspension is not None or recorded in _KEPT_BY_ADMINS) and not intent.departed:
        # No retention clock of its own: only a departure starts one.  An admin's suspension stops a deletion
        # due under an earlier rule too (an inactivity suspension the admin takes over: kept for forensics).
        intent.delete = None
        if recorded is SuspensionRule.MANUAL and suspension is None and not intent.enabled:
            intent.memberships_frozen = True  # a lock made by hand: its groups are left as they are


def admins_own(actions: Iterable[Action]) -> list[Action]:
    """Of a company's actions, those an admin's intervention brings that do not rest on HR: its lock, its state
    record, a new password asked for, and what follows the lock for that person.  compute_plan lets them through
    when the company's HR feed is unusable (nothing else of the company is done): `lifecycle suspend` must lock a
    compromised account whatever state HR's export is in.  Giving access back (an unsuspend) rests on HR employing
    the person: it waits for a usable feed, and so does the new password that would follow it."""
    actions = list(actions)
    locked = {a.employee_id for a in actions if a.kind is ActionKind.SUSPEND_ACCOUNT and a.rule == RULE}
    restored = {a.employee_id for a in actions if a.kind is ActionKind.RESTORE_ACCOUNT}

    def own(action: Action) -> bool:
        if action.employee_id in restored:
            return False
        if action.rule == RULE:
            return True
        if action.kind not in _FOLLOWING_THE_LOCK:
            return False
        if isinstance(action.params, GroupDeletionParams):  # a group whose only members are locked now
            return bool(action.params.leaving) and set(action.params.leaving) <= locked
        return action.employee_id in locked

    return [a for a in actions if own(a)]


def suspension_words(suspension: AdminSuspension) -> str:
    return f"suspended by {suspension.actor} on {suspension.created_at.date()}: {suspension.reason}"


def _keep_suspended(view: PersonView, intent: Intent, suspension: AdminSuspension) -> None:
    """Locked now (or kept locked), whatever HR says; the rest of the plan treats it as any suspension."""
    entry, state = view.entry, view.state
    if entry is None and intent.create is None:
        return  # no account to lock
    why = suspension_words(suspension)
    intent.restore = None  # not given back by a rehire either
    intent.enabled = False
    intent.warn = None
    _drop_lifted_record(intent)
    if entry is not None and entry.locked:
        if state is not None and state.status == PersonStatus.SUSPENDED and state.suspension_rule == SuspensionRule.INTERVENTION:
            return  # as it should be
        # Locked already (by hand, for inactivity, as a leaver HR has taken back): from now on the admin's.
        _record(intent, Step(RULE, f"account {entry.uid} {why}; it was locked already: the suspension is the admin's "
                                   "from now on", {"status": PersonStatus.SUSPENDED.value, "suspension_rule": RULE,
                                                   "suspended_at": None}))
        return
    again = entry is not None and state is not None and state.status == PersonStatus.SUSPENDED
    if again:
        # Unlocked outside the daemon while the suspension stands (lock_state reports it): locked again.
        intent.suspend = Step(RULE, f"{why}; the account was unlocked outside the daemon: login disabled again",
                              {"rule": RULE, "keep_date": True} if state is not None and state.suspension_rule == SuspensionRule.INTERVENTION
                              else {"rule": RULE})
    else:
        intent.suspend = Step(RULE, f"{why}: login disabled at once, open sessions ended, whatever HR says, until "
                                    "`lifecycle unsuspend`", {"rule": RULE})


def _lift(view: PersonView, intent: Intent, ctx: PolicyContext) -> None:
    """The admin's suspension was lifted: an account HR employs is given back at once."""
    entry = view.entry
    if entry is None or intent.account != AccountStep.KEEP or not entry.locked:
        return  # (an unlock made by hand while it stood is recorded as lifted by the standing rules)
    if employment(view.hr, ctx).standing != Standing.EMPLOYED:
        return  # not started, or absent but not (yet) a leaver: kept locked, nothing deleted
    intent.restore = Step(RULE, f"the admin's suspension of account {entry.uid} was lifted (`lifecycle unsuspend`) and HR "
                                "employs the person: login given back")
    intent.enabled = True
    intent.delete = None
    _drop_lifted_record(intent)


def _leaver_takes_over(view: PersonView, intent: Intent, ctx: PolicyContext) -> None:
    """A departure makes an admin's (or a hand-made) suspension a leaver's: retention counts from now."""
    state, entry = view.state, view.entry
    if state is None or entry is None or state.status != PersonStatus.SUSPENDED:
        return  # an active account: the leaver's own suspension, planned already
    rule = state.suspension_rule
    if rule not in _KEPT_BY_ADMINS:
        return
    emp = employment(view.hr, ctx)
    why = emp.why if emp.standing == Standing.DEPARTED else "absent from the HR export long enough to count as a departure"
    leaver = SuspensionRule.LEAVER.value
    intent.delete = None  # the retention counts from the departure, not from an earlier date
    if intent.suspend is not None:  # unlocked by hand: locked again, as a leaver's
        intent.suspend = Step(leaver, f"{why}: login disabled again (the account, suspended ({rule.value}), was unlocked "
                                      "outside the daemon)", {"rule": leaver})
        return
    _record(intent, Step(leaver, f"{why}; the account, suspended ({rule.value}), is a leaver's from now on: its mail is "
                                 f"handled as a leaver's and its retention of {ctx.settings.policy.retention_days} days "
                                 "counts from the departure",
                         {"suspension_rule": leaver, "suspended_at": ctx.now_iso}))


def _record(intent: Intent, step: Step) -> None:
    """One state record per person and plan: merged with the one the plan has (an absence count reset)."""
    if intent.record is not None:
        step = Step(step.rule, f"{step.reason}; {intent.record.reason}", {**intent.record.extra, **step.extra})
    intent.record = step


def _drop_lifted_record(intent: Intent) -> None:
    """A record that the suspension is lifted (an unlock found in the directory) does not hold while it stands."""
    record = intent.record
    if record is None or record.extra.get("status") != PersonStatus.ACTIVE.value:
        return
    kept = {k: v for k, v in record.extra.items() if k == "absent_since"}
    intent.record = Step("absent", "back in the HR export; absence count reset", kept) if kept else None
