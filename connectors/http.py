"""The HTTP layer the connectors share: one httpx client per API, paced, retried, its errors mapped.

`HttpApi.request()` is one API call:

- Pacing: writes wait on a token bucket (`Pacing.writes_per_second`), every
  request on another (`Pacing.requests_per_minute`), so a server's rate limit
  is never reached by this client alone.
- Retries (tenacity): 429 and 503 and a connection that could not be made
  are always retried (the server did nothing); 502 and 504 (and 500 and the
  other 5xx, where the API declares them transient), a timeout and a dropped
  connection only for a request that is safe to repeat (GET, PUT, PATCH,
  DELETE, or one declared `repeatable`), since a POST may have been applied.
  Exponential backoff with jitter, never shorter than the server's
  `Retry-After` (seconds or an HTTP date); bounded in attempts and in time.
  A `Retry-After` longer than the retry budget is not waited for: the
  TransientError carries it (`retry_after`) for the caller to schedule.
- Mapping to lifecycle.domain.errors: transient failures -> TransientError;
  401/403 -> ConnectorConfigError (with what to check); other answers ->
  ApiError, a RecordError with the status and the parsed body; a URL httpx
  cannot use or a request it cannot encode (a credential with a line break)
  -> ConnectorConfigError.
- Secrets: every message and log line is scrubbed of the API's credentials
  (`secrets`) and of the request's own (`request(..., secrets=...)`, e.g. a
  password in the body).  The httpx error is chained (`from err`) as it is
  when no secret is in its text or its causes' texts, else as a
  `ScrubbedCause` with the scrubbed text.  No header is ever logged.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import httpx
import structlog
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_after_delay

from lifecycle.domain.errors import ConnectorConfigError, RecordError, TransientError

log = structlog.get_logger(__name__)

MAX_MESSAGE = 500  # characters of an API's error text kept in a message
MASK = "********"
REPEATABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
REFUSED_STATUSES = frozenset({429, 503})  # the server did nothing: always safe to repeat
UNKNOWN_OUTCOME_STATUSES = frozenset({502, 504})  # a gateway's answer: the request may have been applied


class ApiError(RecordError):
    """The API refused one request (an answer that is neither success, auth, nor transient)."""

    def __init__(self, message: str, *, connector: str, status: int, payload: Any) -> None:
        super().__init__(message, connector=connector)
        self.status = status
        self.payload = payload


class ScrubbedCause(Exception):
    """Stands in as the cause for an httpx error whose text held a secret: its type and its scrubbed text."""


class _Retryable(TransientError):
    """A transient failure after which repeating the request is safe."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    """Tries of one request, the first included."""
    max_retry_seconds: float = 60.0
    """Longest time spent retrying one request; a longer Retry-After is handed to the caller."""
    backoff_seconds: float = 0.5
    """First wait; doubles each time, up to max_backoff_seconds (plus up to 25 % jitter)."""
    max_backoff_seconds: float = 30.0


@dataclass(frozen=True, slots=True)
class Pacing:
    """The client's own rate limits; None: not paced."""

    writes_per_second: float | None = None
    requests_per_minute: float | None = None


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


def retry_after(response: httpx.Response) -> float | None:
    """The response's Retry-After in seconds (RFC 9110: delay-seconds or an HTTP date); None when absent or unreadable."""
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


def describe(payload: Any) -> str:
    """An API's JSON error body as one line: {"detail": ..}, {"error": ..}, {"field": [msgs]}, [msgs]."""
    if isinstance(payload, dict):
        if set(payload) == {"detail"} or set(payload) == {"error"}:
            return describe(next(iter(payload.values())))
        return "; ".join(f"{key}: {describe(value)}" for key, value in payload.items())
    if isinstance(payload, list):
        return " ".join(describe(item) for item in payload)
    return str(payload)


def _client_or_none(**options: Any) -> httpx.Client | None:
    """The client, or None when a header value is not ASCII (the encoding error would hold the whole value)."""
    try:
        return httpx.Client(**options)
    except UnicodeEncodeError:
        return None


def _written_forms(secret: str) -> set[str]:
    """A secret as it may appear in a message: itself, escaped like a str's repr and like a bytes' repr
    (h11 quotes an illegal header value as bytes)."""
    if not secret:
        return set()
    return {secret, secret.encode("unicode_escape").decode("ascii"), repr(secret.encode("utf-8"))[2:-1]}


def _causes(exc: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [current.__cause__, current.__context__]


class HttpApi:
    """One HTTP API, as a connector uses it (see the module doc).  Thread-safe (httpx.Client is)."""

    def __init__(
        self,
        *,
        connector: str,
        where: str,
        headers: Mapping[str, str],
        secrets: Iterable[str],
        timeout: float,
        base_url: str = "",
        verify: bool = True,
        retry: RetryPolicy = RetryPolicy(),
        pacing: Pacing = Pacing(),
        auth_hint: str = "check the credentials",
        server_errors_transient: bool = False,
        keepalive: bool = True,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`where`: the API as messages name it ("Modoboa https://mail.example.com"); `secrets`: never shown;
        `auth_hint`: what to check after a 401/403; `server_errors_transient`: 500 and the 5xx other than
        502/503/504 are the server's trouble (TransientError) rather than this request's (ApiError)."""
        self.connector = connector
        self.where = where
        self.retry = retry
        self.auth_hint = auth_hint
        self.server_errors_transient = server_errors_transient
        self._secrets = tuple(sorted({form for secret in secrets for form in _written_forms(secret)}, key=len, reverse=True))
        self._sleep = sleep
        self._writes = TokenBucket(pacing.writes_per_second, 1.0, sleep=sleep) if pacing.writes_per_second else None
        per_minute = pacing.requests_per_minute
        self._requests = TokenBucket(per_minute / 60.0, max(1.0, per_minute / 10.0), sleep=sleep) if per_minute else None
        client = _client_or_none(
            base_url=base_url,
            headers=dict(headers),
            timeout=timeout,
            verify=verify,
            transport=transport,
            follow_redirects=False,
            limits=httpx.Limits() if keepalive else httpx.Limits(max_keepalive_connections=0),
        )
        if client is None:
            raise ConnectorConfigError(
                f"{where}: a credential has a character an HTTP header cannot carry (not ASCII): {auth_hint}",
                connector=connector,
            ) from ScrubbedCause("UnicodeEncodeError: a header value is not ASCII")
        self._client = client

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def scrub(self, text: str, secrets: Iterable[str] = ()) -> str:
        """`text` without any secret of the API or of `secrets`, as written or escaped."""
        extra = {form for secret in secrets for form in _written_forms(secret)}
        for secret in sorted({*self._secrets, *extra}, key=len, reverse=True) if extra else self._secrets:
            text = text.replace(secret, MASK)
        return text

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        write: bool = False,
        repeatable: bool | None = None,
        accept: tuple[int, ...] = (),
        secrets: Iterable[str] = (),
        timeout: float | None = None,
    ) -> httpx.Response:
        """One call with pacing, retries and the error mapping; the response (2xx, or a status in `accept`).

        `what`: the action, for messages ("create mailbox a@example.com"); `write`: paced as a write;
        `repeatable`: safe to send twice (default: by method); `timeout`: this call's, else the client's.
        """
        secrets = tuple(secrets)
        repeat = method.upper() in REPEATABLE_METHODS if repeatable is None else repeatable
        policy = self.retry

        def attempt() -> httpx.Response:
            if write and self._writes is not None:
                self._writes.take()
            if self._requests is not None:
                self._requests.take()
            return self._send(
                method, path, what=what, params=params, json=json, repeatable=repeat, accept=accept, secrets=secrets,
                timeout=timeout,
            )

        def worth_retrying(exc: BaseException) -> bool:
            if not isinstance(exc, _Retryable):
                return False
            return exc.retry_after is None or exc.retry_after <= policy.max_retry_seconds

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome is not None else None
            backoff = min(policy.max_backoff_seconds, policy.backoff_seconds * 2.0 ** (state.attempt_number - 1))
            backoff *= 1 + random.random() * 0.25
            server_says = exc.retry_after if isinstance(exc, TransientError) else None
            return max(backoff, server_says) if server_says is not None else backoff

        def announce(state: RetryCallState) -> None:  # only before a retry (tenacity computes the wait before it stops)
            exc = state.outcome.exception() if state.outcome is not None else None
            delay = state.next_action.sleep if state.next_action is not None else 0.0
            log.warning(
                "http.retry", connector=self.connector, what=what, attempt=state.attempt_number,
                wait_seconds=round(delay, 2), error=str(exc),
            )

        retrying = Retrying(
            retry=retry_if_exception(worth_retrying),
            stop=stop_after_attempt(policy.max_attempts) | stop_after_delay(policy.max_retry_seconds),
            wait=wait,
            before_sleep=announce,
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except _Retryable as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            raise TransientError(
                f"{exc} (gave up after {attempts} attempt{'s' if attempts != 1 else ''})",
                connector=self.connector,
                retry_after=exc.retry_after,
            ) from exc

    def _send(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: Mapping[str, str] | None,
        json: Any,
        repeatable: bool,
        accept: tuple[int, ...],
        secrets: tuple[str, ...],
        timeout: float | None = None,
    ) -> httpx.Response:
        """One attempt: the response, or the mapped error (_Retryable when a retry is safe)."""
        try:
            response = self._client.request(
                method, path, params=params, json=json, timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout
            )
        except httpx.HTTPError as exc:
            failure = self._transport_error(exc, what=what, repeatable=repeatable, secrets=secrets)
            cause = self._cause(exc, secrets)
        else:
            status = response.status_code
            if 200 <= status < 300 or status in accept:
                return response
            raise self._status_error(response, what=what, repeatable=repeatable, secrets=secrets)
        # Raised here, outside the handler: an httpx error whose text held a secret is not even the context.
        raise failure from cause

    def _transport_error(
        self, exc: httpx.HTTPError, *, what: str, repeatable: bool, secrets: tuple[str, ...]
    ) -> ConnectorConfigError | TransientError:
        connector, where = self.connector, self.where
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            # Nothing reached the server: always safe to try again.
            return _Retryable(self.scrub(f"{what}: {where} is unreachable: {exc}", secrets), connector=connector)
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
            return ConnectorConfigError(self.scrub(f"{what}: {where}: the URL is not usable: {exc}", secrets), connector=connector)
        if isinstance(exc, httpx.LocalProtocolError):
            return ConnectorConfigError(
                self.scrub(f"{what}: {where}: the request could not be sent as built ({exc}): {self.auth_hint}", secrets),
                connector=connector,
            )
        if isinstance(exc, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError):
            message = self.scrub(f"{what}: {where} did not answer: {type(exc).__name__} {exc}", secrets)
            if repeatable:
                return _Retryable(message, connector=connector)
            return TransientError(message + " (it may have been applied; the next cycle re-reads)", connector=connector)
        return TransientError(self.scrub(f"{what}: {where}: {type(exc).__name__} {exc}", secrets), connector=connector)

    def _status_error(
        self, response: httpx.Response, *, what: str, repeatable: bool, secrets: tuple[str, ...]
    ) -> ConnectorConfigError | TransientError | ApiError:
        status = response.status_code
        payload: Any = None
        try:
            payload = response.json()
            detail = describe(payload)
        except ValueError:
            text = response.text.strip() if response.headers.get("Content-Type", "").startswith("text/plain") else ""
            detail = text or response.reason_phrase or ""
        detail = self.scrub(detail, secrets)[:MAX_MESSAGE]
        message = f"{what}: {self.where}: HTTP {status} {detail}".rstrip()
        connector = self.connector
        if status in REFUSED_STATUSES:
            return _Retryable(message, connector=connector, retry_after=retry_after(response))
        if status in UNKNOWN_OUTCOME_STATUSES or (status >= 500 and self.server_errors_transient):
            if repeatable:
                return _Retryable(message, connector=connector, retry_after=retry_after(response))
            return TransientError(message + " (it may have been applied; the next cycle re-reads)", connector=connector)
        if status in (401, 403):
            return ConnectorConfigError(f"{message}: {self.auth_hint}", connector=connector)
        if payload is not None:
            payload = self._scrub_data(payload, secrets)  # it may quote the request back
        return ApiError(message, connector=connector, status=status, payload=payload)

    def _scrub_data(self, data: Any, secrets: tuple[str, ...]) -> Any:
        """Decoded JSON with every string scrubbed (its JSON text would escape a secret's quotes and non-ASCII)."""
        if isinstance(data, str):
            return self.scrub(data, secrets)
        if isinstance(data, list):
            return [self._scrub_data(item, secrets) for item in data]
        if isinstance(data, dict):
            return {self.scrub(str(key), secrets): self._scrub_data(value, secrets) for key, value in data.items()}
        return data

    def _cause(self, exc: BaseException, secrets: tuple[str, ...]) -> BaseException:
        """`exc` itself, or a ScrubbedCause when its text or one of its causes' held a secret."""
        for link in _causes(exc):
            text = str(link)
            if self.scrub(text, secrets) != text:
                return ScrubbedCause(f"{type(exc).__name__}: {self.scrub(str(exc), secrets)}")
        return exc


__all__ = (
    "ApiError",
    "HttpApi",
    "Pacing",
    "RetryPolicy",
    "ScrubbedCause",
    "TokenBucket",
    "describe",
    "retry_after",
)
