"""The systemd notify protocol (sd_notify(3)) without libsystemd.

A message is one datagram of newline-separated `KEY=VALUE` lines sent to the
AF_UNIX socket named by `$NOTIFY_SOCKET` (a path, or `@name` for the abstract
namespace).  Outside systemd the variable is unset and every call is a no-op,
so the daemon runs the same way from a terminal, a test or a unit.

The watchdog interval comes from `$WATCHDOG_USEC`; `$WATCHDOG_PID`, when set,
names the process the watchdog is meant for (a child must not ping for us).
"""

from __future__ import annotations

import os
import socket
import threading
import time

import structlog

log = structlog.get_logger(__name__)


class Notifier:
    """Sends state changes to the service manager; silent when there is none."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self._address: str | bytes | None = None
        if address.startswith("@"):
            self._address = "\0" + address[1:]  # abstract namespace
        elif address.startswith("/"):
            self._address = address
        elif address:
            log.warning("notify_socket_ignored", notify_socket=address, reason="neither a path nor @abstract")
        self.watchdog_usec = _watchdog_usec(env)
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self._warned = False

    @property
    def enabled(self) -> bool:
        return self._address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds within which systemd expects WATCHDOG=1, or None without a watchdog."""
        return self.watchdog_usec / 1_000_000 if self.watchdog_usec else None

    def send(self, *lines: str) -> bool:
        """One datagram; False if it could not be sent (logged once, never raised)."""
        if self._address is None:
            return False
        payload = "\n".join(lines).encode("utf-8")
        with self._lock:
            try:
                if self._socket is None:
                    self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._socket.sendto(payload, self._address)
                return True
            except OSError as exc:
                if not self._warned:  # a watchdog ping every few seconds must not flood the log
                    log.warning("notify_failed", error=str(exc))
                    self._warned = True
                return False

    def ready(self, status: str = "") -> bool:
        return self.send("READY=1", *([f"STATUS={_one_line(status)}"] if status else []))

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={_one_line(text)}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def reloading(self) -> bool:
        # systemd >= 253 wants the monotonic time with RELOADING=1; older versions ignore it.
        return self.send("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")

    def stopping(self, status: str = "") -> bool:
        return self.send("STOPPING=1", *([f"STATUS={_one_line(status)}"] if status else []))

    def extend_timeout(self, seconds: float) -> bool:
        return self.send(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}")

    def close(self) -> None:
        with self._lock:
            if self._socket is not None:
                self._socket.close()
                self._socket = None


def _watchdog_usec(env: dict[str, str] | os._Environ[str]) -> int:
    try:
        usec = int(env.get("WATCHDOG_USEC", "0"))
    except ValueError:
        return 0
    pid = env.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return 0
    return max(usec, 0)


def _one_line(text: str) -> str:
    return " ".join(text.split())
