"""Passwords in the console: the branch admin reveals a sealed initial password once; an employee changes theirs.

- Reveal ([accounts] initial_password_delivery = "console"): the daemon sealed the password into the state
  store (lifecycle.journal.sealed) with the key both processes load.  An admin whose role covers the
  person's company opens it once (page or API, with the session's CSRF token): the row is deleted and the
  reveal journalled (`password_revealed`: who, from where, why; never the password) in one transaction.
- `/password`, for everyone (no role needed): log in with the current (initial) password and set a new one.
  The directory changes it by a Password Modify as the person, under its password policy
  (connectors.ldap.login.DirectoryLogin.change_password); failed logins count in the login throttle.
  Until the person's bind succeeds, every refusal counts and reads the same whether the name is an account's
  or not (locked, expired, wrong password, unknown name, the account's own count used up under another name).

Nothing typed here reaches a log: a refusal is logged with the directory's uid at most.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from flask import Response, current_app, g, jsonify, render_template, request, session
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError

from connectors.ldap.login import DirectoryLogin, LoginRefused, PasswordRefused
from lifecycle.domain.errors import ConnectorError
from lifecycle.journal.sealed import Reveal, SealedPasswords
from lifecycle.web.access import client_address, current_admin, login_required
from lifecycle.web.api import Refusal, admin, api, journal, reason_of
from lifecycle.web.i18n import LANGUAGES, local_time
from lifecycle.web.pages import N_, page, pages
from lifecycle.web.throttle import LoginThrottle, Throttled, address_key, name_key

log = structlog.get_logger(__name__)

MAX_PASSWORD = 512  # characters: longer is not a password anyone types

# The directory's refusals of a new password, in words (the password policy's error names, then result names).
REFUSALS = {
    "passwordTooShort": N_("The new password is too short for the password policy."),
    "insufficientPasswordQuality": N_("The new password is not strong enough for the password policy: mix upper- and "
                                      "lower-case letters, digits and signs."),
    "passwordInHistory": N_("The new password was used before; choose one you have not used."),
    "passwordTooYoung": N_("The password was changed too recently to change it again; try again later."),
    "mustSupplyOldPassword": N_("The current password is needed to change it."),
    "changeAfterReset": N_("The password must be changed first: do it here, with the password you were given."),
    "passwordExpired": N_("The password has expired; ask your IT contact to reset it."),
    "accountLocked": N_("This account is locked; ask your IT contact."),
    "passwordModNotAllowed": N_("This account may not change its password; ask your IT contact."),
    "passwordTooLong": N_("The new password is too long for the password policy."),
}
CONSTRAINT = N_("The directory refused the new password: %(detail)s")
WRONG_LOGIN = N_("Wrong user name or current password.")
MISMATCH = N_("The two new passwords do not match.")
UNCHANGED = N_("The new password must differ from the current one.")
MISSING = N_("Fill in every field.")
TOO_LONG = N_("A password of this length is refused.")
THROTTLED = N_("Too many failed attempts; wait a few minutes and try again.")
UNREACHABLE = N_("The directory cannot be reached now; try again later.")
EXPIRED_FORM = N_("The form had expired; type the passwords again.")


def sealed_passwords() -> SealedPasswords | None:
    """The sealed passwords of console delivery; None when passwords are delivered otherwise."""
    sealed: SealedPasswords | None = current_app.config.get("SEALED_PASSWORDS")
    return sealed


# -- revealing an initial password -------------------------------------------------------------------------


def reveal_for(employee_id: str, reason: str) -> Reveal:
    """Reveal once, for an admin whose role covers the person's company; Refusal 404 otherwise, as for any
    person of another company (existence does not leak)."""
    sealed = sealed_passwords()
    if sealed is None:
        raise Refusal(404, 'initial passwords are not revealed in this console ([accounts] initial_password_delivery '
                           'is not "console")')
    caller = admin()
    not_yours = Refusal(404, f"no employee {employee_id} among your companies")
    # The company is checked in the reveal's own transaction (its delete), never on an earlier read.
    found = sealed.reveal(employee_id, companies=caller.visible(), actor=caller.uid, origin=caller.origin,
                          reason=reason, now=datetime.now(UTC))
    if found is None:
        raise not_yours
    if found.password is None and not found.revealed_by:  # nothing waiting: is the person one of the caller's?
        company = journal().company_of(employee_id)
        if company is None or not caller.may_see(company):
            raise not_yours
    return found


@api.post("/people/<employee_id>/initial-password")
@login_required
def reveal_initial_password(employee_id: str) -> Response:
    found = reveal_for(employee_id, reason_of(_json_body()))
    if found.password is None:
        raise Refusal(*_not_there(employee_id, found))
    response = jsonify(employee_id=employee_id, uid=found.uid, mail=found.mail, initial_password=found.password,
                       note="shown once: hand it over now; it is destroyed and cannot be shown again")
    response.headers["Cache-Control"] = "no-store"
    return response


def _json_body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise Refusal(400, "send a JSON object (Content-Type: application/json) with a reason")
    return data


def _not_there(employee_id: str, found: Reveal) -> tuple[int, str]:
    if found.revealed_by:
        return 409, (f"the initial password of {employee_id} was already revealed by {found.revealed_by} at "
                     f"{found.revealed_at}; it is shown once")
    return 404, f"no initial password is waiting for {employee_id}"


@pages.post("/people/<employee_id>/initial-password")
@page
def reveal_page(employee_id: str) -> ResponseReturnValue:
    reason = request.form.get("reason", "").strip()[:500]
    if not reason:
        return _no_store(render_template("reveal.html", employee_id=employee_id, found=None, missing_reason=True), 400)
    try:
        found = reveal_for(employee_id, reason)
    except Refusal as exc:
        return _no_store(render_template("error.html", code=exc.status, words=str(exc)), exc.status)
    company = current_app.config["SETTINGS"].company_zone("")
    revealed_at = local_time(found.revealed_at, company) if found.revealed_at else ""
    status = 200 if found.password is not None else 409 if found.revealed_by else 404
    return _no_store(render_template("reveal.html", employee_id=employee_id, found=found, revealed_at=revealed_at), status)


@pages.app_context_processor
def _initial_password_context() -> dict[str, Any]:
    def initial_password_waiting(employee_id: str) -> bool:
        """Whether the person page offers the reveal: console delivery, a row waiting, a company of the caller's."""
        sealed, caller = sealed_passwords(), current_admin()
        if sealed is None or caller is None:
            return False
        waiting = sealed.waiting(employee_id)
        return waiting is not None and caller.may_see(waiting.company)

    return {"initial_password_waiting": initial_password_waiting}


# -- changing one's own password ---------------------------------------------------------------------------


@pages.route("/password", methods=["GET", "POST"])
def change_password() -> ResponseReturnValue:
    """The form; POST changes the password of the account typed in (the person's own: they know its password)."""
    if request.method == "GET":
        return _form(200)
    form = request.form
    username = form.get("username", "")
    current, new, again = form.get("current", ""), form.get("new", ""), form.get("confirm", "")
    if not username.strip() or not current or not new or not again:
        return _form(400, MISSING)
    if max(len(current), len(new), len(again)) > MAX_PASSWORD or len(username) > 256:
        return _form(400, TOO_LONG)
    if new != again:
        return _form(400, MISMATCH)
    if new == current:
        return _form(400, UNCHANGED)
    throttle: LoginThrottle = current_app.config["LOGIN_THROTTLE"]
    keys = (name_key(username), address_key(client_address()))
    if not throttle.allows(keys):
        return _form(429, THROTTLED)
    login: DirectoryLogin = current_app.config["LOGIN"]
    try:
        uid = login.change_password(username, current, new, throttle.account_attempt)
    except (LoginRefused, Throttled) as exc:
        # The account's own count is over (under another of its names): answered as a wrong password, since
        # "too many" here would say that the name typed is an account's; counted like any other refusal.
        throttle.failed(keys)
        reason = "account_throttled" if isinstance(exc, Throttled) else "invalid_credentials"
        log.info("password_change_refused", reason=reason, address=client_address())
        return _form(401, WRONG_LOGIN)
    except PasswordRefused as exc:
        log.info("password_change_refused", reason=exc.reason, uid=exc.uid, address=client_address())
        words = REFUSALS.get(exc.reason)
        return _form(400, words) if words else _form(400, CONSTRAINT, detail=exc.detail or exc.reason)
    except ConnectorError as exc:
        log.warning("password_change_directory_error", error=str(exc))
        return _form(503, UNREACHABLE)
    log.info("password_changed", uid=uid, address=client_address())
    return _no_store(render_template("password_done.html", uid=uid), 200)


def _form(status: int, problem: str = "", **values: str) -> Response:
    """The form again, with `problem` (a message id) in words; the user name typed is kept, the passwords never."""
    username = request.form.get("username", "") if request.method == "POST" else ""
    return _no_store(render_template("password.html", problem=problem, values=values, username=username[:256]), status)


def _no_store(body: str, status: int) -> Response:
    response = Response(body, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"  # never kept: a password or a form to type one
    return response


@pages.errorhandler(CSRFError)
def _form_expired(exc: CSRFError) -> ResponseReturnValue:
    """A form posted without its session's token: the password form again; any other page as the app answers."""
    if request.endpoint == "pages.change_password":
        # The token is checked before the app picks the session's language: pick it here.
        chosen = session.get("lang")
        g.lang = chosen if chosen in LANGUAGES else current_app.config["WEB"].language
        return _form(400, EXPIRED_FORM)
    words = f"missing or wrong CSRF token ({exc.description}); reload the page and try again"
    return jsonify(error=words), 403
