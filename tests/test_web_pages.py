"""The console's pages against a real slapd: sessions, languages, and each admin seeing only their companies.

The state store is seeded as a cycle leaves it (a published plan, held actions, holds, confirmed
people, log entries) for two companies, SZ and GZ; the admins log in with their directory accounts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from flask import Flask
from flask.testing import FlaskClient

from connectors.ldap.login import DirectoryLogin
from devservers.slapd import Slapd, ssha
from lifecycle.domain.action_params import AddressParams
from lifecycle.domain.models import Action, ActionKind, Held, PersonOutlook, Plan, RejectedRow, Review, ReviewKind
from lifecycle.domain.settings import Settings
from lifecycle.journal.store import Journal, upgrade_store
from lifecycle.web.app import create_app
from lifecycle.web.i18n import CATALOGUES, translations

pytestmark = pytest.mark.servers

BASE = "dc=example,dc=com"
SZ_PEOPLE, GZ_PEOPLE, GROUPS = f"ou=people,ou=SZ,{BASE}", f"ou=people,ou=GZ,{BASE}", f"ou=groups,{BASE}"
PASSWORD = "pw *)(uid=* 密码"
NOW = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai (SZ), 17:30 the day before in Los Angeles (GZ)
PAGES = ["/overview", "/log", "/held", "/people", "/people/100028", "/holds", "/adoptions", "/rejected", "/reviews"]
# What only GZ's data carries: none of it may appear on an SZ admin's page.
GZ_MARKERS = ["200017", "li.si", "gz.example.com", "广州", "GZ"]
SZ_MARKERS = ["100028", "zhang.san", "sz.example.com", "深圳 leaver"]  # (the switcher names every company)
# A Chinese and an English word each page shows (its title).
TITLES = {
    "/overview": ("概览", "Overview"), "/log": ("操作日志", "Action log"), "/held": ("待审批", "Held for approval"),
    "/people": ("人员查询", "People"), "/people/100028": ("接下来的安排", "What happens next"),
    "/holds": ("法律保留", "Legal holds"), "/adoptions": ("认领已有账号", "Adoptions"),
    "/rejected": ("拒收的HR行", "Rejected HR rows"), "/reviews": ("待核查事项", "Reviews"),
}


def _person(uid: str, people_dn: str, mail: str) -> str:
    return (f"dn: uid={uid},{people_dn}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: {uid}\n"
            f"mail: {mail}\nuserPassword: {ssha(PASSWORD)}\n")


def _group(cn: str, member_dn: str) -> str:
    return f"dn: cn={cn},{GROUPS}\nobjectClass: groupOfNames\ncn: {cn}\nmember: {member_dn}\n"


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    server = Slapd(tmp_path_factory.mktemp("slapd"), BASE, organizational_units=[f"ou=SZ,{BASE}", SZ_PEOPLE, f"ou=GZ,{BASE}",
                                                                                  GZ_PEOPLE, GROUPS], anonymous_lookup=True)
    server.start()
    try:
        server.load_ldif("\n".join([
            _person("szadmin", SZ_PEOPLE, "szadmin@sz.example.com"),
            _person("gzadmin", GZ_PEOPLE, "gzadmin@gz.example.com"),
            _person("hqadmin", SZ_PEOPLE, "hqadmin@example.com"),
            _group("mail-admins-sz", f"uid=szadmin,{SZ_PEOPLE}"),
            _group("mail-admins-gz", f"uid=gzadmin,{GZ_PEOPLE}"),
            _group("lifecycle-admins", f"uid=hqadmin,{SZ_PEOPLE}"),
        ]))
        yield server
    finally:
        server.stop()


def _action(kind: ActionKind, employee_id: str, company: str, address: str, reason: str) -> Action:
    return Action(kind, employee_id, company, address, "leaver", reason, params=AddressParams(address))


def _seed(journal: Journal) -> None:
    sz_leaver = _action(ActionKind.DELETE_MAILBOX, "100028", "SZ", "zhang.san@sz.example.com", "深圳 leaver since 2026-01-31")
    gz_leaver = _action(ActionKind.DELETE_MAILBOX, "200017", "GZ", "li.si@gz.example.com", "广州 leaver since 2026-01-15")
    sz_join = _action(ActionKind.CREATE_MAILBOX, "100031", "SZ", "wang.wu@sz.example.com", "深圳 joiner")
    plan = Plan(
        NOW, (sz_join, sz_leaver, gz_leaver),
        rejected=(RejectedRow(14, "hire_date", "not a date: 2026-13-01", "write YYYY-MM-DD", "100040", "SZ"),
                  RejectedRow(22, "company", "广州 row without a department", "fill the department", "200050", "GZ")),
        reviews=(Review(ReviewKind.CONFIRM_MATCH, "100033", "SZ", "uid=zhao.liu,ou=people,ou=SZ", "深圳 same name", "adopt it"),
                 Review(ReviewKind.UNMATCHED_ENTRY, "200060", "GZ", "uid=li.si2,ou=people,ou=GZ", "广州 orphan", "adopt it")),
        outlooks=(PersonOutlook("100028", "SZ", "张三 深圳", "left on 2026-01-31",
                                (("2026-03-02T16:30:00+00:00", "mailbox deleted"), ("2026-04-30", "account deleted"))),
                  PersonOutlook("200017", "GZ", "李四 广州", "left", (("2026-04-01", "account deleted"),))),
    )
    run_id = journal.begin_run("apply", NOW)
    journal.publish(run_id, plan, NOW)
    journal.record_actions(run_id, [sz_join], "applied", NOW, "daemon")
    journal.record_actions(run_id, [gz_leaver], "failed", NOW, "daemon", "广州 server said no")
    journal.finish_run(run_id, "ok", {})
    journal.sync_held([Held(sz_leaver, "deletions guard: 深圳 more than 3 today"), Held(gz_leaver, "广州 deletions guard")],
                      [], NOW)
    journal.confirm_match("100028", "zhang.san", "SZ", "root", NOW)
    journal.confirm_match("200017", "li.si", "GZ", "root", NOW)
    journal.confirm_match("100033", "zhao.liu", "SZ", "root", NOW)
    journal.set_hold("100028", "诉讼 深圳-2026-01", "root", NOW, on=True, company="SZ")
    journal.set_hold("200017", "诉讼 广州-2026-02", "root", NOW, on=True, company="GZ")


@pytest.fixture
def app(directory: Slapd, tmp_path: Path) -> Iterator[Flask]:
    url = f"sqlite:///{tmp_path}/state.db"
    upgrade_store(url)
    settings = Settings(
        directory={"url": directory.url, "bind_dn": directory.admin_dn, "bind_password": "unused by the console", "base_dn": BASE},
        companies=[{"code": "SZ", "name": "深圳", "domain": "sz.example.com", "people_dn": SZ_PEOPLE, "timezone": "Asia/Shanghai"},
                   {"code": "GZ", "name": "广州", "domain": "gz.example.com", "people_dn": GZ_PEOPLE,
                    "timezone": "America/Los_Angeles"}],
        web={"session_secret": "s" * 40, "roles": [
            {"group_dn": f"cn=lifecycle-admins,{GROUPS}", "companies": ["*"]},
            {"group_dn": f"cn=mail-admins-sz,{GROUPS}", "companies": ["SZ"]},
            {"group_dn": f"cn=mail-admins-gz,{GROUPS}", "companies": ["GZ"]},
        ]},
    )
    journal = Journal(url)
    _seed(journal)
    try:
        yield create_app(settings, settings.web, "s" * 40, journal, DirectoryLogin(directory.url, BASE, 5))
    finally:
        journal.close()


def _logged_in(app: Flask, user: str) -> FlaskClient:
    client = app.test_client()
    answer = client.post("/api/v1/session", json={"username": user, "password": PASSWORD})
    assert answer.status_code == 200, answer.get_json()
    return client


CSRF_META = re.compile(r'<meta name="csrf-token" content="[^"]*">|name="csrf_token" value="[^"]*"')


def _text(client: FlaskClient, path: str, status: int = 200) -> str:
    """The page, without its CSRF tokens: random base64 may spell a company's code ("GZ") by chance."""
    answer = client.get(path)
    assert answer.status_code == status, (path, answer.status_code, answer.headers.get("Location"))
    return CSRF_META.sub("", answer.get_data(as_text=True))


def test_every_page_without_a_session_goes_to_the_login_page(app: Flask) -> None:
    client = app.test_client()
    for path in ["/", *PAGES, "/people/200017", "/logout"]:
        answer = client.get(path)
        assert answer.status_code == 302, path
        assert answer.headers["Location"].endswith("/login"), path
    assert client.get("/api/v1/overview").status_code == 401  # the API answers; pages redirect


def test_the_login_page_speaks_chinese_by_default_and_english_one_click_away(app: Flask) -> None:
    client = app.test_client()
    chinese = _text(client, "/login")
    assert "用户名或邮箱地址" in chinese and 'lang="zh-CN"' in chinese and 'name="viewport"' in chinese
    assert 'href="/login?lang=en"' in chinese
    english = _text(client, "/login?lang=en")
    assert "User name or mail address" in english and "用户名或邮箱地址" not in english
    # No inline script or style, no external asset: the CSP allows 'self' only.
    assert re.findall(r"<script(?![^>]*\bsrc=\"/static/)", english) == []
    assert "style=" not in english and not re.findall(r'(?:src|href)="(?:https?:)?//', english)


def test_an_sz_admin_sees_every_page_in_chinese_and_in_english_and_nothing_of_gz(app: Flask) -> None:
    client = _logged_in(app, "szadmin@sz.example.com")
    assert client.get("/").headers["Location"].endswith("/overview")
    assert client.get("/login").headers["Location"].endswith("/overview")
    for path in PAGES:
        chinese = _text(client, path)
        assert TITLES[path][0] in chinese, path
        assert not [m for m in GZ_MARKERS if m in chinese], path
    for path in PAGES:
        english = _text(client, path + ("&" if "?" in path else "?") + "lang=en")
        assert TITLES[path][1] in english and TITLES[path][0] not in english, path
        assert not [m for m in GZ_MARKERS if m in english], path
    assert "Held for approval" in _text(client, "/overview")  # the language stays with the session


def test_the_pages_show_the_sz_admin_their_own_company(app: Flask) -> None:
    client = _logged_in(app, "szadmin")
    overview = _text(client, "/overview")
    assert "已确认 2" in overview and "深圳 joiner" in overview and "成功" in overview
    held = _text(client, "/held")
    assert "deletions guard: 深圳 more than 3 today" in held and "深圳 leaver since 2026-01-31" in held
    held_id = re.search(r'data-url="/api/v1/held/(\d+)/approve"', held)
    assert held_id and f'data-url="/api/v1/held/{held_id[1]}/reject"' in held
    assert "write YYYY-MM-DD" in _text(client, "/rejected")
    assert "深圳 same name" in _text(client, "/adoptions")
    assert "诉讼 深圳-2026-01" in _text(client, "/holds")
    timeline = _text(client, "/people/100028")
    assert "张三 深圳" in timeline and "mailbox deleted" in timeline and "诉讼 深圳-2026-01" in timeline
    log = _text(client, "/log?employee=100031")
    assert "深圳 joiner" in log and "zhang.san@sz" not in log


def test_dates_are_shown_in_the_company_time_zone(app: Flask) -> None:
    sz = _logged_in(app, "szadmin")
    assert "2026-03-02 09:30" in _text(sz, "/holds")  # 01:30 UTC in Shanghai
    timeline = _text(sz, "/people/100028")
    assert "2026-03-03 00:30" in timeline and "2026-04-30" in timeline  # an instant converted; a plain day as it is
    gz = _logged_in(app, "gzadmin")
    assert "2026-03-01 17:30" in _text(gz, "/holds")  # the same instant in Los Angeles


def test_another_company_s_person_is_not_found_and_another_company_is_refused(app: Flask) -> None:
    client = _logged_in(app, "szadmin")
    elsewhere = _text(client, "/people/200017", 404)
    unknown = _text(client, "/people/999999", 404)
    assert "未找到" in elsewhere and not [m for m in GZ_MARKERS if m in elsewhere.replace("200017", "")]
    assert elsewhere.replace("200017", "X") == unknown.replace("999999", "X")  # existence does not leak
    assert client.get("/people?employee_id=200017").headers["Location"].endswith("/people/200017")
    refused = _text(client, "/overview?company=GZ", 403)
    assert "无权查看" in refused and "广州" not in refused and "li.si" not in refused
    assert 'href="/held"' in refused and "company=GZ" not in refused.replace("company=GZ&amp;lang", "")
    assert client.get("/log?company=GZ").status_code == 403


def test_the_group_admin_sees_every_company_and_switches_between_them(app: Flask) -> None:
    client = _logged_in(app, "hqadmin")
    overview = _text(client, "/overview")
    assert "集团管理员" in overview
    assert 'href="/overview?company=SZ"' in overview and 'href="/overview?company=GZ"' in overview
    assert "已确认 2" in overview and "已确认 1" in overview  # the people the store knows, per company
    only_gz = _text(client, "/overview?company=GZ")
    assert "已确认 1" in only_gz and "已确认 2" not in only_gz and 'aria-current="true">GZ' in only_gz
    assert 'href="/held?company=GZ"' in only_gz  # the navigation keeps the chosen company
    held = _text(client, "/held?company=GZ")
    assert "广州 deletions guard" in held and not [m for m in SZ_MARKERS if m in held]
    assert "李四 广州" in _text(client, "/people/200017") and "张三 深圳" in _text(client, "/people/100028")
    both = _text(client, "/holds")
    assert "诉讼 深圳-2026-01" in both and "诉讼 广州-2026-02" in both


def test_the_csv_export_link_keeps_the_filters_and_the_company(app: Flask) -> None:
    client = _logged_in(app, "szadmin")
    log = _text(client, "/log?status=applied&since=2026-03-01")
    link = re.search(r'href="(/api/v1/actions\?[^"]+)" download', log)
    assert link and "format=csv" in link[1] and "status=applied" in link[1] and "since=2026-03-01" in link[1]
    exported = client.get(link[1].replace("&amp;", "&"))
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    text = exported.get_data(as_text=True)
    assert "深圳 joiner" in text and not [m for m in GZ_MARKERS if m in text]


def test_a_decision_sent_as_console_js_sends_it_is_recorded_and_the_page_shows_it(app: Flask) -> None:
    client = _logged_in(app, "szadmin")
    held = client.get("/held").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', held)
    action = re.search(r'data-url="(/api/v1/held/\d+/approve)"', held)
    assert token and action
    assert client.post(action[1], json={"reason": "HR 确认已离职"}).status_code == 403  # no CSRF header
    answer = client.post(action[1], json={"reason": "HR 确认已离职"}, headers={"X-CSRF-Token": token[1]})
    assert answer.status_code == 200, answer.get_json()
    assert "没有待审批的操作" in _text(client, "/held")
    assert "HR 确认已离职" in _text(client, "/log?kind=approve") and "szadmin" in _text(client, "/log?kind=approve")


def test_logging_out_takes_a_form_with_the_csrf_token(app: Flask) -> None:
    client = _logged_in(app, "szadmin")
    page = client.get("/logout").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    assert client.post("/logout").status_code != 302  # a cross-site form has no token
    assert _text(client, "/overview")
    answer = client.post("/logout", data={"csrf_token": token[1]})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/login")
    assert client.get("/overview").headers["Location"].endswith("/login")


def test_every_text_of_the_pages_has_its_chinese_translation() -> None:
    web = CATALOGUES.parent
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    found = {message for _file, _line, message, _comments, _context in
             extract_from_dir(str(web), method_map, options_map={"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}})}
    chinese = translations("zh-CN")
    assert len(found) > 100
    untranslated = [m for m in found if isinstance(m, str) and chinese.gettext(m) == m]
    assert untranslated == []
    po = (CATALOGUES / "zh_CN" / "LC_MESSAGES" / "messages.po").read_text(encoding="utf-8")
    assert "Content-Type: text/plain; charset=UTF-8" in po and "Language: zh_CN" in po
