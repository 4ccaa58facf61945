"""The console's pages: server-rendered from templates, read through the JSON API's own views.

Each page calls the API view that answers the same question (lifecycle.web.api), in this request,
so what a page shows is scoped exactly as the API scopes it: the caller's companies only, another
company 403, another company's person 404.  Pages decide nothing: console.js sends every decision
to the JSON API with the session's CSRF token, then reloads.  Without a session a page redirects
to /login (the API answers 401).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, current_app, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import HTTPException

from lifecycle.web import api
from lifecycle.web.access import Admin, current_admin
from lifecycle.web.i18n import local_time, translations
from lifecycle.web.phrases import event_words, standing_words

pages = Blueprint("pages", __name__)

F = TypeVar("F", bound=Callable[..., Any])
LOG_PAGE_ROWS = 500  # the page shows the newest; the CSV export has them all
PLAN_PAGE_ROWS = 200


def N_(text: str) -> str:
    """The conventional gettext marker: `text` is a message id, translated where it is shown."""
    return text


# The words stored in the state store, as the pages show them: the kinds of log entries...
KINDS = {
    "create_account": N_("create account"), "adopt_account": N_("adopt account"), "update_account": N_("update account"),
    "move_account": N_("move account"), "suspend_account": N_("suspend account"), "restore_account": N_("restore account"),
    "delete_account": N_("delete account"), "warn_inactive": N_("warn of inactivity"), "create_group": N_("create group"),
    "add_member": N_("add to group"), "remove_member": N_("remove from group"), "delete_group": N_("delete group"),
    "record_state": N_("record state"), "create_mailbox": N_("create mailbox"), "update_mailbox": N_("update mailbox"),
    "rename_mailbox": N_("rename mailbox"), "suspend_mailbox": N_("suspend mailbox"),
    "restore_mailbox": N_("restore mailbox"), "forward_mail": N_("forward mail"), "clear_forward": N_("stop forwarding"),
    "auto_reply": N_("auto-reply"), "archive_mailbox": N_("archive mailbox"), "delete_mailbox": N_("delete mailbox"),
    "create_alias": N_("create alias"), "delete_alias": N_("delete alias"), "write_back_hr": N_("tell HR the account"),
    "approve": N_("approval"), "reject": N_("rejection"), "hold": N_("legal hold put"), "release": N_("legal hold lifted"),
    "reinstate": N_("reinstatement"), "hr_row_rejected": N_("HR row rejected"),
    "name_needs_admin": N_("name needs an admin"), "unmatched_entry": N_("unmatched directory entry"),
    "confirm_match": N_("adoption to confirm"), "absent_from_hr": N_("absent from HR"),
    "possible_existing_account": N_("possible existing account"), "unlink": N_("link undone"),
    "duplicate_employee_number": N_("duplicate employee number"), "inconsistent_record": N_("inconsistent HR record"),
    "unknown_manager": N_("unknown manager"), "deleted_for_inactivity": N_("deleted for inactivity"),
    "mailbox_kept": N_("mailbox kept"), "lock_disagreement": N_("lock state disagrees"), "manager_loop": N_("manager loop"),
    "reset_password": N_("new initial password"), "password_revealed": N_("initial password revealed"),
    "no_personal_email": N_("no personal address for the first password"), "outbox_resend": N_("notice sent again"),
    "outbox_forget": N_("notice dropped"),
    "forward": N_("forward set by an admin"), "forward_removed": N_("forward removed by an admin"),
    "suspend": N_("suspended by an admin"), "unsuspend": N_("admin suspension lifted"),
    "reset_password_requested": N_("new password asked for"), "new_account": N_("new account confirmed"),
    "update_alias": N_("update list"), "resource_owner_changed": N_("resource owner changed"),
    "resource_problem": N_("resource problem"), "forward_problem": N_("forward problem"),
}
# ... and the statuses of entries, held actions and people, the outcomes and modes of cycles.
WORDS = {
    "pending": N_("pending"), "applied": N_("applied"), "failed": N_("failed"), "skipped": N_("skipped"),
    "rejected": N_("rejected"), "held": N_("held"), "frozen": N_("frozen (HR feed)"), "interrupted": N_("interrupted"),
    "recorded": N_("recorded"), "review": N_("review"), "planned": N_("planned, not yet applied"),
    "ok": N_("succeeded"), "stopped": N_("stopped"), "failures": N_("finished with failures"), "error": N_("error"),
    "active": N_("active"), "suspended": N_("suspended"), "deleted": N_("deleted"), "confirmed": N_("confirmed"),
    "apply": N_("apply"),
}
LABELS = {**KINDS, **WORDS}
LOG_STATUSES = ("applied", "failed", "pending", "skipped", "held", "rejected", "interrupted", "recorded", "review")


def page(view: F) -> F:
    """A page for a logged-in admin; without a session, the login page."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_admin() is None:
            return redirect(url_for("pages.login"))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def from_api(view: Callable[..., Any], *args: Any) -> dict[str, Any]:
    """What the API view answers to this request (its scoping, its refusals as this page's error).

    A page always wants the JSON answer: `format` and `limit` in its address are not the API's.
    """
    if "format" in request.args or "limit" in request.args:
        request.args = ImmutableMultiDict([(k, v) for k, v in request.args.items(multi=True) if k not in ("format", "limit")])
    try:
        answer = view(*args)
    except api.Refusal as exc:
        abort(exc.status, str(exc))
    response = answer[0] if isinstance(answer, tuple) else answer
    data = response.get_json()
    assert isinstance(data, dict)
    return data


def caller() -> Admin:
    found = current_admin()
    assert found is not None  # @page
    return found


def chosen_company() -> str:
    return request.args.get("company", "").strip()


def show(template: str, **context: Any) -> str:
    return render_template(template, **context)


# -- entry, login, logout ---------------------------------------------------------------------------------


@pages.get("/")
def home() -> ResponseReturnValue:
    return redirect(url_for("pages.overview" if current_admin() else "pages.login"))


@pages.get("/login")
def login() -> ResponseReturnValue:
    if current_admin() is not None:
        return redirect(url_for("pages.overview"))
    return show("login.html")


@pages.route("/logout", methods=["GET", "POST"])
def logout() -> ResponseReturnValue:
    """GET asks (a link cannot log anyone out); POST, with the form's CSRF token, ends the session."""
    if current_admin() is None:
        return redirect(url_for("pages.login"))
    if request.method == "POST":
        api.log_out()
        return redirect(url_for("pages.login"))
    return show("logout.html")


# -- what there is to see ------------------------------------------------------------------------------------


@pages.get("/overview")
@page
def overview() -> ResponseReturnValue:
    summary = from_api(api.overview)
    plan = from_api(api.plan)
    actions = plan["actions"]
    return show("overview.html", companies=summary["companies"], runs=summary["runs"],
                actions=actions[:PLAN_PAGE_ROWS], actions_total=max(plan["total"], len(actions)))


@pages.get("/log")
@page
def log() -> ResponseReturnValue:
    entries = from_api(api.actions)["entries"]
    filters = {name: request.args.get(name, "").strip() for name in ("company", "employee", "kind", "status", "since", "until")}
    chosen: dict[str, Any] = {k: v for k, v in filters.items() if v}
    export = url_for("api.actions", format="csv", **chosen)
    newest = list(reversed(entries))[:LOG_PAGE_ROWS]
    return show("log.html", entries=newest, total=len(entries), filters=filters, export=export, kinds=sorted(KINDS),
                statuses=LOG_STATUSES)


@pages.get("/held")
@page
def held() -> ResponseReturnValue:
    return show("held.html", held=from_api(api.held)["held"])


@pages.get("/people")
@page
def people_search() -> ResponseReturnValue:
    employee_id = request.args.get("employee_id", "").strip()
    if employee_id:
        values: dict[str, Any] = {"employee_id": employee_id, **_company_arg()}
        return redirect(url_for("pages.person", **values))
    return show("people.html")


@pages.get("/people/<employee_id>")
@page
def person(employee_id: str) -> ResponseReturnValue:
    found = from_api(api.person, employee_id)
    return show("person.html", p=found)


@pages.get("/rejected")
@page
def rejected() -> ResponseReturnValue:
    return show("rejected.html", rows=from_api(api.rejected)["rejected"])


@pages.get("/reviews")
@page
def reviews() -> ResponseReturnValue:
    return show("reviews.html", reviews=from_api(api.reviews)["reviews"])


@pages.get("/holds")
@page
def holds() -> ResponseReturnValue:
    return show("holds.html", holds=from_api(api.holds)["holds"])


@pages.get("/adoptions")
@page
def adoptions() -> ResponseReturnValue:
    return show("adoptions.html", adoptions=from_api(api.adoptions)["adoptions"])


@pages.errorhandler(HTTPException)
def refused(exc: HTTPException) -> ResponseReturnValue:
    if exc.code is None or exc.code < 400:
        return exc
    if current_admin() is None:
        return redirect(url_for("pages.login"))
    return show("error.html", code=exc.code, words=exc.description), exc.code


# -- what every template may use -----------------------------------------------------------------------------


def _company_arg() -> dict[str, str]:
    """The chosen company for the next page's address; not one refused (its links would be refused too)."""
    company, admin = chosen_company(), current_admin()
    return {"company": company} if company and admin is not None and admin.may_see(company) else {}


def _zone(company: str | None) -> Any:
    return current_app.config["SETTINGS"].company_zone(company or "")


@pages.app_template_filter("when")
def when(value: str | None, company: str | None = "") -> str:
    """A stored instant in the company's time zone; a plain date (an event's day) as it is."""
    if not value:
        return ""
    if len(value) == 10:
        return value
    try:
        return local_time(value, _zone(company))
    except ValueError:
        return value


@pages.app_template_filter("label")
def label(value: str | None) -> str:
    if not value:
        return ""
    return str(translations(g.get("lang", "zh-CN")).gettext(LABELS.get(value, value)))


@pages.app_template_filter("event")
def event(text: str) -> str:
    return event_words(text, translations(g.get("lang", "zh-CN")))


@pages.app_template_filter("standing")
def standing(text: str) -> str:
    return standing_words(text, translations(g.get("lang", "zh-CN")))


@pages.app_context_processor
def _page_context() -> dict[str, Any]:
    if request.blueprint != "pages":
        return {}
    admin = current_admin()
    settings = current_app.config["SETTINGS"]

    def link(endpoint: str, **values: Any) -> str:
        """A page's address keeping the chosen company."""
        return url_for(endpoint, **{**_company_arg(), **values})

    def language_link(language: str) -> str:
        query = {k: v for k, v in request.args.items() if k != "lang"}
        query["lang"] = language
        return f"{request.path}?{urlencode(query)}"

    def switch_link(company: str) -> str:
        query = {k: v for k, v in request.args.items() if k not in ("company", "lang")}
        if company:
            query["company"] = company
        return f"{request.path}?{urlencode(query)}" if query else request.path

    names = {c.code: c.name or c.code for c in settings.companies}
    return {
        "admin": admin,
        "lang": g.get("lang", "zh-CN"),
        "chosen_company": _company_arg().get("company", ""),
        "company_names": names,
        "switchable": admin is not None and len(admin.companies) > 1,
        "link": link,
        "language_link": language_link,
        "switch_link": switch_link,
        "zone_name": lambda company: str(_zone(company)),
    }


def _no_store(response: Response) -> Response:
    # Pages show one admin's companies: never kept by a shared cache or the browser's history.
    response.headers.setdefault("Cache-Control", "no-store")
    return response


pages.after_request(_no_store)
