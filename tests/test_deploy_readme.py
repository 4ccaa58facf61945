"""The README's Deploy commands agree with what they install: the unit, its user and its credentials.

The commands themselves were run on systemd 252 (Debian 12); this keeps the
text and the files from drifting apart afterwards.
"""

from __future__ import annotations

import itertools
import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
UNIT = ROOT / "systemd" / "lifecycle.service"


def deploy_commands() -> list[list[str]]:
    """The shell commands of the Deploy section's code block (continuation lines joined, comments dropped)."""
    section = README.read_text(encoding="utf-8").split("\n## Deploy\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [shlex.split(line, comments=True) for line in block.replace("\\\n", " ").splitlines()]
    return [command for command in commands if command]


def unit_values(key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in UNIT.read_text(encoding="utf-8").splitlines() if line.startswith(f"{key}=")]


def test_the_check_runs_as_the_service_user_with_the_services_credentials() -> None:
    check = next(c for c in deploy_commands() if c[-1] == "check")
    assert check[0] == "systemd-run" and {"--pipe", "--wait"} <= set(check), check
    assert f"--uid={unit_values('User')[0]}" in check and f"--gid={unit_values('Group')[0]}" in check
    given = sorted(value.removeprefix("LoadCredential=") for flag, value in itertools.pairwise(check)
                   if flag == "-p" and value.startswith("LoadCredential="))
    assert given == sorted(unit_values("LoadCredential"))
    binary = unit_values("ExecStart")[0].split()[0]
    assert check[-2:] == [binary, "check"]
    assert not any(re.match(r"[A-Z_]+=", word) for word in check), "no environment override: the config as installed"


def test_every_credential_the_unit_loads_is_created_in_step_4() -> None:
    created = {c[-1] for c in deploy_commands() if c[:3] == ["install", "-m", "0600"] and c[3] == "/dev/null"}
    assert created == {value.split(":", 1)[1] for value in unit_values("LoadCredential")}


def test_the_files_the_steps_install_are_in_the_checkout() -> None:
    installed = [c[-2] for c in deploy_commands() if c[0] == "install" and c[-2] != "/dev/null"]
    assert installed and all((ROOT / source).is_file() for source in installed), installed
