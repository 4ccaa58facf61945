"""The console's passwords: a branch admin reveals a sealed initial password once (console delivery); an
employee changes their initial password on /password, under the directory's password policy (real slapd)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import pytest
from flask.testing import FlaskClient
from ldap3 import MODIFY_REPLACE, Connection, Server
from sqlalchemy import event, select, update

import connectors.ldap.login as login_module
from connectors.ldap.client import Connection as LdapConnection
from connectors.ldap.client import Page, Result
from connectors.ldap.login import DirectoryLogin, LoginRefused
from devservers.slapd import Slapd, ssha
from lifecycle.domain.errors import ConnectorError
from lifecycle.domain.settings import AccountSettings
from lifecycle.journal.schema import action_log, sealed_passwords
from lifecycle.journal.sealed import SealedFor, SealedPasswords, load_key
from lifecycle.journal.store import Journal
from lifecycle.web.app import create_app
from lifecycle.web.throttle import Throttled
from tests.web_support import (
    BASE,
    CLIENT_ADDRESS,
    COMPANIES,
    PEOPLE_DN,
    SECRET,
    Console,
    Seeded,
    console_settings,
    seeded_store,
    start_directory,
)

pytestmark = pytest.mark.servers

SZ = COMPANIES["SZ"]
WAITING = SZ.linked  # an SZ employee linked in the seeded store
SEALED = "Sealed-Initial-9x"
INITIAL = "Initial-Pw-123"
NEW = "Brand-New-Pw-456"
# People who log in with an initial password they must change (pwdReset), one per test that changes one.
NEWCOMERS = ("lin.na", "wang.fang", "zhao.lei", "sun.li", "zhou.jie", "wu.hao", "zheng.yu")


def newcomer_dn(uid: str) -> str:
    return f"uid={uid},{PEOPLE_DN['SZ']}"


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    """The console's test directory, newcomers with pwdReset, and a policy that judges new passwords."""
    server = start_directory(tmp_path_factory.mktemp("password-slapd"))
    try:
        server.load_ldif("\n\n".join(
            f"dn: {newcomer_dn(uid)}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: {uid}\n"
            f"mail: {uid}@sz.example.com\nuserPassword: {ssha(INITIAL)}\npwdReset: TRUE" for uid in NEWCOMERS) + "\n")
        admin = Connection(Server(server.url), server.admin_dn, server.admin_password, auto_bind=True)
        assert admin.modify(server.policy_dn, {"pwdMinLength": [(MODIFY_REPLACE, ["10"])],
                                               "pwdCheckQuality": [(MODIFY_REPLACE, ["1"])],
                                               "pwdInHistory": [(MODIFY_REPLACE, ["3"])]}), admin.result
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Seeded]:
    return seeded_store(tmp_path_factory.mktemp("password-store"))


@pytest.fixture
def console(tmp_path: Path, directory: Slapd, store: tuple[Path, Seeded]) -> Iterator[Console]:
    """The console with console delivery: a password sealed for WAITING (SZ) by the daemon's key."""
    key = tmp_path / "password-key"
    key.write_bytes(os.urandom(32))
    path = tmp_path / "state.db"
    path.write_bytes(store[0].read_bytes())
    journal = Journal(f"sqlite:///{path}")
    settings = console_settings(directory, login_failures=3)
    settings = settings.model_copy(update={"accounts": AccountSettings(initial_password_dir=tmp_path / "credentials",
                                                                       initial_password_delivery="console",
                                                                       password_key_file=key)})
    SealedPasswords(journal.engine, load_key(key)).seal_many(
        [(SealedFor(WAITING, "SZ", f"sz-{WAITING}", f"sz-{WAITING}@sz.example.com"), SEALED)])
    assert settings.web is not None
    app = create_app(settings, settings.web, SECRET, journal, DirectoryLogin(directory.url, BASE, 5))
    yield Console(app, journal, settings, store[1])
    journal.close()


def sealed_rows(console: Console) -> list[str]:
    with console.journal.engine.connect() as conn:
        return list(conn.execute(select(sealed_passwords.c.employee_id)).scalars())


def reveals(console: Console) -> list[dict]:
    with console.journal.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(action_log).where(action_log.c.kind == "password_revealed")).mappings()]


# -- revealing an initial password --------------------------------------------------------------------------


def test_the_branch_admin_reveals_the_initial_password_once_and_it_is_journalled(console: Console) -> None:
    admin = console.log_in("SZ")
    person = admin.get(f"/people/{WAITING}?lang=en").get_data(as_text=True)
    assert "Reveal initial password" in person and f"/people/{WAITING}/initial-password" in person
    answer = admin.client.post(f"/people/{WAITING}/initial-password",
                               data={"csrf_token": admin.csrf, "reason": "handed over at the desk"})
    body = answer.get_data(as_text=True)
    assert answer.status_code == 200 and SEALED in body and "Write it down or hand it over now" in body
    assert answer.headers["Cache-Control"] == "no-store"
    assert sealed_rows(console) == []  # destroyed with the reveal
    [entry] = reveals(console)
    assert (entry["actor"], entry["origin"], entry["reason"], entry["company"], entry["employee_id"]) == (
        "szadmin", f"console {CLIENT_ADDRESS}", "handed over at the desk", "SZ", WAITING)
    assert SEALED not in str(entry)
    log_bytes = b"".join(p.read_bytes() for p in Path(str(console.journal.engine.url.database)).parent.glob("state.db*"))
    assert SEALED.encode() not in log_bytes
    # Once: the next reveal says who revealed it, and when; the page offers it no more.
    again = admin.client.post(f"/people/{WAITING}/initial-password", data={"csrf_token": admin.csrf, "reason": "again"})
    assert again.status_code == 409 and SEALED not in again.get_data(as_text=True)
    assert "Already revealed by szadmin at " in again.get_data(as_text=True)
    assert "Reveal initial password" not in admin.get(f"/people/{WAITING}").get_data(as_text=True)
    assert len(reveals(console)) == 1


def test_the_api_reveals_once_with_the_sessions_csrf_token(console: Console) -> None:
    admin = console.log_in("group")
    path = f"/api/v1/people/{WAITING}/initial-password"
    assert admin.send("POST", path, {"reason": "x"}, csrf=None).status_code in (401, 403)
    assert admin.send("POST", path, {}).status_code == 400  # a reason is required
    assert sealed_rows(console) == [WAITING]
    answer = admin.send("POST", path, {"reason": "new joiner's first day"})
    assert answer.status_code == 200 and answer.get_json()["initial_password"] == SEALED
    assert answer.headers["Cache-Control"] == "no-store"
    second = admin.send("POST", path, {"reason": "again"})
    assert second.status_code == 409 and "already revealed by groupadmin" in second.get_json()["error"]


def test_another_companys_admin_and_anonymous_callers_cannot_reveal(console: Console) -> None:
    gz = console.log_in("GZ")
    assert "Reveal initial password" not in gz.get(f"/people/{WAITING}?lang=en").get_data(as_text=True)
    page = gz.client.post(f"/people/{WAITING}/initial-password", data={"csrf_token": gz.csrf, "reason": "curious"})
    assert page.status_code == 404 and SEALED not in page.get_data(as_text=True)
    api = gz.send("POST", f"/api/v1/people/{WAITING}/initial-password", {"reason": "curious"})
    assert api.status_code == 404 and SEALED not in api.get_data(as_text=True)
    anonymous = console.client()
    assert anonymous.post(f"/people/{WAITING}/initial-password", data={"reason": "x"}).status_code in (302, 400, 403)
    assert anonymous.post(f"/api/v1/people/{WAITING}/initial-password", json={"reason": "x"}).status_code in (401, 403)
    assert sealed_rows(console) == [WAITING] and reveals(console) == []  # still waiting, nothing journalled


def test_a_row_moved_to_another_company_after_the_check_is_not_revealed_to_the_old_companys_admin(
    console: Console,
) -> None:
    # The race the company check must not lose: the row is re-sealed for GZ (a transfer) just after the console
    # first reads it, before it is deleted and shown.
    admin = console.log_in("SZ")
    assert "Reveal initial password" in admin.get(f"/people/{WAITING}?lang=en").get_data(as_text=True)
    moved: list[str] = []

    def move_after_first_read(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not moved and statement.lstrip().upper().startswith("SELECT") and "sealed_passwords" in statement:
            moved.append(statement)
            with console.journal.engine.begin() as other:
                other.execute(update(sealed_passwords).where(sealed_passwords.c.employee_id == WAITING)
                              .values(company="GZ"))

    event.listen(console.journal.engine, "after_cursor_execute", move_after_first_read)
    try:
        page = admin.client.post(f"/people/{WAITING}/initial-password", data={"csrf_token": admin.csrf, "reason": "x"})
    finally:
        event.remove(console.journal.engine, "after_cursor_execute", move_after_first_read)
    assert moved  # the row did move between the console's first read and its delete
    body = page.get_data(as_text=True)
    assert page.status_code == 404 and SEALED not in body
    assert sealed_rows(console) == [WAITING] and reveals(console) == []  # still waiting, nothing journalled
    api = admin.send("POST", f"/api/v1/people/{WAITING}/initial-password", {"reason": "x"})
    assert api.status_code == 404 and SEALED not in api.get_data(as_text=True)
    # Its new company's admin opens it, and the journal names the company it was opened for.
    gz = console.log_in("GZ").send("POST", f"/api/v1/people/{WAITING}/initial-password", {"reason": "transfer"})
    assert gz.status_code == 200 and gz.get_json()["initial_password"] == SEALED
    assert [entry["company"] for entry in reveals(console)] == ["GZ"]
    # And the old company's admin is not told who revealed it.
    again = admin.send("POST", f"/api/v1/people/{WAITING}/initial-password", {"reason": "x"})
    assert again.status_code == 404 and "gzadmin" not in again.get_data(as_text=True)


# -- changing one's own password --------------------------------------------------------------------------


def english(console: Console) -> FlaskClient:
    client = console.client()
    client.get("/password?lang=en")  # the session's language from now on
    return client


def form_token(client: FlaskClient) -> str:
    page = client.get("/password").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def change(client: FlaskClient, username: str, current: str, new: str, again: str | None = None, *,
           token: str | None = "fetch") -> tuple[int, str]:
    data = {"username": username, "current": current, "new": new, "confirm": new if again is None else again}
    if token is not None:
        data["csrf_token"] = form_token(client) if token == "fetch" else token
    answer = client.post("/password", data=data)
    assert answer.headers["Cache-Control"] == "no-store"
    return answer.status_code, answer.get_data(as_text=True)


def binds(server: Slapd, uid: str, password: str) -> bool:
    return bool(Connection(Server(server.url), newcomer_dn(uid), password).bind())


def password_reset_flag(server: Slapd, uid: str) -> object:
    admin = Connection(Server(server.url), server.admin_dn, server.admin_password, auto_bind=True)
    admin.search(newcomer_dn(uid), "(objectClass=*)", search_scope="BASE", attributes=["pwdReset"])
    return admin.entries[0].pwdReset.value


def test_an_employee_changes_the_initial_password_and_only_the_new_one_works(
    console: Console, directory: Slapd, capsys: pytest.CaptureFixture[str]
) -> None:
    client = english(console)
    assert password_reset_flag(directory, "lin.na") is True
    status, body = change(client, "lin.na@sz.example.com", INITIAL, NEW)  # by mail address
    assert status == 200 and "Password changed" in body and "Mail (IMAP) now takes the new password only" in body
    assert binds(directory, "lin.na", NEW) and not binds(directory, "lin.na", INITIAL)
    assert password_reset_flag(directory, "lin.na") is None  # the change the policy asked for is done
    # Back to an earlier password: the policy's history refuses it, in words.
    status, body = change(client, "lin.na", NEW, INITIAL)
    assert status == 400 and "The new password was used before" in body
    written = capsys.readouterr()
    assert all(secret not in written.out + written.err for secret in (INITIAL, NEW))


def test_the_policy_and_the_form_refuse_in_words_in_both_languages(console: Console, directory: Slapd) -> None:
    client = english(console)
    status, body = change(client, "wang.fang", INITIAL, "Short-1")
    assert status == 400 and "The new password is too short for the password policy." in body
    status, body = change(client, "wang.fang", INITIAL, NEW, NEW + "x")
    assert status == 400 and "The two new passwords do not match." in body
    status, body = change(client, "wang.fang", INITIAL, INITIAL)
    assert status == 400 and "The new password must differ from the current one." in body
    client.get("/password?lang=zh-CN")
    status, body = change(client, "wang.fang", INITIAL, "Short-1")
    assert status == 400 and "新密码太短" in body
    assert 'value="wang.fang"' in body and INITIAL not in body and "Short-1" not in body  # the name kept, never a password
    assert binds(directory, "wang.fang", INITIAL) and password_reset_flag(directory, "wang.fang") is True


def test_a_wrong_current_password_and_an_unknown_user_get_one_answer(console: Console, directory: Slapd) -> None:
    client = english(console)
    wrong = change(client, "zhao.lei", "not-the-password", NEW)
    unknown = change(client, "no.such.person", INITIAL, NEW)
    assert wrong[0] == unknown[0] == 401
    assert "Wrong user name or current password." in wrong[1] and "Wrong user name or current password." in unknown[1]
    assert binds(directory, "zhao.lei", INITIAL)


def test_the_form_needs_its_csrf_token(console: Console, directory: Slapd) -> None:
    client = english(console)
    status, body = change(client, "sun.li", INITIAL, NEW, token=None)
    assert status == 400 and "The form had expired" in body
    status, _ = change(client, "sun.li", INITIAL, NEW, token="forged")
    assert status == 400
    assert binds(directory, "sun.li", INITIAL) and not binds(directory, "sun.li", NEW)


def test_failed_attempts_are_throttled_like_logins(console: Console, directory: Slapd) -> None:
    client = english(console)
    for _ in range(3):  # login_failures = 3
        assert change(client, "zhou.jie", "guess-" + os.urandom(4).hex(), NEW)[0] == 401
    status, body = change(client, "zhou.jie", INITIAL, NEW)  # the right one, too late
    assert status == 429 and "Too many failed attempts" in body
    assert binds(directory, "zhou.jie", INITIAL)


def same_page(body: str, username: str) -> str:
    """The page with what differs between two answers of one kind blanked: the form's token, the name typed."""
    body = re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token" value=""', body)
    return body.replace(f'value="{username}"', 'value=""')


def test_a_locked_account_answers_as_an_unknown_user_and_is_throttled(console: Console, directory: Slapd) -> None:
    # slapd names a locked account (accountLocked) whatever password is typed: saying "locked" would tell anyone
    # which people are suspended (leavers), and a refusal that is not counted could be asked without end.
    admin = Connection(Server(directory.url), directory.admin_dn, directory.admin_password, auto_bind=True)
    assert admin.modify(newcomer_dn("wu.hao"), {"pwdAccountLockedTime": [(MODIFY_REPLACE, ["000001010000Z"])]})
    client = english(console)
    unknown = change(client, "no.such.person", "guess-0", NEW)
    assert unknown[0] == 401 and "Wrong user name or current password." in unknown[1]
    for attempt in range(3):  # login_failures = 3
        status, body = change(client, "wu.hao", f"guess-{attempt}", NEW)
        assert (status, same_page(body, "wu.hao")) == (unknown[0], same_page(unknown[1], "no.such.person"))
        assert "locked" not in body
    status, body = change(client, "wu.hao", INITIAL, NEW)  # even the right password: the Nth attempt is refused
    assert status == 429 and "Too many failed attempts" in body
    assert binds(directory, "wu.hao", INITIAL) is False  # still locked; nothing was changed


def test_an_account_over_its_count_under_another_name_answers_as_an_unknown_name(console: Console, directory: Slapd) -> None:
    # The account's count joins its uid and its address; a name of no account has no such count.  A "too many"
    # there would tell that the two names are one account's: it reads as a wrong password, and counts.
    client = english(console)

    def three_failures_then_the_address(uid: str) -> tuple[int, str]:
        for attempt, name in enumerate((uid, uid, f"{uid}@sz.example.com")):
            assert change(client, name, f"guess-{attempt}", NEW)[0] == 401
        # The address typed has failed once only; the account's own count (3) is used up.
        status, body = change(client, f"{uid}@sz.example.com", INITIAL, NEW)
        return status, same_page(body, f"{uid}@sz.example.com")

    known = three_failures_then_the_address("zheng.yu")
    assert known == three_failures_then_the_address("nobody.here") and known[0] == 401
    assert "Wrong user name or current password." in known[1]
    assert binds(directory, "zheng.yu", INITIAL) and not binds(directory, "zheng.yu", NEW)  # not tried
    # That refusal counted for the address typed: its third failure, then "too many", as for any name.
    assert change(client, "zheng.yu@sz.example.com", INITIAL, NEW)[0] == 401
    status, body = change(client, "zheng.yu@sz.example.com", INITIAL, NEW)
    assert status == 429 and "Too many failed attempts" in body


class Spy(LdapConnection):
    """A connection to the real directory that notes each request's kind."""

    requests: ClassVar[list[str]] = []

    def bind(self, dn: str, password: str) -> Result:
        Spy.requests.append("bind")
        return super().bind(dn, password)

    def search_page(self, *args: Any, **kwargs: Any) -> Page:
        Spy.requests.append("search")
        return super().search_page(*args, **kwargs)


def test_an_unknown_user_costs_the_directory_the_same_requests_as_a_wrong_password(
    directory: Slapd, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The answer's time is the requests' round trips: an unknown name must not be answered sooner (no bind) or
    # later (a search asking whether the lookup sees anyone at all) than a known one.
    monkeypatch.setattr(login_module, "Connection", Spy)
    login = DirectoryLogin(directory.url, BASE, 5)

    def requests_of(call: Callable[..., object], *args: Any, refusal: type[Exception] = LoginRefused) -> list[str]:
        Spy.requests.clear()
        with pytest.raises(refusal):
            call(*args)
        return list(Spy.requests)

    @contextmanager
    def over_its_count(_dn: str) -> Iterator[None]:
        raise Throttled
        yield

    known = requests_of(login.change_password, "zhao.lei", "not-the-password", NEW)
    assert known == ["bind", "search", "bind"]  # the lookup's bind, the search, the person's bind
    for name in ("no.such.person", "nobody@sz.example.com", "*"):
        assert requests_of(login.change_password, name, "not-the-password", NEW) == known, name
        assert requests_of(login.authenticate, name, "not-the-password", []) == known, name
    assert requests_of(login.authenticate, "zhao.lei", "not-the-password", []) == known
    # An account the throttle refuses before its bind: a bind all the same.
    assert requests_of(login.change_password, "zhao.lei", INITIAL, NEW, over_its_count, refusal=Throttled) == known
    assert requests_of(login.authenticate, "zhao.lei", INITIAL, [], over_its_count, refusal=Throttled) == known
    assert binds(directory, "zhao.lei", INITIAL)


def test_a_directory_that_hides_everyone_is_still_told_apart_from_an_unknown_user(directory: Slapd) -> None:
    # The search for anyone at all, which the unknown user no longer costs each time, still runs on a fresh start.
    hidden = DirectoryLogin(directory.url, f"ou=nobody-here,{BASE}", 5)
    with pytest.raises(ConnectorError, match="sees no person under ou=nobody-here"):
        hidden.change_password("no.such.person", "not-the-password", NEW)
