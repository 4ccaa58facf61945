"""A state store that cannot be opened or written: one line naming the path, the cause and the fix.

The failures are real, not simulated: a tmpfs remounted read-only, a tmpfs
filled up in the middle of an apply, a path under a regular file, and a file
owned by root opened by `nobody` (root ignores permission bits, so that case
runs the CLI as another user).  Mounting needs root; without it these tests
are skipped, saying why.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.ldap import LdapDirectory
from lifecycle.cli.main import main
from lifecycle.domain.settings import load_settings
from lifecycle.journal.store import Journal

ROOT = Path(__file__).resolve().parent.parent
DAY_ONE = "2026-12-01T09:00"
SAMPLE_PEOPLE = 46  # accounts the sample export yields on day one (see test_cli_e2e)


def run(config: Path, capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out, err


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:  # the test suite runs as root (scripts/test): a skip would hide an untested path
        pytest.fail(f"cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN): {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def remount_read_only(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True, capture_output=True)


def state_at(config: Path, db: Path) -> Path:
    """The demo config with its state store at `db`."""
    text = config.read_text(encoding="utf-8")
    old = next(line for line in text.splitlines() if line.startswith("url = \"sqlite:"))
    config.write_text(text.replace(old, f'url = "sqlite:///{db}"'), encoding="utf-8")
    return config


def one_line(err: str) -> str:
    assert "Traceback" not in err, err
    assert err.count("\n") == 1 and err.startswith("lifecycle: "), err
    return err.strip()


def test_a_read_only_state_directory_is_named_with_its_fix(config: Path, tmp_path: Path, capsys) -> None:
    with tmpfs(tmp_path / "state", "4m") as mount:
        db = mount / "state.db"
        state_at(config, db)
        assert run(config, capsys, "apply", "--now", DAY_ONE)[0] == 0
        remount_read_only(mount)
        expected = (f"lifecycle: state store {db}: the file system at {mount} is mounted read-only; "
                    f"remount {mount} read-write, or set [state] url to a file")
        for args in (("plan",), ("apply",), ("log",), ("held",), ("hold", "100028", "--reason", "x")):
            code, _, err = run(config, capsys, *args)
            assert code == 1, args
            assert one_line(err).startswith(expected), (args, err)
        code, _out, err = run(config, capsys, "check")  # checks without writing (lifecycle.journal.check.check_state_store)
        assert code == 1 and "Traceback" not in err
        assert f"PROBLEM state store {db}: the file system at {mount} is mounted read-only; remount {mount} read-write" in err


def test_a_state_path_under_a_regular_file_is_named(config: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "not-a-dir").write_text("", encoding="utf-8")
    db = tmp_path / "not-a-dir" / "state.db"
    state_at(config, db)
    for args in (("plan",), ("log",)):
        code, _, err = run(config, capsys, *args)
        assert code == 1
        assert one_line(err) == (f"lifecycle: state store {db}: {tmp_path / 'not-a-dir'} is a file, not a directory; "
                                 "set [state] url to a file in a directory this user can write, "
                                 "e.g. sqlite:////var/lib/lifecycle/state.db")


@pytest.mark.servers  # the CLI in a subprocess
def test_a_state_file_another_user_owns_names_the_owner_and_the_fix(tmp_path: Path) -> None:
    """Run as `nobody` against root's state.db: the permissions are what refuse (root would not be refused)."""
    assert os.geteuid() == 0, "the test suite runs as root (scripts/test): this test runs the CLI as another user"
    home = Path(tempfile.mkdtemp(prefix="lifecycle-perm-"))  # tmp_path's parents are 0700: nobody could not reach it
    try:
        home.chmod(0o755)
        db = home / "state.db"
        Journal(f"sqlite:///{db}").close()  # root's file, mode 0644, in root's 0755 directory
        config = home / "config.toml"
        config.write_text(f"""[state]
url = "sqlite:///{db}"
[directory]
bind_password_file = "{home}/no-such-secret"
[[companies]]
code = "HQ"
domain = "example.com"
people_dn = "ou=hq,ou=people,dc=example,dc=com"
""", encoding="utf-8")
        config.chmod(0o644)
        for args in (("held",), ("hold", "100001", "--reason", "x")):
            done = subprocess.run(
                ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups",
                 sys.executable, "-m", "lifecycle.cli.main", "--config", str(config), *args],
                capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60,
            )
            assert done.returncode == 1, done.stderr
            assert one_line(done.stderr) == (f"lifecycle: state store {db}: the file is not writable by user nobody "
                                             f"(owner root, mode 0644); chown nobody: {db}")
    finally:
        subprocess.run(["rm", "-rf", str(home)], check=False)


def test_a_full_disk_in_the_middle_of_an_apply_stops_cleanly_and_the_next_run_completes(
    config: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    with tmpfs(tmp_path / "state", "16m") as mount:
        db = mount / "state.db"
        state_at(config, db)
        filler = mount / "filler"
        create_person = LdapDirectory.create_person
        created: list[str] = []

        def fill_the_disk_at_the_tenth(self, dn, *args, **kwargs):
            result = create_person(self, dn, *args, **kwargs)
            created.append(dn)
            if len(created) == 10:  # the write-ahead is done: the outcomes no longer fit
                with contextlib.suppress(OSError), open(filler, "wb", buffering=0) as handle:
                    while True:
                        handle.write(b"\0" * 65536)
            return result

        monkeypatch.setattr(LdapDirectory, "create_person", fill_the_disk_at_the_tenth)
        code, _, err = run(config, capsys, "apply", "--now", DAY_ONE)
        assert code == 1
        assert one_line(err).startswith(f"lifecycle: state store {db}: the file system at {mount} is full (")
        assert f"free space on {mount} (`df -h {mount}`), then run again" in err
        assert len(created) >= 10  # it did stop in the middle: accounts exist whose outcome is not recorded
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            pending = conn.execute("SELECT count(*) FROM action_log WHERE status = 'pending'").fetchone()[0]
        assert pending >= 1

        filler.unlink()
        monkeypatch.setattr(LdapDirectory, "create_person", create_person)
        code, _out, err = run(config, capsys, "apply", "--now", DAY_ONE)
        assert code == 0, err
        assert run(config, capsys, "plan", "--now", DAY_ONE)[0] == 0  # nothing left: the same end as an unbroken run
        settings = load_settings(config)
        with LdapDirectory(settings.directory, settings.companies) as ldap:
            assert len([e for e in ldap.read_snapshot().entries if e.employee_number]) == SAMPLE_PEOPLE
        with sqlite3.connect(db) as conn:
            statuses = dict(conn.execute("SELECT status, count(*) FROM action_log WHERE kind = 'create_account' GROUP BY status"))
        assert statuses == {"applied": SAMPLE_PEOPLE}  # the in-flight ones were settled as applied, none repeated
