"""An admin's decision wakes the daemon: a cycle within seconds, not at the next scheduled one.

`lifecycle suspend` while the service runs, a suspension or a forward recorded in the console, an
approval: each changes the stored state, and the database bumps its state_version counter
(lifecycle.journal.state_version).  The daemon's main loop reads that one row every few seconds
between cycles; a version other than the one the last cycle left behind asks for a cycle now.
"""

from __future__ import annotations

import time
from collections.abc import Callable

POLL_SECONDS = 5.0


class DecisionWatch:
    """Says when the stored state changed since the last cycle ended (a decision made meanwhile)."""

    def __init__(self, poll_seconds: float = POLL_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._poll = poll_seconds
        self._clock = clock
        self._seen: int | None = None
        self._next = 0.0

    def cycle_ended(self, version: int | None) -> None:
        """The version the last cycle left behind (its own writes included); None: unknown, ask nothing."""
        self._seen = version

    def changed(self, version: Callable[[], int]) -> bool:
        """True once per change found, at most every `poll_seconds` (one single-row query each time)."""
        now = self._clock()
        if self._seen is None or now < self._next:
            return False
        self._next = now + self._poll
        found = version()
        if found == self._seen:
            return False
        self._seen = found
        return True
