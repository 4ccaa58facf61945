"""Pytest plugin: the test tiers, and the check that keeps them honest.

Two tiers: `servers` (a test that starts or uses a real server: slapd, Modoboa, Dovecot,
PostgreSQL/MariaDB, systemd, or the CLI in a subprocess) and the pure rest, which
`./scripts/test -m "not servers"` runs in seconds.  Benchmarks are not tests (bench/).

Nobody has to remember the marker:
- a test that uses one of `SERVER_FIXTURES` (directly or through another fixture) is marked
  `servers` at collection;
- a test not marked `servers` that starts a process (subprocess, fork, exec, spawn, found through
  Python's audit hooks) or opens a database connection other than SQLite (SQLAlchemy's `connect`
  event) fails, saying so.  A test that does this by itself, without a server fixture, carries
  `@pytest.mark.servers` (or `pytestmark = pytest.mark.servers` for its module).

Registered in tests/conftest.py (`pytest_plugins`); tests/test_tiers.py checks it.
"""

from __future__ import annotations

import sys
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import pytest

MARKER = "servers"

SERVER_FIXTURES = frozenset({
    "slapd", "demo_slapd",  # tests/conftest.py
    "modoboa_template", "modoboa_server", "dovecot_server",  # tests/mail_fixtures.py
})
"""The fixtures that start a server: a test using any of them, or a fixture built on one (`config`, `mail_backend`,
`dovecot`...), is in the servers tier."""

# The audit events (docs.python.org/3/library/audit_events.html) by which a process is started.
PROCESS_EVENTS = frozenset({
    "subprocess.Popen", "os.system", "os.posix_spawn", "os.spawn", "os.exec", "os.fork", "os.forkpty", "pty.spawn",
})


class NotInServersTier(RuntimeError):
    """A test outside the servers tier started a process or reached a database server."""


@dataclass
class _Running:
    nodeid: str
    pure: bool
    violations: list[str] = field(default_factory=list)
    """What it did that only the servers tier may do."""


# The tests running now, innermost last (pytester runs a session inside a test).
_running: list[_Running] = []


def _refuse(what: str) -> None:
    if not _running or not _running[-1].pure:
        return
    test = _running[-1]
    message = (f"{test.nodeid} {what}, but is not in the `{MARKER}` tier: use a server fixture "
               f"(tests/tiers.py SERVER_FIXTURES) or mark it @pytest.mark.{MARKER}")
    test.violations.append(message)
    raise NotInServersTier(message)


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event in PROCESS_EVENTS:
        started = args[1] if event == "subprocess.Popen" and len(args) > 1 else args[:1]
        _refuse(f"starts a process ({event}: {started!r})")


def _database_connect(dbapi_connection: Any, connection_record: Any) -> None:
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        _refuse(f"connects to a database server ({module})")


_installed = False


def _install_guards() -> None:
    """Once per process: audit hooks cannot be removed, so the hook itself asks whether a pure test runs."""
    global _installed
    if _installed:
        return
    _installed = True
    sys.addaudithook(_audit)
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    event.listen(Engine, "connect", _database_connect)


def pytest_configure(config: pytest.Config) -> None:
    _install_guards()  # the marker itself is declared in pyproject.toml ([tool.pytest.ini_options] markers)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(MARKER)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, object, object]:
    _running.append(_Running(item.nodeid, item.get_closest_marker(MARKER) is None))
    try:
        return (yield)
    finally:
        _running.pop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    yield
    # A test that caught the refusal (a launcher that wraps every error, say) still fails.
    if _running and _running[-1].violations:
        raise NotInServersTier(_running[-1].violations[0])
