"""DNs as the connector hands them out: one canonical textual form, compared by lifecycle.domain.dn.dn_key.

Servers return DNs in their own "pretty" form: slapd turns `cn=a\\,b` into
`cn=a\\2Cb`.  So that the policies can compare DNs as strings, every DN the
connector hands out (entry DNs, group members, managers, `person_dn`,
`group_dn`, `move_person`) is canonical: lower-case attribute types, values
escaped with `lifecycle.domain.dn.escape_rdn_value` (RFC 4514).  Two canonical
DNs name the same entry exactly when their `dn_key`s are equal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lifecycle.domain.dn import dn_key, escape_rdn_value

Rdn = list[tuple[str, str]]


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


def parse_dn(dn: str) -> list[Rdn]:
    """Split a DN (RFC 4514, tolerant of RFC 2253 spaces) into RDNs of (type, unescaped value)."""
    rdns: list[Rdn] = []
    avas: Rdn = []
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


def format_rdn(avas: Iterable[tuple[str, str]]) -> str:
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
        return ",".join(format_rdn(rdn) for rdn in parse_dn(dn))
    except (ValueError, UnicodeDecodeError):
        return dn


def same_dn(first: str, second: str) -> bool:
    """Whether two DNs, in any textual form, name the same entry."""
    return dn_key(canonical_dn(first)) == dn_key(canonical_dn(second))


def split_first_rdn(dn: str) -> tuple[Rdn, str]:
    """(first RDN as (type, value) pairs, canonical parent DN); ValueError for a DN that is not one."""
    rdns = parse_dn(dn)
    if not rdns:
        raise ValueError("an empty DN was given")
    return rdns[0], ",".join(format_rdn(rdn) for rdn in rdns[1:])


def is_within(dn: str, base: str) -> bool:
    """`dn` is `base` or below it."""
    dn_k, base_k = dn_key(canonical_dn(dn)), dn_key(canonical_dn(base))
    return dn_k == base_k or dn_k.endswith("," + base_k)


def person_dn(uid: str, people_dn: str) -> str:
    if not uid:
        raise ValueError("uid must not be empty")
    return f"uid={escape_rdn_value(uid)},{canonical_dn(people_dn)}"


def group_dn(company: str, department: str, groups_dn: str) -> str:
    return f"cn={escape_rdn_value(f'{company}-{department}')},{canonical_dn(groups_dn)}"
