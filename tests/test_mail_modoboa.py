"""The Modoboa driver against a real Modoboa 2.12 (tests/mail_fixtures.py), plus a fault-injecting proxy.

Delivery is checked the way Postfix sees it: Modoboa's own alias-map query
(modoboa/admin/postfix_maps.py, AliasesMap.sqlite) run on the instance's
SQLite database.  An address that query does not resolve is bounced.
"""

from __future__ import annotations

import http.client
import itertools
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from connectors.mail_modoboa import ModoboaBackend, ModoboaSettings
from devservers.modoboa import ModoboaInstance
from lifecycle.domain.errors import AlreadyExistsError, ConnectorConfigError, RecordError, TransientError
from lifecycle.domain.mail import MailCapability
from lifecycle.domain.ports import MailBackend

PASSWORD = "Initial-Pass-2024"
DOMAIN = "example.com"
BRANCH = "sz.example.com"

# modoboa/admin/postfix_maps.py, AliasesMap.sqlite ('%s' bound as a parameter).
POSTFIX_ALIAS_QUERY = (
    "SELECT alr.address FROM modoboa_admin_aliasrecipient AS alr "
    "INNER JOIN admin_alias AS al ON alr.alias_id=al.id "
    "WHERE al.enabled=1 AND al.address=? AND "
    "(al.expire_at IS NULL OR al.expire_at>datetime('now'))"
)


def postfix_resolves(db: Path, address: str) -> list[str]:
    """Where Postfix's virtual_alias_maps sends `address`; [] means the mail bounces."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        return sorted({row[0] for row in connection.execute(POSTFIX_ALIAS_QUERY, (address,))})


def internal_self_alias_enabled(db: Path, address: str) -> bool:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        row = connection.execute("SELECT enabled FROM admin_alias WHERE address=? AND internal=1", (address,)).fetchone()
    assert row is not None, f"no internal self-alias for {address}"
    return bool(row[0])


def api(modoboa: ModoboaInstance) -> httpx.Client:
    return httpx.Client(base_url=f"{modoboa.url}/api/v2", headers={"Authorization": f"Token {modoboa.token}"}, timeout=15)


# -- a fault-injecting proxy ---------------------------------------------------

Fault = tuple[int, dict[str, str]]
TOO_MANY: Fault = (429, {"Retry-After": "1"})
UNAVAILABLE: Fault = (503, {})
WRITES = ("POST", "PUT", "PATCH", "DELETE")


class FaultProxy:
    """An HTTP proxy on 127.0.0.1 in front of Modoboa that fails on purpose.

    - `first`: the faults answered, in order, to the first requests (any method);
    - `each_write`: the faults answered to each distinct write (method, path,
      body) before it is let through;
    - `always`: answered to every request.

    Faults are answered by the proxy itself: such a request never reaches
    Modoboa.  `forwarded` lists what did.  At most `budget` requests are
    served (then 500), so a runaway client cannot loop for ever.
    """

    def __init__(
        self,
        upstream: str,
        *,
        first: Sequence[Fault] = (),
        each_write: Sequence[Fault] = (),
        always: Fault | None = None,
        budget: int = 400,
    ) -> None:
        parts = urlsplit(upstream)
        assert parts.hostname == "127.0.0.1", "loopback only"
        self.upstream = (parts.hostname, parts.port or 80)
        self.first = list(first)
        self.each_write = list(each_write)
        self.always = always
        self.budget = budget
        self.received: list[tuple[str, str]] = []
        self.forwarded: list[tuple[str, str, float]] = []  # method, path, arrival time
        self.forwarded_bodies: list[bytes] = []
        self._write_tries: dict[tuple[str, str, bytes], int] = {}
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def handle_one(self) -> None:
                proxy._handle(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_one

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def forwarded_writes(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path, _ in self.forwarded if method in WRITES]

    def writes_with_bodies(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(method, path with ids as {pk}, the body's keys that say what the write was)."""
        result = []
        for (method, path, _), body in zip(self.forwarded, self.forwarded_bodies, strict=True):
            if method not in WRITES:
                continue
            data = json.loads(body or b"{}")
            keep = {"name", "username", "first_name", "mailbox", "address", "recipients", "is_active", "keepdir"}
            summary = {k: v for k, v in data.items() if k in keep}
            if "recipients" in summary:
                summary["recipients"] = list(summary["recipients"])
            generic = "/".join("{pk}" if part.isdigit() else part for part in path.split("/"))
            result.append((method, generic, summary))
        return result

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        method, path = handler.command, handler.path
        arrived = time.monotonic()
        with self._lock:
            self.received.append((method, path.split("?")[0]))
            fault: Fault | None
            if len(self.received) > self.budget:
                fault = (500, {})
            elif self.always is not None:
                fault = self.always
            elif self.first:
                fault = self.first.pop(0)
            elif method in WRITES:
                key = (method, path, body)
                tries = self._write_tries.get(key, 0)
                self._write_tries[key] = tries + 1
                fault = self.each_write[tries] if tries < len(self.each_write) else None
            else:
                fault = None
        if fault is not None:
            status, headers = fault
            self._reply(handler, status, {**headers, "Content-Type": "application/json"}, b'{"detail": "injected fault"}')
            return
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("connection", "keep-alive", "transfer-encoding")}
        connection = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            reply_headers = {
                k: v for k, v in response.getheaders() if k.lower() not in ("connection", "transfer-encoding", "content-length")
            }
            with self._lock:
                self.forwarded.append((method, path.split("?")[0], arrived))
                self.forwarded_bodies.append(body)
            self._reply(handler, response.status, reply_headers, payload)
        finally:
            connection.close()

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes) -> None:
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(body)


@pytest.fixture
def backend_via(modoboa: ModoboaInstance) -> Iterator[Any]:
    """backend_via(proxy, **settings): a ModoboaBackend talking to Modoboa through `proxy`."""
    made: list[ModoboaBackend] = []

    def make(proxy: FaultProxy, **overrides: Any) -> ModoboaBackend:
        values: dict[str, Any] = {
            "url": proxy.url,
            "token": SecretStr(modoboa.token),
            "max_writes_per_second": 1000.0,
            "max_requests_per_minute": 1_000_000.0,
            "backoff_seconds": 0.05,
            "max_attempts": 5,
            "max_retry_seconds": 20.0,
        }
        values.update(overrides)
        backend = ModoboaBackend(ModoboaSettings(**values))
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


# -- the port and the settings (no server) -------------------------------------


def test_capabilities_say_what_modoboa_really_does() -> None:
    backend = ModoboaBackend(ModoboaSettings(url="http://127.0.0.1:9", token=SecretStr("x")))
    assert isinstance(backend, MailBackend)
    assert backend.capabilities() == {
        MailCapability.FORWARD_KEEPS_COPY,
        MailCapability.ALIASES,
        MailCapability.LAST_LOGIN,
        MailCapability.QUOTA,
        MailCapability.DISPLAY_NAME,
        MailCapability.CREATE_DOMAIN,
    }
    backend.close()


def test_settings_read_the_token_file_and_normalise_the_url(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("abc123\n", encoding="utf-8")
    settings = ModoboaSettings(url="https://mail.example.com/api/v2/", token_file=token_file)
    assert settings.url == "https://mail.example.com"
    assert settings.token is not None and settings.token.get_secret_value() == "abc123"
    assert "abc123" not in repr(settings)
    with pytest.raises(ValidationError, match="token_file"):
        ModoboaSettings(url="https://mail.example.com")
    with pytest.raises(ValidationError, match="http"):
        ModoboaSettings(url="mail.example.com", token=SecretStr("x"))
    with pytest.raises(ValidationError, match="extra"):
        ModoboaSettings(url="https://mail.example.com", token=SecretStr("x"), tokn="typo")  # type: ignore[call-arg]


# -- against the real Modoboa --------------------------------------------------


def test_reset_gives_every_test_a_clean_modoboa(modoboa: ModoboaInstance, mail_backend: ModoboaBackend) -> None:
    mail_backend.ensure_domains([DOMAIN])
    mail_backend.create_mailbox(f"temp@{DOMAIN}", "Temp", 10, PASSWORD)
    modoboa.reset()
    assert mail_backend.read_snapshot([DOMAIN]).domains == ()
    assert mail_backend.check() == []


def test_ensure_domains_creates_the_missing_ones_and_never_deletes(mail_backend: ModoboaBackend) -> None:
    assert mail_backend.ensure_domains([DOMAIN, "Other.Example.org "]) == [DOMAIN, "other.example.org"]
    assert mail_backend.ensure_domains([BRANCH, DOMAIN]) == [BRANCH]
    assert mail_backend.ensure_domains([DOMAIN]) == []
    snapshot = mail_backend.read_snapshot([DOMAIN, BRANCH, "other.example.org", "absent.example.net"])
    assert snapshot.domains == (DOMAIN, "other.example.org", BRANCH)


def test_create_and_read_round_trip(mail_backend: ModoboaBackend) -> None:
    mail_backend.ensure_domains([BRANCH])
    created = mail_backend.create_mailbox("ZhangWei@SZ.example.com", "张伟", 512, PASSWORD)
    assert created.address == f"zhangwei@{BRANCH}"
    assert (created.display_name, created.quota_mb, created.is_active) == ("张伟", 512, True)
    assert created.created is not None and created.created.tzinfo is not None
    assert abs((datetime.now(UTC) - created.created).total_seconds()) < 120

    found = mail_backend.find_mailbox(f"zhangwei@{BRANCH}")
    assert found is not None
    assert (found.display_name, found.quota_mb, found.is_active, found.last_login) == ("张伟", 512, True, None)
    assert (found.forward_to, found.forward_keeps_copy) == ((), False)
    assert found.created == created.created

    default = mail_backend.create_mailbox(f"lina@{BRANCH}", "Li Na", None, PASSWORD)
    assert default.quota_mb == 1024

    mail_backend.update_mailbox(f"zhangwei@{BRANCH}", display_name="张伟 (Sales)", quota_mb=2048)
    mail_backend.update_mailbox(f"lina@{BRANCH}")  # nothing to change: no request
    snapshot = mail_backend.read_snapshot([BRANCH])
    assert [(m.address, m.display_name, m.quota_mb) for m in snapshot.mailboxes] == [
        (f"lina@{BRANCH}", "Li Na", 1024),
        (f"zhangwei@{BRANCH}", "张伟 (Sales)", 2048),
    ]
    assert snapshot.aliases == ()
    assert mail_backend.find_mailbox(f"nobody@{BRANCH}") is None


def test_create_is_idempotent_an_existing_mailbox_is_already_exists(mail_backend: ModoboaBackend) -> None:
    mail_backend.ensure_domains([DOMAIN])
    mail_backend.create_mailbox(f"wfang@{DOMAIN}", "Wang Fang", 100, PASSWORD)
    with pytest.raises(AlreadyExistsError, match=f"wfang@{DOMAIN}"):
        mail_backend.create_mailbox(f"WFang@{DOMAIN}", "Someone Else", 300, PASSWORD)
    mailbox = mail_backend.find_mailbox(f"wfang@{DOMAIN}")
    assert mailbox is not None and (mailbox.display_name, mailbox.quota_mb) == ("Wang Fang", 100)


def test_the_api_pages_and_the_snapshot_follows_every_page(modoboa: ModoboaInstance, mail_settings: ModoboaSettings) -> None:
    settings = mail_settings.model_copy(update={"page_size": 3})
    with ModoboaBackend(settings) as backend:
        backend.ensure_domains([DOMAIN, BRANCH])
        for n in range(7):
            backend.create_mailbox(f"user{n}@{DOMAIN}", f"User {n}", 10, PASSWORD)
        backend.create_mailbox(f"branch@{BRANCH}", "Branch", 10, PASSWORD)
        for n in range(4):
            backend.create_alias(f"list{n}@{DOMAIN}", [f"user{n}@{DOMAIN}", f"user{n + 1}@{DOMAIN}"])
        snapshot = backend.read_snapshot([DOMAIN, BRANCH])
    assert [m.address for m in snapshot.mailboxes] == [f"branch@{BRANCH}"] + [f"user{n}@{DOMAIN}" for n in range(7)]
    assert [(a.address, a.recipients, a.is_active) for a in snapshot.aliases] == [
        (f"list{n}@{DOMAIN}", (f"user{n}@{DOMAIN}", f"user{n + 1}@{DOMAIN}"), True) for n in range(4)
    ]
    # The API itself pages (50 by default, `page_size` honoured), so one request is not the whole list.
    with api(modoboa) as client:
        first = client.get("/accounts/", params={"page_size": 3}).json()
        assert set(first) == {"count", "next", "previous", "results"}
        assert (first["count"], len(first["results"]), first["previous"]) == (9, 3, None)  # 8 mailboxes + admin
        assert "page=2" in first["next"]


def test_modoboa_quirk_reenabling_an_account_leaves_its_aliases_disabled(
    modoboa: ModoboaInstance, mail_backend: ModoboaBackend
) -> None:
    """Plain Modoboa, no driver logic: why restore() must do more than is_active=true."""
    mail_backend.ensure_domains([DOMAIN])
    mail_backend.create_mailbox(f"quirk@{DOMAIN}", "Quirk", 10, PASSWORD)
    mail_backend.create_alias(f"desk@{DOMAIN}", [f"quirk@{DOMAIN}"])
    assert postfix_resolves(modoboa.db_path, f"quirk@{DOMAIN}") == [f"quirk@{DOMAIN}"]
    with api(modoboa) as client:
        pk = client.get("/accounts/", params={"search": f"quirk@{DOMAIN}"}).json()["results"][0]["pk"]
        assert client.patch(f"/accounts/{pk}/", json={"is_active": False}).status_code == 200
        assert client.patch(f"/accounts/{pk}/", json={"is_active": True}).status_code == 200
        desk = client.get("/aliases/", params={"search": f"desk@{DOMAIN}"}).json()["results"][0]
        # 2.12 answers 500 to an alias PATCH without its recipients (the driver always sends them).
        assert client.patch(f"/aliases/{desk['pk']}/", json={"enabled": True}).status_code == 500
    assert desk["enabled"] is False
    assert not internal_self_alias_enabled(modoboa.db_path, f"quirk@{DOMAIN}")
    assert postfix_resolves(modoboa.db_path, f"quirk@{DOMAIN}") == []  # active again, and its mail bounces
    assert postfix_resolves(modoboa.db_path, f"desk@{DOMAIN}") == []


def test_suspend_blocks_delivery_and_restore_repairs_the_aliases(modoboa: ModoboaInstance, mail_backend: ModoboaBackend) -> None:
    address = f"leaver@{DOMAIN}"
    db = modoboa.db_path
    mail_backend.ensure_domains([DOMAIN])
    mail_backend.create_mailbox(address, "Leaver", 10, PASSWORD)
    mail_backend.create_mailbox(f"peer@{DOMAIN}", "Peer", 10, PASSWORD)
    mail_backend.create_alias(f"sales@{DOMAIN}", [address])  # single recipient: Modoboa disables it
    mail_backend.create_alias(f"team@{DOMAIN}", [address, f"peer@{DOMAIN}"])  # two: left alone

    mail_backend.suspend(address)
    snapshot = mail_backend.read_snapshot([DOMAIN])
    mailbox = snapshot.mailbox(address)
    assert mailbox is not None and mailbox.is_active is False
    sales = snapshot.alias(f"sales@{DOMAIN}")
    assert sales is not None and sales.is_active is False
    assert postfix_resolves(db, address) == []  # no SUSPEND_KEEPS_DELIVERY: mail bounces
    assert postfix_resolves(db, f"sales@{DOMAIN}") == []
    mail_backend.suspend(address)  # again: nothing breaks

    mail_backend.restore(address)
    snapshot = mail_backend.read_snapshot([DOMAIN])
    mailbox = snapshot.mailbox(address)
    assert mailbox is not None and mailbox.is_active is True
    assert (mailbox.forward_to, mailbox.forward_keeps_copy) == ((), False)
    assert [(a.address, a.recipients, a.is_active) for a in snapshot.aliases] == [
        (f"sales@{DOMAIN}", (address,), True),
        (f"team@{DOMAIN}", tuple(sorted([address, f"peer@{DOMAIN}"])), True),
    ]
    # Delivery is back, as Postfix resolves it: the visible self-alias stands in
    # for Modoboa's hidden one, which the API cannot reach and stays disabled.
    assert postfix_resolves(db, address) == [address]
    assert postfix_resolves(db, f"sales@{DOMAIN}") == [address]
    assert not internal_self_alias_enabled(db, address)

    mail_backend.restore(address)  # again: no duplicate alias, nothing changes
    assert mail_backend.read_snapshot([DOMAIN]) == snapshot
    # And a second suspension blocks delivery again (the visible self-alias is disabled with it).
    mail_backend.suspend(address)
    assert postfix_resolves(db, address) == []
    assert postfix_resolves(db, f"sales@{DOMAIN}") == []
    mail_backend.restore(address)
    assert postfix_resolves(db, address) == [address]


def test_forward_set_and_cleared(modoboa: ModoboaInstance, mail_backend: ModoboaBackend) -> None:
    address = f"fwd@{DOMAIN}"
    boss = "Boss@Elsewhere.org"
    db = modoboa.db_path
    mail_backend.ensure_domains([DOMAIN])
    mail_backend.create_mailbox(address, "Forwarded", 10, PASSWORD)
    mail_backend.create_mailbox(f"manager@{DOMAIN}", "Manager", 10, PASSWORD)

    mail_backend.set_forward(address, [boss, f"manager@{DOMAIN}"])
    mailbox = mail_backend.find_mailbox(address)
    assert mailbox is not None
    assert mailbox.forward_to == ("boss@elsewhere.org", f"manager@{DOMAIN}")
    assert mailbox.forward_keeps_copy is True
    assert postfix_resolves(db, address) == sorted([address, "boss@elsewhere.org", f"manager@{DOMAIN}"])
    assert mail_backend.read_snapshot([DOMAIN]).aliases == ()  # a forward is not an alias

    mail_backend.set_forward(address, [f"manager@{DOMAIN}"])  # replaces
    mailbox = mail_backend.find_mailbox(address)
    assert mailbox is not None and mailbox.forward_to == (f"manager@{DOMAIN}",)

    # A leaver's mail goes on to the manager; the suspended mailbox gets none.
    mail_backend.suspend(address)
    assert postfix_resolves(db, address) == [f"manager@{DOMAIN}"]
    mailbox = mail_backend.find_mailbox(address)
    assert mailbox is not None and (mailbox.forward_to, mailbox.forward_keeps_copy) == ((f"manager@{DOMAIN}",), False)
    mail_backend.restore(address)
    assert postfix_resolves(db, address) == sorted([address, f"manager@{DOMAIN}"])

    mail_backend.clear_forward(address)
    mailbox = mail_backend.find_mailbox(address)
    assert mailbox is not None and (mailbox.forward_to, mailbox.forward_keeps_copy) == ((), False)
    assert postfix_resolves(db, address) == [address]
    mail_backend.clear_forward(address)  # again: nothing to do

    with pytest.raises(RecordError, match="no recipient"):
        mail_backend.set_forward(address, [address])


def test_delete_with_keep_dir(modoboa: ModoboaInstance, mail_backend: ModoboaBackend) -> None:
    address = f"gone@{DOMAIN}"
    mail_backend.ensure_domains([DOMAIN])
    mail_backend.create_mailbox(address, "Gone", 10, PASSWORD)
    mail_backend.create_mailbox(f"stays@{DOMAIN}", "Stays", 10, PASSWORD)
    mail_backend.set_forward(address, [f"stays@{DOMAIN}"])
    mail_backend.create_alias(f"shared@{DOMAIN}", [address, f"stays@{DOMAIN}"])

    mail_backend.delete_mailbox(address, keep_dir=True)
    assert mail_backend.find_mailbox(address) is None
    snapshot = mail_backend.read_snapshot([DOMAIN])
    assert [m.address for m in snapshot.mailboxes] == [f"stays@{DOMAIN}"]
    # Its forward went with it; a list it was on lost it as a recipient.
    assert [(a.address, a.recipients) for a in snapshot.aliases] == [(f"shared@{DOMAIN}", (f"stays@{DOMAIN}",))]
    assert postfix_resolves(modoboa.db_path, address) == []
    mail_backend.delete_mailbox(address)  # already gone: nothing to do

    mail_backend.delete_alias(f"shared@{DOMAIN}")
    assert mail_backend.read_snapshot([DOMAIN]).aliases == ()
    mail_backend.delete_alias(f"shared@{DOMAIN}")
    mail_backend.set_forward(f"stays@{DOMAIN}", ["x@elsewhere.org"])
    with pytest.raises(RecordError, match="clear_forward"):
        mail_backend.delete_alias(f"stays@{DOMAIN}")  # a forward is not deleted as an alias


def test_last_login_is_null_until_a_login_and_read_as_aware_utc(modoboa: ModoboaInstance, mail_backend: ModoboaBackend) -> None:
    mail_backend.ensure_domains([DOMAIN])
    mail_backend.create_mailbox(f"new@{DOMAIN}", "New", 10, PASSWORD)
    mailbox = mail_backend.find_mailbox(f"new@{DOMAIN}")
    assert mailbox is not None and mailbox.last_login is None
    # A web login (or Dovecot's post-login script) writes core_user.last_login.
    with sqlite3.connect(modoboa.db_path) as connection:
        connection.execute("UPDATE core_user SET last_login='2026-03-01 08:30:00' WHERE username=?", (f"new@{DOMAIN}",))
    mailbox = mail_backend.read_snapshot([DOMAIN]).mailbox(f"new@{DOMAIN}")
    assert mailbox is not None and mailbox.last_login == datetime(2026, 3, 1, 8, 30, tzinfo=UTC)


def test_errors_are_mapped_and_never_show_the_token_or_a_password(
    modoboa: ModoboaInstance, mail_settings: ModoboaSettings, mail_backend: ModoboaBackend
) -> None:
    mail_backend.ensure_domains([DOMAIN])
    bad_token = "0123456789abcdef0123456789abcdef01234567"
    with ModoboaBackend(mail_settings.model_copy(update={"token": SecretStr(bad_token)})) as bad:
        problems = bad.check()
        assert len(problems) == 1 and "401" in problems[0] and "token" in problems[0]
        with pytest.raises(ConnectorConfigError) as config_error:
            bad.read_snapshot([DOMAIN])
    messages = [*problems, str(config_error.value)]

    weak_password = "Zq9-x"
    with pytest.raises(RecordError) as weak:
        mail_backend.create_mailbox(f"weak@{DOMAIN}", "Weak", 10, weak_password)
    assert "password" in str(weak.value) and "too short" in str(weak.value)
    with pytest.raises(RecordError, match="does not exist in Modoboa"):
        mail_backend.create_mailbox(f"x@unknown-{DOMAIN}", "X", 10, PASSWORD)
    with pytest.raises(RecordError, match="no mailbox"):
        mail_backend.suspend(f"nobody@{DOMAIN}")
    with pytest.raises(RecordError, match="not an e-mail address"):
        mail_backend.find_mailbox("not-an-address")
    mail_backend.create_mailbox(f"ok@{DOMAIN}", "Ok", 10, PASSWORD)
    messages += [str(weak.value)]
    mail_backend.create_alias(f"desk@{DOMAIN}", [f"ok@{DOMAIN}"])
    mail_backend.create_alias(f"desk@{DOMAIN}", [f"ok@{DOMAIN}"])  # the same alias again: it is there
    with pytest.raises(AlreadyExistsError, match=f"desk@{DOMAIN}"):
        mail_backend.create_alias(f"desk@{DOMAIN}", ["x@elsewhere.org"])
    with pytest.raises(RecordError, match="set_forward"):
        mail_backend.create_alias(f"ok@{DOMAIN}", ["x@elsewhere.org"])  # a mailbox's address

    for message in messages:
        assert modoboa.token not in message and bad_token not in message
        assert weak_password not in message


def test_secrets_never_reach_the_logs(
    modoboa: ModoboaInstance, mail_backend: ModoboaBackend, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    secret_password = "Very-Secret-Pw-42"
    refused_password = "Qx7-v"
    with caplog.at_level(logging.DEBUG):
        mail_backend.ensure_domains([DOMAIN])
        mail_backend.create_mailbox(f"log@{DOMAIN}", "Log", 10, secret_password)
        mail_backend.create_mailbox(f"log2@{DOMAIN}", "Log", 10)  # the throwaway password Modoboa is given
        with pytest.raises(RecordError):
            mail_backend.create_mailbox(f"log3@{DOMAIN}", "Log", 10, refused_password)  # too short: Modoboa says so
        mail_backend.read_snapshot([DOMAIN])
    captured = capsys.readouterr()
    everything = caplog.text + captured.out + captured.err
    assert "HTTP Request" in caplog.text  # httpx did log its requests (without headers)
    assert modoboa.token not in everything
    assert secret_password not in everything and refused_password not in everything
    assert "Authorization" not in everything


def test_transient_faults_are_retried_and_every_write_lands_exactly_once(modoboa: ModoboaInstance, backend_via: Any) -> None:
    address = f"retry@{DOMAIN}"
    # 429 (Retry-After: 1) and 503 for the first 4 requests, then one 503 for every write.
    with FaultProxy(modoboa.url, first=[TOO_MANY, UNAVAILABLE, TOO_MANY, UNAVAILABLE], each_write=[UNAVAILABLE]) as proxy:
        backend = backend_via(proxy, max_attempts=6)
        started = time.monotonic()
        assert backend.ensure_domains([DOMAIN]) == [DOMAIN]
        backend.create_mailbox(address, "Retry", 10, PASSWORD)
        backend.update_mailbox(address, display_name="Retried", quota_mb=20)
        backend.set_forward(address, ["boss@elsewhere.org"])
        backend.suspend(address)
        backend.restore(address)
        backend.delete_mailbox(address)
        elapsed = time.monotonic() - started
    # Each call's writes reached Modoboa exactly once, in order ({pk}: the ids Modoboa gave).
    assert proxy.writes_with_bodies() == [
        ("POST", "/api/v2/domains/", {"name": DOMAIN}),
        (
            "POST",
            "/api/v2/accounts/",
            {
                "username": address,
                "first_name": "Retry",
                "is_active": True,
                "mailbox": {"use_domain_quota": False, "quota": "10"},
            },
        ),
        ("PATCH", "/api/v2/accounts/{pk}/", {"first_name": "Retried", "mailbox": {"use_domain_quota": False, "quota": "20"}}),
        ("POST", "/api/v2/aliases/", {"address": address, "recipients": ["boss@elsewhere.org", address]}),  # set_forward
        ("PATCH", "/api/v2/accounts/{pk}/", {"is_active": False}),  # suspend
        ("PATCH", "/api/v2/aliases/{pk}/", {"recipients": ["boss@elsewhere.org"]}),  # suspend: out of its own forward
        ("PATCH", "/api/v2/accounts/{pk}/", {"is_active": True}),  # restore
        ("PATCH", "/api/v2/aliases/{pk}/", {"recipients": ["boss@elsewhere.org", address]}),  # restore: delivery
        ("POST", "/api/v2/accounts/{pk}/delete/", {"keepdir": True}),  # delete_mailbox
    ]
    # The first four requests were refused (429/503) and every write once (503) before it went through.
    writes_sent = [r for r in proxy.received if r[0] in WRITES]
    assert len(writes_sent) == 2 * len(proxy.forwarded_writes())
    assert proxy.received[:5] == [("GET", "/api/v2/domains/")] * 5
    assert 2.0 <= elapsed < 20  # two Retry-After: 1 were honoured
    # And Modoboa is in the state those calls asked for.
    with ModoboaBackend(ModoboaSettings(url=modoboa.url, token=SecretStr(modoboa.token))) as direct:
        assert direct.find_mailbox(address) is None
        assert direct.read_snapshot([DOMAIN]).domains == (DOMAIN,)


def test_retries_are_bounded_then_transient_error(modoboa: ModoboaInstance, backend_via: Any) -> None:
    with FaultProxy(modoboa.url, always=UNAVAILABLE) as proxy:
        backend = backend_via(proxy, max_attempts=3)
        started = time.monotonic()
        with pytest.raises(TransientError, match="gave up after 3 attempts") as error:
            backend.read_snapshot([DOMAIN])
        assert len(proxy.received) == 3
        assert time.monotonic() - started < 5
        assert modoboa.token not in str(error.value)
    # A Retry-After beyond the retry budget is handed up at once, for the engine to schedule.
    with FaultProxy(modoboa.url, always=(429, {"Retry-After": "120"})) as proxy:
        backend = backend_via(proxy, max_retry_seconds=10)
        with pytest.raises(TransientError) as error:
            backend.ensure_domains([DOMAIN])
        assert error.value.retry_after == pytest.approx(120)
        assert len(proxy.received) == 1


def test_a_post_whose_outcome_is_unknown_is_not_repeated(modoboa: ModoboaInstance, backend_via: Any) -> None:
    with FaultProxy(modoboa.url, each_write=[(502, {})]) as proxy:
        backend = backend_via(proxy)
        with pytest.raises(TransientError, match="may have been applied"):
            backend.ensure_domains([DOMAIN])
        assert [r for r in proxy.received if r[0] == "POST"] == [("POST", "/api/v2/domains/")]
        assert proxy.forwarded_writes() == []


def test_writes_are_paced_below_the_limit(modoboa: ModoboaInstance, backend_via: Any) -> None:
    with FaultProxy(modoboa.url) as proxy:
        backend = backend_via(proxy, max_writes_per_second=4.0)
        backend.ensure_domains([DOMAIN])
        backend.create_mailbox(f"pace@{DOMAIN}", "Pace", 10, PASSWORD)
        for n in range(4):
            backend.update_mailbox(f"pace@{DOMAIN}", quota_mb=20 + n)
    stamps = [stamp for method, _, stamp in proxy.forwarded if method in WRITES]
    assert len(stamps) == 6
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert min(gaps) >= 0.2  # 1/4 s between writes, less the proxy's own jitter
    assert stamps[-1] - stamps[0] >= 5 * 0.25 - 0.05
