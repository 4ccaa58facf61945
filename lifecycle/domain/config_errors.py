"""A config file's validation errors, as one line per key: which key, what is wrong, what is allowed there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError


def format_validation_error(exc: ValidationError, path: Path) -> str:
    lines = [f"invalid configuration in {path}:"]
    for error in exc.errors(include_url=False, include_input=False):
        key = _dotted(error["loc"])
        if error["type"] == "extra_forbidden":
            allowed = _allowed_keys(error["loc"][:-1])
            lines.append(f"  {key}: unknown key; allowed here: {', '.join(allowed)}")
        elif error["type"] == "missing":
            lines.append(f"  {key}: required key is missing")
        else:
            message = error["msg"].removeprefix("Value error, ")
            lines.append(f"  {key or '(top level)'}: {message}")
    return "\n".join(lines)


def _dotted(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item}]" if parts else f"[{item}]"
        else:
            parts.append(str(item))
    return ".".join(parts)


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    from lifecycle.domain.settings import Settings

    model: Any = Settings
    for item in loc:
        if isinstance(item, int):
            continue
        annotation = model.model_fields[item].annotation
        model = next((a for a in getattr(annotation, "__args__", (annotation,)) if isinstance(a, type) and issubclass(a, BaseModel)), annotation)
    return sorted(getattr(model, "model_fields", {}))
