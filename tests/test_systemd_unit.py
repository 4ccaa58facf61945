"""The shipped systemd unit: `systemd-analyze verify` clean, exposure <= 2.0, and the contract the daemon relies on.

Needs `systemd-analyze` (Debian package `systemd`); no running systemd.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "systemd" / "lifecycle.service"
SYSUSERS = ROOT / "systemd" / "lifecycle.sysusers"
TMPFILES = ROOT / "systemd" / "lifecycle.tmpfiles"
INSTALLED_BINARY = "/opt/hr-lifecycle/bin/lifecycle"
EXPOSURE_TARGET = 2.0


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("systemd-analyze")
    assert tool, "systemd-analyze is missing: apt-get install systemd"
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=60)


def directives(path: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


@pytest.fixture
def runnable_unit(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this checkout's `lifecycle` (verify checks that it exists)."""
    binary = Path(sys.executable).parent / "lifecycle"
    assert binary.exists(), f"{binary} missing: run ./scripts/bootstrap"
    text = UNIT.read_text(encoding="utf-8")
    assert text.count(INSTALLED_BINARY) == 1
    unit = tmp_path / "lifecycle.service"
    unit.write_text(text.replace(INSTALLED_BINARY, str(binary)), encoding="utf-8")
    return unit


@pytest.mark.servers  # systemd's tools
def test_unit_verifies_clean(runnable_unit: Path) -> None:
    result = analyze("verify", str(runnable_unit))
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stdout + result.stderr


@pytest.mark.servers  # systemd's tools
def test_unit_as_shipped_only_lacks_the_installed_binary() -> None:
    result = analyze("verify", str(UNIT))
    problems = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert problems == [f"lifecycle.service: Command {INSTALLED_BINARY} is not executable: No such file or directory"]


@pytest.mark.servers  # systemd's tools
def test_exposure_is_within_target(runnable_unit: Path) -> None:
    result = analyze("security", "--offline=yes", str(runnable_unit))
    match = re.search(r"Overall exposure level for lifecycle\.service: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= EXPOSURE_TARGET, result.stdout


def test_unit_keeps_the_daemons_contract() -> None:
    unit = directives(UNIT)
    assert unit["Type"] == ["notify"] and unit["NotifyAccess"] == ["main"]
    start = unit["ExecStart"][0].split()
    assert start[0] == INSTALLED_BINARY and start[-1] == "run" and "--log-json" in start
    assert start[start.index("--log-level") + 1] == "INFO"
    assert unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert int(unit["WatchdogSec"][0]) >= 30 and int(unit["TimeoutStopSec"][0]) >= 30
    assert unit["Restart"] == ["on-failure"]
    assert unit["User"] == ["lifecycle"] and unit["StateDirectory"] == ["lifecycle"]
    credentials = dict(value.split(":", 1) for value in unit["LoadCredential"])
    assert set(credentials) == {"ldap", "mail-token", "doveadm-key"}
    for key in ("ProtectSystem", "NoNewPrivileges", "PrivateTmp", "RestrictAddressFamilies", "SystemCallFilter", "MemoryMax"):
        assert key in unit, key
    # The example config reads the LDAP password where systemd puts the credential.
    example = tomllib.loads((ROOT / "config.example.toml").read_text(encoding="utf-8"))
    assert example["directory"]["bind_password_file"] == "/run/credentials/lifecycle.service/ldap"
    assert example["state"]["url"].startswith("sqlite:////var/lib/lifecycle/")  # inside StateDirectory=


@pytest.mark.servers  # systemd's tools
def test_sysusers_and_tmpfiles_are_valid(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    for name in ("passwd", "group"):
        shutil.copyfile(f"/etc/{name}", root / "etc" / name)
    users = subprocess.run(["systemd-sysusers", "--dry-run", f"--root={root}", str(SYSUSERS)],
                           capture_output=True, text=True, timeout=60)
    assert users.returncode == 0, users.stderr
    assert "Creating user 'lifecycle'" in users.stdout + users.stderr or "lifecycle" in (root / "etc" / "passwd").read_text()
    # tmpfiles resolves users on the host: check the lines with root standing in for the new user.
    stand_in = tmp_path / "lifecycle.conf"
    stand_in.write_text("".join(
        " ".join(fields[:3] + ["root" if f == "lifecycle" else f for f in fields[3:5]] + fields[5:]) + "\n"
        for fields in (line.split() for line in TMPFILES.read_text(encoding="utf-8").splitlines())
        if fields and not fields[0].startswith("#")), encoding="utf-8")
    made = subprocess.run(["systemd-tmpfiles", f"--root={root}", "--create", str(stand_in)], capture_output=True, text=True,
                          timeout=60)
    assert made.returncode == 0, made.stderr
    modes = {p: oct((root / p).stat().st_mode & 0o7777) for p in
             ("var/lib/lifecycle", "var/lib/lifecycle/hr", "var/lib/lifecycle/credentials", "var/lib/lifecycle/archive",
              "etc/lifecycle/credentials")}
    # 0711: Dovecot's mail user passes through to archive/ (0700: it writes there; Dovecot counts it, not the daemon).
    assert modes == {"var/lib/lifecycle": "0o711", "var/lib/lifecycle/hr": "0o2770", "var/lib/lifecycle/credentials": "0o700",
                     "var/lib/lifecycle/archive": "0o700", "etc/lifecycle/credentials": "0o700"}


def test_state_directory_mode_is_the_one_tmpfiles_gives_it() -> None:
    """systemd keeps an existing StateDirectory= as it is but warns when its mode differs: they must agree."""
    lines = [line.split() for line in TMPFILES.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    state = next(fields for fields in lines if fields[1] == "/var/lib/lifecycle")
    assert directives(UNIT)["StateDirectoryMode"] == [state[2]]


def test_archive_owner_is_left_to_the_admin() -> None:
    """The mail user's name differs between hosts (vmail with Modoboa's installer): tmpfiles sets the mode only."""
    lines = [line.split() for line in TMPFILES.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    archive = next(fields for fields in lines if fields[1] == "/var/lib/lifecycle/archive")
    assert archive[0] == "d" and archive[3] == "-" and archive[4] == "-"
    example = tomllib.loads((ROOT / "config.example.toml").read_text(encoding="utf-8"))
    assert example["mail"]["dovecot"]["archive_dir"] == archive[1]
