"""[resources] and [lists]: functional mailboxes and lists (lifecycle.domain.resources, policies.resources)."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ResourcesSettings(BaseModel):
    """Functional mailboxes and lists the admins declare in a file of their own."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    path: Path | None = Field(None, description="TOML file of [[mailboxes]] and [[lists]]; read every cycle")


class ListsSettings(BaseModel):
    """Mail lists that follow HR membership."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    department: bool = Field(False, description="a list per department, named by the pinyin of the department "
                             "(or as the resources file's [department_lists] says)")
    all_staff: bool = Field(False, description="a list per company of everyone employed there")
    all_staff_name: str = Field("all", description="the all-staff list's local part")

    @field_validator("all_staff_name")
    @classmethod
    def _local_part(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", value):
            raise ValueError(f"{value!r} must be lower-case a-z, 0-9, '.', '_' or '-' (the part before the @)")
        return value
