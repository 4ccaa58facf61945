"""Handing out addresses: IT's naming rule plus the one namespace across all domains.

An address, once given, belongs to its employee forever (suspended and
deleted people keep theirs reserved); a rehire gets their own name back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from lifecycle.domain.models import HrRecord
from lifecycle.domain.settings import NamingSettings
from policies.naming import MAX_COUNTER, LocalPartsExhausted, NamingProblem, lower_name, propose_local_part


class Names(Protocol):
    """Where a joiner's name comes from: a free local part for the record, or why there is none."""

    def allocate(self, record: HrRecord) -> str | NamingProblem: ...


class NameAllocator:
    def __init__(
        self, taken: Iterable[str], owners: dict[str, str], settings: NamingSettings, *, lowered: frozenset[str] = frozenset()
    ) -> None:
        # `lowered`: taken names already in lower case, shared rather than copied (every uid of the
        # directory); `_taken` holds the rest and every name claimed here.
        self._lowered = lowered
        self._taken = {key for key in map(lower_name, taken) if key not in lowered}
        self._owners = {lower_name(name): employee_id for name, employee_id in owners.items()}
        self._settings = settings
        # Base local part per (name, family name): pinyin is the expensive step and names repeat.
        self._proposals: dict[tuple[str, str], str | NamingProblem] = {}
        # base -> the counter to try first.  Names are only ever added to the taken set, so the
        # first free counter of a base never goes down: the next search starts where the last one
        # ended, instead of at base2 (a common name's 300th holder is found in one step, not 300).
        self._next_counter: dict[str, int] = {}

    def is_taken(self, name: str) -> bool:
        key = lower_name(name)
        return key in self._taken or key in self._lowered

    def allocate(self, record: HrRecord) -> str | NamingProblem:
        override = self._settings.overrides.get(record.employee_id)
        if override:
            owner = self._owners.get(lower_name(override))
            if owner not in (None, record.employee_id) or (owner is None and self.is_taken(override)):
                return NamingProblem(
                    reason=f"the override {override!r} is already used by {'employee ' + owner if owner else 'another entry'}",
                    fix=f"choose another value for [naming.overrides] \"{record.employee_id}\"",
                )
            return self._claim(override, record.employee_id)
        key = (record.name, record.family_name)
        proposed = self._proposals.get(key)
        if proposed is None:
            proposed = self._proposals[key] = propose_local_part(
                record.name,
                record.family_name,
                self._settings.template,
                self._settings.u_umlaut,
                self._settings.max_length,
            )
        if isinstance(proposed, NamingProblem):
            return NamingProblem(
                reason=proposed.reason,
                fix=f"add [naming.overrides] \"{record.employee_id}\" = \"<local part>\" to the config",
            )
        return self._claim(self._choose(proposed), record.employee_id)

    def _choose(self, base: str) -> str:
        """`choose_local_part(base, self.is_taken)`, resuming the counter search where it stopped."""
        start = self._next_counter.get(base)
        if start is None:
            if not self.is_taken(base):
                return base
            start = 2
        taken, lowered = self._taken, self._lowered
        for counter in range(start, MAX_COUNTER + 1):
            candidate = f"{base}{counter}"
            key = lower_name(candidate)
            if key not in taken and key not in lowered:
                self._next_counter[base] = counter + 1  # this one is claimed by the caller
                return candidate
        raise LocalPartsExhausted(f"{base!r} and {base}2 ... {base}{MAX_COUNTER} are all taken")

    def _claim(self, name: str, employee_id: str) -> str:
        key = lower_name(name)
        self._taken.add(key)
        self._owners[key] = employee_id
        return name
