"""The console's interventions: suspend, unsuspend, reset a password (seed articles 14 and 16).

Imported by lifecycle.web.app for its routes on the `pages` and `api` blueprints, as lifecycle.web.passwords is.

An admin of the person's company (a group admin: any) records the decision with a reason; it is journalled
with the admin's uid as actor and the console's origin (lifecycle.journal.interventions).  The console does not
reach the directory: the daemon acts at its next cycle (the interventions table and persons.reset_due_at are
part of the stored state, so even a quiet daemon notices); `lifecycle suspend` on its host acts at once only when
no daemon holds the active-instance lock, and otherwise records the decision the same way.

A person of another company is answered as an unknown one (404), as everywhere in the API: a branch admin
learns nothing of other companies' employee ids.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Response, jsonify

from lifecycle.domain.interventions import InterventionKind
from lifecycle.domain.models import PersonState, PersonStatus
from lifecycle.journal.interventions import (
    interventions_of_companies,
    remove_intervention,
    request_password_reset,
    save_intervention,
)
from lifecycle.web.access import current_admin, login_required
from lifecycle.web.api import Refusal, admin, api, body, journal, reason_of
from lifecycle.web.pages import pages

NEXT_CYCLE = ("the console does not reach the directory: the running daemon applies it at its next cycle, which "
              "the decision starts within seconds")


def _person_of_company(employee_id: str) -> PersonState:
    """The person's stored account, if the caller's role covers its company: 404 unknown or another company's,
    409 no account the daemon manages."""
    store = journal()
    company = store.company_of(employee_id)
    if company is None or not admin().may_see(company):
        raise Refusal(404, f"no employee {employee_id}")
    person = store.person(employee_id)
    if person is None or person.status in (PersonStatus.DELETED, PersonStatus.CONFIRMED) or not person.uid:
        raise Refusal(409, f"employee {employee_id} has no account the daemon manages")
    return person


@api.post("/people/<employee_id>/suspend")
@login_required
def suspend(employee_id: str) -> tuple[Response, int]:
    reason = reason_of(body())
    person = _person_of_company(employee_id)
    caller = admin()
    with journal().engine.begin() as conn:
        standing = interventions_of_companies(conn, [person.company]).suspensions.get(employee_id)
        if standing is not None:
            raise Refusal(409, f"{employee_id} is already suspended by {standing.actor} since "
                               f"{standing.created_at.date()} ({standing.reason})")
        save_intervention(conn, InterventionKind.SUSPEND, employee_id, person.company, reason=reason, actor=caller.uid,
                          now=datetime.now(UTC), target=person.uid, changes={"suspended": [False, True]},
                          origin=caller.origin)
    return _recorded(f"{employee_id} ({person.uid}): suspension recorded; it stays locked whatever HR says until "
                     "it is lifted"), 201


@api.post("/people/<employee_id>/unsuspend")
@login_required
def unsuspend(employee_id: str) -> Response:
    reason = reason_of(body())
    person = _person_of_company(employee_id)
    caller = admin()
    with journal().engine.begin() as conn:
        lifted = remove_intervention(conn, InterventionKind.SUSPEND, employee_id, person.company, journal_kind="unsuspend",
                                     reason=reason, actor=caller.uid, now=datetime.now(UTC), target=person.uid,
                                     changes={"suspended": [True, False]}, origin=caller.origin)
    if not lifted:
        raise Refusal(409, f"{employee_id} is not suspended by an admin; nothing to lift")
    return _recorded(f"{employee_id} ({person.uid}): suspension lifted; access comes back if HR employs the person")


@api.post("/people/<employee_id>/reset-password")
@login_required
def reset_password(employee_id: str) -> Response:
    reason = reason_of(body())
    person = _person_of_company(employee_id)
    caller = admin()
    with journal().engine.begin() as conn:
        if not request_password_reset(conn, employee_id, person.company, reason=reason, actor=caller.uid,
                                      now=datetime.now(UTC), origin=caller.origin):
            raise Refusal(409, f"employee {employee_id} has no account the daemon manages")
    return _recorded(f"{employee_id} ({person.uid}): a new initial password is due, delivered as the daemon's "
                     "[accounts] initial_password_delivery says and to be changed at the next login (a suspended "
                     "account gets it when it is unsuspended)")


def _recorded(message: str) -> Response:
    return jsonify(ok=True, message=f"{message}; {NEXT_CYCLE}")


@pages.app_context_processor
def _interventions_context() -> dict[str, Any]:
    def admin_suspension(employee_id: str, company: str) -> dict[str, Any] | None:
        """The person's standing admin suspension, for the person page (a company of the caller's only)."""
        caller = current_admin()
        if caller is None or not caller.may_see(company):
            return None
        with journal().engine.connect() as conn:
            found = interventions_of_companies(conn, [company]).suspensions.get(employee_id)
        if found is None:
            return None
        return {"actor": found.actor, "reason": found.reason, "created_at": found.created_at.isoformat()}

    return {"admin_suspension": admin_suspension}
