"""WeCom (企业微信): the contact API read with a self-built app's secret (自建应用, visible to the whole org).

Documented contract followed (developer.work.weixin.qq.com, "通讯录管理", "全局错误码"):

- token: `GET /cgi-bin/gettoken?corpid=&corpsecret=` -> {errcode, errmsg, access_token, expires_in}
  (WeCom takes the secret only in the URL: it is scrubbed from every message);
- departments: `GET /cgi-bin/department/list?access_token=&id=` -> {errcode, department: [{id, name,
  parentid, department_leader}]} (the whole subtree; root: 1);
- users: `GET /cgi-bin/user/list?access_token=&department_id=` -> {errcode, userlist: [{userid, name,
  department, main_department, position, status, email, biz_mail, direct_leader, extattr:
  {attrs: [{name, type, text: {value}, web: {url}}]}}]}, one department (one page) at a time;
- errors: 40014 (invalid access_token) and 42001 (expired) renew the token; -1 (busy), 45009
  (rate limit) and 45033 (concurrency limit) are retried; 60011 (no permission), 40001/40013
  (secret, corpid) and the others fail the read;
- write-back: `POST /cgi-bin/user/update?access_token=` {userid, <writeback_field>: email}.

WeCom's user has no hire date and no employee number: `[hr.rest.fields]` names the custom fields
(扩展属性) holding them: `extattrs.<name>` is the custom field <name> (its text, or a web field's
URL).  Status: 5 (退出企业) is "terminated", anyone else "active" (1 active, 2 disabled, 4 not yet
activated: still employed).  Since 2022-06-20 a newly created self-built app gets no email fields
unless the admin authorises them, and the 通讯录同步 secret may not call user/list from a new IP
(since 2022-08-15): use a self-built app whose visibility is the whole org, from a 可信IP.
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors.hr_rest.client import Answer, Request, RestClient, json_of
from connectors.hr_rest.records import Department, DepartmentTree, Person
from lifecycle.domain.hr_rest_settings import HrRestSettings

__all__ = ["DEFAULTS", "WeCom"]

API = "https://qyapi.weixin.qq.com"
ROOT = "1"
DEFAULTS = {
    "employee_id": "userid",
    "name": "name",
    "title": "position",
    "email": "email",
}
TOKEN_CODES = frozenset({"40014", "42001", "41001"})
BUSY_CODES = frozenset({"-1", "45009", "45033", "45011"})
FIXES = {
    "60011": "make the app's 可见范围 (visibility) cover the departments read, or use a secret allowed to read them",
    "40001": "check the app secret ([hr.rest] app_secret_file)",
    "40013": "check [hr.rest] app_id (the corpid)",
    "60020": "add this server's address to the app's 企业可信IP",
    "60123": "check [hr.rest] root_department (a department id)",
    "60111": "the user is gone from WeCom; nothing to write back",
}


class WeCom:
    """The WeCom protocol (`Vendor`) and the read of its contact API."""

    name = "WeCom"

    def __init__(self, settings: HrRestSettings, secret: str) -> None:
        self.settings = settings
        self._secret = secret

    def token_request(self) -> Request:
        return Request("GET", "/cgi-bin/gettoken", {"corpid": self.settings.app_id, "corpsecret": self._secret})

    def token_from(self, data: Any) -> tuple[str, float]:
        return str(data.get("access_token") or ""), float(data.get("expires_in") or 7200)

    def authorize(self, request: Request, token: str) -> None:
        request.params["access_token"] = token

    def interpret(self, response: httpx.Response) -> Answer:
        data = json_of(response)
        if not isinstance(data, dict) or "errcode" not in data:
            return Answer.refused(f"HTTP {response.status_code}", "the answer is not WeCom's JSON",
                                  busy=response.status_code >= 500, fix="check [hr.rest] base_url")
        code, message = str(data["errcode"]), str(data.get("errmsg", ""))
        if code == "0":
            return Answer(data)
        if code in TOKEN_CODES:
            return Answer.refused(code, message, token_invalid=True)
        if code in BUSY_CODES:
            return Answer.refused(code, message, busy=True)
        return Answer.refused(code, message, fix=FIXES.get(code, ""))

    # -- the read

    def read(self, client: RestClient) -> tuple[list[Person], DepartmentTree]:
        root = self.settings.root_department or ROOT
        tree = DepartmentTree(root)
        answer = client.call(Request("GET", "/cgi-bin/department/list", {"id": root}),
                             what=f"list the departments under {root}")
        for item in answer.get("department") or []:
            department = Department(str(item["id"]), str(item.get("name", "")), str(item.get("parentid", "")))
            if department.id != root:
                tree.add(department)
            if item.get("department_leader"):
                tree.leaders[department.id] = [str(u) for u in item["department_leader"]]
        users: dict[str, dict[str, Any]] = {}
        for dept in [root, *tree.departments]:
            answer = client.call(Request("GET", "/cgi-bin/user/list", {"department_id": dept}),
                                 what=f"list the users of department {dept}")
            for user in answer.get("userlist") or []:
                users.setdefault(str(user.get("userid")), {**user, "extattrs": _extattrs(user)})
        people = [
            Person(key, user, _main_department(user, tree), _first(user.get("direct_leader")),
                   "terminated" if str(user.get("status")) == "5" else "active")
            for key, user in users.items()
        ]
        return people, tree

    def write_back(self, client: RestClient, user_key: str, email: str) -> None:
        client.call(Request("POST", "/cgi-bin/user/update", json={"userid": user_key, self.settings.writeback_field: email}),
                    what=f"set the {self.settings.writeback_field} of user {user_key}")


def _extattrs(user: dict[str, Any]) -> dict[str, str]:
    values: dict[str, str] = {}
    for attr in (user.get("extattr") or {}).get("attrs") or []:
        name = str(attr.get("name", ""))
        value = (attr.get("text") or {}).get("value") or (attr.get("web") or {}).get("url") or attr.get("value") or ""
        if name:
            values[name] = str(value)
    return values


def _first(value: object) -> str:
    return str(value[0]) if isinstance(value, list) and value else ""


def _main_department(user: dict[str, Any], tree: DepartmentTree) -> str:
    if user.get("main_department"):
        return str(user["main_department"])
    ids = [str(d) for d in user.get("department") or []]
    return (ids or [tree.root])[0]
