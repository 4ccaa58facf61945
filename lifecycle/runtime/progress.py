"""Progress people can see: a bar on a terminal, a line now and then elsewhere, systemd's STATUS= for the daemon.

The engine reports a long step (an initial load of every account, a mailbox load at the mail
server's pace) through `lifecycle.domain.ports.ProgressSink` alone; these are its three sinks:

- `BarProgress`: a rich progress bar with counts, rate and time left, for a terminal;
- `LineProgress`: one plain line per interval (default 10 s) on a stream that is no terminal
  (a log file, cron's mail, a pipe); a step over before the first interval prints nothing;
- `StatusProgress`: the same line as the daemon's `STATUS=` (sd_notify), which
  `systemctl status` shows.

Each counts what `advance` is told: `done` units that ended fine and `failed` ones, both
part of the `total` given to `start`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from lifecycle.domain.ports import NO_PROGRESS, ProgressSink
from lifecycle.runtime.notify import Notifier

__all__ = ["BarProgress", "LineProgress", "StatusProgress", "Tally", "progress_for"]

DEFAULT_INTERVAL = 10.0
Clock = Callable[[], float]


@dataclass
class Tally:
    """One phase's counts, and the rate and time left they give at `now` (seconds of a monotonic clock)."""

    phase: str
    total: int
    started: float
    done: int = 0
    failed: int = 0

    @property
    def ended(self) -> int:
        return self.done + self.failed

    def rate(self, now: float) -> float | None:
        """Units per second since the start; None before any unit ended."""
        elapsed = now - self.started
        return self.ended / elapsed if self.ended and elapsed > 0 else None

    def seconds_left(self, now: float) -> float | None:
        rate = self.rate(now)
        return max(self.total - self.ended, 0) / rate if rate else None

    def describe(self, now: float) -> str:
        """"apply: 1,200/5,000 (24%), 3 failed, 40.0/s, 1m 35s left"; at the end, the time it took."""
        parts = [f"{self.phase}: {self.ended:,}/{self.total:,}" + (f" ({self.ended * 100 // self.total}%)" if self.total else "")]
        if self.failed:
            parts.append(f"{self.failed:,} failed")
        rate = self.rate(now)
        parts.append(f"{rate:,.1f}/s" if rate is not None else "-/s")
        if self.ended >= self.total:
            parts.append(f"done in {duration(now - self.started)}")
        else:
            left = self.seconds_left(now)
            parts.append(f"{duration(left)} left" if left is not None else "time left unknown")
        return ", ".join(parts)


def duration(seconds: float) -> str:
    """3s, 1m 35s, 2h 05m."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


class LineProgress:
    """One line per `interval` seconds on `stream` while a phase runs, and its last line when it ends."""

    def __init__(self, stream: TextIO | None = None, *, interval: float = DEFAULT_INTERVAL, clock: Clock = time.monotonic) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._interval, self._clock = interval, clock
        self._tally: Tally | None = None
        self._last_line = 0.0
        self._printed = False

    def start(self, phase: str, total: int) -> None:
        now = self._clock()
        self._tally, self._last_line, self._printed = Tally(phase, total, now), now, False

    def advance(self, done: int = 1, failed: int = 0) -> None:
        tally = self._tally
        if tally is None:
            return
        tally.done += done
        tally.failed += failed
        now = self._clock()
        if now - self._last_line >= self._interval:
            self._print(tally.describe(now))
            self._last_line = now

    def finish(self) -> None:
        tally, self._tally = self._tally, None
        if tally is not None and self._printed:  # a short step leaves no trace
            self._print(tally.describe(self._clock()))

    def _print(self, line: str) -> None:
        self._printed = True
        try:
            print(line, file=self._stream, flush=True)
        except (OSError, ValueError):  # the reader went away: progress is no reason to fail the run
            pass


class StatusProgress:
    """The progress line as systemd's `STATUS=`, at most once per `interval` seconds.

    `status` makes the whole STATUS= text from the progress line (the daemon adds its own
    words around it); `line` is the last line reported, "" outside a phase.
    """

    def __init__(
        self, notifier: Notifier, *, interval: float = DEFAULT_INTERVAL, clock: Clock = time.monotonic,
        status: Callable[[str], str] | None = None,
    ) -> None:
        self._notifier, self._interval, self._clock = notifier, interval, clock
        self._status = status or (lambda line: line)
        self._tally: Tally | None = None
        self._last_report = 0.0
        self.line = ""

    def start(self, phase: str, total: int) -> None:
        now = self._clock()
        self._tally = Tally(phase, total, now)
        self._report(now)

    def advance(self, done: int = 1, failed: int = 0) -> None:
        tally = self._tally
        if tally is None:
            return
        tally.done += done
        tally.failed += failed
        now = self._clock()
        if now - self._last_report >= self._interval or tally.ended >= tally.total:
            self._report(now)

    def finish(self) -> None:
        self._tally = None
        self.line = ""  # the daemon's own status comes back

    def _report(self, now: float) -> None:
        assert self._tally is not None
        self.line = self._tally.describe(now)
        self._last_report = now
        self._notifier.status(self._status(self.line))


class _RateColumn(ProgressColumn):
    """Units per second (rich has this for bytes only)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.1f}/s" if speed is not None else "-/s", style="progress.data.speed")


class _FailedColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        failed = task.fields.get("failed", 0)
        return Text(f"{failed:,} failed" if failed else "", style="red")


class BarProgress:
    """A rich progress bar on a terminal (stderr by default): counts, rate, time elapsed and left."""

    def __init__(self, console: Console | None = None) -> None:
        self._console = console if console is not None else Console(stderr=True)
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._failed = 0

    def start(self, phase: str, total: int) -> None:
        self.finish()
        if total <= 0:
            return  # nothing to show
        self._failed = 0
        self._bar = Progress(
            TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("[progress.percentage]{task.percentage:>3.0f}%"), _FailedColumn(), _RateColumn(),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=self._console,
        )
        self._bar.start()
        self._task = self._bar.add_task(phase, total=total, failed=0)

    def advance(self, done: int = 1, failed: int = 0) -> None:
        if self._bar is None or self._task is None:
            return
        self._failed += failed
        self._bar.update(self._task, advance=done + failed, failed=self._failed)

    def finish(self) -> None:
        bar, self._bar, self._task = self._bar, None, None
        if bar is not None:
            bar.stop()


def progress_for(choice: str, stream: TextIO | None = None) -> ProgressSink:
    """The sink `--progress` asks for: "auto" (a bar on a terminal, lines otherwise), "bar", "lines" or "none"."""
    stream = stream if stream is not None else sys.stderr
    if choice == "none":
        return NO_PROGRESS
    if choice == "bar" or (choice == "auto" and _is_terminal(stream)):
        return BarProgress(Console(file=stream))
    return LineProgress(stream)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
