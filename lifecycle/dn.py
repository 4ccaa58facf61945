"""RFC 4514 escaping of one attribute value in a DN (pure; shared by the policies and the connector)."""

from __future__ import annotations


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
