"""connectors.ldap.client: what the connector relies on from python-ldap, against servers that misbehave.

The real-server behaviour (paging, errors, transactions) is covered by
tests/test_directory_ldap.py, test_directory_faults.py and test_apply_batches.py.
Here a scripted server on a real socket answers with BER built independently
of any LDAP library: replies split at any byte, long-form lengths, values of
64 KiB, referrals, errors with diagnostics, a notice of disconnection, a
server that hangs up mid-reply or sends garbage.  Each must become a `Result`
(the server answered) or `ConnectionLost` (the outcome is unknown), nothing else.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder

from connectors.ldap import client
from connectors.ldap.client import Connection, ConnectionLost, InvalidUrl, Result

PAGED_RESULTS_OID = b"1.2.840.113556.1.4.319"


def tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        octets = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(octets)]) + octets
    return bytes([tag]) + length + content


def integer(tag: int, value: int) -> bytes:
    return tlv(tag, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


def entry_op(dn: str, attributes: list[tuple[str, list[bytes]]]) -> bytes:
    partials = b"".join(
        tlv(0x30, tlv(0x04, name.encode()) + tlv(0x31, b"".join(tlv(0x04, v) for v in values))) for name, values in attributes
    )
    return tlv(0x64, tlv(0x04, dn.encode()) + tlv(0x30, partials))


def result_op(tag: int, code: int = 0, diagnostic: str = "") -> bytes:
    return tlv(tag, integer(0x0A, code) + tlv(0x04, b"") + tlv(0x04, diagnostic.encode()))


def done_op(code: int = 0, diagnostic: str = "") -> bytes:
    return result_op(0x65, code, diagnostic)


def paged_control(cookie: bytes) -> bytes:
    value = tlv(0x30, integer(0x02, 0) + tlv(0x04, cookie))
    return tlv(0xA0, tlv(0x30, tlv(0x04, PAGED_RESULTS_OID) + tlv(0x04, value)))


def message(message_id: int, op: bytes, controls: bytes = b"") -> bytes:
    return tlv(0x30, integer(0x02, message_id) + op + controls)


def _read_message(conn: socket.socket) -> bytes:
    """One whole LDAPMessage from the client."""
    data = b""
    while True:
        if len(data) >= 2:
            first = data[1]
            header = 2 if first < 0x80 else 2 + (first & 0x7F)
            if len(data) >= header:
                size = first if first < 0x80 else int.from_bytes(data[2:header], "big")
                if len(data) >= header + size:
                    return data[: header + size]
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("the client hung up")
        data += chunk


def _message_id(request: bytes) -> int:
    header = 2 if request[1] < 0x80 else 2 + (request[1] & 0x7F)
    size = request[header + 1]
    return int.from_bytes(request[header + 2 : header + 2 + size], "big")


class ScriptedServer:
    """Accepts one connection, answers its bind, then answers each later request with `reply(message_id)`,
    sent in pieces (see `_send`); `then_close` hangs up after the reply."""

    def __init__(self, reply: Callable[[int], bytes], *, largest: int = 1 << 16, rnd: random.Random | None = None,
                 then_close: bool = False) -> None:
        self.reply, self.largest, self.rnd, self.then_close = reply, largest, rnd or random.Random(0), then_close
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ldap://127.0.0.1:{self.listener.getsockname()[1]}"
        self.requests: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _send(self, conn: socket.socket, data: bytes) -> None:
        """In pieces of at most `largest` bytes, cut at up to 40 random places (then the rest whole)."""
        offset = 0
        for _ in range(40):
            if offset >= len(data):
                return
            size = self.rnd.randint(1, self.largest)
            conn.sendall(data[offset : offset + size])
            offset += size
        conn.sendall(data[offset:])

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn:
            try:
                bind = _read_message(conn)
                conn.sendall(message(_message_id(bind), result_op(0x61)))
                while True:
                    request = _read_message(conn)
                    self.requests.append(request)
                    if request[2 + request[3] + 2] == 0x42:  # UnbindRequest
                        return
                    self._send(conn, self.reply(_message_id(request)))
                    if self.then_close:
                        return
            except (ConnectionError, OSError):
                return

    def close(self) -> None:
        self.listener.close()
        self.thread.join(2)


@pytest.fixture
def serve() -> Iterator[Callable[..., Connection]]:
    opened: list[tuple[ScriptedServer, Connection]] = []

    def start(reply: Callable[[int], bytes], **options: object) -> Connection:
        server = ScriptedServer(reply, **options)  # type: ignore[arg-type]
        connection = Connection(server.url, 2.0)
        assert connection.bind("cn=x", "pw") == Result(0)
        opened.append((server, connection))
        return connection

    yield start
    for server, connection in opened:
        connection.close()
        server.close()


# 64 KiB+ values need three length octets; built from a short pattern to keep the inputs small.
long_values = st.tuples(st.binary(min_size=1, max_size=8), st.integers(min_value=70_000, max_value=70_100)).map(
    lambda pattern_size: (pattern_size[0] * pattern_size[1])[: pattern_size[1]]
)
values = st.one_of(st.binary(max_size=300), long_values)
attribute_names = st.sampled_from(["uid", "cn", "member", "employeeNumber", "displayName", "x-Custom-Attr;lang-zh"])
entries = st.lists(
    st.tuples(
        st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=80)
        .map(lambda s: "cn=" + s),
        st.dictionaries(attribute_names, st.lists(values, min_size=1, max_size=4), max_size=5),
    ),
    max_size=6,
)


@settings(max_examples=30, deadline=None)
@given(entries, st.binary(max_size=40), st.integers(min_value=1, max_value=4096), st.integers(min_value=0, max_value=2**32))
def test_entries_and_cookie_survive_any_split(found: list, cookie: bytes, chunk: int, seed: int) -> None:
    def reply(message_id: int) -> bytes:
        data = b"".join(message(message_id, entry_op(dn, list(attrs.items()))) for dn, attrs in found)
        return data + message(message_id, done_op(), paged_control(cookie))

    server = ScriptedServer(reply, largest=chunk, rnd=random.Random(seed))
    connection = Connection(server.url, 5.0)
    try:
        assert connection.bind("cn=x", "pw") == Result(0)
        page = connection.search_page("dc=x", "(objectClass=*)", ["cn"], page_size=10)
    finally:
        connection.close()
        server.close()
    # Attribute types in lower case, values as raw bytes, in the order sent.
    assert page.entries == [(dn, {name.lower(): list(vals) for name, vals in attrs.items()}) for dn, attrs in found]
    assert (page.result, page.cookie) == (Result(0), cookie)


def test_an_error_result_comes_back_with_its_diagnostic_and_the_entries_before_it(serve) -> None:
    connection = serve(lambda mid: message(mid, entry_op("cn=a", [("CN", [b"a"])])) + message(mid, done_op(4, "limit")))
    page = connection.search_page("dc=x", "(objectClass=*)", ["cn"], size_limit=1)
    assert page.result == Result(4, "limit") and str(page.result) == "sizeLimitExceeded (limit)"
    assert page.entries == [("cn=a", {"cn": [b"a"]})] and page.cookie == b""


def test_no_such_base_is_a_result_not_an_exception(serve) -> None:
    connection = serve(lambda mid: message(mid, done_op(32, "no such object")))
    page = connection.search_page("ou=gone,dc=x", "(objectClass=*)", ["cn"])
    assert (page.result.code, page.result.name, page.result.diagnostic, page.entries) == (32, "noSuchObject", "no such object", [])


def test_references_are_skipped(serve) -> None:
    def reply(mid: int) -> bytes:
        return (message(mid, tlv(0x73, tlv(0x04, b"ldap://elsewhere/"))) + message(mid, entry_op("cn=a", [("cn", [b"a"])]))
                + message(mid, done_op()))

    assert serve(reply).search_page("dc=x", "(objectClass=*)", ["cn"]).entries == [("cn=a", {"cn": [b"a"]})]


def test_non_minimal_lengths_are_accepted(serve) -> None:
    # BER allows a long-form length where a short one would do; some servers send them.
    dn = b"\x04\x82\x00\x04cn=a"
    op = tlv(0x64, dn + tlv(0x30, tlv(0x30, tlv(0x04, b"cn") + tlv(0x31, tlv(0x04, b"a")))))
    page = serve(lambda mid: message(mid, op) + message(mid, done_op())).search_page("dc=x", "(objectClass=*)", ["cn"])
    assert page.entries == [("cn=a", {"cn": [b"a"]})]


def test_write_results_carry_their_code_and_diagnostic(serve) -> None:
    connection = serve(lambda mid: message(mid, result_op(0x67, 19, "constraint")))
    assert connection.modify("uid=a,dc=x", [("replace", "title", ["经理"])]) == Result(19, "constraint")


def test_notice_of_disconnection_is_a_lost_connection(serve) -> None:
    notice = tlv(0x78, integer(0x0A, 52) + tlv(0x04, b"") + tlv(0x04, b"server shutting down"))
    connection = serve(lambda mid: message(0, notice), then_close=True)
    with pytest.raises(ConnectionLost):
        connection.search_page("dc=x", "(objectClass=*)", ["cn"])


def test_a_server_hanging_up_mid_reply_is_a_lost_connection(serve) -> None:
    connection = serve(lambda mid: message(mid, entry_op("cn=a", [("cn", [b"a" * 500])]))[:-10], then_close=True)
    with pytest.raises(ConnectionLost):
        connection.search_page("dc=x", "(objectClass=*)", ["cn"])


@pytest.mark.parametrize("garbage", [
    lambda mid: message(mid, b"\x64\x0a\x04\x04cn=a\x30\x20\x30\x00"),  # an attribute list longer than its entry
    lambda mid: message(mid, tlv(0x7F, b"zz")),  # no protocolOp of LDAP's
    lambda mid: b"\x31\x03\x02\x01\x02",  # not an LDAPMessage at all
], ids=["overrun", "unknown-op", "not-a-message"])
def test_garbage_is_a_lost_connection_not_a_wrong_entry(serve, garbage) -> None:
    connection = serve(lambda mid: garbage(mid) + message(mid, done_op()), then_close=True)
    with pytest.raises(ConnectionLost):
        connection.search_page("dc=x", "(objectClass=*)", ["cn"])


def test_a_server_that_never_answers_is_a_lost_connection_after_the_timeout() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        connection = Connection(f"ldap://127.0.0.1:{silent.getsockname()[1]}", 0.3)
        started = time.monotonic()
        with pytest.raises(ConnectionLost, match="timeout"):
            connection.bind("cn=x", "pw")
        assert time.monotonic() - started < 3
        connection.close()


def test_an_invalid_url_is_refused_before_any_request() -> None:
    with pytest.raises(InvalidUrl):
        Connection("ldap://127.0.0.1:notaport", 1.0)


# -- what the client sends: decoded by pyasn1 against RFC 5805's definitions (the oracle) ----------


def test_a_transaction_end_request_carries_the_commit_flag_and_the_identifier() -> None:
    for commit in (True, False):
        decoded, rest = decoder.decode(client.transaction_end_value(b"\x01tx", commit=commit))
        assert rest == b""
        fields = [decoded[i] for i in range(len(decoded))]
        # commit BOOLEAN DEFAULT TRUE: present (or defaulted) as asked, then the identifier.
        assert (bool(fields[0]) if len(fields) == 2 else True) is commit
        assert bytes(fields[-1]) == b"\x01tx"


def test_writes_go_inside_a_transaction_only_with_its_critical_control() -> None:
    (control,) = client.transaction_controls(b"")
    assert (control.controlType, control.criticality, control.encodedControlValue) == (client.TRANSACTION_SPECIFICATION, True, b"")


def test_filter_values_are_escaped() -> None:
    assert client.escape_filter_value("a*(b)\\c\x00") == "a\\2a\\28b\\29\\5cc\\00"
