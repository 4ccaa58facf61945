"""An in-memory `HrSource`: the records a test (or a demo) says HR holds now."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date

from lifecycle.domain.errors import FeedError
from lifecycle.domain.models import HrRecord, HrSnapshot, RejectedRow

__all__ = ["InMemoryHrSource"]


class InMemoryHrSource:
    """The `HrSource` port (lifecycle.domain.ports) over records held in memory.

    Like the CSV export it stands for, it refuses a feed without a row, or whose every row was
    rejected (FeedError), and a snapshot's fingerprint changes exactly when its content does.
    `columns`: the canonical fields the feed carries (none: not told, and the vanished-column guard
    stays out of it).  `age_seconds`: how long ago HR last changed it (None: cannot tell).
    """

    def __init__(
        self,
        records: Iterable[HrRecord] = (),
        rejected: Iterable[RejectedRow] = (),
        *,
        name: str = "memory",
        columns: Iterable[str] = (),
        age_seconds: float | None = None,
    ) -> None:
        self._name = name
        self.records: tuple[HrRecord, ...] = tuple(records)
        self.rejected: tuple[RejectedRow, ...] = tuple(rejected)
        self.columns = tuple(sorted(columns))
        self.age: float | None = age_seconds
        self.failure: FeedError | None = None
        """Raised by the next reads instead of a snapshot (an unreadable export), until set back to None."""

    @property
    def name(self) -> str:
        return self._name

    def replace(self, records: Iterable[HrRecord], rejected: Iterable[RejectedRow] = ()) -> None:
        """HR's new export."""
        self.records, self.rejected = tuple(records), tuple(rejected)

    def read(self, today: date) -> HrSnapshot:
        if self.failure is not None:
            raise self.failure
        if not self.records:
            if self.rejected:
                raise FeedError(f"every one of the {len(self.rejected)} rows of {self.name} was rejected, so nothing is "
                                f"done with it; the first: {min(self.rejected, key=lambda r: r.row).message()}")
            raise FeedError(f"{self.name} has no rows; refusing to treat every employee as gone")
        content = repr((self.records, self.rejected, self.columns)).encode()
        return HrSnapshot(self.records, self.rejected, self.name, hashlib.sha256(content).hexdigest(), self.columns)

    def age_seconds(self) -> float | None:
        return self.age

    def fingerprint(self) -> str:
        try:
            return self.read(date.today()).fingerprint
        except FeedError:
            return ""
