"""The console's forwards (/forwards, /api/v1/forwards): a branch admin forwards their own company's people only,
with the command line's checks; every decision is in the action log with the admin's uid and address."""

from __future__ import annotations

import pytest

from lifecycle.journal.schema import interventions
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
TARGET = "successor@partner.test"


def stored(console: Console) -> int:
    with console.journal.engine.connect() as conn:
        return len(conn.execute(interventions.select()).all())


def test_a_branch_admin_forwards_their_own_person_lists_and_removes_it(console: Console) -> None:
    mine = COMPANIES["SZ"].linked
    caller = console.log_in("SZ")
    made = caller.send("POST", "/api/v1/forwards", {"employee_id": mine, "to": TARGET, "keep_copy": "on",
                                                   "until": "2099-01-01", "reason": "客户交接"})
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["forward"]["standing"] == "in force" and made.get_json()["forward"]["keep_copy"] is True
    listed = caller.get("/api/v1/forwards").get_json()["forwards"]
    assert [(f["employee_id"], f["to"], f["until"], f["actor"]) for f in listed] == [(mine, TARGET, "2099-01-01", "szadmin")]
    page = caller.get("/forwards")
    assert page.status_code == 200 and TARGET in page.get_data(as_text=True)
    entry = list(console.journal.entries(kind="forward"))[-1]
    assert (entry.actor, entry.origin, entry.company, entry.employee_id, entry.reason) == ("szadmin", ORIGIN, "SZ", mine, "客户交接")
    removed = caller.send("POST", f"/api/v1/forwards/{mine}/remove", {"reason": "交接完成"})
    assert removed.status_code == 200, removed.get_json()
    assert caller.get("/api/v1/forwards").get_json()["forwards"] == []
    assert [f["standing"] for f in caller.get("/api/v1/forwards?all=1").get_json()["forwards"]] == ["ended"]
    gone = list(console.journal.entries(kind="forward_removed"))[-1]
    assert (gone.actor, gone.origin, gone.reason) == ("szadmin", ORIGIN, "交接完成")


def test_another_company_s_people_and_list_are_refused_and_nothing_is_recorded(console: Console) -> None:
    foreign = COMPANIES["GZ"].linked
    group = console.log_in("group")
    assert group.send("POST", "/api/v1/forwards", {"employee_id": foreign, "to": TARGET, "reason": "r"}).status_code == 201
    caller = console.log_in("SZ")
    before = stored(console)
    assert caller.get("/api/v1/forwards?company=GZ").status_code == 403
    assert caller.get("/api/v1/forwards").get_json()["forwards"] == []
    # A person of another company answers as an unknown one (404), as everywhere in the API.
    assert caller.send("POST", "/api/v1/forwards", {"employee_id": foreign, "to": TARGET, "reason": "越权"}).status_code == 404
    assert caller.send("POST", f"/api/v1/forwards/{foreign}/remove", {"reason": "越权"}).status_code == 404
    assert stored(console) == before
    assert [f["employee_id"] for f in group.get("/api/v1/forwards").get_json()["forwards"]] == [foreign]


@pytest.mark.parametrize(("change", "words"), [
    ({"to": "not-an-address"}, "to 'not-an-address' is not a mail address"),
    ({"until": "2001-01-01"}, "until 2001-01-01 is not after today"),
    ({"from": "2099-02-01", "until": "2099-01-01"}, "until 2099-01-01 is not after from 2099-02-01"),
    ({"reason": ""}, "a reason is required"),
])
def test_bad_input_is_400_naming_the_field(console: Console, change: dict[str, str], words: str) -> None:
    caller = console.log_in("SZ")
    asked = {"employee_id": COMPANIES["SZ"].linked, "to": TARGET, "reason": "r", **change}
    answer = caller.send("POST", "/api/v1/forwards", asked)
    assert answer.status_code == 400 and words in answer.get_json()["error"], answer.get_json()
    assert stored(console) == 0


def test_without_the_csrf_token_nothing_is_recorded(console: Console) -> None:
    caller = console.log_in("SZ")
    answer = caller.send("POST", "/api/v1/forwards", {"employee_id": COMPANIES["SZ"].linked, "to": TARGET, "reason": "r"},
                         csrf=None)
    assert answer.status_code == 403 and stored(console) == 0
