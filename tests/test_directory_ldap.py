"""The OpenLDAP connector against a real, throwaway slapd (devservers.slapd)."""

from __future__ import annotations

import itertools
import os
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from ldap3 import BASE, MODIFY_DELETE, MODIFY_REPLACE, Connection, Server
from pydantic import SecretStr
from structlog.testing import capture_logs

from connectors.ldap import LdapDirectory, canonical_dn, parse_dn, parse_generalized_time, references
from connectors.ldap.client import Connection as ClientConnection
from connectors.ldap.client import Result
from connectors.ldap.session import error_for
from devservers.slapd import Slapd, free_port
from lifecycle.domain.dn import dn_key
from lifecycle.domain.errors import AlreadyExistsError, ConnectorConfigError, RecordError, TransientError
from lifecycle.domain.ports import Directory, DirectoryFeatures
from lifecycle.domain.settings import CompanySettings, DirectorySettings

BASE_DN = "dc=example,dc=com"  # the tree conftest's `slapd` fixture builds
HQ_PEOPLE_DN = f"ou=hq,ou=people,{BASE_DN}"
SZ_PEOPLE_DN = f"ou=sz,ou=people,{BASE_DN}"
GROUPS_DN = f"ou=groups,{BASE_DN}"

TRICKY_VALUES = [
    "张三",
    "王小明, 研发部",
    'a,b+c"d\\e<f>g;h=i',
    "#leading hash",
    " leading space",
    "trailing space ",
    "  both  ",
    "研发部 #1 (北京)",
    "*()\\ filter chars",
]
PASSWORD = "Initial-Passw0rd!"


@pytest.fixture
def directory(directory_settings: DirectorySettings, companies: tuple[CompanySettings, ...]) -> Iterator[LdapDirectory]:
    with LdapDirectory(directory_settings, companies) as connector:
        yield connector


def admin_connection(slapd: Slapd) -> Connection:
    return Connection(Server(slapd.url), slapd.admin_dn, slapd.admin_password, auto_bind=True, check_names=False)


def person(uid: str, employee_number: str, **extra: str) -> dict[str, str]:
    attributes = {"uid": uid, "cn": f"Person {uid}", "sn": "Person", "employeeNumber": employee_number}
    attributes.update(extra)
    return attributes


def add_person(
    directory: LdapDirectory, uid: str, people_dn: str = HQ_PEOPLE_DN, password: str | None = PASSWORD, **extra: str
) -> str:
    dn = directory.person_dn(uid, people_dn)
    directory.create_person(dn, person(uid, f"E-{uid}", **extra), password)
    return dn


# -- DN handling (no server) -----------------------------------------------------------


def test_canonical_dn_reads_slapds_hex_escapes_back_into_our_form() -> None:
    # What slapd returned for cn=张三\, 李\  and a value full of specials.
    assert canonical_dn("cn=张三\\2C 李\\20,ou=hq,dc=example,dc=com") == "cn=张三\\, 李\\ ,ou=hq,dc=example,dc=com"
    assert canonical_dn("CN=\\23lead,OU=HQ, DC=example") == "cn=\\#lead,ou=HQ,dc=example"
    assert canonical_dn("cn=\\E5\\BC\\A0,dc=x") == "cn=张,dc=x"
    assert canonical_dn("cn=#0c03616263,dc=x") == "cn=abc,dc=x"
    assert parse_dn("cn=a+sn=b,dc=x") == [[("cn", "a"), ("sn", "b")], [("dc", "x")]]
    assert dn_key("UID=Zhang,OU=HQ,DC=Example,DC=com") == dn_key("uid=zhang,ou=hq,dc=example,dc=com")
    assert canonical_dn("not a dn") == "not a dn"


@given(st.text(min_size=1, max_size=20).filter(lambda v: "\x00" not in v))
@example(" ")  # ldap3's escape_rdn gets a lone space wrong; the connector does not use it
def test_person_dn_round_trips_any_value_through_the_parser(value: str) -> None:
    dn = LdapDirectory.person_dn(value, "ou=hq,dc=example,dc=com")
    assert parse_dn(dn)[0] == [("uid", value)]
    assert canonical_dn(dn) == dn


def test_generalized_time_parsing() -> None:
    assert parse_generalized_time("20240102030405Z") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_generalized_time("20240102030405.5Z") == datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)
    assert parse_generalized_time("20240102110405+0800") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_generalized_time("garbage") is None


# -- reading and writing people -------------------------------------------------------


def test_create_and_read_round_trip_with_chinese_and_dn_special_characters(directory: LdapDirectory) -> None:
    created = {}
    for index, value in enumerate(TRICKY_VALUES):
        uid = f"user{index}"
        dn = directory.person_dn(uid, HQ_PEOPLE_DN)
        attributes = person(uid, f"E{index}", cn=value, departmentNumber=value, title=value, displayName=value, givenName="")
        directory.create_person(dn, attributes, None)
        created[dn] = value

    snapshot = directory.read_snapshot()
    assert [entry.dn for entry in snapshot.entries] == sorted(created)
    for entry in snapshot.entries:
        value = created[entry.dn]
        assert (entry.cn, entry.department, entry.title, entry.display_name) == (value, value, value, value)
        assert entry.given_name == ""  # empty values are not written
        assert entry.locked is False and entry.last_bind is None
        assert entry.created is not None and abs(entry.created - datetime.now(UTC)) < timedelta(minutes=1)
        assert directory.read_person(entry.dn) == entry
        assert directory.find_by_employee_number(entry.employee_number) == entry
    assert snapshot.taken_uids == {f"user{i}" for i in range(len(TRICKY_VALUES))}


def test_uid_with_dn_special_characters_is_escaped_in_the_dn(directory: LdapDirectory) -> None:
    uid = 'o,brien+x"y'
    dn = directory.person_dn(uid, HQ_PEOPLE_DN)
    assert dn == 'uid=o\\,brien\\+x\\"y,ou=hq,ou=people,dc=example,dc=com'
    directory.create_person(dn, person(uid, "E1"), None)
    entry = directory.read_person(dn)
    assert entry is not None and entry.dn == dn and entry.uid == uid


def test_filter_values_are_escaped(directory: LdapDirectory) -> None:
    add_person(directory, "alice", password=None)
    assert directory.find_by_employee_number("*") is None
    assert directory.find_by_employee_number("E-alice)(uid=*") is None
    assert directory.find_by_employee_number("E-alice") is not None


def test_group_with_special_department_round_trips(directory: LdapDirectory) -> None:
    member = add_person(directory, "alice")
    other = add_person(directory, "bob", people_dn=SZ_PEOPLE_DN)
    department = ' #研发, "R+D" <core>; a=b \\ '
    dn = directory.group_dn("HQ", department)
    directory.create_group(dn, "HQ", department, member)
    directory.add_member(dn, other)

    (group,) = directory.read_snapshot().groups
    assert group.dn == dn
    assert group.cn == f"HQ-{department}"
    assert (group.company, group.department) == ("HQ", department)
    assert group.members == {member, other}


def test_unmanaged_groups_are_not_in_the_snapshot(slapd: Slapd, directory: LdapDirectory) -> None:
    member = add_person(directory, "alice")
    with admin_connection(slapd) as admin:
        assert admin.add(f"cn=staff,{GROUPS_DN}", ["groupOfNames"], {"cn": "staff", "member": member})
    assert directory.read_snapshot().groups == ()


def test_paged_reads_return_everything_beyond_page_size(
    slapd: Slapd, directory_settings: DirectorySettings, companies: tuple[CompanySettings, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    paged = directory_settings.model_copy(update={"page_size": 7})
    requests: list[int | None] = []
    original = ClientConnection.search_page

    def counting_search(connection: ClientConnection, *args: Any, page_size: int = 0, **kwargs: Any) -> Any:
        requests.append(page_size)
        return original(connection, *args, page_size=page_size, **kwargs)

    with LdapDirectory(paged, companies) as directory:
        expected = [add_person(directory, f"hq{n:02}", password=None) for n in range(30)]
        expected += [add_person(directory, f"sz{n:02}", people_dn=SZ_PEOPLE_DN, password=None) for n in range(4)]
        for n in range(9):
            directory.create_group(directory.group_dn("HQ", f"dept{n}"), "HQ", f"dept{n}", expected[n])
        # A uid outside every people_dn still takes the name.
        with admin_connection(slapd) as admin:
            assert admin.add(f"uid=Service,{BASE_DN}", ["account"], {"uid": "Service"})

        monkeypatch.setattr(ClientConnection, "search_page", counting_search)
        snapshot = directory.read_snapshot()

    assert [entry.dn for entry in snapshot.entries] == sorted(expected)
    assert len(snapshot.groups) == 9 and [g.dn for g in snapshot.groups] == sorted(g.dn for g in snapshot.groups)
    assert snapshot.taken_uids == {dn.split(",")[0].removeprefix("uid=") for dn in expected} | {"service"}
    # One search under the base DN, pages of 7: 34 people + 9 groups + 1 service account need 7 requests.
    # (Page size 0: the base-scope lookups that make sure every configured container exists.)
    paged_requests = [size for size in requests if size]
    assert len(paged_requests) >= 7 and set(paged_requests) == {7} and requests.count(0) == len(companies) + 1


# -- password, lock, last bind ----------------------------------------------------------


def test_new_password_is_hashed_and_must_be_changed(slapd: Slapd, directory: LdapDirectory) -> None:
    dn = add_person(directory, "alice")
    with admin_connection(slapd) as admin:
        admin.search(dn, "(objectClass=*)", BASE, attributes=["userPassword", "pwdReset"])
        raw = (admin.response or [])[0]["raw_attributes"]
    assert raw["userPassword"][0].startswith(b"{SSHA}") and PASSWORD.encode() not in raw["userPassword"][0]
    assert raw["pwdReset"] == [b"TRUE"]
    assert directory.bind_as(dn, PASSWORD)
    assert not directory.bind_as(dn, "wrong")
    assert not directory.bind_as(dn, "")  # an empty password would be an anonymous bind


def test_set_password_replaces_the_password_and_forces_a_change(slapd: Slapd, directory: LdapDirectory) -> None:
    dn = add_person(directory, "alice")
    directory.set_password(dn, "Second-Passw0rd!")
    directory.set_password(dn, "Second-Passw0rd!")
    assert directory.bind_as(dn, "Second-Passw0rd!")
    assert not directory.bind_as(dn, PASSWORD)
    with admin_connection(slapd) as admin:
        admin.search(dn, "(objectClass=*)", BASE, attributes=["userPassword", "pwdReset"])
        raw = (admin.response or [])[0]["raw_attributes"]
    assert raw["userPassword"][0].startswith(b"{SSHA}") and raw["pwdReset"] == [b"TRUE"]
    with pytest.raises(RecordError):
        directory.set_password(directory.person_dn("nobody", HQ_PEOPLE_DN), "x")


def test_lock_blocks_logins_and_unlock_restores_them(directory: LdapDirectory) -> None:
    dn = add_person(directory, "alice")
    assert directory.bind_as(dn, PASSWORD)

    directory.lock(dn)
    directory.lock(dn)  # idempotent
    assert not directory.bind_as(dn, PASSWORD)
    entry = directory.read_person(dn)
    assert entry is not None and entry.locked

    directory.unlock(dn)
    directory.unlock(dn)  # idempotent
    assert directory.bind_as(dn, PASSWORD)
    entry = directory.read_person(dn)
    assert entry is not None and not entry.locked


def test_last_bind_is_recorded_after_a_successful_login(directory: LdapDirectory) -> None:
    dn = add_person(directory, "alice")
    entry = directory.read_person(dn)
    assert entry is not None and entry.last_bind is None

    assert not directory.bind_as(dn, "wrong")
    entry = directory.read_person(dn)
    assert entry is not None and entry.last_bind is None

    before = datetime.now(UTC).replace(microsecond=0)
    assert directory.bind_as(dn, PASSWORD)
    entry = directory.read_person(dn)
    assert entry is not None and entry.last_bind is not None
    assert entry.last_bind.tzinfo is UTC
    assert before <= entry.last_bind <= datetime.now(UTC)


# -- modify, move, delete -----------------------------------------------------------------


def test_modify_replaces_and_deletes_idempotently(directory: LdapDirectory) -> None:
    dn = add_person(directory, "alice", title="Engineer", mail="alice@example.com")
    directory.modify_person(dn, {"title": "Manager, R&D", "mail": None, "departmentNumber": "", "displayName": "爱丽丝"})
    directory.modify_person(dn, {"mail": None, "departmentNumber": ""})  # already absent: fine
    directory.modify_person(dn, {})
    entry = directory.read_person(dn)
    assert entry is not None
    assert (entry.title, entry.mail, entry.department, entry.display_name) == ("Manager, R&D", "", "", "爱丽丝")


def test_move_between_companies_rewrites_references(directory: LdapDirectory) -> None:
    boss = add_person(directory, "boss")
    report = add_person(directory, "report", manager=boss)
    group = directory.group_dn("HQ", "R&D")
    directory.create_group(group, "HQ", "R&D", boss)
    directory.add_member(group, report)

    moved = directory.move_person(boss, SZ_PEOPLE_DN)
    assert moved == directory.person_dn("boss", SZ_PEOPLE_DN)
    assert directory.move_person(boss, SZ_PEOPLE_DN) == moved  # a retried move finds it done
    assert directory.move_person(moved, SZ_PEOPLE_DN) == moved  # already there: nothing to do

    snapshot = directory.read_snapshot()
    by_uid = {entry.uid: entry for entry in snapshot.entries}
    assert by_uid["boss"].dn == moved
    assert by_uid["report"].manager == moved  # refint rewrote the manager
    (managed,) = snapshot.groups
    assert managed.members == {moved, report}  # ...and the member
    assert directory.read_person(boss) is None


def test_member_and_delete_operations_are_idempotent(directory: LdapDirectory) -> None:
    alice = add_person(directory, "alice")
    bob = add_person(directory, "bob")
    group = directory.group_dn("HQ", "Sales")
    directory.create_group(group, "HQ", "Sales", alice)

    directory.add_member(group, bob)
    directory.add_member(group, bob)
    directory.remove_member(group, bob)
    directory.remove_member(group, bob)
    (managed,) = directory.read_snapshot().groups
    assert managed.members == {alice}

    with pytest.raises(RecordError, match="delete the group instead"):
        directory.remove_member(group, alice)  # groupOfNames cannot be empty

    directory.delete_person(bob)
    directory.delete_person(bob)
    assert directory.read_person(bob) is None
    directory.delete_group(group)
    directory.delete_group(group)
    assert directory.read_snapshot().groups == ()


def test_deleting_a_person_removes_it_from_groups(directory: LdapDirectory) -> None:
    alice = add_person(directory, "alice")
    bob = add_person(directory, "bob")
    group = directory.group_dn("HQ", "Ops")
    directory.create_group(group, "HQ", "Ops", alice)
    directory.add_member(group, bob)
    directory.delete_person(bob)
    (managed,) = directory.read_snapshot().groups
    assert managed.members == {alice}


def test_deleting_the_only_member_leaves_a_dangling_member(directory: LdapDirectory, monkeypatch: pytest.MonkeyPatch) -> None:
    # refint cannot empty a groupOfNames (it needs a member), so slapd keeps the
    # old DN: delete or shrink the group before deleting its last member.
    monkeypatch.setattr(references, "REFERENCE_WAIT_SECONDS", 0.2)
    alice = add_person(directory, "alice")
    group = directory.group_dn("HQ", "Solo")
    directory.create_group(group, "HQ", "Solo", alice)
    with capture_logs() as logs:
        directory.delete_person(alice)
    assert {"event": "directory.references_remain", "dn": alice, "example": group, "log_level": "warning"} in logs
    (managed,) = directory.read_snapshot().groups
    assert managed.members == {alice}


# -- setup and health -------------------------------------------------------------------


def test_check_is_empty_when_healthy_and_reports_a_policy_without_lockout(slapd: Slapd, directory: LdapDirectory) -> None:
    assert directory.check() == []

    with admin_connection(slapd) as admin:
        assert admin.modify(slapd.policy_dn, {"pwdLockout": [(MODIFY_DELETE, [])]})
    (problem,) = directory.check()
    assert "pwdLockout" in problem and "would NOT block" in problem

    with admin_connection(slapd) as admin:
        assert admin.modify(slapd.policy_dn, {"pwdLockout": [(MODIFY_REPLACE, ["TRUE"])]})
    assert directory.check() == []


def test_check_reports_missing_containers_and_ensure_containers_creates_them(directory_settings: DirectorySettings) -> None:
    companies = (
        CompanySettings(code="HQ", domain="example.com", people_dn=HQ_PEOPLE_DN),
        CompanySettings(code="BJ", domain="bj.example.com", people_dn="ou=bj,ou=branches,dc=example,dc=com"),
    )
    with LdapDirectory(directory_settings, companies) as directory:
        (problem,) = directory.check()
        assert "companies[BJ].people_dn" in problem
        with pytest.raises(ConnectorConfigError, match="does not exist"):
            directory.read_snapshot()  # never mistake a missing subtree for an empty one

        assert directory.ensure_containers() == ["ou=branches,dc=example,dc=com", "ou=bj,ou=branches,dc=example,dc=com"]
        assert directory.ensure_containers() == []
        assert directory.check() == []
        assert directory.read_snapshot().entries == ()


def test_check_reports_a_bind_failure_instead_of_raising(
    directory_settings: DirectorySettings, companies: tuple[CompanySettings, ...]
) -> None:
    wrong = directory_settings.model_copy(update={"bind_password": SecretStr("not-the-password-42")})
    with LdapDirectory(wrong, companies) as directory:
        (problem,) = directory.check()
    assert "invalidCredentials" in problem and "not-the-password-42" not in problem


# -- error mapping ---------------------------------------------------------------------------


def test_wrong_password_is_a_config_error_without_the_password(
    directory_settings: DirectorySettings, companies: tuple[CompanySettings, ...]
) -> None:
    wrong = directory_settings.model_copy(update={"bind_password": SecretStr("not-the-password-42")})
    with LdapDirectory(wrong, companies) as directory, pytest.raises(ConnectorConfigError) as caught:
        directory.read_snapshot()
    assert caught.value.connector == "directory"
    assert "invalidCredentials" in str(caught.value) and directory_settings.bind_dn in str(caught.value)
    assert "not-the-password-42" not in str(caught.value)


def test_creating_an_existing_dn_is_already_exists(directory: LdapDirectory) -> None:
    dn = add_person(directory, "alice")
    with pytest.raises(AlreadyExistsError) as caught:
        directory.create_person(dn, person("alice", "E-other"), PASSWORD)
    assert dn in str(caught.value) and PASSWORD not in str(caught.value)
    group = directory.group_dn("HQ", "Ops")
    directory.create_group(group, "HQ", "Ops", dn)
    with pytest.raises(AlreadyExistsError):
        directory.create_group(group, "HQ", "Ops", dn)


def test_other_failures_are_record_errors_naming_the_dn(directory: LdapDirectory) -> None:
    missing = directory.person_dn("nobody", HQ_PEOPLE_DN)
    with pytest.raises(RecordError) as caught:
        directory.modify_person(missing, {"title": "x"})
    assert type(caught.value) is RecordError
    assert missing in str(caught.value) and "noSuchObject" in str(caught.value)
    with pytest.raises(RecordError, match="objectClassViolation"):
        directory.create_person(directory.person_dn("nosn", HQ_PEOPLE_DN), {"uid": "nosn", "cn": "No Surname"}, None)
    with pytest.raises(RecordError):
        directory.lock(missing)
    with pytest.raises(RecordError):
        directory.move_person(missing, SZ_PEOPLE_DN)


def test_stopped_server_is_transient_and_the_connector_recovers(slapd: Slapd, directory: LdapDirectory) -> None:
    dn = add_person(directory, "alice")
    slapd.stop()
    messages = []
    for call in (
        directory.read_snapshot,
        lambda: directory.lock(dn),
        lambda: directory.read_person(dn),
        directory.ensure_containers,
    ):
        with pytest.raises(TransientError) as caught:
            call()
        assert caught.value.connector == "directory"
        messages.append(str(caught.value))
    with pytest.raises(TransientError):
        directory.bind_as(dn, PASSWORD)
    assert directory.check() and "unreachable" in directory.check()[0]

    slapd.start()  # same port, same data
    assert [entry.dn for entry in directory.read_snapshot().entries] == [dn]
    assert all(slapd.admin_password not in message for message in messages)


def test_unreachable_server_is_transient(directory_settings: DirectorySettings, companies: tuple[CompanySettings, ...]) -> None:
    nowhere = directory_settings.model_copy(update={"url": f"ldap://127.0.0.1:{free_port()}", "timeout_seconds": 2.0})
    with LdapDirectory(nowhere, companies) as directory, pytest.raises(TransientError) as caught:
        directory.read_snapshot()
    assert directory_settings.bind_password is not None
    assert directory_settings.bind_password.get_secret_value() not in str(caught.value)


def test_invalid_url_is_a_config_error(directory_settings: DirectorySettings, companies: tuple[CompanySettings, ...]) -> None:
    broken = directory_settings.model_copy(update={"url": "ldap://127.0.0.1:notaport"})
    with LdapDirectory(broken, companies) as directory, pytest.raises(ConnectorConfigError):
        directory.read_snapshot()


def test_duplicate_employee_numbers_are_a_record_error(directory: LdapDirectory) -> None:
    directory.create_person(directory.person_dn("a", HQ_PEOPLE_DN), person("a", "E1"), None)
    directory.create_person(directory.person_dn("b", SZ_PEOPLE_DN), person("b", "E1"), None)
    with pytest.raises(RecordError, match="E1 is on 2 entries"):
        directory.find_by_employee_number("E1")
    assert directory.find_by_employee_number("E2") is None


def test_a_size_limited_bind_dn_is_a_config_error_not_a_short_snapshot(
    slapd: Slapd, directory_settings: DirectorySettings, companies: tuple[CompanySettings, ...]
) -> None:
    # slapd's default size limit (500) binds everyone but the rootdn, paged or not.
    reader = f"uid=reader,{BASE_DN}"
    entries = [f"dn: {reader}\nobjectClass: account\nobjectClass: simpleSecurityObject\nuid: reader\nuserPassword: reader-pw\n"]
    entries += [f"dn: uid=u{n},{HQ_PEOPLE_DN}\nobjectClass: inetOrgPerson\nuid: u{n}\ncn: U {n}\nsn: U\n" for n in range(510)]
    slapd.load_ldif("\n".join(entries))  # while running: through ldapadd
    limited = directory_settings.model_copy(update={"bind_dn": reader, "bind_password": SecretStr("reader-pw")})
    with LdapDirectory(limited, companies) as directory, pytest.raises(ConnectorConfigError, match="sizeLimitExceeded") as caught:
        directory.read_snapshot()
    assert "reader-pw" not in str(caught.value)


def test_a_server_that_never_answers_is_transient(
    directory_settings: DirectorySettings, companies: tuple[CompanySettings, ...]
) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        mute = directory_settings.model_copy(update={"url": f"ldap://127.0.0.1:{port}", "timeout_seconds": 0.5})
        started = time.monotonic()
        with LdapDirectory(mute, companies) as directory, pytest.raises(TransientError):
            directory.read_snapshot()
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("code", "description", "error"),
    [
        (3, "timeLimitExceeded", TransientError),
        (51, "busy", TransientError),
        (52, "unavailable", TransientError),
        (49, "invalidCredentials", ConnectorConfigError),
        (50, "insufficientAccessRights", ConnectorConfigError),
        (68, "entryAlreadyExists", AlreadyExistsError),
        (19, "constraintViolation", RecordError),
        (80, "other", RecordError),
    ],
)
def test_result_codes_map_onto_the_error_tree(code: int, description: str, error: type[Exception]) -> None:
    mapped = error_for("modify", "uid=x,dc=example,dc=com", Result(code, "why"), "cn=admin,dc=example,dc=com")
    assert type(mapped) is error
    assert str(mapped).startswith(f"modify uid=x,dc=example,dc=com: {description} (why)")


@pytest.mark.servers  # starts its own slapd
@pytest.mark.servers  # its own slapd
def test_slapd_loads_ldif_while_stopped_and_keeps_data_across_restarts(tmp_path: Path) -> None:
    server = Slapd(tmp_path / "s", organizational_units=["ou=people,dc=example,dc=com"])
    server.load_ldif("dn: uid=früh,ou=people,dc=example,dc=com\nobjectClass: account\nuid: früh\n")  # slapadd
    with server:
        port = server.port
        with admin_connection(server) as admin:
            admin.search("ou=people,dc=example,dc=com", "(uid=*)", attributes=["uid"])
            assert [r["raw_attributes"]["uid"] for r in admin.response or []] == [["früh".encode()]]
    with server:
        assert server.port == port
        with admin_connection(server) as admin:
            assert admin.search("uid=früh,ou=people,dc=example,dc=com", "(objectClass=*)", BASE)


# -- property: any HR text survives the trip into DNs and attributes -----------------------

HR_TEXT = st.text(
    alphabet=st.sampled_from(list(' ,+"\\<>;=#*()') + list("aZ09-_.") + list("张三研发部é")), min_size=1, max_size=16
).filter(lambda value: value.strip() != "")


_counter = itertools.count()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=HR_TEXT)
def test_any_hr_text_round_trips_through_slapd(directory: LdapDirectory, value: str) -> None:
    uid = f"p{next(_counter)}"
    dn = directory.person_dn(uid, HQ_PEOPLE_DN)
    directory.create_person(dn, person(uid, uid, cn=value, departmentNumber=value, title=value), None)
    group = directory.group_dn("HQ", value)
    directory.create_group(group, "HQ", value, dn)
    try:
        snapshot = directory.read_snapshot()
        (entry,) = snapshot.entries
        (managed,) = snapshot.groups
        assert (entry.dn, entry.cn, entry.department, entry.title) == (dn, value, value, value)
        assert (managed.dn, managed.department, managed.members) == (group, value, frozenset({dn}))
    finally:
        directory.delete_group(group)
        directory.delete_person(dn)


@pytest.mark.servers  # starts its own slapd
@pytest.mark.servers  # its own slapd
def test_slapd_leaves_nothing_running(tmp_path: Path) -> None:
    server = Slapd(tmp_path / "s", organizational_units=["ou=people,dc=example,dc=com"])
    with server:
        assert server.running
        pid_file = tmp_path / "s" / "slapd.pid"
        pid = int(pid_file.read_text())
    assert not server.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_snapshot_shares_the_strings_it_is_given(directory: LdapDirectory) -> None:
    add_person(directory, "alice", mail="alice@example.com", displayName="Alice Wu", cn="Alice Wu")
    add_person(directory, "bob", mail="bob@example.com")
    # New string objects equal to the mailbox's address and display name (as a mail snapshot holds them).
    address, name = "".join(["alice", "@example.com"]), "".join(["Alice", " Wu"])
    by_uid = {e.uid: e for e in directory.read_snapshot(known=[address, name]).entries}
    alice = by_uid["alice"]
    assert alice.mail is address and alice.cn is name and alice.display_name is name  # one object, not a copy each
    assert by_uid["bob"].mail == "bob@example.com"  # nothing known: read as before


# -- the port ---------------------------------------------------------------------------------


def test_the_connector_declares_its_features(directory_settings: DirectorySettings, companies: tuple[CompanySettings, ...]) -> None:
    with LdapDirectory(directory_settings.model_copy(update={"write_connections": 3}), companies) as directory:
        assert isinstance(directory, Directory)
        assert directory.features == DirectoryFeatures(write_connections=3, reference_waits=True, transactions=False, change_stamps=True, entry_versions=True)
    asked = directory_settings.model_copy(update={"transactions": True})
    with LdapDirectory(asked, companies) as directory:  # asked for, and this slapd offers them
        assert directory.features == DirectoryFeatures(write_connections=1, reference_waits=True, transactions=True, change_stamps=True, entry_versions=True)
    unreachable = asked.model_copy(update={"url": f"ldap://127.0.0.1:{free_port()}", "timeout_seconds": 1.0})
    with LdapDirectory(unreachable, companies) as directory, capture_logs() as logs:
        assert directory.features.transactions is False  # not known: one write at a time, as without
    assert [entry["event"] for entry in logs] == ["directory.transactions_not_checked"]
