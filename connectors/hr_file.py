"""An HR source that is a file HR writes (`[hr] kind = "csv"` or `"xlsx"`): its name, age and digest.

The drivers (connectors.hr_csv, connectors.hr_xlsx) add only how the file is read.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping
from pathlib import Path

from lifecycle.domain.hr_settings import HrSettings

__all__ = ["HrFileSource", "file_digest"]


class HrFileSource:
    """The file named by `[hr] path`; `company_aliases` maps company codes, names and aliases to codes."""

    def __init__(self, settings: HrSettings, company_aliases: Mapping[str, str]) -> None:
        self.settings = settings
        self.company_aliases = dict(company_aliases)

    @property
    def name(self) -> str:
        return str(self.settings.path)

    def age_seconds(self) -> float | None:
        """Seconds since the file was last written; None when it cannot be told (gone since it was read)."""
        try:
            modified = os.stat(self.settings.path).st_mtime
        except OSError:
            return None
        return time.time() - modified

    def fingerprint(self) -> str:
        return file_digest(self.settings.path)


def file_digest(path: Path) -> str:
    """The file's sha256 ("" when it cannot be read): the fingerprint of a file source, without parsing it."""
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return ""
