"""The Modoboa mail backend (admin API v2, httpx): the MailBackend port for Modoboa 2.12.

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
  `inspect.stack()`), badges and its aliases, ~4 ms of server CPU per
  account.  The v1 list (`/api/v1/accounts/?domain=<name>`, unpaged, same
  account and mailbox fields, still served by 2.12) costs ~1 ms, so
  read_snapshot lists the accounts there, with the time budget that paging
  through v2 would have had (its count, read first, says how many pages),
  and falls back to v2's pages when v1 is absent (404/405, or 401/403 from
  a proxy that lets only v2 through).
- An account is a `core.User` (`username` = the address for SimpleUsers,
  `first_name`/`last_name`, `is_active`, `date_joined`, `last_login` (null
  until a login), `mailbox: {full_address, quota (MB, a string), use_domain_quota}`,
  `aliases`: the addresses of the visible aliases that point at it).
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

So this driver keeps delivery in its own hands with a *visible* self-alias:
restore() re-enables the account and the single-recipient aliases that point
at it, and makes sure an enabled alias at the mailbox's address lists the
mailbox itself (created when absent).  That is the representation Modoboa
itself uses for "forward and keep a copy", and what Postfix's alias map
(admin/postfix_maps.py AliasesMap) resolves.  set_forward() writes the
targets plus the mailbox itself; clear_forward() leaves only the mailbox
itself (delivery keeps working even after an earlier restore); suspend()
takes the mailbox out of its own forward, so a suspended mailbox receives
nothing while a forward set on purpose (a leaver's mail to a manager) goes on.
restore() also drops an expiry from that alias: a mailbox renamed back onto
its old address has taken over the transfer alias there, and once that
expired a mailbox that was ever suspended would get nothing.
rename_mailbox() takes the mailbox's own alias (its forward, its delivery)
along to the new address, so the old one is free for the expiring transfer
alias and no forward (a rehired leaver's to the manager) stays behind.

The aliases this driver makes (create_alias) carry `description`
"hr-lifecycle: <recipients>"; an alias is reported `managed` only while its
recipients are still those, so one an admin or the user made, or re-pointed
since, is never changed or removed by the daemon.

Writes are paced (a token bucket below `max_writes_per_second`, and all
requests below `max_requests_per_minute`: stock Modoboa throttles 5
writes/s per endpoint and 300 requests/min per user, 429 otherwise).
429/503 and connection failures are retried with tenacity (exponential
backoff, at least Retry-After, bounded in attempts and time); 502/504 and
timeouts are retried only for requests that are safe to repeat (GET, PATCH,
deletes), since a POST may have been applied.  Then TransientError.
401/403 -> ConnectorConfigError; other 4xx/5xx -> RecordError with the API's
message (AlreadyExistsError for a create whose target exists).  Messages
never contain the token or a password; no header is logged.
"""

from __future__ import annotations

import email.utils
import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, NamedTuple, Self
from urllib.parse import parse_qsl, urlsplit

import httpx
import structlog
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_after_delay

from lifecycle.domain.errors import AlreadyExistsError, ConnectorConfigError, RecordError, TransientError
from lifecycle.domain.mail import Alias, Mailbox, MailboxesBuilder, MailCapability, MailSnapshot
from lifecycle.domain.settings import MailSettings

log = structlog.get_logger(__name__)

CONNECTOR = "mail"
API = "/api/v2"
API_V1 = "/api/v1"  # only for the account list (see the module doc)
ROLE = "SimpleUsers"
MAX_MESSAGE = 500
MANAGED_MARK = "hr-lifecycle"  # the start of the description of the aliases this driver makes
_LIST_RETRIES = 3

CAPABILITIES = frozenset(
    {
        MailCapability.FORWARD_KEEPS_COPY,
        MailCapability.ALIASES,
        MailCapability.LAST_LOGIN,
        MailCapability.QUOTA,
        MailCapability.DISPLAY_NAME,
        MailCapability.CREATE_DOMAIN,
    }
)
"""Modoboa 2.12 without Dovecot access: no SUSPEND_KEEPS_DELIVERY (suspension
bounces mail), no FORWARD_WITHOUT_COPY (the admin API cannot disable the hidden
self-alias), no AUTO_REPLY/EXPORT/KICK_SESSIONS (they need Dovecot).
LAST_LOGIN is Modoboa's `last_login`: web logins, and IMAP logins where
Dovecot's post-login script of Modoboa's installer updates it."""


# The driver takes `[mail]` as it is: one definition of the keys, in lifecycle/domain/settings.py.
ModoboaSettings = MailSettings


class ModoboaApiError(RecordError):
    """The API refused one request (4xx/5xx other than auth and transient ones)."""

    def __init__(self, message: str, *, status: int, payload: Any) -> None:
        super().__init__(message, connector=CONNECTOR)
        self.status = status
        self.payload = payload


class _Retryable(TransientError):
    """A transient failure after which repeating the request is safe."""


class TokenBucket:
    """`rate` tokens per second, at most `capacity` saved up; take() sleeps until one is there."""

    def __init__(
        self,
        rate: float,
        capacity: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("rate must be > 0 and capacity >= 1")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._sleep = sleep
        self._tokens = capacity
        self._stamp = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Take one token; returns the seconds slept for it."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            delay = 0.0
            if self._tokens < 1:
                delay = (1 - self._tokens) / self.rate
                self._sleep(delay)
                self._tokens = 1.0
                self._stamp = now + delay
            self._tokens -= 1
            return delay


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _describe(payload: Any) -> str:
    """DRF / Modoboa error bodies: {"detail": ..}, {"error": ..}, {"field": [msgs]}, [msgs]."""
    if isinstance(payload, dict):
        if set(payload) == {"detail"} or set(payload) == {"error"}:
            return _describe(next(iter(payload.values())))
        return "; ".join(f"{key}: {_describe(value)}" for key, value in payload.items())
    if isinstance(payload, list):
        return " ".join(_describe(item) for item in payload)
    return str(payload)


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


class _Shared:
    """One object per distinct display name, quota and timestamp text in a snapshot (100k
    mailboxes: names and bulk-created timestamps repeat)."""

    __slots__ = ("_texts", "_numbers", "_times")

    def __init__(self) -> None:
        self._texts: dict[str, str] = {}
        self._numbers: dict[int, int] = {}
        self._times: dict[Any, datetime | None] = {}

    def text(self, value: str) -> str:
        return self._texts.setdefault(value, value)

    def number(self, value: int) -> int:
        return self._numbers.setdefault(value, value)

    def time(self, value: Any) -> datetime | None:
        if not value:
            return None
        key = str(value)
        if key not in self._times:
            self._times[key] = _parse_time(key)
        return self._times[key]


# The fields a snapshot reads of a listed account, its mailbox and an alias, and of a page: the rest
# (roles, limits, flags...) is dropped while the JSON is parsed.  A 100k listing is ~60 MB of JSON.
_SNAPSHOT_FIELDS = frozenset({
    "count", "next", "results", "username", "first_name", "last_name", "is_active", "last_login", "date_joined",
    "mailbox", "full_address", "quota", "address", "enabled", "recipients", "expire_at", "description",
})


def _snapshot_fields(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return {key: value for key, value in pairs if key in _SNAPSHOT_FIELDS}


def managed_note(recipients: Iterable[str]) -> str:
    """The description of an alias this driver makes: the mark and the recipients it was made with."""
    return f"{MANAGED_MARK}: {', '.join(sorted(recipients))}"


class _AliasRow(NamedTuple):
    delivers: bool  # enabled and not expired
    recipients: list[str]  # lower case
    managed: bool
    expires: datetime | None


def _alias_row(row: dict[str, Any], now: datetime) -> _AliasRow:
    recipients = [str(r).lower() for r in row.get("recipients") or ()]
    expires = _parse_time(row.get("expire_at"))
    delivers = bool(row.get("enabled")) and (expires is None or expires > now)
    return _AliasRow(delivers, recipients, row.get("description") == managed_note(recipients), expires)


def _quota(value: Any) -> int:
    try:
        return int(str(value).strip() or 0)
    except ValueError:
        return 0


def _address(value: str) -> str:
    address = value.strip().lower()
    local, sep, domain = address.partition("@")
    if not sep or not local or not domain or "@" in domain:
        raise RecordError(f"{value!r} is not an e-mail address", connector=CONNECTOR)
    return address


def _domain_of(address: str) -> str:
    return address.partition("@")[2]


class ModoboaBackend:
    """MailBackend for Modoboa 2.12 over its admin API v2.  Thread-safe (httpx.Client is)."""

    def __init__(
        self,
        settings: ModoboaSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        assert settings.token is not None  # the settings validator guarantees it
        self._token = settings.token.get_secret_value()
        self._sleep = sleep
        self._v1_accounts = True  # until v1 says it is not there
        self._writes = TokenBucket(settings.max_writes_per_second, 1.0, sleep=sleep)
        self._requests = TokenBucket(
            settings.max_requests_per_minute / 60.0, max(1.0, settings.max_requests_per_minute / 10.0), sleep=sleep
        )
        self._client = httpx.Client(
            base_url=settings.url,
            headers={"Authorization": f"Token {self._token}", "Accept": "application/json"},
            timeout=settings.timeout_seconds,
            verify=settings.verify_tls,
            transport=transport,
            follow_redirects=False,
        )

    # -- context ------------------------------------------------------------

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # -- the port -----------------------------------------------------------

    def capabilities(self) -> frozenset[MailCapability]:
        return CAPABILITIES

    def check(self) -> list[str]:
        """Reachable, token valid, and a SuperAdmins token (domains are created with it)."""
        try:
            me = self._request("GET", f"{API}/account/me/", what="check the API token").json()
        except (TransientError, ConnectorConfigError, RecordError) as exc:
            return [str(exc)]
        problems: list[str] = []
        role = me.get("role") if isinstance(me, dict) else None
        if role != "SuperAdmins":
            problems.append(
                f"the Modoboa token belongs to {me.get('username', '?') if isinstance(me, dict) else '?'} "
                f"with role {role!r}: use a token of a SuperAdmins account (domains cannot be created otherwise)"
            )
        return problems

    def ensure_domains(self, domains: Sequence[str]) -> list[str]:
        wanted = sorted({d.strip().lower() for d in domains if d.strip()})
        existing = set(self._domain_ids())
        created: list[str] = []
        for name in wanted:
            if name in existing:
                continue
            body = {"name": name, "type": "domain", "quota": "0", "default_mailbox_quota": str(self.settings.default_quota_mb)}
            try:
                self._request("POST", f"{API}/domains/", json=body, write=True, what=f"create domain {name}")
            except ModoboaApiError as exc:
                if exc.status == 400 and "already exists" in str(exc):
                    continue
                raise
            log.info("mail.domain_created", domain=name)
            created.append(name)
        return created

    def read_snapshot(self, domains: Sequence[str]) -> MailSnapshot:
        wanted = sorted({d.strip().lower() for d in domains if d.strip()})
        ids = self._domain_ids()
        present = [name for name in wanted if name in ids]
        mailboxes = MailboxesBuilder()
        aliases: list[Alias] = []
        shared = _Shared()
        for name in present:
            # Each list is reduced to what the snapshot keeps before the next is read: a big
            # domain's rows are tens of MB as parsed JSON.
            alias_rows = self._list(f"{API}/aliases/", {"domain": name}, what=f"list the aliases of {name}", fields=_snapshot_fields)
            now = datetime.now(UTC)
            by_address = {str(row.get("address", "")).lower(): _alias_row(row, now) for row in alias_rows}
            del alias_rows
            accounts = self._list_accounts(name, ids[name])
            addresses: set[str] = set()
            for account in accounts:
                address = self._account_address(account)
                if address is None:
                    continue
                addresses.add(address)
                mailboxes.add(self._mailbox(account, by_address.get(address), shared))
            del accounts
            mailboxes.flush()
            for address, row in by_address.items():
                if address in addresses:
                    continue  # the mailbox's forward / self-alias, reported on the mailbox
                aliases.append(Alias(address=address, recipients=tuple(sorted(row.recipients)), is_active=row.delivers,
                                     managed=row.managed, expires=row.expires))
        return MailSnapshot(
            mailboxes=mailboxes.build(),
            aliases=tuple(sorted(aliases, key=lambda a: a.address)),
            domains=tuple(present),
        )

    def find_mailbox(self, address: str) -> Mailbox | None:
        address = _address(address)
        account = self._find_account(address)
        if account is None:
            return None
        own = self._find_alias(address)
        return self._mailbox(account, _alias_row(own, datetime.now(UTC)) if own is not None else None)

    def find_alias(self, address: str) -> Alias | None:
        address = _address(address)
        row = self._find_alias(address)
        if row is None:
            return None
        found = _alias_row(row, datetime.now(UTC))
        return Alias(address, tuple(sorted(found.recipients)), found.delivers, found.managed, found.expires)

    def create_mailbox(self, address: str, display_name: str, quota_mb: int | None, password: str) -> Mailbox:
        address = _address(address)
        if self._find_account(address) is not None:
            raise AlreadyExistsError(f"mailbox {address} already exists", connector=CONNECTOR)
        quota = self.settings.default_quota_mb if quota_mb is None else quota_mb
        if quota < 0:
            raise RecordError(f"create mailbox {address}: quota {quota} MB is negative", connector=CONNECTOR)
        body = {
            "username": address,
            "role": ROLE,
            "first_name": display_name,
            "last_name": "",
            "is_active": True,
            "password": password,
            "mailbox": {"use_domain_quota": False, "quota": str(quota)},
        }
        try:
            response = self._request(
                "POST", f"{API}/accounts/", json=body, write=True, what=f"create mailbox {address}", secrets=(password,)
            )
        except ModoboaApiError as exc:
            text = str(exc).lower()
            if exc.status == 409 or (exc.status == 400 and "already" in text and ("username" in text or "mailbox" in text)):
                raise AlreadyExistsError(f"mailbox {address} already exists", connector=CONNECTOR) from exc
            if exc.status == 404 and "domain" in text:
                raise RecordError(
                    f"create mailbox {address}: domain {_domain_of(address)} does not exist in Modoboa (ensure_domains creates it)",
                    connector=CONNECTOR,
                ) from exc
            raise
        log.info("mail.mailbox_created", address=address)
        account = response.json()
        return Mailbox(
            address=address,
            display_name=self._display_name(account),
            quota_mb=_quota((account.get("mailbox") or {}).get("quota", quota)),
            is_active=bool(account.get("is_active", True)),
            last_login=_parse_time(account.get("last_login")),
            created=_parse_time(account.get("date_joined")),
        )

    def update_mailbox(self, address: str, *, display_name: str | None = None, quota_mb: int | None = None) -> None:
        address = _address(address)
        body: dict[str, Any] = {}
        if display_name is not None:
            body.update({"first_name": display_name, "last_name": ""})
        if quota_mb is not None:
            if quota_mb < 0:
                raise RecordError(f"update mailbox {address}: quota {quota_mb} MB is negative", connector=CONNECTOR)
            body["mailbox"] = {"use_domain_quota": False, "quota": str(quota_mb)}
        if not body:
            return
        account = self._account(address)
        self._patch_account(account, body, what=f"update mailbox {address}")
        log.info("mail.mailbox_updated", address=address, fields=sorted(body))

    def suspend(self, address: str) -> None:
        address = _address(address)
        account = self._account(address)
        if account.get("is_active", True):
            self._patch_account(account, {"is_active": False}, what=f"suspend {address}")
        own = self._find_alias(address)
        if own is not None:
            recipients = self._recipients(own)
            if address in recipients and len(recipients) > 1:
                # A forward goes on; the suspended mailbox itself gets nothing.
                self._patch_alias(own, [r for r in recipients if r != address], enabled=True, what=f"suspend {address}")
        log.info("mail.suspended", address=address)

    def restore(self, address: str) -> None:
        address = _address(address)
        account = self._account(address)
        if not account.get("is_active", False):
            self._patch_account(account, {"is_active": True}, what=f"restore {address}")
        for alias_address in sorted({str(a).lower() for a in account.get("aliases") or ()} - {address}):
            alias = self._find_alias(alias_address)
            if alias is None or alias.get("enabled"):
                continue
            if self._recipients(alias) == [address]:
                self._patch_alias(alias, [address], enabled=True, what=f"restore {address}: re-enable alias {alias_address}")
        self._ensure_self_delivery(address)
        log.info("mail.restored", address=address)

    def set_password(self, address: str, password: str) -> None:
        address = _address(address)
        account = self._account(address)
        self._patch_account(account, {"password": password}, what=f"set the password of {address}", secrets=(password,))
        log.info("mail.password_set", address=address)

    def set_forward(self, address: str, recipients: Sequence[str], keep_copy: bool | None = None) -> None:
        """Forward the address; the mailbox keeps a copy when `keep_copy` (default: while it is active).

        A suspended mailbox that keeps a copy still receives (Dovecot delivers to it), so its
        sieve auto-reply answers the senders.
        """
        address = _address(address)
        targets = sorted({_address(r) for r in recipients} - {address})
        if not targets:
            raise RecordError(
                f"forward {address}: no recipient other than itself (clear_forward removes a forward)", connector=CONNECTOR
            )
        account = self._account(address)
        copy = account.get("is_active", False) if keep_copy is None else keep_copy
        wanted = targets + ([address] if copy else [])
        own = self._find_alias(address)
        what = f"forward {address}"
        if own is None:
            self._create_alias_row(address, wanted, what=what)
        elif sorted(self._recipients(own)) != sorted(wanted) or not own.get("enabled"):
            self._patch_alias(own, wanted, enabled=True, what=what)
        log.info("mail.forward_set", address=address, recipients=targets)

    def clear_forward(self, address: str) -> None:
        address = _address(address)
        own = self._find_alias(address)
        if own is None:
            return
        account = self._account(address)
        if account.get("is_active", False):
            # Only the mailbox itself: mail keeps arriving even if Modoboa's
            # hidden self-alias was left disabled by an earlier suspension.
            if self._recipients(own) != [address] or not own.get("enabled"):
                self._patch_alias(own, [address], enabled=True, what=f"clear the forward of {address}")
        else:
            self._delete_alias_row(own, what=f"clear the forward of {address}")
        log.info("mail.forward_cleared", address=address)

    def create_alias(self, address: str, recipients: Sequence[str], expires: datetime | None = None) -> None:
        """A managed alias; with `expires`, Modoboa stops delivering through it after that instant.

        An alias already at the address with these recipients becomes this one, expiry included: a rename leaves
        the mailbox's own alias at the old address, to the new one and without an expiry, where the transfer
        alias is planned.
        """
        address = _address(address)
        targets = sorted({_address(r) for r in recipients})
        what = f"create alias {address}"
        if not targets:
            raise RecordError(f"{what}: no recipient", connector=CONNECTOR)
        existing = self._find_alias(address)
        if existing is not None and sorted(self._recipients(existing)) != targets:
            raise AlreadyExistsError(f"alias {address} already exists", connector=CONNECTOR)
        if self._find_account(address) is not None:
            raise RecordError(f"{what}: a mailbox has that address (use set_forward)", connector=CONNECTOR)
        if existing is None:
            self._create_alias_row(address, targets, what=what, expires=expires, managed=True)
        else:
            self._patch_alias(existing, targets, enabled=True, what=what, also={
                "expire_at": expires.isoformat() if expires is not None else None, "description": managed_note(targets)})
        log.info("mail.alias_created", address=address, recipients=targets, expires=expires.isoformat() if expires else None)

    def rename_mailbox(self, address: str, new_address: str) -> None:
        """Move a mailbox to a new address (a branch transfer); Modoboa moves the mail with it.

        Its own alias (its forward, or the delivery restore() sets up) goes with it: Modoboa leaves it at the old
        address, where it would forward for ever in place of the expiring transfer alias.  An alias already at the
        new address becomes the mailbox's own: the moved recipients are added and its expiry is dropped.
        """
        address, new_address = _address(address), _address(new_address)
        what = f"rename mailbox {address} to {new_address}"
        if self._find_account(new_address) is None or self._find_account(address) is not None:
            account = self._account(address)
            own = self._find_alias(address)  # while the mailbox is there, the alias at its address is its own
            self._patch_account(account, {"username": new_address}, what=what)
            log.info("mail.mailbox_renamed", address=address, new_address=new_address)
        else:
            # Renamed already by an interrupted run: its own alias is the one re-linked to it, unless it is ours.
            own = self._find_alias(address)
            if own is not None and (new_address not in self._recipients(own) or _alias_row(own, datetime.now(UTC)).managed):
                own = None
        if own is None:
            return
        left = self._find_alias(address)  # as the rename left it: recipients re-linked to the new address
        if left is None or left.get("pk") != own.get("pk"):
            return
        found = _alias_row(left, datetime.now(UTC))
        if not left.get("enabled"):
            self._delete_alias_row(left, what=f"{what}: its disabled alias")  # restore() sets delivery up again
            return
        here = self._find_alias(new_address)
        if here is None:
            self._create_alias_row(new_address, found.recipients, what=f"{what}: its forward")
        else:
            kept = _alias_row(here, datetime.now(UTC))
            merged = sorted(set(kept.recipients if kept.delivers else ()) | set(found.recipients))
            self._patch_alias(here, merged, enabled=True, what=f"{what}: its forward", also={"expire_at": None})
        self._delete_alias_row(left, what=f"{what}: its forward at the old address")

    def delete_alias(self, address: str, recipients: Sequence[str] | None = None) -> None:
        address = _address(address)
        what = f"delete alias {address}"
        alias = self._find_alias(address)
        if alias is None:
            return
        if self._find_account(address) is not None:
            raise RecordError(f"{what}: it is a mailbox's forward (use clear_forward)", connector=CONNECTOR)
        if recipients is not None:
            expected = sorted({_address(r) for r in recipients})
            found = _alias_row(alias, datetime.now(UTC))
            if sorted(found.recipients) != expected or not found.managed:
                # Someone changed it since the plan read it: it is theirs now.
                raise RecordError(f"{what}: it was changed (recipients {', '.join(found.recipients) or 'none'}) since "
                                  f"the plan, which expected this daemon's alias to {', '.join(expected)}: left as it is",
                                  connector=CONNECTOR)
        self._delete_alias_row(alias, what=what)
        log.info("mail.alias_deleted", address=address)

    def delete_mailbox(self, address: str, keep_dir: bool = True) -> None:
        """Delete the account and mailbox (and every alias with its address); absent is fine."""
        address = _address(address)
        account = self._find_account(address)
        if account is None:
            return
        self._request(
            "POST",
            f"{API}/accounts/{account['pk']}/delete/",
            json={"keepdir": bool(keep_dir)},
            write=True,
            repeatable=True,  # a repeat after a lost answer is a 404: done
            accept=(404,),
            what=f"delete mailbox {address}",
        )
        log.info("mail.mailbox_deleted", address=address, keep_dir=keep_dir)

    # -- reading ------------------------------------------------------------

    def _domain_ids(self) -> dict[str, int]:
        rows = self._list(f"{API}/domains/", {}, what="list domains")
        return {str(row["name"]).lower(): int(row["pk"]) for row in rows if "name" in row and "pk" in row}

    def _list_accounts(self, name: str, pk: int) -> list[dict[str, Any]]:
        """The accounts of one domain, with the snapshot's fields only: v1's unpaged list (one query, so
        consistent by itself), else v2's pages."""
        what = f"list the accounts of {name}"
        if self._v1_accounts:
            head = self._request("GET", f"{API}/accounts/", params={"domain": str(pk), "page_size": "1"}, what=what).json()
            count = head.get("count") if isinstance(head, dict) else None
            pages = -(-count // self.settings.page_size) if isinstance(count, int) and count > 0 else 1
            try:
                body = json.loads(self._request(
                    "GET", f"{API_V1}/accounts/", params={"domain": name}, what=what,
                    timeout=self.settings.timeout_seconds * pages,
                ).content, object_pairs_hook=_snapshot_fields)
            except ModoboaApiError as exc:
                if exc.status not in (404, 405):
                    raise
                body = None
            except ConnectorConfigError:
                body = None  # a proxy that lets only /api/v2 through: v2 answers, or says what is wrong
            if isinstance(body, list):
                return [row for row in body if isinstance(row, dict)]
            log.info("mail.v1_account_list_unavailable", url=self.settings.url)
            self._v1_accounts = False
        return self._list(f"{API}/accounts/", {"domain": str(pk)}, what=what, fields=_snapshot_fields)

    def _find_account(self, address: str) -> dict[str, Any] | None:
        rows = self._list(f"{API}/accounts/", {"search": address}, what=f"find mailbox {address}")
        for row in rows:
            if self._account_address(row) == address:
                return row
        return None

    def _account(self, address: str) -> dict[str, Any]:
        account = self._find_account(address)
        if account is None:
            raise RecordError(f"no mailbox {address} in Modoboa", connector=CONNECTOR)
        return account

    def _find_alias(self, address: str) -> dict[str, Any] | None:
        rows = self._list(f"{API}/aliases/", {"search": address}, what=f"find alias {address}")
        for row in rows:
            if str(row.get("address", "")).lower() == address:
                return row
        return None

    @staticmethod
    def _account_address(account: dict[str, Any]) -> str | None:
        mailbox = account.get("mailbox")
        if not isinstance(mailbox, dict):
            return None
        address = mailbox.get("full_address") or account.get("username")
        return str(address).lower() if address else None

    @staticmethod
    def _display_name(account: dict[str, Any]) -> str:
        return " ".join(part for part in (account.get("first_name") or "", account.get("last_name") or "") if part)

    @staticmethod
    def _recipients(alias: dict[str, Any]) -> list[str]:
        return [str(r).lower() for r in alias.get("recipients") or ()]

    def _mailbox(self, account: dict[str, Any], own_alias: _AliasRow | None, shared: _Shared | None = None) -> Mailbox:
        """`own_alias`: the visible alias at the mailbox's address, if any."""
        shared = shared if shared is not None else _Shared()
        address = self._account_address(account) or ""
        forward_to: tuple[str, ...] = ()
        keeps_copy = False
        if own_alias is not None and own_alias.delivers:
            recipients = own_alias.recipients
            forward_to = tuple(sorted(r for r in recipients if r != address))
            keeps_copy = bool(forward_to) and address in recipients
        mailbox = account.get("mailbox") or {}
        return Mailbox(
            address=address,
            display_name=shared.text(self._display_name(account)),
            quota_mb=shared.number(_quota(mailbox.get("quota"))),
            is_active=bool(account.get("is_active")),
            last_login=shared.time(account.get("last_login")),
            created=shared.time(account.get("date_joined")),
            forward_to=forward_to,
            forward_keeps_copy=keeps_copy,
        )

    def _list(
        self, path: str, params: dict[str, str], *, what: str,
        fields: Callable[[list[tuple[str, Any]]], dict[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """Every page of a list endpoint; re-read when the list changed while it was read.

        `fields`: makes each JSON object of a page as it is parsed (`json.loads`' object_pairs_hook).
        """
        for _ in range(_LIST_RETRIES):
            rows: list[dict[str, Any]] = []
            query = {**params, "page_size": str(self.settings.page_size)}
            count: int | None = None
            consistent = True
            while True:
                body = json.loads(self._request("GET", path, params=query, what=what).content, object_pairs_hook=fields)
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

    def _patch_account(self, account: dict[str, Any], body: dict[str, Any], *, what: str, secrets: Iterable[str] = ()) -> None:
        self._request(
            "PATCH", f"{API}/accounts/{account['pk']}/", json=body, write=True, repeatable=True, what=what, secrets=secrets
        )

    def _patch_alias(
        self, alias: dict[str, Any], recipients: list[str], *, enabled: bool, what: str, also: dict[str, Any] | None = None
    ) -> None:
        # Always with the recipients: 2.12 answers 500 to a PATCH without them.
        body = {"recipients": recipients, "enabled": enabled, **(also or {})}
        self._request("PATCH", f"{API}/aliases/{alias['pk']}/", json=body, write=True, repeatable=True, what=what)

    def _create_alias_row(
        self, address: str, recipients: list[str], *, what: str, expires: datetime | None = None, managed: bool = False
    ) -> None:
        body: dict[str, Any] = {"address": address, "recipients": recipients, "enabled": True}
        if managed:
            body["description"] = managed_note(recipients)
        if expires is not None:
            body["expire_at"] = expires.isoformat()
        try:
            self._request("POST", f"{API}/aliases/", json=body, write=True, what=what)
        except ModoboaApiError as exc:
            if exc.status == 400 and "already exists" in str(exc):
                raise AlreadyExistsError(f"{what}: alias {address} already exists", connector=CONNECTOR) from exc
            raise

    def _delete_alias_row(self, alias: dict[str, Any], *, what: str) -> None:
        self._request("DELETE", f"{API}/aliases/{alias['pk']}/", write=True, repeatable=True, accept=(404,), what=what)

    def _ensure_self_delivery(self, address: str) -> None:
        """An enabled visible alias at the address that lists the mailbox itself (see the module doc)."""
        own = self._find_alias(address)
        what = f"restore {address}: self-alias"
        if own is None:
            self._create_alias_row(address, [address], what=what)
            return
        recipients = self._recipients(own)
        # An expiry would end delivery: a mailbox renamed back onto its old address has the transfer alias there
        # as its own, and once a suspension disabled Modoboa's hidden self-alias nothing else delivers to it.
        if address not in recipients or not own.get("enabled") or own.get("expire_at"):
            self._patch_alias(own, sorted(set(recipients) | {address}), enabled=True, what=what, also={"expire_at": None})

    # -- HTTP ---------------------------------------------------------------

    def _scrub(self, text: str, secrets: Iterable[str] = ()) -> str:
        for secret in (self._token, *secrets):
            if secret:
                text = text.replace(secret, "********")
        return text

    def _request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: dict[str, str] | None = None,
        json: Any = None,
        write: bool = False,
        repeatable: bool | None = None,
        accept: tuple[int, ...] = (),
        secrets: Iterable[str] = (),
        timeout: float | None = None,
    ) -> httpx.Response:
        """One API call with pacing, retries and the error mapping (`timeout`: this one's, else the setting's)."""
        secrets = tuple(secrets)
        if repeatable is None:
            repeatable = method in ("GET", "HEAD", "PUT", "PATCH", "DELETE")
        settings = self.settings

        def attempt() -> httpx.Response:
            if write:
                self._writes.take()
            self._requests.take()
            return self._send(
                method, path, what=what, params=params, json=json, repeatable=repeatable, accept=accept, secrets=secrets,
                timeout=timeout,
            )

        def retryable(exc: BaseException) -> bool:
            if not isinstance(exc, _Retryable):
                return False
            return exc.retry_after is None or exc.retry_after <= settings.max_retry_seconds

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome is not None else None
            backoff = min(30.0, settings.backoff_seconds * 2.0 ** (state.attempt_number - 1)) * (1 + random.random() * 0.25)
            retry_after = exc.retry_after if isinstance(exc, TransientError) else None
            delay = max(backoff, retry_after) if retry_after is not None else backoff
            log.warning("mail.retry", what=what, attempt=state.attempt_number, wait_seconds=round(delay, 2), error=str(exc))
            return delay

        retrying = Retrying(
            retry=retry_if_exception(retryable),
            stop=stop_after_attempt(settings.max_attempts) | stop_after_delay(settings.max_retry_seconds),
            wait=wait,
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except _Retryable as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            raise TransientError(
                f"{exc} (gave up after {attempts} attempt{'s' if attempts != 1 else ''})",
                connector=CONNECTOR,
                retry_after=exc.retry_after,
            ) from exc

    def _send(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: dict[str, str] | None,
        json: Any,
        repeatable: bool,
        accept: tuple[int, ...],
        secrets: tuple[str, ...],
        timeout: float | None = None,
    ) -> httpx.Response:
        where = f"Modoboa {self.settings.url}"
        # The httpx errors below are re-raised `from None`: their text may hold a secret of the request
        # (a password in the body), which the message carries scrubbed; a chained cause would print it unscrubbed.
        try:
            response = self._client.request(
                method, path, params=params, json=json, timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # Nothing reached the server: always safe to try again.
            raise _Retryable(self._scrub(f"{what}: {where} is unreachable: {exc}", secrets), connector=CONNECTOR) from None
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            message = self._scrub(f"{what}: {where} did not answer: {type(exc).__name__} {exc}", secrets)
            if repeatable:
                raise _Retryable(message, connector=CONNECTOR) from None
            raise TransientError(message + " (it may have been applied; the next cycle re-reads)", connector=CONNECTOR) from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise ConnectorConfigError(
                self._scrub(f"{what}: mail url {self.settings.url!r}: {exc}", secrets), connector=CONNECTOR
            ) from None
        except httpx.HTTPError as exc:
            raise TransientError(
                self._scrub(f"{what}: {where}: {type(exc).__name__} {exc}", secrets), connector=CONNECTOR
            ) from None
        status = response.status_code
        if 200 <= status < 300 or status in accept:
            return response
        try:
            payload: Any = response.json()
            detail = _describe(payload)
        except ValueError:
            payload = None
            detail = response.reason_phrase or ""
        detail = self._scrub(detail, secrets)[:MAX_MESSAGE]
        message = f"{what}: HTTP {status} {detail}".rstrip()
        if status in (429, 503):
            raise _Retryable(message, connector=CONNECTOR, retry_after=_retry_after(response))
        if status in (502, 504):
            if repeatable:
                raise _Retryable(message, connector=CONNECTOR, retry_after=_retry_after(response))
            raise TransientError(message + " (it may have been applied; the next cycle re-reads)", connector=CONNECTOR)
        if status in (401, 403):
            raise ConnectorConfigError(
                f"{message}: check the Modoboa API token (a SuperAdmins account's) in [mail] token_file", connector=CONNECTOR
            )
        raise ModoboaApiError(message, status=status, payload=payload)
