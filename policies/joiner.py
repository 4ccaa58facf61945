"""Joiner (and rehire): an employed person gets an account, or their account back."""

from __future__ import annotations

import sys

from lifecycle.domain.models import PersonStatus, Review, ReviewKind, SuspensionRule
from policies.context import PolicyContext
from policies.employment import Employment
from policies.intent import AccountStep, Intent, Step
from policies.join import PersonView
from policies.names import Names
from policies.naming import NamingProblem
from policies.placement import person_dn


def decide_employed(view: PersonView, emp: Employment, ctx: PolicyContext, names: Names) -> Intent:
    record = view.hr
    assert record is not None
    intent = Intent(view.employee_id, view.company, sync_attributes=True, enabled=True)
    state, entry = view.state, view.entry
    if entry is not None:
        intent.uid = entry.uid
        if state is None or state.status in (PersonStatus.DELETED, PersonStatus.CONFIRMED):
            intent.account = AccountStep.ADOPT
            how = "confirmed by an admin" if state is not None and state.status == PersonStatus.CONFIRMED else "matched by employeeNumber"
            intent.adopt = Step("adopt", f"existing entry {entry.dn} {how}; only HR-owned attributes are corrected")
        else:
            intent.account = AccountStep.KEEP
            if state.status == PersonStatus.SUSPENDED:
                if state.suspension_rule == SuspensionRule.LEAVER:
                    intent.restore = Step("rehire", f"rehired before deletion: {emp.why}; the same account is restored")
                else:
                    intent.enabled = False  # inactivity suspensions are lifted by an admin, not by HR
        return intent

    if state is not None and state.status == PersonStatus.SUSPENDED and state.suspension_rule != SuspensionRule.LEAVER:
        intent.enabled = False
        intent.sync_attributes = False
        intent.record = Step(
            "repair",
            f"suspended account {state.uid} is no longer in the directory; recorded as deleted",
            {"status": PersonStatus.DELETED.value, "deleted_at": ctx.now.isoformat()},
        )
        return intent

    if (
        state is not None
        and state.status == PersonStatus.DELETED
        and state.suspension_rule == SuspensionRule.INACTIVITY
        and state.deleted_at is not None
        and record.hire_date <= state.deleted_at.astimezone(ctx.zone(view.company)).date()
    ):
        # Deleted for not using it: a new account is the admin's call, or follows a new hire date.
        intent.sync_attributes = intent.enabled = False
        intent.review(
            Review(
                ReviewKind.DELETED_FOR_INACTIVITY,
                view.employee_id,
                view.company,
                state.uid,
                f"account {state.uid} was deleted on {state.deleted_at.date()} after a long inactivity; "
                "it is not re-made automatically",
                f"run `lifecycle reinstate {view.employee_id}` to give the employee an account again (same name)",
            )
        )
        return intent

    company = ctx.company(view.company)
    assert company is not None  # HR rows with unknown companies are rejected upstream
    if state is not None and state.uid:
        uid = state.uid  # reserved for this employee: a rehire or a repair gets the same name
        if state.status == PersonStatus.DELETED:
            why = f"rehired after deletion: {emp.why}; the reserved name {uid} is reused"
            rule = "rehire"
        elif state.status == PersonStatus.SUSPENDED:
            why = f"rehired, but the suspended account {uid} is gone from the directory; it is made again"
            rule = "rehire"
        else:
            why = f"account {uid} recorded for this employee is missing from the directory; it is made again"
            rule = "repair"
    else:
        allocated = names.allocate(record)
        if isinstance(allocated, NamingProblem):
            intent.sync_attributes = False
            intent.enabled = False
            intent.review(
                Review(
                    ReviewKind.NAME_NEEDS_ADMIN,
                    view.employee_id,
                    view.company,
                    record.name,
                    f"no account is made for {record.name}: {allocated.reason}",
                    allocated.fix,
                )
            )
            return intent
        uid, rule, why = allocated, "joiner", sys.intern(f"new hire: {emp.why}")  # one per hire date, not per hire
    intent.uid = uid
    intent.dn = person_dn(uid, company.people_dn)
    intent.account = AccountStep.CREATE
    intent.create = Step(rule, why)
    return intent


def reset_still_due(view: PersonView, intent: Intent, ctx: PolicyContext) -> Step | None:
    """A fresh initial password that no reset has given yet: a rehire's (the reset failed, or was interrupted
    before its password was sealed) or one an admin asked for (`lifecycle reset-password`); asked for while the
    account is active and unlocked, and stays so in this plan, or is given back by it (an admin's suspension
    lifted: the reset follows the restore).  A locked account keeps it due.

    An account made after it was due got a fresh password of its own when it was made: nothing is due for it.
    """
    state, entry = view.state, view.entry
    if state is None or state.reset_due_at is None:
        return None
    lifted = intent.restore is not None and intent.restore.rule == SuspensionRule.INTERVENTION.value
    if intent.restore is not None and not lifted:
        return None  # a rehire's restore brings a fresh password of its own
    if state.created_at is not None and state.reset_due_at < state.created_at:
        return None
    unlocked = lifted or (entry is not None and not entry.locked and state.status == PersonStatus.ACTIVE)
    if (entry is None or not unlocked or intent.account != AccountStep.KEEP
            or not intent.enabled or intent.suspend is not None or not intent.exists_after):
        return None
    since = state.reset_due_at.astimezone(ctx.zone(view.company)).date()
    if state.restored_at is None or state.restored_at != state.reset_due_at:  # not the restore of a rehire
        return Step(SuspensionRule.INTERVENTION.value, f"an admin asked for a new password on {since} (`lifecycle "
                    "reset-password`; the action log says who and why): a fresh initial password, to be changed at the "
                    "next login, delivered as [accounts] initial_password_delivery says; open sessions are ended")
    return Step("rehire", f"a fresh initial password has been due since the rehire on {since} and no reset gave it "
                "(the last one failed or was interrupted); to be changed at the first login, delivered as [accounts] "
                "initial_password_delivery says")
