"""`lifecycle run` as systemd runs it: a subprocess against a real slapd, a fake notify socket, signals.

Mail (Modoboa) is not part of these runs yet: the daemon drives what
`apply_cycle` drives, and the mail backend is not wired into it.
"""

from __future__ import annotations

import itertools
import json
import signal
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.ldap import LdapDirectory
from devservers.slapd import Slapd
from lifecycle.cli.main import main
from lifecycle.daemon.service import Daemon as InProcessDaemon
from lifecycle.domain.errors import ConfigError
from lifecycle.domain.settings import load_settings
from lifecycle.engine.vault import CredentialVault
from lifecycle.runtime.metrics import Metrics, MetricsServer
from lifecycle.runtime.notify import Notifier
from tests.daemon_support import (  # noqa: F401 - fixtures
    Daemon,
    NotifySocket,
    backdate,
    demo_slapd,
    extra_people,
    make_config,
    metric,
    next_summary,
    notify,
    pause,
    resume,
    wait_until,
)

SAMPLE_PEOPLE = 46  # accounts the sample export yields today (see test_cli_e2e)


def journal_rows(config: Path, query: str) -> list[tuple]:
    path = load_settings(config).state.url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        return db.execute(query).fetchall()


# -- the service contract: READY, watchdog, STATUS, metrics, logs ------------------------------


def test_ready_watchdog_status_metrics_and_json_logs(tmp_path: Path, demo_slapd: Slapd, notify: NotifySocket) -> None:
    config = make_config(tmp_path, demo_slapd)
    daemon = Daemon(config, notify=notify, watchdog_usec=1_000_000)
    try:
        ready = notify.wait_for("READY", "1")
        assert "STATUS" in ready
        first = daemon.wait_event("cycle_summary")
        assert first["kind"] == "normal" and first["outcome"] == "ok", daemon.tail()
        assert set(first["counts"]) == {"applied"} and first["counts"]["applied"] == first["actions"] > SAMPLE_PEOPLE
        daemon.wait_event("cycle_summary", kind="quiet")
        since = time.monotonic()
        wait_until(lambda: len([t for t, _ in notify.with_key("WATCHDOG", "1") if t > since]) >= 4, what="4 more pings")
        pings = [t for t, _ in notify.with_key("WATCHDOG", "1")]
        assert max(b - a for a, b in itertools.pairwise(pings)) < 0.8  # inside WATCHDOG_USEC=1s, cycles included
        status = notify.with_key("STATUS")[-1][1]["STATUS"]
        assert "last cycle" in status and " ok" in status and "next " in status

        code, body = daemon.get("/metrics")
        assert code == 200
        assert metric(body, "lifecycle_actions_total", kind="create_account", outcome="applied") == SAMPLE_PEOPLE
        assert metric(body, "lifecycle_cycles_total", kind="normal", outcome="ok") >= 1
        assert metric(body, "lifecycle_cycles_total", kind="quiet", outcome="ok") >= 1
        assert metric(body, "lifecycle_active") == 1
        assert metric(body, "lifecycle_held_actions") == 0
        assert metric(body, "lifecycle_last_success_timestamp_seconds") > time.time() - 60
        assert metric(body, "lifecycle_cycle_duration_seconds_count", kind="quiet") >= 1
        code, body = daemon.get("/healthz")
        health = json.loads(body)
        assert code == 200 and health["status"] == "ok" and health["role"] == "active" and health["last_success"]
        assert daemon.get("/nothing")[0] == 404
    finally:
        assert daemon.stop() == 0, daemon.tail()
    assert notify.with_key("STOPPING", "1")
    assert [line for line in daemon.lines if "run_id" not in line or line["event"] == "NOT JSON"] == []
    applied = daemon.events("action_applied")
    assert len(applied) == first["actions"]
    runs = {row[0] for row in journal_rows(config, "SELECT run_id FROM runs")}
    assert {line["run_id"] for line in applied} == {first["run_id"]} and first["run_id"] in runs
    assert all(line["run_id"] in runs for line in daemon.summaries("normal"))


def test_quiet_cycles_skip_unchanged_inputs_and_wake_on_each_change(tmp_path: Path, demo_slapd: Slapd) -> None:
    config = make_config(tmp_path, demo_slapd)
    settings = load_settings(config)
    daemon = Daemon(config)
    try:
        daemon.wait_event("cycle_summary", kind="quiet")
        quiet = daemon.summaries("quiet")[0]
        assert set(quiet["skipped"]) == {"hr", "directory", "state", "plan"}
        assert quiet["why"]["hr"].startswith("fingerprint ") and "2027-01-15" in quiet["why"]["plan"]  # 马超 leaves then

        # A login changes the entry (lastbind) but not the plan: still quiet, and said so.
        n = len(daemon.summaries())
        password = CredentialVault(settings.accounts.initial_password_dir, 16).read_password("100001")
        with LdapDirectory(settings.directory, settings.companies) as ldap:
            entry = ldap.find_by_employee_number("100001")
            assert entry is not None and ldap.bind_as(entry.dn, password)
        logins = wait_until(lambda: [s for s in daemon.summaries()[n:] if "new logins" in s.get("why", {}).get("directory", "")],
                            what="a quiet cycle that saw the login")
        assert "1 new logins" in logins[0]["why"]["directory"]
        assert {s["kind"] for s in daemon.summaries()[n:]} == {"quiet"}  # the login woke no real cycle

        # HR adds a joiner: the HR input changed, the cycle reads everything and creates the account.
        n = len(daemon.summaries())
        hr_path = settings.hr.path
        with open(hr_path, "a", encoding="utf-8") as handle:
            handle.write("100099,钱多多,,,HQ,财务部,会计,,在职,2024-01-01,\n")
        backdate(hr_path)
        joined = next_summary(daemon, n, kind="normal")
        assert joined["changed"] == ["hr"] and joined["counts"].get("applied", 0) >= 1, joined
        next_summary(daemon, n, kind="quiet")
        with LdapDirectory(settings.directory, settings.companies) as ldap:
            assert ldap.find_by_employee_number("100099") is not None

        # Someone edits an HR-owned attribute in the directory: corrected at the next cycle.
        n = len(daemon.summaries())
        with LdapDirectory(settings.directory, settings.companies) as ldap:
            ldap.modify_person(entry.dn, {"title": "临时工"})
        fixed = next_summary(daemon, n, kind="normal")
        assert fixed["changed"][0].startswith("directory") and fixed["counts"] == {"applied": 1}, fixed
        with LdapDirectory(settings.directory, settings.companies) as ldap:
            assert ldap.read_person(entry.dn).title == "总裁"

        # An admin decision changes the stored state.
        next_summary(daemon, n + 1, kind="quiet")
        n = len(daemon.summaries())
        assert main(["--config", str(config), "hold", "100001", "--reason", "litigation"]) == 0
        held = next_summary(daemon, n, kind="normal")
        assert held["changed"] == ["state"]
    finally:
        assert daemon.stop() == 0, daemon.tail()


# -- signals --------------------------------------------------------------------------------------


def test_sigterm_during_a_cycle_finishes_the_action_in_flight_and_the_restart_resumes(
    tmp_path: Path, demo_slapd: Slapd, notify: NotifySocket
) -> None:
    config = make_config(tmp_path, demo_slapd, rows=extra_people(40))
    daemon = Daemon(config, notify=notify)
    try:
        daemon.wait_event("action_applied")
        pause(demo_slapd)  # the next directory request hangs: the cycle is certainly mid-way
        stop_sent = time.monotonic()
        daemon.signal(signal.SIGTERM)
        daemon.wait_event("stop_requested")
        assert notify.with_key("STOPPING", "1")
        resume(demo_slapd)
        code = daemon.process.wait(timeout=30)
    finally:
        resume(demo_slapd)
        daemon.kill()
    assert code == 0, daemon.tail()
    assert time.monotonic() - stop_sent < 30  # far inside TimeoutStopSec=90
    stopped = daemon.summaries()[-1]
    assert stopped["outcome"] == "stopped" and "stop requested" in daemon.events("cycle_finished")[-1]["stopped"]
    applied_before = stopped["counts"]["applied"]
    assert 0 < applied_before < stopped["actions"]
    assert journal_rows(config, "SELECT count(*) FROM action_log WHERE status = 'pending'") == [(0,)]
    assert journal_rows(config, f"SELECT outcome FROM runs WHERE run_id = '{stopped['run_id']}'") == [("stopped",)]

    again = Daemon(config)
    try:
        done = again.wait_event("cycle_summary", outcome="ok")
        assert done["kind"] == "normal" and done["counts"]["applied"] == done["actions"] > 0
    finally:
        assert again.stop() == 0, again.tail()
    creates = journal_rows(
        config, "SELECT employee_id, count(*) FROM action_log WHERE kind = 'create_account' AND status = 'applied' GROUP BY employee_id"
    )
    assert len(creates) == SAMPLE_PEOPLE + 40 and {n for _, n in creates} == {1}  # everyone once, nobody twice
    assert journal_rows(config, "SELECT count(*) FROM action_log WHERE status IN ('pending', 'interrupted', 'failed')") == [(0,)]
    settings = load_settings(config)
    with LdapDirectory(settings.directory, settings.companies) as ldap:
        assert len(ldap.read_snapshot().entries) == SAMPLE_PEOPLE + 40


def test_a_hung_cycle_stops_the_watchdog_pings(tmp_path: Path, demo_slapd: Slapd, notify: NotifySocket) -> None:
    config = make_config(tmp_path, demo_slapd, extra="stall_minutes = 0.03\n", small=True)  # 1.8 s without progress
    daemon = Daemon(config, notify=notify, watchdog_usec=1_000_000, env={"LIFECYCLE_DIRECTORY__TIMEOUT_SECONDS": "120"})
    try:
        daemon.wait_event("cycle_summary", kind="quiet")
        pause(demo_slapd)  # the next cycle waits for an answer that does not come
        stalled = daemon.wait_event("cycle_stalled")
        assert stalled["phase"] and stalled["seconds"] >= 1
        last_ping = notify.with_key("WATCHDOG", "1")[-1][0]
        code, body = daemon.get("/healthz")
        assert code == 503 and json.loads(body)["status"] == "stalled"
        assert "STALLED" in notify.with_key("STATUS")[-1][1]["STATUS"]
        # systemd would now restart us: no ping for a whole watchdog interval.
        time.sleep(1.2)
        assert notify.with_key("WATCHDOG", "1")[-1][0] == last_ping
        resume(demo_slapd)
        daemon.wait_event("cycle_progressing_again")
        notify.wait_for("WATCHDOG", "1", after=time.monotonic())
    finally:
        resume(demo_slapd)
        assert daemon.stop() == 0, daemon.tail()


def test_sighup_reloads_and_a_broken_config_keeps_the_old_one(tmp_path: Path, demo_slapd: Slapd, notify: NotifySocket) -> None:
    config = make_config(tmp_path, demo_slapd, small=True)
    good = config.read_text(encoding="utf-8")
    daemon = Daemon(config, notify=notify)
    try:
        daemon.wait_event("cycle_summary", kind="quiet")
        config.write_text(good.replace("[schedule]\n", "[schedule]\ncycle_minuets = 5\n"), encoding="utf-8")
        sent = time.monotonic()
        daemon.signal(signal.SIGHUP)
        failed = daemon.wait_event("reload_failed")
        assert "schedule.cycle_minuets: unknown key" in failed["error"] and "cycle_minutes" in failed["error"]
        notify.wait_for("RELOADING", "1", after=sent)
        notify.wait_for("READY", "1", after=sent)
        n = len(daemon.summaries())
        next_summary(daemon, n, kind="quiet")  # still running, on the old configuration

        config.write_text(good.replace('full_at = "02:30"', "").replace("[schedule]\n", '[schedule]\nfull_at = "03:15"\n'),
                          encoding="utf-8")
        n = len(daemon.summaries())
        daemon.signal(signal.SIGHUP)
        reloaded = daemon.wait_event("config_reloaded")
        assert reloaded["full_at"] == "03:15"
        after = next_summary(daemon, n, kind="normal")  # new config: everything is read again
        assert after["changed"][0].startswith(("no baseline", "config"))
    finally:
        assert daemon.stop() == 0, daemon.tail()
    assert daemon.events("reload_failed")[0]["run_id"]


def test_a_directory_outage_is_reported_and_survived(tmp_path: Path, demo_slapd: Slapd) -> None:
    config = make_config(tmp_path, demo_slapd, small=True)
    daemon = Daemon(config, env={"LIFECYCLE_DIRECTORY__TIMEOUT_SECONDS": "2"})
    try:
        daemon.wait_event("cycle_summary", kind="quiet")
        demo_slapd.stop()
        n = len(daemon.summaries())
        failed = next_summary(daemon, n, outcome="error")
        assert "unreachable" in failed["error"] and failed["run_id"]
        code, body = daemon.get("/healthz")
        assert code == 503 and json.loads(body)["status"] == "failing"
        assert metric(daemon.get("/metrics")[1], "lifecycle_errors_total", connector="directory") >= 1
        demo_slapd.start()  # same port, same data
        n = len(daemon.summaries())
        back = next_summary(daemon, n, outcome="ok")
        assert back["kind"] == "normal" and back["actions"] == 0  # nothing was lost or needs redoing
        assert daemon.get("/healthz")[0] == 200
    finally:
        assert daemon.stop() == 0, daemon.tail()


# -- in-process: scheduling, notify protocol, metrics server, settings -----------------------------


def _bare_daemon(tmp_path: Path, **overrides) -> InProcessDaemon:
    from tests.harness import make_settings

    settings = make_settings(tmp_path, **overrides)
    return InProcessDaemon(settings, None, notifier=Notifier({}))


def test_a_missed_run_is_run_once_not_replayed(tmp_path: Path) -> None:
    daemon = _bare_daemon(tmp_path, schedule={"cycle_minutes": 1})
    runs: list[str] = []
    daemon._job = lambda trigger: runs.append(trigger)  # type: ignore[method-assign]
    scheduler = daemon._make_scheduler(daemon.settings)
    ten_missed = datetime.now(UTC) - timedelta(minutes=10)
    scheduler.add_job(daemon._job, "interval", minutes=1, args=("probe",), id="probe", next_run_time=ten_missed)
    scheduler.start()
    try:
        wait_until(lambda: "probe" in runs, what="the missed run")
        time.sleep(0.5)  # a replay of the other nine would come at once
        assert runs.count("probe") == 1
        assert scheduler.get_job("probe").next_run_time > datetime.now(UTC)
    finally:
        scheduler.shutdown(wait=True)


def test_two_due_jobs_never_run_at_the_same_time(tmp_path: Path) -> None:
    daemon = _bare_daemon(tmp_path)
    running, overlap, done = [0], [0], []
    lock = threading.Lock()

    def job(trigger: str) -> None:
        with lock:
            running[0] += 1
            overlap[0] = max(overlap[0], running[0])
        time.sleep(0.3)
        with lock:
            running[0] -= 1
        done.append(trigger)

    daemon._job = job  # type: ignore[method-assign]
    scheduler = daemon._make_scheduler(daemon.settings)
    scheduler.modify_job("full", next_run_time=datetime.now(UTC))
    scheduler.start()
    try:
        wait_until(lambda: {"scheduled", "full"} <= set(done), what="both jobs")
        assert overlap[0] == 1
    finally:
        scheduler.shutdown(wait=True)


def test_notify_datagrams_paths_abstract_sockets_and_watchdog_pid(tmp_path: Path) -> None:
    sock = NotifySocket(tmp_path / "n.sock")
    try:
        notifier = Notifier({"NOTIFY_SOCKET": str(sock.path), "WATCHDOG_USEC": "3000000"})
        assert notifier.enabled and notifier.watchdog_interval == 3.0
        assert notifier.ready("line one\nline two")
        assert notifier.watchdog() and notifier.reloading() and notifier.stopping()
        assert sock.wait_for("READY", "1")["STATUS"] == "line one line two"
        sock.wait_for("WATCHDOG", "1")
        assert int(sock.wait_for("RELOADING", "1")["MONOTONIC_USEC"]) > 0
        sock.wait_for("STOPPING", "1")
        notifier.close()
    finally:
        sock.close()
    assert Notifier({"NOTIFY_SOCKET": str(tmp_path / "n.sock"), "WATCHDOG_USEC": "5", "WATCHDOG_PID": "1"}).watchdog_interval is None
    silent = Notifier({})
    assert not silent.enabled and not silent.ready() and silent.watchdog_interval is None

    import socket as socketlib

    abstract = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_DGRAM)
    name = f"lifecycle-test-{time.monotonic_ns()}"
    abstract.bind("\0" + name)
    abstract.settimeout(5)
    try:
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).status("abstract")
        assert abstract.recv(100) == b"STATUS=abstract"
    finally:
        abstract.close()
    assert not Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")}).ready()  # logged, never raised


def test_metrics_server_serves_metrics_and_health_on_loopback() -> None:
    import urllib.error
    import urllib.request

    metrics = Metrics()
    metrics.actions.labels("create_account", "applied").inc(3)
    healthy = [True]
    server = MetricsServer("127.0.0.1", 0, metrics, lambda: (healthy[0], {"status": "ok" if healthy[0] else "stalled"})).start()
    host, port = server.address
    try:
        assert host == "127.0.0.1"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
        assert metric(text, "lifecycle_actions_total", kind="create_account", outcome="applied") == 3
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            assert json.loads(response.read()) == {"status": "ok"}
        healthy[0] = False
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert failed.value.code == 503
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        ("service", {"metrics_listen": "0.0.0.0:9108"}, "not a loopback address"),
        ("service", {"metrics_listen": "9108"}, "is not HOST:PORT"),
        ("schedule", {"full_at": "24:00"}, "is not a time of day"),
        ("schedule", {"cycle_minutes": 0}, "greater than or equal"),
    ],
)
def test_schedule_and_service_settings_are_checked(tmp_path: Path, section: str, values: dict, message: str) -> None:
    config = tmp_path / "config.toml"
    body = "\n".join(f"{k} = {json.dumps(v)}" for k, v in values.items())
    config.write_text(
        f'[directory]\nbind_password = "x"\n\n[{section}]\n{body}\n\n'
        '[[companies]]\ncode = "HQ"\ndomain = "example.com"\npeople_dn = "ou=hq,dc=example,dc=com"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as error:
        load_settings(config)
    assert f"{section}." in str(error.value) and message in str(error.value)


def test_the_daemon_runs_mailboxes_too_against_a_real_modoboa(tmp_path: Path, demo_slapd: Slapd, modoboa) -> None:
    """`lifecycle run` with [mail]: the first cycle makes the accounts and their mailboxes."""
    from pydantic import SecretStr

    from connectors.mail_modoboa import ModoboaBackend, ModoboaSettings
    from tests.daemon_support import append_config

    config = make_config(tmp_path, demo_slapd, small=True)
    append_config(
        config,
        f'\n[mail]\nurl = "{modoboa.url}"\ntoken = "{modoboa.token}"\n'
        "max_writes_per_second = 1000\nmax_requests_per_minute = 1000000\n",
    )
    daemon = Daemon(config)
    try:
        first = daemon.wait_event("cycle_summary", kind="normal")
        assert first["outcome"] == "ok", daemon.tail()
        kinds = {line["kind"] for line in daemon.events("action_applied")}
        assert {"create_account", "create_mailbox"} <= kinds
        daemon.wait_event("cycle_summary", kind="quiet")
    finally:
        assert daemon.stop() == 0, daemon.tail()
    with ModoboaBackend(ModoboaSettings(url=modoboa.url, token=SecretStr(modoboa.token))) as mail:
        boxes = mail.read_snapshot(["example.com", "sz.example.com", "gz.example.com"]).mailboxes
    settings = load_settings(config)
    with LdapDirectory(settings.directory, settings.companies) as directory:
        entries = directory.read_snapshot().entries
    assert entries and sorted(b.address for b in boxes) == sorted(e.mail for e in entries)


# -- a company whose HR rows are unusable -----------------------------------------------------

UNUSABLE_GZ = ["100101,甲一,,,HQ,总经办,会计,,在职,2020-01-01,", "100102,甲二,,,HQ,总经办,会计,,在职,2020-01-01,"] + [
    f"{300000 + i},乙{i},,,GZ,运营部,专员,,在职,01/02/2020," for i in range(5)]  # a date format HR changed for GZ


def test_a_company_whose_hr_rows_are_unusable_is_no_success_and_never_a_quiet_cycle(tmp_path: Path, demo_slapd) -> None:
    config = make_config(tmp_path, demo_slapd, small=True, rows=UNUSABLE_GZ)
    daemon = Daemon(config)
    try:
        first = next_summary(daemon, 0, kind="normal")
        assert first["outcome"] == "hr_unusable" and first["error"] == "hr feed unusable: GZ"
        again = next_summary(daemon, daemon.summaries().index(first) + 1)
        assert again["kind"] == "normal" and again["outcome"] == "hr_unusable"  # no quiet cycle hides it
        assert len(daemon.events("hr_feed_unusable", company="GZ")) >= 2
        code, body = daemon.get("/healthz")
        health = json.loads(body)
        assert code == 200 and health["status"] == "degraded" and "hr feed unusable: GZ" in health["last_cycle"]["detail"]
    finally:
        assert daemon.stop() == 0
