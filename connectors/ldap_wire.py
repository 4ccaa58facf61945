"""Paged search results read straight off an ldap3 connection's socket.

Why: ldap3 decodes every search result into a generic nested structure and
then into dicts, about 13-15k entries/s here; that alone was 60-70 % of a full
reconciliation at 100k people.  The search *request* is still built and sent
by ldap3 (filter compilation, paged-results control, TLS socket), but the
responses are framed and decoded here by a parser that knows only the three
shapes a search returns (RFC 4511 4.5.2): SearchResultEntry, SearchResultReference
and SearchResultDone.  Anything it does not expect in an entry (an indefinite
length, a tag it does not know) is handed to ldap3's own decoder for that one
message, so an unusual server costs speed, never correctness.

Each entry is given to a handler as `(buffer, start, end)` around its
SearchResultEntry TLV: `decode_entry` turns it into (dn, {attribute: [values]});
the quiet-cycle probe digests the raw bytes instead and decodes only what changed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ldap3 import DEREF_ALWAYS, SUBTREE, Connection
from ldap3.operation.search import search_operation
from ldap3.protocol.rfc2696 import paged_search_control
from ldap3.utils.asn1 import decode_message_fast

SEARCH_RESULT_ENTRY = 0x64
SEARCH_RESULT_DONE = 0x65
SEARCH_RESULT_REFERENCE = 0x73
EXTENDED_RESPONSE = 0x78
INTERMEDIATE_RESPONSE = 0x79
PAGED_RESULTS_OID = b"1.2.840.113556.1.4.319"
RECEIVE_CHUNK = 1 << 18

EntryHandler = Callable[[bytes, int, int], None]


class WireError(Exception):
    """The server sent something that is not a well-formed search response."""


@dataclass(frozen=True, slots=True)
class PageResult:
    code: int
    matched_dn: str
    diagnostic: str
    cookie: bytes
    entries: int  # entries handed to the handler for this page


def _length(buffer: bytes, index: int) -> tuple[int, int]:
    """(content length, index of the content) of the TLV whose length octets start at `index`."""
    first = buffer[index]
    if first < 0x80:
        return first, index + 1
    octets = first & 0x7F
    if octets == 0 or octets > 4:
        raise WireError("indefinite or oversized BER length")
    return int.from_bytes(buffer[index + 1 : index + 1 + octets], "big"), index + 1 + octets


_attribute_names: dict[bytes, str] = {}


def decode_entry(buffer: bytes, start: int, end: int) -> tuple[str, dict[str, list[bytes]]]:
    """(DN, {lower-case attribute type: [raw values]}) of the SearchResultEntry TLV at buffer[start:end]."""
    try:
        return _decode_entry(buffer, start, end)
    except (WireError, IndexError, UnicodeDecodeError):
        return _decode_entry_with_ldap3(bytes(buffer[start:end]))


def entry_dn(buffer: bytes, start: int) -> bytes:
    """The DN of the SearchResultEntry TLV at buffer[start], as the server sent it (not decoded)."""
    _, i = _length(buffer, start + 1)
    if buffer[i] != 0x04:
        raise WireError("entry without a DN")
    size, i = _length(buffer, i + 1)
    return bytes(buffer[i : i + size])


def _decode_entry(buffer: bytes, start: int, end: int) -> tuple[str, dict[str, list[bytes]]]:
    # SearchResultEntry ::= [APPLICATION 4] SEQUENCE { objectName LDAPDN, attributes PartialAttributeList }
    _, i = _length(buffer, start + 1)
    if buffer[i] != 0x04:
        raise WireError("entry without a DN")
    size, i = _length(buffer, i + 1)
    dn = buffer[i : i + size].decode("utf-8")
    i += size
    if buffer[i] != 0x30:
        raise WireError("entry without an attribute list")
    size, i = _length(buffer, i + 1)
    stop = i + size
    if stop > end:
        raise WireError("attribute list runs past the entry")
    names = _attribute_names
    attributes: dict[str, list[bytes]] = {}
    # The hot loop of a full read: short-form lengths (< 128) are decoded inline.
    while i < stop:
        # PartialAttribute ::= SEQUENCE { type AttributeDescription, vals SET OF value }
        if buffer[i] != 0x30:
            raise WireError("attribute is not a SEQUENCE")
        size = buffer[i + 1]
        i = i + 2 if size < 0x80 else _length(buffer, i + 1)[1]
        if buffer[i] != 0x04:
            raise WireError("attribute without a type")
        size = buffer[i + 1]
        if size < 0x80:
            i += 2
        else:
            size, i = _length(buffer, i + 1)
        raw_name = bytes(buffer[i : i + size])
        name = names.get(raw_name)
        if name is None:
            name = names.setdefault(raw_name, raw_name.decode("ascii").lower())
        i += size
        if buffer[i] != 0x31:
            raise WireError("attribute values are not a SET")
        size = buffer[i + 1]
        if size < 0x80:
            i += 2
        else:
            size, i = _length(buffer, i + 1)
        values_stop = i + size
        values = attributes.get(name)
        if values is None:
            values = attributes[name] = []
        while i < values_stop:
            if buffer[i] != 0x04:
                raise WireError("attribute value is not an OCTET STRING")
            size = buffer[i + 1]
            if size < 0x80:
                i += 2
            else:
                size, i = _length(buffer, i + 1)
            values.append(bytes(buffer[i : i + size]))
            i += size
        if i != values_stop:
            raise WireError("attribute values overrun")
    if i != stop:
        raise WireError("attribute list overrun")
    return dn, attributes


def _decode_entry_with_ldap3(entry_tlv: bytes) -> tuple[str, dict[str, list[bytes]]]:
    """The slow, general path: wrap the TLV in an LDAPMessage and let ldap3 decode it."""
    message = _tlv(0x30, b"\x02\x01\x00" + entry_tlv)
    try:
        decoded = decode_message_fast(message)
        payload = decoded["payload"]
        dn = payload[0][3].decode("utf-8")
        attributes: dict[str, list[bytes]] = {}
        for attribute in payload[1][3]:
            name = attribute[3][0][3].decode("ascii").lower()
            attributes.setdefault(name, []).extend(bytes(v[3]) for v in attribute[3][1][3])
        return dn, attributes
    except Exception as exc:  # noqa: BLE001 - any failure here means the bytes are not an entry
        raise WireError(f"cannot decode a search result entry ({type(exc).__name__})") from exc


def _encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(octets)]) + octets


def _octet_string(buffer: bytes, index: int) -> tuple[bytes, int]:
    if buffer[index] not in (0x04, 0x80, 0x87):
        raise WireError(f"expected a string, found tag {buffer[index]:#x}")
    size, index = _length(buffer, index + 1)
    return bytes(buffer[index : index + size]), index + size


def _integer(buffer: bytes, index: int) -> tuple[int, int]:
    if buffer[index] not in (0x02, 0x0A):
        raise WireError(f"expected an integer, found tag {buffer[index]:#x}")
    size, index = _length(buffer, index + 1)
    return int.from_bytes(buffer[index : index + size], "big", signed=True), index + size


def decode_done(buffer: bytes, start: int, end: int) -> PageResult:
    """The SearchResultDone at buffer[start:end] (LDAPResult) plus the paged-results cookie from the controls."""
    size, body = _length(buffer, start + 1)
    code, i = _integer(buffer, body)
    matched, i = _octet_string(buffer, i)
    diagnostic, i = _octet_string(buffer, i)
    i = body + size  # skip a referral, if any
    cookie = b""
    if i < end and buffer[i] == 0xA0:  # controls [0]
        size, i = _length(buffer, i + 1)
        controls_end = i + size
        while i < controls_end:
            size, body = _length(buffer, i + 1)  # Control ::= SEQUENCE
            control_end = body + size
            oid, j = _octet_string(buffer, body)
            if j < control_end and buffer[j] == 0x01:  # criticality BOOLEAN
                size, j = _length(buffer, j + 1)
                j += size
            if oid == PAGED_RESULTS_OID and j < control_end:
                value, _ = _octet_string(buffer, j)
                # realSearchControlValue ::= SEQUENCE { size INTEGER, cookie OCTET STRING }
                _, k = _length(value, 1)
                _, k = _integer(value, k)
                cookie, _ = _octet_string(value, k)
            i = control_end
    return PageResult(code, matched.decode("utf-8", "replace"), diagnostic.decode("utf-8", "replace"), cookie, 0)


@functools.lru_cache(maxsize=64)
def _search_request(base: str, search_filter: str, scope: str, attributes: tuple[str, ...], escape: bool, encode: bool) -> Any:
    """ldap3's SearchRequest, built once per search: parsing the filter took ~1 ms, once per page of 1,000 entries."""
    return search_operation(
        base, search_filter, scope, DEREF_ALWAYS, list(attributes) or ["1.1"], 0, 0, False,
        escape, encode, None, validator=None, check_names=False,
    )


def search_page(
    connection: Connection,
    base: str,
    search_filter: str,
    attributes: Sequence[str],
    page_size: int,
    cookie: bytes | None,
    handle_entry: EntryHandler,
    *,
    scope: str = SUBTREE,
) -> PageResult:
    """Send one paged search request on `connection` and read its results off the socket.

    Socket errors propagate as OSError (the caller maps them and drops the
    connection); a malformed response raises WireError.
    """
    request = _search_request(base, search_filter, scope, tuple(attributes), connection.auto_escape, connection.auto_encode)
    controls = [paged_search_control(False, page_size, cookie)] if page_size else None
    strategy = connection.strategy
    message_id = strategy.send("searchRequest", request, controls)
    try:
        return _read_results(connection, message_id, handle_entry)
    finally:
        if strategy._outstanding is not None:  # noqa: SLF001 - ldap3 keeps every sent request until it reads the reply
            strategy._outstanding.pop(message_id, None)  # noqa: SLF001


def _replies(
    connection: Connection, message_id: int, received: bytes = b""
) -> Iterator[tuple[int, bytearray, int, int, int]]:
    """(protocolOp tag, buffer, op start, op end, message end) of each reply to `message_id`, as it arrives.

    A yielded message is valid in `buffer` until the next one is asked for.
    A notice of disconnection or a closed socket is an OSError; a reply to
    another request or bytes that are not an LDAPMessage are a WireError.
    """
    sock = connection.socket
    if sock is None:
        raise OSError("the connection is closed")
    buffer = bytearray(received)  # what was read already (`_read_results_slowly`)
    position = 0
    while True:
        # Frame: LDAPMessage ::= SEQUENCE { messageID, protocolOp, controls [0] OPTIONAL }
        if len(buffer) - position >= 6:  # no complete message is shorter
            if buffer[position] != 0x30:
                raise WireError(f"expected an LDAPMessage, found tag {buffer[position]:#x}")
            size, body = _length(buffer, position + 1)
            end = body + size
            if end <= len(buffer):
                received_id, op = _integer(buffer, body)
                tag = buffer[op]
                size, op_body = _length(buffer, op + 1)
                if received_id == 0 and tag == EXTENDED_RESPONSE:
                    notice = decode_done(buffer, op, end)
                    raise OSError(f"the server ended the connection: {notice.diagnostic or 'notice of disconnection'}")
                if received_id != message_id:
                    raise WireError(f"reply to message {received_id} while waiting for {message_id}")
                yield tag, buffer, op, op_body + size, end
                position = end
                continue
        _receive(sock, buffer, position)
        position = 0


def _receive(sock: Any, buffer: bytearray, position: int) -> None:
    """Drop what was read of `buffer` (up to `position`) and append what arrives next."""
    if position:
        del buffer[:position]
    chunk = sock.recv(RECEIVE_CHUNK)
    if not chunk:
        raise OSError("the server closed the connection")
    buffer += chunk


def _message_id(message_id: int) -> bytes:
    """A messageID as an LDAPMessage carries it (INTEGER, minimal length)."""
    return _tlv(0x02, message_id.to_bytes((message_id.bit_length() + 8) // 8, "big"))


def _read_results(connection: Connection, message_id: int, handle_entry: EntryHandler) -> PageResult:
    """The replies to search `message_id`: each entry to `handle_entry`, then the SearchResultDone.

    The loop of a full read (100k entries): the message framing is inlined for replies whose
    messageID is encoded as ours (`_replies` does the same one message at a time, and refuses
    anything else: a reply to another request, a notice of disconnection, a malformed length).
    """
    sock = connection.socket
    if sock is None:
        raise OSError("the connection is closed")
    own_id = _message_id(message_id)
    id_size = len(own_id)
    buffer = bytearray()
    position = entries = 0
    while True:
        available = len(buffer)
        while available - position >= 6:
            first = buffer[position + 1]
            if buffer[position] != 0x30 or first == 0x80 or first > 0x84:
                return _read_results_slowly(connection, message_id, handle_entry, buffer, position, entries)
            if first < 0x80:
                body = position + 2
                end = body + first
            else:
                body = position + 2 + (first & 0x7F)
                end = body + int.from_bytes(buffer[position + 2 : body], "big")
            if end > available:
                break
            op = body + id_size
            if buffer[body:op] != own_id:  # another messageID encoding, or a notice: the careful path decides
                return _read_results_slowly(connection, message_id, handle_entry, buffer, position, entries)
            tag = buffer[op]
            if tag == SEARCH_RESULT_ENTRY:
                first = buffer[op + 1]
                if first < 0x80:
                    op_end = op + 2 + first
                elif first == 0x80 or first > 0x84:
                    raise WireError("indefinite or oversized BER length")
                else:
                    count = first & 0x7F
                    op_end = op + 2 + count + int.from_bytes(buffer[op + 2 : op + 2 + count], "big")
                handle_entry(buffer, op, op_end)
                entries += 1
            elif (done := _search_reply(tag, buffer, op, end, entries)) is not None:
                return done
            position = end
        _receive(sock, buffer, position)
        position = 0


def _read_results_slowly(
    connection: Connection, message_id: int, handle_entry: EntryHandler, pending: bytearray, position: int, entries: int
) -> PageResult:
    """`_read_results` from `pending[position:]` on, one message at a time with every check of `_replies`."""
    for tag, buffer, op, op_end, end in _replies(connection, message_id, pending[position:]):
        if tag == SEARCH_RESULT_ENTRY:
            handle_entry(buffer, op, op_end)
            entries += 1
        elif (done := _search_reply(tag, buffer, op, end, entries)) is not None:
            return done
    raise AssertionError("unreachable: _replies ends only by raising")


def _search_reply(tag: int, buffer: bytearray, op: int, end: int, entries: int) -> PageResult | None:
    """A search's reply other than an entry: its result when it is the SearchResultDone, None to read on."""
    if tag == SEARCH_RESULT_DONE:
        # The controls follow the protocolOp, inside the message: decode both together.
        result = decode_done(buffer, op, end)
        return PageResult(result.code, result.matched_dn, result.diagnostic, result.cookie, entries)
    if tag not in (SEARCH_RESULT_REFERENCE, INTERMEDIATE_RESPONSE):
        raise WireError(f"unexpected protocolOp {tag:#x} in a search response")
    return None


# -- writes ------------------------------------------------------------------------
# ldap3 builds every request with pyasn1, about half of the client's CPU in an initial load of
# 100k people.  The write requests are small and regular: encoded here, answered by one
# LDAPResult each (RFC 4511 4.6-4.9).

ADD_RESPONSE = 0x69
MODIFY_RESPONSE = 0x67
DELETE_RESPONSE = 0x6B
MODIFY_DN_RESPONSE = 0x6D
MODIFY_OPERATIONS = {"MODIFY_ADD": 0, "MODIFY_DELETE": 1, "MODIFY_REPLACE": 2}


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _encode_length(len(content)) + content


def _string(value: str | bytes, tag: int = 0x04) -> bytes:
    return _tlv(tag, value if isinstance(value, bytes) else str(value).encode("utf-8"))


def _values(value: str | bytes | Sequence[str | bytes]) -> bytes:
    items = [value] if isinstance(value, (str, bytes)) else list(value)
    return _tlv(0x31, b"".join(_string(v) for v in items))


def add_request(dn: str, object_classes: Sequence[str], attributes: Mapping[str, str | bytes | Sequence[str | bytes]]) -> bytes:
    """AddRequest ::= [APPLICATION 8] SEQUENCE { entry LDAPDN, attributes AttributeList }."""
    listed = [_tlv(0x30, _string("objectClass") + _values(list(object_classes)))]
    listed += [_tlv(0x30, _string(name) + _values(value)) for name, value in attributes.items() if name.lower() != "objectclass"]
    return _tlv(0x68, _string(dn) + _tlv(0x30, b"".join(listed)))


def modify_request(dn: str, changes: Mapping[str, Sequence[tuple[str, Sequence[str | bytes]]]]) -> bytes:
    """ModifyRequest ::= [APPLICATION 6] SEQUENCE { object LDAPDN, changes SEQUENCE OF change }; ldap3's `changes` shape."""
    encoded = []
    for name, operations in changes.items():
        for operation, values in operations:
            modification = _tlv(0x30, _string(name) + _values(list(values)))
            encoded.append(_tlv(0x30, _tlv(0x0A, bytes([MODIFY_OPERATIONS[operation]])) + modification))
    return _tlv(0x66, _string(dn) + _tlv(0x30, b"".join(encoded)))


def delete_request(dn: str) -> bytes:
    """DelRequest ::= [APPLICATION 10] LDAPDN."""
    return _string(dn, 0x4A)


def modify_dn_request(dn: str, new_rdn: str, delete_old_rdn: bool, new_superior: str | None) -> bytes:
    """ModifyDNRequest ::= [APPLICATION 12] SEQUENCE { entry, newrdn, deleteoldrdn BOOLEAN, newSuperior [0] OPTIONAL }."""
    body = _string(dn) + _string(new_rdn) + _tlv(0x01, b"\xff" if delete_old_rdn else b"\x00")
    if new_superior is not None:
        body += _string(new_superior, 0x80)
    return _tlv(0x6C, body)


# RFC 5805: writes sent with this control are queued by the server and applied together when
# the transaction ends (End Transaction, committing).
TRANSACTION_START = "1.3.6.1.1.21.1"
TRANSACTION_SPECIFICATION = "1.3.6.1.1.21.2"
TRANSACTION_END = "1.3.6.1.1.21.3"


def transaction_control(identifier: bytes) -> bytes:
    """The controls of a message ([0] SEQUENCE OF Control) naming transaction `identifier` (critical)."""
    control = _tlv(0x30, _string(TRANSACTION_SPECIFICATION) + _tlv(0x01, b"\xff") + _string(identifier))
    return _tlv(0xA0, control)


def transaction_end(identifier: bytes, *, commit: bool) -> bytes:
    """txnEndReq ::= SEQUENCE { commit BOOLEAN DEFAULT TRUE, identifier OCTET STRING }."""
    return _tlv(0x30, (b"" if commit else _tlv(0x01, b"\x00")) + _string(identifier))


def _send(connection: Connection, request: bytes, controls: bytes = b"") -> int:
    message_id = connection.server.next_message_id()
    if connection.socket is None:
        raise OSError("the connection is closed")
    connection.socket.sendall(_tlv(0x30, _message_id(message_id) + request + controls))
    return message_id


def extended_request(name: str, value: bytes | None = None) -> bytes:
    """ExtendedRequest ::= [APPLICATION 23] SEQUENCE { requestName [0], requestValue [1] OPTIONAL }."""
    return _tlv(0x77, _string(name, 0x80) + (b"" if value is None else _string(value, 0x81)))


def extended(connection: Connection, name: str, value: bytes | None = None) -> tuple[PageResult, bytes | None]:
    """One extended request on `connection`: its LDAPResult and responseValue ([11] in the
    ExtendedResponse; None when absent)."""
    message_id = _send(connection, extended_request(name, value))
    for tag, buffer, op, op_end, end in _replies(connection, message_id):
        if tag != EXTENDED_RESPONSE:
            raise WireError(f"unexpected protocolOp {tag:#x} in reply to an extended request")
        result = decode_done(buffer, op, end)
        _, i = _length(buffer, op + 1)
        _, i = _integer(buffer, i)  # resultCode
        _, i = _octet_string(buffer, i)  # matchedDN
        _, i = _octet_string(buffer, i)  # diagnosticMessage
        response = None
        while i < op_end:  # referral [3], responseName [10], responseValue [11]
            tag_i = buffer[i]
            size, content = _length(buffer, i + 1)
            if tag_i == 0x8B:
                response = bytes(buffer[content : content + size])
            i = content + size
        return result, response
    raise AssertionError("unreachable: _replies ends only by raising")


def write(connection: Connection, request: bytes, response_tag: int, controls: bytes = b"") -> PageResult:
    """Send one encoded write request (with encoded `controls`) on `connection`; its LDAPResult (socket errors propagate as OSError)."""
    message_id = _send(connection, request, controls)
    for tag, buffer, op, _, end in _replies(connection, message_id):
        if tag != response_tag:
            raise WireError(f"unexpected protocolOp {tag:#x} in reply to a write (expected {response_tag:#x})")
        return decode_done(buffer, op, end)
    raise AssertionError("unreachable: _replies ends only by raising")
