"""The OpenLDAP directory connector (ldap3).

One bound connection per `LdapDirectory`, opened lazily and reopened after a
network failure.  Every public method maps failures onto the project's error
tree (lifecycle.domain.errors):

- server unreachable, connection dropped, timeouts, busy/unavailable results
  -> TransientError (retry later);
- invalidCredentials, insufficientAccessRights, bad URL, missing containers
  -> ConnectorConfigError (stop the connector, alert);
- entryAlreadyExists on a create -> AlreadyExistsError;
- anything else that fails for one operation -> RecordError (DN + reason).

Messages never contain the bind password (they are scrubbed on top of never
being built from it).

DNs.  Servers return DNs in their own "pretty" form: slapd turns `cn=a\\,b`
into `cn=a\\2Cb`.  So that DNs can be compared as strings by the policies,
every DN this module hands out (entry DNs, group members, managers, the
results of `person_dn`/`group_dn`/`move_person`) is in one canonical form:
lower-case attribute types and values escaped with `lifecycle.domain.dn.escape_rdn_value` (RFC 4514).
`canonical_dn()` is public for callers that build DNs from settings, and
`dn_key()` (canonical, case-folded) is the comparison key.

Passwords are hashed client-side ({SSHA}) and always come with
`pwdReset: TRUE`: with the policy's `pwdMustChange`, ppolicy then lets the
user do nothing but change it.  Disabling is `pwdAccountLockedTime:
000001010000Z`, which only blocks binds where the applying password policy
has `pwdLockout: TRUE` (`check()` looks for one).  Moves and deletes wait
for slapd's refint overlay, which rewrites member/manager references only
after the operation has been answered.

ldap3's synchronous connection is not thread-safe; a lock serialises the
requests (and whole paged searches) so one instance may be shared.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from types import TracebackType
from typing import Any, NoReturn, TypeVar

import structlog
from ldap3 import (
    AUTO_BIND_NONE,
    BASE,
    HASHED_SALTED_SHA,
    MODIFY_ADD,
    MODIFY_DELETE,
    MODIFY_REPLACE,
    NONE,
    SIMPLE,
    SUBTREE,
    SYNC,
    Connection,
    Server,
)
from ldap3.core.exceptions import LDAPCommunicationError, LDAPException, LDAPResponseTimeoutError
from ldap3.core.results import RESULT_CODES
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.hashed import hashed

from connectors import ldap_wire as wire
from connectors.ldap_wire import EntryHandler, PageResult, WireError, decode_entry, search_page
from lifecycle.domain.dn import dn_key as folded_dn_key, escape_rdn_value, match_key
from lifecycle.domain.errors import AlreadyExistsError, ConnectorConfigError, RecordError, TransientError
from lifecycle.engine.gcpause import gc_paused
from lifecycle.domain.models import DirectoryEntry, DirectorySnapshot, GroupEntry
from lifecycle.domain.settings import CompanySettings, DirectorySettings

log = structlog.get_logger(__name__)
T = TypeVar("T")

CONNECTOR = "directory"
PERSON_CLASSES = ("top", "person", "organizationalPerson", "inetOrgPerson")
PERSON_FILTER = "(objectClass=inetOrgPerson)"
GROUP_FILTER = "(&(objectClass=groupOfNames)(businessCategory=lifecycle))"
MANAGED_MARKER = "lifecycle"
# ppolicy treats this value as "locked by an administrator, never expires".
LOCKED_FOREVER = "000001010000Z"
PERSON_ATTRIBUTES = (
    "uid",
    "cn",
    "sn",
    "givenName",
    "displayName",
    "mail",
    "employeeNumber",
    "departmentNumber",
    "title",
    "manager",
    "pwdAccountLockedTime",
    "authTimestamp",
    "pwdLastSuccess",
    "createTimestamp",
)
GROUP_ATTRIBUTES = ("cn", "o", "ou", "member")
# The snapshot: people, managed groups and every uid holder, in one search under the base DN.
SNAPSHOT_FILTER = f"(|{PERSON_FILTER}(uid=*){GROUP_FILTER})"
SNAPSHOT_ATTRIBUTES = tuple(dict.fromkeys(("objectClass", "businessCategory", *PERSON_ATTRIBUTES, *GROUP_ATTRIBUTES)))
PAGED_RESULTS_OID = "1.2.840.113556.1.4.319"
# How long a move/delete waits for refint to rewrite references (it runs after the reply).
REFERENCE_WAIT_SECONDS = 2.0
# DNs per reference search when waiting for a batch (two filter terms each).
REFERENCE_CHUNK = 100
# Which LdapDirectory (and lane connection) the current thread writes through; see `LdapDirectory.writer`.
_LANE = threading.local()

# LDAP result codes (RFC 4511) grouped by what the engine should do next.
SUCCESS = 0
TIME_LIMIT_EXCEEDED = 3
SIZE_LIMIT_EXCEEDED = 4
NO_SUCH_ATTRIBUTE = 16
ATTRIBUTE_OR_VALUE_EXISTS = 20
NO_SUCH_OBJECT = 32
OBJECT_CLASS_VIOLATION = 65
ENTRY_ALREADY_EXISTS = 68
TRANSIENT_CODES = frozenset({TIME_LIMIT_EXCEEDED, 51, 52})  # + busy, unavailable
LAST_MEMBER_HINT = "a groupOfNames needs at least one member: delete the group instead of removing its last member"
CONFIG_CODES = frozenset({7, 8, 13, 48, 49, 50, 123})  # auth method/strength/confidentiality, credentials, access


# -- DN handling ---------------------------------------------------------------


def _decode_hex_value(hexstring: str) -> str:
    """Value of a `#<BER hex>` RDN value: a primitive string TLV (RFC 4514 2.4)."""
    data = bytes.fromhex(hexstring)
    if len(data) < 2:
        raise ValueError("short BER value")
    length = data[1]
    offset = 2
    if length & 0x80:
        octets = length & 0x7F
        length = int.from_bytes(data[2 : 2 + octets], "big")
        offset = 2 + octets
    return data[offset : offset + length].decode("utf-8")


def parse_dn(dn: str) -> list[list[tuple[str, str]]]:
    """Split a DN (RFC 4514, tolerant of RFC 2253 spaces) into RDNs of (type, unescaped value)."""
    rdns: list[list[tuple[str, str]]] = []
    avas: list[tuple[str, str]] = []
    i, n = 0, len(dn)
    if not dn.strip():
        return rdns
    while True:
        equals = dn.find("=", i)
        if equals < 0:
            raise ValueError(f"invalid DN {dn!r}: missing '='")
        attribute = dn[i:equals].strip()
        if not attribute:
            raise ValueError(f"invalid DN {dn!r}: empty attribute type")
        i = equals + 1
        while i < n and dn[i] == " ":
            i += 1
        if i < n and dn[i] == "#":
            end = i + 1
            while end < n and dn[end] not in ",;+":
                end += 1
            value = _decode_hex_value(dn[i + 1 : end].strip())
            i = end
        else:
            buffer = bytearray()
            significant = 0  # bytes up to the last escaped or non-space character
            while i < n:
                char = dn[i]
                if char == "\\":
                    pair = dn[i + 1 : i + 3]
                    if len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair):
                        buffer.append(int(pair, 16))
                        i += 3
                    elif i + 1 < n:
                        buffer += dn[i + 1].encode("utf-8")
                        i += 2
                    else:
                        raise ValueError(f"invalid DN {dn!r}: dangling backslash")
                    significant = len(buffer)
                elif char in ",;+":
                    break
                else:
                    buffer += char.encode("utf-8")
                    i += 1
                    if char != " ":
                        significant = len(buffer)
            value = bytes(buffer[:significant]).decode("utf-8")
        avas.append((attribute, value))
        if i >= n or dn[i] in ",;":
            rdns.append(avas)
            avas = []
        if i >= n:
            return rdns
        i += 1


def _format_rdn(avas: Iterable[tuple[str, str]]) -> str:
    return "+".join(f"{attribute.lower()}={escape_rdn_value(value) if value else ''}" for attribute, value in avas)


# attr=value pairs whose values need no escaping and carry no edge spaces.
_PLAIN_VALUE = r'[^\s\\,+"<>;=#](?:[^\\,+"<>;=]*[^\s\\,+"<>;=])?'
_PLAIN_AVA = rf"[A-Za-z][\w.-]*={_PLAIN_VALUE}"
_PLAIN_DN = re.compile(rf"{_PLAIN_AVA}(?:,{_PLAIN_AVA})*")


def canonical_dn(dn: str) -> str:
    """The one textual form of `dn` used throughout the project.

    Falls back to the input for DNs this parser does not understand, so a
    strange DN coming back from the server never breaks a whole snapshot.
    """
    if _PLAIN_DN.fullmatch(dn):
        # Fast path for the common case (a snapshot canonicalises every DN it reads).
        return ",".join(f"{attribute.lower()}={value}" for attribute, value in (part.split("=", 1) for part in dn.split(",")))
    try:
        return ",".join(_format_rdn(rdn) for rdn in parse_dn(dn))
    except (ValueError, UnicodeDecodeError):
        return dn


def dn_key(dn: str) -> str:
    """Comparison key: canonical, then folded as the server compares DN values (lifecycle.domain.dn.dn_key)."""
    return folded_dn_key(canonical_dn(dn))


def _split_first_rdn(dn: str) -> tuple[list[tuple[str, str]], str]:
    """(first RDN as (type, value) pairs, canonical parent DN); a malformed DN fails only its action."""
    try:
        rdns = parse_dn(dn)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RecordError(f"{dn}: not a valid DN ({exc})", connector=CONNECTOR) from exc
    if not rdns:
        raise RecordError("an empty DN was given", connector=CONNECTOR)
    return rdns[0], ",".join(_format_rdn(rdn) for rdn in rdns[1:])


def _is_within(dn: str, base: str) -> bool:
    dn_k, base_k = dn_key(dn), dn_key(base)
    return dn_k == base_k or dn_k.endswith("," + base_k)


# -- value decoding ----------------------------------------------------------------


def _text(values: Sequence[bytes] | None) -> str:
    if not values:
        return ""
    return values[0].decode("utf-8", errors="replace")


def parse_generalized_time(value: str) -> datetime | None:
    """GeneralizedTime (`YYYYMMDDHHMMSS[.fff][Z|+hhmm]`) as an aware UTC datetime."""
    if len(value) == 15 and value[14] == "Z" and value[:14].isdigit():  # what slapd writes: the common case
        try:
            return datetime(int(value[0:4]), int(value[4:6]), int(value[6:8]), int(value[8:10]), int(value[10:12]),
                            int(value[12:14]), tzinfo=UTC)
        except ValueError:
            return None
    value = value.strip()
    if len(value) < 10:
        return None
    try:
        zone: timezone = UTC
        if value.endswith("Z"):
            value = value[:-1]
        elif len(value) > 5 and value[-5] in "+-":
            sign = 1 if value[-5] == "+" else -1
            zone = timezone(sign * timedelta(hours=int(value[-4:-2]), minutes=int(value[-2:])))
            value = value[:-5]
        fraction = 0.0
        for separator in ".,":
            if separator in value:
                value, digits = value.split(separator, 1)
                fraction = float("0." + digits) if digits else 0.0
        digits = value.ljust(14, "0")
        if not digits[:14].isdigit():
            return None
        stamp = datetime(
            int(digits[0:4]),
            int(digits[4:6]),
            int(digits[6:8]),
            int(digits[8:10]),
            int(digits[10:12]),
            int(digits[12:14]),
            tzinfo=zone,
        )
        return (stamp + timedelta(seconds=fraction)).astimezone(UTC)
    except ValueError:
        return None


def _time(values: Sequence[bytes] | None) -> datetime | None:
    return parse_generalized_time(_text(values)) if values else None


class _CanonicalCache:
    """Shared strings for one snapshot (100k people must fit a small machine).

    Member and manager values repeat the people's DNs: each canonical form is
    made once and shared.  Departments, titles, family and given names repeat
    across thousands of people: each distinct value is kept once.
    """

    __slots__ = ("_forms", "_texts", "_times")

    def __init__(self, known: Iterable[str] = ()) -> None:
        self._forms: dict[str, str] = {}
        self._texts: dict[str, str] = {text: text for text in known}
        self._times: dict[bytes, datetime | None] = {}  # bulk loads give thousands the same createTimestamp

    def form(self, dn: str) -> str:
        found = self._forms.get(dn)
        if found is None:
            found = canonical_dn(dn)
            found = self._forms[dn] = dn if found == dn else found
        return found

    def key(self, dn: str) -> str:
        return self.form(dn).casefold()

    def shared(self, values: Sequence[bytes] | None) -> str:
        text = _text(values)
        return self._texts.setdefault(text, text)

    def time(self, values: Sequence[bytes] | None) -> datetime | None:
        if not values:
            return None
        raw = values[0]
        if raw not in self._times:
            self._times[raw] = _time(values)
        return self._times[raw]


def _entry_from(dn: str, attrs: Mapping[str, Sequence[bytes]], canonical: _CanonicalCache | None = None) -> DirectoryEntry:
    """A person from its raw attributes (keys in lower case, as `ldap_wire` gives them)."""
    form = canonical.form if canonical is not None else canonical_dn
    shared = canonical.shared if canonical is not None else _text
    when = canonical.time if canonical is not None else _time
    binds = [t for t in (when(attrs.get("authtimestamp")), when(attrs.get("pwdlastsuccess"))) if t is not None]
    manager = _text(attrs.get("manager"))
    return DirectoryEntry(
        dn=form(dn),
        uid=_text(attrs.get("uid")),
        cn=shared(attrs.get("cn")),
        sn=shared(attrs.get("sn")),
        given_name=shared(attrs.get("givenname")),
        display_name=shared(attrs.get("displayname")),  # usually equal to cn
        mail=shared(attrs.get("mail")),  # shared with the mailbox's address (see `read_snapshot`)
        employee_number=_text(attrs.get("employeenumber")),
        department=shared(attrs.get("departmentnumber")),
        title=shared(attrs.get("title")),
        manager=form(manager) if manager else "",
        locked=bool(attrs.get("pwdaccountlockedtime")),
        last_bind=max(binds) if binds else None,
        created=when(attrs.get("createtimestamp")),
    )


def _group_from(dn: str, attrs: Mapping[str, Sequence[bytes]], canonical: _CanonicalCache | None = None) -> GroupEntry:
    form = canonical.form if canonical is not None else canonical_dn
    members = frozenset(form(v.decode("utf-8", errors="replace")) for v in attrs.get("member") or ())
    return GroupEntry(
        dn=form(dn),
        cn=_text(attrs.get("cn")),
        company=_text(attrs.get("o")),
        department=_text(attrs.get("ou")),
        members=members,
    )


# -- the connector -----------------------------------------------------------------


class LdapDirectory:
    """Reads and changes people and managed groups in an LDAP directory."""

    def __init__(self, settings: DirectorySettings, companies: Sequence[CompanySettings]) -> None:
        self.settings = settings
        self.companies = tuple(companies)
        self.base_dn = canonical_dn(settings.base_dn)
        self.groups_dn = canonical_dn(settings.groups_dn)
        self._password = settings.bind_password.get_secret_value() if settings.bind_password is not None else ""
        # ldap3 packs the receive timeout into a C `struct timeval` of integers.
        self._receive_timeout = max(1, math.ceil(settings.timeout_seconds))
        self._connection: Connection | None = None
        self._lock = threading.RLock()
        self._transaction: bytes | None = None  # the open LDAP transaction's identifier (see `transaction`)
        self._offers_transactions: bool | None = None

    # -- connection management ------------------------------------------------------

    def __enter__(self) -> LdapDirectory:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(LDAPException):  # already gone; nothing to tell anyone
                connection.unbind()

    # Errors whose text goes through _scrub are re-raised `from None`: ldap3's exception may hold the
    # bind password, which the message carries scrubbed; a chained cause would print it unscrubbed.
    def _scrub(self, text: str) -> str:
        return text.replace(self._password, "********") if self._password else text

    def _server(self) -> Server:
        try:
            return Server(self.settings.url.rstrip("/"), connect_timeout=self.settings.timeout_seconds, get_info=NONE)
        except LDAPException as exc:
            raise ConnectorConfigError(
                self._scrub(f"directory url {self.settings.url!r} is invalid: {exc}"), connector=CONNECTOR
            ) from None

    def _connect(self) -> Connection:
        if self._connection is not None and not self._connection.closed:
            return self._connection
        self._connection = None
        connection = Connection(
            self._server(),
            user=self.settings.bind_dn,
            password=self._password,
            authentication=SIMPLE,
            auto_bind=AUTO_BIND_NONE,
            client_strategy=SYNC,
            receive_timeout=self._receive_timeout,
            raise_exceptions=False,
            # We escape DNs ourselves; ldap3's own DN re-escaping would change them.
            check_names=False,
            read_only=False,
        )
        try:
            connection.open()
            bound = connection.bind()
        except (LDAPCommunicationError, LDAPResponseTimeoutError) as exc:
            self._close_quietly(connection)
            raise TransientError(
                self._scrub(f"directory {self.settings.url} is unreachable: {exc}"), connector=CONNECTOR
            ) from None
        except LDAPException as exc:
            self._close_quietly(connection)
            raise ConnectorConfigError(
                self._scrub(f"cannot connect to {self.settings.url}: {exc}"), connector=CONNECTOR
            ) from None
        if not bound:
            result = connection.result or {}
            self._close_quietly(connection)
            code = int(result.get("result", -1))
            text = self._scrub(f"cannot bind to {self.settings.url} as {self.settings.bind_dn}: {_describe(result)}")
            if code in TRANSIENT_CODES:
                raise TransientError(text, connector=CONNECTOR)
            raise ConnectorConfigError(text + "; check directory.bind_dn and bind_password(_file)", connector=CONNECTOR)
        self._connection = connection
        return connection

    @staticmethod
    def _close_quietly(connection: Connection) -> None:
        with contextlib.suppress(LDAPException):
            connection.unbind()

    def _exchange(self, what: str, dn: str, call: Callable[[Connection], T], *, retry_stale: bool = False) -> T:
        """Run `call` on the shared connection; map network failures.

        Result codes are not interpreted here (each caller knows which ones are
        fine for it).  `retry_stale`: a read on a connection the server may have
        closed while idle is retried once on a fresh connection; writes are
        never retried blindly because their outcome is unknown.
        """
        with self._lock:
            for attempt in (1, 2):
                reused = self._connection is not None
                connection = self._connect()
                try:
                    return call(connection)
                except (LDAPCommunicationError, LDAPResponseTimeoutError, OSError, WireError) as exc:
                    self._drop()
                    if retry_stale and reused and attempt == 1 and not isinstance(exc, WireError):
                        continue
                    raise TransientError(
                        self._scrub(f"{what} {dn}: connection to {self.settings.url} failed: {exc}"), connector=CONNECTOR
                    ) from None
                except LDAPException as exc:
                    raise RecordError(self._scrub(f"{what} {dn}: {exc}"), connector=CONNECTOR) from None
            raise AssertionError("unreachable")

    def _request(
        self, what: str, dn: str, call: Callable[[Connection], Any], *, retry_stale: bool = False
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Run one ldap3 request; return (result, response) or raise the mapped network error."""

        def run(connection: Connection) -> tuple[dict[str, Any], list[dict[str, Any]]]:
            call(connection)
            return dict(connection.result or {}), list(connection.response or [])

        return self._exchange(what, dn, run, retry_stale=retry_stale)

    def _fail(self, what: str, dn: str, result: Mapping[str, Any], hint: str = "") -> NoReturn:
        code = int(result.get("result", -1))
        text = self._scrub(f"{what} {dn}: {_describe(result)}" + (f"; {hint}" if hint else ""))
        if code in TRANSIENT_CODES:
            raise TransientError(text, connector=CONNECTOR)
        if code in CONFIG_CODES:
            raise ConnectorConfigError(f"{text}; check the rights of {self.settings.bind_dn}", connector=CONNECTOR)
        if code == ENTRY_ALREADY_EXISTS:
            raise AlreadyExistsError(text, connector=CONNECTOR)
        raise RecordError(text, connector=CONNECTOR)

    def _write(self, what: str, dn: str, call: Callable[[Connection], dict[str, Any]], *, ok: Iterable[int] = (), hint: str = "") -> int:
        """A write request (see `_add`, `_modify`, ...); returns the result code when it is SUCCESS or one of `ok`."""
        result = self._exchange(what, dn, call)
        code = int(result.get("result", -1))
        if code == SUCCESS or code in set(ok):
            return code
        self._fail(what, dn, result, hint)

    # -- searching ------------------------------------------------------------------

    def _search_pages(
        self, what: str, base: str, search_filter: str, attributes: Sequence[str], handle_entry: EntryHandler
    ) -> Iterator[PageResult]:
        """Hand every entry under `base` to `handle_entry` as raw bytes; yields after each page.

        Responses are read by `ldap_wire` (see there why).  A missing base, or a
        server that cuts the result short (size limit), is a configuration
        problem: a truncated snapshot must never be taken for the truth.
        """
        cookie: bytes | None = None
        first = True
        total = 0
        while True:

            def call(connection: Connection, cookie: bytes | None = cookie) -> PageResult:
                return search_page(connection, base, search_filter, attributes, self.settings.page_size, cookie, handle_entry)

            page = self._exchange(what, base, call, retry_stale=first)
            first = False
            total += page.entries
            if page.code == NO_SUCH_OBJECT:
                raise ConnectorConfigError(
                    f"{what}: {base} does not exist; create it or fix the configuration (`check` lists what is missing)",
                    connector=CONNECTOR,
                )
            if page.code == SIZE_LIMIT_EXCEEDED:
                raise ConnectorConfigError(
                    f"{what}: the server stopped after {total} entries under {base} (sizeLimitExceeded); "
                    f"lift the size limits for {self.settings.bind_dn} (OpenLDAP: limits dn.exact=... size.prtotal=unlimited)",
                    connector=CONNECTOR,
                )
            if page.code != SUCCESS:
                self._fail(what, base, _result_of(page))
            yield page
            if not page.cookie:
                return
            cookie = page.cookie

    def scan(self, what: str, search_filter: str, attributes: Sequence[str], handle_entry: EntryHandler) -> int:
        """Every entry under the base DN matching `search_filter`, raw, to `handle_entry`; returns the count.

        For callers that digest entries rather than decode them (the quiet-cycle probe).
        """
        with self._lock:
            return sum(page.entries for page in self._search_pages(what, self.base_dn, search_filter, attributes, handle_entry))

    def _paged(
        self, what: str, base: str, search_filter: str, attributes: Sequence[str]
    ) -> Iterator[tuple[str, dict[str, list[bytes]]]]:
        """(dn, {lower-case attribute: raw values}) of every entry under `base`, one page at a time."""
        batch: list[tuple[str, dict[str, list[bytes]]]] = []

        def keep(buffer: bytes, start: int, end: int) -> None:
            batch.append(decode_entry(buffer, start, end))

        # A page is decoded whole before its entries are handed out: the caller never runs inside a read.
        for _ in self._search_pages(what, base, search_filter, attributes, keep):
            page, batch[:] = list(batch), []
            yield from page

    def _base_search(
        self, what: str, dn: str, search_filter: str, attributes: Sequence[str]
    ) -> tuple[str, dict[str, list[bytes]]] | None:
        """(server's DN, {lower-case attribute: raw values}) of `dn` if it exists and matches `search_filter`, else None."""
        found: list[tuple[str, dict[str, list[bytes]]]] = []

        def keep(buffer: bytes, start: int, end: int) -> None:
            found.append(decode_entry(buffer, start, end))

        def call(connection: Connection) -> PageResult:
            found.clear()
            return search_page(connection, dn, search_filter, attributes, 0, None, keep, scope=BASE)

        page = self._exchange(what, dn, call, retry_stale=True)
        if page.code == NO_SUCH_OBJECT:
            return None
        if page.code != SUCCESS:
            self._fail(what, dn, _result_of(page))
        return found[0] if found else None

    def read_uids(self, dn: str) -> list[str] | None:
        """The uid values of any entry (a person, a service account...), None when it does not exist."""
        found = self._base_search("read the uids of", dn, "(objectClass=*)", ["uid"])
        return None if found is None else [v.decode("utf-8", "replace") for v in found[1].get("uid", ())]

    def _exists(self, dn: str) -> bool:
        return self._base_search("look up", dn, "(objectClass=*)", ["1.1"]) is not None

    # -- reading --------------------------------------------------------------------

    def read_snapshot(self, known: Iterable[str] = ()) -> DirectorySnapshot:
        """Every person under the companies' people_dn, the managed groups, and all uids.

        `known`: strings already in memory (the mailboxes' addresses and display names): an entry's
        mail, cn, displayName... equal to one of them share it instead of holding a copy (~15 MB at 100k).
        """
        # Paged searches must not interleave on the shared connection; the snapshot is acyclic,
        # so the cyclic collector has nothing to find while 100k entries are built (lifecycle.engine.gcpause).
        with self._lock, gc_paused():
            return self._read_snapshot(known)

    def _read_snapshot(self, known: Iterable[str] = ()) -> DirectorySnapshot:
        # One search under the base DN reads each entry once: people, managed groups and every
        # other uid holder (the naming namespace), told apart here by their DN and object classes.
        people: dict[str, DirectoryEntry] = {}
        groups: dict[str, GroupEntry] = {}
        taken: set[str] = set()
        for label, dn in self._containers():
            if not self._exists(dn):  # else its people would look deleted (or not yet created)
                raise ConnectorConfigError(
                    f"read directory: {label} {dn} does not exist; create it or fix the configuration "
                    "(`check` lists what is missing)",
                    connector=CONNECTOR,
                )
        people_keys = tuple(dn_key(company.people_dn) for company in self.companies)
        groups_key = dn_key(self.groups_dn)
        canonical = _CanonicalCache(known)
        for dn, raw in self._paged("read directory", self.base_dn, SNAPSHOT_FILTER, SNAPSHOT_ATTRIBUTES):
            key = canonical.key(dn)
            classes = {v.lower() for v in raw.get("objectclass", ())}
            uids = raw.get("uid", [])
            if b"inetorgperson" in classes and any(key == k or key.endswith("," + k) for k in people_keys):
                entry = _entry_from(dn, raw, canonical)
                people[entry.dn] = entry
                if entry.uid:
                    uid = match_key(entry.uid)
                    taken.add(entry.uid if uid == entry.uid else uid)  # one string, not two, where they are equal
                    uids = uids[1:]  # the first is entry.uid
            elif (b"groupofnames" in classes and key.endswith("," + groups_key)
                  and any(v.lower() == MANAGED_MARKER.encode() for v in raw.get("businesscategory", ()))):
                group = _group_from(dn, raw, canonical)
                groups[group.dn] = group
            taken.update(match_key(v.decode("utf-8", errors="replace")) for v in uids)
        return DirectorySnapshot(
            entries=tuple(people[dn] for dn in sorted(people)),
            groups=tuple(groups[dn] for dn in sorted(groups)),
            taken_uids=frozenset(taken),
        )

    def read_person(self, dn: str) -> DirectoryEntry | None:
        found = self._base_search("read person", dn, PERSON_FILTER, PERSON_ATTRIBUTES)
        return None if found is None else _entry_from(*found)

    def read_group(self, dn: str) -> GroupEntry | None:
        found = self._base_search("read group", dn, GROUP_FILTER, GROUP_ATTRIBUTES)
        return None if found is None else _group_from(*found)

    def find_by_employee_number(self, employee_number: str) -> DirectoryEntry | None:
        """The one person with this employeeNumber under any company's people_dn.

        Several matches are a RecordError: acting on either would be a guess.
        """
        search_filter = f"(&{PERSON_FILTER}(employeeNumber={escape_filter_chars(employee_number)}))"
        found: dict[str, DirectoryEntry] = {}
        with self._lock:
            for company in self.companies:
                for dn, raw in self._paged("find person", canonical_dn(company.people_dn), search_filter, PERSON_ATTRIBUTES):
                    entry = _entry_from(dn, raw)
                    found[entry.dn] = entry
        if len(found) > 1:
            raise RecordError(
                f"employee number {employee_number} is on {len(found)} entries: {', '.join(sorted(found))}", connector=CONNECTOR
            )
        return next(iter(found.values()), None)

    # -- naming -----------------------------------------------------------------------

    @staticmethod
    def person_dn(uid: str, people_dn: str) -> str:
        if not uid:
            raise ValueError("uid must not be empty")
        return f"uid={escape_rdn_value(uid)},{canonical_dn(people_dn)}"

    def group_dn(self, company: str, department: str) -> str:
        return f"cn={escape_rdn_value(f'{company}-{department}')},{self.groups_dn}"

    # -- people -----------------------------------------------------------------------

    def create_person(self, dn: str, attributes: Mapping[str, str], password: str | None) -> None:
        """Add an inetOrgPerson; with a password, the user must change it at first login."""
        values: dict[str, Any] = {name: value for name, value in attributes.items() if value}
        rdn, _ = _split_first_rdn(dn)
        for attribute, value in rdn:  # the naming value must be in the entry
            if not any(name.lower() == attribute.lower() for name in values):
                values[attribute] = value
        if password:
            values.update(userPassword=_hash_password(password), pwdReset="TRUE")
        self._lane_write("create", dn, _add(dn, PERSON_CLASSES, values))
        if not self._in_transaction():  # queued only: the executor logs it once committed
            log.info("directory.person_created", dn=dn)

    def modify_person(self, dn: str, changes: Mapping[str, str | None]) -> None:
        """Replace each attribute; None or "" removes it (fine when already absent)."""
        if not changes:
            return
        # REPLACE with no values deletes and, unlike DELETE, succeeds when absent.
        modification = {name: [(MODIFY_REPLACE, [value] if value else [])] for name, value in changes.items()}
        self._lane_write("modify", dn, _modify(dn, modification))

    def set_password(self, dn: str, password: str) -> None:
        """Replace the password with an initial one the user must change at first login."""
        if not password:
            raise ValueError("password must not be empty")
        changes = {"userPassword": [(MODIFY_REPLACE, [_hash_password(password)])], "pwdReset": [(MODIFY_REPLACE, ["TRUE"])]}
        self._lane_write("set password of", dn, _modify(dn, changes))
        log.info("directory.password_set", dn=dn)

    def move_person(self, dn: str, new_superior: str) -> str:
        """Move under `new_superior`, keeping the RDN; returns the new DN.

        A retry after a move that did happen (old DN gone, new one there)
        succeeds, so an interrupted action can simply be run again.  Inside a
        `writer(defer_references=True)` lane the wait for refint is left to
        the caller's `await_references` (once for a whole batch).
        """
        rdn, parent = _split_first_rdn(dn)
        rdn_text = _format_rdn(rdn)
        superior = canonical_dn(new_superior)
        new_dn = f"{rdn_text},{superior}"
        if dn_key(parent) == dn_key(superior):
            return canonical_dn(dn)
        result = self._lane_request("move", dn, _modify_dn(dn, rdn_text, superior))
        code = int(result.get("result", -1))
        if code == NO_SUCH_OBJECT and self._exists(new_dn):
            return new_dn
        if code != SUCCESS:
            self._fail("move", dn, result, f"to {superior}")
        log.info("directory.person_moved", dn=dn, new_dn=new_dn)
        if not self._defers_references():
            self._await_references(dn)
        return new_dn

    def lock(self, dn: str) -> None:
        """Disable logins: ppolicy refuses binds while pwdAccountLockedTime is 000001010000Z."""
        self._lane_write("lock", dn, _modify(dn, {"pwdAccountLockedTime": [(MODIFY_REPLACE, [LOCKED_FOREVER])]}))
        if not self._in_transaction():
            log.info("directory.person_locked", dn=dn)

    def unlock(self, dn: str) -> None:
        self._lane_write("unlock", dn, _modify(dn, {"pwdAccountLockedTime": [(MODIFY_REPLACE, [])]}))
        if not self._in_transaction():
            log.info("directory.person_unlocked", dn=dn)

    def delete_person(self, dn: str) -> None:
        code = self._lane_write("delete", dn, _delete(dn), ok=[NO_SUCH_OBJECT])
        if code == SUCCESS:
            log.info("directory.person_deleted", dn=dn)
            if not self._defers_references():
                self._await_references(dn)

    def _await_references(self, old_dn: str) -> None:
        """Wait until no member/manager value names `old_dn` any more.

        slapd's refint overlay rewrites (modrdn) or removes (delete) those
        references in a background task, after the operation has already been
        answered.  Waiting here means the next read, and the next action on a
        group, see the settled directory.  References that stay (no refint, or
        a group whose only member was deleted: refint cannot empty a
        groupOfNames) are logged and left to the next plan.
        """
        self.await_references([old_dn])

    def await_references(self, old_dns: Sequence[str]) -> None:
        """`_await_references` for many moved or deleted DNs at once (the executor calls it per batch).

        Polls one search per chunk of DNs (an OR filter) every 20 ms instead of
        one search per DN.  The wait ends when no holder is left.  It gives up,
        logging what remains, once `REFERENCE_WAIT_SECONDS` (at most the
        timeout) pass without refint settling any further DN, so a batch waits
        as long as refint keeps working through it (slapd's refint settles one
        DN after the other), and a stuck reference costs what it did for one DN.
        """
        remaining = [dn for dn in dict.fromkeys(old_dns) if dn]
        patience = min(REFERENCE_WAIT_SECONDS, self.settings.timeout_seconds)
        deadline = time.monotonic() + patience
        while remaining:
            if not self.reference_holders(remaining, limit=1):
                return
            if time.monotonic() >= deadline:
                still = [dn for dn in remaining if self.reference_holders([dn], limit=1)]
                if len(still) < len(remaining):  # refint is still working through them
                    remaining = still
                    deadline = time.monotonic() + patience
                    continue
                for dn in still[:20]:
                    example = self.reference_holders([dn], limit=1)
                    if example:
                        log.warning("directory.references_remain", dn=dn, example=example[0])
                return
            time.sleep(0.02)

    def reference_holders(self, old_dns: Sequence[str], *, limit: int = 0) -> list[str]:
        """DNs of entries whose member or manager names one of `old_dns` (at most `limit`, 0: all)."""
        holders: list[str] = []
        dns = [dn for dn in dict.fromkeys(old_dns) if dn]
        for start in range(0, len(dns), REFERENCE_CHUNK):
            chunk = dns[start : start + REFERENCE_CHUNK]
            search_filter = "(|" + "".join(f"(member={v})(manager={v})" for v in map(escape_filter_chars, chunk)) + ")"
            label = chunk[0] if len(chunk) == 1 else f"{chunk[0]} (and {len(chunk) - 1} more)"
            wanted = limit - len(holders) if limit else 0

            def call(connection: Connection, search_filter: str = search_filter, wanted: int = wanted) -> Any:
                return connection.search(self.base_dn, search_filter, search_scope=SUBTREE, attributes=["1.1"], size_limit=wanted)

            result, response = self._request("look for references to", label, call, retry_stale=True)
            code = int(result.get("result", -1))
            if code not in (SUCCESS, SIZE_LIMIT_EXCEEDED):
                self._fail("look for references to", label, result)
            holders.extend(canonical_dn(str(item["dn"])) for item in response if item.get("type") == "searchResEntry")
            if limit and len(holders) >= limit:
                return holders[:limit]
        return holders

    # -- groups -----------------------------------------------------------------------

    def create_group(
        self, dn: str, company: str, department: str, first_member: str, members: Sequence[str] | None = None
    ) -> None:
        """A managed groupOfNames (it must have a member from the start).

        `members`: all initial members, added with the entry in one request
        (`first_member` is then expected to be `members[0]`).
        """
        rdn, _ = _split_first_rdn(dn)
        values: dict[str, Any] = {attribute: value for attribute, value in rdn}
        initial = list(dict.fromkeys(m for m in (members or ()) if m)) or [first_member]
        values.update(businessCategory=MANAGED_MARKER, member=initial)
        if company:
            values["o"] = company
        if department:
            values["ou"] = department
        self._lane_write("create group", dn, _add(dn, ["top", "groupOfNames"], values))
        log.info("directory.group_created", dn=dn, members=len(initial))

    def add_member(self, group_dn: str, member_dn: str) -> None:
        self._lane_write(
            f"add member {member_dn} to",
            group_dn,
            _modify(group_dn, {"member": [(MODIFY_ADD, [member_dn])]}),
            ok=[ATTRIBUTE_OR_VALUE_EXISTS],
        )

    def add_members(self, group_dn: str, member_dns: Sequence[str]) -> None:
        """Add several members in one request (one write of the group entry, not one per member)."""
        self._members_at_once("add", "to", group_dn, member_dns, MODIFY_ADD, ATTRIBUTE_OR_VALUE_EXISTS, self.add_member)

    def remove_member(self, group_dn: str, member_dn: str) -> None:
        self._lane_write(
            f"remove member {member_dn} from",
            group_dn,
            _modify(group_dn, {"member": [(MODIFY_DELETE, [member_dn])]}),
            ok=[NO_SUCH_ATTRIBUTE],
            hint=LAST_MEMBER_HINT,
        )

    def remove_members(self, group_dn: str, member_dns: Sequence[str]) -> None:
        """Remove several members in one request.

        slapd rewrites the whole group entry for each request, and with 32-bit
        index hashes (its default) re-indexes every remaining value of `member`
        once per request that deletes one (7 ms for a 500-member group, 16 ms
        for 1,700 here), so removing a cycle's leavers and movers together costs
        one rewrite (and re-index), not one each.
        """
        self._members_at_once("remove", "from", group_dn, member_dns, MODIFY_DELETE, NO_SUCH_ATTRIBUTE, self.remove_member,
                              hint=LAST_MEMBER_HINT)

    def _members_at_once(
        self, verb: str, preposition: str, group_dn: str, member_dns: Sequence[str], operation: str, settled: int,
        one: Callable[[str, str], None], *, hint: str = "",
    ) -> None:
        """One modify for all of `member_dns`.  A modify is atomic: one value already there (added) or
        already gone (removed) makes the server refuse it all with `settled`; then each goes alone
        through `one`, for which that code means done."""
        values = list(dict.fromkeys(m for m in member_dns if m))
        if len(values) > 1:
            code = self._lane_write(f"{verb} {len(values)} members {preposition}", group_dn,
                                    _modify(group_dn, {"member": [(operation, values)]}), ok=[settled], hint=hint)
            if code != settled:
                return
        for value in values:
            one(group_dn, value)

    def delete_group(self, dn: str) -> None:
        code = self._lane_write("delete group", dn, _delete(dn), ok=[NO_SUCH_OBJECT])
        if code == SUCCESS:
            log.info("directory.group_deleted", dn=dn)

    # -- setup and health -------------------------------------------------------------

    def _containers(self) -> list[tuple[str, str]]:
        """(label, dn) of every container the configuration relies on."""
        labelled = [(f"companies[{c.code}].people_dn", canonical_dn(c.people_dn)) for c in self.companies]
        labelled.append(("directory.groups_dn", self.groups_dn))
        return labelled

    def ensure_containers(self) -> list[str]:
        """Create missing people_dn/groups_dn organizational units (and missing parents)."""
        if not self._exists(self.base_dn):
            raise ConnectorConfigError(f"directory.base_dn {self.base_dn} does not exist; create it first", connector=CONNECTOR)
        created: list[str] = []
        for label, dn in self._containers():
            if not _is_within(dn, self.base_dn):
                raise ConnectorConfigError(f"{label} {dn} is not under directory.base_dn {self.base_dn}", connector=CONNECTOR)
            missing: list[str] = []
            current = dn
            while dn_key(current) != dn_key(self.base_dn) and not self._exists(current):
                missing.append(current)
                current = _split_first_rdn(current)[1]
            for container in reversed(missing):
                rdn, _ = _split_first_rdn(container)
                if len(rdn) != 1 or rdn[0][0].lower() != "ou":
                    raise ConnectorConfigError(
                        f"{label}: {container} is missing and only ou= containers are created automatically; create it by hand",
                        connector=CONNECTOR,
                    )
                self._add_container(container, rdn[0][1])
                log.info("directory.container_created", dn=container)
                created.append(container)
        return created

    def _add_container(self, dn: str, ou: str) -> None:
        self._write("create container", dn, _add(dn, ["top", "organizationalUnit"], {"ou": ou}))

    def check(self) -> list[str]:
        """Problems that would make the daemon unsafe or useless; empty when healthy."""
        try:
            with self._lock:
                self._connect()
        except (TransientError, ConnectorConfigError) as exc:
            return [str(exc)]
        problems: list[str] = []
        try:
            if not self._exists(self.base_dn):
                return [f"directory.base_dn {self.base_dn} does not exist (or {self.settings.bind_dn} cannot read it)"]
            for label, dn in self._containers():
                if not self._exists(dn):
                    problems.append(f"{label} {dn} does not exist; create it (ensure_containers does) or fix the setting")
            with self._lock:
                policies = list(
                    self._paged("find password policy", self.base_dn, "(&(objectClass=pwdPolicy)(pwdLockout=TRUE))", ["1.1"])
                )
            if not policies:
                problems.append(
                    f"no password policy with pwdLockout: TRUE is readable under {self.base_dn}: disabling an account "
                    "(pwdAccountLockedTime) would NOT block its logins; load the ppolicy overlay with "
                    "olcPPolicyUseLockout: TRUE, set pwdLockout: TRUE on its default policy (olcPPolicyDefault), "
                    f"and let {self.settings.bind_dn} read that entry"
                )
        except (TransientError, ConnectorConfigError, RecordError) as exc:
            problems.append(str(exc))
        return problems

    def bind_as(self, dn: str, password: str) -> bool:
        """True when a simple bind as `dn` succeeds (on a fresh connection).

        An empty password would be an unauthenticated bind, which servers
        accept; it is reported as a failure, never as a login.
        """
        if not password:
            return False
        connection = Connection(
            self._server(),
            user=dn,
            password=password,
            authentication=SIMPLE,
            auto_bind=AUTO_BIND_NONE,
            receive_timeout=self._receive_timeout,
            raise_exceptions=False,
            check_names=False,
        )
        try:
            connection.open()
            return bool(connection.bind())
        except (LDAPCommunicationError, LDAPResponseTimeoutError) as exc:
            raise TransientError(f"directory {self.settings.url} is unreachable: {exc}", connector=CONNECTOR) from exc
        finally:
            self._close_quietly(connection)

    # -- write lanes (concurrent writes for the executor) -------------------------------

    @property
    def write_connections(self) -> int:
        """How many lanes (connections) the executor may write over at once (`[directory] write_connections`)."""
        return max(1, int(getattr(self.settings, "write_connections", 1)))

    @contextlib.contextmanager
    def writer(self, *, defer_references: bool = False, own_connection: bool = True) -> Iterator[None]:
        """Send the calling thread's writes over a connection of its own while inside.

        One lane of the executor: each lane thread enters `writer()` once and
        performs its actions one at a time (a synchronous ldap3 connection has
        one request in flight), so actions routed to the same lane keep their
        order.  Reads still use the shared connection.  With
        `own_connection=False` the writes stay on the shared connection (the
        executor's single-lane mode: exactly the unbatched request sequence).
        With `defer_references`, moves and deletes do not wait for refint; the
        caller waits with `await_references` (see `reference_holders`).
        The lane's connection is opened on its first write and closed on exit.
        """
        channel = LdapDirectory(self.settings, self.companies) if own_connection else None
        previous = getattr(_LANE, "binding", None)
        _LANE.binding = (self, channel, defer_references)
        try:
            yield
        finally:
            _LANE.binding = previous
            if channel is not None:
                channel.close()

    def offers_transactions(self) -> bool:
        """Whether to write in LDAP transactions: `[directory] transactions` and the server offers them
        (RFC 5805; its root DSE lists Start and End Transaction)."""
        if not self.settings.transactions:
            return False
        if self._offers_transactions is None:

            def call(connection: Connection) -> Any:
                return connection.search("", "(objectClass=*)", search_scope=BASE, attributes=["supportedExtension"])

            result, response = self._request("read rootDSE", "", call, retry_stale=True)
            offered: set[str] = set()
            for item in response:
                if item.get("type") == "searchResEntry":
                    offered.update(v.decode() if isinstance(v, bytes) else str(v)
                                   for v in (item.get("raw_attributes", {}).get("supportedExtension") or ()))
            self._offers_transactions = {wire.TRANSACTION_START, wire.TRANSACTION_END} <= offered
        return self._offers_transactions

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """The calling thread's writes (its lane's, or the shared connection's) in one LDAP transaction.

        slapd queues each write sent inside and answers it at once; on leaving, the
        transaction is committed and slapd applies them all in one database
        transaction: one sync to disk instead of one per write (an add here costs
        1.9 ms alone, 0.9 ms inside).  All or nothing: when one write is refused
        at the commit, or the block raises (the transaction is then abandoned),
        none is applied; the commit's refusal raises RecordError, and the caller
        writes them one by one to learn which one it was.  Only for writes that
        need no answer before the commit (no reads between them).
        """
        target = self._writer()
        if target._transaction is not None:
            raise RuntimeError("a transaction is already open on this connection")

        page, identifier = target._exchange("start a transaction", "", lambda c: wire.extended(c, wire.TRANSACTION_START))
        if page.code != SUCCESS or identifier is None:  # slapd's identifier is empty: one transaction per connection
            target._fail("start a transaction", "", _result_of(page), "the server offers no LDAP transactions to this account")

        def end(commit: bool) -> Callable[[Connection], tuple[PageResult, bytes | None]]:
            request = wire.transaction_end(identifier, commit=commit)
            return lambda connection: wire.extended(connection, wire.TRANSACTION_END, request)

        target._transaction = identifier
        try:
            yield
        except BaseException:
            target._transaction = None
            with contextlib.suppress(TransientError, RecordError):
                target._exchange("abandon a transaction", "", end(False))
            raise
        target._transaction = None
        page, _ = target._exchange("commit a transaction", "", end(True))
        if page.code != SUCCESS:
            target._fail("commit a transaction", "", _result_of(page), "nothing of it was written")

    def _writer(self) -> LdapDirectory:
        """Whose connection the calling thread writes through: its lane's, else the shared one."""
        lane = self._lane()
        return lane[1] if lane is not None and lane[1] is not None else self

    def _in_transaction(self) -> bool:
        return self._writer()._transaction is not None

    def _lane(self) -> tuple[LdapDirectory, LdapDirectory | None, bool] | None:
        binding = getattr(_LANE, "binding", None)
        return binding if binding is not None and binding[0] is self else None

    def _defers_references(self) -> bool:
        lane = self._lane()
        return lane is not None and lane[2]

    def _lane_request(self, what: str, dn: str, call: Callable[[Connection], dict[str, Any]]) -> dict[str, Any]:
        """A write request on this thread's lane connection, or on the shared one (never retried); its result."""
        return self._writer()._exchange(what, dn, call)

    def _lane_write(self, what: str, dn: str, call: _WriteCall, *, ok: Iterable[int] = (), hint: str = "") -> int:
        """`_write`, over this thread's lane connection when it has one (inside its transaction, if one is open);
        returns SUCCESS or the `ok` code met."""
        target = self._writer()
        return target._write(what, dn, call.within(target._transaction), ok=ok, hint=hint)

def _hash_password(password: str) -> str:
    """{SSHA} hash made here, so the clear text never reaches the server (its logs, an accesslog).

    pwdReset is set next to it by the callers: with the policy's pwdMustChange,
    ppolicy then lets the user do nothing but change the password.  (ppolicy
    does not set pwdReset by itself when an administrator adds an entry.)
    """
    # ldap3 spells the scheme "{ssha}"; schemes are case-insensitive, upper case is what admins expect.
    return "{SSHA}" + str(hashed(HASHED_SALTED_SHA, password)).removeprefix("{ssha}")


# Write requests, encoded by ldap_wire (ldap3's pyasn1 encoding was half the client's CPU in an initial load).
@dataclass(frozen=True, slots=True)
class _WriteCall:
    """One encoded write request, sent on the connection it is called with (inside a transaction: with its control)."""

    request: bytes
    response: int
    controls: bytes = b""

    def __call__(self, connection: Connection) -> dict[str, Any]:
        return _result_of(wire.write(connection, self.request, self.response, self.controls))

    def within(self, transaction: bytes | None) -> _WriteCall:
        return self if transaction is None else _WriteCall(self.request, self.response, wire.transaction_control(transaction))


def _add(dn: str, object_classes: Sequence[str], values: Mapping[str, Any]) -> _WriteCall:
    return _WriteCall(wire.add_request(dn, object_classes, values), wire.ADD_RESPONSE)


def _modify(dn: str, changes: Mapping[str, Any]) -> _WriteCall:
    return _WriteCall(wire.modify_request(dn, changes), wire.MODIFY_RESPONSE)


def _delete(dn: str) -> _WriteCall:
    return _WriteCall(wire.delete_request(dn), wire.DELETE_RESPONSE)


def _modify_dn(dn: str, new_rdn: str, new_superior: str) -> _WriteCall:
    return _WriteCall(wire.modify_dn_request(dn, new_rdn, True, new_superior), wire.MODIFY_DN_RESPONSE)


def _result_of(page: PageResult) -> dict[str, Any]:
    """A search's outcome in the shape of an ldap3 result (what `_fail` and `_describe` read)."""
    return {"result": page.code, "description": RESULT_CODES.get(page.code, ""), "message": page.diagnostic}


def _describe(result: Mapping[str, Any]) -> str:
    description = result.get("description") or f"result {result.get('result')}"
    message = (result.get("message") or "").strip()
    return f"{description} ({message})" if message else str(description)
