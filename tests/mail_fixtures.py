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
- `dovecot_server` (session) / `dovecot` (function): a Dovecot beside it,
  reading Modoboa's database for mailboxes and checking IMAP passwords
  against the directory of the test: the `slapd` or `demo_slapd` the test
  uses (a test without one gets every login refused, saying why).  Moving to
  another test's directory ends the auth process (~20 ms; the next login
  starts one reading the new LDAP files); only going between "a directory"
  and "none" reloads the configuration (~40 ms).  `directory_login()` says
  how Dovecot finds people (the test slapd's admin as the lookup DN).

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
from devservers.dovecot_config import DirectoryLogin
from devservers.modoboa import ModoboaError, ModoboaInstance
from devservers.slapd import Slapd

ROOT = Path(__file__).resolve().parent.parent
# Where the tests' Dovecot sends a person whose initial password must still be changed.
PASSWORD_PAGE = "https://console.lifecycle.test/password"
DIRECTORY_FIXTURES = ("slapd", "demo_slapd")  # tests/conftest.py


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


def directory_login(slapd: Slapd, password_page: str = PASSWORD_PAGE) -> DirectoryLogin:
    """Dovecot's view of a test slapd: people found by mail under the base DN, with the admin as lookup DN."""
    return DirectoryLogin(slapd.url, slapd.base_dn, slapd.admin_dn, slapd.admin_password, password_page)


@pytest.fixture
def dovecot(dovecot_server: DovecotInstance, modoboa: ModoboaInstance, request: pytest.FixtureRequest) -> DovecotInstance:
    """The session's Dovecot with no mail, sessions, archives or sent messages; Modoboa is clean too.

    IMAP passwords are checked against the directory the test uses (`slapd` or `demo_slapd`, asked for by the
    test or by one of its fixtures); without one, every login is refused with the reason "no-directory".
    """
    used = [name for name in DIRECTORY_FIXTURES if name in request.fixturenames]
    if len(used) > 1:
        pytest.fail(f"the dovecot fixture serves one directory, this test uses {used}", pytrace=False)
    directory = directory_login(request.getfixturevalue(used[0])) if used else None
    if not dovecot_server.running:
        dovecot_server.directory = directory
        dovecot_server.start()
    dovecot_server.use_directory(directory)
    dovecot_server.reset()
    return dovecot_server


def mail_sections(modoboa: ModoboaInstance, dovecot: DovecotInstance | None = None, *, archive: bool | None = False) -> str:
    """A test config's [mail] (and [mail.dovecot]) on these servers, unthrottled; `archive`: archive_before_delete
    (None: the default)."""
    text = f"""
[mail]
url = "{modoboa.url}"
token = "{modoboa.token}"
max_writes_per_second = 1000
max_requests_per_minute = 1000000
"""
    if archive is not None:
        text += f"archive_before_delete = {'true' if archive else 'false'}\n"
    if dovecot is not None:
        text += f"""
[mail.dovecot]
api_url = "{dovecot.api_url}"
api_key = "{dovecot.api_key}"
archive_dir = "{dovecot.archive_dir}"
"""
    return text
