"""The JSON API under /api/v1: what the pages use, and what scripts may use.

Every answer is limited to the caller's companies: a company outside them is 403, a person of
another company 404 (so existence does not leak), and a decision about another company's
action records nothing.  Every decision is in the action log with the admin's uid and address.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, session, stream_with_context
from flask_wtf.csrf import CSRFError, generate_csrf

from connectors.ldap.login import DirectoryLogin, LoginRefused
from lifecycle.domain.dn import match_key
from lifecycle.domain.errors import ConnectorError
from lifecycle.domain.instants import parse_instant
from lifecycle.journal.action_log import LogEntry
from lifecycle.journal.console import ADOPTION_REVIEWS
from lifecycle.journal.store import Journal
from lifecycle.web.access import (
    Admin,
    client_address,
    companies_of,
    current_admin,
    login_required,
    new_session_id,
    session_key,
    session_lifetimes,
)
from lifecycle.web.throttle import LoginThrottle, Throttled, address_key, name_key
from policies.context import PolicyContext

api = Blueprint("api", __name__, url_prefix="/api/v1")

JSON_LOG_LIMIT, MAX_LOG_LIMIT = 1000, 100_000
RECENT_RUNS = 10
LOG_FIELDS = ("id", "logged_at", "company", "employee_id", "kind", "target", "status", "rule", "reason", "actor",
              "origin", "error", "run_id", "effective_at")


class Refusal(Exception):
    """A request the caller may not make, or made wrongly: its status and words."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@api.errorhandler(Refusal)
def _refused(exc: Refusal) -> tuple[Response, int]:
    return jsonify(error=str(exc)), exc.status


@api.errorhandler(CSRFError)
def _no_token(exc: CSRFError) -> tuple[Response, int]:
    # Without a live session no token can be right: the answer is to log in (401), as for a GET.
    if current_admin() is None:
        return jsonify(error="not logged in, or the session ended; log in again (POST /api/v1/session)"), 401
    words = f"missing or wrong CSRF token ({exc.description}); send the csrf_token of your session in X-CSRF-Token"
    return jsonify(error=words), 403


def journal() -> Journal:
    return current_app.config["JOURNAL"]  # type: ignore[no-any-return]


def admin() -> Admin:
    found = current_admin()
    assert found is not None  # login_required
    return found


def chosen_companies() -> list[str]:
    """The `company` filter (one of the caller's, else 403), or all the caller may see."""
    company = request.args.get("company", "").strip()
    caller = admin()
    if not company:
        return caller.visible()
    if not caller.may_see(company):
        raise Refusal(403, f"company {company!r} is not one of yours ({', '.join(caller.companies)})")
    return [company]


def company_of_visible(employee_id: str) -> str:
    """The employee's company if the caller may see it; 404 otherwise (unknown and another's look the same)."""
    company = journal().company_of(employee_id)
    if company is None or not admin().may_see(company):
        raise Refusal(404, f"no employee {employee_id} among your companies")
    return company


def body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise Refusal(400, "send a JSON object (Content-Type: application/json)")
    return data


def reason_of(data: dict[str, Any]) -> str:
    reason = data.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise Refusal(400, "a reason is required: {\"reason\": \"...\"}")
    return reason.strip()[:500]


# -- the session ------------------------------------------------------------------------------------------


@api.post("/session")
def log_in() -> tuple[Response, int] | Response:
    data = body()
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise Refusal(400, "send {\"username\": \"uid or mail address\", \"password\": \"...\"}")
    throttle: LoginThrottle = current_app.config["LOGIN_THROTTLE"]
    keys = (name_key(username), address_key(client_address()))
    if not throttle.allows(keys):
        raise Refusal(429, "too many failed logins; wait a few minutes and try again")
    web = current_app.config["WEB"]
    login: DirectoryLogin = current_app.config["LOGIN"]
    try:
        identity = login.authenticate(username, password, [role.group_dn for role in web.roles], throttle.account_attempt)
    except (Throttled, LoginRefused) as exc:
        # An account over its own count (under its other name) answers as a wrong password: a 429 here
        # would tell an existing account from an unknown one.
        throttle.failed(keys)
        raise Refusal(401, "wrong user name or password") from exc
    except ConnectorError as exc:
        current_app.logger.warning("login_directory_error %s", exc)
        raise Refusal(503, "the console cannot look accounts up in the directory now (unreachable, or the lookup is "
                           "refused); try again later, and if it lasts tell the administrator: the console's log says why"
                      ) from exc
    companies, everyone = companies_of(web.roles, identity.groups, current_app.config["COMPANY_CODES"])
    if not companies:
        raise Refusal(403, "your account has no role in the console; ask the group administrator")
    token, key = new_session_id()
    session.clear()  # a session from before the login is never carried over
    idle, lifetime = session_lifetimes()
    journal().open_session(key, uid=identity.uid, dn=identity.dn, display_name=identity.display_name,
                           groups=sorted(identity.groups), address=client_address(), now=datetime.now(UTC), idle=idle,
                           lifetime=lifetime)
    session["sid"] = token
    session["lang"] = session.get("lang") or web.language
    session.permanent = True
    return jsonify(user=identity.uid, display_name=identity.display_name, companies=companies, group_admin=everyone,
                   csrf_token=generate_csrf())


@api.delete("/session")
@login_required
def log_out() -> Response:
    token = session.get("sid")
    if isinstance(token, str):
        journal().end_session(session_key(token))
    session.clear()
    return jsonify(ok=True)


@api.get("/session")
@login_required
def whoami() -> Response:
    caller = admin()
    return jsonify(user=caller.uid, display_name=caller.display_name, companies=list(caller.companies),
                   group_admin=caller.group_admin, csrf_token=generate_csrf())


# -- what there is to see ------------------------------------------------------------------------------------


@api.get("/overview")
@login_required
def overview() -> Response:
    companies = chosen_companies()
    views = journal().published_views(companies)
    held = journal().held_actions(companies=companies)
    counts = journal().account_counts(companies)
    result = []
    for company in companies:
        if company == "" and company not in views:
            continue
        view = views.get(company, {})
        result.append({
            "company": company,
            "accounts": counts.get(company, {}),
            "planned": view.get("totals", {}).get("actions", 0),
            "held": sum(1 for h in held if h["company"] == company and h["status"] == "held"),
            "frozen": sum(1 for h in held if h["company"] == company and h["status"] == "frozen"),
            "rejected": view.get("totals", {}).get("rejected", 0),
            "reviews": view.get("totals", {}).get("reviews", 0),
            "adoptions": view.get("totals", {}).get("adoptions", 0),
            "published_at": view.get("published_at"),
        })
    recent = journal().recent_runs(RECENT_RUNS)
    counts_by_run = journal().run_counts([r["run_id"] for r in recent], companies)
    cycles = [_run_words(run, counts_by_run.get(run["run_id"], {})) for run in recent]
    return jsonify(companies=result, last_run=cycles[0] if cycles else None, runs=cycles)


def _run_words(run: dict[str, Any], counts: dict[str, int]) -> dict[str, Any]:
    """A cycle as the caller's companies saw it: the summary's counts are the group's and stay out.

    A run with failures elsewhere went well for a company without failed entries; a run that could
    not run at all ("error") or was stopped is everyone's news.
    """
    outcome = run["outcome"]
    if outcome == "failures" and not counts.get("failed"):
        outcome = "ok"
    return {"started_at": run["started_at"], "finished_at": run["finished_at"], "outcome": outcome, "mode": run["mode"],
            "counts": counts}


@api.get("/plan")
@login_required
def plan() -> Response:
    companies = chosen_companies()
    views = journal().published_views(companies)
    # Published before it was applied: each action with what became of it in that run (still "planned" if nothing).
    actions = []
    for company in companies:
        view = views.get(company)
        if view is None:
            continue
        outcome = journal().outcomes_in_run(view["run_id"], [a["employee_id"] for a in view["actions"]])
        actions += [{**a, "company": company, "status": outcome.get((a["kind"], a["employee_id"], a["target"]), "planned")}
                    for a in view["actions"]]
    published = sorted({v["published_at"] for v in views.values()})
    total = sum(v["totals"].get("actions", 0) for v in views.values())
    return jsonify(actions=actions, total=total, published_at=published[-1] if published else None)


@api.get("/actions")
@login_required
def actions() -> Response | tuple[Response, int]:
    companies = chosen_companies()
    since, until = _instant("since"), _instant("until")
    wanted = request.args.get("format", "json")
    limit = _limit(default=None if wanted == "csv" else JSON_LOG_LIMIT)
    if wanted not in ("json", "csv"):
        raise Refusal(400, "format must be json or csv")
    entries = journal().entries(
        companies=companies, employee_id=request.args.get("employee") or None, kind=request.args.get("kind") or None,
        status=request.args.get("status") or None, since=since, until=until, limit=limit,
    )
    if wanted == "csv":
        name = "lifecycle-log-" + ("-".join(c for c in companies if c) or "all") + ".csv"
        lines = _csv_lines(entries)
        first = next(lines)  # the store is read before the status is sent: a failure is still a 503
        return Response(stream_with_context(itertools.chain([first], lines)), mimetype="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f"attachment; filename={name}"})
    return jsonify(entries=[_log_row(e) for e in entries])


def _log_row(entry: LogEntry) -> dict[str, Any]:
    return {k: v for k, v in entry.to_dict().items() if k in LOG_FIELDS or k == "changes"}


def _csv_lines(entries: Iterable[LogEntry]) -> Iterator[str]:
    """The export, a slice at a time: a group's whole log is never in memory at once."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=LOG_FIELDS, extrasaction="ignore")
    out.write("\ufeff")  # BOM: Excel opens UTF-8 CSV with Chinese text correctly only with it
    writer.writeheader()
    for count, entry in enumerate(entries):
        writer.writerow(_csv_safe(_log_row(entry)))
        if count % 500 == 0:  # the first row at once (its read is checked before the answer starts), then slices
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def _limit(default: int | None) -> int | None:
    """`limit`: the newest N entries (JSON defaults to JSON_LOG_LIMIT; a CSV export has them all)."""
    text = request.args.get("limit", "").strip()
    if not text:
        return default
    if not text.isdigit() or not 0 < int(text) <= MAX_LOG_LIMIT:
        raise Refusal(400, f"limit must be a whole number from 1 to {MAX_LOG_LIMIT}")
    return int(text)


def _csv_safe(row: dict[str, Any]) -> dict[str, Any]:
    """A cell starting with = + - @ (or a tab or CR before one) would run as a formula in a spreadsheet: quote it."""
    return {k: ("'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r") else v) for k, v in row.items()}


def _instant(name: str) -> datetime | None:
    """An ISO date or date-time; without an offset, in the company time zone ([policy] timezone)."""
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        return parse_instant(text, current_app.config["SETTINGS"].policy.timezone)
    except ValueError as exc:
        raise Refusal(400, f"{name}={text!r} is not an ISO date or date-time (e.g. 2027-01-15)") from exc


@api.get("/held")
@login_required
def held() -> Response:
    companies = set(chosen_companies())
    rows = journal().held_actions(companies=companies)
    return jsonify(held=rows)


@api.post("/held/<int:action_id>/<any(approve, reject):verb>")
@login_required
def decide(action_id: int, verb: str) -> Response:
    reason = reason_of(body())
    if not 0 < action_id < 2**63:
        raise Refusal(404, f"no held action #{action_id}")
    caller = admin()
    decision = "approved" if verb == "approve" else "rejected"
    lines = journal().decide([action_id], decision, caller.uid, datetime.now(UTC), reason=reason, origin=caller.origin,
                             companies=caller.companies)
    line = lines[0]
    if "unknown id" in line:
        raise Refusal(404, f"no held action #{action_id}")
    if "not an action of your companies" in line:
        raise Refusal(403, f"held action #{action_id} is not one of your companies'")
    if f": {decision} " not in line:
        raise Refusal(409, line)
    return jsonify(ok=True, message=line)


@api.get("/people/<employee_id>")
@login_required
def person(employee_id: str) -> Response:
    company = company_of_visible(employee_id)
    store = journal()
    caller = admin()
    views = store.published_views([company])
    view = views.get(company, {})
    history = [e.to_dict() for e in store.entries(employee_id=employee_id, companies=caller.visible())]
    for entry in history:
        entry.pop("params", None)
    state = store.person_state(employee_id)
    holds = store.holds_of(None, employee_id)
    return jsonify(
        employee_id=employee_id, company=company, state=state, outlook=_visible_outlook(employee_id),
        planned=[a for a in view.get("actions", []) if a["employee_id"] == employee_id],
        reviews=[r for r in view.get("reviews", []) if r["employee_id"] == employee_id],
        rejected=[r for r in view.get("rejected", []) if r["employee_id"] == employee_id],
        held=store.held_actions(companies=[company], employee_id=employee_id),
        hold=holds[0] if holds else None, history=history,
        # False when the cycle planned more than the console keeps: `lifecycle explain` then has the rest.
        published_complete=all(view.get("totals", {}).get(name, 0) <= len(view.get(name, [])) for name in ("actions", "rejected")),
    )


def _visible_outlook(employee_id: str) -> dict[str, Any] | None:
    """The published outlook, if its company is the caller's (a mover's may be the other company's)."""
    outlook = journal().outlook(employee_id)
    return outlook if outlook is not None and admin().may_see(outlook["company"]) else None


@api.get("/rejected")
@login_required
def rejected() -> Response:
    companies = chosen_companies()
    views = journal().published_views(companies)
    rows = [r for company in companies for r in views.get(company, {}).get("rejected", [])]
    return jsonify(rejected=sorted(rows, key=lambda r: r["row"]), total=_total(views, "rejected"))


def _total(views: dict[str, dict[str, Any]], name: str) -> int:
    """How many there were: a published list keeps its first rows only (lifecycle.journal.console)."""
    return sum(view["totals"].get(name, 0) for view in views.values())


@api.get("/reviews")
@login_required
def reviews() -> Response:
    companies = chosen_companies()
    views = journal().published_views(companies)
    return jsonify(reviews=[r for company in companies for r in views.get(company, {}).get("reviews", [])],
                   total=_total(views, "reviews"))


# -- holds and adoptions -------------------------------------------------------------------------------------


@api.get("/holds")
@login_required
def holds() -> Response:
    return jsonify(holds=journal().holds_of(set(chosen_companies())))


@api.post("/holds")
@login_required
def put_hold() -> tuple[Response, int]:
    data = body()
    employee_id = str(data.get("employee_id") or "").strip()
    reason = reason_of(data)
    company = company_of_visible(employee_id)
    caller = admin()
    message = journal().set_hold(employee_id, reason, caller.uid, datetime.now(UTC), on=True, origin=caller.origin,
                                 company=company)
    if "already" in message:
        raise Refusal(409, message)
    return jsonify(ok=True, message=message), 201


@api.delete("/holds/<employee_id>")
@login_required
def lift_hold(employee_id: str) -> Response:
    company = company_of_visible(employee_id)
    data = request.get_json(silent=True)
    if data is None and request.args.get("reason"):
        data = {"reason": request.args["reason"]}  # DELETE bodies are dropped by some clients and proxies
    if not isinstance(data, dict):
        raise Refusal(400, "send {\"reason\": \"...\"} (or ?reason=...)")
    reason = reason_of(data)
    caller = admin()
    message = journal().set_hold(employee_id, reason, caller.uid, datetime.now(UTC), on=False, origin=caller.origin,
                                 company=company)
    if "not on hold" in message:
        raise Refusal(404, message)
    return jsonify(ok=True, message=message)


@api.get("/adoptions")
@login_required
def adoptions() -> Response:
    companies = chosen_companies()
    views = journal().published_views(companies)
    waiting = [r for company in companies for r in views.get(company, {}).get("reviews", []) if r["kind"] in ADOPTION_REVIEWS]
    return jsonify(adoptions=waiting, total=_total(views, "adoptions"))


@api.post("/adoptions")
@login_required
def adopt() -> tuple[Response, int]:
    data = body()
    employee_id, uid = str(data.get("employee_id") or "").strip(), str(data.get("uid") or "").strip()
    if employee_id and not uid and str(data.get("new") or "").lower() in ("1", "true", "on", "yes"):
        return _new_account(employee_id, data)
    if not employee_id or not uid:
        raise Refusal(400, "send {\"employee_id\": ..., \"uid\": ...} (or {\"employee_id\": ..., \"new\": true, "
                           "\"reason\": ...} for a new account)")
    company_of_visible(employee_id)
    caller = admin()
    settings = current_app.config["SETTINGS"]
    login: DirectoryLogin = current_app.config["LOGIN"]
    try:
        found = login.find_by_uid(uid)
    except ConnectorError as exc:
        raise Refusal(503, "the directory cannot be reached; try again later") from exc
    placed = PolicyContext(settings, datetime.now(UTC))  # the company of an entry, as `lifecycle adopt` finds it
    mine = [(entry, company) for entry in found if (company := placed.company_of_dn(entry.dn)) in caller.companies]
    if len(mine) != 1:
        raise Refusal(404, f"no entry with uid {uid!r} in your companies' subtrees")
    entry, company = mine[0]
    if not entry.number_known:
        raise Refusal(409, f"the console cannot tell whether {entry.dn} already carries an employeeNumber (its lookup may "
                           "not read it): give [web] lookup_bind_dn read access to employeeNumber, or run "
                           f"`lifecycle adopt {employee_id} {entry.uid}` on the daemon's host")
    if entry.employee_number and match_key(entry.employee_number) != match_key(employee_id):
        raise Refusal(409, f"{entry.dn} already carries employeeNumber {entry.employee_number}")
    store = journal()
    existing = store.person(employee_id)
    if (existing is not None and match_key(existing.uid) != match_key(entry.uid)
            and existing.status.value not in ("confirmed", "deleted")):
        raise Refusal(409, f"employee {employee_id} is already linked to {existing.uid}")
    owner = store.uid_owner(entry.uid)
    if owner not in (None, employee_id):
        raise Refusal(409, f"{entry.uid} is employee {owner}'s account; if that link is wrong, `lifecycle unlink {owner} "
                           "--reason ...` on the daemon's host undoes it first")
    store.confirm_match(employee_id, entry.uid, company, caller.uid, datetime.now(UTC), origin=caller.origin)
    return jsonify(ok=True, message=f"confirmed: {entry.dn} is employee {employee_id}; the next cycle adopts it"), 201



def _new_account(employee_id: str, data: dict[str, Any]) -> tuple[Response, int]:
    """None of the possible existing entries is this joiner (`lifecycle adopt EMPLOYEE --new`): the next cycle makes
    a new account."""
    from lifecycle.domain.interventions import InterventionKind
    from lifecycle.journal.interventions import save_intervention

    company = company_of_visible(employee_id)
    reason = reason_of(data)
    caller = admin()
    store = journal()
    existing = store.person(employee_id)
    if existing is not None and existing.uid and existing.status.value != "deleted":
        raise Refusal(409, f"employee {employee_id} is linked to {existing.uid} already; `lifecycle unlink "
                           f"{employee_id} --reason ...` on the daemon's host undoes a wrong link")
    login: DirectoryLogin = current_app.config["LOGIN"]
    try:
        carrying, known = login.find_by_number(employee_id)
    except ConnectorError as exc:
        raise Refusal(503, "the directory cannot be reached; try again later") from exc
    if carrying:  # a new entry would carry the same number: two entries with one number block the employee for good
        raise Refusal(409, f"{carrying[0]} carries employeeNumber {employee_id}: remove employeeNumber from it first "
                           "(a new account would carry the same number), or adopt it")
    if not known:
        raise Refusal(409, f"the console cannot tell whether an entry already carries employeeNumber {employee_id} (its "
                           "lookup may not read it): give [web] lookup_bind_dn read access to employeeNumber, or run "
                           f"`lifecycle adopt {employee_id} --new` on the daemon's host")
    with store.engine.begin() as conn:
        save_intervention(conn, InterventionKind.NEW_ACCOUNT, employee_id, company, reason=reason, actor=caller.uid,
                          now=datetime.now(UTC), changes={"new_account": [None, True]}, origin=caller.origin)
    return jsonify(ok=True, message=f"recorded: none of the existing entries is employee {employee_id}; the next "
                                    "cycle makes a new account"), 201
