"""The CLI as a process: output into a pipe that closes early, and `lifecycle run` with default options."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from devservers.demo import SAMPLE
from devservers.slapd import Slapd
from lifecycle.journal.schema import action_log
from lifecycle.journal.store import Journal
from tests.daemon_support import make_config, wait_until

ROOT = Path(__file__).resolve().parent.parent
LEAVER = "100028"


def cli(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "lifecycle.cli.main", "--config", str(config), *args]


def environment() -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")}, "PYTHONPATH": str(ROOT)}


@pytest.fixture
def long_log(tmp_path: Path) -> Path:
    """A config whose action log holds 3,000 entries for one employee; no directory answers."""
    db = tmp_path / "state.db"
    secret = tmp_path / "ldap-password"
    secret.write_text("not-used\n", encoding="utf-8")
    secret.chmod(0o600)
    hr = tmp_path / "employees.csv"
    shutil.copyfile(SAMPLE, hr)
    config = tmp_path / "config.toml"
    config.write_text(f"""[state]
url = "sqlite:///{db}"
[hr]
path = "{hr}"
[directory]
url = "ldap://127.0.0.1:9"
bind_password_file = "{secret}"
timeout_seconds = 2
[[companies]]
code = "SZ"
name = "深圳分公司"
domain = "sz.example.com"
people_dn = "ou=sz,ou=people,dc=example,dc=com"
""", encoding="utf-8")
    now = datetime.now(UTC).isoformat(timespec="seconds")
    journal = Journal(f"sqlite:///{db}")
    try:
        with journal.engine.begin() as conn:
            conn.execute(insert(action_log), [
                {"run_id": "seeded", "logged_at": now, "effective_at": now, "company": "SZ", "employee_id": LEAVER,
                 "kind": "note", "target": LEAVER, "changes": "{}", "rule": "admin", "reason": f"entry {n}",
                 "status": "recorded", "error": "", "actor": "test", "params": "{}"}
                for n in range(3000)
            ])
    finally:
        journal.close()
    return config


@pytest.mark.parametrize("args", [("log",), ("explain", LEAVER), ("log", "--format", "json")], ids=" ".join)
@pytest.mark.servers  # the CLI in a subprocess
def test_output_into_a_pipe_that_closes_early_ends_quietly(long_log: Path, args: tuple[str, ...]) -> None:
    """`lifecycle log | head -1`: no BrokenPipe traceback, the exit status a shell gives a SIGPIPE'd writer."""
    writer = subprocess.Popen(cli(long_log, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                              env=environment())
    head = subprocess.run(["head", "-1"], stdin=writer.stdout, capture_output=True, timeout=60)
    assert writer.stdout is not None
    writer.stdout.close()
    stderr = writer.stderr.read().decode() if writer.stderr else ""
    code = writer.wait(timeout=60)
    assert head.stdout.count(b"\n") == 1
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    assert code in (0, 141), stderr  # 0: everything fit in the pipe before head left (json is one write)
    if args[0] in ("log", "explain") and "json" not in args:
        assert code == 141, stderr  # line by line: the closed pipe is seen


def test_run_without_log_level_starts_reports_and_stops_cleanly(tmp_path: Path, demo_slapd: Slapd) -> None:
    """`lifecycle --log-json run`, no --log-level: INFO by default, one cycle, SIGTERM, exit 0."""
    config = make_config(tmp_path, demo_slapd)
    process = subprocess.Popen(cli(config, "--log-json", "run"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                               env=environment())
    lines: list[dict[str, Any]] = []

    def read() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            try:
                lines.append(json.loads(raw))
            except json.JSONDecodeError:
                lines.append({"event": "NOT JSON", "text": raw.decode("utf-8", "replace")})

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_until(lambda: any(line.get("event") == "cycle_summary" for line in lines) or process.poll() is not None,
                   what="a cycle summary")
        assert process.poll() is None, (process.returncode, process.stderr.read() if process.stderr else b"")
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    reader.join(timeout=5)
    stderr = process.stderr.read().decode() if process.stderr else ""
    assert code == 0, stderr
    events = [line.get("event") for line in lines]
    assert {"daemon_starting", "daemon_ready", "cycle_summary", "daemon_stopped"} <= set(events), events
    assert all(line.get("level") != "debug" for line in lines)  # the default level for `run` is INFO
    assert "Traceback" not in stderr and "AttributeError" not in stderr, stderr
