"""The exception tree, split by what the engine does next (kopf / Singer style).

- TransientError: retry later (with backoff, honouring `retry_after`).
- RecordError: this one person/action fails; record it, go on with the rest.
- ConnectorConfigError: credentials or configuration are wrong; stop that
  connector for this cycle and alert.
- StateStoreError: the state store cannot be opened or written (read-only, full,
  permissions); nothing more can be recorded, so the run stops.

Every message is meant for an operator: what failed, why, and what to do.
The CLI prints `str(exc)` alone; the cause stays chained (`raise ... from exc`)
for the debug log.
"""

from __future__ import annotations


class LifecycleError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(LifecycleError):
    """The configuration file or environment is invalid."""


class ConnectorError(LifecycleError):
    def __init__(self, message: str, *, connector: str = "") -> None:
        super().__init__(message)
        self.connector = connector


class TransientError(ConnectorError):
    def __init__(self, message: str, *, connector: str = "", retry_after: float | None = None) -> None:
        super().__init__(message, connector=connector)
        self.retry_after = retry_after


class RecordError(ConnectorError):
    """Only this record/action failed (bad value, constraint violation...)."""


class HrWriteBackError(RecordError):
    """HR refused the account and address written back to it (the message says why; no secret).  Only that
    write-back fails: the rest of the cycle goes on, and the next cycle tries again."""

    def __init__(self, message: str, *, connector: str = "hr") -> None:
        super().__init__(message, connector=connector)


class AlreadyExistsError(RecordError):
    """The target of a create already exists."""


class ConnectorConfigError(ConnectorError):
    """Authentication or configuration failure: do not retry until fixed."""


class StalePlanError(LifecycleError):
    """A saved plan no longer matches what it was computed from."""


class FeedError(LifecycleError):
    """The HR feed as a whole cannot be trusted (unreadable, required columns missing)."""


class StateStoreError(LifecycleError):
    """The state store cannot be opened or written: the message names the path, the cause and the fix."""


class UnknownEmployeeError(LifecycleError):
    """An admin command named an employee id that no source knows (a typo must not be recorded as a decision)."""
