"""`RestHrSource`: an HR SaaS's employees as the cycle reads them (the `HrSource` and `HrWriteBack` ports).

A read is all or nothing: every department and every page is read before a row is made, and any
refusal on the way (after the token renewal and the retries, see `client`) fails the whole read
with a `FeedError`.  A half-read list would look like "these employees left".

- `age_seconds()` is `math.inf`: the rows are made once every page has come back, never from a
  half-written file; the API shows its state of the moment, which a later read corrects (a person
  moved between two pages of the read may be missed once: absence is only acted on after
  `[hr] absent_days`).
- One source lives across the daemon's cycles: its access token and its HTTP connections are
  kept from read to read; `close()` closes them.
- `fingerprint()` reads everything and digests the rows ("" when the read fails).  One read serves
  a whole cycle: the rows a `fingerprint()` fetched answer the `read()` that follows within 60 s
  (`READ_REUSE_SECONDS`) and, within `FINGERPRINT_REUSE_SECONDS` of being fetched, the other
  `fingerprint()` calls before that read (the quiet check's, then the cycle's "before" marker);
  the one `fingerprint()` right after the read (the "after" marker) gets that read's rows too,
  within `FINGERPRINT_REUSE_SECONDS` of it.  Anything else reads again, in particular the next
  cycle's quiet check (cycles at least that far apart); so does every call after a write-back (it
  changed what the vendor holds).  Rows served again are never newer than the plan's: the worst a
  change made meanwhile costs is one more full cycle, it is never missed.
- `write_back()` finds the user in the last read (one read is made first if the source has never
  read); an employee that read did not hold is an error, never another read of the whole org.
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
from connectors.hr_rest.records import DepartmentTree, Person, Rows, employee_key, rows_of
from connectors.hr_snapshot import build_snapshot
from lifecycle.domain.errors import FeedError, HrWriteBackError
from lifecycle.domain.hr_rest_settings import HrRestSettings
from lifecycle.domain.hr_settings import HrSettings
from lifecycle.domain.models import HrSnapshot

__all__ = ["Preset", "RestHrSource"]

READ_REUSE_SECONDS = 60.0  # a fingerprint's rows answer the read() that follows within this
FINGERPRINT_REUSE_SECONDS = 10.0  # rows answer another fingerprint() within this (see the module doc)


class Preset(Protocol):
    name: str

    def read(self, client: RestClient) -> tuple[list[Person], DepartmentTree]: ...


@dataclass(slots=True)
class _Fetched:
    """The rows of one full read, and how far they have served (see the module doc)."""

    rows: Rows
    at: float  # when they were fetched
    read_at: float | None = None  # when a read() used them
    followed: bool = False  # the fingerprint() after that read() used them
    stale: bool = False  # a write-back changed the vendor since


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
        self._last: _Fetched | None = None  # the last full read, while it may serve again
        self._known: Rows | None = None  # the last full read's rows, for write-back
        self.fetches = 0  # full reads of the org (tests, logs)

    @property
    def name(self) -> str:
        return self._where

    def close(self) -> None:
        """Close the HTTP connections (the daemon calls it when the source is replaced or the daemon stops)."""
        self.client.close()

    def read(self, today: date) -> HrSnapshot:
        with self._lock:
            last, now = self._last, self._clock()
            if last is not None and last.read_at is None and not last.stale and now - last.at < READ_REUSE_SECONDS:
                last.read_at = now
                fetched = last
            else:
                fetched = None
        if fetched is None:
            fetched = self._fetch()
            with self._lock:
                fetched.read_at = self._clock()
        return build_snapshot(fetched.rows.read, self.settings, self.company_aliases, today)

    def age_seconds(self) -> float | None:
        return math.inf

    def fingerprint(self) -> str:
        with self._lock:
            served = self._serve_fingerprint()
        if served is not None:
            return served
        try:
            return self._fetch().rows.read.fingerprint
        except FeedError:
            return ""

    def _serve_fingerprint(self) -> str | None:
        last, now = self._last, self._clock()
        if last is None or last.stale:
            return None
        if last.read_at is None and now - last.at < FINGERPRINT_REUSE_SECONDS:
            return last.rows.read.fingerprint
        if last.read_at is not None and not last.followed and now - last.read_at < FINGERPRINT_REUSE_SECONDS:
            last.followed = True
            return last.rows.read.fingerprint
        return None

    def write_back(self, employee_id: str, account: str, email: str) -> None:
        """Set the user's `[hr.rest] writeback_field` to `email` (the vendor keeps no account name)."""
        vendor = self.client.vendor.name
        if not self.rest.writeback:
            raise HrWriteBackError(f"{vendor}: [hr.rest] writeback is off; nothing was written for {employee_id}")
        write = getattr(self.preset, "write_back", None)
        if write is None:
            raise HrWriteBackError(f"{vendor}: this preset cannot write back")
        known = self._known
        if known is None:  # never read yet (a write-back is planned from a read, so only outside a cycle)
            try:
                known = self._fetch().rows
            except FeedError as exc:
                raise HrWriteBackError(f"{vendor}: cannot find employee {employee_id} to write back: {exc}") from exc
        field_name = self.rest.writeback_field
        if known.read.rows and not known.address_returned:
            raise HrWriteBackError(
                f"{vendor} returns no user's {field_name}, so an address written there could never be read back and "
                f"would be written again every cycle; nothing was written for {employee_id}; fix: give the app the "
                f"right to read the users' {field_name} (see docs/hr-sources.md), or set [hr.rest] writeback = false")
        users = known.users.get(employee_key(employee_id), ())
        if not users:
            raise HrWriteBackError(f"{vendor}: no user has the employee id {employee_id} in the last read of "
                                   f"{self._where}; nothing was written")
        if len(users) > 1:
            raise HrWriteBackError(f"{vendor}: the users {', '.join(users)} share the employee id {employee_id}; "
                                   "nothing was written; fix: give each its own employee id in the vendor")
        try:
            write(self.client, users[0], email)
        except RestError as exc:
            raise HrWriteBackError(f"{vendor} refused the work email of {employee_id} (user {users[0]}): {exc}") from exc
        finally:
            with self._lock:
                if self._last is not None:
                    self._last.stale = True  # the vendor holds something else now: the next call reads it

    def _fetch(self) -> _Fetched:
        """A full read of the org, kept as the last one."""
        with self._lock:
            self._last = None
        try:
            people, tree = self.preset.read(self.client)
        except RestError as exc:
            raise FeedError(f"cannot read the employees from {self._where}: {exc}; nothing is decided on a partial list, "
                            "the whole read is refused") from exc  # RestError: scrubbed
        rows = rows_of(people, tree, self.rest, self.defaults, self._where)
        fetched = _Fetched(rows, self._clock())
        with self._lock:
            self._last, self._known = fetched, rows
            self.fetches += 1
        return fetched
