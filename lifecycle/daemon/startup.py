"""The daemon's schedule triggers and its state store at start and takeover (lifecycle.daemon.service)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import structlog
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from lifecycle.domain.settings import Settings
from lifecycle.journal.store import upgrade_store
from lifecycle.runtime.instrument import DaemonJournal, Progress
from lifecycle.runtime.metrics import Metrics

log = structlog.get_logger("lifecycle.daemon.service")


def interval_trigger(s: Settings) -> IntervalTrigger:
    return IntervalTrigger(seconds=round(s.schedule.cycle_minutes * 60, 3))


def daily_trigger(s: Settings) -> CronTrigger:
    hour, minute = (int(part) for part in s.schedule.full_at.split(":"))
    return CronTrigger(hour=hour, minute=minute, timezone=ZoneInfo(s.policy.timezone))


def open_journal(url: str, metrics: Metrics, progress: Progress) -> DaemonJournal:
    """The active instance's journal, its store first brought to this version's schema.

    Here and not at every start: a standby must not change the schema under an active
    instance that may still run the older code; it upgrades when it takes over.
    """
    upgrade_to_current(url)
    return DaemonJournal(url, metrics, progress)


def upgrade_to_current(url: str) -> None:
    """Bring the store to this version's schema; StateStoreError for one written by a newer version."""
    before = upgrade_store(url)
    if before.upgrade_due:
        log.info("state_store_upgraded", state=safe_url(url), was=before.words(), steps=list(before.steps))


def ping_state_store(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()


def safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
