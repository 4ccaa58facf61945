"""What every rule needs besides the person: settings, `now`, and the company map."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from functools import cached_property

from lifecycle.settings import CompanySettings, Settings


@dataclass(frozen=True)
class PolicyContext:
    settings: Settings
    now: datetime  # aware; every decision is taken "as of" this instant
    # Some rejected HR rows had no readable employee id: anyone absent may be one of
    # them, so absence is not counted as a departure this cycle.
    absence_frozen: bool = False
    # Employees under a legal hold: never deleted.
    holds: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("now must be timezone-aware")

    def company(self, code: str) -> CompanySettings | None:
        return next((c for c in self.settings.companies if c.code == code), None)

    def zone(self, company: str) -> tzinfo:
        return self.settings.company_zone(company)

    def today(self, company: str) -> date:
        """The calendar date at `now` in the company's time zone: effective dates are local."""
        return self.now.astimezone(self.zone(company)).date()

    @cached_property
    def _subtrees(self) -> tuple[tuple[str, str], ...]:
        """(",people_dn" key, company code), deepest subtree first."""
        keys = [("," + _normalize_dn(c.people_dn), c.code) for c in self.settings.companies]
        return tuple(sorted(keys, key=lambda item: -len(item[0])))

    def company_of_dn(self, dn: str) -> str | None:
        """The company whose people subtree holds `dn` (the deepest match wins)."""
        lowered = _normalize_dn(dn)
        return next((code for suffix, code in self._subtrees if lowered.endswith(suffix)), None)

    def days(self, count: int) -> timedelta:
        return timedelta(days=count)


def _normalize_dn(dn: str) -> str:
    return ",".join(part.strip().lower() for part in dn.split(","))


def start_of_day(day: date, zone: tzinfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone)
