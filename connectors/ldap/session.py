"""One bound connection, its error mapping, and the write lanes and LDAP transactions built on sessions.

A `Session` opens its connection lazily, binds, and reopens it after a network
failure.  Every failure becomes one of the project's errors (lifecycle.domain.errors),
raised `from` the cause:

- server unreachable, connection dropped, timeouts, busy/unavailable results
  -> TransientError (retry later);
- invalidCredentials, insufficientAccessRights, bad URL, missing containers
  -> ConnectorConfigError (stop the connector, alert);
- entryAlreadyExists on a create -> AlreadyExistsError;
- anything else that fails for one operation -> RecordError (DN + reason).

Messages never contain the bind password (they are scrubbed on top of never
being built from it).  One request at a time per session: a lock serialises
them (and whole paged searches), so one session may be shared by threads.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import NoReturn, TypeVar

from connectors.ldap import client
from connectors.ldap.client import Connection, ConnectionLost, Controls, Entry, InvalidUrl, Page, Result
from lifecycle.domain.errors import AlreadyExistsError, ConnectorConfigError, RecordError, TransientError
from lifecycle.domain.settings import DirectorySettings

T = TypeVar("T")
CONNECTOR = "directory"

# LDAP result codes (RFC 4511) grouped by what the engine should do next.
SUCCESS = 0
TIME_LIMIT_EXCEEDED = 3
SIZE_LIMIT_EXCEEDED = 4
NO_SUCH_ATTRIBUTE = 16
ATTRIBUTE_OR_VALUE_EXISTS = 20
NO_SUCH_OBJECT = 32
ENTRY_ALREADY_EXISTS = 68
TRANSIENT_CODES = frozenset({TIME_LIMIT_EXCEEDED, 51, 52})  # + busy, unavailable
CONFIG_CODES = frozenset({7, 8, 13, 48, 49, 50, 123})  # auth method/strength/confidentiality, credentials, access

Send = Callable[[Connection, Controls], Result]
"""A write request: sent on the connection it is given, with the controls it is given (a transaction's)."""


def error_for(what: str, dn: str, result: Result, bind_dn: str, hint: str = "") -> Exception:
    """The error of the project's tree that a failed request is, with a message for an operator."""
    text = f"{what} {dn}: {result}" + (f"; {hint}" if hint else "")
    if result.code in TRANSIENT_CODES:
        return TransientError(text, connector=CONNECTOR)
    if result.code in CONFIG_CODES:
        return ConnectorConfigError(f"{text}; check the rights of {bind_dn}", connector=CONNECTOR)
    if result.code == ENTRY_ALREADY_EXISTS:
        return AlreadyExistsError(text, connector=CONNECTOR)
    return RecordError(text, connector=CONNECTOR)


class Session:
    """One connection to the directory, bound as `settings.bind_dn` on first use."""

    def __init__(self, settings: DirectorySettings) -> None:
        self.settings = settings
        self.url = settings.url.rstrip("/")
        self._password = settings.bind_password.get_secret_value() if settings.bind_password is not None else ""
        self._connection: Connection | None = None
        self.lock = threading.RLock()
        self.transaction: bytes | None = None  # the open LDAP transaction's identifier (see WriteLanes.transaction)

    def close(self) -> None:
        with self.lock:
            self._drop()

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def scrub(self, text: str) -> str:
        return text.replace(self._password, "********") if self._password else text

    def _bind(self, bind_dn: str, password: str) -> tuple[Connection, Result]:
        """A new connection and the result of binding it as `bind_dn`."""
        try:
            connection = Connection(self.url, self.settings.timeout_seconds)
        except InvalidUrl as err:
            raise ConnectorConfigError(f"directory url {self.settings.url!r} is invalid", connector=CONNECTOR) from err
        try:
            return connection, connection.bind(bind_dn, password)
        except ConnectionLost as err:
            connection.close()
            raise TransientError(self.scrub(f"directory {self.settings.url} is unreachable: {err}"), connector=CONNECTOR) from err

    def _connect(self) -> Connection:
        if self._connection is not None and not self._connection.closed:
            return self._connection
        self._connection = None
        connection, result = self._bind(self.settings.bind_dn, self._password)
        if result.code != SUCCESS:
            connection.close()
            text = self.scrub(f"cannot bind to {self.settings.url} as {self.settings.bind_dn}: {result}")
            if result.code in TRANSIENT_CODES:
                raise TransientError(text, connector=CONNECTOR)
            raise ConnectorConfigError(text + "; check directory.bind_dn and bind_password(_file)", connector=CONNECTOR)
        self._connection = connection
        return connection

    def bind_succeeds(self, dn: str, password: str) -> bool:
        """Whether a simple bind as `dn` with `password` succeeds, on a connection of its own."""
        connection, result = self._bind(dn, password)
        connection.close()
        if result.code in TRANSIENT_CODES:
            raise TransientError(f"bind as {dn}: {result}", connector=CONNECTOR)
        return result.code == SUCCESS

    def connect(self) -> None:
        """Open and bind now (the health check), rather than on the first request."""
        with self.lock:
            self._connect()

    def exchange(self, what: str, dn: str, call: Callable[[Connection], T], *, retry_stale: bool = False) -> T:
        """Run one request, `call`, on this session's connection; map network failures.

        Result codes are not interpreted here (each caller knows which ones are
        fine for it).  `retry_stale`: a read on a connection the server may have
        closed while idle is retried once on a fresh connection; writes are
        never retried blindly because their outcome is unknown.
        """
        with self.lock:
            for attempt in (1, 2):
                reused = self._connection is not None
                connection = self._connect()
                try:
                    return call(connection)
                except ConnectionLost as err:
                    self._drop()
                    if retry_stale and reused and attempt == 1:
                        continue
                    why = f"the server closed the connection ({err})" if err.down else str(err)
                    raise TransientError(
                        self.scrub(f"{what} {dn}: connection to {self.settings.url} failed: {why}"), connector=CONNECTOR
                    ) from err
            raise AssertionError("unreachable")

    def fail(self, what: str, dn: str, result: Result, hint: str = "") -> NoReturn:
        raise error_for(what, dn, Result(result.code, self.scrub(result.diagnostic)), self.settings.bind_dn, hint)

    def write(self, what: str, dn: str, send: Send, *, ok: Iterable[int] = (), hint: str = "") -> int:
        """A write request (inside this session's transaction, if one is open); returns SUCCESS or the `ok` code met."""
        controls = client.transaction_controls(self.transaction) if self.transaction is not None else ()
        result = self.exchange(what, dn, lambda connection: send(connection, controls))
        if result.code == SUCCESS or result.code in set(ok):
            return result.code
        self.fail(what, dn, result, hint)

    # -- searching ------------------------------------------------------------------

    def pages(
        self, what: str, base: str, search_filter: str, attributes: Sequence[str], *, size_limit: int = 0
    ) -> Iterator[list[Entry]]:
        """Every entry under `base`, one page (read whole) at a time; the session is held until the last.

        A missing base, or a server that cuts the result short (size limit), is a
        configuration problem: a truncated snapshot must never be taken for the truth.
        """
        cookie = b""
        first = True
        total = 0
        with self.lock:  # a page's cookie belongs to this connection: no other search in between
            while True:

                def call(connection: Connection, cookie: bytes = cookie) -> Page:
                    return connection.search_page(base, search_filter, attributes, page_size=self.settings.page_size,
                                                  cookie=cookie, size_limit=size_limit)

                page = self.exchange(what, base, call, retry_stale=first)
                first = False
                total += len(page.entries)
                if page.result.code == NO_SUCH_OBJECT:
                    raise ConnectorConfigError(
                        f"{what}: {base} does not exist; create it or fix the configuration (`check` lists what is missing)",
                        connector=CONNECTOR,
                    )
                if page.result.code == SIZE_LIMIT_EXCEEDED:
                    raise ConnectorConfigError(
                        f"{what}: the server stopped after {total} entries under {base} (sizeLimitExceeded); "
                        f"lift the size limits for {self.settings.bind_dn} (OpenLDAP: limits dn.exact=... size.prtotal=unlimited)",
                        connector=CONNECTOR,
                    )
                if page.result.code != SUCCESS:
                    self.fail(what, base, page.result)
                yield page.entries
                if not page.cookie:
                    return
                cookie = page.cookie

    def search(self, what: str, base: str, search_filter: str, attributes: Sequence[str], *, size_limit: int = 0) -> Page:
        """One unpaged subtree search; its result code is the caller's to judge (a size limit may be fine)."""

        def call(connection: Connection) -> Page:
            return connection.search_page(base, search_filter, attributes, size_limit=size_limit)

        return self.exchange(what, base, call, retry_stale=True)

    def base_entry(self, what: str, dn: str, search_filter: str, attributes: Sequence[str]) -> Entry | None:
        """(server's DN, raw attributes) of `dn` if it exists and matches `search_filter`, else None."""

        def call(connection: Connection) -> Page:
            return connection.search_page(dn, search_filter, attributes, scope="base")

        page = self.exchange(what, dn, call, retry_stale=True)
        if page.result.code == NO_SUCH_OBJECT:
            return None
        if page.result.code != SUCCESS:
            self.fail(what, dn, page.result)
        return page.entries[0] if page.entries else None

    def exists(self, dn: str) -> bool:
        return self.base_entry("look up", dn, "(objectClass=*)", ["1.1"]) is not None

    def root_values(self, attribute: str) -> list[str]:
        """The values of one attribute of the server's root DSE (what it offers: extensions, naming contexts)."""
        found = self.base_entry(f"read the root DSE's {attribute}", "", "(objectClass=*)", [attribute])
        values = found[1].get(attribute.lower(), []) if found is not None else []
        return [v.decode("utf-8", "replace") for v in values]


class WriteLanes:
    """Which session the calling thread writes through, and its LDAP transaction.

    The executor's lanes: each lane thread enters `writer()` once and performs
    its actions one at a time over a session of its own, so actions routed to
    the same lane keep their order.  Outside a lane (and with
    `own_connection=False`) writes go through the shared session.
    """

    def __init__(self, shared: Session, open_lane: Callable[[], Session]) -> None:
        self._shared = shared
        self._open_lane = open_lane
        self._bound = threading.local()

    @contextlib.contextmanager
    def writer(self, *, defer_references: bool = False, own_connection: bool = True) -> Iterator[None]:
        """The calling thread's writes over a session of its own while inside (opened on its first
        write, closed on exit).  With `defer_references`, moves and deletes do not wait for refint:
        the caller waits once for many (`await_references`)."""
        lane = self._open_lane() if own_connection else None
        previous = getattr(self._bound, "lane", None)
        self._bound.lane = (lane, defer_references)
        try:
            yield
        finally:
            self._bound.lane = previous
            if lane is not None:
                lane.close()

    def session(self) -> Session:
        """The session the calling thread writes through: its lane's, else the shared one."""
        lane = getattr(self._bound, "lane", None)
        return lane[0] if lane is not None and lane[0] is not None else self._shared

    def defers_references(self) -> bool:
        lane = getattr(self._bound, "lane", None)
        return lane is not None and lane[1]

    def in_transaction(self) -> bool:
        return self.session().transaction is not None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """The calling thread's writes in one LDAP transaction (RFC 5805), all or nothing.

        slapd queues each write sent inside and answers it at once; on leaving, the
        transaction is committed and slapd applies them all in one database
        transaction: one sync to disk instead of one per write.  When one write is
        refused at the commit, or the block raises (the transaction is then
        abandoned), none is applied; the commit's refusal raises RecordError, and
        the caller writes them one by one to learn which one it was.  Only for
        writes that need no answer before the commit (no reads between them).
        """
        target = self.session()
        if target.transaction is not None:
            raise RuntimeError("a transaction is already open on this connection")
        started, identifier = target.exchange("start a transaction", "", lambda c: c.extended(client.TRANSACTION_START))
        if started.code != SUCCESS or identifier is None:  # slapd's identifier is empty: one transaction per connection
            target.fail("start a transaction", "", started, "the server offers no LDAP transactions to this account")

        def end(commit: bool) -> Callable[[Connection], tuple[Result, bytes | None]]:
            value = client.transaction_end_value(identifier, commit=commit)
            return lambda connection: connection.extended(client.TRANSACTION_END, value)

        target.transaction = identifier
        try:
            yield
        except BaseException:
            target.transaction = None
            with contextlib.suppress(TransientError, RecordError):
                target.exchange("abandon a transaction", "", end(False))
            raise
        target.transaction = None
        committed, _ = target.exchange("commit a transaction", "", end(True))
        if committed.code != SUCCESS:
            target.fail("commit a transaction", "", committed, "nothing of it was written")
