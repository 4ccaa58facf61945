"""DingTalk (钉钉): the contact API of an internal app (企业内部应用).

Documented contract followed (open.dingtalk.com / help.dingtalk.io, "通讯录管理"):

- token: `POST https://api.dingtalk.com/v1.0/oauth2/accessToken` {appKey, appSecret} ->
  {accessToken, expireIn} (the secret travels in the body, not in a URL); an error is an HTTP 4xx
  {code, message};
- departments: `POST /topapi/v2/department/listsub?access_token=` {dept_id} -> {errcode, errmsg,
  result: [{dept_id, name, parent_id}]}, walked from the root (dept_id 1);
- users: `POST /topapi/v2/user/list?access_token=` {dept_id, cursor, size <= 100} -> {errcode,
  result: {has_more, next_cursor, list: [{userid, name, job_number, title, email, org_email,
  dept_id_list, hired_date (ms), active, leader, ...}]}}, every page of every department;
- errors: errcode 0 is success; 88 carries the real code in sub_code/sub_msg; 40014 (invalid
  access_token) and 42001 (expired) renew the token; -1 (busy), 90002 and 90018 (rate and
  concurrency limits) are retried; 60011 (no permission) and the others fail the read;
- write-back: `POST /topapi/v2/user/update?access_token=` {userid, <writeback_field>: email}.

Why the contact API and not Smart HR's roster (/topapi/smartwork/hrm/employee/...): the roster needs
the 智能人事 app and one permission per field group, lists employees by status in separate calls
and returns its fields by field code; the contact API is there for every org with an internal app.
Its users are the people employed now (status "active"): a leaver disappears from it, which
`[hr] absent_means` / `absent_days` handle.  It has no company (see `[hr.rest] company`), and its
user list names no direct manager (only `user/get` does, one call per person): the manager is the
leader of the user's department (`leader` in the list), the next one up when the user leads it.
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors.hr_rest.client import Answer, Request, RestClient, RestError, json_of
from connectors.hr_rest.records import Department, DepartmentTree, Person
from lifecycle.domain.hr_rest_settings import HrRestSettings

__all__ = ["DEFAULTS", "DingTalk"]

API = "https://oapi.dingtalk.com"
TOKEN_URL = "https://api.dingtalk.com/v1.0/oauth2/accessToken"
ROOT = "1"
MAX_PAGE = 100
DEFAULTS = {
    "employee_id": "job_number",
    "name": "name",
    "title": "title",
    "hire_date": "hired_date|epoch_ms",
    "email": "email",
}
TOKEN_CODES = frozenset({"40014", "42001", "40001"})
BUSY_CODES = frozenset({"-1", "90002", "90018", "90006"})
FIXES = {
    "60011": "give the app the 通讯录 read permissions (成员信息读权限, 通讯录部门信息读权限) in the developer console",
    "60003": "check [hr.rest] root_department (a dept_id)",
    "60121": "the user is gone from DingTalk; nothing to write back",
    "40078": "check [hr.rest] app_id and the app secret",
}


class DingTalk:
    """The DingTalk protocol (`Vendor`) and the read of its contact API."""

    name = "DingTalk"

    def __init__(self, settings: HrRestSettings, secret: str) -> None:
        self.settings = settings
        self._secret = secret
        self.token_url = settings.token_url or (settings.base_url.rstrip("/") + "/v1.0/oauth2/accessToken"
                                                if settings.base_url else TOKEN_URL)

    def token_request(self) -> Request:
        return Request("POST", self.token_url, json={"appKey": self.settings.app_id, "appSecret": self._secret})

    def token_from(self, data: Any) -> tuple[str, float]:
        return str(data.get("accessToken") or ""), float(data.get("expireIn") or 7200)

    def authorize(self, request: Request, token: str) -> None:
        request.params["access_token"] = token

    def interpret(self, response: httpx.Response) -> Answer:
        data = json_of(response)
        if not isinstance(data, dict):
            return Answer.refused(f"HTTP {response.status_code}", "the answer is not JSON",
                                  busy=response.status_code >= 500, fix="check [hr.rest] base_url")
        if "errcode" not in data:  # the new API (the token): HTTP status and {code, message}
            if response.is_success:
                return Answer(data)
            return Answer.refused(data.get("code", response.status_code), data.get("message", ""),
                                  fix=FIXES["40078"] if response.status_code in (400, 401, 403) else "")
        code, message = str(data.get("errcode")), str(data.get("errmsg", ""))
        if code == "0":
            return Answer(data.get("result"))
        if code == "88" and data.get("sub_code"):
            code, message = str(data["sub_code"]), str(data.get("sub_msg") or message)
        if code in TOKEN_CODES:
            return Answer.refused(code, message, token_invalid=True)
        if code in BUSY_CODES:
            return Answer.refused(code, message, busy=True)
        return Answer.refused(code, message, fix=FIXES.get(code, ""))

    # -- the read

    def read(self, client: RestClient) -> tuple[list[Person], DepartmentTree]:
        root = self.settings.root_department or ROOT
        tree = DepartmentTree(root)
        pending = [root]
        while pending:
            parent = pending.pop(0)
            children = client.call(Request("POST", "/topapi/v2/department/listsub", json={"dept_id": int(parent)}),
                                   what=f"list the departments under {parent}") or []
            for child in children:
                department = Department(str(child["dept_id"]), str(child.get("name", "")), str(child.get("parent_id", parent)))
                if department.id not in tree.departments:
                    tree.add(department)
                    pending.append(department.id)
        users: dict[str, dict[str, Any]] = {}
        size = min(self.settings.page_size or MAX_PAGE, MAX_PAGE)
        for dept in [root, *tree.departments]:
            cursor = 0
            while True:
                result = client.call(
                    Request("POST", "/topapi/v2/user/list", json={"dept_id": int(dept), "cursor": cursor, "size": size}),
                    what=f"list the users of department {dept}",
                ) or {}
                for user in result.get("list") or []:
                    if user.get("leader"):
                        tree.leaders.setdefault(dept, []).append(str(user.get("userid")))
                    users.setdefault(str(user.get("userid")), user)
                if not result.get("has_more"):
                    break
                following = result.get("next_cursor")
                if following is None:
                    raise RestError(f"DingTalk list the users of department {dept}: the answer says has_more but gives no "
                                    "next_cursor; fix: report it to DingTalk")
                cursor = int(following)
        people = [Person(userid, user, _main_department(user, tree)) for userid, user in users.items()]
        return people, tree

    def write_back(self, client: RestClient, user_key: str, email: str) -> None:
        client.call(Request("POST", "/topapi/v2/user/update",
                            json={"userid": user_key, self.settings.writeback_field: email}),
                    what=f"set the {self.settings.writeback_field} of user {user_key}")


def _main_department(user: dict[str, Any], tree: DepartmentTree) -> str:
    ids = [str(d) for d in user.get("dept_id_list") or []]
    known = [d for d in ids if d in tree.departments]
    return (known or ids or [tree.root])[0]
