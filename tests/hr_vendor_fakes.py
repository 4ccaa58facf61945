"""Local HTTP servers that answer as DingTalk, Feishu, WeCom and a generic JSON HR API do, per their documented
contracts (the endpoints, request and answer shapes, error codes and rate-limit answers that
connectors/hr_rest/*.py name).  One real server per test, on 127.0.0.1, in a thread (Flask on werkzeug).

The org is the same for every vendor: `Org` (departments and users, in a neutral form) is turned into each
vendor's JSON.  Test controls are plain attributes and methods:

    fake.expire_tokens()                 # every token issued so far is expired from now on
    fake.rate_limit(times=1, wait=7)     # the next `times` data calls are rate limited (wait: where the vendor says)
    fake.fail_call(3, code, message)     # the 3rd data call from now answers this error ("{url}": the request's URL)
    fake.updates                         # write-backs received: [(user id, {field: value})], applied to the org
    fake.calls                           # data calls received: [(path, params or body)]
    fake.tokens_issued                   # how many tokens were issued
    fake.hidden_fields = {"email"}       # user fields the vendor leaves out of its answers (a permission not granted)
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from types import TracebackType
from typing import Any, Self
from zoneinfo import ZoneInfo

from flask import Flask, Response, request
from werkzeug.serving import BaseWSGIServer, make_server

__all__ = ["DingTalkFake", "FeishuFake", "GenericFake", "Org", "OrgUser", "WeComFake", "sample_org"]

SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass
class OrgUser:
    userid: str
    name: str
    employee_id: str
    departments: list[str]
    title: str = ""
    email: str = ""
    hire_date: date | None = None
    manager: str = ""  # a userid
    leader_of: list[str] = field(default_factory=list)  # department ids the user leads
    resigned: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Org:
    root: str
    root_name: str
    departments: dict[str, tuple[str, str]]  # id -> (name, parent id)
    users: list[OrgUser]

    def children(self, parent: str) -> list[str]:
        return [d for d, (_, p) in self.departments.items() if p == parent]

    def subtree(self, parent: str) -> list[str]:
        found: list[str] = []
        for child in self.children(parent):
            found += [child, *self.subtree(child)]
        return found

    def members(self, department: str) -> list[OrgUser]:
        return [u for u in self.users if department in u.departments]


def sample_org() -> Org:
    """星河集团 (root) / 集团总部 / 财务部, and / 深圳分公司 / 研发部: seven people (the companies of tests.harness).
    A department's leader is one of its members (as DingTalk's `leader` flag requires)."""
    departments = {"2": ("集团总部", "1"), "3": ("深圳分公司", "1"), "4": ("财务部", "2"), "5": ("研发部", "3")}
    hired = date(2021, 3, 15)
    users = [
        OrgUser("u-li", "李娜", "E001", ["4", "2"], "财务经理", "li.na@example.com", date(2020, 1, 2), leader_of=["4", "2"]),
        OrgUser("u-wang", "王芳", "E002", ["4"], "会计", "", hired, manager="u-li"),
        OrgUser("u-zhao", "赵敏", "E003", ["4"], "出纳", "", hired),
        OrgUser("u-chen", "陈晨", "E004", ["5", "3"], "研发经理", "", date(2019, 7, 1), leader_of=["5", "3"]),
        OrgUser("u-liu", "刘洋", "E005", ["5"], "工程师", "", hired, manager="u-chen"),
        OrgUser("u-sun", "孙丽", "E006", ["5"], "工程师", "", hired),
        OrgUser("u-zhou", "周杰", "E007", ["3"], "助理", "", hired),
    ]
    return Org("1", "星河集团", departments, users)


def epoch_ms(day: date | None) -> int | None:
    return None if day is None else int(datetime.combine(day, time(0, 0), SHANGHAI).timestamp() * 1000)


class _Fake:
    """A Flask app on a werkzeug server in a thread; the vendor subclasses add the routes."""

    secret = "s3cr3t-app-secret-value"
    app_id = "app-id-1"

    def __init__(self, org: Org | None = None) -> None:
        self.org = org or sample_org()
        self.app = Flask(type(self).__name__)
        self.tokens: dict[str, bool] = {}  # token -> still valid
        self.tokens_issued = 0
        self.token_lifetime = 7200
        self.calls: list[tuple[str, Any]] = []
        self.updates: list[tuple[str, dict[str, Any]]] = []
        self.hidden_fields: set[str] = set()
        self._rate_limited = 0
        self.rate_wait = 0
        self._failures: dict[int, tuple[Any, str]] = {}
        self._lock = threading.Lock()
        self.routes()
        self._server: BaseWSGIServer = make_server("127.0.0.1", 0, self.app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- test controls

    def expire_tokens(self) -> None:
        with self._lock:
            self.tokens = dict.fromkeys(self.tokens, False)

    def rate_limit(self, times: int = 1, wait: int = 0) -> None:
        self._rate_limited, self.rate_wait = times, wait

    def fail_call(self, nth: int, code: Any, message: str) -> None:
        """The `nth` data call from now (1: the next) answers the vendor's error `code`."""
        self._failures[len(self.calls) + nth] = (code, message)

    # -- for the routes

    def routes(self) -> None:
        raise NotImplementedError

    def update(self, key: str, user: OrgUser, fields: dict[str, Any]) -> None:
        """A write-back received: noted, and the user holds the values from now on."""
        self.updates.append((key, fields))
        for name, value in fields.items():
            if name == "email":
                user.email = value
            else:
                user.extra[name] = value

    def shown(self, user: dict[str, Any]) -> dict[str, Any]:
        """A user's JSON without the fields the app may not read (`hidden_fields`)."""
        return {k: v for k, v in user.items() if k not in self.hidden_fields}

    def issue_token(self) -> str:
        with self._lock:
            token = "tok-" + secrets.token_hex(8)
            self.tokens[token] = True
            self.tokens_issued += 1
            return token

    def token_state(self, token: str | None) -> str:
        """"ok", "expired" or "invalid"."""
        if not token or token not in self.tokens:
            return "invalid"
        return "ok" if self.tokens[token] else "expired"

    def record(self, what: Any) -> tuple[str, Any] | None:
        """Note a data call; the injected fault it must answer with: ("rate", None), ("fail", (code, message)) or None."""
        with self._lock:
            self.calls.append((request.path, what))
            number = len(self.calls)
            if self._rate_limited > 0:
                self._rate_limited -= 1
                return ("rate", None)
            failure = self._failures.pop(number, None)
            if failure is None:
                return None
            code, message = failure
            return ("fail", (code, message.replace("{url}", request.url)))  # "{url}": the request echoed back


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status, headers or {}, mimetype="application/json")


# -- DingTalk ------------------------------------------------------------------------------------------


class DingTalkFake(_Fake):
    """api.dingtalk.com's token and oapi.dingtalk.com's topapi on one server."""

    max_size = 100

    def routes(self) -> None:
        app = self.app

        @app.post("/v1.0/oauth2/accessToken")
        def token() -> Response:
            body = request.get_json(force=True)
            if body.get("appKey") != self.app_id or body.get("appSecret") != self.secret:
                return _json({"code": "invalidClientIdOrSecret", "message": "无效的clientId或者clientSecret",
                              "requestid": "r1"}, 400)
            return _json({"accessToken": self.issue_token(), "expireIn": self.token_lifetime})

        @app.post("/topapi/v2/department/listsub")
        def listsub() -> Response:
            return self._answer(lambda body: [
                {"dept_id": int(d), "name": self.org.departments[d][0], "parent_id": int(body["dept_id"]),
                 "create_dept_group": True, "auto_add_user": True}
                for d in self.org.children(str(body["dept_id"]))])

        @app.post("/topapi/v2/user/list")
        def user_list() -> Response:
            def page(body: dict[str, Any]) -> Any:
                dept, cursor, size = str(body["dept_id"]), int(body.get("cursor") or 0), int(body["size"])
                if size > self.max_size:
                    return {"errcode": 400002, "errmsg": "无效的参数"}
                members = self.org.members(dept)
                chunk = members[cursor:cursor + size]
                more = cursor + size < len(members)
                return {"has_more": more, **({"next_cursor": cursor + size} if more else {}),
                        "list": [self._user(u, dept) for u in chunk]}
            return self._answer(page)

        @app.post("/topapi/v2/user/update")
        def update() -> Response:
            def apply(body: dict[str, Any]) -> Any:
                user = next((u for u in self.org.users if u.userid == body.get("userid")), None)
                if user is None:
                    return {"errcode": 60121, "errmsg": "找不到该用户"}
                self.update(user.userid, user, {k: v for k, v in body.items() if k != "userid"})
                return None
            return self._answer(apply)

    def _user(self, user: OrgUser, dept: str) -> dict[str, Any]:
        return self.shown({
            "userid": user.userid, "unionid": "un-" + user.userid, "name": user.name, "job_number": user.employee_id,
            "title": user.title, "email": user.email, "org_email": "", "dept_id_list": [int(d) for d in user.departments],
            "hired_date": epoch_ms(user.hire_date), "active": True, "admin": False, "boss": False,
            "leader": dept in user.leader_of, "exclusive_account": False, **user.extra})

    def _answer(self, make: Callable[[dict[str, Any]], Any]) -> Response:
        body = request.get_json(force=True)
        state = self.token_state(request.args.get("access_token"))
        if state == "invalid":
            return _json({"errcode": 40014, "errmsg": "不合法的access_token"})
        if state == "expired":
            return _json({"errcode": 88, "sub_code": "42001", "sub_msg": "access_token超时",
                          "errmsg": "ding talk error[subcode=42001,submsg=access_token超时]", "request_id": "r2"})
        fault = self.record(body)
        if fault is not None and fault[0] == "rate":
            return _json({"errcode": 90018, "errmsg": "当前企业所有应用调用该接口的并发量超过上限"})
        if fault is not None:
            code, message = fault[1]
            return _json({"errcode": code, "errmsg": message})
        result = make(body)
        if isinstance(result, dict) and "errcode" in result:
            return _json(result)
        return _json({"errcode": 0, "errmsg": "ok", "result": result, "request_id": "r3"})


# -- Feishu --------------------------------------------------------------------------------------------


class FeishuFake(_Fake):
    """open.feishu.cn's auth v3 and contact v3 (open ids)."""

    max_size = 50

    def routes(self) -> None:
        app = self.app

        @app.post("/open-apis/auth/v3/tenant_access_token/internal")
        def token() -> Response:
            body = request.get_json(force=True)
            if body.get("app_id") != self.app_id or body.get("app_secret") != self.secret:
                return _json({"code": 10014, "msg": "app secret invalid"}, 400)
            return _json({"code": 0, "msg": "ok", "tenant_access_token": "t-" + self.issue_token(),
                          "expire": self.token_lifetime})

        @app.get("/open-apis/contact/v3/departments/<dept>/children")
        def children(dept: str) -> Response:
            ids = self.org.subtree(self._dept_id(dept)) if request.args.get("fetch_child") == "true" else \
                self.org.children(self._dept_id(dept))
            return self._paged([self._department(d) for d in ids])

        @app.get("/open-apis/contact/v3/users/find_by_department")
        def users() -> Response:
            dept = self._dept_id(request.args["department_id"])
            return self._paged([self._user(u) for u in self.org.members(dept)])

        @app.patch("/open-apis/contact/v3/users/<open_id>")
        def patch(open_id: str) -> Response:
            denied = self._check()
            if denied is not None:
                return denied
            user = next((u for u in self.org.users if "ou_" + u.userid == open_id), None)
            if user is None:
                return _json({"code": 41050, "msg": "no user authority error"}, 400)
            self.update(open_id, user, request.get_json(force=True))
            return _json({"code": 0, "msg": "success", "data": {"user": self._user(user)}})

    def _dept_id(self, open_id: str) -> str:
        return self.org.root if open_id == "0" else open_id.removeprefix("od-")

    def _department(self, dept: str) -> dict[str, Any]:
        name, parent = self.org.departments[dept]
        leader = next((u.userid for u in self.org.users if dept in u.leader_of), "")
        return {"name": name, "open_department_id": "od-" + dept, "department_id": dept,
                "parent_department_id": "0" if parent == self.org.root else "od-" + parent,
                **({"leader_user_id": "ou_" + leader} if leader else {}), "status": {"is_deleted": False}}

    def _user(self, user: OrgUser) -> dict[str, Any]:
        return self.shown({"open_id": "ou_" + user.userid, "union_id": "on_" + user.userid, "name": user.name, "en_name": "",
                "email": user.email, "enterprise_email": "", "employee_no": user.employee_id, "job_title": user.title,
                "department_ids": ["od-" + d for d in user.departments],
                "orders": [{"department_id": "od-" + d, "user_order": 0, "department_order": 0, "is_primary_dept": i == 0}
                           for i, d in enumerate(user.departments)],
                **({"leader_user_id": "ou_" + user.manager} if user.manager else {}),
                "status": {"is_frozen": False, "is_resigned": user.resigned, "is_activated": True, "is_exited": False,
                           "is_unjoin": False},
                "join_time": (epoch_ms(user.hire_date) or 0) // 1000, **user.extra})

    def _check(self) -> Response | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return _json({"code": 99991661, "msg": "Missing access token for authorization."}, 400)
        if self.token_state(header.removeprefix("Bearer t-")) != "ok":
            return _json({"code": 99991663, "msg": "Invalid access token for authorization."}, 400)
        return None

    def _paged(self, items: list[dict[str, Any]]) -> Response:
        denied = self._check()
        if denied is not None:
            return denied
        fault = self.record(dict(request.args))
        if fault is not None and fault[0] == "rate":
            return _json({"code": 99991400, "msg": "request trigger frequency limit"}, 429,
                         {"x-ogw-ratelimit-limit": "100", "x-ogw-ratelimit-reset": str(self.rate_wait)})
        if fault is not None:
            code, message = fault[1]
            return _json({"code": code, "msg": message}, 400)
        size = int(request.args.get("page_size", "20"))
        if size > self.max_size:
            return _json({"code": 40011, "msg": "page size is invalid"}, 400)
        start = int(base64.urlsafe_b64decode(request.args["page_token"]).decode()) if request.args.get("page_token") else 0
        chunk = items[start:start + size]
        more = start + size < len(items)
        data: dict[str, Any] = {"has_more": more, "items": chunk}
        if more:
            data["page_token"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
        return _json({"code": 0, "msg": "success", "data": data})


# -- WeCom ---------------------------------------------------------------------------------------------


class WeComFake(_Fake):
    """qyapi.weixin.qq.com's gettoken, department/list, user/list and user/update."""

    def routes(self) -> None:
        app = self.app

        @app.get("/cgi-bin/gettoken")
        def token() -> Response:
            if request.args.get("corpid") != self.app_id:
                return _json({"errcode": 40013, "errmsg": "invalid corpid"})
            if request.args.get("corpsecret") != self.secret:  # with the request in the hint, as a proxy log might
                return _json({"errcode": 40001, "errmsg": f"invalid credential, hint: [{request.url}]"})
            return _json({"errcode": 0, "errmsg": "ok", "access_token": self.issue_token(),
                          "expires_in": self.token_lifetime})

        @app.get("/cgi-bin/department/list")
        def departments() -> Response:
            root = request.args.get("id", self.org.root)

            def listing() -> dict[str, Any]:
                ids = [root, *self.org.subtree(root)]
                return {"department": [self._department(d) for d in ids]}
            return self._answer(listing)

        @app.get("/cgi-bin/user/list")
        def users() -> Response:
            dept = request.args["department_id"]
            return self._answer(lambda: {"userlist": [self._user(u) for u in self.org.members(dept)]})

        @app.post("/cgi-bin/user/update")
        def update() -> Response:
            body = request.get_json(force=True)

            def apply() -> dict[str, Any]:
                user = next((u for u in self.org.users if u.userid == body.get("userid")), None)
                if user is None:
                    return {"errcode": 60111, "errmsg": "invalid userid"}
                self.update(user.userid, user, {k: v for k, v in body.items() if k != "userid"})
                return {"errmsg": "updated"}
            return self._answer(apply)

    def _department(self, dept: str) -> dict[str, Any]:
        name, parent = (self.org.root_name, "0") if dept == self.org.root else self.org.departments[dept]
        leaders = [u.userid for u in self.org.users if dept in u.leader_of]
        return {"id": int(dept), "name": name, "name_en": "", "department_leader": leaders, "parentid": int(parent),
                "order": 1}

    def _user(self, user: OrgUser) -> dict[str, Any]:
        attrs = [{"type": 0, "name": "工号", "text": {"value": user.employee_id}, "value": user.employee_id},
                 {"type": 0, "name": "入职日期", "text": {"value": user.hire_date.isoformat() if user.hire_date else ""}}]
        return self.shown({"userid": user.userid, "name": user.name, "department": [int(d) for d in user.departments],
                "order": [0] * len(user.departments), "position": user.title, "email": user.email, "biz_mail": "",
                "is_leader_in_dept": [int(d in user.leader_of) for d in user.departments],
                "direct_leader": [user.manager] if user.manager else [], "status": 5 if user.resigned else 1,
                "main_department": int(user.departments[0]), "extattr": {"attrs": attrs}, **user.extra})

    def _answer(self, make: Callable[[], dict[str, Any]]) -> Response:
        state = self.token_state(request.args.get("access_token"))
        if state == "invalid":
            return _json({"errcode": 40014, "errmsg": "invalid access_token"})
        if state == "expired":
            return _json({"errcode": 42001, "errmsg": "access_token expired"})
        fault = self.record(dict(request.args) if request.method == "GET" else request.get_json(force=True))
        if fault is not None and fault[0] == "rate":
            return _json({"errcode": 45009, "errmsg": "api freq out of limit"})
        if fault is not None:
            code, message = fault[1]
            return _json({"errcode": code, "errmsg": message})
        body = make()
        return _json({"errcode": body.pop("errcode", 0), "errmsg": body.pop("errmsg", "ok"), **body})


# -- a generic JSON API --------------------------------------------------------------------------------


class GenericFake(_Fake):
    """An OAuth 2.0 client-credentials token endpoint and a paged employee list, `paging`:
    "cursor": `GET /api/v1/employees?cursor=&limit=` -> {"data": {"employees": [...]}, "next_cursor": "..." | null};
    "page": `?page=1&limit=` (pages from 1); "offset": `?offset=0&limit=`; "link": `?page=` with an RFC 8288
    `Link: <...>; rel="next"` header (no cursor in the body).  Every answer also says `total` (the number of
    records) and `has_more`.  `max_limit` caps the page size as many servers do (a larger `limit` is cut to it,
    silently); `empty_pages = n` starts a cursor read with n empty pages that each give a next cursor (a
    server that filters its pages)."""

    paging = "cursor"

    def __init__(self, org: Org | None = None, *, records: list[dict[str, Any]] | None = None) -> None:
        super().__init__(org)
        self.records = records if records is not None else [self.record_of(u) for u in self.org.users]
        self.limits: list[int] = []
        self.max_limit: int | None = None
        self.empty_pages = 0

    def record_of(self, user: OrgUser) -> dict[str, Any]:
        dept = user.departments[0]
        company = self.org.departments[self.org.departments[dept][1]][0] if self.org.departments[dept][1] != self.org.root \
            else self.org.departments[dept][0]
        manager = next((u.employee_id for u in self.org.users if u.userid == user.manager), "")
        return {"id": user.userid, "profile": {"number": user.employee_id, "name": user.name},
                "org": {"company": company, "department": self.org.departments[dept][0], "title": user.title},
                "manager": manager, "state": "离职" if user.resigned else "在职",
                "hired": user.hire_date.isoformat() if user.hire_date else "", "left": "", "mail": user.email}

    def routes(self) -> None:
        app = self.app
        cursors: Iterator[int] = itertools.count(1)
        self._cursors: dict[str, int] = {}

        @app.post("/oauth/token")
        def token() -> Response:
            form = request.form
            if form.get("grant_type") != "client_credentials":
                return _json({"error": "unsupported_grant_type"}, 400)
            if form.get("client_id") != self.app_id or form.get("client_secret") != self.secret:
                return _json({"error": "invalid_client"}, 401)
            return _json({"access_token": self.issue_token(), "token_type": "Bearer", "expires_in": self.token_lifetime})

        @app.get("/api/v1/employees")
        def employees() -> Response:
            if self.token_state(request.headers.get("Authorization", "").removeprefix("Bearer ")) != "ok":
                return _json({"error": "invalid_token"}, 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
            fault = self.record(dict(request.args))
            if fault is not None and fault[0] == "rate":
                return _json({"error": "rate_limited"}, 429, {"Retry-After": str(self.rate_wait)})
            if fault is not None:
                code, message = fault[1]
                return _json({"error": message}, int(code))
            limit = int(request.args.get("limit", "100"))
            self.limits.append(limit)
            limit = min(limit, self.max_limit or limit)
            total = len(self.records)
            if self.paging == "offset":
                start = int(request.args.get("offset", "0"))
                chunk = self.records[start:start + limit]
                return _json({"data": {"employees": chunk}, "total": total, "has_more": start + limit < total})
            if self.paging != "cursor":
                page = int(request.args.get("page", "1"))
                chunk = self.records[(page - 1) * limit:page * limit]
                headers = {}
                if self.paging == "link" and page * limit < total:
                    headers["Link"] = f'<{self.url}/api/v1/employees?page={page + 1}&limit={limit}>; rel="next"'
                return _json({"data": {"employees": chunk}, "total": total, "has_more": page * limit < total}, 200,
                             headers)
            if self.empty_pages > 0:
                self.empty_pages -= 1
                blank = f"c{next(cursors)}"
                self._cursors[blank] = self._cursors.get(request.args.get("cursor", ""), 0)
                return _json({"data": {"employees": []}, "next_cursor": blank, "total": total, "has_more": True})
            start = self._cursors.get(request.args.get("cursor", ""), 0) if request.args.get("cursor") else 0
            chunk = self.records[start:start + limit]
            following = None
            if start + limit < total:
                following = f"c{next(cursors)}"
                self._cursors[following] = start + limit
            return _json({"data": {"employees": chunk}, "next_cursor": following, "total": total,
                          "has_more": following is not None})
