"""Instants as admins type them: an ISO date or date-time, read in the company's time zone when it has no offset."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def parse_instant(text: str, timezone: str) -> datetime:
    """`2027-01-15`, `2027-01-15T09:00` or `2027-01-15T09:00+08:00`; ValueError for anything else,
    or for a date at the edge of the calendar that cannot be told in UTC."""
    try:
        value = datetime.fromisoformat(text)
        value = value if value.tzinfo else value.replace(tzinfo=ZoneInfo(timezone))
        value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"{text!r} lies beyond the calendar's edge") from exc
    return value
