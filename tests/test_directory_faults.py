"""Network faults between the daemon and a real slapd, injected by `tests.faultproxy`.

Every test runs whole cycles (`apply_cycle` on the sample export) through the
proxy and checks what an operator relies on:

- a fault ends the cycle cleanly: `result.stopped` (or a `TransientError` when it
  hits while the inputs are read, before anything is written), never another
  exception, and no action left `pending` in the journal;
- the next cycles, with the network healthy, finish the work: the directory ends
  exactly as after an uninterrupted run, and no action is applied twice;
- no message, log line or journal row carries the bind password.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.ldap import LdapDirectory
from devservers.demo import BASE_DN, COMPANIES, SAMPLE, write_config
from devservers.slapd import Slapd
from lifecycle.domain.errors import TransientError
from lifecycle.domain.models import Plan
from lifecycle.domain.settings import Settings, load_settings
from lifecycle.engine.apply import ApplyResult
from lifecycle.engine.cycle import apply_cycle, plan_cycle
from lifecycle.engine.sending import TRANSACTION_SIZE
from lifecycle.journal.store import Journal
from tests.faultproxy import FaultProxy
from tests.harness import at

pytestmark = pytest.mark.servers  # every test runs its own slapd
NOW = at("2026-12-01T09:00")
UNITS = [f"ou=people,{BASE_DN}", *(f"ou={ou},ou=people,{BASE_DN}" for *_, ou in COMPANIES), f"ou=groups,{BASE_DN}"]
MAX_CYCLES = 40


def target(server: Slapd) -> tuple[str, int]:
    host, port = server.url.removeprefix("ldap://").rsplit(":", 1)
    return host, int(port)


def through(settings: Settings, url: str, **directory: object) -> Settings:
    return settings.model_copy(update={"directory": settings.directory.model_copy(update={"url": url, **directory})})


def key(entry) -> tuple[str, str, str, str]:
    """What makes two applied actions "the same action"."""
    member = entry.params.get("member_dn") or entry.params.get("first_member") or ""
    return (entry.kind, entry.employee_id, entry.target, member)


def applied(journal: Journal) -> Counter:
    return Counter(key(e) for e in journal.entries() if e.status == "applied")


def image(settings: Settings) -> tuple[list[tuple], list[tuple]]:
    """The directory as the daemon sees it (people and managed groups), for comparisons."""
    with LdapDirectory(settings.directory, settings.companies) as directory:
        snapshot = directory.read_snapshot()
    people = sorted(
        (e.dn, e.uid, e.cn, e.sn, e.given_name, e.display_name, e.mail, e.employee_number, e.department, e.title,
         e.manager, e.locked)
        for e in snapshot.entries
    )
    groups = sorted((g.dn, g.company, g.department, tuple(sorted(g.members))) for g in snapshot.groups)
    return people, groups


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Counter, tuple]:
    """An uninterrupted run: what every interrupted one must end up equal to."""
    workdir = tmp_path_factory.mktemp("reference")
    with Slapd(workdir / "slapd", base_dn=BASE_DN, organizational_units=UNITS) as server:
        hr_path = workdir / "employees.csv"
        shutil.copyfile(SAMPLE, hr_path)
        settings = load_settings(write_config(workdir, server, hr_path))
        journal = Journal(settings.state.url)
        with LdapDirectory(settings.directory, settings.companies) as directory:
            _, result = apply_cycle(settings, NOW, directory, journal)
        assert result.ok
        counts = applied(journal)
        journal.close()
        return counts, image(settings)


class Env:
    def __init__(self, server: Slapd, proxy: FaultProxy, settings: Settings, workdir: Path) -> None:
        self.server, self.proxy, self.settings, self.workdir = server, proxy, settings, workdir
        self.journal = Journal(settings.state.url)
        self.texts: list[str] = []  # every message a fault produced

    def cycle(self, settings: Settings | None = None) -> tuple[Plan | None, ApplyResult | None]:
        """One cycle through the proxy; a TransientError (inputs unreadable) is a clean outcome too."""
        settings = settings or self.settings
        try:
            with LdapDirectory(settings.directory, settings.companies) as directory:
                plan, result = apply_cycle(settings, NOW, directory, self.journal)
        except TransientError as exc:
            self.texts.append(str(exc))
            return None, None
        self.texts.append(result.stopped)
        return plan, result

    def until_done(self) -> int:
        """Cycles until one finishes cleanly; returns how many it took."""
        for count in range(1, MAX_CYCLES + 1):
            _, result = self.cycle()
            # At most what a broken connection left with an unknown outcome is pending: one write, or one
            # LDAP transaction's writes.
            assert len(self.journal.pending_actions()) <= TRANSACTION_SIZE
            if result is not None and result.ok:
                assert self.journal.pending_actions() == []
                return count
        raise AssertionError(f"no clean cycle in {MAX_CYCLES}: {self.texts[-3:]}")

    def assert_converged(self, reference: tuple[Counter, tuple]) -> Counter:
        counts = applied(self.journal)
        assert max(counts.values()) == 1, [k for k, n in counts.items() if n > 1]  # nothing applied twice
        with LdapDirectory(self.settings.directory, self.settings.companies) as directory:
            assert plan_cycle(self.settings, NOW, directory, self.journal).actions == ()
        assert image(self.settings) == reference[1]
        return counts

    def assert_no_secret(self, *outputs: str) -> None:
        secret = self.server.admin_password
        assert len(secret) >= 12
        database = self.settings.state.url.removeprefix("sqlite:///")
        with sqlite3.connect(database) as conn:
            dump = "\n".join(conn.iterdump())
        errors = [e.error for e in self.journal.entries() if e.error]
        for text in (*self.texts, *errors, dump, *outputs):
            assert secret not in text


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    with Slapd(tmp_path / "slapd", base_dn=BASE_DN, organizational_units=UNITS) as server, FaultProxy(target(server)) as proxy:
        hr_path = tmp_path / "employees.csv"
        shutil.copyfile(SAMPLE, hr_path)
        settings = through(load_settings(write_config(tmp_path, server, hr_path)), proxy.url)
        environment = Env(server, proxy, settings, tmp_path)
        yield environment
        environment.journal.close()


def test_a_connection_dropped_mid_cycle_ends_it_cleanly_and_the_next_cycle_finishes(env: Env, reference, capsys) -> None:
    env.proxy.drop_after(requests=40, times=1)  # bind + ~12 reads, then the writes: cut inside them
    plan, result = env.cycle()
    assert plan is not None and result is not None
    assert result.stopped.startswith("TransientError") and "connection" in result.stopped
    applied_now, unknown = result.counts["applied"], result.counts["outcome_unknown"]
    assert 0 < applied_now < len(plan.actions)
    # What was in flight (one write, or the writes of one LDAP transaction) has an unknown outcome:
    # it stays pending for the next run to settle.
    assert 1 <= unknown <= TRANSACTION_SIZE and result.counts["skipped"] == len(plan.actions) - applied_now - unknown
    assert len(env.journal.pending_actions()) == unknown
    assert env.proxy.cuts == 1
    first = applied(env.journal)

    _, result = env.cycle()  # the fault healed itself after one cut
    assert result is not None and result.ok
    counts = env.assert_converged(reference)
    assert counts == reference[0]  # exactly the uninterrupted run's actions, each once
    assert set(first) < set(counts)
    env.assert_no_secret(*capsys.readouterr())


def test_a_lost_reply_to_a_write_does_not_make_the_write_happen_twice(env: Env, reference, capsys) -> None:
    # Request 40 reaches slapd and is carried out; its reply is lost and the connection cut.
    env.proxy.drop_after(requests=40, deliver=True, times=1)
    plan, result = env.cycle()
    assert plan is not None and result is not None and result.stopped.startswith("TransientError")
    pending = env.journal.pending_actions()
    assert 1 <= len(pending) <= TRANSACTION_SIZE  # outcome unknown, not "failed" (a write, or an LDAP transaction's writes)
    lost = {e.id for e in pending}

    assert env.until_done() == 1
    counts = env.assert_converged(reference)
    # The next run re-checks the lost writes against the directory: what was done (a write, or a
    # committed transaction) is journalled as applied, what was not (a transaction the cut ended)
    # as interrupted and re-planned: exactly the uninterrupted run's actions, each once.
    assert counts == reference[0]
    settled = {e.status for e in env.journal.entries() if e.id in lost}
    assert settled in ({"applied"}, {"interrupted"})
    env.assert_no_secret(*capsys.readouterr())


def test_a_connection_that_keeps_dropping_still_converges_with_every_action_applied_once(env: Env, reference, capsys) -> None:
    env.proxy.drop_after(requests=30)  # every connection, every cycle
    cycles = env.until_done()
    assert cycles > 3 and env.proxy.cuts >= cycles - 1
    env.proxy.heal()
    counts = env.assert_converged(reference)
    assert counts == reference[0]
    env.assert_no_secret(*capsys.readouterr())


def test_a_reply_cut_while_reading_never_becomes_a_partial_snapshot(env: Env, reference, capsys) -> None:
    _, result = env.cycle()
    assert result is not None and result.ok
    before = applied(env.journal)
    start = env.proxy.forwarded["down"]
    with LdapDirectory(env.settings.directory, env.settings.companies) as directory:
        directory.read_snapshot()
    snapshot_bytes = env.proxy.forwarded["down"] - start
    assert snapshot_bytes > 5000
    # Cut every connection at several points of the server's answers, the people searches included.
    for budget in (200, snapshot_bytes // 4, snapshot_bytes // 2, snapshot_bytes - 100):
        env.proxy.drop_after(bytes=budget, direction="down")
        plan, result = env.cycle()
        assert plan is None or plan.actions == ()  # never planned on a partial read
        assert env.journal.pending_actions() == []
    assert env.proxy.cuts >= 4
    env.proxy.heal()
    assert applied(env.journal) == before  # nothing created twice, nobody suspended
    env.assert_converged(reference)
    env.assert_no_secret(*capsys.readouterr())


def test_refused_connections_fail_cycles_cleanly_until_the_directory_is_back(env: Env, reference, capsys) -> None:
    env.proxy.refuse(seconds=1.0)
    plan, result = env.cycle()
    assert plan is None and result is None
    assert "unreachable" in env.texts[-1] and env.proxy.url in env.texts[-1]
    assert env.journal.pending_actions() == [] and list(env.journal.entries()) == []
    assert env.proxy.connections == 0
    time.sleep(0.3)
    assert env.proxy.refusing  # still refusing: a second cycle fails the same way
    assert env.cycle() == (None, None) and env.journal.pending_actions() == []
    assert env.proxy.wait_accepting()  # by itself, after the second
    assert env.until_done() == 1
    assert env.proxy.connections >= 1
    assert env.assert_converged(reference) == reference[0]
    env.assert_no_secret(*capsys.readouterr())


class SlowsDownAfter(LdapDirectory):
    """The real connector; after its n-th write every packet through the proxy is late."""

    WRITES = ("create_person", "modify_person", "set_password", "move_person", "lock", "unlock", "delete_person",
              "create_group", "add_member", "add_members", "remove_member", "remove_members", "delete_group")

    def __init__(self, settings: Settings, proxy: FaultProxy, writes: int, latency: float) -> None:
        super().__init__(settings.directory, settings.companies)
        self.proxy, self.left, self.latency = proxy, writes, latency

    def wrote(self) -> None:
        self.left -= 1
        if self.left == 0:
            self.proxy.latency = self.latency


def _counting_writes(name: str):
    original = getattr(LdapDirectory, name)

    def write(self: SlowsDownAfter, *args, **kwargs):
        done = original(self, *args, **kwargs)
        self.wrote()
        return done

    return write


for _name in SlowsDownAfter.WRITES:
    setattr(SlowsDownAfter, _name, _counting_writes(_name))


def test_a_write_answered_after_the_timeout_is_not_done_twice(env: Env, reference, capsys) -> None:
    settings = through(env.settings, env.proxy.url, timeout_seconds=1)
    with SlowsDownAfter(settings, env.proxy, writes=25, latency=1.5) as directory:
        _, result = apply_cycle(settings, NOW, directory, env.journal)
    unknown = result.counts["outcome_unknown"]
    assert result.stopped.startswith("TransientError") and result.counts["applied"] + unknown >= 25
    env.texts.append(result.stopped)
    # The late write's outcome (or its transaction's) is unknown until re-checked.
    assert len(env.journal.pending_actions()) == unknown >= 1
    env.proxy.heal()
    assert env.proxy.wait_idle()  # the late request has reached slapd by now
    assert env.until_done() == 1
    counts = env.assert_converged(reference)
    assert set(reference[0]) - set(counts) <= {key(e) for e in env.journal.entries() if e.status == "failed"}
    env.assert_no_secret(*capsys.readouterr())


# -- the proxy on its own (a loopback echo server) --------------------------------------------


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[:2]
    stop.set()
    thread.join(2)
    listener.close()


def _ber(payload: bytes) -> bytes:
    """One BER SEQUENCE, like an LDAPMessage (long-form length when needed)."""
    size = len(payload)
    length = bytes([size]) if size < 0x80 else bytes([0x82]) + size.to_bytes(2, "big")
    return b"\x30" + length + payload


def _exchange(port: int, messages: list[bytes]) -> bytes:
    import socket

    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        try:
            for message in messages:
                sock.sendall(message)
                want = len(message)
                got = b""
                while len(got) < want:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return received + got
                    got += chunk
                received += got
        except (ConnectionResetError, BrokenPipeError):
            pass
    return received


def test_the_proxy_counts_cuts_refuses_and_delays(echo: tuple[str, int]) -> None:
    import socket

    small, large = _ber(b"a" * 10), _ber(b"b" * 300)
    with FaultProxy(echo) as proxy:
        assert _exchange(proxy.port, [small, large, small]) == small + large + small
        assert (proxy.connections, proxy.requests, proxy.cuts) == (1, 3, 0)

        proxy.drop_after(requests=2)  # the third request never reaches the server
        assert _exchange(proxy.port, [small, large, small]) == small + large
        assert proxy.cuts == 1

        proxy.drop_after(requests=1, deliver=True, times=1)  # the first goes through, its answer is lost
        assert _exchange(proxy.port, [small, small]) == b""
        assert _exchange(proxy.port, [small, small]) == small + small  # healed after one cut

        proxy.drop_after(bytes=100, direction="down")
        assert _exchange(proxy.port, [small, large]) == small + large[: 100 - len(small)]

        proxy.heal()
        proxy.refuse(seconds=0.3)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", proxy.port), timeout=1).close()
        assert proxy.wait_accepting()
        proxy.latency = 0.2
        started = time.monotonic()
        assert _exchange(proxy.port, [small]) == small
        assert time.monotonic() - started >= 0.4  # there and back
        assert proxy.connections == 6  # the refused attempt never became a connection
    with pytest.raises(OSError):  # stopped with its `with` block: nothing listens any more
        socket.create_connection(("127.0.0.1", proxy.port), timeout=1).close()
    assert proxy.wait_idle(1)
