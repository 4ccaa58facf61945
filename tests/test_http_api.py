"""The HTTP layer both mail drivers share (connectors/http.py), against a real HTTP server on 127.0.0.1.

The server answers from a script, so each test says exactly which statuses and
headers the client meets; it records every request with its arrival time (the
waits Retry-After asks for are measured where they matter: at the server).
"""

from __future__ import annotations

import email.utils
import itertools
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import httpx
import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from connectors.http import ApiError, HttpApi, Pacing, RetryPolicy, ScrubbedCause, TokenBucket
from connectors.mail_dovecot.doveadm import Doveadm
from connectors.mail_modoboa.api import ModoboaApi
from lifecycle.domain.errors import ConnectorConfigError, RecordError, TransientError
from lifecycle.domain.settings import DovecotSettings, MailSettings

TOKEN = "tok-3f9a1c7e5b2d4a60"
PASSWORD = "Pw-secret-8412"


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    """JSON unless bytes; ECHO: the request's Authorization header and body, as a client error would quote them."""


ECHO = object()
OK = Reply(200, body={"ok": True})


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    authorization: str
    at: float
    """time.monotonic() on arrival."""
    wall: float
    """time.time() on arrival."""


class ScriptedServer:
    """An HTTP/1.1 server on 127.0.0.1 that answers the scripted replies in order, then `then` for ever."""

    def __init__(self, script: Sequence[Reply] = (), *, then: Reply = OK) -> None:
        self.script = list(script)
        self.then = then
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def answer(self) -> None:
                server._answer(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="scripted-http", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def gaps(self) -> list[float]:
        return [b.at - a.at for a, b in itertools.pairwise(self.seen)]

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        request_body = handler.rfile.read(length) if length else b""
        authorization = handler.headers.get("Authorization", "")
        with self._lock:
            self.seen.append(Seen(handler.command, handler.path, authorization, time.monotonic(), time.time()))
            reply = self.script.pop(0) if self.script else self.then
        if reply.body is ECHO:
            body = json.dumps({"detail": f"refused {authorization} with {request_body.decode()}"}).encode()
        elif isinstance(reply.body, bytes):
            body = reply.body
        else:
            body = json.dumps(reply.body if reply.body is not None else {"detail": "scripted"}).encode()
        handler.send_response(reply.status)
        for key, value in {"Content-Type": "application/json", **reply.headers}.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


def client(url: str, **options: Any) -> HttpApi:
    values: dict[str, Any] = {
        "connector": "test",
        "where": f"test API {url}",
        "base_url": url,
        "headers": {"Authorization": f"Token {TOKEN}"},
        "secrets": (TOKEN,),
        "timeout": 5.0,
        "retry": RetryPolicy(max_attempts=4, max_retry_seconds=20.0, backoff_seconds=0.01),
        "auth_hint": "check the test token",
    }
    values.update(options)
    return HttpApi(**values)


@pytest.fixture
def retry_lines() -> Iterator[list[MutableMapping[str, Any]]]:
    with capture_logs() as lines:
        yield lines


# -- pacing --------------------------------------------------------------------


def test_token_bucket_paces_below_the_rate() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    bucket = TokenBucket(4.0, 1.0, clock=lambda: now[0], sleep=sleep)
    stamps = []
    for _ in range(9):
        bucket.take()
        stamps.append(now[0])
    assert stamps[0] == 0.0
    assert all(b - a >= 0.25 - 1e-9 for a, b in itertools.pairwise(stamps))
    assert stamps[-1] == pytest.approx(2.0)
    now[0] += 10  # idle: at most `capacity` tokens are saved up
    before = now[0]
    bucket.take()
    bucket.take()
    assert now[0] - before == pytest.approx(0.25)


def test_writes_are_paced_and_reads_are_not_held_by_them() -> None:
    with ScriptedServer() as server, client(server.url, pacing=Pacing(writes_per_second=10.0)) as api:
        for n in range(4):
            api.request("PATCH", f"/items/{n}/", json={"n": n}, write=True, what="write")
        for _ in range(4):
            api.request("GET", "/items/", what="read")
    writes = [s.at for s in server.seen if s.method == "PATCH"]
    reads = [s.at for s in server.seen if s.method == "GET"]
    assert min(b - a for a, b in itertools.pairwise(writes)) >= 0.09  # 1/10 s, less the clock's jitter
    assert reads[-1] - reads[0] < 0.09 * 3


# -- retries -------------------------------------------------------------------


def test_429_waits_the_retry_after_seconds_before_trying_again() -> None:
    with ScriptedServer([Reply(429, {"Retry-After": "1"})]) as server, client(server.url) as api:
        assert api.request("GET", "/items/", what="list items").json() == {"ok": True}
    assert len(server.seen) == 2
    assert 1.0 <= server.gaps()[0] < 3.0  # the backoff alone would be 0.01 s


def test_503_waits_until_the_retry_after_date_and_even_a_post_is_sent_again() -> None:
    when = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0)  # an HTTP date has whole seconds
    header = email.utils.format_datetime(when, usegmt=True)
    with ScriptedServer([Reply(503, {"Retry-After": header})]) as server, client(server.url) as api:
        api.request("POST", "/items/", json={"name": "x"}, write=True, what="create item")
    assert [s.method for s in server.seen] == ["POST", "POST"]  # 503: the server did nothing, so a POST repeats
    assert server.seen[1].wall >= when.timestamp() - 0.05  # not before the date (the backoff alone is 0.01 s)
    assert server.gaps()[0] < 3.0


def test_a_retry_after_beyond_the_budget_is_handed_up_at_once() -> None:
    with (
        ScriptedServer(then=Reply(429, {"Retry-After": "120"})) as server,
        client(server.url) as api,
        pytest.raises(TransientError) as caught,
    ):
        api.request("GET", "/items/", what="list items")
    assert len(server.seen) == 1
    assert caught.value.retry_after == pytest.approx(120)


@pytest.mark.parametrize("status", [502, 503, 504])
def test_server_errors_are_retried_then_transient_error(status: int, retry_lines: list[MutableMapping[str, Any]]) -> None:
    with (
        ScriptedServer(then=Reply(status)) as server,
        client(server.url, retry=RetryPolicy(3, 20.0, 0.01)) as api,
        pytest.raises(TransientError, match=f"HTTP {status}.*gave up after 3 attempts") as caught,
    ):
        api.request("GET", "/items/", what="list items")
    assert len(server.seen) == 3
    assert caught.value.connector == "test" and isinstance(caught.value.__cause__, TransientError)
    assert [line["attempt"] for line in retry_lines if line["event"] == "http.retry"] == [1, 2]


def test_a_500_is_the_request_s_fault_unless_the_api_says_server_errors_are_transient() -> None:
    with ScriptedServer(then=Reply(500, body={"detail": "boom"})) as server:
        record_level = client(server.url)
        with record_level, pytest.raises(ApiError, match="HTTP 500 boom") as record:
            record_level.request("GET", "/items/", what="list items")
        assert len(server.seen) == 1 and record.value.status == 500
        transient = client(server.url, server_errors_transient=True, retry=RetryPolicy(2, 20.0, 0.01))
        with transient, pytest.raises(TransientError, match="gave up after 2 attempts"):
            transient.request("GET", "/items/", what="list items")
        assert len(server.seen) == 3


def test_a_post_whose_outcome_is_unknown_is_not_sent_again() -> None:
    with ScriptedServer(then=Reply(502)) as server, client(server.url) as api:
        with pytest.raises(TransientError, match="may have been applied") as caught:
            api.request("POST", "/items/", json={"name": "x"}, write=True, what="create item")
        assert len(server.seen) == 1 and caught.value.retry_after is None
        with pytest.raises(TransientError, match="gave up after 4 attempts"):
            api.request("POST", "/items/1/delete/", repeatable=True, what="delete item")  # declared safe to repeat
    assert len(server.seen) == 1 + 4


def test_connection_refused_is_retried_then_transient_error(retry_lines: list[MutableMapping[str, Any]]) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        with (
            client(url, retry=RetryPolicy(3, 20.0, 0.01)) as api,
            pytest.raises(TransientError, match="is unreachable.*gave up after 3 attempts") as caught,
        ):
            api.request("POST", "/items/", json={"name": "x"}, what="create item")  # nothing was sent: a POST repeats
    assert isinstance(caught.value.__cause__.__cause__, httpx.ConnectError)  # type: ignore[union-attr]
    assert len([line for line in retry_lines if line["event"] == "http.retry"]) == 2


# -- statuses that are not retried -----------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_a_configuration_error(status: int) -> None:
    with (
        ScriptedServer(then=Reply(status, body={"detail": "Invalid token."})) as server,
        client(server.url) as api,
        pytest.raises(ConnectorConfigError, match=f"HTTP {status} Invalid token.: check the test token"),
    ):
        api.request("GET", "/items/", what="list items")
    assert len(server.seen) == 1


@pytest.mark.parametrize(
    ("status", "body", "detail"),
    [(404, {"detail": "Not found."}, "Not found."), (400, {"name": ["This field is required."]}, "name: This field is required.")],
)
def test_a_refused_request_is_a_record_error_with_the_api_s_words(status: int, body: Any, detail: str) -> None:
    with (
        ScriptedServer(then=Reply(status, body=body)) as server,
        client(server.url) as api,
        pytest.raises(ApiError) as caught,
    ):
        api.request("POST", "/items/", json={}, what="create item")
    assert isinstance(caught.value, RecordError)
    assert (caught.value.status, caught.value.payload) == (status, body)
    assert str(caught.value) == f"create item: test API {server.url}: HTTP {status} {detail}"
    assert len(server.seen) == 1


def test_an_accepted_status_is_an_answer() -> None:
    with ScriptedServer(then=Reply(404)) as server, client(server.url) as api:
        assert api.request("DELETE", "/items/9/", accept=(404,), what="delete item").status_code == 404
    assert len(server.seen) == 1


# -- secrets -------------------------------------------------------------------


def test_no_secret_in_any_message_or_log_line(caplog: pytest.LogCaptureFixture, retry_lines: list[MutableMapping[str, Any]]) -> None:
    """The server quotes the token and the password back (a 503 retried, then a 400): neither shows anywhere."""
    script = [Reply(503, body=ECHO), Reply(400, body=ECHO)]
    with (
        caplog.at_level(logging.DEBUG),
        ScriptedServer(script) as server,
        client(server.url) as api,
        pytest.raises(ApiError) as caught,
    ):
        api.request("POST", "/accounts/", json={"password": PASSWORD}, secrets=(PASSWORD,), what="create account")
    assert server.seen[0].authorization == f"Token {TOKEN}"  # the server did get both
    retries = [line for line in retry_lines if line["event"] == "http.retry"]
    assert len(retries) == 1 and "refused Token ********" in retries[0]["error"]
    everything = [str(caught.value), repr(caught.value.payload), *(repr(line) for line in retry_lines), caplog.text]
    assert "HTTP Request: POST" in caplog.text  # httpx logs the request line, never a header
    for text in everything:
        assert TOKEN not in text and PASSWORD not in text


@pytest.mark.parametrize("password", ['Pa"ssword1', "Pässword1", "Pa\\ss'word1"])
def test_a_password_quoted_back_in_the_error_body_is_scrubbed_from_the_payload(password: str) -> None:
    """JSON escapes quotes and non-ASCII: the payload is scrubbed value by value, not as JSON text."""
    body = {"password": [f"'{password}' is too weak"], "detail": {"echo": password}}
    with ScriptedServer([Reply(400, body=body)]) as server, client(server.url) as api, pytest.raises(ApiError) as caught:
        api.request("POST", "/accounts/", json={"password": password}, secrets=(password,), what="create account")
    assert password not in str(caught.value) and password not in repr(caught.value.payload)
    assert caught.value.payload["detail"]["echo"] == "********"


def test_a_credential_that_breaks_the_request_is_named_but_never_shown() -> None:
    broken = "tok-line\nbreak-2a7f"
    with (
        ScriptedServer() as server,
        client(server.url, headers={"Authorization": f"Token {broken}"}, secrets=(broken,)) as api,
        pytest.raises(ConnectorConfigError, match="could not be sent as built.*check the test token") as caught,
    ):
        api.request("GET", "/items/", what="list items")
    assert server.seen == []
    chain = [caught.value, caught.value.__cause__]
    assert isinstance(chain[1], ScrubbedCause)  # h11 quoted the header value: the cause is a scrubbed copy
    for error in chain:
        assert "tok-line" not in str(error) and "break-2a7f" not in str(error)
    with pytest.raises(ConnectorConfigError, match="not ASCII") as not_ascii:
        client("http://127.0.0.1:9", headers={"Authorization": "Token tök-2a7f"}, secrets=("tök-2a7f",))
    assert "2a7f" not in str(not_ascii.value) and "2a7f" not in str(not_ascii.value.__cause__)


def test_both_drivers_keep_their_credentials_out_of_messages() -> None:
    """Modoboa's token; Dovecot's key, raw and as the base64 the header carries."""
    key = "doveadm-key-51c0e2"
    with ScriptedServer(then=Reply(400, body=ECHO)) as server:
        modoboa = ModoboaApi(MailSettings(url=server.url, token=SecretStr(TOKEN)))
        with modoboa, pytest.raises(ApiError) as modoboa_error:
            modoboa.create_account("a@example.com", "A", 10, PASSWORD)
        dovecot = Doveadm(DovecotSettings(api_url=server.url, api_key=SecretStr(key)))
        with dovecot, pytest.raises(RecordError) as dovecot_error:
            dovecot.run("kick", {"mask": ["a@example.com"]}, what="kick a@example.com")
    dovecot_header = server.seen[-1].authorization
    assert dovecot_header.startswith("X-Dovecot-API ") and key not in dovecot_header  # base64 of the key
    for message in (str(modoboa_error.value), str(dovecot_error.value)):
        assert "refused" in message
        for secret in (TOKEN, PASSWORD, key, dovecot_header.split()[1]):
            assert secret not in message
