"""A fault-injecting TCP proxy for tests: loopback only, threads, stopped with the test.

    with FaultProxy(("127.0.0.1", slapd_port)) as proxy:
        settings.directory.url = proxy.url
        proxy.drop_after(requests=20)          # cut a connection when it sends request 21
        proxy.drop_after(requests=20, deliver=True)   # forward request 20, lose its reply, cut
        proxy.drop_after(bytes=4000, direction="down", times=1)
        proxy.refuse(seconds=0.5)              # new connections are refused (ECONNREFUSED)
        proxy.latency = 0.05                   # every forwarded chunk waits this long
        proxy.heal()                           # no faults any more (latency included)

Requests are counted per connection by BER framing: every top-level
`SEQUENCE` the client sends is one request (an LDAPMessage: bind, search,
modify, unbind...).  Byte budgets count the bytes forwarded in one direction
("up": client -> server, "down": server -> client) or both.  A fault applies to
every connection until it has cut `times` of them (None: every one), then it is
healed by itself.  A cut closes both sides at once; the client gets a reset.

Counters: `connections` (accepted), `cuts` (connections cut by a fault),
`requests` (complete client requests seen, all connections), `forwarded`
(bytes per direction).  `wait_idle()` waits until every connection is closed.

The proxy listens on a loopback address only and forwards only to a loopback
target; every thread is a daemon and `stop()` (or leaving the `with` block)
closes every socket and joins the threads, so nothing outlives the test.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from dataclasses import dataclass
from types import TracebackType

__all__ = ["FaultProxy"]

_CHUNK = 65536
_POLL = 0.02
_JOIN_TIMEOUT = 5.0


def _loopback(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def _ber_length(buffer: bytearray, start: int) -> int | None:
    """Total length (tag + length octets + content) of the TLV at `start`, None if not all there yet."""
    if len(buffer) - start < 2:
        return None
    first = buffer[start + 1]
    if first < 0x80:
        return 2 + first
    octets = first & 0x7F
    if octets == 0 or octets > 4:  # indefinite or absurd lengths: LDAP uses neither
        raise ValueError(f"unsupported BER length octet {first:#x}")
    if len(buffer) - start < 2 + octets:
        return None
    content = int.from_bytes(buffer[start + 2 : start + 2 + octets], "big")
    return 2 + octets + content


class _Framer:
    """Finds where complete BER messages end in a byte stream fed chunk by chunk."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[int]:
        """End offsets, relative to `data`, of the messages completed by `data`."""
        before = len(self._buffer)
        self._buffer += data
        ends: list[int] = []
        position = 0
        while True:
            total = _ber_length(self._buffer, position)
            if total is None or position + total > len(self._buffer):
                break
            position += total
            ends.append(position - before)
        del self._buffer[:position]
        return ends


@dataclass
class _Fault:
    requests: int | None = None
    bytes: int | None = None
    direction: str = "both"
    deliver: bool = False
    times: int | None = None


class _Link:
    """One client connection and its connection to the target."""

    def __init__(self, proxy: FaultProxy, number: int, client: socket.socket, server: socket.socket) -> None:
        self.proxy = proxy
        self.number = number
        self.client = client
        self.server = server
        self.requests = 0
        self.sent = {"up": 0, "down": 0}
        self.doomed = False  # a delivered request's reply is to be swallowed, then the link cut
        self.closed = threading.Event()
        self.framer = _Framer()

    def close(self, *, reset: bool = False) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        if reset:
            with contextlib.suppress(OSError):
                self.client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        for sock in (self.client, self.server):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def cut(self) -> None:
        self.proxy._count_cut()
        self.close(reset=True)

    # -- pumps ------------------------------------------------------------------------

    def pump_up(self) -> None:
        self._pump(self.client, self.server, "up")

    def pump_down(self) -> None:
        self._pump(self.server, self.client, "down")

    def _pump(self, source: socket.socket, sink: socket.socket, direction: str) -> None:
        try:
            while not self.closed.is_set():
                try:
                    data = source.recv(_CHUNK)
                except OSError:
                    break
                if not data:
                    break
                delay = self.proxy.latency
                if delay > 0:
                    time.sleep(delay)
                if direction == "down" and self.doomed:
                    self.cut()  # the reply of a delivered request is lost
                    return
                data, cut = self._apply_faults(data, direction)
                if data:
                    try:
                        sink.sendall(data)
                    except OSError:
                        break
                if cut:
                    if cut == "now":
                        self.cut()
                    return
        finally:
            if self.closed.is_set():
                pass
            elif not self.doomed:
                self.close()
            elif direction == "down":
                self.cut()  # the server closed before the doomed reply came: cut all the same
            # direction "up" and doomed: the downstream pump swallows the reply and cuts

    def _apply_faults(self, data: bytes, direction: str) -> tuple[bytes, str]:
        """(bytes to forward, "" | "now" | "after-reply")."""
        fault = self.proxy._fault
        keep = len(data)
        cut = ""
        if direction == "up":
            if self.doomed:
                return b"", ""  # nothing more reaches the server once a reply is to be lost
            ends = self.framer.feed(data)
            previous = 0
            for end in ends:
                self.requests += 1
                self.proxy._count_request()
                if fault is not None and fault.requests is not None and self.proxy._armed(fault):
                    if fault.deliver and self.requests == fault.requests:
                        keep, cut = end, "after-reply"
                        self.doomed = True
                        break
                    if not fault.deliver and self.requests == fault.requests + 1:
                        keep, cut = previous, "now"
                        break
                previous = end
        if fault is not None and fault.bytes is not None and fault.direction in (direction, "both") and self.proxy._armed(fault):
            used = self.sent["up"] + self.sent["down"] if fault.direction == "both" else self.sent[direction]
            room = max(0, fault.bytes - used)
            if keep > room:
                keep, cut = room, "now"
                self.doomed = False
        self.sent[direction] += keep
        self.proxy._count_bytes(direction, keep)
        return data[:keep], cut


class FaultProxy:
    """Forwards loopback TCP connections to `target`, injecting the faults it is told to."""

    def __init__(self, target: tuple[str, int], *, host: str = "127.0.0.1", connect_timeout: float = 5.0) -> None:
        if not _loopback(host) or not _loopback(target[0]):
            raise ValueError("FaultProxy listens on and forwards to loopback addresses only")
        self.target = target
        self.host = host
        self.connect_timeout = connect_timeout
        self.port = 0
        self.latency = 0.0
        self.connections = 0
        self.cuts = 0
        self.requests = 0
        self.forwarded = {"up": 0, "down": 0}  # bytes, all connections
        self._fault: _Fault | None = None
        self._refusing = False
        self._refuse_until: float | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._links: list[_Link] = []
        self._threads: list[threading.Thread] = []

    # -- life cycle -----------------------------------------------------------------------

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"ldap://{self.host}:{self.port}"

    def start(self) -> FaultProxy:
        self._listen()
        self._spawn(self._accept_loop, "faultproxy-accept")
        return self

    def stop(self) -> None:
        self._stop.set()
        self._close_listener()
        with self._lock:
            links = list(self._links)
        for link in links:
            link.close()
        for thread in list(self._threads):
            thread.join(_JOIN_TIMEOUT)

    # -- faults ---------------------------------------------------------------------------

    def drop_after(
        self,
        *,
        requests: int | None = None,
        bytes: int | None = None,
        direction: str = "both",
        deliver: bool = False,
        times: int | None = None,
    ) -> None:
        """Cut connections after `requests` client requests or `bytes` forwarded bytes.

        requests, deliver=False: a connection is cut when its client sends
        request `requests + 1`, which the server never sees.  deliver=True:
        request number `requests` is forwarded, its reply is swallowed and the
        connection cut (the server did it; the client cannot know).
        `times`: cut this many connections, then heal (None: every one).
        """
        if (requests is None) == (bytes is None):
            raise ValueError("give either requests or bytes")
        if direction not in ("up", "down", "both"):
            raise ValueError("direction is 'up', 'down' or 'both'")
        if requests is not None and requests < (1 if deliver else 0):
            raise ValueError("requests is too small")
        with self._lock:
            self._fault = _Fault(requests, bytes, direction, deliver, times)

    def refuse(self, seconds: float | None = None) -> None:
        """Refuse new connections (closed listener: ECONNREFUSED) for `seconds`, or until `heal()`."""
        with self._lock:
            self._refusing = True
            self._refuse_until = None if seconds is None else time.monotonic() + seconds
        self._close_listener()

    def heal(self) -> None:
        """No faults: connections are forwarded again, new ones accepted, no latency."""
        with self._lock:
            self._fault = None
            self._refusing = False
            self._refuse_until = None
            self.latency = 0.0

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every connection is closed (a delayed request has reached the server)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if all(link.closed.is_set() for link in self._links):
                    return True
            time.sleep(_POLL)
        return False

    def wait_accepting(self, timeout: float = 10.0) -> bool:
        """Wait until refusing is over and the proxy listens again."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.refusing and self._listener is not None:
                return True
            time.sleep(_POLL)
        return False

    @property
    def refusing(self) -> bool:
        with self._lock:
            if self._refusing and self._refuse_until is not None and time.monotonic() >= self._refuse_until:
                self._refusing, self._refuse_until = False, None
            return self._refusing

    # -- internals ------------------------------------------------------------------------

    def _armed(self, fault: _Fault) -> bool:
        with self._lock:
            return self._fault is fault and (fault.times is None or fault.times > 0)

    def _count_cut(self) -> None:
        with self._lock:
            self.cuts += 1
            fault = self._fault
            if fault is not None and fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self._fault = None

    def _count_bytes(self, direction: str, count: int) -> None:
        with self._lock:
            self.forwarded[direction] += count

    def _count_request(self) -> None:
        with self._lock:
            self.requests += 1

    def _spawn(self, target, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(64)
        listener.setblocking(False)
        self.port = listener.getsockname()[1]
        self._listener = listener

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.close()

    def _accept_loop(self) -> None:
        import selectors

        while not self._stop.is_set():
            if self.refusing:
                self._close_listener()
                self._stop.wait(_POLL)
                continue
            if self._listener is None:
                try:
                    self._listen()  # the same port again, once refusing is over
                except OSError:
                    self._stop.wait(_POLL)
                    continue
            listener = self._listener
            if listener is None:
                continue
            with selectors.DefaultSelector() as selector:
                try:
                    selector.register(listener, selectors.EVENT_READ)
                except (ValueError, OSError):
                    continue
                try:
                    ready = selector.select(_POLL)
                except (ValueError, OSError):  # the listener was closed by refuse()/stop()
                    continue
            if not ready or self._stop.is_set() or self.refusing:
                continue
            try:
                client, _ = listener.accept()
            except (BlockingIOError, OSError):
                continue
            client.setblocking(True)
            self._open_link(client)

    def _open_link(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.target, timeout=self.connect_timeout)
        except OSError:
            with contextlib.suppress(OSError):
                client.close()
            return
        server.settimeout(None)
        with self._lock:
            self.connections += 1
            link = _Link(self, self.connections, client, server)
            self._links = [existing for existing in self._links if not existing.closed.is_set()]
            self._links.append(link)
        self._spawn(link.pump_up, f"faultproxy-{link.number}-up")
        self._spawn(link.pump_down, f"faultproxy-{link.number}-down")
