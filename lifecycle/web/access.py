"""Who is logged in, and what they may see: the companies of their roles, nothing else.

A session is a random id in a signed cookie and a row in the state store (lifecycle.journal.console):
a logout or an idle timeout ends it for good, and the row says whose it is and for which companies.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, g, jsonify, request, session

from lifecycle.domain.dn import dn_key
from lifecycle.domain.web_settings import WebRole

ALL = "*"
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Admin:
    """A logged-in console user."""

    uid: str  # as the action log's actor (at most 64 characters)
    dn: str
    display_name: str
    companies: tuple[str, ...]  # the codes they may act for (every configured code for a group admin)
    group_admin: bool
    address: str

    @property
    def origin(self) -> str:
        return f"console {self.address}"

    def may_see(self, company: str) -> bool:
        """A company's data; "" (an HR row no company could be read from) is the group admins' alone."""
        return company in self.companies or (self.group_admin and company == "")

    def visible(self) -> list[str]:
        return [*self.companies, ""] if self.group_admin else list(self.companies)


def companies_of(roles: Sequence[WebRole], groups: Collection[str], all_codes: Sequence[str]) -> tuple[list[str], bool]:
    """(the companies, whether every one) of the roles whose group lists the person; the DNs compared as the server does."""
    member_of = {dn_key(g) for g in groups}
    chosen: set[str] = set()
    for role in roles:
        if dn_key(role.group_dn) in member_of:
            chosen.update(role.companies)
    if ALL in chosen:
        return list(all_codes), True
    return [code for code in all_codes if code in chosen], False


def new_session_id() -> tuple[str, str]:
    """(the id the cookie carries, the key the store keeps: its digest, so a leaked store opens no session)."""
    token = secrets.token_urlsafe(32)
    return token, session_key(token)


def session_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def client_address() -> str:
    return (request.remote_addr or "unknown")[:64]


def session_lifetimes() -> tuple[timedelta, timedelta]:
    web = current_app.config["WEB"]
    return timedelta(minutes=web.session_idle_minutes), timedelta(hours=web.session_max_hours)


def current_admin() -> Admin | None:
    """The admin of this request's session, once per request; None without a live session.

    Their companies are worked out anew from the groups that listed them at login and the roles
    configured now: a role taken out of [web], or a company added, counts at once.  A change of
    their groups in the directory counts at their next login (`session_max_hours` at the latest).
    """
    if "admin" in g:
        return g.admin  # type: ignore[no-any-return]
    admin = None
    token = session.get("sid")
    if isinstance(token, str):
        web = current_app.config["WEB"]
        row = current_app.config["JOURNAL"].session(session_key(token), datetime.now(UTC),
                                                    timedelta(minutes=web.session_idle_minutes),
                                                    timedelta(hours=web.session_max_hours))
        if row is not None:
            companies, everyone = companies_of(web.roles, row["groups"], current_app.config["COMPANY_CODES"])
            if companies:
                admin = Admin(row["uid"][:64], row["dn"], row["display_name"], tuple(companies), group_admin=everyone,
                              address=client_address())
        if admin is None:
            session.clear()
    g.admin = admin
    return admin


def login_required(view: F) -> F:
    """A JSON 401 without a live session."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_admin() is None:
            return jsonify(error="not logged in, or the session ended; log in again (POST /api/v1/session)"), 401
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]
