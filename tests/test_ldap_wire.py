"""The wire reader against independently encoded BER, with ldap3's own decoder as the oracle.

The real-server behaviour (paging, errors, TLS-free loopback) is covered by
tests/test_directory_ldap.py and test_directory_faults.py; here the byte-level
edge cases a server rarely produces on demand: long-form lengths, values of
64 KiB, replies split at every possible byte, foreign message ids, a server
that hangs up mid-message.
"""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ldap3.utils.asn1 import decode_message_fast

from connectors.ldap_wire import PAGED_RESULTS_OID, WireError, _read_results, decode_entry


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


def done_op(code: int = 0, diagnostic: str = "") -> bytes:
    return tlv(0x65, integer(0x0A, code) + tlv(0x04, b"") + tlv(0x04, diagnostic.encode()))


def paged_control(cookie: bytes) -> bytes:
    value = tlv(0x30, integer(0x02, 0) + tlv(0x04, cookie))
    return tlv(0xA0, tlv(0x30, tlv(0x04, PAGED_RESULTS_OID) + tlv(0x04, value)))


def message(message_id: int, op: bytes, controls: bytes = b"") -> bytes:
    return tlv(0x30, integer(0x02, message_id) + op + controls)


class ChunkedSocket:
    """Hands out `data` in chunks of 1..`largest` bytes (the network may split a reply anywhere)."""

    def __init__(self, data: bytes, largest: int, rnd: random.Random) -> None:
        self.data, self.largest, self.rnd, self.offset = data, largest, rnd, 0

    def recv(self, limit: int) -> bytes:
        size = min(limit, self.rnd.randint(1, self.largest))
        chunk = self.data[self.offset : self.offset + size]
        self.offset += len(chunk)
        return chunk


def read(data: bytes, message_id: int = 5, largest: int = 1 << 16, rnd: random.Random | None = None) -> tuple[list, object]:
    seen: list = []
    connection = SimpleNamespace(socket=ChunkedSocket(data, largest, rnd or random.Random(0)))
    result = _read_results(connection, message_id, lambda buf, start, end: seen.append(decode_entry(buf, start, end)))
    return seen, result


# 64 KiB+ values need three length octets; built from a short pattern to keep the inputs small.
long_values = st.tuples(st.binary(min_size=1, max_size=8), st.integers(min_value=70_000, max_value=70_100)).map(
    lambda pattern_size: (pattern_size[0] * pattern_size[1])[: pattern_size[1]]
)
values = st.one_of(st.binary(max_size=300), long_values)
attribute_names = st.sampled_from(["uid", "cn", "member", "employeeNumber", "displayName", "x-Custom-Attr;lang-zh"])
entries = st.lists(
    st.tuples(
        st.text(min_size=1, max_size=80).map(lambda s: "cn=" + s),
        st.dictionaries(attribute_names, st.lists(values, min_size=1, max_size=4), max_size=5),
    ),
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(entries, st.binary(max_size=40), st.integers(min_value=1, max_value=4096), st.randoms())
def test_entries_and_cookie_survive_any_split(found: list, cookie: bytes, chunk: int, rnd: random.Random) -> None:
    data = b"".join(message(5, entry_op(dn, list(attrs.items()))) for dn, attrs in found)
    data += message(5, done_op(), paged_control(cookie))
    seen, result = read(data, largest=chunk, rnd=rnd)
    expected = [(dn, {name.lower(): list(vals) for name, vals in attrs.items()}) for dn, attrs in found]
    assert seen == expected
    assert (result.code, result.cookie, result.entries) == (0, cookie, len(found))
    for dn, attrs in found:  # the oracle: ldap3's own decoder reads the same bytes the same way
        payload = decode_message_fast(message(5, entry_op(dn, list(attrs.items()))))["payload"]
        oracle = {a[3][0][3].decode().lower(): [bytes(v[3]) for v in a[3][1][3]] for a in payload[1][3]}
        assert (payload[0][3].decode(), oracle) == (dn, {name.lower(): list(vals) for name, vals in attrs.items()})


def test_error_result_and_diagnostic() -> None:
    _, result = read(message(5, done_op(32, "no such object")))
    assert (result.code, result.diagnostic, result.cookie) == (32, "no such object", b"")


def test_references_are_skipped() -> None:
    data = message(5, tlv(0x73, tlv(0x04, b"ldap://elsewhere/"))) + message(5, entry_op("cn=a", [("cn", [b"a"])]))
    seen, result = read(data + message(5, done_op()))
    assert seen == [("cn=a", {"cn": [b"a"]})] and result.entries == 1


def test_a_reply_to_another_request_is_refused() -> None:
    with pytest.raises(WireError, match="reply to message 9 while waiting for 5"):
        read(message(9, done_op()))


def test_notice_of_disconnection_is_a_network_failure() -> None:
    notice = tlv(0x78, integer(0x0A, 52) + tlv(0x04, b"") + tlv(0x04, b"server shutting down"))
    with pytest.raises(OSError, match="server shutting down"):
        read(message(0, notice))


def test_server_hanging_up_mid_reply_is_a_network_failure() -> None:
    data = message(5, entry_op("cn=a", [("cn", [b"a" * 500])]))
    with pytest.raises(OSError, match="closed the connection"):
        read(data[:-10])


def test_non_minimal_lengths_are_accepted() -> None:
    # BER allows a long-form length where a short one would do; some servers send them.
    dn = b"\x04\x82\x00\x04cn=a"
    op = tlv(0x64, dn + tlv(0x30, tlv(0x30, tlv(0x04, b"cn") + tlv(0x31, tlv(0x04, b"a")))))
    seen, _ = read(message(5, op) + message(5, done_op()))
    assert seen == [("cn=a", {"cn": [b"a"]})]


def test_garbage_in_an_entry_is_a_wire_error_not_a_wrong_entry() -> None:
    op = tlv(0x64, tlv(0x04, b"cn=a") + tlv(0x30, tlv(0x30, tlv(0x04, b"cn") + tlv(0x05, b""))))
    with pytest.raises(WireError):
        read(message(5, op) + message(5, done_op()))


# -- write requests: decoded back by pyasn1 with ldap3's own LDAP schema (the oracle) -------------


def _decoded_request(op: bytes):
    from pyasn1.codec.ber import decoder
    from ldap3.protocol.rfc4511 import LDAPMessage

    decoded, rest = decoder.decode(message(7, op), asn1Spec=LDAPMessage())
    assert rest == b"" and int(decoded["messageID"]) == 7
    return decoded["protocolOp"]


@settings(max_examples=40, deadline=None)
@given(st.text(min_size=1, max_size=60), st.dictionaries(attribute_names, st.lists(st.text(max_size=200), min_size=1, max_size=3), max_size=5))
def test_add_request_decodes_to_what_was_asked(dn: str, attributes: dict) -> None:
    from connectors.ldap_wire import add_request

    op = _decoded_request(add_request(dn, ["top", "inetOrgPerson"], attributes))["addRequest"]
    got = {str(a["type"]): [bytes(v).decode() for v in a["vals"]] for a in op["attributes"]}
    assert bytes(op["entry"]).decode() == dn
    assert got == {"objectClass": ["top", "inetOrgPerson"], **attributes}


def test_modify_delete_and_modify_dn_requests_decode_to_what_was_asked() -> None:
    from connectors.ldap_wire import delete_request, modify_dn_request, modify_request

    op = _decoded_request(modify_request("uid=a,dc=x", {"title": [("MODIFY_REPLACE", ["经理"])], "member": [("MODIFY_DELETE", ["uid=b"])],
                                                        "description": [("MODIFY_REPLACE", [])]}))["modifyRequest"]
    changes = [(int(c["operation"]), str(c["modification"]["type"]), [bytes(v).decode() for v in c["modification"]["vals"]])
               for c in op["changes"]]
    assert bytes(op["object"]).decode() == "uid=a,dc=x"
    assert changes == [(2, "title", ["经理"]), (1, "member", ["uid=b"]), (2, "description", [])]
    assert bytes(_decoded_request(delete_request("uid=a,dc=x"))["delRequest"]).decode() == "uid=a,dc=x"
    moved = _decoded_request(modify_dn_request("uid=a,ou=bj,dc=x", "uid=a", True, "ou=sh,dc=x"))["modDNRequest"]
    assert (bytes(moved["entry"]).decode(), bytes(moved["newrdn"]).decode(), bool(moved["deleteoldrdn"]),
            bytes(moved["newSuperior"]).decode()) == ("uid=a,ou=bj,dc=x", "uid=a", True, "ou=sh,dc=x")
