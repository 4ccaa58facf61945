"""Distinguished names: where an account lives, and where it moves to."""

from __future__ import annotations


def escape_rdn_value(value: str) -> str:
    """RFC 4514 escaping, so an HR value can never change a DN's structure."""
    out = []
    for index, char in enumerate(value):
        if char in ',+"\\<>;=' or (char == "#" and index == 0) or (char == " " and index in (0, len(value) - 1)):
            out.append("\\" + char)
        elif char == "\x00":
            out.append("\\00")
        else:
            out.append(char)
    return "".join(out)


def person_dn(uid: str, people_dn: str) -> str:
    return f"uid={escape_rdn_value(uid)},{people_dn}"


def group_dn(company: str, department: str, groups_dn: str) -> str:
    return f"cn={escape_rdn_value(f'{company}-{department}')},{groups_dn}"


def split_rdn(dn: str) -> tuple[str, str]:
    """`("uid=a", "ou=x,dc=y")` for `"uid=a,ou=x,dc=y"`, honouring escaped commas."""
    escaped = False
    for index, char in enumerate(dn):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            return dn[:index], dn[index + 1 :]
    return dn, ""


def dn_key(dn: str) -> str:
    """A comparison key for DNs that differ only in case or spacing after commas."""
    return ",".join(part.strip().lower() for part in dn.split(","))
