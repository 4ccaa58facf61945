"""`lifecycle web`: the console's process.

It reads the daemon's config file but needs none of its secrets: only the state store, the
directory's address, and `[web]` (the key that signs sessions; optionally a read-only lookup
account).  It serves with waitress, a production WSGI server; put a TLS proxy in front.
"""

from __future__ import annotations

import os
import signal
from types import FrameType

import structlog

from lifecycle.domain.errors import ConfigError
from lifecycle.domain.settings import Secret, Settings, read_secret
from lifecycle.domain.web_settings import WebSettings

log = structlog.get_logger(__name__)

SESSION_SECRET = Secret("web", "session_secret", "a random key of 32 or more characters (e.g. `openssl rand -hex 32`)")
LOOKUP_SECRET = Secret("web", "lookup_password", "the password of [web] lookup_bind_dn")


def web_secrets(web: WebSettings) -> tuple[str, str]:
    """(session key, lookup password or ""); ConfigError naming the key and the file, never the value."""
    try:
        key = read_secret(web, SESSION_SECRET).get_secret_value()
        lookup = read_secret(web, LOOKUP_SECRET).get_secret_value() if web.lookup_bind_dn else ""
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    if len(key) < 32:
        raise ConfigError(f"[web] session_secret is {len(key)} characters long; use 32 or more random ones "
                          "(e.g. `openssl rand -hex 32 > FILE`)")
    return key, lookup


def build_console(settings: Settings):  # type: ignore[no-untyped-def]
    """The console's WSGI application for `settings` (ConfigError without a usable [web])."""
    from connectors.ldap.login import DirectoryLogin
    from lifecycle.journal.store import Journal
    from lifecycle.web.app import create_app

    web = settings.web
    if web is None:
        raise ConfigError("the config has no [web] section; add one (see config.example.toml) to run the console")
    if not web.roles:
        raise ConfigError("[web] has no [[web.roles]]: nobody could log in; map a directory group to companies")
    key, lookup = web_secrets(web)
    journal = Journal(settings.state.url)  # refuses a store behind this code's schema: the daemon upgrades it
    login = DirectoryLogin(settings.directory.url, settings.directory.base_dn, settings.directory.timeout_seconds,
                           web.lookup_bind_dn, lookup)
    return create_app(settings, web, key, journal, login)


def readable_daemon_files(settings: Settings) -> list[str]:
    """The daemon's secrets and data this process could read: none, under lifecycle-web.service.

    [accounts] password_key_file is not one of them: with console delivery the daemon seals initial passwords
    with it and the console opens them (one reveal each), so both are given that key on purpose.
    """
    hr = settings.hr
    paths = [settings.accounts.initial_password_dir]
    if hr.is_file:
        paths.append(hr.path)
    if hr.sql is not None and hr.sql.url_file is not None:
        paths.append(hr.sql.url_file)  # HR's database, password included
    if hr.rest is not None and hr.rest.app_secret_file is not None:
        paths.append(hr.rest.app_secret_file)
    if settings.mail is not None and settings.mail.dovecot is not None:
        paths.append(settings.mail.dovecot.archive_dir)
    return [str(path) for path in paths if os.access(path, os.R_OK)]


def run_console(settings: Settings) -> int:
    """Serve until SIGTERM/SIGINT; tell systemd when ready."""
    from waitress import create_server

    from lifecycle.runtime.notify import Notifier

    app = build_console(settings)
    assert settings.web is not None
    exposed = readable_daemon_files(settings)
    if exposed:
        log.warning("console_can_read_daemon_files", paths=exposed,
                    fix="run the console as systemd/lifecycle-web.service does (InaccessiblePaths= hides them), "
                        "or as a user that cannot read them")
    host, _, port = settings.web.listen.rpartition(":")
    try:
        server = create_server(app, host=host.strip("[]"), port=int(port), threads=8, ident="lifecycle")
    except OSError as exc:
        raise ConfigError(f"[web] listen {settings.web.listen}: {exc.strerror}; choose a free address") from exc

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("console_stopping", signal=signal.Signals(signum).name)
        server.close()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    notifier = Notifier()
    log.info("console_listening", listen=settings.web.listen, base_url=settings.web.base_url)
    notifier.send("READY=1")
    try:
        server.run()
    except OSError:
        pass  # the listening socket closed by stop()
    finally:
        notifier.send("STOPPING=1")
        app.config["JOURNAL"].close()
    return 0
