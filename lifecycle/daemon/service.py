"""`lifecycle run`: the daemon (a systemd `Type=notify` service).

- APScheduler runs a cycle every `[schedule] cycle_minutes` and a full
  reconciliation daily at `[schedule] full_at` (company time zone).  Both jobs
  share one worker thread, so two cycles never overlap; a run missed while
  another was going (or while the machine slept) is run once, late.
- A cycle whose inputs are unchanged and whose plan no timer changes is quiet:
  it reads and plans nothing (see `lifecycle.engine.quiet`).  The full reconciliation
  never skips.
- The main thread owns everything that must keep working while a cycle runs:
  signals, config reloads, the active/standby lock, the systemd watchdog and
  status.  Watchdog pings stop when a cycle makes no progress for
  `[service] stall_minutes`, so systemd restarts a hung daemon.
- SIGTERM/SIGINT: the action in flight finishes and is recorded, then exit 0.
  SIGHUP: reload the config; a broken one is logged and the old one kept.
- Every log line carries `run_id`: the cycle's (the journal's run id once the
  cycle has one), else the daemon's own id.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from sqlalchemy.exc import SQLAlchemyError

from connectors.ldap import LdapDirectory
from lifecycle.daemon.decisions import DecisionWatch
from lifecycle.daemon.notices import DaemonNotices
from lifecycle.daemon.startup import (
    daily_trigger,
    first_line,
    interval_trigger,
    open_journal,
    ping_state_store,
    safe_url,
    upgrade_to_current,
)
from lifecycle.domain.errors import ConfigError, ConnectorError, FeedError, LifecycleError, StateStoreError
from lifecycle.domain.ports import HrSource
from lifecycle.domain.settings import Settings, load_settings, resolve_config_path
from lifecycle.engine import quiet
from lifecycle.engine.cycle import apply_cycle, config_fingerprint, open_hr
from lifecycle.engine.render import summarize_held
from lifecycle.runtime.instrument import DaemonJournal, Progress, ToStructlog, WatchedDirectory, count_error
from lifecycle.runtime.leader import instance_name, leadership_for
from lifecycle.runtime.metrics import Metrics, MetricsServer, parse_listen
from lifecycle.runtime.notify import Notifier
from lifecycle.runtime.progress import StatusProgress

log = structlog.get_logger("lifecycle.daemon.service")


def run_daemon(settings: Settings, config_path: str | None, *, json: bool, level: str) -> int:
    """`lifecycle run`: log to stdout (journald reads it) and run until SIGTERM."""
    from lifecycle.runtime.logging import configure_logging

    configure_logging(json=json, level=level, stream=sys.stdout)
    return Daemon(settings, config_path).run()


@dataclass
class LastCycle:
    kind: str = ""
    outcome: str = ""
    finished: datetime | None = None
    detail: str = ""


class Daemon:
    def __init__(self, settings: Settings, config_path: str | None, *, notifier: Notifier | None = None) -> None:
        self.settings = settings
        self.config_path = config_path
        self.instance = instance_name()
        self.instance_id = str(uuid.uuid4())
        self.notifier = notifier or Notifier()
        self.metrics = Metrics()
        self.notices = DaemonNotices(self.metrics)
        self.progress = Progress()
        # How far the apply of the cycle in flight is, in STATUS= (sent by the cycle's thread as it advances).
        self.apply_progress = StatusProgress(self.notifier, status=lambda _line: self._status_text())
        self.leader = leadership_for(settings.state.url)
        self.journal: DaemonJournal | None = None
        self.scheduler: BackgroundScheduler | None = None
        self.http: MetricsServer | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._signal = ""
        self._reload = False
        self._active = False
        self._cycle_lock = threading.Lock()
        self._baseline: quiet.Baseline | None = None
        self._decisions = DecisionWatch()  # an admin's decision between cycles asks for one now
        # One HR source for as long as the settings stand: an API source keeps its token and its
        # connection from cycle to cycle (a vendor throttles token requests).
        self._hr: HrSource | None = None
        self._hr_settings: Settings | None = None  # what `_hr` was opened with
        self._last = LastCycle()
        self._last_success: datetime | None = None
        self._stall_reported = False
        self._status_sent = ""
        self._holder = ""
        self._problems: list[str] = []

    # -- the process ----------------------------------------------------------------

    def run(self) -> int:
        structlog.contextvars.bind_contextvars(instance=self.instance, run_id=self.instance_id)
        handler = ToStructlog(self.instance_id)
        logging.getLogger().addHandler(handler)
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        previous = self._install_signals()
        try:
            if not self._start():
                return 1
            self._loop()
            return 0
        finally:
            self._shutdown()
            for signum, old in previous.items():
                signal.signal(signum, old)
            logging.getLogger().removeHandler(handler)

    def _install_signals(self) -> dict[int, Any]:
        def stop(signum: int, _frame: Any) -> None:
            self._signal = signal.Signals(signum).name
            self._stop.set()
            self._wake.set()

        def reload(_signum: int, _frame: Any) -> None:
            self._reload = True
            self._wake.set()

        previous: dict[int, Any] = {}
        for signum, handler in ((signal.SIGTERM, stop), (signal.SIGINT, stop), (signal.SIGHUP, reload)):
            previous[signum] = signal.signal(signum, handler)
        return previous

    def _start(self) -> bool:
        s = self.settings
        log.info(
            "daemon_starting", config=str(resolve_config_path(self.config_path)), state=safe_url(s.state.url),
            lock=self.leader.description, cycle_minutes=s.schedule.cycle_minutes, full_at=s.schedule.full_at,
            timezone=s.policy.timezone, watchdog_seconds=self.notifier.watchdog_interval,
        )
        try:
            self._active = self.leader.try_acquire()
            if self._active:
                self.journal = open_journal(s.state.url, self.metrics, self.progress)
            else:
                ping_state_store(s.state.url)  # a standby only needs to reach it; the tables are the active one's
        except (SQLAlchemyError, OSError, LifecycleError) as exc:
            log.error("startup_failed", check="state store", state=safe_url(s.state.url), error=first_line(exc))
            return False
        self.metrics.active.set(1 if self._active else 0)
        if not self._active:
            self._holder = self.leader.holder()
        self._problems = self._check_connections(s)
        listen = parse_listen(s.service.metrics_listen)
        if listen is not None:
            try:
                self.http = MetricsServer(listen[0], listen[1], self.metrics, self._health).start()
            except OSError as exc:
                log.error("startup_failed", check="service.metrics_listen", listen=s.service.metrics_listen, error=str(exc))
                return False
            host, port = self.http.address
            log.info("metrics_listening", address=f"{host}:{port}", paths=["/metrics", "/healthz"])
        self.scheduler = self._make_scheduler(s)
        self.scheduler.start()
        self._update_next_run()
        log.info("daemon_ready", role=self._role(), active_instance=self._holder or None, problems=self._problems)
        self.notifier.ready(self._status_text())
        return True

    def _check_connections(self, s: Settings) -> list[str]:
        problems: list[str] = []
        if s.hr.is_file and not os.access(s.hr.path, os.R_OK):
            problems.append(f"hr export {s.hr.path} is not readable (yet)")
        try:
            with LdapDirectory(s.directory, s.companies) as directory:
                problems.extend(f"directory: {p}" for p in directory.check())
        except LifecycleError as exc:
            problems.append(f"directory: {exc}")
        for problem in problems:
            log.warning("startup_check_failed", problem=problem, consequence="cycles report it until it is fixed")
        return problems

    def _make_scheduler(self, s: Settings) -> BackgroundScheduler:
        zone = ZoneInfo(s.policy.timezone)
        scheduler = BackgroundScheduler(
            timezone=zone,
            executors={"default": ThreadPoolExecutor(1)},  # one worker: never two cycles at once
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        scheduler.add_job(self._job, interval_trigger(s), args=("scheduled",), id="cycle", name="cycle",
                          next_run_time=datetime.now(zone))
        scheduler.add_job(self._job, daily_trigger(s), args=("full",), id="full", name="full reconciliation")
        scheduler.add_listener(self._scheduler_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        return scheduler

    def _scheduler_event(self, event: JobExecutionEvent) -> None:
        # The scheduler's own thread: no context is bound there.
        own = log.bind(instance=self.instance, run_id=self.instance_id)
        if event.code == EVENT_JOB_MAX_INSTANCES:
            own.info("cycle_still_running", job=event.job_id, consequence="this run is coalesced into the next one")
        elif event.code == EVENT_JOB_MISSED:
            own.warning("cycle_missed", job=event.job_id, scheduled=str(event.scheduled_run_time))
        else:
            own.error("cycle_crashed", job=event.job_id, error=repr(event.exception))

    # -- the main thread ------------------------------------------------------------------

    def _tick(self) -> float:
        interval = self.notifier.watchdog_interval
        return min(1.0, interval / 4) if interval else 1.0

    def _loop(self) -> None:
        next_poll = 0.0
        while not self._stop.is_set():
            try:
                if self._reload:
                    self._do_reload()
                if time.monotonic() >= next_poll:
                    self._poll_leadership()
                    next_poll = time.monotonic() + (1.0 if self._active else self.settings.service.standby_poll_seconds)
                self._cycle_for_decisions()
            except Exception as exc:
                log.error("main_loop_error", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
                next_poll = time.monotonic() + 1.0
            self._heartbeat()
            self._wake.wait(self._tick())
            self._wake.clear()

    def _heartbeat(self) -> None:
        stalled = self.progress.stalled_for()
        if stalled > self.settings.service.stall_minutes * 60:
            if not self._stall_reported:
                log.error("cycle_stalled", phase=self.progress.phase, seconds=round(stalled),
                          consequence="watchdog pings stop; systemd restarts the service after WatchdogSec")
                self._stall_reported = True
        else:
            if self._stall_reported:
                log.warning("cycle_progressing_again", phase=self.progress.phase)
                self._stall_reported = False
            if self.notifier.watchdog_interval:
                self.notifier.watchdog()
        status = self._status_text()
        if status != self._status_sent:
            self.notifier.status(status)
            self._status_sent = status

    def _poll_leadership(self) -> None:
        if self._active:
            if not self.leader.check():
                self._lose_leadership()
            return
        if not self.leader.try_acquire():
            holder = self.leader.holder()
            if holder != self._holder:
                log.info("standby", active_instance=holder or None)
                self._holder = holder
            return
        try:
            if self.journal is None:
                self.journal = open_journal(self.settings.state.url, self.metrics, self.progress)
            else:  # taken back: another instance may have upgraded the store meanwhile, perhaps past this version
                upgrade_to_current(self.settings.state.url)
        except (SQLAlchemyError, OSError, StateStoreError) as exc:
            log.error("takeover_failed", error=first_line(exc), consequence="standing by; retrying")
            self.leader.release()
            return
        self._baseline = None
        self._active = True
        self.metrics.active.set(1)
        log.warning("leadership_acquired", previous=self._holder or None, lock=self.leader.description)
        self._holder = ""
        if self.scheduler is not None:
            self.scheduler.modify_job("cycle", next_run_time=datetime.now(ZoneInfo(self.settings.policy.timezone)))

    def _lose_leadership(self) -> None:
        if self._active:
            self._active = False
            self._baseline = None
            self.metrics.active.set(0)
            log.error("leadership_lost", lock=self.leader.description, consequence="no more actions; standing by")

    def _do_reload(self) -> None:
        self._reload = False
        self.notifier.reloading()
        old = self.settings
        try:
            new = load_settings(self.config_path)
            if new.state.url != old.state.url:
                raise ConfigError("state.url cannot change while the daemon runs; restart the service to switch state stores")
        except (ConfigError, OSError) as exc:
            log.error("reload_failed", error=str(exc), consequence="the running configuration stays in force")
            self.notifier.ready(self._status_text())
            return
        if new.service.metrics_listen != old.service.metrics_listen:
            log.warning("reload_partial", ignored="service.metrics_listen", consequence="takes effect at the next restart")
        self.settings = new
        self._baseline = None  # the next cycle opens the HR source anew (a cycle in flight keeps its own)
        if self.scheduler is not None:
            self.scheduler.reschedule_job("cycle", trigger=interval_trigger(new))
            self.scheduler.reschedule_job("full", trigger=daily_trigger(new))
            self.scheduler.modify_job("cycle", next_run_time=datetime.now(ZoneInfo(new.policy.timezone)))
        log.info("config_reloaded", config_fingerprint=config_fingerprint(new), cycle_minutes=new.schedule.cycle_minutes,
                 full_at=new.schedule.full_at)
        self.notifier.ready(self._status_text())

    def _hr_source(self, s: Settings) -> HrSource:
        """The HR source of these settings; called from the cycle's thread only, so none closes under a cycle."""
        if self._hr is None or self._hr_settings is not s:
            self._close_hr()
            self._hr, self._hr_settings = open_hr(s), s
        return self._hr

    def _close_hr(self) -> None:
        hr, self._hr, self._hr_settings = self._hr, None, None
        close = getattr(hr, "close", None)
        if callable(close):
            try:
                close()
            except Exception as exc:  # a connection that will not close cleanly is gone all the same
                log.warning("hr_source_close_failed", error=f"{type(exc).__name__}: {first_line(exc)}")

    def _shutdown(self) -> None:
        if self._signal:
            log.info("stop_requested", signal=self._signal, consequence="finishing the action in flight")
        self.notifier.stopping("stopping: finishing the action in flight")
        self._stop.set()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        while not self._cycle_lock.acquire(timeout=self._tick()):  # held from here on: no cycle can start
            self._heartbeat()
        if self.http is not None:
            self.http.stop()
        self._close_hr()
        self.leader.release()
        if self.journal is not None:
            self.journal.close()
        log.info("daemon_stopped", last_cycle=self._last.outcome or None)
        self.notifier.close()

    # -- status -----------------------------------------------------------------------

    def _role(self) -> str:
        return "active" if self._active else "standby"

    def _next_run(self) -> datetime | None:
        if self.scheduler is None:
            return None
        times = [job.next_run_time for job in self.scheduler.get_jobs() if job.next_run_time is not None]
        return min(times) if times else None

    def _update_next_run(self) -> None:
        upcoming = self._next_run()
        if upcoming is not None:
            self.metrics.next_run.set(upcoming.timestamp())

    def _status_text(self) -> str:
        if not self._active:
            return f"standby; active instance: {self._holder or 'unknown'}"
        parts = []
        stalled = self.progress.stalled_for()
        if stalled > self.settings.service.stall_minutes * 60:
            parts.append(f"STALLED in {self.progress.phase} for {round(stalled)}s")
        elif self.progress.running:
            parts.append(f"cycle running: {self.apply_progress.line}" if self.apply_progress.line else "cycle running")
        last = self._last
        if last.finished is not None:
            parts.append(f"last cycle {last.finished:%Y-%m-%d %H:%M:%S} {last.kind} {last.outcome}: {last.detail}")
        elif self._problems:
            parts.append(f"{len(self._problems)} start-up problems: {self._problems[0]}")
        upcoming = self._next_run()
        if upcoming is not None:
            # In the company's time zone, like the last cycle (the scheduler may hold it in another).
            parts.append(f"next {upcoming.astimezone(ZoneInfo(self.settings.policy.timezone)):%H:%M:%S}")
        return "; ".join(parts) or "active"

    def _health(self) -> tuple[bool, dict[str, Any]]:
        stalled = self.progress.stalled_for() > self.settings.service.stall_minutes * 60
        if not self._active:
            status = "standby"
        elif stalled:
            status = "stalled"
        elif self._last.outcome == "error":
            status = "failing"
        elif self._last.outcome in ("failures", "stopped", "hr_unusable"):
            status = "degraded"
        else:
            status = "ok"
        upcoming = self._next_run()
        detail = {
            "status": status,
            "role": self._role(),
            "instance": self.instance,
            "last_cycle": {
                "kind": self._last.kind or None,
                "outcome": self._last.outcome or None,
                "finished": self._last.finished.isoformat() if self._last.finished else None,
                "detail": self._last.detail or None,
            },
            "last_success": self._last_success.isoformat() if self._last_success else None,
            "next_run": upcoming.isoformat() if upcoming else None,
            "cycle_running": self.progress.running,
        }
        return status in ("ok", "degraded", "standby"), detail

    # -- one cycle (scheduler thread) ---------------------------------------------------------

    def _job(self, trigger: str) -> None:
        if not self._cycle_lock.acquire(blocking=False):
            log.warning("cycle_overlap_refused", trigger=trigger)
            return
        try:
            if self._stop.is_set() or not self._active:
                return
            if not self.leader.check():
                self._lose_leadership()
                return
            structlog.contextvars.clear_contextvars()
            structlog.contextvars.bind_contextvars(instance=self.instance, run_id=str(uuid.uuid4()))
            self._cycle(full=trigger == "full")
        except Exception as exc:
            log.error("cycle_crashed", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        finally:
            self.progress.end()
            structlog.contextvars.clear_contextvars()
            self._decisions.cycle_ended(self._state_version())
            self._cycle_lock.release()
            self._wake_for_notices()
            self._update_next_run()
            self._wake.set()  # the main thread updates STATUS now

    def _cycle_for_decisions(self) -> None:
        journal, scheduler = self.journal, self.scheduler
        if journal is None or scheduler is None or not self._active or self._cycle_lock.locked():
            return
        if self._decisions.changed(journal.state_version):
            log.info("decision_found", consequence="a cycle now, to apply what an admin decided")
            scheduler.add_job(self._job, args=("decision",), id="decision", name="decision", replace_existing=True)

    def _wake_for_notices(self) -> None:
        """A cycle when the outbox's next retry or a digest comes before the next scheduled one."""
        if self.journal is None or self.scheduler is None or not self._active or self._stop.is_set():
            return
        try:
            wake, upcoming = self.notices.next_wake(self.settings, self.journal), self._next_run()
            if wake is not None and (upcoming is None or wake < upcoming):
                self.scheduler.add_job(self._job, DateTrigger(wake), args=("notices",), id="notices",
                                       name="notices", replace_existing=True)
        except Exception as exc:  # the regular cycles send them all the same
            log.warning("notices_wake_failed", error=f"{type(exc).__name__}: {first_line(exc)}")

    def _state_version(self) -> int | None:
        try:
            return self.journal.state_version() if self.journal is not None else None
        except Exception:  # the store is down: the scheduled cycles say so
            return None

    def _should_stop(self) -> bool:
        """Asked between actions: a stop request, or a lost lock, ends the run after the action in flight."""
        self.progress.mark("between actions")
        if self._stop.is_set():
            return True
        if not self.leader.check():
            self._lose_leadership()
            return True
        return False

    def _cycle(self, *, full: bool) -> None:
        s, journal = self.settings, self.journal
        assert journal is not None
        self.progress.begin()
        started = time.monotonic()
        zone = ZoneInfo(s.policy.timezone)
        now = datetime.now(UTC).astimezone(zone)
        config = config_fingerprint(s)
        kind = "full" if full else "normal"
        changed = ["daily full reconciliation"] if full else []
        plan = result = None
        outcome, error = "error", ""
        journal.last_run_id = ""
        try:
            hr = self._hr_source(s)
            with LdapDirectory(s.directory, s.companies) as ldap:
                if not full:
                    self.progress.mark("quiet check")
                    verdict = quiet.check(self._baseline, s, config, now, ldap, journal.state_version, hr)
                    digests = self.notices.digests_due(s, journal, now) if verdict.quiet else []
                    if verdict.quiet and not digests:
                        self.notices.quiet_drain(s, journal, self._should_stop)
                        self._finish_quiet(verdict, started)
                        return
                    changed = verdict.changed or [f"daily digest due: {', '.join(digests)}"]
                self.progress.mark("markers")
                before = quiet.Glance.of(quiet.take_markers(hr, ldap, journal.state_version))
                directory = WatchedDirectory(ldap, self.progress, self.metrics)
                postman = self.notices.postman(s, journal, self._should_stop)
                try:
                    plan, result = apply_cycle(s, now, directory, journal, should_stop=self._should_stop,
                                               hr=hr, progress=self.apply_progress, postman=postman)
                finally:
                    self._bind_cycle_run_id()  # apply_cycle unbinds its run_id; what follows still belongs to it
                    self.notices.finish(postman, journal)  # the relay's connection closed (QUIT), counted
                outcome = result.outcome
                if plan.unusable and outcome == "ok":
                    # Nothing was done for a company whose HR rows are unusable: not a success, and no quiet
                    # cycle may hide it; every cycle says it again until HR's rows are fixed.
                    outcome = "hr_unusable"
                    error = "hr feed unusable: " + ", ".join(sorted(c for c in plan.unusable if c != "*") or ["*"])
                self._baseline = None
                if outcome == "ok" and not plan.actions:
                    self.progress.mark("baseline")
                    try:
                        self._baseline = quiet.baseline_after(s, config, ldap, hr, journal.state_version, before, plan,
                                                             directory.snapshot)
                    except Exception as exc:
                        log.warning("quiet_baseline_failed", error=f"{type(exc).__name__}: {first_line(exc)}",
                                    consequence="the next cycle reads everything again")
        except Exception as exc:
            self._baseline = None
            error = f"{type(exc).__name__}: {first_line(exc)}"
            connector = (getattr(exc, "connector", "") or "directory") if isinstance(exc, ConnectorError) else (
                "hr" if isinstance(exc, FeedError) else "state" if isinstance(exc, (SQLAlchemyError, StateStoreError)) else "internal")
            count_error(self.metrics, exc, connector)
            if isinstance(exc, (LifecycleError, SQLAlchemyError)):
                log.error("cycle_failed", error=error, connector=connector)
            else:
                log.error("cycle_failed", error=error, connector=connector, traceback=traceback.format_exc())
        self._finish(kind, outcome, started, changed, plan, result, error)

    def _finish_quiet(self, verdict: quiet.Verdict, started: float) -> None:
        elapsed = time.monotonic() - started
        self.metrics.cycles.labels("quiet", "ok").inc()
        self.metrics.cycle_duration.labels("quiet").observe(elapsed)
        finished = datetime.now(UTC)
        self.metrics.last_cycle.set(finished.timestamp())
        self.metrics.last_success.set(finished.timestamp())
        self._last_success = finished
        self._last = LastCycle("quiet", "ok", finished.astimezone(ZoneInfo(self.settings.policy.timezone)), "inputs unchanged")
        due = self._baseline.due if self._baseline else None
        log.info("cycle_summary", kind="quiet", outcome="ok", duration_ms=round(elapsed * 1000, 1),
                 skipped=sorted(verdict.unchanged), why=verdict.unchanged,
                 next_due=due.isoformat(timespec="seconds") if due else None)

    def _bind_cycle_run_id(self) -> None:
        if self.journal is not None and self.journal.last_run_id:
            structlog.contextvars.bind_contextvars(run_id=self.journal.last_run_id)

    def _finish(self, kind: str, outcome: str, started: float, changed: list[str], plan: Any, result: Any, error: str) -> None:
        elapsed = time.monotonic() - started
        self.metrics.cycles.labels(kind, outcome).inc()
        self.metrics.cycle_duration.labels(kind).observe(elapsed)
        finished = datetime.now(UTC)
        self.metrics.last_cycle.set(finished.timestamp())
        if outcome == "ok":
            self.metrics.last_success.set(finished.timestamp())
            self._last_success = finished
        counts = dict(result.counts) if result is not None else {}
        held = summarize_held(plan) if plan is not None else None
        if plan is not None and held is not None:
            self.metrics.held.set(held.listed)  # what `lifecycle held` lists; what depends on them follows them
            detail = f"{len(plan.actions)} actions ({', '.join(f'{n} {k}' for k, n in sorted(counts.items())) or 'none'})"
            if plan.held:
                detail += f", {held.text()}"
        else:
            detail = error
        if result is not None and result.stopped:
            detail += f"; stopped: {result.stopped}"
        if plan is not None and error:
            detail += f"; {error}"
        self._last = LastCycle(kind, outcome, finished.astimezone(ZoneInfo(self.settings.policy.timezone)), detail)
        due = self._baseline.due if self._baseline else None
        log.info(
            "cycle_summary", kind=kind, outcome=outcome, duration_ms=round(elapsed * 1000, 1), changed=changed,
            actions=len(plan.actions) if plan is not None else None, counts=counts,
            **(held.fields() if held is not None else {"held": None}), error=error or None,
            quiet_next=self._baseline is not None, next_due=due.isoformat(timespec="seconds") if due else None,
        )


