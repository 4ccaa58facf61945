"""Handing out addresses: IT's naming rule plus the one namespace across all domains.

An address, once given, belongs to its employee forever (suspended and
deleted people keep theirs reserved); a rehire gets their own name back.
"""

from __future__ import annotations

from lifecycle.models import HrRecord
from lifecycle.settings import NamingSettings
from policies.naming import NamingProblem, choose_local_part, propose_local_part


class NameAllocator:
    def __init__(self, taken: set[str], owners: dict[str, str], settings: NamingSettings) -> None:
        self._taken = {name.lower() for name in taken}
        self._owners = {name.lower(): employee_id for name, employee_id in owners.items()}
        self._settings = settings

    def is_taken(self, name: str) -> bool:
        return name.lower() in self._taken

    def allocate(self, record: HrRecord) -> str | NamingProblem:
        override = self._settings.overrides.get(record.employee_id)
        if override:
            owner = self._owners.get(override.lower())
            if owner not in (None, record.employee_id) or (owner is None and self.is_taken(override)):
                return NamingProblem(
                    reason=f"the override {override!r} is already used by {'employee ' + owner if owner else 'another entry'}",
                    fix=f"choose another value for [naming.overrides] \"{record.employee_id}\"",
                )
            return self._claim(override, record.employee_id)
        proposed = propose_local_part(
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
        return self._claim(choose_local_part(proposed, self.is_taken), record.employee_id)

    def _claim(self, name: str, employee_id: str) -> str:
        self._taken.add(name.lower())
        self._owners[name.lower()] = employee_id
        return name
