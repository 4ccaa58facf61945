"""Progress people can see: log lines with counts, rate and time left off a terminal, systemd's STATUS=
datagrams, a rich bar on a terminal; and which one `lifecycle apply --progress` gets."""

from __future__ import annotations

import io
import os
import re
import socket
from pathlib import Path

import pytest
from rich.console import Console

from lifecycle.domain.ports import NO_PROGRESS, ProgressSink
from lifecycle.runtime.notify import Notifier
from lifecycle.runtime.progress import BarProgress, LineProgress, StatusProgress, Tally, duration, progress_for


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += seconds


def test_every_sink_is_a_progress_sink() -> None:
    assert isinstance(LineProgress(io.StringIO()), ProgressSink)
    assert isinstance(StatusProgress(Notifier({})), ProgressSink)
    assert isinstance(BarProgress(Console(file=io.StringIO())), ProgressSink)


def test_off_a_terminal_one_line_per_interval_with_counts_rate_and_time_left() -> None:
    clock, out = FakeClock(), io.StringIO()
    sink = LineProgress(out, interval=10.0, clock=clock)
    sink.start("apply", 1000)
    for _ in range(9):  # 9 s, 20 actions a second: no line before the interval is over
        clock.tick(1)
        sink.advance(20)
    assert out.getvalue() == ""
    clock.tick(1)
    sink.advance(18, failed=2)  # 10 s: 200 ended, 2 of them failed
    assert out.getvalue().splitlines() == ["apply: 200/1,000 (20%), 2 failed, 20.0/s, 40s left"]
    for _ in range(9):  # within the next interval: nothing more
        clock.tick(1)
        sink.advance(20)
    assert len(out.getvalue().splitlines()) == 1
    clock.tick(1)
    sink.advance(20)  # 20 s: 400 ended
    assert out.getvalue().splitlines()[-1] == "apply: 400/1,000 (40%), 2 failed, 20.0/s, 30s left"
    clock.tick(30)
    sink.advance(600)
    sink.finish()
    assert out.getvalue().splitlines()[-1] == "apply: 1,000/1,000 (100%), 2 failed, 20.0/s, done in 50s"
    assert len(out.getvalue().splitlines()) == 4


def test_a_step_shorter_than_the_interval_leaves_no_line() -> None:
    clock, out = FakeClock(), io.StringIO()
    sink = LineProgress(out, interval=10.0, clock=clock)
    sink.start("apply", 3)
    clock.tick(2)
    sink.advance(3)
    sink.finish()
    assert out.getvalue() == ""
    sink.advance(5)  # outside a phase: ignored
    assert out.getvalue() == ""


def test_rate_and_time_left_wait_for_the_first_unit_and_durations_read_naturally() -> None:
    tally = Tally("load", 120, started=0.0)
    assert tally.describe(5.0) == "load: 0/120 (0%), -/s, time left unknown"
    tally.done = 30
    assert tally.rate(60.0) == 0.5 and tally.seconds_left(60.0) == 180
    assert tally.describe(60.0) == "load: 30/120 (25%), 0.5/s, 3m 00s left"
    assert Tally("none", 0, started=0.0).describe(1.0) == "none: 0/0, -/s, done in 1s"
    assert [duration(s) for s in (0.4, 59, 95, 3600, 7380)] == ["0s", "59s", "1m 35s", "1h 00m", "2h 03m"]


@pytest.fixture
def notify_socket(tmp_path: Path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify.sock"
    sock.bind(str(path))
    sock.settimeout(2.0)
    yield path, sock
    sock.close()


def _pending(sock: socket.socket) -> list[bytes]:
    found = []
    sock.setblocking(False)
    try:
        while True:
            found.append(sock.recv(4096))
    except BlockingIOError:
        return found
    finally:
        sock.settimeout(2.0)


def test_the_daemon_status_goes_to_systemd_as_a_status_datagram(notify_socket) -> None:
    path, sock = notify_socket
    clock = FakeClock()
    notifier = Notifier({"NOTIFY_SOCKET": str(path)})
    sink = StatusProgress(notifier, interval=5.0, clock=clock)
    try:
        sink.start("apply", 20)
        assert sock.recv(4096) == b"STATUS=apply: 0/20 (0%), -/s, time left unknown"
        clock.tick(2)
        sink.advance(4)
        assert _pending(sock) == []  # within the interval
        clock.tick(3)
        sink.advance(4, failed=2)
        assert sock.recv(4096) == b"STATUS=apply: 10/20 (50%), 2 failed, 2.0/s, 5s left"
        assert sink.line == "apply: 10/20 (50%), 2 failed, 2.0/s, 5s left"
        clock.tick(1)
        sink.advance(10)  # the last one is reported at once
        assert sock.recv(4096) == b"STATUS=apply: 20/20 (100%), 2 failed, 3.3/s, done in 6s"
        sink.finish()
        assert sink.line == "" and _pending(sock) == []
    finally:
        notifier.close()


def test_the_daemon_puts_its_own_words_around_the_progress_line(notify_socket) -> None:
    path, sock = notify_socket
    notifier = Notifier({"NOTIFY_SOCKET": str(path)})
    sink = StatusProgress(notifier, clock=FakeClock(), status=lambda line: f"active; cycle running: {line}; next 10:00:00")
    try:
        sink.start("apply", 5)
        assert sock.recv(4096) == b"STATUS=active; cycle running: apply: 0/5 (0%), -/s, time left unknown; next 10:00:00"
    finally:
        notifier.close()


def test_on_a_terminal_a_bar_with_counts() -> None:
    out = io.StringIO()
    sink = BarProgress(Console(file=out, force_terminal=True, width=120, color_system=None))
    sink.start("apply", 5)
    sink.advance(3)
    sink.advance(1, failed=1)
    sink.finish()
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())  # what the terminal shows, cursor moves aside
    last = [line for line in re.split(r"[\r\n]", shown) if line.strip()][-1]
    assert "apply" in last and "5/5" in last and "100%" in last and "1 failed" in last and "/s" in last


def test_apply_progress_option_picks_the_sink(tmp_path: Path) -> None:
    assert isinstance(progress_for("auto", io.StringIO()), LineProgress)  # not a terminal
    assert isinstance(progress_for("lines", io.StringIO()), LineProgress)
    assert isinstance(progress_for("bar", io.StringIO()), BarProgress)
    assert progress_for("none", io.StringIO()) is NO_PROGRESS
    leader, follower = os.openpty()
    try:
        with os.fdopen(follower, "w", closefd=False) as terminal:
            assert isinstance(progress_for("auto", terminal), BarProgress)
    finally:
        os.close(leader)
        os.close(follower)


def test_the_daemon_shows_the_apply_s_progress_in_its_status(tmp_path: Path, notify_socket) -> None:
    from lifecycle.daemon.service import Daemon
    from tests.harness import make_settings

    path, sock = notify_socket
    notifier = Notifier({"NOTIFY_SOCKET": str(path)})
    daemon = Daemon(make_settings(tmp_path), None, notifier=notifier)
    daemon._active = True  # as after taking the lock; nothing is started
    daemon.progress.begin()  # a cycle is running
    try:
        daemon.apply_progress.start("apply", 10)
        assert sock.recv(4096) == b"STATUS=cycle running: apply: 0/10 (0%), -/s, time left unknown"
        assert daemon._status_text() == "cycle running: apply: 0/10 (0%), -/s, time left unknown"
        daemon.apply_progress.finish()
        assert daemon._status_text() == "cycle running"  # the main thread's next STATUS= says so
    finally:
        notifier.close()
