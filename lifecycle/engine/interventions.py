"""An admin's intervention acted on at once: the plan computed as a cycle would, one person's part of it applied.

`lifecycle suspend`, `unsuspend` and `reset-password` record the admin's decision (lifecycle.journal.interventions)
and then call `apply_for_person`: the whole plan is computed from HR, the directory, mail and the stored state
exactly as a cycle computes it (the same guards), and only the actions of that person go through the normal
executor and journal, as `apply --plan` applies a plan.  Everyone else's pending actions are left to the daemon's
next cycle; the published plan (the console's) is left to it too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import structlog

from lifecycle.domain.models import Plan
from lifecycle.domain.settings import Settings
from lifecycle.engine.apply import ApplyResult, Executor
from lifecycle.engine.cycle import Sources, decide, open_vault, prepare_targets
from lifecycle.engine.notifying import open_postman
from lifecycle.engine.outbox_delivery import message_domain
from lifecycle.journal.store import Journal

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PersonApplied:
    """One person's part of the plan (`plan`, restricted to them) and how applying it went."""

    plan: Plan
    result: ApplyResult


def person_part(plan: Plan, employee_id: str) -> Plan:
    """The plan with only what concerns `employee_id`: their actions, held actions, findings and notices."""
    return replace(
        plan,
        actions=tuple(a for a in plan.actions if a.employee_id == employee_id),
        held=tuple(h for h in plan.held if h.action.employee_id == employee_id),
        reviews=tuple(r for r in plan.reviews if r.employee_id == employee_id),
        notices=tuple(n for n in plan.notices if n.employee_id == employee_id),
        rejected=tuple(r for r in plan.rejected if r.employee_id == employee_id),
        outlooks=(),
        next_due=None,
    )


def apply_for_person(
    settings: Settings, now: datetime, sources: Sources, journal: Journal, employee_id: str, actor: str,
) -> PersonApplied:
    """Plan as a cycle would, and apply only `employee_id`'s actions (journalled in a run of mode "intervention")."""
    vault = open_vault(settings, journal)
    executor = Executor(sources.directory, journal, vault, actor, mail=sources.mail, companion=sources.companion,
                        message_domain=message_domain(settings))
    postman = open_postman(settings, journal, companion=sources.companion, vault=vault)
    run_id = journal.begin_run("intervention", now)
    structlog.contextvars.bind_contextvars(run_id=run_id)
    try:
        prepare_targets(settings, sources)
        executor.recover()  # a crashed run's pending rows are settled first, as every cycle does
        plan = person_part(decide(settings, now, sources, journal).plan, employee_id)
        journal.record_reviews(run_id, plan.reviews, now, actor)
        result = executor.apply(plan, run_id)
        outcome = "ok" if result.ok else ("stopped" if result.stopped else "failures")
        journal.finish_run(run_id, outcome, {**result.summary(), "actions": len(plan.actions), "held": len(plan.held),
                                             "reviews": len(plan.reviews), "employee_id": employee_id})
        log.info("intervention_applied", employee_id=employee_id, outcome=outcome, actions=len(plan.actions))
        if postman is not None:
            postman.deliver()  # the person's notices (a new password to a personal address)
        return PersonApplied(plan, result)
    except Exception as exc:
        journal.finish_run(run_id, "error", {"error": f"{type(exc).__name__}: {exc}"})
        raise
    finally:
        if postman is not None:
            postman.close()
        structlog.contextvars.unbind_contextvars("run_id")
