"""Who owns each DN after the plan: what the groups look up for members who leave (policies.engine)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from policies.intent import Intent
from policies.join import PersonView
from policies.placement import dn_key


class Owners(Mapping[str, str]):
    """DN key after the plan -> employee id (the later hire wins a shared DN), made on first use.

    Groups look owners up only for members who leave or groups that go away: a quiet cycle
    never builds one entry per person.
    """

    def __init__(self, hired: list[PersonView], intents: list[Intent]) -> None:
        self._sources: tuple[list[PersonView], list[Intent]] | None = (hired, intents)
        self._owners: dict[str, str] | None = None

    def _map(self) -> dict[str, str]:
        if self._owners is None:
            assert self._sources is not None
            hired, intents = self._sources
            self._owners = {dn_key(i.dn): v.employee_id for v, i in zip(hired, intents) if i.dn}
            self._sources = None
        return self._owners

    def __getitem__(self, key: str) -> str:
        return self._map()[key]

    def __contains__(self, key: object) -> bool:
        return key in self._map()

    def __iter__(self) -> Iterator[str]:
        return iter(self._map())

    def __len__(self) -> int:
        return len(self._map())
