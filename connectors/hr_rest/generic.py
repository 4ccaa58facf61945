"""A generic JSON API listing employees: declared in `[hr.rest]`, no code per system.

- auth: "none"; "bearer" (the secret in app_secret_file is sent as `Authorization: Bearer`); or
  "client_credentials" (OAuth 2.0, RFC 6749 4.4: `POST token_url` grant_type=client_credentials,
  client_id = app_id, client_secret = the secret, form-encoded -> {access_token, expires_in}).
- records_url is read page by page (`paging`): "cursor" (the answer's `next_cursor_path` goes back
  as `cursor_param`; the read ends when no next cursor is given, even after an empty page), "page"
  (`page_param` from `first_page`, `size_param` = page_size), "offset" (`page_param` is the offset,
  moved by the records received), "link" (RFC 8288 Link header rel="next"), or "none".  The list is
  at `records_path` in each answer.  Page and offset paging end on an empty page, not on a short
  one: a server may cap the page size below the one asked for, and a short page is then no sign
  of the end (a partial list would read as "these people left").  `has_more_path` (the answer
  says whether more follow) or `total_path` (how many records there are) end it one call sooner.
- records are kept one each: two records are one only when `record_key` (the API's own record
  id) says so, never because they share an employee id (a rehire listed twice, a typo): those
  both reach the shared duplicate-id check, which rejects them.
- each record's fields are at the paths in `[hr.rest.fields]` (dotted, "|epoch_s"/"|epoch_ms").
- HTTP 401 renews a client-credentials token once; 429 and 503 are waited for (Retry-After); any
  other non-2xx answer fails the read, naming the status and the answer.
"""

from __future__ import annotations

import math
from typing import Any

import httpx

from connectors.hr_rest.client import Answer, Request, RestClient, RestError, dig, json_of
from connectors.hr_rest.records import DepartmentTree, Person
from connectors.http import describe
from lifecycle.domain.hr_rest_settings import HrRestSettings

__all__ = ["Generic"]

DEFAULT_PAGE = 100
MAX_PAGES = 100_000


class Generic:
    """A declared JSON API (`Vendor`) and the read of its records."""

    name = "HR API"

    def __init__(self, settings: HrRestSettings, secret: str) -> None:
        self.settings = settings
        self._secret = secret

    def token_request(self) -> Request | None:
        if self.settings.auth != "client_credentials":
            return None
        return Request("POST", self.settings.token_url, form={
            "grant_type": "client_credentials", "client_id": self.settings.app_id, "client_secret": self._secret})

    def token_from(self, data: Any) -> tuple[str, float]:
        if data is None:  # a static bearer token, or none
            return (self._secret or "-"), math.inf
        body = data[0] if isinstance(data, tuple) else data
        return str(body.get("access_token") or ""), float(body.get("expires_in") or 3600)

    def authorize(self, request: Request, token: str) -> None:
        if self.settings.auth != "none":
            request.headers["Authorization"] = f"Bearer {token}"

    def interpret(self, response: httpx.Response) -> Answer:
        data = json_of(response)
        status = response.status_code
        if response.is_success:
            if data is None:
                return Answer.refused(f"HTTP {status}", "the answer is not JSON", fix="check [hr.rest] records_url")
            return Answer((data, response.links.get("next", {}).get("url")))
        detail = describe(data) if data is not None else response.reason_phrase
        if status == 401:
            return Answer.refused(f"HTTP {status}", detail, token_invalid=True)
        fix = {403: "give the API account the right to list employees", 404: "check [hr.rest] records_url"}.get(status, "")
        return Answer.refused(f"HTTP {status}", detail, fix=fix)

    def read(self, client: RestClient) -> tuple[list[Person], DepartmentTree]:
        key_path = self.settings.record_key.partition("|")[0]
        records: list[Person] = []
        for record in self._records(client):
            key = dig(record, key_path) if key_path else None
            records.append(Person(str(key) if key not in (None, "") else "", record, ""))
        return records, DepartmentTree("")

    def _records(self, client: RestClient) -> list[dict[str, Any]]:
        settings = self.settings
        size = settings.page_size or DEFAULT_PAGE
        url = settings.records_url
        params = dict(settings.query)
        paging = settings.paging
        position = settings.first_page if paging == "page" else 0
        cursors: set[str] = set()  # cursors and next links seen: one coming back again would loop
        previous_page: list[Any] | None = None  # a page equal to the one before: the page parameter is ignored
        records: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            if paging in ("page", "offset"):
                params.update({settings.page_param: str(position), settings.size_param: str(size)})
            elif paging in ("cursor", "link") and settings.page_size and page == 1:
                params[settings.size_param] = str(size)  # a next link carries its own
            body, next_url = client.call(Request("GET", url, dict(params)), what=f"read page {page} of the employees")
            items = dig(body, settings.records_path)
            if not isinstance(items, list):
                raise RestError(f"{self.name} page {page}: no list at records_path {settings.records_path!r}; fix: set "
                                "[hr.rest] records_path to where the answer holds the employees")
            records += [item for item in items if isinstance(item, dict)]
            more = self._more(body, len(records))
            if paging == "none" or more is False:
                return records
            if paging == "cursor":
                cursor = dig(body, settings.next_cursor_path)
                if cursor in (None, "") and more:
                    raise RestError(f"{self.name} page {page}: the answer says more records follow ({settings.has_more_path}) "
                                    f"but gives no cursor at {settings.next_cursor_path!r}; fix: check [hr.rest] "
                                    "next_cursor_path")
                if cursor in (None, ""):  # an empty page with a next cursor is no end: some APIs filter pages
                    return records
                if str(cursor) in cursors:
                    raise RestError(f"{self.name} page {page}: the cursor {cursor!r} came back again; fix: check "
                                    "[hr.rest] next_cursor_path and cursor_param")
                cursors.add(str(cursor))
                params[settings.cursor_param] = str(cursor)
            elif paging in ("page", "offset"):
                if not items and more:
                    raise RestError(f"{self.name} page {page}: an empty page, yet the answer says more records follow; "
                                    "fix: check [hr.rest] page_param, first_page and the total or has_more path")
                if not items:
                    return records
                if items == previous_page:
                    raise RestError(f"{self.name} page {page}: the same records as the page before; the API ignores "
                                    f"[hr.rest] page_param {settings.page_param!r} (or repeats its last page); fix: set "
                                    "page_param (and size_param) to the API's own parameter names")
                previous_page = items
                position += 1 if paging == "page" else len(items)
            elif paging == "link":
                if not next_url:
                    return records
                if str(next_url) in cursors:
                    raise RestError(f"{self.name} page {page}: the next link {next_url!r} came back again; fix: check "
                                    "the API's Link headers")
                cursors.add(str(next_url))
                url, params = str(next_url), {}
        raise RestError(f"{self.name}: more than {MAX_PAGES} pages; fix: check the paging settings")

    def _more(self, body: Any, received: int) -> bool | None:
        """Whether the answer says more records follow (`has_more_path`, or `total_path`'s count not yet received);
        None when it does not say."""
        settings = self.settings
        if settings.has_more_path:
            more = dig(body, settings.has_more_path)
            if more is not None:
                return more is True or str(more).strip().lower() in ("true", "1", "yes")
        if settings.total_path and settings.paging in ("page", "offset"):
            total = dig(body, settings.total_path)
            if total is None:
                return None
            try:
                return received < int(str(total))
            except ValueError as exc:
                raise RestError(f"{self.name}: the answer's {settings.total_path} is {str(total)[:40]!r}, not a number; "
                                "fix: check [hr.rest] total_path") from exc
        return None
