"""What the daemon wraps around a cycle: progress for the watchdog, counts for the metrics.

`apply_cycle` is used as it is; these thin wrappers around the directory and
the journal it is handed watch it from the outside.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import structlog

from connectors.ldap import LdapDirectory
from lifecycle.domain.errors import ConnectorError
from lifecycle.journal.action_log import ActionStatus
from lifecycle.journal.store import Journal
from lifecycle.runtime.metrics import Metrics


class Progress:
    """When the cycle in flight last moved; the watchdog trusts it, not the clock."""

    def __init__(self) -> None:
        self.running = False
        self.phase = ""
        self._last = time.monotonic()

    def begin(self) -> None:
        self.phase, self._last, self.running = "start", time.monotonic(), True

    def mark(self, phase: str) -> None:
        self.phase, self._last = phase, time.monotonic()

    def end(self) -> None:
        self.running = False

    def stalled_for(self) -> float:
        return time.monotonic() - self._last if self.running else 0.0


def count_error(metrics: Metrics, exc: BaseException, connector: str) -> None:
    if not getattr(exc, "_lifecycle_counted", False):
        metrics.errors.labels(connector).inc()
        exc._lifecycle_counted = True  # type: ignore[attr-defined]


class WatchedDirectory:
    """The directory as the cycle sees it: each call is progress, errors are counted, the snapshot is kept."""

    def __init__(self, inner: LdapDirectory, progress: Progress, metrics: Metrics) -> None:
        self._inner, self._progress, self._metrics = inner, progress, metrics
        self.snapshot: Any = None

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name.startswith("_") or not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self._progress.mark(f"directory.{name}")
            try:
                result = attr(*args, **kwargs)
            except ConnectorError as exc:
                count_error(self._metrics, exc, exc.connector or "directory")
                raise
            finally:
                self._progress.mark(f"directory.{name}")
            if name == "read_snapshot":
                self.snapshot = result
            return result

        return call


class DaemonJournal(Journal):
    """The journal, counting actions by kind and outcome and remembering the run id of the cycle."""

    def __init__(self, url: str, metrics: Metrics, progress: Progress) -> None:
        super().__init__(url)
        self.metrics, self.progress = metrics, progress
        self.last_run_id = ""
        self._kinds: dict[int, str] = {}

    def begin_run(self, *args: Any, **kwargs: Any) -> str:
        self.last_run_id = super().begin_run(*args, **kwargs)
        self._kinds.clear()
        return self.last_run_id

    def begin_action(self, run_id: str, action: Any, *args: Any, **kwargs: Any) -> int:
        self.progress.mark("journal.begin_action")
        action_id = super().begin_action(run_id, action, *args, **kwargs)
        self._kinds[action_id] = action.kind.value
        return action_id

    def finish_action(self, action_id: int, status: str, *args: Any, **kwargs: Any) -> None:
        super().finish_action(action_id, status, *args, **kwargs)
        self.progress.mark("journal.finish_action")
        kind = self._kinds.pop(action_id, None)
        if kind is not None:
            self.metrics.actions.labels(kind, status).inc()

    def begin_actions(self, run_id: str, rows: Any, *args: Any, **kwargs: Any) -> list[int]:
        """A batch's write-ahead rows (`pending`, or `skipped` already known): counted when they end."""
        rows = list(rows)
        self.progress.mark("journal.begin_actions")
        ids = super().begin_actions(run_id, rows, *args, **kwargs)
        for action_id, (action, status, _error) in zip(ids, rows, strict=True):
            if status == ActionStatus.PENDING:
                self._kinds[action_id] = action.kind.value
            else:
                self.metrics.actions.labels(action.kind.value, status).inc()
        return ids

    def finish_actions(self, outcomes: Any, *args: Any, **kwargs: Any) -> None:
        outcomes = list(outcomes)
        super().finish_actions(outcomes, *args, **kwargs)
        self.progress.mark("journal.finish_actions")
        for outcome in outcomes:
            kind = self._kinds.pop(outcome.action_id, None)
            if kind is not None:
                self.metrics.actions.labels(kind, outcome.status).inc()

    def record_actions(self, run_id: str, actions: Any, status: str, *args: Any, **kwargs: Any) -> Any:
        actions = list(actions)
        result = super().record_actions(run_id, actions, status, *args, **kwargs)
        if status != ActionStatus.HELD:  # held ones are re-recorded every cycle: see the gauge
            for action in actions:
                self.metrics.actions.labels(action.kind.value, status).inc()
        return result


class ToStructlog(logging.Handler):
    """Library warnings (APScheduler, SQLAlchemy...) as JSON lines like ours, with a run_id."""

    def __init__(self, run_id: str) -> None:
        super().__init__(logging.WARNING)
        self.run_id = run_id

    def emit(self, record: logging.LogRecord) -> None:
        try:
            extra = {} if "run_id" in structlog.contextvars.get_contextvars() else {"run_id": self.run_id}
            structlog.get_logger(record.name).log(record.levelno, record.getMessage(), **extra)
        except Exception:
            self.handleError(record)
