"""The console's JSON API against a real slapd: the role matrix, and what each decision records.

Every endpoint is called by the group admin, the SZ admin, the GZ admin, a user with a valid password and
no role, and a client with no session; each answer's status is checked, and no body or CSV shown to a
branch admin may carry a mark of another company (tests.web_support: ids, names, DNs, domains).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import TestResponse

from devservers.slapd import Slapd
from lifecycle.domain.models import PersonStatus
from tests.web_support import (  # noqa: F401  (fixtures, requested by name)
    ACCOUNTS,
    CLIENT_ADDRESS,
    COMPANIES,
    READER_DN,
    READER_PASSWORD,
    TRANSFERRED,
    UNGROUPED_EMPLOYEE,
    UNGROUPED_MARKS,
    CompanyData,
    Console,
    Seeded,
    console,
    foreign_marks,
    leaks,
    make_console,
    web_directory,
    web_store,
)

pytestmark = pytest.mark.servers

ORIGIN = f"console {CLIENT_ADDRESS}"
ALL_MARKS = tuple(m for data in COMPANIES.values() for m in data.marks) + UNGROUPED_MARKS
LISTS = ("overview", "plan", "actions", "actions?format=csv", "held", "rejected", "reviews", "holds", "adoptions")


@dataclass(frozen=True)
class Call:
    """One request of the matrix, aimed at a company: `scope` says whose data it touches.

    any: the caller's own view; own / foreign: a resource of the caller's company / of another one;
    filter: a list filtered to another company; ungrouped: the HR row of no company.
    """

    name: str
    method: str
    path: Callable[[Console, CompanyData], str]
    scope: str
    body: Callable[[CompanyData], dict[str, Any]] | None = None
    success: int = 200

    def __call__(self, console: Console, client: Any, csrf: str, company: CompanyData) -> TestResponse:
        headers = {"X-CSRF-Token": csrf} if self.method != "GET" else {}
        body = self.body(company) if self.body else None
        return client.open(self.path(console, company), method=self.method, json=body, headers=headers)

    def named(self, company: CompanyData) -> tuple[str, ...]:
        """What the request itself names (a refusal may say it back)."""
        if self.scope == "ungrouped":
            return (UNGROUPED_EMPLOYEE,)
        body = self.body(company) if self.body else {}
        return tuple(str(v) for v in body.values() if v) + tuple(
            getattr(company, name) for name in ("planned", "on_hold", "adoptable", "linked", "legacy_uid"))


def _held(index: int) -> Callable[[Console, CompanyData], str]:
    verb = ("approve", "reject")[index]
    return lambda console, company: f"/api/v1/held/{console.seeded.held_ids[company.code][index]}/{verb}"


CALLS = [
    Call("session", "GET", lambda _c, _co: "/api/v1/session", "any"),
    *[Call(name, "GET", lambda _c, _co, name=name: f"/api/v1/{name}", "any") for name in LISTS],
    *[Call(f"{name} of another company", "GET",
           lambda _c, co, name=name: f"/api/v1/{name}{'&' if '?' in name else '?'}company={co.code}", "filter")
      for name in LISTS],
    *[Call(f"{scope} person", "GET", lambda _c, co: f"/api/v1/people/{co.planned}", scope) for scope in ("own", "foreign")],
    Call("person of no company", "GET", lambda _c, _co: f"/api/v1/people/{UNGROUPED_EMPLOYEE}", "ungrouped"),
    *[Call(f"approve {scope}", "POST", _held(0), scope, lambda co: {"reason": "同意删除"}) for scope in ("own", "foreign")],
    *[Call(f"reject {scope}", "POST", _held(1), scope, lambda co: {"reason": "暂不删除"}) for scope in ("own", "foreign")],
    *[Call(f"put hold {scope}", "POST", lambda _c, _co: "/api/v1/holds", scope,
           lambda co: {"employee_id": co.linked, "reason": "诉讼"}, success=201) for scope in ("own", "foreign")],
    *[Call(f"lift hold {scope}", "DELETE", lambda _c, co: f"/api/v1/holds/{co.on_hold}", scope, lambda co: {"reason": "结案"})
      for scope in ("own", "foreign")],
    *[Call(f"adopt {scope}", "POST", lambda _c, _co: "/api/v1/adoptions", scope,
           lambda co: {"employee_id": co.adoptable, "uid": co.legacy_uid}, success=201) for scope in ("own", "foreign")],
    Call("log out", "DELETE", lambda _c, _co: "/api/v1/session", "any"),
]
ROLES = ("group", "SZ", "GZ", "norole", "anonymous")


def expected_status(role: str, call: Call) -> int:
    if role in ("norole", "anonymous"):
        return 401
    if role == "group" or call.scope in ("any", "own"):
        return call.success
    # A company filter, or a held action, of another company: 403 (as the issue says); a person or entry: 404.
    return 403 if call.scope == "filter" or call.name.startswith(("approve", "reject")) else 404


@pytest.mark.parametrize("call", CALLS, ids=lambda call: call.name)
@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(console: Console, role: str, call: Call) -> None:
    own = "SZ" if role in ("group", "norole", "anonymous") else role
    other = "GZ" if own == "SZ" else "SZ"
    company = COMPANIES[other if call.scope in ("foreign", "filter") else own]
    client, csrf = console.client(), ""
    if role in ("group", "SZ", "GZ"):
        caller = console.log_in(role)
        client, csrf = caller.client, caller.csrf
    elif role == "norole":
        account = ACCOUNTS["norole"]
        refused = client.post("/api/v1/session", json={"username": account.uid, "password": account.password})
        assert refused.status_code == 403 and "no role" in refused.get_json()["error"]
    before, approvals_before = console.counts(), console.approvals_rows()

    answer = call(console, client, csrf, company)

    assert answer.status_code == expected_status(role, call), answer.get_data(as_text=True)
    marks = foreign_marks(role) if role in ("SZ", "GZ") else () if role == "group" else ALL_MARKS
    assert leaks(answer, marks, ignoring=call.named(company)) == []
    if answer.status_code >= 400:  # a refusal records nothing, and changes no held action
        assert console.counts() == before
        assert console.approvals_rows() == approvals_before


@pytest.mark.parametrize("role", ["SZ", "GZ"])
def test_a_branch_admin_sees_their_company_in_every_list_and_nothing_of_another(console: Console, role: str) -> None:
    mine = COMPANIES[role]
    caller = console.log_in(role)
    expected = {
        "plan": mine.planned, "held": mine.held_too, "rejected": mine.rejected, "reviews": mine.employee(8),
        "holds": mine.on_hold, "adoptions": mine.adoptable, "actions": mine.held, "actions?format=csv": mine.city,
        "overview": role,
    }
    for name, wanted in expected.items():
        answer = caller.get(f"/api/v1/{name}")
        assert answer.status_code == 200
        assert wanted in answer.get_data(as_text=True), name
        assert leaks(answer, foreign_marks(role)) == [], name
    csv_rows = list(csv.DictReader(io.StringIO(caller.get("/api/v1/actions?format=csv").get_data(as_text=True).lstrip("\ufeff"))))
    assert csv_rows and {row["company"] for row in csv_rows} == {role}
    overview = caller.get("/api/v1/overview").get_json()
    assert [c["company"] for c in overview["companies"]] == [role]
    assert overview["companies"][0]["held"] == 2


def test_the_group_admin_sees_every_company_and_the_rows_of_none(console: Console) -> None:
    caller = console.log_in("group")
    session = caller.get("/api/v1/session").get_json()
    assert session["user"] == "groupadmin" and session["group_admin"] and session["companies"] == ["SZ", "GZ"]
    rejected = caller.get("/api/v1/rejected").get_json()["rejected"]
    assert {r["employee_id"] for r in rejected} == {"200005", "300005", UNGROUPED_EMPLOYEE}
    assert len(caller.get("/api/v1/held").get_json()["held"]) == 4
    assert {a["company"] for a in caller.get("/api/v1/plan").get_json()["actions"]} == {"SZ", "GZ"}
    people = caller.get(f"/api/v1/people/{UNGROUPED_EMPLOYEE}").get_json()
    assert people["company"] == "" and people["rejected"][0]["reason"].startswith("无公司")
    text = caller.get("/api/v1/actions?format=csv").get_data(as_text=True)
    assert "深圳" in text and "广州" in text and "无公司" in text


def test_a_person_of_another_company_answers_as_an_unknown_one(console: Console) -> None:
    caller = console.log_in("SZ")
    foreign = caller.get("/api/v1/people/300001")
    unknown = caller.get("/api/v1/people/300077")
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.get_json()["error"].replace("300001", "ID") == unknown.get_json()["error"].replace("300077", "ID")


def test_a_persons_timeline_holds_only_their_entries_of_the_callers_companies(console: Console) -> None:
    sz = console.log_in("SZ").get(f"/api/v1/people/{TRANSFERRED}")
    assert sz.status_code == 200 and sz.get_json()["company"] == "SZ"
    assert [e["company"] for e in sz.get_json()["history"]] == ["SZ"]
    assert leaks(sz, foreign_marks("SZ"), ignoring=(TRANSFERRED,)) == []
    assert console.log_in("GZ").get(f"/api/v1/people/{TRANSFERRED}").status_code == 404
    group = console.log_in("group").get(f"/api/v1/people/{TRANSFERRED}").get_json()
    assert sorted(e["company"] for e in group["history"]) == ["GZ", "SZ"]


@pytest.mark.parametrize("verb, decision", [("approve", "approved"), ("reject", "rejected")])
def test_a_decision_is_recorded_with_the_admins_uid_address_and_reason(console: Console, verb: str, decision: str) -> None:
    held_id = console.seeded.held_ids["SZ"][0]
    caller = console.log_in("SZ")
    answer = caller.send("POST", f"/api/v1/held/{held_id}/{verb}", {"reason": "工单 #4711 已核实"})
    assert answer.status_code == 200, answer.get_json()
    row = next(r for r in console.approvals_rows() if r["id"] == held_id)
    assert row["status"] == decision and row["decided_by"] == "szadmin"
    entry = list(console.journal.entries(kind=verb))[-1]
    assert (entry.actor, entry.origin, entry.company, entry.employee_id) == ("szadmin", ORIGIN, "SZ", "200002")
    assert "工单 #4711 已核实" in entry.reason and f"#{held_id}" in entry.reason
    assert held_id not in [h["id"] for h in caller.get("/api/v1/held").get_json()["held"]]
    # The company's own log shows the decision to the admin, as `lifecycle log` would.
    logged = caller.get(f"/api/v1/actions?kind={verb}").get_json()["entries"]
    assert [(e["actor"], e["origin"]) for e in logged] == [("szadmin", ORIGIN)]


@pytest.mark.parametrize("verb", ["approve", "reject"])
def test_deciding_another_companys_held_action_is_403_and_records_nothing(console: Console, verb: str) -> None:
    foreign_id = console.seeded.held_ids["GZ"][0]
    caller = console.log_in("SZ")
    before, rows_before = console.counts(), console.approvals_rows()
    answer = caller.send("POST", f"/api/v1/held/{foreign_id}/{verb}", {"reason": "越权"})
    assert answer.status_code == 403
    assert "广州" not in answer.get_data(as_text=True) and "300002" not in answer.get_data(as_text=True)
    assert console.counts() == before and console.approvals_rows() == rows_before
    # The same for an id nobody has, and the GZ admin still finds it held.
    assert caller.send("POST", f"/api/v1/held/9999/{verb}", {"reason": "x"}).status_code == 404
    assert foreign_id in [h["id"] for h in console.log_in("GZ").get("/api/v1/held").get_json()["held"]]


def test_a_decision_needs_a_reason_and_a_held_action(console: Console) -> None:
    held_id = console.seeded.held_ids["SZ"][0]
    caller = console.log_in("SZ")
    before = console.counts()
    assert caller.send("POST", f"/api/v1/held/{held_id}/approve", {"reason": "  "}).status_code == 400
    assert caller.send("POST", f"/api/v1/held/{held_id}/approve", {}).status_code == 400
    assert console.counts() == before
    assert caller.send("POST", f"/api/v1/held/{held_id}/approve", {"reason": "ok"}).status_code == 200
    again = caller.send("POST", f"/api/v1/held/{held_id}/reject", {"reason": "changed my mind"})
    assert again.status_code == 409 and "approved" in again.get_json()["error"]


def test_holds_are_put_and_lifted_with_the_admins_identity(console: Console) -> None:
    mine = COMPANIES["SZ"]
    caller = console.log_in("SZ")
    put = caller.send("POST", "/api/v1/holds", {"employee_id": mine.linked, "reason": "劳动仲裁"})
    assert put.status_code == 201
    assert caller.send("POST", "/api/v1/holds", {"employee_id": mine.linked, "reason": "again"}).status_code == 409
    assert mine.linked in [h["employee_id"] for h in caller.get("/api/v1/holds").get_json()["holds"]]
    lifted = caller.send("DELETE", f"/api/v1/holds/{mine.on_hold}", {"reason": "结案"})
    assert lifted.status_code == 200
    assert caller.send("DELETE", f"/api/v1/holds/{mine.on_hold}", {"reason": "结案"}).status_code == 404
    hold, release = list(console.journal.entries(kind="hold"))[-1], list(console.journal.entries(kind="release"))[-1]
    assert (hold.actor, hold.origin, hold.company, hold.employee_id, hold.reason) == ("szadmin", ORIGIN, "SZ", mine.linked, "劳动仲裁")
    assert (release.actor, release.origin, release.employee_id) == ("szadmin", ORIGIN, mine.on_hold)
    assert "结案" in release.reason


def test_a_hold_on_another_companys_person_is_404_and_records_nothing(console: Console) -> None:
    foreign = COMPANIES["GZ"]
    caller = console.log_in("SZ")
    before = console.counts()
    assert caller.send("POST", "/api/v1/holds", {"employee_id": foreign.linked, "reason": "越权"}).status_code == 404
    assert caller.send("DELETE", f"/api/v1/holds/{foreign.on_hold}", {"reason": "越权"}).status_code == 404
    assert console.counts() == before
    assert foreign.on_hold in [h["employee_id"] for h in console.journal.holds_of(None)]


def test_an_adoption_in_the_admins_subtree_links_the_person(console: Console) -> None:
    mine = COMPANIES["SZ"]
    caller = console.log_in("SZ")
    answer = caller.send("POST", "/api/v1/adoptions", {"employee_id": mine.adoptable, "uid": mine.legacy_uid})
    assert answer.status_code == 201, answer.get_json()
    person = console.journal.person(mine.adoptable)
    assert person is not None
    assert (person.uid, person.company, person.status, person.match_confirmed) == (
        mine.legacy_uid, "SZ", PersonStatus.CONFIRMED, True)
    entry = list(console.journal.entries(kind="confirm_match", employee_id=mine.adoptable))[-1]
    assert (entry.actor, entry.origin, entry.target, entry.company) == ("szadmin", ORIGIN, mine.legacy_uid, "SZ")


def test_an_adoption_of_an_entry_in_another_companys_subtree_is_404(console: Console) -> None:
    mine, foreign = COMPANIES["SZ"], COMPANIES["GZ"]
    caller = console.log_in("SZ")
    before = console.counts()
    answer = caller.send("POST", "/api/v1/adoptions", {"employee_id": mine.adoptable, "uid": foreign.legacy_uid})
    assert answer.status_code == 404
    assert caller.send("POST", "/api/v1/adoptions", {"employee_id": mine.adoptable, "uid": "no-such-uid"}).status_code == 404
    assert console.counts() == before and console.journal.person(mine.adoptable) is None
    # The group admin may link across companies: the entry's company is the one of its subtree.
    group = console.log_in("group")
    assert group.send("POST", "/api/v1/adoptions", {"employee_id": foreign.adoptable, "uid": foreign.legacy_uid}).status_code == 201
    linked = console.journal.person(foreign.adoptable)
    assert linked is not None and linked.company == "GZ"


def test_an_adoption_of_an_entry_that_is_already_another_employee_is_409(tmp_path: Path, web_directory: Slapd,
                                                                        web_store: tuple[Path, Seeded]) -> None:
    # With a lookup account: anonymous searches may read uid and mail only, not employeeNumber.
    made = make_console(tmp_path, web_directory, web_store, lookup=(READER_DN, READER_PASSWORD))
    mine = COMPANIES["SZ"]
    try:
        caller = made.log_in("SZ")
        before = made.counts()
        answer = caller.send("POST", "/api/v1/adoptions", {"employee_id": mine.adoptable, "uid": mine.taken_uid})
        assert answer.status_code == 409 and mine.employee(99) in answer.get_json()["error"]
        assert made.counts() == before and made.journal.person(mine.adoptable) is None
        assert caller.send("POST", "/api/v1/adoptions", {"employee_id": mine.adoptable, "uid": mine.legacy_uid}).status_code == 201
    finally:
        made.journal.close()
