"""Commands started by root run as the owner of the state directory (the service user), so no file
the service must write later (state.db, -wal, -shm, sealed passwords) is left owned by root."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devservers.demo import SAMPLE, write_config
from devservers.slapd import Slapd
from lifecycle.cli.main import main

SERVICE_UID = 64_991  # no passwd entry, like a DynamicUser= service


def run_forked(args: list[str], output: Path) -> int:
    """`lifecycle ARGS` in a child process (it gives up root for good), its stdout and stderr into `output`."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 70
        sink = open(output, "w", encoding="utf-8")  # noqa: SIM115 - kept open until the child exits
        try:
            sys.stdout = sys.stderr = sink  # pytest's capture objects are the parent's
            # This machine's Python keeps its standard library under /root (pyenv), which the service
            # user cannot read: what a run imports late is imported here first (a host's /usr/bin/python3 is readable).
            import encodings.idna  # noqa: F401

            code = main(args)
        finally:
            sink.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.fixture
def service_dir() -> Iterator[Path]:
    # Under /tmp with 0711 (pytest's tmp_path is root's 0700): the service user must reach it.
    top = Path(tempfile.mkdtemp(prefix="lc-owner-", dir="/tmp"))
    os.chmod(top, 0o711)
    state = top / "lib"
    state.mkdir(mode=0o700)
    os.chown(state, SERVICE_UID, SERVICE_UID)
    try:
        yield state
    finally:
        shutil.rmtree(top, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: root's command must become the service user")
def test_an_apply_started_by_root_leaves_only_files_the_service_user_owns(service_dir: Path, demo_slapd: Slapd) -> None:
    hr_path = service_dir / "employees.csv"
    shutil.copyfile(SAMPLE, hr_path)
    os.chmod(hr_path, 0o644)
    config = write_config(service_dir, demo_slapd, hr_path)
    os.chmod(config, 0o600)  # root's alone, as /etc/lifecycle/config.toml is not the service's to change
    os.chown(config, 0, 0)
    before = set(service_dir.rglob("*"))  # the config and what it names (written by root, as an admin would)
    output = service_dir.parent / "output.txt"
    code = run_forked(["--config", str(config), "apply", "--now", "2026-12-01"], output)
    assert code == 2 or code == 0, output.read_text(encoding="utf-8")
    made = [p for p in service_dir.rglob("*") if p not in before]
    assert service_dir / "state.db" in made and any(p.parent.name == "credentials" for p in made)
    assert {p.stat().st_uid for p in made} == {SERVICE_UID}, [(p, p.stat().st_uid) for p in made]

    assert run_forked(["--config", str(config), "log", "--limit", "1"], output) == 0
    assert "create_" in output.read_text(encoding="utf-8")
