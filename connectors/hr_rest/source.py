"""`RestHrSource`: an HR SaaS's employees as the cycle reads them (the `HrSource` and `HrWriteBack` ports).

A read is all or nothing: every department and every page is read before a row is made, and any
refusal on the way (after the token renewal and the retries, see `client`) fails the whole read
with a `FeedError`.  A half-read list would look like "these employees left".

- `age_seconds()` is `math.inf`: the rows are made once every page has come back, never from a
  half-written file; the API shows its state of the moment, which a later read corrects (a person
  moved between two pages of the read may be missed once: absence is only acted on after
  `[hr] absent_days`).
- `fingerprint()` reads everything and digests the rows ("" when the read fails).  The rows it read
  are kept for a minute, and the next `read()` uses them instead of reading again: the quiet check
  and the cycle that follows it see the same rows and cost one read.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from connectors.hr_rest.client import RestClient, RestError
from connectors.hr_rest.records import DepartmentTree, Person, rows_of
from connectors.hr_snapshot import RowsRead, build_snapshot
from lifecycle.domain.errors import FeedError, HrWriteBackError
from lifecycle.domain.hr_rest_settings import HrRestSettings
from lifecycle.domain.hr_settings import HrSettings
from lifecycle.domain.models import HrSnapshot

__all__ = ["Preset", "RestHrSource"]

REUSE_SECONDS = 60.0


class Preset(Protocol):
    name: str

    def read(self, client: RestClient) -> tuple[list[Person], DepartmentTree]: ...


@dataclass(frozen=True, slots=True)
class _Fetched:
    rows: RowsRead
    user_keys: dict[str, str]  # employee id -> the vendor's user id
    at: float


class RestHrSource:
    """The employees of `[hr.rest]` (see the module doc)."""

    def __init__(self, settings: HrSettings, company_aliases: Mapping[str, str], preset: Preset, client: RestClient,
                 defaults: Mapping[str, str], where: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        assert settings.rest is not None
        self.settings = settings
        self.rest: HrRestSettings = settings.rest
        self.company_aliases = dict(company_aliases)
        self.preset = preset
        self.client = client
        self.defaults = dict(defaults)
        self._where = where
        self._clock = clock
        self._lock = threading.Lock()
        self._kept: _Fetched | None = None  # rows fetched by fingerprint(), for the next read()
        self._user_keys: dict[str, str] = {}

    @property
    def name(self) -> str:
        return self._where

    def read(self, today: date) -> HrSnapshot:
        with self._lock:
            kept, self._kept = self._kept, None
        fetched = kept if kept is not None and self._clock() - kept.at < REUSE_SECONDS else self._fetch()
        # The rows carry the canonical field names: the [hr.columns] of an export do not apply.
        return build_snapshot(fetched.rows, self.settings.model_copy(update={"columns": {}}), self.company_aliases, today)

    def age_seconds(self) -> float | None:
        return math.inf

    def fingerprint(self) -> str:
        try:
            fetched = self._fetch()
        except FeedError:
            return ""
        with self._lock:
            self._kept = fetched
        return fetched.rows.fingerprint

    def write_back(self, employee_id: str, account: str, email: str) -> None:
        """Set the user's `[hr.rest] writeback_field` to `email` (the vendor keeps no account name)."""
        vendor = self.client.vendor.name
        if not self.rest.writeback:
            raise HrWriteBackError(f"{vendor}: [hr.rest] writeback is off; nothing was written for {employee_id}")
        write = getattr(self.preset, "write_back", None)
        if write is None:
            raise HrWriteBackError(f"{vendor}: this preset cannot write back")
        key = self._user_keys.get(employee_id)
        if key is None:
            try:
                key = self._fetch().user_keys.get(employee_id)
            except FeedError as exc:
                raise HrWriteBackError(f"{vendor}: cannot find employee {employee_id} to write back: {exc}") from exc
        if key is None:
            raise HrWriteBackError(f"{vendor}: no user has the employee id {employee_id}; nothing was written")
        try:
            write(self.client, key, email)
        except RestError as exc:
            raise HrWriteBackError(f"{vendor} refused the work email of {employee_id} (user {key}): {exc}") from exc

    def _fetch(self) -> _Fetched:
        try:
            people, tree = self.preset.read(self.client)
        except RestError as exc:
            raise FeedError(f"cannot read the employees from {self._where}: {exc}; nothing is decided on a partial list, "
                            "the whole read is refused") from exc  # RestError: scrubbed
        rows, user_keys = rows_of(people, tree, self.rest, self.defaults, self._where)
        self._user_keys = user_keys
        return _Fetched(rows, user_keys, self._clock())
