"""Modoboa 2.12's admin API as this driver uses it: the paths, the paged lists, and the rows it writes.

What the API is, as verified against a real 2.12.0 (devservers/modoboa.py):

- Auth `Authorization: Token <key>` (DRF TokenAuthentication; the token of a
  SuperAdmins account, or ensure_domains cannot create domains).  A bad or
  missing token is 401, a forbidden action 403.
- Every v2 list endpoint pages (`{"count", "next", "previous", "results"}`,
  50 per page unless `page_size=N`, no upper limit); `next` is an absolute
  URL built from the request's Host, so only its query is followed here.
  Accounts are ordered by username, aliases by address.
- `/accounts/?domain=<domain pk>` lists the accounts whose mailbox is in that
  domain; `/aliases/?domain=<domain name>`; `?search=` matches a substring.
- v2's account list is slow: every row is serialized with `possible_actions`
  (the pdfcredentials handler looks two parameters up through
  `inspect.stack()`), badges and its aliases (bench/README.md has the cost
  per account).  The v1 list (`/api/v1/accounts/?domain=<name>`, unpaged,
  same account and mailbox fields, still served by 2.12) is much cheaper, so
  the snapshot lists the accounts there, with the time budget that paging
  through v2 would have had (its count, read first, says how many pages),
  and falls back to v2's pages when v1 is absent (404/405, or 401/403 from
  a proxy that lets only v2 through).
- An account is a `core.User` (see rows.py for its fields).
- Each mailbox has an *internal* self-alias (address -> itself) that Postfix's
  alias map needs to accept mail for it.  The API never shows it (v2 filters
  `internal=False`), so it cannot be changed through the API.
- Suspending (`PATCH is_active=false`) disables that self-alias and every
  alias whose only recipient is the mailbox: mail to a suspended account
  bounces (so no SUSPEND_KEEPS_DELIVERY).  Re-enabling the account re-enables
  none of them (2.12 has only the "disable" signal handler).
- `PATCH /aliases/{pk}/` without `recipients` is a 500 (the serializer calls
  set_recipients(None)); this driver always sends the recipients.
- Deleting a mailbox deletes every alias with its address (its forward too).
- Renaming a mailbox (`PATCH username`) leaves every visible alias at its
  address and re-links the recipients that named the mailbox: its own alias
  stays at the old address, now to the new one, and an alias at the new
  address (an earlier transfer alias, expiry included) becomes its own.
- An alias's `expire_at` ends delivery through it (Postfix's map checks it);
  `PATCH` with `"expire_at": null` makes it permanent.  `description` is free
  text that a PATCH without it keeps.
- A forward is a visible alias at the mailbox's own address.  Since the hidden
  self-alias normally stays enabled, the admin API cannot forward without a
  copy (only the user's own /account/forward/ can switch the hidden alias).
- Stock Modoboa throttles 5 writes/s per endpoint and 300 requests/min per
  user (429 beyond): `[mail] max_writes_per_second` and
  `max_requests_per_minute` pace this client below that (connectors/http.py
  retries the rest).  A 500 is this request's fault here (RecordError).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import structlog

from connectors.http import ApiError, HttpApi, Pacing, RetryPolicy
from connectors.mail_modoboa.rows import CONNECTOR, account_address, managed_note, snapshot_fields
from lifecycle.domain.errors import AlreadyExistsError, ConnectorConfigError, RecordError, TransientError
from lifecycle.domain.settings import MailSettings

log = structlog.get_logger(__name__)

API = "/api/v2"
API_V1 = "/api/v1"  # only for the account list (see the module doc)
ROLE = "SimpleUsers"
LIST_RETRIES = 3  # reads of a list that changed while it was read, before TransientError

Row = dict[str, Any]
FieldFilter = Callable[[list[tuple[str, Any]]], dict[str, Any]]


class ModoboaApi(HttpApi):
    """The admin API of one Modoboa, paced and retried (connectors/http.py); rows in, rows out."""

    def __init__(
        self,
        settings: MailSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        assert settings.token is not None  # the settings validator guarantees it
        token = settings.token.get_secret_value()
        super().__init__(
            connector=CONNECTOR,
            where=f"Modoboa {settings.url}",
            base_url=settings.url,
            headers={"Authorization": f"Token {token}", "Accept": "application/json"},
            secrets=(token,),
            timeout=settings.timeout_seconds,
            verify=settings.verify_tls,
            retry=RetryPolicy(settings.max_attempts, settings.max_retry_seconds, settings.backoff_seconds),
            pacing=Pacing(settings.max_writes_per_second, settings.max_requests_per_minute),
            auth_hint="check the Modoboa API token (a SuperAdmins account's) in [mail] token_file",
            transport=transport,
            sleep=sleep,
        )
        self.url = settings.url
        self.page_size = settings.page_size
        self.timeout_seconds = settings.timeout_seconds
        self._v1_accounts = True  # until v1 says it is not there

    # -- reading ------------------------------------------------------------

    def me(self) -> Any:
        """The token's own account."""
        return self.request("GET", f"{API}/account/me/", what="check the API token").json()

    def domain_ids(self) -> dict[str, int]:
        rows = self.list_rows(f"{API}/domains/", {}, what="list domains")
        return {str(row["name"]).lower(): int(row["pk"]) for row in rows if "name" in row and "pk" in row}

    def domain_aliases(self, name: str) -> list[Row]:
        """The visible aliases of a domain, with the snapshot's fields only."""
        return self.list_rows(f"{API}/aliases/", {"domain": name}, what=f"list the aliases of {name}", fields=snapshot_fields)

    def domain_accounts(self, name: str, pk: int) -> list[Row]:
        """The accounts of one domain, with the snapshot's fields only: v1's unpaged list (one query, so
        consistent by itself), else v2's pages."""
        what = f"list the accounts of {name}"
        if self._v1_accounts:
            head = self.request("GET", f"{API}/accounts/", params={"domain": str(pk), "page_size": "1"}, what=what).json()
            count = head.get("count") if isinstance(head, dict) else None
            pages = -(-count // self.page_size) if isinstance(count, int) and count > 0 else 1
            body: Any
            try:
                body = json.loads(self.request(
                    "GET", f"{API_V1}/accounts/", params={"domain": name}, what=what, timeout=self.timeout_seconds * pages,
                ).content, object_pairs_hook=snapshot_fields)
            except ApiError as exc:
                if exc.status not in (404, 405):
                    raise
                body = None
            except ConnectorConfigError:
                body = None  # a proxy that lets only /api/v2 through: v2 answers, or says what is wrong
            if isinstance(body, list):
                return [row for row in body if isinstance(row, dict)]
            log.info("mail.v1_account_list_unavailable", url=self.url)
            self._v1_accounts = False
        return self.list_rows(f"{API}/accounts/", {"domain": str(pk)}, what=what, fields=snapshot_fields)

    def find_account(self, address: str) -> Row | None:
        rows = self.list_rows(f"{API}/accounts/", {"search": address}, what=f"find mailbox {address}")
        return next((row for row in rows if account_address(row) == address), None)

    def account(self, address: str) -> Row:
        found = self.find_account(address)
        if found is None:
            raise RecordError(f"no mailbox {address} in Modoboa", connector=CONNECTOR)
        return found

    def find_alias(self, address: str) -> Row | None:
        rows = self.list_rows(f"{API}/aliases/", {"search": address}, what=f"find alias {address}")
        return next((row for row in rows if str(row.get("address", "")).lower() == address), None)

    def list_rows(self, path: str, params: dict[str, str], *, what: str, fields: FieldFilter | None = None) -> list[Row]:
        """Every page of a list endpoint; read again when the list changed while it was read.

        `fields`: makes each JSON object of a page as it is parsed (json.loads' object_pairs_hook).
        """
        for _ in range(LIST_RETRIES):
            rows: list[Row] = []
            query = {**params, "page_size": str(self.page_size)}
            count: int | None = None
            consistent = True
            while True:
                body = json.loads(self.request("GET", path, params=query, what=what).content, object_pairs_hook=fields)
                if isinstance(body, list):  # an endpoint without pagination
                    return [row for row in body if isinstance(row, dict)]
                if count is None:
                    count = body.get("count")
                elif body.get("count") != count:
                    consistent = False
                    break
                rows.extend(row for row in body.get("results") or () if isinstance(row, dict))
                if isinstance(count, int) and len(rows) > count:
                    consistent = False
                    break
                following = body.get("next")
                if not following:
                    break
                # Only the query: `next` carries the Host the server saw, which a proxy may have changed.
                query = dict(parse_qsl(urlsplit(str(following)).query, keep_blank_values=True))
            if consistent and (count is None or len(rows) == count):
                return rows
        raise TransientError(f"{what}: the list kept changing while it was read", connector=CONNECTOR)

    # -- writing ------------------------------------------------------------

    def create_domain(self, name: str, default_quota_mb: int) -> bool:
        """False when the domain exists already."""
        body = {"name": name, "type": "domain", "quota": "0", "default_mailbox_quota": str(default_quota_mb)}
        try:
            self.request("POST", f"{API}/domains/", json=body, write=True, what=f"create domain {name}")
        except ApiError as exc:
            if exc.status == 400 and "already exists" in str(exc):
                return False
            raise
        return True

    def create_account(self, address: str, display_name: str, quota_mb: int, password: str) -> Row:
        """A SimpleUsers account with its mailbox; the row Modoboa answers."""
        body = {
            "username": address,
            "role": ROLE,
            "first_name": display_name,
            "last_name": "",
            "is_active": True,
            "password": password,
            "mailbox": {"use_domain_quota": False, "quota": str(quota_mb)},
        }
        what = f"create mailbox {address}"
        try:
            response = self.request("POST", f"{API}/accounts/", json=body, write=True, what=what, secrets=(password,))
        except ApiError as exc:
            text = str(exc).lower()
            if exc.status == 409 or (exc.status == 400 and "already" in text and ("username" in text or "mailbox" in text)):
                raise AlreadyExistsError(f"mailbox {address} already exists", connector=CONNECTOR) from exc
            if exc.status == 404 and "domain" in text:
                domain = address.partition("@")[2]
                raise RecordError(
                    f"{what}: domain {domain} does not exist in Modoboa (ensure_domains creates it)", connector=CONNECTOR
                ) from exc
            raise
        answer = response.json()
        return answer if isinstance(answer, dict) else {}

    def patch_account(self, account: Row, body: Row, *, what: str, secrets: Iterable[str] = ()) -> None:
        self.request("PATCH", f"{API}/accounts/{account['pk']}/", json=body, write=True, what=what, secrets=secrets)

    def delete_account(self, account: Row, *, keep_dir: bool, what: str) -> None:
        self.request(
            "POST",
            f"{API}/accounts/{account['pk']}/delete/",
            json={"keepdir": bool(keep_dir)},
            write=True,
            repeatable=True,  # a repeat after a lost answer is a 404: done
            accept=(404,),
            what=what,
        )

    def create_alias(
        self, address: str, recipients: list[str], *, what: str, expires: datetime | None = None, managed: bool = False,
        mail_list: bool = False,
    ) -> None:
        body: Row = {"address": address, "recipients": recipients, "enabled": True}
        if managed:
            body["description"] = managed_note(recipients, mail_list)
        if expires is not None:
            body["expire_at"] = expires.isoformat()
        try:
            self.request("POST", f"{API}/aliases/", json=body, write=True, what=what)
        except ApiError as exc:
            if exc.status == 400 and "already exists" in str(exc):
                raise AlreadyExistsError(f"{what}: alias {address} already exists", connector=CONNECTOR) from exc
            raise

    def patch_alias(self, alias: Row, recipients: list[str], *, enabled: bool, what: str, also: Row | None = None) -> None:
        # Always with the recipients: 2.12 answers 500 to a PATCH without them.
        body = {"recipients": recipients, "enabled": enabled, **(also or {})}
        self.request("PATCH", f"{API}/aliases/{alias['pk']}/", json=body, write=True, what=what)

    def delete_alias(self, alias: Row, *, what: str) -> None:
        self.request("DELETE", f"{API}/aliases/{alias['pk']}/", write=True, accept=(404,), what=what)
