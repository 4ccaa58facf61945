"""The OpenLDAP directory connector, on python-ldap (OpenLDAP's libldap), one job per module:

- client.py      the client library, and nothing else imports it: requests in, results out;
- session.py     a bound connection, its error mapping onto the project's errors, write lanes, transactions;
- dn.py          DNs in one canonical form (compared with lifecycle.domain.dn.dn_key);
- entries.py     the attributes read and the people and groups built from them;
- snapshot.py    reads: the snapshot (one paged search), single entries, the change stamp;
- operations.py  writes: people, groups, containers;
- references.py  the wait for slapd's refint after moves and deletes;
- directory.py   `LdapDirectory`, the lifecycle.domain.ports.Directory made of the above.
"""

from connectors.ldap.directory import LdapDirectory
from connectors.ldap.dn import canonical_dn, parse_dn
from connectors.ldap.entries import PERSON_CLASSES, SNAPSHOT_ATTRIBUTES, SNAPSHOT_FILTER, parse_generalized_time
from connectors.ldap.operations import hash_password

__all__ = [
    "PERSON_CLASSES",
    "SNAPSHOT_ATTRIBUTES",
    "SNAPSHOT_FILTER",
    "LdapDirectory",
    "canonical_dn",
    "hash_password",
    "parse_dn",
    "parse_generalized_time",
]
