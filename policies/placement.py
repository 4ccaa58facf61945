"""Distinguished names: where an account lives, and where it moves to."""

from __future__ import annotations

from functools import lru_cache

from lifecycle.domain.dn import dn_key, escape_rdn_value, match_key, split_rdn

__all__ = ["dn_key", "group_dn", "group_key", "person_dn", "split_rdn"]


def person_dn(uid: str, people_dn: str) -> str:
    return f"uid={escape_rdn_value(uid)},{people_dn}"


def group_dn(company: str, department: str, groups_dn: str) -> str:
    return f"cn={escape_rdn_value(f'{company}-{department}')},{groups_dn}"


@lru_cache(maxsize=1 << 12)  # a few hundred departments, asked once per member
def group_key(company: str, department: str) -> str:
    """The group's name as the directory compares it: `Sales` and `SALES` are one group to LDAP."""
    return match_key(f"{company}-{department}")
