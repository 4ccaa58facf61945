"""Where an account lives (tests/MUTATION.md): a DN's first RDN and its parent, with escaped commas.

Accounts the daemon makes have a `uid=` RDN without anything to escape, but adopted entries keep
the RDN they had (`cn=Zhang\\, San`): a move keeps that RDN and changes only the parent.
"""

from __future__ import annotations

import pytest

from policies.placement import group_dn, person_dn, split_rdn

HQ = "ou=hq,ou=people,dc=example,dc=com"


@pytest.mark.parametrize("dn, expected", [
    (f"uid=lina,{HQ}", ("uid=lina", HQ)),
    (f"cn=Zhang\\, San,{HQ}", ("cn=Zhang\\, San", HQ)),  # an escaped comma is inside the RDN
    (f"cn=a\\\\,{HQ}", ("cn=a\\\\", HQ)),  # an escaped backslash does not escape the comma after it
    (f"cn=a\\,b\\,c,{HQ}", ("cn=a\\,b\\,c", HQ)),  # after one escape, the next comma is read again
    ("dc=com", ("dc=com", "")),  # no parent
])
def test_split_rdn_cuts_at_the_first_unescaped_comma(dn: str, expected: tuple[str, str]) -> None:
    assert split_rdn(dn) == expected


def test_names_are_escaped_into_their_rdn() -> None:
    assert person_dn("lina", HQ) == f"uid=lina,{HQ}"
    assert group_dn("HQ", "R,D", "ou=groups,dc=example,dc=com") == "cn=HQ-R\\,D,ou=groups,dc=example,dc=com"
    assert split_rdn(group_dn("HQ", "R,D", "ou=groups,dc=example,dc=com")) == ("cn=HQ-R\\,D", "ou=groups,dc=example,dc=com")
