"""Feishu (飞书): the contact API v3 of a custom app (企业自建应用), as the app (tenant_access_token).

Documented contract followed (open.feishu.cn, "通讯录 v3", "频控策略", "通用错误码"):

- token: `POST /open-apis/auth/v3/tenant_access_token/internal` {app_id, app_secret} -> {code, msg,
  tenant_access_token, expire}; sent as `Authorization: Bearer <token>`;
- departments: `GET /open-apis/contact/v3/departments/0/children?fetch_child=true&page_size=50
  &page_token=&department_id_type=open_department_id` -> {code, data: {has_more, page_token,
  items: [{name, open_department_id, parent_department_id, leader_user_id}]}} (root: "0");
- users: `GET /open-apis/contact/v3/users/find_by_department?department_id=&page_size=50
  &page_token=&user_id_type=open_id&department_id_type=open_department_id` -> {code, data:
  {has_more, page_token, items: [{open_id, user_id, name, en_name, email, enterprise_email,
  employee_no, job_title, leader_user_id, department_ids, orders, status: {is_resigned, ...},
  join_time (s)}]}}, the direct users of each department;
- rate limit: HTTP 429 (older APIs: 400) with code 99991400 and `x-ogw-ratelimit-reset` (seconds
  to wait); invalid or expired token: 99991663, 99991668, 99991661, 99991664, 99991671;
- write-back: `PATCH /open-apis/contact/v3/users/:open_id?user_id_type=open_id` {<writeback_field>: email}.

Status: `status.is_resigned` is "terminated", anyone else "active".  The manager is
`leader_user_id`, else the department's leader.  Open ids need no extra permission (user_id does).
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors.hr_rest.client import Answer, Request, RestClient, RestError, json_of
from connectors.hr_rest.records import Department, DepartmentTree, Person
from lifecycle.domain.hr_rest_settings import HrRestSettings

__all__ = ["DEFAULTS", "Feishu"]

API = "https://open.feishu.cn"
ROOT = "0"
MAX_PAGE = 50
DEFAULTS = {
    "employee_id": "employee_no",
    "name": "name",
    "english_name": "en_name",
    "title": "job_title",
    "hire_date": "join_time|epoch_s",
    "email": "email",
}
TOKEN_CODES = frozenset({"99991663", "99991668", "99991661", "99991664", "99991671"})
BUSY_CODES = frozenset({"99991400", "1500", "99991401"})
FIXES = {
    "40004": "add the departments to the app's 通讯录权限范围 (contact scope) in the developer console",
    "41050": "add the users to the app's 通讯录权限范围 (contact scope) in the developer console",
    "99991672": "give the app the scope contact:contact.base:readonly (and the field scopes) and publish a version",
    "10003": "check [hr.rest] app_id and the app secret",
    "10014": "check [hr.rest] app_id and the app secret",
}


class Feishu:
    """The Feishu protocol (`Vendor`) and the read of its contact API."""

    name = "Feishu"

    def __init__(self, settings: HrRestSettings, secret: str) -> None:
        self.settings = settings
        self._secret = secret

    def token_request(self) -> Request:
        return Request("POST", "/open-apis/auth/v3/tenant_access_token/internal",
                       json={"app_id": self.settings.app_id, "app_secret": self._secret})

    def token_from(self, data: Any) -> tuple[str, float]:
        return str(data.get("tenant_access_token") or ""), float(data.get("expire") or 7200)

    def authorize(self, request: Request, token: str) -> None:
        request.headers["Authorization"] = f"Bearer {token}"

    def interpret(self, response: httpx.Response) -> Answer:
        data = json_of(response)
        if not isinstance(data, dict) or "code" not in data:
            return Answer.refused(f"HTTP {response.status_code}", "the answer is not Feishu's JSON",
                                  busy=response.status_code in (429,) or response.status_code >= 500,
                                  fix="check [hr.rest] base_url")
        code, message = str(data["code"]), str(data.get("msg", ""))
        if code == "0":
            return Answer(data.get("data", data))
        if code in TOKEN_CODES:
            return Answer.refused(code, message, token_invalid=True)
        if code in BUSY_CODES or response.status_code == 429:
            return Answer.refused(code, message, busy=True, wait=_reset(response))
        return Answer.refused(code, message, fix=FIXES.get(code, ""))

    # -- the read

    def read(self, client: RestClient) -> tuple[list[Person], DepartmentTree]:
        root = self.settings.root_department or ROOT
        tree = DepartmentTree(root)
        size = str(min(self.settings.page_size or MAX_PAGE, MAX_PAGE))
        for item in self._pages(client, f"/open-apis/contact/v3/departments/{root}/children",
                                {"fetch_child": "true", "department_id_type": "open_department_id", "page_size": size},
                                what=f"list the departments under {root}"):
            tree.add(Department(str(item.get("open_department_id")), str(item.get("name", "")),
                                str(item.get("parent_department_id") or root)))
            if item.get("leader_user_id"):
                tree.leaders[str(item["open_department_id"])] = [str(item["leader_user_id"])]
        users: dict[str, dict[str, Any]] = {}
        for dept in [root, *tree.departments]:
            params = {"department_id": dept, "department_id_type": "open_department_id", "user_id_type": "open_id",
                      "page_size": size}
            for user in self._pages(client, "/open-apis/contact/v3/users/find_by_department", params,
                                    what=f"list the users of department {dept}"):
                users.setdefault(str(user.get("open_id")), user)
        people = [
            Person(key, user, _main_department(user, tree), str(user.get("leader_user_id") or ""),
                   "terminated" if (user.get("status") or {}).get("is_resigned") else "active")
            for key, user in users.items()
        ]
        return people, tree

    def _pages(self, client: RestClient, url: str, params: dict[str, str], *, what: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token = ""
        while True:
            page = client.call(Request("GET", url, {**params, **({"page_token": token} if token else {})}), what=what) or {}
            items += page.get("items") or []
            if not page.get("has_more"):
                return items
            token = str(page.get("page_token") or "")
            if not token:
                raise RestError(f"Feishu {what}: the answer says has_more but gives no page_token; fix: report it to Feishu")

    def write_back(self, client: RestClient, user_key: str, email: str) -> None:
        client.call(Request("PATCH", f"/open-apis/contact/v3/users/{user_key}", {"user_id_type": "open_id"},
                            json={self.settings.writeback_field: email}),
                    what=f"set the {self.settings.writeback_field} of user {user_key}")


def _reset(response: httpx.Response) -> float | None:
    value = response.headers.get("x-ogw-ratelimit-reset")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _main_department(user: dict[str, Any], tree: DepartmentTree) -> str:
    for order in user.get("orders") or []:
        if order.get("is_primary_dept") and order.get("department_id"):
            return str(order["department_id"])
    ids = [str(d) for d in user.get("department_ids") or []]
    return (ids or [tree.root])[0]
