"""Distinguished names and the directory's matching rules (pure; shared by the policies and the connector)."""

from __future__ import annotations

import re
import unicodedata

# Any white space at all (str.isspace and regex \s agree on every code point).
_SPACE = re.compile(r"\s")


def escape_rdn_value(value: str) -> str:
    """Escape a value so it can never change a DN's structure.

    ldap3's escape_rdn turns a lone space into an escaped backslash plus a space,
    which reads back as a backslash: hence this one.
    """
    out = []
    last = len(value) - 1
    for index, char in enumerate(value):
        if char in ',+"\\<>;=' or (char == "#" and index == 0) or (char == " " and index in (0, last)):
            out.append("\\" + char)
        elif char == "\x00":
            out.append("\\00")
        else:
            out.append(char)
    return "".join(out)


def match_key(value: str) -> str:
    """`value` as the directory compares it under caseIgnoreMatch (cn, uid, ou, mail, DN values...).

    What slapd does (checked against a real slapd, tests/test_match_key.py): compatibility forms
    folded (ＡＢ is ab, ﬁ is fi), letters lower-cased one for one (İ is i; ß stays ß, ς stays ς),
    leading and trailing spaces dropped and runs of spaces inside made one.  Two values with the
    same key are one value to the directory: one entry, one name.
    """
    if value.isascii():
        folded = value.lower()
    else:
        # U+0130 is the one letter whose full lower case (Python's) is two characters; slapd maps it to i.
        folded = unicodedata.normalize("NFKC", value).replace("\u0130", "i").lower()
    if _SPACE.search(folded) is None:
        return folded
    return " ".join(folded.split())


def dn_key(dn: str) -> str:
    """A comparison key for DNs that the directory takes as one: letter case, compatibility forms,
    spaces around commas and runs of spaces inside a value do not count."""
    if dn.isascii() and _SPACE.search(dn) is None:  # the common case, one C call each
        # A string that is already lower case is its own key (no copy).
        return dn if dn.islower() else dn.lower()
    return ",".join(match_key(part) for part in dn.split(","))


def split_rdn(dn: str) -> tuple[str, str]:
    """`("uid=a", "ou=x,dc=y")` for `"uid=a,ou=x,dc=y"`, honouring backslash-escaped commas."""
    escaped = False
    for index, char in enumerate(dn):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            return dn[:index], dn[index + 1 :]
    return dn, ""


def split_rdns(dn: str) -> list[str]:
    """The RDNs of `dn`, first to last."""
    parts: list[str] = []
    while True:
        first, dn = split_rdn(dn)
        parts.append(first)
        if not dn:
            return parts
