"""The console's adoptions: a company's admin asks for a new account for a held joiner (journalled with the origin);
another company's joiner is 404, a missing reason 400, a joiner already linked 409."""

from __future__ import annotations

import pytest

from lifecycle.journal.interventions import read_interventions
from tests.web_support import (  # noqa: F401  (fixtures, requested by name)
    CLIENT_ADDRESS,
    COMPANIES,
    Console,
    console,
    web_directory,
    web_store,
)

pytestmark = pytest.mark.servers
ORIGIN = f"console {CLIENT_ADDRESS}"


def test_a_new_account_from_the_console_is_recorded_for_the_admins_own_joiner_only(console: Console) -> None:
    mine, foreign = COMPANIES["SZ"], COMPANIES["GZ"]
    caller = console.log_in("SZ")
    before = console.counts()
    assert caller.send("POST", "/api/v1/adoptions", {"employee_id": foreign.adoptable, "new": True,
                                                     "reason": "none is theirs"}).status_code == 404
    assert caller.send("POST", "/api/v1/adoptions", {"employee_id": mine.adoptable, "new": True}).status_code == 400
    assert console.counts() == before
    answer = caller.send("POST", "/api/v1/adoptions", {"employee_id": mine.adoptable, "new": "true",
                                                       "reason": "the old entry is a namesake"})
    assert answer.status_code == 201, answer.get_json()
    with console.journal.engine.connect() as conn:
        decided = read_interventions(conn).new_accounts[mine.adoptable]
    assert (decided.actor, decided.company, decided.reason) == ("szadmin", "SZ", "the old entry is a namesake")
    entry = list(console.journal.entries(kind="new_account", employee_id=mine.adoptable))[-1]
    assert (entry.actor, entry.origin, entry.company) == ("szadmin", ORIGIN, "SZ")
    linked = caller.send("POST", "/api/v1/adoptions", {"employee_id": mine.linked, "new": True, "reason": "x"})
    assert linked.status_code == 409
