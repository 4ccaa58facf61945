"""The console's Flask application: sessions, CSRF, languages, security headers, errors.

Sessions are Flask's signed cookies (itsdangerous) carrying only a random id; the state store
holds the session itself (lifecycle.web.access).  CSRF tokens are Flask-WTF's, bound to the
session; every state-changing request must carry one in the `X-CSRF-Token` header.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask, Response, g, jsonify, request, session
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from connectors.ldap.login import DirectoryLogin
from lifecycle.domain.errors import StateStoreError
from lifecycle.domain.settings import Settings
from lifecycle.domain.web_settings import WebSettings
from lifecycle.journal.sealed import SealedPasswords, load_key
from lifecycle.journal.store import Journal
from lifecycle.web.i18n import LANGUAGES, translations
from lifecycle.web.throttle import LoginThrottle

SESSION_COOKIE = "lifecycle_session"


def create_app(settings: Settings, web: WebSettings, session_secret: str, journal: Journal, login: DirectoryLogin) -> Flask:
    """The console for `settings`, with `web`'s resolved secret (`serve.web_secrets`)."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=session_secret,
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=web.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=web.session_idle_minutes),
        WTF_CSRF_HEADERS=["X-CSRF-Token"],
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as its session
        WTF_CSRF_SSL_STRICT=False,  # scripts send no Referer; SameSite=Strict cookies already stop cross-site posts
        MAX_CONTENT_LENGTH=64 * 1024,
        JSON_SORT_KEYS=False,
        SETTINGS=settings,
        WEB=web,
        JOURNAL=journal,
        LOGIN=login,
        LOGIN_THROTTLE=LoginThrottle(web.login_failures, web.login_window_minutes),
        COMPANY_CODES=[c.code for c in settings.companies],
        SEALED_PASSWORDS=_sealed_passwords(settings, journal),
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    if web.proxy_hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=web.proxy_hops, x_proto=web.proxy_hops)  # type: ignore[method-assign]
    csrf = CSRFProtect(app)

    from lifecycle.web import forwards, interventions, passwords  # noqa: F401  (add their pages to pages and api)
    from lifecycle.web.api import api, log_in
    from lifecycle.web.pages import pages

    csrf.exempt(log_in)  # a login has no session yet to bind a token to
    app.register_blueprint(api)
    app.register_blueprint(pages)
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda text: _catalogue().gettext(text),
        lambda one, many, n: _catalogue().ngettext(one, many, n),
        newstyle=True,
    )

    @app.before_request
    def _language() -> None:
        chosen = request.args.get("lang")
        if chosen in LANGUAGES:
            session["lang"] = chosen
        g.lang = session.get("lang") if session.get("lang") in LANGUAGES else web.language

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if request.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError) -> tuple[Any, int]:
        words = f"missing or wrong CSRF token ({exc.description}); send the csrf_token of your session in X-CSRF-Token"
        return jsonify(error=words), 403

    @app.errorhandler(StateStoreError)
    @app.errorhandler(SQLAlchemyError)
    def _store_busy(exc: Exception) -> Any:
        """The state store is locked by a long cycle, or down: say so, and that a retry will do."""
        app.logger.warning("state_store_unavailable %s", type(exc).__name__)
        words = "the state store is busy or unreachable; try again in a moment"
        if request.path.startswith("/api/"):
            return jsonify(error=words), 503, {"Retry-After": "10"}
        return Response(words, status=503, mimetype="text/plain", headers={"Retry-After": "10"})

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        if request.path.startswith("/api/"):
            return jsonify(error=exc.description), exc.code
        return exc

    return app


def _sealed_passwords(settings: Settings, journal: Journal) -> SealedPasswords | None:
    """Console delivery's sealed passwords, opened with [accounts] password_key_file: the one key the console shares
    with the daemon on purpose (lifecycle.web.serve.readable_daemon_files leaves it out)."""
    accounts = settings.accounts
    if accounts.initial_password_delivery != "console" or accounts.password_key_file is None:
        return None
    return SealedPasswords(journal.engine, load_key(accounts.password_key_file))


def _catalogue() -> Any:
    return translations(g.get("lang", "zh-CN"))
