"""The console's tests' world: a real slapd with SZ and GZ people and role groups, a seeded state store, the app.

Every company's data is distinctive (SZ: employees 2000xx named 深圳..., entries under ou=SZ; GZ: 3000xx
named 广州..., under ou=GZ; one HR row of no company: 900001 无公司), so a test can search any body or CSV
for another company's marks (`leaks`).  Use the fixtures by importing them:

    from tests.web_support import console, web_directory  # noqa: F401  (fixtures, requested by name)

and mark the module `pytestmark = pytest.mark.servers` (the fixtures start slapd).
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from connectors.ldap.login import DirectoryLogin
from devservers.slapd import Slapd, ssha
from lifecycle.domain.models import Action, Held, PersonOutlook, Plan, RejectedRow, Review, ReviewKind
from lifecycle.domain.settings import Settings
from lifecycle.journal.schema import action_log, approvals, holds, persons, web_sessions
from lifecycle.journal.store import Journal, upgrade_store
from lifecycle.web.app import create_app

BASE = "dc=example,dc=com"
ADMINS_DN = f"ou=admins,{BASE}"
GROUPS_DN = f"ou=groups,{BASE}"
PEOPLE_DN = {"SZ": f"ou=people,ou=SZ,{BASE}", "GZ": f"ou=people,ou=GZ,{BASE}"}
DOMAIN = {"SZ": "sz.example.com", "GZ": "gz.example.com"}
SECRET = "s" * 48
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CLIENT_ADDRESS = "203.0.113.7"
READER_DN = f"cn=console-reader,{ADMINS_DN}"
READER_PASSWORD = "reader-pw-4711"

ALL_ROLE = f"cn=lifecycle-admins,{GROUPS_DN}"
ROLE_GROUP = {"SZ": f"cn=mail-admins-sz,{GROUPS_DN}", "GZ": f"cn=mail-admins-gz,{GROUPS_DN}"}


@dataclass(frozen=True)
class Account:
    uid: str
    dn: str
    mail: str
    password: str


ACCOUNTS = {
    "group": Account("groupadmin", f"uid=groupadmin,{ADMINS_DN}", "groupadmin@example.com", "group-pw-1"),
    # A password an LDAP filter would misread: it is only ever bound with, never put in a filter.
    "SZ": Account("szadmin", f"uid=szadmin,{PEOPLE_DN['SZ']}", "szadmin@sz.example.com", "pw-sz *)(uid=*"),
    "GZ": Account("gzadmin", f"uid=gzadmin,{PEOPLE_DN['GZ']}", "gzadmin@gz.example.com", "pw-gz-2"),
    "norole": Account("nobody", f"uid=nobody,{PEOPLE_DN['SZ']}", "nobody@sz.example.com", "pw-nobody-3"),
}
# In both branch groups (SZ and GZ), not in the group admins': only in a directory started with `deputy=True`.
DEPUTY = Account("deputy", f"uid=deputy,{ADMINS_DN}", "deputy@example.com", "pw-deputy-4")


@dataclass(frozen=True)
class CompanyData:
    """One company's seeded people: who is in which state, and the marks no other company's admin may see."""

    code: str
    digits: str  # the employee ids' prefix: 2000 / 3000
    city: str  # the names' prefix: 深圳 / 广州

    def employee(self, n: int) -> str:
        return f"{self.digits}{n:02d}"

    @property
    def planned(self) -> str:  # a suspension in the published plan, with an outlook
        return self.employee(1)

    @property
    def held(self) -> str:  # a held deletion (approved in tests)
        return self.employee(2)

    @property
    def adoptable(self) -> str:  # waits for an adoption decision about `legacy_uid`
        return self.employee(3)

    @property
    def on_hold(self) -> str:  # linked in the store, on legal hold
        return self.employee(4)

    @property
    def rejected(self) -> str:  # an HR row rejected
        return self.employee(5)

    @property
    def held_too(self) -> str:  # a second held deletion (rejected in tests)
        return self.employee(6)

    @property
    def linked(self) -> str:  # linked in the store, not on hold (a hold can be put on them)
        return self.employee(7)

    @property
    def legacy_uid(self) -> str:  # an entry of the company's subtree with no employeeNumber
        return f"{self.code.lower()}-legacy"

    @property
    def taken_uid(self) -> str:  # an entry of the company's subtree that is already another employee
        return f"{self.code.lower()}-taken"

    @property
    def marks(self) -> tuple[str, ...]:
        return (self.digits, self.city, f"ou={self.code},", DOMAIN[self.code], f"{self.code.lower()}-")

    def dn(self, uid: str) -> str:
        return f"uid={uid},{PEOPLE_DN[self.code]}"


COMPANIES = {"SZ": CompanyData("SZ", "2000", "深圳"), "GZ": CompanyData("GZ", "3000", "广州")}
UNGROUPED_EMPLOYEE = "900001"
UNGROUPED_MARKS = (UNGROUPED_EMPLOYEE, "无公司")
# Moved from GZ to SZ: their GZ-era log entries are GZ's, the person now SZ's.
TRANSFERRED = "500001"
# Values that are random or clock-made: left out before looking for another company's marks.
RANDOM_KEYS = frozenset({"csrf_token", "run_id", "logged_at", "effective_at", "published_at", "created_at", "updated_at",
                         "decided_at", "started_at", "finished_at"})


def foreign_marks(viewer: str) -> tuple[str, ...]:
    """What a body shown to `viewer` ("SZ", "GZ" or "group") must not contain."""
    if viewer == "group":
        return ()
    return tuple(m for code, data in COMPANIES.items() if code != viewer for m in data.marks) + UNGROUPED_MARKS


def leaks(response: TestResponse, marks: tuple[str, ...], ignoring: tuple[str, ...] = ()) -> list[str]:
    """The `marks` found in a JSON or CSV answer, its random values (tokens, ids of runs, times) left out,
    and the words `ignoring` (what the request itself named, which a refusal may repeat)."""
    if response.mimetype == "text/csv":
        rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
        text = json.dumps([{k: v for k, v in row.items() if k not in RANDOM_KEYS} for row in rows], ensure_ascii=False)
    else:
        text = json.dumps(_without_random(response.get_json(silent=True)), ensure_ascii=False)
    for echoed in ignoring:
        text = text.replace(echoed, "")
    return [mark for mark in marks if mark in text]


def _without_random(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_random(v) for k, v in value.items() if k not in RANDOM_KEYS}
    if isinstance(value, list):
        return [_without_random(v) for v in value]
    return value


# -- the directory ------------------------------------------------------------------------------------------


def directory_ldif(*, deputy: bool = False) -> str:
    """The module's directory; with `deputy`, DEPUTY too, a member of both branch groups."""
    also = (DEPUTY.dn,) if deputy else ()
    blocks = [
        _person(ACCOUNTS["group"], "Group Admin"),
        _person(ACCOUNTS["SZ"], "深圳管理员"),
        _person(ACCOUNTS["GZ"], "广州管理员"),
        _person(ACCOUNTS["norole"], "深圳无角色"),
        *([_person(DEPUTY, "两地副管理员")] if deputy else []),
        f"dn: {READER_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: console-reader\n"
        f"userPassword: {ssha(READER_PASSWORD)}",
        _group(ALL_ROLE, ACCOUNTS["group"].dn),
        _group(ROLE_GROUP["SZ"], ACCOUNTS["SZ"].dn, *also),
        _group(ROLE_GROUP["GZ"], ACCOUNTS["GZ"].dn, *also),
        # A group no role names: membership in it gives nothing.
        _group(f"cn=everyone,{GROUPS_DN}", ACCOUNTS["norole"].dn),
    ]
    for company in COMPANIES.values():
        blocks.append(_entry(company.dn(company.legacy_uid), company.legacy_uid, f"{company.city}旧账号", ""))
        blocks.append(_entry(company.dn(company.taken_uid), company.taken_uid, f"{company.city}已占用",
                             company.employee(99)))
    return "\n\n".join(blocks) + "\n"


def _person(account: Account, name: str) -> str:
    return (f"dn: {account.dn}\nobjectClass: inetOrgPerson\nuid: {account.uid}\ncn: {name}\nsn: {name}\n"
            f"mail: {account.mail}\nuserPassword: {ssha(account.password)}")


def _entry(dn: str, uid: str, name: str, employee_number: str) -> str:
    number = f"\nemployeeNumber: {employee_number}" if employee_number else ""
    return f"dn: {dn}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {name}\nsn: {name}{number}"


def _group(dn: str, *members: str) -> str:
    cn = dn.split(",", 1)[0].removeprefix("cn=")
    return f"dn: {dn}\nobjectClass: groupOfNames\ncn: {cn}" + "".join(f"\nmember: {member}" for member in members)


class UnauthenticatedBindSlapd(Slapd):
    """A slapd that accepts an unauthenticated bind (a DN with no password), as some sites allow: the console
    must refuse an empty password itself, not count on the server."""

    def _config_ldif(self) -> str:
        return super()._config_ldif().replace("olcLogLevel: none", "olcLogLevel: none\nolcAllows: bind_anon_dn", 1)


def start_directory(workdir: Path, *, anonymous_lookup: bool = True, deputy: bool = False) -> Slapd:
    server = UnauthenticatedBindSlapd(workdir, BASE, organizational_units=[*PEOPLE_DN.values(), ADMINS_DN, GROUPS_DN],
                                      anonymous_lookup=anonymous_lookup)
    server.start()
    try:
        server.load_ldif(directory_ldif(deputy=deputy))
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="module")
def web_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    """One slapd per module (the tests only read it), anonymous search of uid/mail allowed."""
    server = start_directory(tmp_path_factory.mktemp("web-slapd"))
    yield server
    server.stop()


# -- the state store and the app ----------------------------------------------------------------------------


def default_roles() -> list[dict[str, Any]]:
    """[[web.roles]] as console_settings configures them (pass `roles=` to configure others)."""
    return [{"group_dn": ALL_ROLE, "companies": ["*"]}] + [
        {"group_dn": group, "companies": [code]} for code, group in ROLE_GROUP.items()
    ]


def console_settings(server: Slapd, *, extra_companies: tuple[dict[str, str], ...] = (), **web: Any) -> Settings:
    return Settings(
        # Not the admin's password: the console never binds as the admin, so a wrong one must not matter.
        directory={"url": server.url, "base_dn": BASE, "bind_dn": server.admin_dn, "bind_password": "not-the-password"},
        companies=[{"code": code, "domain": DOMAIN[code], "people_dn": PEOPLE_DN[code]} for code in COMPANIES]
        + list(extra_companies),
        web={"session_secret": SECRET, "roles": default_roles(), **web},
    )


@dataclass
class Seeded:
    held_ids: dict[str, tuple[int, int]]  # company -> (the held deletion of `held`, of `held_too`)


@dataclass
class Console:
    app: Flask
    journal: Journal
    settings: Settings
    seeded: Seeded

    def client(self) -> FlaskClient:
        client = self.app.test_client()
        client.environ_base["REMOTE_ADDR"] = CLIENT_ADDRESS
        return client

    def log_in(self, who: str, *, by_mail: bool = False) -> Caller:
        """A client with a live session of ACCOUNTS[who] (who: "group", "SZ", "GZ")."""
        client = self.client()
        account = ACCOUNTS[who]
        answer = client.post("/api/v1/session", json={"username": account.mail if by_mail else account.uid,
                                                      "password": account.password})
        assert answer.status_code == 200, answer.get_json()
        return Caller(client, answer.get_json()["csrf_token"])

    def counts(self) -> dict[str, int]:
        """Rows per table a decision writes: nothing recorded means none of these changed."""
        with self.journal.engine.connect() as conn:
            return {table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                    for table in (action_log, approvals, holds, persons, web_sessions)}

    def approvals_rows(self) -> list[dict[str, Any]]:
        with self.journal.engine.connect() as conn:
            return [dict(row) for row in conn.execute(select(approvals).order_by(approvals.c.id)).mappings()]


@dataclass
class Caller:
    """A logged-in client and its session's CSRF token."""

    client: FlaskClient
    csrf: str

    def get(self, path: str) -> TestResponse:
        return self.client.get(path)

    def send(self, method: str, path: str, body: Any = None, *, csrf: str | None = "session") -> TestResponse:
        """A state-changing request; csrf=None sends no token, another string sends that one."""
        headers = {} if csrf is None else {"X-CSRF-Token": self.csrf if csrf == "session" else csrf}
        return self.client.open(path, method=method, json=body, headers=headers)


def seeded_store(folder: Path) -> tuple[Path, Seeded]:
    """A state store file at the current schema with `seed` in it (closed: copy it, one per test)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "seeded.db"
    upgrade_store(f"sqlite:///{path}")
    journal = Journal(f"sqlite:///{path}")
    try:
        seeded = seed(journal)
    finally:
        journal.close()
    return path, seeded


@pytest.fixture(scope="module")
def web_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Seeded]:
    return seeded_store(tmp_path_factory.mktemp("web-store"))


def make_console(tmp_path: Path, server: Slapd, store: tuple[Path, Seeded] | None = None, *,
                 lookup: tuple[str, str] = ("", ""), **web: Any) -> Console:
    """The app on a copy of `store` (seeded afresh without one), finding users anonymously or with `lookup`."""
    template, seeded = store or seeded_store(tmp_path / "template")
    path = tmp_path / "state.db"
    shutil.copyfile(template, path)
    journal = Journal(f"sqlite:///{path}")
    settings = console_settings(server, **web)
    assert settings.web is not None
    login = DirectoryLogin(server.url, BASE, 5, *lookup)
    return Console(create_app(settings, settings.web, SECRET, journal, login), journal, settings, seeded)


def same_store_console(console: Console, server: Slapd, *, extra_companies: tuple[dict[str, str], ...] = (),
                       **web: Any) -> Console:
    """Another console app on `console`'s state store with the same session secret and another config: the
    console restarted after [web] or [[companies]] changed (its sessions' cookies still valid)."""
    settings = console_settings(server, extra_companies=extra_companies, **web)
    assert settings.web is not None
    login = DirectoryLogin(server.url, BASE, 5)
    return Console(create_app(settings, settings.web, SECRET, console.journal, login), console.journal, settings,
                   console.seeded)


@pytest.fixture
def console(tmp_path: Path, web_directory: Slapd, web_store: tuple[Path, Seeded]) -> Iterator[Console]:
    """The console on the module's slapd and a fresh copy of the seeded store."""
    made = make_console(tmp_path, web_directory, web_store)
    yield made
    made.journal.close()


# -- the seed -----------------------------------------------------------------------------------------------


def _account_action(kind: str, company: CompanyData, employee_id: str, state: dict[str, Any], why: str) -> Action:
    dn = company.dn(f"{company.code.lower()}-{employee_id}")
    return Action.from_dict({
        "kind": kind, "employee_id": employee_id, "company": company.code, "target": dn, "changes": {},
        "rule": "leaver", "reason": f"{company.city}员工{employee_id}{why}", "params": {"dn": dn, "state": state},
    })


def seed(journal: Journal) -> Seeded:
    """Per company: a published plan (an action, a rejected row, reviews, an outlook), two held deletions,
    two people linked in the store (one on hold), and their action log; plus an HR row of no company."""
    when = NOW.isoformat()
    run_id = journal.begin_run("apply", NOW)
    planned, held, rejected, reviews, outlooks = [], [], [], [], []
    for company in COMPANIES.values():
        planned.append(_account_action("suspend_account", company, company.planned,
                                       {"status": "suspended", "suspended_at": when, "suspension_rule": "leaver"}, "离职"))
        for employee_id in (company.held, company.held_too):
            deletion = _account_action("delete_account", company, employee_id, {"status": "deleted", "deleted_at": when},
                                       "停用期满")
            held.append(Held(deletion, f"{company.city}: 删除超过阈值，需审批"))
        rejected.append(RejectedRow(row=int(company.digits) // 100, field="department",
                                    reason=f"{company.city}部门为空", fix="在 HR 填写部门", employee_id=company.rejected,
                                    company=company.code))
        reviews.append(Review(ReviewKind.CONFIRM_MATCH, company.adoptable, company.code, company.dn(company.legacy_uid),
                              f"{company.city}旧账号可能是员工{company.adoptable}", "lifecycle adopt"))
        reviews.append(Review(ReviewKind.NAME_NEEDS_ADMIN, company.employee(8), company.code, f"{company.city}重名",
                              f"{company.city}姓名无法生成账号", "set a uid"))
        outlooks.append(PersonOutlook(company.planned, company.code, f"{company.city}张伟", "leaving",
                                      (("2026-12-01", f"{company.city}账号停用"),)))
    rejected.append(RejectedRow(row=99, field="company", reason="无公司: 公司列为空", fix="在 HR 填写公司",
                                employee_id=UNGROUPED_EMPLOYEE, company=""))
    plan = Plan(now=NOW, actions=tuple(planned), rejected=tuple(rejected), reviews=tuple(reviews), held=tuple(held),
                outlooks=tuple(outlooks), accounts={"SZ": 12, "GZ": 7})
    journal.record_actions(run_id, planned, "applied", NOW, actor="daemon")
    journal.record_actions(run_id, [h.action for h in held], "held", NOW, actor="daemon", reasons=[h.reason for h in held])
    journal.record_rejections(run_id, rejected, NOW, actor="daemon")
    journal.record_reviews(run_id, reviews, NOW, actor="daemon")
    journal.sync_held(held, [], NOW)
    journal.publish(run_id, plan, NOW)
    journal.finish_run(run_id, "ok", {"applied": len(planned)})
    for company in COMPANIES.values():
        for employee_id in (company.on_hold, company.linked):
            journal.confirm_match(employee_id, f"{company.code.lower()}-{employee_id}", company.code, "root", NOW)
        journal.set_hold(company.on_hold, f"{company.city}诉讼保全", "root", NOW, on=True)
    gz_era = _account_action("suspend_account", COMPANIES["GZ"], TRANSFERRED,
                             {"status": "suspended", "suspended_at": when, "suspension_rule": "leaver"}, "旧账号停用")
    journal.record_actions(run_id, [gz_era], "applied", NOW, actor="daemon")
    journal.confirm_match(TRANSFERRED, f"sz-{TRANSFERRED}", "SZ", "root", NOW)
    ids: dict[str, list[int]] = {}
    for row in journal.held_actions():
        ids.setdefault(row["company"], []).append(int(row["id"]))
    return Seeded({code: (found[0], found[1]) for code, found in ids.items()})
