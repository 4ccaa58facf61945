"""Pytest plugin: a real Modoboa 2.12 for the mail tests.

Register with `pytest_plugins = ["tests.mail_fixtures"]` in tests/conftest.py.

- `modoboa_template` (session): deploys Modoboa once (~17 s) from the venv
  that scripts/install-modoboa builds (`$LIFECYCLE_MODOBOA_VENV`, default
  `.modoboa-venv`).  `LIFECYCLE_MODOBOA_TEMPLATE=DIR` keeps the deployed
  template in DIR across sessions (e.g. `.modoboa-template`, git-ignored).
- `modoboa_server` (session): that template running (runserver + private
  redis on free loopback ports) for the whole session; stopped at the end.
- `modoboa` (function): the running server reset to the clean template
  database (milliseconds): every test starts from an empty Modoboa with only
  the `admin` superuser and its token.
- `mail_settings` / `mail_backend` (function): a ModoboaBackend on it, with
  the pacing lifted (tests of the pacing set their own).

No test is skipped when Modoboa is missing: the fixture fails and says to
run scripts/install-modoboa.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from connectors.mail_modoboa import ModoboaBackend, ModoboaSettings
from devservers.dovecot import DovecotError, DovecotInstance
from devservers.modoboa import ModoboaError, ModoboaInstance

ROOT = Path(__file__).resolve().parent.parent


def modoboa_venv() -> Path:
    return Path(os.environ.get("LIFECYCLE_MODOBOA_VENV") or ROOT / ".modoboa-venv")


@pytest.fixture(scope="session")
def modoboa_template(tmp_path_factory: pytest.TempPathFactory) -> ModoboaInstance:
    kept = os.environ.get("LIFECYCLE_MODOBOA_TEMPLATE")
    template_dir = Path(kept).resolve() if kept else tmp_path_factory.mktemp("modoboa-template")
    try:
        return ModoboaInstance.build(template_dir, modoboa_venv())
    except ModoboaError as exc:
        pytest.fail(f"cannot deploy the Modoboa test instance: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def modoboa_server(modoboa_template: ModoboaInstance, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModoboaInstance]:
    try:
        modoboa_template.start(tmp_path_factory.mktemp("modoboa"))
    except ModoboaError as exc:
        pytest.fail(f"cannot start the Modoboa test instance: {exc}", pytrace=False)
    try:
        yield modoboa_template
    finally:
        modoboa_template.stop()


@pytest.fixture
def modoboa(modoboa_server: ModoboaInstance) -> ModoboaInstance:
    if modoboa_server.running:
        modoboa_server.reset()
    else:  # a test stopped it: come back clean
        modoboa_server.restart()
    return modoboa_server


@pytest.fixture
def mail_settings(modoboa: ModoboaInstance) -> ModoboaSettings:
    return ModoboaSettings(
        url=modoboa.url,
        token=SecretStr(modoboa.token),
        max_writes_per_second=1000.0,
        max_requests_per_minute=1_000_000.0,
        timeout_seconds=15.0,
        backoff_seconds=0.05,
    )


@pytest.fixture
def mail_backend(mail_settings: ModoboaSettings) -> Iterator[ModoboaBackend]:
    backend = ModoboaBackend(mail_settings)
    try:
        yield backend
    finally:
        backend.close()


# -- Dovecot beside it (IMAP logins, LMTP delivery, doveadm archives and sieve) ----------


@pytest.fixture(scope="session")
def dovecot_server(modoboa_server: ModoboaInstance, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotInstance]:
    instance = DovecotInstance(tmp_path_factory.mktemp("dovecot"), modoboa_server.db_path)
    try:
        instance.start()
    except DovecotError as exc:
        pytest.fail(f"cannot start the Dovecot test instance (scripts/install-dovecot): {exc}", pytrace=False)
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture
def dovecot(dovecot_server: DovecotInstance, modoboa: ModoboaInstance) -> DovecotInstance:
    """The session's Dovecot with no mail, sessions, archives or sent messages; Modoboa is clean too."""
    if not dovecot_server.running:
        dovecot_server.start()
    dovecot_server.reset()
    return dovecot_server
