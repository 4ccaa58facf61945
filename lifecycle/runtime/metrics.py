"""Prometheus metrics and a tiny loopback HTTP server for `/metrics` and `/healthz`.

One registry per daemon (not the process-global default), so tests can run
several.  The server binds a loopback address only (the setting refuses
anything else); it is read by a local Prometheus agent or a reverse proxy.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CYCLE_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.cycles = Counter(
            "lifecycle_cycles", "Cycles by kind (full, normal, quiet) and outcome", ["kind", "outcome"], registry=r
        )
        self.actions = Counter("lifecycle_actions", "Plan actions by kind and outcome (journal status)", ["kind", "outcome"], registry=r)
        self.errors = Counter("lifecycle_errors", "Errors by connector (directory, hr, state, ...)", ["connector"], registry=r)
        self.cycle_duration = Histogram(
            "lifecycle_cycle_duration_seconds", "Wall time of a cycle", ["kind"], buckets=CYCLE_BUCKETS, registry=r
        )
        self.last_success = Gauge("lifecycle_last_success_timestamp_seconds", "When the last cycle ended ok (Unix time)", registry=r)
        self.last_cycle = Gauge("lifecycle_last_cycle_timestamp_seconds", "When the last cycle ended, any outcome", registry=r)
        self.held = Gauge("lifecycle_held_actions", "Actions held for an admin in the last planned cycle", registry=r)
        self.active = Gauge("lifecycle_active", "1 while this instance is the active one, 0 as a standby", registry=r)
        self.next_run = Gauge("lifecycle_next_run_timestamp_seconds", "When the next cycle is scheduled (Unix time)", registry=r)
        self.notices_sent = Counter("lifecycle_notices_sent", "Notices the SMTP relay accepted, by event", ["event"], registry=r)
        self.notices_failed = Counter(
            "lifecycle_notices_failed", "Notices given up (refused for good, not accepted within [notify] retry_hours, "
            "no password to send), by event", ["event"], registry=r,
        )
        self.outbox_waiting = Gauge("lifecycle_outbox_waiting", "Notices held, queued or being sent after the last cycle",
                                    registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsServer:
    """`GET /metrics` (Prometheus text format) and `GET /healthz` (JSON; 200 healthy, 503 not)."""

    def __init__(self, host: str, port: int, metrics: Metrics, health: Callable[[], tuple[bool, dict[str, Any]]]) -> None:
        handler = _handler(metrics, health)
        server_class = _IPv6Server if ":" in host else ThreadingHTTPServer
        self._server = server_class((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="metrics-http",
                                        daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def _handler(metrics: Metrics, health: Callable[[], tuple[bool, dict[str, Any]]]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "lifecycle"
        sys_version = ""

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._reply(200, CONTENT_TYPE_LATEST, metrics.render())
            elif path == "/healthz":
                ok, detail = health()
                body = json.dumps(detail, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n"
                self._reply(200 if ok else 503, "application/json", body)
            else:
                self._reply(404, "text/plain; charset=utf-8", b"not found: try /metrics or /healthz\n")

        def _reply(self, code: int, content_type: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def parse_listen(value: str) -> tuple[str, int] | None:
    """"127.0.0.1:9108" -> ("127.0.0.1", 9108); "[::1]:9108" -> ("::1", 9108); "" -> None (off)."""
    if not value:
        return None
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)
