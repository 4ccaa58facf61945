"""What every rule needs besides the person: settings, `now`, and the company map."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from functools import cached_property

from lifecycle.domain.interventions import NO_INTERVENTIONS, Interventions
from lifecycle.domain.settings import CompanySettings, Settings
from policies.placement import dn_key


@dataclass(frozen=True)
class PolicyContext:
    settings: Settings
    now: datetime  # aware; every decision is taken "as of" this instant
    # Some rejected HR rows had no readable employee id: anyone absent may be one of
    # them, so absence is not counted as a departure this cycle.
    absence_frozen: bool = False
    # Employees under a legal hold: never deleted.
    holds: frozenset[str] = frozenset()
    # What admins decided outside HR: forwards, suspensions, new accounts (lifecycle.domain.interventions).
    interventions: Interventions = NO_INTERVENTIONS

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("now must be timezone-aware")

    @cached_property
    def _companies(self) -> dict[str, CompanySettings]:
        found: dict[str, CompanySettings] = {}
        for c in self.settings.companies:
            found.setdefault(c.code, c)  # the first company with a code wins, as a linear search would
        return found

    def company(self, code: str) -> CompanySettings | None:
        return self._companies.get(code)

    @cached_property
    def _zones(self) -> dict[str, tzinfo]:
        return {}

    def zone(self, company: str) -> tzinfo:
        zones = self._zones
        found = zones.get(company)
        if found is None:
            found = zones[company] = self.settings.company_zone(company)
        return found

    @cached_property
    def _todays(self) -> dict[str, date]:
        return {}

    def today(self, company: str) -> date:
        """The calendar date at `now` in the company's time zone: effective dates are local."""
        todays = self._todays
        found = todays.get(company)
        if found is None:
            found = todays[company] = self.now.astimezone(self.zone(company)).date()
        return found

    @cached_property
    def now_iso(self) -> str:
        return self.now.isoformat()

    @cached_property
    def warn_after(self) -> timedelta:
        """How long after its last use an account is warned about inactivity."""
        policy = self.settings.policy
        return timedelta(days=policy.inactivity_days - policy.inactivity_warning_days)

    @cached_property
    def managed_domains(self) -> frozenset[str]:
        return frozenset(c.domain for c in self.settings.companies)

    @cached_property
    def _subtrees(self) -> tuple[tuple[str, str], ...]:
        """(",people_dn" key, company code), deepest subtree first."""
        keys = [("," + _normalize_dn(c.people_dn), c.code) for c in self.settings.companies]
        return tuple(sorted(keys, key=lambda item: -len(item[0])))

    @cached_property
    def _parents(self) -> dict[str, str | None]:
        return {}

    def company_of_dn(self, dn: str) -> str | None:
        """The company whose people subtree holds `dn` (the deepest match wins)."""
        comma = dn.find(",")
        if comma > 0 and "\\" not in dn[:comma]:
            # The first RDN holds no comma: the answer depends only on the parent DN, and the
            # entries of a directory share a handful of parents.  (With dn = rdn + "," + parent and
            # the rdn comma-free, dn_key(dn) ends with "," + key  <=>  dn_key(parent) == key or
            # dn_key(parent) ends with "," + key.)
            parent = dn[comma + 1 :]
            parents = self._parents
            if parent in parents:
                return parents[parent]
            found = parents[parent] = self._company_of_key("," + _normalize_dn(parent))
            return found
        return self._company_of_key(_normalize_dn(dn))

    def _company_of_key(self, lowered: str) -> str | None:
        for suffix, code in self._subtrees:
            if lowered.endswith(suffix):
                return code
        return None

    def days(self, count: int) -> timedelta:
        return timedelta(days=count)


def _normalize_dn(dn: str) -> str:
    return dn_key(dn)


def start_of_day(day: date, zone: tzinfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone)
