"""The console's interventions (lifecycle.web.interventions) against a real slapd: suspend, unsuspend and
reset-password recorded for the daemon's next cycle, with the admin's uid and origin, for their own company only.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lifecycle.journal.state import upsert_person
from tests.web_support import (  # noqa: F401  (fixtures, requested by name)
    CLIENT_ADDRESS,
    Console,
    console,
    web_directory,
    web_store,
)

pytestmark = pytest.mark.servers

ORIGIN = f"console {CLIENT_ADDRESS}"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SZ_PERSON, GZ_PERSON = "2999", "3999"


def with_accounts(console: Console) -> Console:
    """One active account in each company's stored state (the seed links people as confirmed matches only)."""
    with console.journal.engine.begin() as conn:
        upsert_person(conn, SZ_PERSON, {"uid": "sz-2999", "company": "SZ", "status": "active"}, NOW)
        upsert_person(conn, GZ_PERSON, {"uid": "gz-3999", "company": "GZ", "status": "active"}, NOW)
    return console


def entries(console: Console, kind: str) -> list:
    return list(console.journal.entries(kind=kind))


def test_an_sz_admin_suspends_unsuspends_and_resets_for_the_daemons_next_cycle(console: Console) -> None:
    with_accounts(console)
    caller = console.log_in("SZ")
    version = console.journal.state_version()
    answer = caller.send("POST", f"/api/v1/people/{SZ_PERSON}/suspend", {"reason": "违反信息安全规定"})
    assert answer.status_code == 201, answer.get_json()
    assert "next cycle" in answer.get_json()["message"]
    assert console.journal.state_version() > version  # a quiet daemon notices
    assert SZ_PERSON in console.journal.load_state().interventions.suspensions
    (suspended,) = entries(console, "suspend")
    assert (suspended.actor, suspended.origin, suspended.company, suspended.reason) == (
        "szadmin", ORIGIN, "SZ", "违反信息安全规定")
    again = caller.send("POST", f"/api/v1/people/{SZ_PERSON}/suspend", {"reason": "again"})
    assert again.status_code == 409 and "already suspended by szadmin" in again.get_json()["error"]

    page = caller.get(f"/people/{SZ_PERSON}").get_data(as_text=True)
    assert "违反信息安全规定" in page and f"/api/v1/people/{SZ_PERSON}/unsuspend" in page

    assert caller.send("POST", f"/api/v1/people/{SZ_PERSON}/unsuspend", {"reason": "已处理"}).status_code == 200
    assert SZ_PERSON not in console.journal.load_state().interventions.suspensions
    (lifted,) = entries(console, "unsuspend")
    assert (lifted.actor, lifted.origin, lifted.reason) == ("szadmin", ORIGIN, "已处理")
    assert caller.send("POST", f"/api/v1/people/{SZ_PERSON}/unsuspend", {"reason": "x"}).status_code == 409

    assert caller.send("POST", f"/api/v1/people/{SZ_PERSON}/reset-password", {"reason": "密码泄露"}).status_code == 200
    assert console.journal.person(SZ_PERSON).reset_due_at is not None
    (asked,) = entries(console, "reset_password_requested")
    assert (asked.actor, asked.origin, asked.reason) == ("szadmin", ORIGIN, "密码泄露")


def test_another_companys_person_is_answered_as_unknown_404_and_nothing_is_recorded(console: Console) -> None:
    with_accounts(console)
    caller = console.log_in("SZ")
    before = console.counts()
    for verb in ("suspend", "unsuspend", "reset-password"):
        refused = caller.send("POST", f"/api/v1/people/{GZ_PERSON}/{verb}", {"reason": "越权"})
        assert refused.status_code == 404, (verb, refused.get_json())  # existence never leaks to another company
        assert refused.get_json() == {"error": f"no employee {GZ_PERSON}"}
        assert caller.send("POST", f"/api/v1/people/888888/{verb}", {"reason": "x"}).status_code == 404
        assert caller.send("POST", f"/api/v1/people/{SZ_PERSON}/{verb}", {"reason": "  "}).status_code == 400
        assert caller.send("POST", f"/api/v1/people/{SZ_PERSON}/{verb}", {"reason": "x"}, csrf=None).status_code == 403
    assert console.counts() == before
    assert console.journal.load_state().interventions.suspensions == {}
    # The group admin acts for every company.
    group = console.log_in("group")
    assert group.send("POST", f"/api/v1/people/{GZ_PERSON}/suspend", {"reason": "集团决定"}).status_code == 201
