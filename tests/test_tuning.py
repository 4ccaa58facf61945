"""The speed and memory tricks live in lifecycle/engine/tuning.py alone, and only the cycle calls them."""

from __future__ import annotations

import ast
import gc
from pathlib import Path

from lifecycle.engine import tuning

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("lifecycle", "connectors", "policies")
TUNING = Path("lifecycle/engine/tuning.py")
CYCLE = Path("lifecycle/engine/cycle.py")


def _product_modules() -> list[tuple[Path, ast.Module]]:
    found = []
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            found.append((path.relative_to(ROOT), ast.parse(path.read_text(encoding="utf-8"))))
    return found


def test_the_cyclic_collector_pause_nests_and_keeps_a_collector_disabled_on_purpose() -> None:
    assert gc.isenabled()
    with tuning.gc_paused():
        assert not gc.isenabled()
        with tuning.gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner pause leaves the outer one alone
    assert gc.isenabled()
    gc.disable()
    try:
        with tuning.gc_paused():
            pass
        assert not gc.isenabled()  # disabled before: stays so
    finally:
        gc.enable()


def test_the_heap_trim_asks_glibc_without_starting_a_process() -> None:
    # glibc's malloc_trim exists on the systems the product targets; found in the process's own symbols
    # (ctypes.util.find_library would run ldconfig: a fork of a process at its peak size, every cycle).
    assert tuning.trim_heap() is True


def test_no_gc_heap_or_module_tricks_outside_tuning() -> None:
    """The garbage collector, malloc_trim and sys.modules are touched in tuning.py only."""
    offenders = []
    for path, tree in _product_modules():
        if path == TUNING:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import) and any(a.name == "gc" for a in node.names):
                offenders.append(f"{path}:{node.lineno} imports gc")
            elif isinstance(node, ast.ImportFrom) and node.module == "gc":
                offenders.append(f"{path}:{node.lineno} imports from gc")
            elif isinstance(node, ast.Attribute) and node.attr == "malloc_trim":
                offenders.append(f"{path}:{node.lineno} calls malloc_trim")
            elif isinstance(node, ast.Attribute) and node.attr == "modules" and getattr(node.value, "id", "") == "sys":
                offenders.append(f"{path}:{node.lineno} uses sys.modules")
    assert offenders == []


def test_only_the_cycle_calls_tuning() -> None:
    callers = []
    for path, tree in _product_modules():
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if any(name == "lifecycle.engine.tuning" for name in names):
                callers.append(path)
    assert callers == [CYCLE]
