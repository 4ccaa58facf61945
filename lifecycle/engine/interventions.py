"""An admin's intervention acted on at once: the plan computed as a cycle would, one person's part of it applied.

`lifecycle suspend`, `unsuspend` and `reset-password` record the admin's decision (lifecycle.journal.interventions)
and then, holding the active-instance lock (the CLI takes it: lifecycle.runtime.leader), call `apply_for_person`:
the whole plan is computed from HR, the directory, mail and the stored state exactly as a cycle computes it (the
same guards), and only the actions of that person go through the normal executor and journal, as `apply --plan`
applies a plan.  Everyone else's pending actions are left to the daemon's next cycle; the published plan (the
console's) is left to it too.  While the service holds the lock, the CLI only records: the daemon applies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

import structlog

from lifecycle.domain.action_params import GroupDeletionParams
from lifecycle.domain.dn import match_key
from lifecycle.domain.models import Action, ActionKind, DirectoryEntry, PersonState, Plan
from lifecycle.domain.settings import Settings
from lifecycle.engine.apply import ApplyResult, Executor
from lifecycle.engine.cycle import Sources, load_state, open_vault, plan_from, prepare_targets, read_inputs
from lifecycle.engine.notifying import open_postman
from lifecycle.engine.outbox_delivery import message_domain
from lifecycle.journal.action_log import ActionStatus
from lifecycle.journal.store import Journal

log = structlog.get_logger(__name__)

DONE = ActionStatus.APPLIED  # skipped means not tried (a failure before it, a stopped run)


@dataclass(frozen=True)
class PersonApplied:
    """One person's part of the plan (`plan`, restricted to them) and how applying it went.

    `outcomes`: each applied action's status in the action log, by (kind, target); `locked`: whether the person's
    entry is locked once the run is over, as read back from the directory (None: no entry found)."""

    plan: Plan
    result: ApplyResult
    outcomes: dict[tuple[str, str], str] = field(default_factory=dict)
    locked: bool | None = None

    def status_of(self, action: Action) -> str:
        return self.outcomes.get((action.kind.value, action.target), "")

    def done(self, kind: ActionKind) -> list[Action]:
        return [a for a in self.plan.actions if a.kind is kind and self.status_of(a) == DONE]

    def not_done(self, kind: ActionKind) -> list[Action]:
        return [a for a in self.plan.actions if a.kind is kind and self.status_of(a) != DONE]


def person_part(plan: Plan, employee_id: str) -> Plan:
    """The plan with only what concerns `employee_id`: their actions, held actions, findings and notices."""
    return replace(
        plan,
        actions=tuple(a for a in plan.actions if _concerns(a, employee_id)),
        held=tuple(h for h in plan.held if h.action.employee_id == employee_id),
        reviews=tuple(r for r in plan.reviews if r.employee_id == employee_id),
        notices=tuple(n for n in plan.notices if n.employee_id == employee_id),
        rejected=tuple(r for r in plan.rejected if r.employee_id == employee_id),
        outlooks=(),
        next_due=None,
    )


def _concerns(action: Action, employee_id: str) -> bool:
    """The person's own action, or the deletion of a group they were the last to leave (their suspension's)."""
    params = action.params
    return action.employee_id == employee_id or (
        isinstance(params, GroupDeletionParams) and employee_id in params.leaving and len(params.leaving) == 1)


def apply_for_person(
    settings: Settings, now: datetime, sources: Sources, journal: Journal, employee_id: str, actor: str,
    *, should_stop: Callable[[], bool] = lambda: False,
) -> PersonApplied:
    """Plan as a cycle would, and apply only `employee_id`'s actions (journalled in a run of mode "intervention").

    The caller holds the active-instance lock: no other run is live, so the pending rows a crashed run left are
    settled first, as every cycle does; `should_stop` is the fence (the lock lost: stop between actions)."""
    vault = open_vault(settings, journal)
    executor = Executor(sources.directory, journal, vault, actor, mail=sources.mail, companion=sources.companion,
                        message_domain=message_domain(settings))
    postman = open_postman(settings, journal, companion=sources.companion, vault=vault)
    run_id = journal.begin_run("intervention", now)
    structlog.contextvars.bind_contextvars(run_id=run_id)
    try:
        prepare_targets(settings, sources)
        executor.recover()
        state = load_state(journal)
        inputs = read_inputs(settings, sources.directory, sources.mail, sources.companion, state, hr=sources.hr,
                             today=now.date())
        before = _entry_of(inputs.directory.entries, employee_id, state.by_employee().get(employee_id))
        plan = person_part(plan_from(inputs, state, settings, now), employee_id)
        del inputs
        journal.record_reviews(run_id, plan.reviews, now, actor)
        result = executor.apply(plan, run_id, should_stop)
        outcome = result.outcome
        journal.finish_run(run_id, outcome, {**result.summary(), "actions": len(plan.actions), "held": len(plan.held),
                                             "reviews": len(plan.reviews), "employee_id": employee_id})
        log.info("intervention_applied", employee_id=employee_id, outcome=outcome, actions=len(plan.actions))
        if postman is not None:
            postman.deliver()  # the person's notices (a new password to a personal address)
        outcomes = {(e.kind, e.target): e.status for e in journal.entries(run_id=run_id, employee_id=employee_id)}
        after = sources.directory.read_person(before.dn) if before is not None else None
        return PersonApplied(plan, result, outcomes, after.locked if after is not None else None)
    except Exception as exc:
        journal.finish_run(run_id, "error", {"error": f"{type(exc).__name__}: {exc}"})
        raise
    finally:
        if postman is not None:
            postman.close()
        structlog.contextvars.unbind_contextvars("run_id")


def _entry_of(entries: Iterable[DirectoryEntry], employee_id: str, person: PersonState | None) -> DirectoryEntry | None:
    """The person's entry in the snapshot: by employeeNumber, else by the uid the store has for them."""
    uid = match_key(person.uid) if person is not None and person.uid else ""
    found = None
    for entry in entries:
        if entry.employee_number == employee_id:
            return entry
        if uid and match_key(entry.uid) == uid:
            found = entry
    return found
