"""Layers, checked mechanically: the policies are pure, connectors do not reach into the engine."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IO_MODULES = {"ldap3", "httpx", "sqlalchemy", "apscheduler", "connectors", "socket", "subprocess", "requests", "tenacity"}
ENGINE_SHELL = {"lifecycle.journal.store", "lifecycle.engine.apply", "lifecycle.engine.cycle", "lifecycle.cli.main", "devservers.demo"}


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_policies_import_no_io() -> None:
    offenders = {}
    for path in sorted((ROOT / "policies").glob("*.py")):
        bad = {m for m in imports(path) if m.split(".")[0] in IO_MODULES or m in ENGINE_SHELL}
        if bad:
            offenders[path.name] = sorted(bad)
    assert offenders == {}


def test_policies_do_not_open_files_or_read_the_clock() -> None:
    for path in sorted((ROOT / "policies").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        for forbidden in ("open(", "datetime.now(", "date.today(", "time.time(", "os.environ"):
            assert forbidden not in text, f"{path.name} uses {forbidden}"


def test_connectors_do_not_depend_on_the_engine_shell() -> None:
    for path in sorted((ROOT / "connectors").glob("*.py")):
        assert not {m for m in imports(path) if m in ENGINE_SHELL or m.startswith("policies")}, path.name


def test_every_action_kind_has_a_phase_and_a_symbol() -> None:
    from lifecycle.domain.models import ActionKind
    from lifecycle.engine.render import SYMBOLS
    from policies.engine import PHASES

    assert set(PHASES) == set(ActionKind) == set(SYMBOLS)
