"""`lifecycle web` as an admin starts it: a process of its own, on the daemon's config, without the daemon's secrets."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devservers.demo import BASE_DN, COMPANIES, CONSOLE_ACCOUNTS, SAMPLE, console_accounts, web_section, write_config
from devservers.slapd import Slapd

pytestmark = pytest.mark.servers
LIFECYCLE = Path(sys.executable).parent / "lifecycle"


@pytest.fixture
def lookup_slapd(tmp_path: Path) -> Iterator[Slapd]:
    units = [f"ou=people,{BASE_DN}", *(f"ou={ou},ou=people,{BASE_DN}" for *_, ou in COMPANIES), f"ou=groups,{BASE_DN}",
             f"ou=admins,{BASE_DN}", f"ou=roles,{BASE_DN}"]
    with Slapd(tmp_path / "slapd", base_dn=BASE_DN, organizational_units=units, anonymous_lookup=True) as server:
        server.start()
        console_accounts(server)
        yield server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def console_config(tmp_path: Path, slapd: Slapd) -> tuple[Path, int]:
    hr = tmp_path / "employees.csv"
    shutil.copyfile(SAMPLE, hr)
    config = write_config(tmp_path, slapd, hr)
    port = free_port()
    text = config.read_text(encoding="utf-8")
    # The daemon's directory secret is not there for the console: a path it cannot read.
    text = text.replace(f'bind_password_file = "{tmp_path / "ldap-password"}"', 'bind_password_file = "/nonexistent/ldap"')
    config.write_text(text + web_section(tmp_path, port), encoding="utf-8")
    (tmp_path / "ldap-password").unlink()
    return config, port


def start(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([str(LIFECYCLE), "--config", str(config), "web"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_until_answering(process: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


def test_the_console_runs_without_the_directory_password_and_stops_cleanly(tmp_path: Path, lookup_slapd: Slapd) -> None:
    config, port = console_config(tmp_path, lookup_slapd)
    process = start(config)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_answering(process, base + "/api/v1/session")
        uid, password, _ = CONSOLE_ACCOUNTS[1]  # the SZ branch admin
        with httpx.Client(base_url=base) as client:
            assert client.get("/api/v1/overview").status_code == 401
            login = client.post("/api/v1/session", json={"username": uid, "password": password})
            assert login.status_code == 200 and login.json()["companies"] == ["SZ"]
            overview = client.get("/api/v1/overview")
            assert overview.status_code == 200 and [c["company"] for c in overview.json()["companies"]] == ["SZ"]
            assert client.get("/api/v1/overview", params={"company": "GZ"}).status_code == 403
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "ldap-password" not in err and password not in err
    # Started by hand as a user who can read the daemon's HR export: it says so, and how to avoid it.
    assert "console_can_read_daemon_files" in err and "employees.csv" in err


@pytest.mark.parametrize(("change", "words"), [
    (lambda text: text.split("\n[web]")[0], "the config has no [web] section"),
    (lambda text: text.replace("session_secret_file", "session_secret = \"short\"\n# was"), "use 32 or more random ones"),
    (lambda text: text.replace('companies = ["SZ"]', 'companies = ["XX"]'), "unknown company code(s) ['XX']"),
])
def test_a_console_config_that_cannot_work_is_refused_in_one_line(tmp_path: Path, lookup_slapd: Slapd, change, words) -> None:
    config, _ = console_config(tmp_path, lookup_slapd)
    config.write_text(change(config.read_text(encoding="utf-8")), encoding="utf-8")
    process = start(config)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert words in err and "Traceback" not in err
