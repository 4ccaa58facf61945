"""One HR SaaS API as the REST presets call it: token, retries, the vendor's answers made into data or errors.

`RestClient.call()` is one API call:

- The access token is fetched when first needed and kept until shortly before it expires (a tenth of
  its life, at most 5 minutes, early); an answer saying it is expired or invalid fetches a new one
  and repeats the call once.  A second such answer is an error (the secret or the app's rights).
- A rate-limit or busy answer (the vendor's code, HTTP 429/5xx, a connection that failed) is retried
  with tenacity, at most `max_retries` times, after the wait the vendor asks for (Retry-After, Feishu's
  x-ogw-ratelimit-reset) or else an exponential backoff; a wait longer than `max_wait_seconds` is not
  waited for.  The sleep is injectable (tests).
- Every other refusal is a `RestError` naming the vendor's code and message and a fix.
- Secrets (the app secret, the access token) are scrubbed from every message; the httpx error is
  never chained when its text held one.  Vendors that take the token in the query string (DingTalk,
  WeCom) put it in URLs: httpx logs URLs at INFO only (the root logger's default level is WARNING).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, quote_plus

import httpx
import structlog
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from connectors.http import MASK, retry_after

__all__ = ["Answer", "RestClient", "RestError", "TokenCache", "Vendor"]

log = structlog.get_logger(__name__)

MAX_MESSAGE = 300
FIRST_BACKOFF_SECONDS = 1.0


class RestError(Exception):
    """The vendor refused a call (or could not be reached after the retries): the message says why and the fix."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Answer:
    """What a vendor makes of one HTTP answer."""

    data: Any = None
    ok: bool = True
    code: str = ""
    message: str = ""
    token_invalid: bool = False
    busy: bool = False  # rate limited or busy: worth another try
    wait: float | None = None  # seconds the vendor asked to wait
    fix: str = ""

    @classmethod
    def refused(cls, code: object, message: object, *, fix: str = "", token_invalid: bool = False, busy: bool = False,
                wait: float | None = None) -> Answer:
        return cls(None, False, str(code), str(message), token_invalid, busy, wait, fix)


@dataclass(slots=True)
class Request:
    """One call as a vendor shapes it (the token is added by `Vendor.authorize`)."""

    method: str
    url: str
    params: dict[str, str] = field(default_factory=dict)
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] | None = None  # sent as application/x-www-form-urlencoded


class Vendor(Protocol):
    """A vendor's protocol: how a token is fetched and carried, and what an answer means."""

    name: str

    def token_request(self) -> Request | None:
        """The call that fetches a token; None when the token needs no call (a static one)."""
        ...

    def token_from(self, data: Any) -> tuple[str, float]:
        """The token and its lifetime in seconds, from the token endpoint's data (None: no call was made)."""
        ...

    def authorize(self, request: Request, token: str) -> None: ...

    def interpret(self, response: httpx.Response) -> Answer: ...


class TokenCache:
    """The access token, kept until shortly before it expires."""

    def __init__(self, fetch: Callable[[], tuple[str, float]], clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._clock = clock
        self._token = ""
        self._until = 0.0
        self._lock = threading.Lock()
        self.fetched = 0  # how many tokens were fetched (tests)

    def get(self) -> str:
        with self._lock:
            if not self._token or self._clock() >= self._until:
                token, lifetime = self._fetch()
                margin = min(300.0, lifetime / 10)
                self._token, self._until = token, self._clock() + max(0.0, lifetime - margin)
                self.fetched += 1
            return self._token

    def invalidate(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = ""

    @property
    def current(self) -> str:
        return self._token


class _Busy(Exception):
    def __init__(self, message: str, wait: float | None) -> None:
        super().__init__(message)
        self.wait = wait


def _written_forms(secret: str) -> set[str]:
    """A secret as a message may quote it: as is, escaped like a str's repr, or percent-encoded in a URL (as httpx
    sends it, or another client would)."""
    if not secret:
        return set()
    sent = httpx.URL("http://h/", params={"s": secret}).query.decode()[2:]
    return {secret, secret.encode("unicode_escape").decode("ascii"), sent, quote(secret, safe=""), quote(secret),
            quote_plus(secret)}


class RestClient:
    """One vendor's API: `call()` returns the answer's data or raises `RestError` (see the module doc)."""

    def __init__(
        self,
        vendor: Vendor,
        *,
        base_url: str,
        secrets: Iterable[str],
        timeout: float,
        max_retries: int,
        max_wait_seconds: float,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.vendor = vendor
        self.max_retries = max_retries
        self.max_wait_seconds = max_wait_seconds
        self._secrets = {form for secret in secrets for form in _written_forms(secret)}
        self._sleep = sleep
        self._client = httpx.Client(base_url=base_url, timeout=timeout, transport=transport, follow_redirects=False)
        self.tokens = TokenCache(self._fetch_token, clock)
        self.calls = 0  # HTTP requests sent (tests, logs)

    def close(self) -> None:
        self._client.close()

    @property
    def closed(self) -> bool:
        return self._client.is_closed

    def _scrub(self, text: str) -> str:
        forms = self._secrets | _written_forms(self.tokens.current)
        for secret in sorted(forms, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return text

    def call(self, request: Request, *, what: str, authorized: bool = True) -> Any:
        """The data of the vendor's answer to `request`; `RestError` when it refuses or cannot be reached."""
        retrying = Retrying(
            retry=retry_if_exception_type(_Busy),
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            before_sleep=lambda state: self._announce(state, what),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(self._authorized_attempt if authorized else self._attempt, request, what)
        except _Busy as exc:
            attempts = self.max_retries + 1
            raise RestError(f"{self.vendor.name} {what}: {exc} (gave up after {attempts} attempts); fix: try again "
                            "later, or raise [hr.rest] max_retries") from exc  # its text is scrubbed, and it has no cause

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        asked = exc.wait if isinstance(exc, _Busy) else None
        return asked if asked is not None else FIRST_BACKOFF_SECONDS * 2.0 ** (state.attempt_number - 1)

    def _announce(self, state: RetryCallState, what: str) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning("hr_rest.retry", vendor=self.vendor.name, what=what, attempt=state.attempt_number,
                    wait_seconds=round(delay, 2), error=str(exc))

    def _authorized_attempt(self, request: Request, what: str) -> Any:
        for renewed in (False, True):
            token = self.tokens.get()
            sent = Request(request.method, request.url, dict(request.params), request.json, dict(request.headers),
                           request.form)
            self.vendor.authorize(sent, token)
            answer = self._answer(sent, what)
            if not answer.token_invalid:
                return self._data(answer, what)
            self.tokens.invalidate(token)
            if renewed:
                break
            log.info("hr_rest.token_renewed", vendor=self.vendor.name, what=what, code=answer.code)
        raise RestError(
            self._scrub(f"{self.vendor.name} {what}: the access token was refused twice (error {answer.code}: "
                       f"{answer.message[:MAX_MESSAGE]}); fix: check [hr.rest] app_id and the app secret, and that the "
                       "app is enabled"),
            code=answer.code,
        )

    def _attempt(self, request: Request, what: str) -> Any:
        answer = self._answer(request, what)
        if answer.token_invalid:
            raise RestError(self._scrub(f"{self.vendor.name} {what}: error {answer.code}: {answer.message[:MAX_MESSAGE]}; "
                                       "fix: check [hr.rest] app_id and the app secret"), code=answer.code)
        return self._data(answer, what)

    def _data(self, answer: Answer, what: str) -> Any:
        name = self.vendor.name
        if answer.busy:
            if answer.wait is not None and answer.wait > self.max_wait_seconds:
                raise RestError(self._scrub(
                    f"{name} {what}: rate limited (error {answer.code}: {answer.message[:MAX_MESSAGE]}), asked to wait "
                    f"{answer.wait:.0f} s, more than [hr.rest] max_wait_seconds ({self.max_wait_seconds:.0f}); fix: "
                    "read less often, or raise max_wait_seconds"), code=answer.code)
            raise _Busy(self._scrub(f"rate limited or busy (error {answer.code}: {answer.message[:MAX_MESSAGE]})"),
                        answer.wait)
        if not answer.ok:
            fix = answer.fix or "see the vendor's error code reference"
            raise RestError(self._scrub(f"{name} {what}: error {answer.code}: {answer.message[:MAX_MESSAGE]}; fix: {fix}"),
                            code=answer.code)
        return answer.data

    def _answer(self, request: Request, what: str) -> Answer:
        self.calls += 1
        try:
            response = self._client.request(request.method, request.url, params=request.params or None,
                                             json=request.json, data=request.form, headers=request.headers or None)
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            # Nothing the presets send changes anything when sent twice (reads, and setting one email).
            raise _Busy(self._scrub(f"{type(exc).__name__}: {exc}"), None) from None
        except httpx.HTTPError as exc:
            raise RestError(self._scrub(f"{self.vendor.name} {what}: {type(exc).__name__}: {exc}; fix: check "
                                       "[hr.rest] base_url")) from None
        answer = self.vendor.interpret(response)
        if not answer.ok and not answer.busy and not answer.token_invalid and response.status_code in (429, 502, 503, 504):
            return Answer.refused(f"HTTP {response.status_code}", answer.message or response.reason_phrase, busy=True,
                                  wait=retry_after(response))
        return answer

    def _fetch_token(self) -> tuple[str, float]:
        request = self.vendor.token_request()
        data = None if request is None else self.call(request, what="get an access token", authorized=False)
        token, lifetime = self.vendor.token_from(data)
        if not token:
            raise RestError(f"{self.vendor.name}: the token endpoint answered without a token; fix: check [hr.rest] "
                            "token_url and the app's credentials")
        self._secrets |= _written_forms(token)
        return token, lifetime


def json_of(response: httpx.Response) -> Any:
    """The answer's JSON, or None when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def dig(data: Any, path: str) -> Any:
    """The value at a dotted path ("data.items", "department_ids.0"); None when absent."""
    if not path:
        return data
    for key in path.split("."):
        if isinstance(data, Mapping):
            data = data.get(key)
        elif isinstance(data, list) and key.isdigit() and int(key) < len(data):
            data = data[int(key)]
        else:
            return None
        if data is None:
            return None
    return data
