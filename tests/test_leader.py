"""One active instance: flock for SQLite, an advisory lock on the PostgreSQL server of this machine.

PostgreSQL: 127.0.0.1:5432, user postgres (trust), or `LIFECYCLE_TEST_PG` (a libpq URL of a
database where we may CREATE DATABASE).  Each test gets its own database, dropped afterwards.
If the server is down: `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, text

from devservers.slapd import Slapd
from lifecycle.domain.errors import ConfigError
from lifecycle.runtime.leader import FileLock, PgAdvisoryLock, instance_name, leadership_for
from tests.daemon_support import (  # noqa: F401 - fixtures
    ROOT,
    Daemon,
    NotifySocket,
    backdate,
    demo_slapd,
    make_config,
    wait_until,
)

ADMIN_DSN = os.environ.get("LIFECYCLE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def pg_url() -> Iterator[str]:
    name = f"lifecycle_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise AssertionError(
            f"PostgreSQL at {ADMIN_DSN} is needed for these tests: {exc}; start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` or set LIFECYCLE_TEST_PG"
        ) from None
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        info = admin.info
        try:
            yield f"postgresql+psycopg://{info.user}@{info.host}:{info.port}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def lock_holder_pid(url: str) -> int | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted")).scalar()
    finally:
        engine.dispose()


# -- the locks themselves ---------------------------------------------------------------------


def test_state_url_picks_the_lock() -> None:
    assert isinstance(leadership_for("sqlite:////var/lib/lifecycle/state.db"), FileLock)
    assert leadership_for("sqlite:////var/lib/lifecycle/state.db").path == Path("/var/lib/lifecycle/state.db.lock")
    with pytest.raises(ConfigError, match="in-memory"):
        leadership_for("sqlite:///:memory:")
    with pytest.raises(ConfigError, match="use sqlite or postgresql"):
        leadership_for("mysql+pymysql://u@h/db")


@pytest.mark.servers  # the lock's holder is another process
def test_file_lock_is_exclusive_and_dies_with_its_process(tmp_path: Path) -> None:
    path = tmp_path / "state.db.lock"
    first, second = FileLock(path), FileLock(path)
    assert first.try_acquire() and first.check()
    assert not second.try_acquire() and not second.check()
    assert second.holder() == instance_name()
    first.release()
    assert second.try_acquire()
    second.release()

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from lifecycle.runtime.leader import FileLock; "
         f"assert FileLock(__import__('pathlib').Path({str(path)!r})).try_acquire(); print('locked', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        assert not first.try_acquire()
        holder.send_signal(signal.SIGKILL)
        wait_until(first.try_acquire, what="the lock of a killed process to be free")
    finally:
        holder.kill()
        holder.wait()
        first.release()


@pytest.mark.servers  # PostgreSQL
def test_pg_advisory_lock_has_one_holder_and_fences_a_lost_session(pg_url: str) -> None:
    first, second = PgAdvisoryLock(pg_url), PgAdvisoryLock(pg_url)
    try:
        assert first.try_acquire() and first.check()
        assert not second.try_acquire() and not second.check()
        assert instance_name() in second.holder()
        # The database kills the holder's session (restart, failover, a DBA): the fence says so at once.
        admin = create_engine(pg_url)
        with admin.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": lock_holder_pid(pg_url)})
        admin.dispose()
        assert not first.check()
        assert second.try_acquire() and second.check()
        assert not first.try_acquire()  # reconnects, finds it taken
        second.release()
        assert first.try_acquire()
    finally:
        first.release()
        second.release()


# -- two daemons on one PostgreSQL -----------------------------------------------------------------


def test_two_daemons_on_one_postgresql_one_applies_and_the_standby_takes_over(
    tmp_path: Path, demo_slapd: Slapd, pg_url: str
) -> None:
    config = make_config(tmp_path, demo_slapd, extra="standby_poll_seconds = 0.5\n", small=True)
    env = {"LIFECYCLE_STATE__URL": pg_url}
    sockets = [NotifySocket(tmp_path / "a.sock"), NotifySocket(tmp_path / "b.sock")]
    daemons = [Daemon(config, notify=sockets[0], env=env), Daemon(config, notify=sockets[1], env=env)]
    try:
        for sock in sockets:
            sock.wait_for("READY", "1")
        roles = [d.wait_event("daemon_ready")["role"] for d in daemons]
        assert sorted(roles) == ["active", "standby"]
        active, standby = (daemons[0], daemons[1]) if roles[0] == "active" else (daemons[1], daemons[0])
        first = active.wait_event("cycle_summary", outcome="ok")
        assert first["counts"]["applied"] == first["actions"] > 0
        assert standby.events("action_applied") == [] and standby.summaries() == []
        code, body = standby.get("/healthz")
        assert code == 200 and '"role": "standby"' in body
        assert "standby" in sockets[daemons.index(standby)].with_key("STATUS")[-1][1]["STATUS"]
        engine = create_engine(pg_url)
        with engine.connect() as conn:
            applied_runs = set(conn.execute(text("SELECT DISTINCT run_id FROM action_log WHERE status = 'applied'")).scalars())
        assert applied_runs == {first["run_id"]}

        # The active one dies hard; HR hires someone meanwhile.
        active.signal(signal.SIGKILL)
        killed = time.monotonic()
        hr_path = tmp_path / "employees.csv"
        with open(hr_path, "a", encoding="utf-8") as handle:
            handle.write("100099,钱多多,,,HQ,财务部,会计,,在职,2024-01-01,\n")
        backdate(hr_path)
        standby.wait_event("leadership_acquired")
        assert time.monotonic() - killed < 5  # well within one cycle plus one poll
        joined = wait_until(lambda: [e for e in standby.events("action_applied") if e.get("employee_id") == "100099"],
                            what="the new active instance to create the joiner")
        assert joined[0]["kind"] == "create_account"
        # The event is logged as the write succeeds; the batch's journal commit follows it, and the
        # cycle's summary follows the commit.
        standby.wait_event("cycle_summary", run_id=joined[0]["run_id"])
        with engine.connect() as conn:
            creates = conn.execute(text(
                "SELECT count(*) FROM action_log WHERE employee_id = '100099' AND kind = 'create_account' AND status = 'applied'"
            )).scalar()
            assert creates == 1
        assert standby.stop() == 0, standby.tail()
        with engine.connect() as conn:  # the stop let the action in flight finish: nothing is left pending
            assert conn.execute(text("SELECT count(*) FROM action_log WHERE status = 'pending'")).scalar() == 0
        engine.dispose()
        assert active.process.wait(timeout=10) == -signal.SIGKILL
    finally:
        for daemon in daemons:
            daemon.kill()
        for sock in sockets:
            sock.close()
