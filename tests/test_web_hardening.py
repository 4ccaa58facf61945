"""The console's defences from review (issue 15), against a real slapd: throttle bypasses, sessions that
follow the configuration, a locked state store, bad input, and a mover's outlook."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update

from connectors.ldap import client
from devservers.slapd import Slapd
from lifecycle.domain.models import PersonOutlook, Plan
from lifecycle.journal.schema import utc_text, web_sessions
from tests.web_support import (  # noqa: F401  (fixtures, requested by name)
    ACCOUNTS,
    ALL_ROLE,
    BASE,
    COMPANIES,
    DEPUTY,
    NOW,
    ROLE_GROUP,
    UNGROUPED_EMPLOYEE,
    Console,
    console,
    default_roles,
    foreign_marks,
    leaks,
    same_store_console,
    start_directory,
    web_store,
)

pytestmark = pytest.mark.servers

COOKIE = "lifecycle_session"
SZ, GZ = COMPANIES["SZ"], COMPANIES["GZ"]
TOO_MANY = "too many failed logins"


@pytest.fixture(scope="module")
def web_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    """This module's slapd (the `console` fixture asks for it by name): the usual people, and DEPUTY, who
    is in both branch groups."""
    server = start_directory(tmp_path_factory.mktemp("hardening-slapd"), deputy=True)
    yield server
    server.stop()


def log_in(client: FlaskClient, username: str, password: str) -> Any:
    return client.post("/api/v1/session", json={"username": username, "password": password})


def client_at(console: Console, address: str) -> FlaskClient:
    client = console.app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def fail_five_times(console: Console, username: str) -> None:
    client = console.client()
    for _ in range(5):
        assert log_in(client, username, "wrong").status_code == 401


def cookie_of(client: FlaskClient) -> str:
    found = client.get_cookie(COOKIE)
    assert found is not None
    return found.value


def with_cookie(console: Console, cookie: str) -> FlaskClient:
    client = console.client()
    client.set_cookie(COOKIE, cookie)
    return client


# -- 1. the login throttle: no way round it -----------------------------------------------------------------


@pytest.mark.parametrize("variant", ["ｓｚａｄｍｉｎ", "ＳＺＡＤＭＩＮ", "SZADMIN", " SzAdmin "])
def test_after_five_failures_another_spelling_of_the_name_is_429_with_the_right_password(
    console: Console, variant: str
) -> None:
    fail_five_times(console, ACCOUNTS["SZ"].uid)
    answer = log_in(console.client(), variant, ACCOUNTS["SZ"].password)
    assert answer.status_code == 429 and TOO_MANY in answer.get_json()["error"]


@pytest.mark.parametrize("failed_as, then_as", [("uid", "mail"), ("mail", "uid")])
def test_after_five_failures_the_accounts_other_name_is_refused_with_the_right_password(
    console: Console, failed_as: str, then_as: str
) -> None:
    account = ACCOUNTS["SZ"]
    fail_five_times(console, getattr(account, failed_as))
    answer = log_in(console.client(), getattr(account, then_as), account.password)
    # Refused as a wrong password would be: a 429 under a name never tried would say the account exists.
    assert answer.status_code == 401 and answer.get_json()["error"] == "wrong user name or password"
    unknown = log_in(console.client(), "nobody-" + getattr(account, then_as), account.password)
    assert (unknown.status_code, unknown.get_json()) == (answer.status_code, answer.get_json())
    # Another account is not locked out by it.
    assert log_in(console.client(), ACCOUNTS["GZ"].uid, ACCOUNTS["GZ"].password).status_code == 200


def test_simultaneous_wrong_guesses_for_one_account_reach_the_directory_at_most_five_times(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Names that differ per guess, so only the account's own count can stop them (the name's cannot).
    account = ACCOUNTS["SZ"]
    binds: list[str] = []
    real_bind = client.Connection.bind

    def counted_bind(self: client.Connection, dn: str, password: str) -> Any:
        binds.append(dn)
        return real_bind(self, dn, password)

    monkeypatch.setattr(client.Connection, "bind", counted_bind)
    names = [account.uid, account.mail, account.uid.upper(), account.mail.upper()]
    guesses = 16
    start = threading.Barrier(guesses)
    answers: list[int] = []

    def guess(n: int) -> None:
        client = console.client()
        start.wait()
        answers.append(log_in(client, names[n % len(names)], f"guess-{n}").status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(guesses)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # The throttle stops all but five before they bind as the account (the others bind a decoy DN, so that
    # they take as long), and answers them as wrong passwords: a 429 would say the account exists.
    assert len(answers) == guesses and set(answers) <= {401, 429}, answers
    account_dn = next(dn for dn in binds if dn.lower().startswith(f"uid={account.uid.lower()},"))
    assert 1 <= sum(dn.lower() == account_dn.lower() for dn in binds) <= 5, binds
    assert log_in(console.client(), account.uid, account.password).status_code in (401, 429)


def test_ipv6_clients_in_one_64_share_the_address_allowance(console: Console) -> None:
    # 20 failures (the address allowance: four times the per-name one), each under another name.
    for n in range(20):
        client = client_at(console, f"2001:db8::{1 + n % 2}")
        assert log_in(client, f"guess-{n}", "wrong").status_code == 401
    same_64 = log_in(client_at(console, "2001:db8::99"), ACCOUNTS["SZ"].uid, ACCOUNTS["SZ"].password)
    assert same_64.status_code == 429 and TOO_MANY in same_64.get_json()["error"]
    assert log_in(client_at(console, "2001:db8::99"), "guess-new", "wrong").status_code == 429
    # The next /64 is another client.
    assert log_in(client_at(console, "2001:db8:1::1"), "guess-new", "wrong").status_code == 401
    assert log_in(client_at(console, "2001:db8:1::1"), ACCOUNTS["SZ"].uid, ACCOUNTS["SZ"].password).status_code == 200


# -- 2. sessions: their lifetime, and the roles configured now ------------------------------------------------


def set_session_times(console: Console, *, created_ago: timedelta, last_seen_ago: timedelta) -> None:
    now = datetime.now(UTC)
    with console.journal.engine.begin() as conn:
        conn.execute(update(web_sessions).values(created_at=utc_text(now - created_ago),
                                                 last_seen=utc_text(now - last_seen_ago)))


def test_a_session_in_use_still_ends_session_max_hours_after_login(console: Console) -> None:
    assert console.settings.web is not None
    lifetime = timedelta(hours=console.settings.web.session_max_hours)
    caller = console.log_in("SZ")
    # Used three minutes ago, logged in almost `lifetime` ago: alive.
    set_session_times(console, created_ago=lifetime - timedelta(minutes=2), last_seen_ago=timedelta(minutes=3))
    assert caller.get("/api/v1/held").status_code == 200
    # Used again a moment ago, but the login is now older than `lifetime`: over, and removed.
    set_session_times(console, created_ago=lifetime + timedelta(minutes=1), last_seen_ago=timedelta(seconds=10))
    assert caller.get("/api/v1/held").status_code == 401
    assert console.counts()["web_sessions"] == 0
    set_session_times(console, created_ago=timedelta(0), last_seen_ago=timedelta(0))  # nothing left to revive
    assert caller.get("/api/v1/session").status_code == 401


def test_a_role_taken_out_of_the_config_ends_or_narrows_the_sessions_it_gave(console: Console, web_directory: Slapd) -> None:
    sz_admin = console.log_in("SZ")
    deputy = console.client()
    assert log_in(deputy, DEPUTY.uid, DEPUTY.password).get_json()["companies"] == ["SZ", "GZ"]
    without_sz = [role for role in default_roles() if role["group_dn"] != ROLE_GROUP["SZ"]]
    restarted = same_store_console(console, web_directory, roles=without_sz)

    sz_again = with_cookie(restarted, cookie_of(sz_admin.client))
    assert sz_again.get("/api/v1/session").status_code == 401
    assert sz_again.get("/api/v1/held").status_code == 401
    deputy_again = with_cookie(restarted, cookie_of(deputy))
    assert deputy_again.get("/api/v1/session").get_json()["companies"] == ["GZ"]
    assert deputy_again.get(f"/api/v1/held?company={SZ.code}").status_code == 403
    assert deputy_again.get(f"/api/v1/people/{SZ.planned}").status_code == 404
    # The app with the role still configured still honours the same sessions: the config made the difference.
    assert sz_admin.get("/api/v1/session").status_code == 200


def test_a_company_added_to_the_config_is_the_group_admins_without_a_new_login(console: Console, web_directory: Slapd) -> None:
    group = console.log_in("group")
    foshan = {"code": "FS", "domain": "fs.example.com", "people_dn": f"ou=people,ou=FS,{BASE}"}
    restarted = same_store_console(console, web_directory, extra_companies=(foshan,))
    again = with_cookie(restarted, cookie_of(group.client))
    session = again.get("/api/v1/session").get_json()
    assert session["companies"] == ["SZ", "GZ", "FS"] and session["group_admin"]
    assert again.get("/api/v1/held?company=FS").status_code == 200
    assert again.get(f"/api/v1/people/{UNGROUPED_EMPLOYEE}").status_code == 200  # still the rows of no company
    # A branch admin's session gains nothing from it.
    sz_again = with_cookie(restarted, cookie_of(console.log_in("SZ").client))
    assert sz_again.get("/api/v1/session").get_json()["companies"] == ["SZ"]
    assert sz_again.get("/api/v1/held?company=FS").status_code == 403


def test_a_user_in_both_branch_roles_sees_both_companies_and_is_no_group_admin(console: Console) -> None:
    client = console.client()
    answer = log_in(client, DEPUTY.uid, DEPUTY.password)
    assert answer.status_code == 200
    assert answer.get_json()["companies"] == ["SZ", "GZ"] and not answer.get_json()["group_admin"]
    session = client.get("/api/v1/session").get_json()
    assert session["companies"] == ["SZ", "GZ"] and not session["group_admin"]
    assert {r["employee_id"] for r in client.get("/api/v1/rejected").get_json()["rejected"]} == {SZ.rejected, GZ.rejected}
    assert client.get(f"/api/v1/people/{UNGROUPED_EMPLOYEE}").status_code == 404
    assert client.get("/api/v1/actions?company=").status_code == 200
    for path in ("/api/v1/actions", "/api/v1/actions?format=csv", "/api/v1/overview", "/api/v1/holds"):
        assert UNGROUPED_EMPLOYEE not in client.get(path).get_data(as_text=True), path
    assert "" not in [c["company"] for c in client.get("/api/v1/overview").get_json()["companies"]]


def respelled(dn: str) -> str:
    """`dn` as a person might type it in the config: other letter case, spaces around the commas."""
    return " , ".join(part.upper() if n % 2 == 0 else part.title() for n, part in enumerate(dn.split(",")))


def test_role_group_dns_match_the_directorys_whatever_their_case_and_spaces(console: Console, web_directory: Slapd) -> None:
    roles = [{"group_dn": respelled(ALL_ROLE), "companies": ["*"]},
             {"group_dn": respelled(ROLE_GROUP["SZ"]), "companies": ["SZ"]}]
    assert roles[1]["group_dn"] != ROLE_GROUP["SZ"]
    respelled_console = same_store_console(console, web_directory, roles=roles)
    sz_admin = respelled_console.log_in("SZ")
    assert sz_admin.get("/api/v1/session").get_json()["companies"] == ["SZ"]
    assert respelled_console.log_in("group").get("/api/v1/session").get_json()["group_admin"]
    # A session from the directory-spelled config keeps its companies under the respelled one, and back.
    assert with_cookie(respelled_console, cookie_of(console.log_in("SZ").client)).get(
        "/api/v1/session").get_json()["companies"] == ["SZ"]
    assert with_cookie(console, cookie_of(sz_admin.client)).get("/api/v1/session").get_json()["companies"] == ["SZ"]


# -- 3. a state store locked by another writer -----------------------------------------------------------------


def test_a_locked_store_still_answers_reads_and_refuses_a_decision_with_503(console: Console) -> None:
    held_id = console.seeded.held_ids["SZ"][0]
    caller = console.log_in("SZ")
    before, approvals_before = console.counts(), console.approvals_rows()
    store_file = console.journal.engine.url.database
    assert store_file is not None
    writer = sqlite3.connect(store_file, isolation_level=None)
    try:
        # Last used two minutes ago: the read notes the use when it can, and does not wait when it cannot.
        writer.execute("UPDATE web_sessions SET last_seen = :seen", {"seen": (datetime.now(UTC) - timedelta(minutes=2))
                                                                      .isoformat(timespec="seconds")})
        writer.execute("BEGIN IMMEDIATE")  # as a long cycle holds it
        read = caller.get("/api/v1/held")
        assert read.status_code == 200, read.get_data(as_text=True)  # waiting for the lock ends in a 503
        assert held_id in [h["id"] for h in read.get_json()["held"]]
        # Waits the store's busy timeout once (10 s), then says to come back.
        decided = caller.send("POST", f"/api/v1/held/{held_id}/approve", {"reason": "锁定时批准"})
        assert decided.status_code == 503, decided.get_data(as_text=True)
        assert decided.headers["Retry-After"].isdigit() and "busy" in decided.get_json()["error"]
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert console.counts() == before and console.approvals_rows() == approvals_before
    # Once the store is free, the same request goes through: the lock was the only obstacle.
    assert caller.send("POST", f"/api/v1/held/{held_id}/approve", {"reason": "解锁后批准"}).status_code == 200


# -- 4. bad input is 400 or 404, never 500 ---------------------------------------------------------------------


def test_lifting_a_hold_needs_a_json_object_with_a_reason(console: Console) -> None:
    caller = console.log_in("SZ")
    path = f"/api/v1/holds/{SZ.on_hold}"
    before = console.counts()
    for body in ({}, None, {"reason": "  "}, {"reason": ["结案"]}, ["结案"], "结案", 7):
        answer = caller.send("DELETE", path, body)
        assert answer.status_code == 400, (body, answer.get_data(as_text=True))
        assert "reason" in answer.get_json()["error"]
    assert console.counts() == before
    assert SZ.on_hold in [h["employee_id"] for h in console.journal.holds_of(None)]
    assert caller.send("DELETE", f"{path}?reason=结案").status_code == 200  # the reason in the address will do


@pytest.mark.parametrize("name, value", [("since", "9999-12-31T23:59:59-23:59"), ("until", "0001-01-01T00:00:00+14:00"),
                                         ("until", "2027-02-30"), ("since", "yesterday")])
def test_a_date_past_the_calendar_is_400(console: Console, name: str, value: str) -> None:
    caller = console.log_in("SZ")
    for wanted in ("json", "csv"):
        answer = caller.client.get("/api/v1/actions", query_string={name: value, "format": wanted})
        assert answer.status_code == 400, answer.get_data(as_text=True)
        assert name in answer.get_json()["error"]


def test_the_widest_dates_the_calendar_holds_are_accepted(console: Console) -> None:
    caller = console.log_in("SZ")
    answer = caller.client.get("/api/v1/actions", query_string={"since": "0001-01-02", "until": "9999-12-30T00:00:00+00:00"})
    assert answer.status_code == 200 and answer.get_json()["entries"]


@pytest.mark.parametrize("action_id", ["99999999999999999999999", str(2**63), "0"])
@pytest.mark.parametrize("verb", ["approve", "reject"])
def test_a_held_action_id_no_store_can_hold_is_404(console: Console, action_id: str, verb: str) -> None:
    caller = console.log_in("SZ")
    before = console.counts()
    answer = caller.send("POST", f"/api/v1/held/{action_id}/{verb}", {"reason": "x"})
    assert answer.status_code == 404, answer.get_data(as_text=True)
    assert console.counts() == before


@pytest.mark.parametrize("query", ["format=csv", "format=csv&limit=1", "limit=abc", "format=xml"])
def test_the_log_page_is_html_whatever_format_or_limit_its_address_carries(console: Console, query: str) -> None:
    caller = console.log_in("SZ")
    answer = caller.get(f"/log?{query}")
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    assert answer.mimetype == "text/html" and SZ.city in answer.get_data(as_text=True)


@pytest.mark.parametrize("limit", ["0", "abc", "100001", "-1", "1.5"])
def test_an_action_log_limit_outside_1_to_100000_is_400(console: Console, limit: str) -> None:
    answer = console.log_in("SZ").get(f"/api/v1/actions?limit={limit}")
    assert answer.status_code == 400 and "limit" in answer.get_json()["error"]


def test_an_action_log_limit_of_one_gives_the_newest_entry(console: Console) -> None:
    caller = console.log_in("SZ")
    assert caller.send("POST", "/api/v1/holds", {"employee_id": SZ.linked, "reason": "最新一条"}).status_code == 201
    everything = caller.get("/api/v1/actions").get_json()["entries"]
    newest = caller.get("/api/v1/actions?limit=1").get_json()["entries"]
    assert len(everything) > 1 and newest == everything[-1:]
    assert (newest[0]["kind"], newest[0]["employee_id"]) == ("hold", SZ.linked)
    assert len(caller.get("/api/v1/actions?limit=100000").get_json()["entries"]) == len(everything)


# -- 5. a mover's outlook ------------------------------------------------------------------------------------------


def test_an_outlook_published_for_another_company_is_not_shown(console: Console) -> None:
    # The store still says SZ (the person is linked there); the plan sees them moving to GZ.
    mover = SZ.linked
    journal = console.journal
    assert journal.company_of(mover) == "SZ"
    run_id = journal.begin_run("apply", NOW)
    outlook = PersonOutlook(mover, "GZ", "广州调入员工", "moving", (("2026-12-15", "广州账号开通"),))
    journal.publish(run_id, Plan(now=NOW, actions=(), outlooks=(outlook,), accounts={"SZ": 12, "GZ": 7}), NOW)
    journal.finish_run(run_id, "ok", {})

    sz_view = console.log_in("SZ").get(f"/api/v1/people/{mover}")
    assert sz_view.status_code == 200 and sz_view.get_json()["company"] == "SZ"
    assert sz_view.get_json()["outlook"] is None
    assert leaks(sz_view, foreign_marks("SZ"), ignoring=(mover,)) == []
    assert "广州" not in console.log_in("SZ").get(f"/people/{mover}").get_data(as_text=True)
    group_view = console.log_in("group").get(f"/api/v1/people/{mover}").get_json()
    assert group_view["outlook"]["company"] == "GZ" and group_view["outlook"]["name"] == "广州调入员工"
