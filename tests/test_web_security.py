"""The console's session and login defences against a real slapd: cookies, CSRF, throttling, LDAP filters, lookups."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from devservers.slapd import Slapd
from lifecycle.journal.schema import utc_text, web_sessions
from tests.web_support import (  # noqa: F401  (fixtures, requested by name)
    ACCOUNTS,
    COMPANIES,
    READER_DN,
    READER_PASSWORD,
    Caller,
    Console,
    Seeded,
    console,
    make_console,
    start_directory,
    web_directory,
    web_store,
)

pytestmark = pytest.mark.servers

COOKIE = "lifecycle_session"
SZ = COMPANIES["SZ"]


def cookie_of(client: FlaskClient) -> str:
    found = client.get_cookie(COOKIE)
    assert found is not None
    return found.value


def log_in(client: FlaskClient, username: str, password: str) -> Any:
    return client.post("/api/v1/session", json={"username": username, "password": password})


def session_rows(console: Console) -> list[dict[str, Any]]:
    with console.journal.engine.connect() as conn:
        return [dict(row) for row in conn.execute(select(web_sessions)).mappings()]


# -- the session cookie --------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["payload", "signature"])
def test_a_tampered_session_cookie_is_401(console: Console, where: str) -> None:
    caller = console.log_in("SZ")
    value = cookie_of(caller.client)
    index = len(value) // 3 if where == "payload" else len(value) - 6
    flipped = value[:index] + ("A" if value[index] != "A" else "B") + value[index + 1:]
    forger = console.client()
    forger.set_cookie(COOKIE, flipped)
    assert forger.get("/api/v1/session").status_code == 401
    assert forger.get("/api/v1/held").status_code == 401
    honest = console.client()
    honest.set_cookie(COOKIE, value)
    assert honest.get("/api/v1/session").status_code == 200  # the untouched cookie still works: the flip was the cause


def test_a_session_idle_beyond_its_limit_is_401_and_ended(console: Console) -> None:
    caller = console.log_in("SZ")
    idle = console.settings.web.session_idle_minutes if console.settings.web else 0

    def last_seen(minutes_ago: float) -> None:
        with console.journal.engine.begin() as conn:
            conn.execute(update(web_sessions).values(last_seen=utc_text(datetime.now(UTC) - timedelta(minutes=minutes_ago))))

    last_seen(idle - 1)
    assert caller.get("/api/v1/session").status_code == 200  # used within the limit: alive
    last_seen(idle + 1)
    assert caller.get("/api/v1/session").status_code == 401
    assert session_rows(console) == []
    last_seen(0)  # no row left to revive: the session is over for good
    assert caller.get("/api/v1/held").status_code == 401


def test_a_short_idle_limit_is_the_configured_one(tmp_path: Path, web_directory: Slapd, web_store: tuple[Path, Seeded]) -> None:
    made = make_console(tmp_path, web_directory, web_store, session_idle_minutes=1)
    try:
        caller = made.log_in("GZ")
        with made.journal.engine.begin() as conn:
            conn.execute(update(web_sessions).values(last_seen=utc_text(datetime.now(UTC) - timedelta(seconds=90))))
        assert caller.get("/api/v1/overview").status_code == 401
        assert session_rows(made) == []
    finally:
        made.journal.close()


def test_a_cookie_replayed_after_logout_is_401(console: Console) -> None:
    caller = console.log_in("SZ")
    value = cookie_of(caller.client)
    assert caller.send("DELETE", "/api/v1/session").status_code == 200
    assert caller.get("/api/v1/session").status_code == 401
    assert session_rows(console) == []
    replay = console.client()
    replay.set_cookie(COOKIE, value)
    assert replay.get("/api/v1/session").status_code == 401
    assert replay.get("/api/v1/actions?format=csv").status_code == 401


def test_logging_out_ends_only_that_session(console: Console) -> None:
    first, second = console.log_in("SZ"), console.log_in("SZ")
    assert first.send("DELETE", "/api/v1/session").status_code == 200
    assert second.get("/api/v1/session").status_code == 200


@pytest.mark.parametrize("base_url, secure", [("http://127.0.0.1:8080", False), ("https://lifecycle.example.com", True)])
def test_the_session_cookie_is_httponly_strict_and_secure_behind_https(
    tmp_path: Path, web_directory: Slapd, web_store: tuple[Path, Seeded], base_url: str, secure: bool
) -> None:
    made = make_console(tmp_path, web_directory, web_store, base_url=base_url)
    try:
        answer = log_in(made.client(), ACCOUNTS["SZ"].uid, ACCOUNTS["SZ"].password)
        assert answer.status_code == 200
        [cookie] = [c for c in answer.headers.getlist("Set-Cookie") if c.startswith(f"{COOKIE}=")]
        attributes = [part.strip().lower() for part in cookie.split(";")[1:]]
        assert "httponly" in attributes and "samesite=strict" in attributes
        assert ("secure" in attributes) is secure
    finally:
        made.journal.close()


# -- CSRF ----------------------------------------------------------------------------------------------------

STATE_CHANGING = [
    ("approve", "POST", lambda c: f"/api/v1/held/{c.seeded.held_ids['SZ'][0]}/approve", {"reason": "ok"}),
    ("reject", "POST", lambda c: f"/api/v1/held/{c.seeded.held_ids['SZ'][1]}/reject", {"reason": "no"}),
    ("put hold", "POST", lambda c: "/api/v1/holds", {"employee_id": SZ.linked, "reason": "诉讼"}),
    ("lift hold", "DELETE", lambda c: f"/api/v1/holds/{SZ.on_hold}", {"reason": "结案"}),
    ("adopt", "POST", lambda c: "/api/v1/adoptions", {"employee_id": SZ.adoptable, "uid": SZ.legacy_uid}),
    ("log out", "DELETE", lambda c: "/api/v1/session", None),
]


@pytest.mark.parametrize("token", ["missing", "garbage", "another session's"])
@pytest.mark.parametrize("name, method, path, body", STATE_CHANGING, ids=[s[0] for s in STATE_CHANGING])
def test_a_state_changing_request_without_its_sessions_csrf_token_is_403_and_changes_nothing(
    console: Console, token: str, name: str, method: str, path: Any, body: Any
) -> None:
    caller = console.log_in("SZ")
    other = console.log_in("SZ")
    sent = {"missing": None, "garbage": "not-a-token", "another session's": other.csrf}[token]
    before, approvals_before = console.counts(), console.approvals_rows()
    answer = caller.send(method, path(console), body, csrf=sent)
    assert answer.status_code == 403, answer.get_json()
    assert "CSRF" in answer.get_json()["error"]
    assert console.counts() == before and console.approvals_rows() == approvals_before
    assert caller.get("/api/v1/session").status_code == 200
    # The same request with the session's own token goes through: the token was the only thing missing.
    assert caller.send(method, path(console), body).status_code in (200, 201)


def test_the_csrf_token_of_a_session_is_the_one_the_session_answers(console: Console) -> None:
    caller = console.log_in("GZ")
    again = caller.get("/api/v1/session").get_json()["csrf_token"]
    assert caller.send("POST", "/api/v1/holds", {"employee_id": COMPANIES["GZ"].linked, "reason": "x"},
                       csrf=again).status_code == 201


# -- logging in ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("by_mail", [False, True], ids=["uid", "mail"])
def test_login_by_uid_or_mail(console: Console, by_mail: bool) -> None:
    caller = console.log_in("SZ", by_mail=by_mail)
    session = caller.get("/api/v1/session").get_json()
    assert session["user"] == "szadmin" and session["companies"] == ["SZ"] and not session["group_admin"]


def test_a_password_with_filter_characters_is_only_bound_with(console: Console) -> None:
    account = ACCOUNTS["SZ"]
    assert "*)(uid=*" in account.password
    assert log_in(console.client(), account.uid, account.password).status_code == 200
    assert log_in(console.client(), account.uid, "pw-sz *").status_code == 401
    assert log_in(console.client(), account.uid, "*").status_code == 401


@pytest.mark.parametrize("username", ["*", "*)(uid=*", "szadm*", "szadmin)(uid=szadmin", "*)(mail=szadmin@sz.example.com"])
def test_a_username_cannot_widen_the_lookup_filter(console: Console, username: str) -> None:
    # Unescaped, the last three would each select exactly szadmin's entry, and her password would then log in.
    answer = log_in(console.client(), username, ACCOUNTS["SZ"].password)
    assert answer.status_code == 401 and answer.get_json() == {"error": "wrong user name or password"}
    assert session_rows(console) == []


@pytest.mark.parametrize("who", ["SZ", "group"])
def test_an_empty_password_logs_nobody_in(console: Console, who: str) -> None:
    for username in (ACCOUNTS[who].uid, ACCOUNTS[who].mail, ACCOUNTS[who].dn):
        answer = log_in(console.client(), username, "")
        assert answer.status_code == 401, username
    assert session_rows(console) == []


def test_unknown_user_and_wrong_password_answer_alike(console: Console) -> None:
    unknown = log_in(console.client(), "nobody-here", "whatever")
    wrong = log_in(console.client(), ACCOUNTS["SZ"].uid, "whatever")
    assert unknown.status_code == wrong.status_code == 401 and unknown.get_json() == wrong.get_json()


@pytest.mark.parametrize("by_mail", [False, True], ids=["uid", "mail"])
def test_five_failures_for_one_name_make_the_sixth_attempt_429_even_with_the_right_password(
    console: Console, by_mail: bool
) -> None:
    account = ACCOUNTS["SZ"]
    username = account.mail if by_mail else account.uid
    client = console.client()
    for _ in range(4):
        assert log_in(client, username, "wrong").status_code == 401
    assert log_in(client, username, account.password).status_code == 200  # four failures are not yet the limit
    assert log_in(client, username, "wrong").status_code == 401
    answer = log_in(console.client(), username, account.password)
    assert answer.status_code == 429 and "too many" in answer.get_json()["error"]
    assert log_in(console.client(), username.upper(), account.password).status_code == 429  # the name's case is no way round
    # Another admin at the same address is not locked out by them.
    assert log_in(console.client(), ACCOUNTS["GZ"].uid, ACCOUNTS["GZ"].password).status_code == 200


# -- finding users: anonymously or with a read-only account ----------------------------------------------------


@pytest.fixture(scope="module")
def closed_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    """A directory that lets anonymous clients bind but read nothing: the console needs a lookup account."""
    server = start_directory(tmp_path_factory.mktemp("closed-slapd"), anonymous_lookup=False)
    yield server
    server.stop()


def test_a_lookup_account_finds_users_where_anonymous_search_is_refused(
    tmp_path: Path, closed_directory: Slapd, web_store: tuple[Path, Seeded]
) -> None:
    made = make_console(tmp_path, closed_directory, web_store, lookup=(READER_DN, READER_PASSWORD))
    try:
        for by_mail in (False, True):
            caller: Caller = made.log_in("SZ", by_mail=by_mail)
            assert caller.get("/api/v1/session").get_json()["companies"] == ["SZ"]
        assert made.log_in("group").get("/api/v1/session").get_json()["group_admin"]
        assert log_in(made.client(), ACCOUNTS["SZ"].uid, "wrong").status_code == 401
    finally:
        made.journal.close()


@pytest.mark.parametrize("lookup", [("", ""), (READER_DN, "not-the-readers-password")], ids=["anonymous", "wrong lookup password"])
def test_without_a_working_lookup_the_login_is_503_with_words_not_500(
    tmp_path: Path, closed_directory: Slapd, web_store: tuple[Path, Seeded], lookup: tuple[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    made = make_console(tmp_path, closed_directory, web_store, lookup=lookup)
    try:
        answer = log_in(made.client(), ACCOUNTS["SZ"].uid, ACCOUNTS["SZ"].password)
        assert answer.status_code == 503
        assert "look accounts up in the directory" in answer.get_json()["error"]
        assert "lookup_bind_dn" in caplog.text  # the log tells the operator what to set
        assert session_rows(made) == []
    finally:
        made.journal.close()
