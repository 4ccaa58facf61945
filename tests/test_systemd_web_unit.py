"""The console's systemd unit: verify clean, exposure <= 2.0, and none of the daemon's secrets."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import pytest

from tests.test_systemd_unit import EXPOSURE_TARGET, INSTALLED_BINARY, ROOT, analyze, directives

UNIT = ROOT / "systemd" / "lifecycle-web.service"
DAEMON_UNIT = ROOT / "systemd" / "lifecycle.service"


@pytest.fixture
def runnable_unit(tmp_path: Path) -> Path:
    binary = Path(sys.executable).parent / "lifecycle"
    assert binary.exists(), f"{binary} missing: run ./scripts/bootstrap"
    unit = tmp_path / "lifecycle-web.service"
    unit.write_text(UNIT.read_text(encoding="utf-8").replace(INSTALLED_BINARY, str(binary)), encoding="utf-8")
    return unit


@pytest.mark.servers  # systemd's tools
def test_web_unit_verifies_clean(runnable_unit: Path) -> None:
    result = analyze("verify", str(runnable_unit))
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stdout + result.stderr


@pytest.mark.servers  # systemd's tools
def test_web_unit_exposure_is_within_target(runnable_unit: Path) -> None:
    result = analyze("security", "--offline=yes", str(runnable_unit))
    match = re.search(r"Overall exposure level for lifecycle-web\.service: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= EXPOSURE_TARGET, result.stdout


def test_web_unit_holds_no_group_wide_secret_and_is_hardened_like_the_daemons() -> None:
    unit, daemon = directives(UNIT), directives(DAEMON_UNIT)
    start = unit["ExecStart"][0].split()
    assert start[0] == INSTALLED_BINARY and start[-1] == "web" and "--log-json" in start
    assert unit["Type"] == ["notify"] and unit["User"] == daemon["User"] and unit["StateDirectory"] == daemon["StateDirectory"]
    credentials = dict(value.split(":", 1) for value in unit["LoadCredential"])
    assert set(credentials) == {"web-session"}  # not ldap, mail-token or doveadm-key
    hidden = {path.lstrip("-") for value in unit["InaccessiblePaths"] for path in value.split()}
    assert hidden == {"/run/credentials/lifecycle.service", "/var/lib/lifecycle/credentials", "/var/lib/lifecycle/hr",
                      "/var/lib/lifecycle/archive"}
    # ... which are where the example config keeps the daemon's files.
    example = tomllib.loads((ROOT / "config.example.toml").read_text(encoding="utf-8"))
    for path in (example["accounts"]["initial_password_dir"], example["hr"]["path"], example["mail"]["dovecot"]["archive_dir"]):
        assert any(str(path).startswith(h + "/") or str(path) == h for h in hidden), path
    hardening = {key for key in daemon if key.startswith(("Protect", "Private", "Restrict", "SystemCall", "NoNewPrivileges",
                                                            "MemoryDenyWriteExecute", "LockPersonality", "Capability"))}
    for key in hardening:
        assert unit.get(key) == daemon[key], key
    # The example config names the key where systemd puts the credential.
    example = tomllib.loads((ROOT / "config.example.toml").read_text(encoding="utf-8"))
    assert example["web"]["session_secret_file"] == "/run/credentials/lifecycle-web.service/web-session"
