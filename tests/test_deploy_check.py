"""Step 4 of the README's Deploy section: `lifecycle check` before the service ever ran.

- The check runs as systemd runs the service: the config names the secrets
  where systemd puts the service's credentials (/run/credentials/lifecycle.service/),
  and a `systemd-run -p LoadCredential=...` check gets them in its own
  $CREDENTIALS_DIRECTORY: config.example.toml, as installed, must read them there.
- The check creates nothing: the service creates its state store on its first
  start, as its own user (a root-owned state.db made by a check would lock it out).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devservers.dovecot import DovecotInstance
from devservers.modoboa import ModoboaInstance
from devservers.slapd import Slapd
from lifecycle.cli.main import main
from lifecycle.domain.errors import LifecycleError
from lifecycle.journal.check import check_state_store
from lifecycle.journal.store import Journal
from tests.as_user import run_as

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.toml"
STAND_IN_UID = 64_990  # no account on the host has it: a user that is not root nor the file's owner

HR_EXPORT = "employee_id,name,company,department,title,status,hire_date\n100001,张伟,HQ,财务部,会计,在职,2024-01-02\n"


def installed_example(tmp_path: Path, slapd: Slapd, modoboa: ModoboaInstance, dovecot: DovecotInstance) -> Path:
    """config.example.toml with what step 3's `editor` changes for this host; the secrets' paths untouched."""
    hr_path = tmp_path / "hr" / "employees.csv"
    hr_path.parent.mkdir()
    hr_path.write_text(HR_EXPORT, encoding="utf-8")
    os.utime(hr_path, (0, 0))  # an export HR dropped long ago
    edits = {
        'url = "sqlite:////var/lib/lifecycle/state.db"': f'url = "sqlite:///{tmp_path}/state/state.db"',
        'path = "/var/lib/lifecycle/hr/employees.csv"': f'path = "{hr_path}"',
        'url = "ldap://127.0.0.1:389"': f'url = "{slapd.url}"',
        'bind_dn = "cn=admin,dc=example,dc=com"': f'bind_dn = "{slapd.admin_dn}"',
        'initial_password_dir = "/var/lib/lifecycle/credentials"': f'initial_password_dir = "{tmp_path}/sealed"',
        'url = "http://127.0.0.1:8000"': f'url = "{modoboa.url}"',
        'api_url = "http://127.0.0.1:8080/doveadm/v1"': f'api_url = "{dovecot.api_url}"',
        'archive_dir = "/var/lib/lifecycle/archive"': f'archive_dir = "{dovecot.archive_dir}"',
    }
    text = EXAMPLE.read_text(encoding="utf-8")
    for line, edited in edits.items():
        assert text.count(line) == 1, line
        text = text.replace(line, edited)
    assert text.count("/run/credentials/lifecycle.service/") == 3
    config = tmp_path / "config.toml"
    config.write_text(text, encoding="utf-8")
    return config


def test_the_documented_check_reads_every_secret_from_its_credentials_directory_and_creates_nothing(
    slapd: Slapd, modoboa: ModoboaInstance, dovecot: DovecotInstance, tmp_path: Path, monkeypatch, capsys
) -> None:
    config = installed_example(tmp_path, slapd, modoboa, dovecot)
    # What systemd-run -p LoadCredential=ldap:... -p LoadCredential=mail-token:... gives the check.
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    for name, value in (("ldap", slapd.admin_password), ("mail-token", modoboa.token), ("doveadm-key", dovecot.api_key)):
        (credentials / name).write_text(value + "\n", encoding="utf-8")
        (credentials / name).chmod(0o400)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    for name in list(os.environ):
        if name.startswith("LIFECYCLE_"):
            monkeypatch.delenv(name)
    state_dir = tmp_path / "state"
    state_dir.mkdir()

    code = main(["--config", str(config), "check"])
    out, err = capsys.readouterr()

    assert code == 0, out + err
    assert f"state store: not created yet ({state_dir}/state.db" in out
    assert "directory: ok" in out and "mail: ok" in out
    assert list(state_dir.iterdir()) == []  # no state.db, -wal, -shm: the service creates them as its own user
    assert not (tmp_path / "sealed").exists()


def test_check_reports_a_store_that_is_not_there_yet_and_creates_none(config: Path, capsys) -> None:
    """The issue's case: a check run by root made a root-owned state.db that the service user could not write."""
    from lifecycle.domain.settings import load_settings

    database = Path(load_settings(config).state.url.removeprefix("sqlite:///"))
    assert not database.exists()

    code = main(["--config", str(config), "check"])
    out, err = capsys.readouterr()

    assert code == 0, out + err
    assert f"state store: not created yet ({database}" in out
    assert not database.exists() and not Path(f"{database}-wal").exists()


def test_check_reads_an_existing_store_without_leaving_a_file_behind(tmp_path: Path) -> None:
    database = tmp_path / "state.db"
    Journal(f"sqlite:///{database}").close()  # the service made it, and stopped
    before = sorted(p.name for p in tmp_path.iterdir())

    assert check_state_store(f"sqlite:///{database}") == f"ok (sqlite:///{database})"
    assert sorted(p.name for p in tmp_path.iterdir()) == before == ["state.db"]

    running = Journal(f"sqlite:///{database}")  # the service is running: its -wal and -shm exist
    try:
        running.load_state()
        assert check_state_store(f"sqlite:///{database}") == f"ok (sqlite:///{database})"
    finally:
        running.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.db"]


def as_stand_in_user(work) -> str:
    """`work()`'s answer (or its LifecycleError's message) computed by a child process running as STAND_IN_UID."""
    def answer() -> str:
        try:
            return work()
        except LifecycleError as exc:
            return f"LifecycleError: {exc}"

    return str(run_as(STAND_IN_UID, STAND_IN_UID, answer))


@pytest.fixture
def reachable_dir() -> Iterator[Path]:
    """A directory every user may pass through (pytest's own are root's 0700)."""
    directory = Path(tempfile.mkdtemp(prefix="lc-check-", dir="/tmp"))
    os.chmod(directory, 0o711)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: runs the check as another user")
@pytest.mark.servers  # the check in a forked process
def test_check_names_a_store_the_service_user_cannot_write(reachable_dir: Path) -> None:
    state_dir = reachable_dir / "lib"  # like /var/lib/lifecycle
    state_dir.mkdir()
    os.chown(state_dir, STAND_IN_UID, STAND_IN_UID)
    database = state_dir / "state.db"
    url = f"sqlite:///{database}"

    assert as_stand_in_user(lambda: check_state_store(url)).startswith("not created yet")

    Journal(url).close()  # made by root, 0644: what the check used to leave behind
    answer = as_stand_in_user(lambda: check_state_store(url))
    assert answer.startswith(f"LifecycleError: state store {database}: the file is not writable by user {STAND_IN_UID}")
    assert "owner root" in answer and f"chown {STAND_IN_UID}:" in answer

    os.chown(database, STAND_IN_UID, STAND_IN_UID)
    os.chown(state_dir, 0, 0)  # SQLite's -wal, -shm and the daemon's lock go next to the database
    answer = as_stand_in_user(lambda: check_state_store(url))
    assert answer.startswith(f"LifecycleError: state store {database}: directory {state_dir} is not writable by user {STAND_IN_UID}"), answer

    os.chmod(reachable_dir, 0o700)  # a directory on the way the user cannot enter
    answer = as_stand_in_user(lambda: check_state_store(url))
    assert answer == f"LifecycleError: state store {database}: Permission denied for user {STAND_IN_UID} ({database})", answer
