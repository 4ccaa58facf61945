"""Running `lifecycle run` as a subprocess: a fake systemd notify socket, JSON log capture, deadlines."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from devservers.demo import BASE_DN, COMPANIES, SAMPLE, write_config
from devservers.slapd import Slapd

ROOT = Path(__file__).resolve().parent.parent
DEADLINE = 20.0  # seconds any single expected event may take on a slow CI machine


def wait_until(predicate: Callable[[], Any], timeout: float = DEADLINE, what: str = "condition") -> Any:
    """Poll until `predicate()` is truthy; return its value or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


class NotifySocket:
    """What systemd would receive: every datagram, with the time it arrived."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.messages: list[tuple[float, dict[str, str]]] = []
        self._closed = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._closed:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode("utf-8").splitlines() if "=" in line)
            self.messages.append((time.monotonic(), fields))

    def with_key(self, key: str, value: str | None = None) -> list[tuple[float, dict[str, str]]]:
        return [(t, m) for t, m in list(self.messages) if key in m and (value is None or m[key] == value)]

    def wait_for(self, key: str, value: str | None = None, after: float = 0.0, timeout: float = DEADLINE) -> dict[str, str]:
        found = wait_until(lambda: [m for t, m in self.with_key(key, value) if t >= after], timeout, f"{key}={value} on the notify socket")
        return found[0]

    def close(self) -> None:
        self._closed = True
        self.sock.close()


class Daemon:
    """`lifecycle --log-json run` in a subprocess; stdout parsed line by line as it arrives."""

    def __init__(self, config: Path, *, notify: NotifySocket | None = None, watchdog_usec: int | None = None,
                 env: dict[str, str] | None = None) -> None:
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("LIFECYCLE_", "NOTIFY_SOCKET", "WATCHDOG_"))}
        environ["PYTHONPATH"] = str(ROOT)
        if notify is not None:
            environ["NOTIFY_SOCKET"] = str(notify.path)
        if watchdog_usec is not None:
            environ["WATCHDOG_USEC"] = str(watchdog_usec)
        environ.update(env or {})
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lifecycle.cli.main", "--config", str(config), "--log-json", "--log-level", "INFO", "run"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environ, cwd=ROOT,
        )
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self.stderr = b""
        self._out = threading.Thread(target=self._read_stdout, daemon=True)
        self._out.start()
        self._err = threading.Thread(target=self._read_stderr, daemon=True)
        self._err.start()

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            text = raw.decode("utf-8", "replace").rstrip("\n")
            self.raw.append(text)
            try:
                self.lines.append(json.loads(text))
            except json.JSONDecodeError:
                self.lines.append({"event": "NOT JSON", "text": text})

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        self.stderr = self.process.stderr.read()

    # -- reading the log ----------------------------------------------------------------

    def events(self, name: str, **match: Any) -> list[dict[str, Any]]:
        return [line for line in list(self.lines) if line.get("event") == name and all(line.get(k) == v for k, v in match.items())]

    def wait_event(self, name: str, count: int = 1, timeout: float = DEADLINE, **match: Any) -> dict[str, Any]:
        def found() -> Any:
            events = self.events(name, **match)
            if len(events) >= count:
                return events[count - 1]
            if self.process.poll() is not None and len(self.events(name, **match)) < count:
                raise AssertionError(f"daemon exited ({self.process.returncode}) before {name}: {self.tail()}")
            return None

        return wait_until(found, timeout, f"{count} x {name} {match or ''}")

    def summaries(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events("cycle_summary") if kind is None or e["kind"] == kind]

    def tail(self, n: int = 15) -> str:
        return "\n".join(self.raw[-n:]) + "\nSTDERR: " + self.stderr.decode("utf-8", "replace")[-2000:]

    # -- talking to it --------------------------------------------------------------------

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self, timeout: float = DEADLINE) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        finally:
            self.kill()
        self._out.join(timeout=5)
        self._err.join(timeout=5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def metrics_url(self) -> str:
        return "http://" + self.wait_event("metrics_listening")["address"]

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.metrics_url() + path, timeout=5) as response:
                return response.status, response.read().decode("utf-8")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8")


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text format, or None."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        metric_name, _, label_text = head.partition("{")
        if metric_name != name:
            continue
        found = dict(part.split("=", 1) for part in label_text.rstrip("}").split(",") if "=" in part)
        if all(found.get(k, "").strip('"') == v for k, v in labels.items()):
            return float(value)
    return None


def append_config(config: Path, text: str) -> None:
    """Add TOML sections to a config written by `devservers.demo.write_config` (before its [[companies]])."""
    body = config.read_text(encoding="utf-8")
    head, sep, companies = body.partition("[[companies]]")
    config.write_text(head + text.strip() + "\n\n" + sep + companies, encoding="utf-8")


def backdate(path: Path, seconds: float = 3600) -> None:
    """An HR file written "now" is still settling for the guards; tests want it read at once."""
    past = time.time() - seconds
    os.utime(path, (past, past))


# -- a directory and a config to run against -------------------------------------------------

EVERY_SECOND = f"[schedule]\ncycle_minutes = {1 / 60!r}\n\n[service]\nmetrics_listen = \"127.0.0.1:0\"\n"
SMALL_EXPORT = """工号,姓名,姓,英文名,公司,部门,职务,上级工号,状态,入职日期,离职日期
100001,司马光,司马,Guang Sima,HQ,总经办,总裁,,在职,2015-03-01,
100002,上官婉儿,上官,,HQ,总经办,总裁助理,100001,在职,2019/7/15,
"""


@pytest.fixture
def demo_slapd(tmp_path: Path) -> Iterator[Slapd]:
    """The demo's directory tree on a throwaway slapd."""
    units = [f"ou=people,{BASE_DN}", *(f"ou={ou},ou=people,{BASE_DN}" for *_, ou in COMPANIES), f"ou=groups,{BASE_DN}"]
    with Slapd(tmp_path / "slapd", base_dn=BASE_DN, organizational_units=units) as server:
        try:
            yield server
        finally:
            resume(server)  # a test that paused it must not leave Slapd.stop() waiting


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path / "notify.sock")
    yield sock
    sock.close()


def pause(server: Slapd) -> None:
    """SIGSTOP: connections are accepted, nothing is answered (a hung server)."""
    server._process.send_signal(signal.SIGSTOP)


def resume(server: Slapd) -> None:
    if server._process is not None and server._process.poll() is None:
        server._process.send_signal(signal.SIGCONT)


def make_config(tmp_path: Path, slapd: Slapd, extra: str = "", rows: Sequence[str] = (), *, small: bool = False) -> Path:
    """The demo's config on `slapd`, a cycle a second; the shipped sample export, or two people.

    `extra` is appended to the [service] section (or starts new sections).
    """
    hr_path = tmp_path / "employees.csv"
    if small:
        hr_path.write_text(SMALL_EXPORT, encoding="utf-8")
    else:
        shutil.copyfile(SAMPLE, hr_path)
    if rows:
        with open(hr_path, "a", encoding="utf-8") as handle:
            handle.write("".join(row + "\n" for row in rows))
    backdate(hr_path)
    config = write_config(tmp_path, slapd, hr_path)
    append_config(config, EVERY_SECOND + extra)
    return config


def extra_people(count: int) -> list[str]:
    """`count` more HR rows (ids 200000...), all joiners of HQ's 研发部."""
    surnames, given = "王李张刘陈杨黄赵吴周徐孙马朱胡", "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚"
    rows = []
    for n in range(count):
        name = surnames[n % len(surnames)] + given[(n // len(surnames)) % len(given)] + given[n % len(given)]
        rows.append(f"{200000 + n},{name},,,HQ,研发部,工程师,,在职,2020-01-01,")
    return rows


def next_summary(daemon: Daemon, after: int, **match: Any) -> dict[str, Any]:
    """The first cycle summary after the `after`-th one that matches."""

    def found() -> Any:
        return [s for s in daemon.summaries()[after:] if all(s.get(k) == v for k, v in match.items())]

    return wait_until(found, what=f"a cycle summary {match}")[0]
