"""Distinguished names: where an account lives, and where it moves to."""

from __future__ import annotations

import re

from lifecycle.dn import escape_rdn_value

# Any white space at all (str.isspace and regex \s agree on every code point).
_SPACE = re.compile(r"\s")


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
    if _SPACE.search(dn) is None:  # nothing to strip: the common case, one C call
        # A string that is already lower case is its own key (no copy: lower() would change
        # nothing, as no character that islower() accepts is changed by lower()).
        return dn if dn.islower() else dn.lower()
    return ",".join(part.strip().lower() for part in dn.split(","))
