"""An error re-raised as one of ours keeps its cause (`raise ... from exc`), so a debug log shows
what really failed; only a message scrubbed of a secret may drop it (the cause's text could
carry the secret unscrubbed)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("lifecycle", "connectors", "policies")


def _raises_from_none(path: Path) -> list[tuple[int, str]]:
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.cause, ast.Constant) and node.cause.value is None:
            found.append((node.lineno, ast.get_source_segment(source, node) or ""))
    return found


def _scrubbed(path: Path, line: int, statement: str) -> bool:
    """The raise passes a scrubbed message, or a `message` made by _scrub just before it."""
    if "_scrub(" in statement:
        return True
    before = path.read_text(encoding="utf-8").splitlines()[max(0, line - 4) : line - 1]
    return "message" in statement and any("message = self._scrub(" in text for text in before)


def test_no_cause_is_thrown_away_unless_the_message_was_scrubbed_of_a_secret() -> None:
    offenders = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for line, statement in _raises_from_none(path):
                if not _scrubbed(path, line, statement):
                    offenders.append(f"{path.relative_to(ROOT)}:{line}: {statement.splitlines()[0]}")
    assert offenders == [], "use `raise ... from exc`:\n" + "\n".join(offenders)
