"""One active instance: whoever holds the lock applies; everyone else is a standby.

- SQLite: an exclusive `flock` on `<state file>.lock` beside the database (a
  separate file: closing any descriptor of the database itself would drop
  SQLite's own POSIX locks).  Two daemons on one machine: one waits.  The
  state file must be on a local file system.
- PostgreSQL: a session advisory lock held on a dedicated connection.  Two
  daemons on two machines form an active/standby pair; when the active one dies
  its session ends, the lock is free, and the standby's next poll takes it.
  TCP keepalives on both ends make a vanished host's session end within about
  half a minute instead of the kernel's two hours.

`check()` is the fence: the executor asks it between actions, so an instance
that lost its lock (database restart, network cut, terminated backend) stops
before the next action instead of racing the new active instance.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import socket
import threading
from pathlib import Path
from typing import ClassVar, Protocol

import structlog
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from lifecycle.domain.errors import ConfigError

log = structlog.get_logger(__name__)

# Advisory locks are per database: one key for "the active lifecycle daemon" is enough.
LOCK_KEY = int.from_bytes(hashlib.sha256(b"hr-lifecycle/active-instance").digest()[:8], "big", signed=True)


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Leadership(Protocol):
    description: str

    def try_acquire(self) -> bool:
        """Take the lock if it is free; True while this process holds it."""

    def check(self) -> bool:
        """Still held?  False means: stop acting now."""

    def holder(self) -> str:
        """Who holds it, as far as can be told ("" if unknown)."""

    def release(self) -> None: ...


def leadership_for(state_url: str) -> Leadership:
    url = make_url(state_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ConfigError("state.url: an in-memory SQLite database cannot be shared or locked; use a file")
        return FileLock(Path(url.database + ".lock"))
    if backend == "postgresql":
        return PgAdvisoryLock(state_url)
    raise ConfigError(f"state.url: no single-instance lock for {backend!r}; use sqlite or postgresql")


class FileLock:
    """flock(2) on a lock file; released by the kernel when the process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"flock {path}"
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return False
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{instance_name()}\n".encode())
        self._fd = fd
        return True

    def check(self) -> bool:
        return self._fd is not None

    def holder(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8").strip()
        except OSError:
            return ""

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing the last descriptor drops the flock


class PgAdvisoryLock:
    """pg_try_advisory_lock on a connection kept open for as long as we are active."""

    # libpq: notice a dead server; the SET below makes the server notice a dead client.
    CONNECT_ARGS: ClassVar[dict[str, int]] = {
        "connect_timeout": 10,
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        "tcp_user_timeout": 20000,
    }
    SESSION = (
        "SET tcp_keepalives_idle = 10",
        "SET tcp_keepalives_interval = 5",
        "SET tcp_keepalives_count = 3",
        "SET tcp_user_timeout = 20000",
        "SET statement_timeout = '15s'",
        "SET idle_session_timeout = 0",  # PostgreSQL >= 14; a site-wide timeout must not end our session
    )

    def __init__(self, url: str, key: int = LOCK_KEY) -> None:
        self.url = make_url(url)
        self.key = key
        self.description = f"advisory lock {key} on {self.url.render_as_string(hide_password=True)}"
        self._engine = create_engine(
            self.url,
            poolclass=NullPool,
            connect_args={**self.CONNECT_ARGS, "application_name": f"lifecycle@{instance_name()}"[:63]},
        )
        self._conn: Connection | None = None
        self._held = False
        self._lock = threading.Lock()  # the main loop and the cycle's fence share the connection

    def _connection(self) -> Connection:
        if self._conn is None:
            conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            for statement in self.SESSION:
                try:
                    conn.execute(text(statement))
                except SQLAlchemyError as exc:
                    log.debug("leader_session_setting_skipped", statement=statement, error=str(exc).splitlines()[0])
            self._conn = conn
        return self._conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._held = False
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.invalidate()  # never hand a session that held the lock back to anyone
                conn.close()

    def try_acquire(self) -> bool:
        with self._lock:
            if self._held:
                return self._check_locked()
            try:
                got = bool(self._connection().execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar())
            except SQLAlchemyError as exc:
                log.warning("leader_lock_unavailable", lock=self.description, error=str(exc).splitlines()[0])
                self._drop()
                return False
            self._held = got
            return got

    def check(self) -> bool:
        with self._lock:
            return self._check_locked()

    def _check_locked(self) -> bool:
        if not self._held or self._conn is None:
            return False
        query = text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted"
            " AND classid::bigint = :hi AND objid::bigint = :lo AND objsubid = 1"
        )
        try:
            held = bool(self._conn.execute(query, {"hi": (self.key >> 32) & 0xFFFFFFFF, "lo": self.key & 0xFFFFFFFF}).scalar())
        except SQLAlchemyError as exc:
            log.error("leader_connection_lost", lock=self.description, error=str(exc).splitlines()[0])
            self._drop()
            return False
        if not held:
            self._drop()
        return held

    def holder(self) -> str:
        query = text(
            "SELECT a.application_name, host(a.client_addr) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = :hi AND l.objid::bigint = :lo"
            " AND l.objsubid = 1"
        )
        with self._lock:
            try:
                row = self._connection().execute(query, {"hi": (self.key >> 32) & 0xFFFFFFFF, "lo": self.key & 0xFFFFFFFF}).first()
            except SQLAlchemyError:
                self._drop()
                return ""
        if row is None:
            return ""
        return " ".join(str(v) for v in row if v)

    def release(self) -> None:
        with self._lock:
            if self._conn is not None and self._held:
                with contextlib.suppress(SQLAlchemyError):
                    self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            self._drop()
        self._engine.dispose()
