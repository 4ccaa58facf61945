"""Forwards in the console: the admins of a company forward a person's mail, as `lifecycle forward` does.

- GET /api/v1/forwards (`company`, `all=1` for the ended ones too): the caller's companies' forwards;
- POST /api/v1/forwards {employee_id, to, keep_copy, from, until, reason}: set (or replace) one;
- POST /api/v1/forwards/<employee_id>/remove {reason}: end it today;
- /forwards: the list, a form to add one and a button to remove each.

The same checks as the command line (lifecycle.journal.forwards.new_forward: 400 naming the field); a
person of another company is 404, as everywhere in the API.  Each decision is in the action log with the
admin's uid and address; the next cycle applies it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from lifecycle.domain.settings import Settings
from lifecycle.journal.forwards import (
    ForwardRefused,
    end_forward,
    forward_row,
    forward_rows,
    new_forward,
    person_address,
    save_forward,
)
from lifecycle.web.access import login_required
from lifecycle.web.api import Refusal, admin, api, body, chosen_companies, journal, reason_of
from lifecycle.web.pages import from_api, page, pages, show

APPLIED_NEXT = "applied by the next cycle, which the running daemon starts within seconds"


def _settings() -> Settings:
    return current_app.config["SETTINGS"]  # type: ignore[no-any-return]


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Refusal(400, f"{name} must be text")
    return value.strip()[:320]


def _flag(data: dict[str, Any], name: str) -> bool:
    value = data.get(name)
    return value is True or (isinstance(value, str) and value.strip().lower() in ("on", "true", "1", "yes"))


@api.get("/forwards")
@login_required
def forwards() -> Response:
    settings, now = _settings(), datetime.now(UTC)
    store = journal()
    # By the person's company now (a transfer moves it).
    rows = forward_rows(store, settings, chosen_companies(), now, ended=request.args.get("all", "") in ("1", "true", "yes"))
    return jsonify(forwards=rows)


@api.post("/forwards")
@login_required
def add_forward() -> tuple[Response, int]:
    data = body()
    employee_id = _text(data, "employee_id")
    if not employee_id:
        raise Refusal(400, "employee_id is required")
    reason = reason_of(data)
    caller, settings, store = admin(), _settings(), journal()
    person = store.person(employee_id)
    if person is None or not caller.may_see(person.company):
        raise Refusal(404, f"no employee {employee_id} with an account among your companies")
    try:
        made = new_forward(settings, person, employee_id, to=_text(data, "to"), keep_copy=_flag(data, "keep_copy"),
                           starts=_text(data, "from"), ends=_text(data, "until"), reason=reason, actor=caller.uid,
                           now=datetime.now(UTC))
    except ForwardRefused as exc:
        raise Refusal(400, str(exc).replace("--to", "to").replace("--from", "from").replace("--until", "until")
                      .replace("--reason", "reason")) from exc
    save_forward(store, made, origin=caller.origin, settings=settings)
    row = forward_row(made, settings, made.created_at, person_address(settings, person))
    return jsonify(forward=row, message=f"mail to {employee_id} goes to {made.to}; {APPLIED_NEXT}"), 201


@api.post("/forwards/<employee_id>/remove")
@login_required
def remove_forward(employee_id: str) -> Response:
    reason = reason_of(body())
    caller = admin()
    try:
        ended = end_forward(journal(), _settings(), employee_id, reason=reason, actor=caller.uid, now=datetime.now(UTC),
                            origin=caller.origin, companies=caller.visible())
    except ForwardRefused as exc:
        raise Refusal(404, f"no forward of employee {employee_id} standing among your companies") from exc
    return jsonify(message=f"the forward of {employee_id} to {ended.to} is removed; {APPLIED_NEXT}")


@pages.get("/forwards")
@page
def forwards_page() -> ResponseReturnValue:
    return show("forwards.html", forwards=from_api(forwards)["forwards"])
