"""Reading the directory: the snapshot (one paged search), single entries, and what tells whether it changed:
the server's change stamp and each entry's version."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from connectors.ldap.client import Entry, escape_filter_value
from connectors.ldap.dn import canonical_dn, is_within
from connectors.ldap.entries import (
    GROUP_ATTRIBUTES,
    GROUP_FILTER,
    PERSON_ATTRIBUTES,
    PERSON_FILTER,
    SNAPSHOT_ATTRIBUTES,
    SNAPSHOT_FILTER,
    VERSION_ATTRIBUTE,
    SharedValues,
    group_from,
    is_managed_group,
    person_from,
)
from connectors.ldap.session import CONNECTOR, Session
from lifecycle.domain.dn import dn_key, match_key
from lifecycle.domain.errors import RecordError
from lifecycle.domain.models import DirectoryEntry, DirectorySnapshot, GroupEntry


def entries(session: Session, what: str, base: str, search_filter: str, attributes: Sequence[str]) -> Iterator[Entry]:
    """Every entry under `base` matching `search_filter`, page after page (see Session.pages)."""
    for page in session.pages(what, base, search_filter, attributes):
        yield from page


def read_snapshot(session: Session, base_dn: str, people_dns: Sequence[str], groups_dn: str,
                  known: Iterable[str] = ()) -> DirectorySnapshot:
    """Every person under the people_dns, the managed groups, and all uids, in one search under the base DN.

    Each entry is read once: people, managed groups and every other holder of a uid or an
    employeeNumber (the naming namespace; `outside` and `other_classes`, which a joiner may
    already have), told apart here by their DN and object classes.  The caller makes sure the
    containers exist (else their people would look deleted).  `known`: strings already in
    memory (the mailboxes' addresses and display names): equal values share them.
    """
    people: dict[str, DirectoryEntry] = {}
    groups: dict[str, GroupEntry] = {}
    outside: dict[str, DirectoryEntry] = {}
    other_classes: dict[str, DirectoryEntry] = {}
    taken: set[str] = set()
    people_keys = tuple(dn_key(canonical_dn(dn)) for dn in people_dns)
    groups_key = dn_key(canonical_dn(groups_dn))
    shared = SharedValues(known)
    for dn, raw in entries(session, "read directory", base_dn, SNAPSHOT_FILTER, SNAPSHOT_ATTRIBUTES):
        key = shared.key(dn)
        classes = {v.lower() for v in raw.get("objectclass", ())}
        uids = raw.get("uid", [])
        person = b"inetorgperson" in classes
        if person and any(key == k or key.endswith("," + k) for k in people_keys):
            entry = person_from(dn, raw, shared)
            people[entry.dn] = entry
            if entry.uid:
                uid = match_key(entry.uid)
                taken.add(entry.uid if uid == entry.uid else uid)  # one string, not two, where they are equal
                uids = uids[1:]  # the first is entry.uid
        elif key.endswith("," + groups_key) and is_managed_group(classes, raw):
            group = group_from(dn, raw, shared)
            groups[group.dn] = group
        elif uids or raw.get("employeenumber"):  # a login of another class, or a person outside the subtrees
            entry = person_from(dn, raw, shared)
            (outside if person else other_classes)[entry.dn] = entry
        taken.update(match_key(v.decode("utf-8", errors="replace")) for v in uids)
    return DirectorySnapshot(
        entries=tuple(people[dn] for dn in sorted(people)),
        groups=tuple(groups[dn] for dn in sorted(groups)),
        taken_uids=frozenset(taken),
        outside=tuple(outside[dn] for dn in sorted(outside)),
        other_classes=tuple(other_classes[dn] for dn in sorted(other_classes)),
    )


def read_person(session: Session, dn: str) -> DirectoryEntry | None:
    found = session.base_entry("read person", dn, PERSON_FILTER, PERSON_ATTRIBUTES)
    return None if found is None else person_from(*found)


def read_group(session: Session, dn: str) -> GroupEntry | None:
    found = session.base_entry("read group", dn, GROUP_FILTER, GROUP_ATTRIBUTES)
    return None if found is None else group_from(*found)


def read_uids(session: Session, dn: str) -> list[str] | None:
    """The uid values of any entry (a person, a service account...), None when it does not exist."""
    found = session.base_entry("read the uids of", dn, "(objectClass=*)", ["uid"])
    return None if found is None else [v.decode("utf-8", "replace") for v in found[1].get("uid", ())]


def find_by_employee_number(session: Session, people_dns: Sequence[str], employee_number: str) -> DirectoryEntry | None:
    """The one person with this employeeNumber under any of `people_dns`; several are a RecordError
    (acting on either would be a guess)."""
    search_filter = f"(&{PERSON_FILTER}(employeeNumber={escape_filter_value(employee_number)}))"
    found: dict[str, DirectoryEntry] = {}
    for people_dn in people_dns:
        for dn, raw in entries(session, "find person", canonical_dn(people_dn), search_filter, PERSON_ATTRIBUTES):
            entry = person_from(dn, raw)
            found[entry.dn] = entry
    if len(found) > 1:
        raise RecordError(
            f"employee number {employee_number} is on {len(found)} entries: {', '.join(sorted(found))}", connector=CONNECTOR
        )
    return next(iter(found.values()), None)


def entry_versions(session: Session, base_dn: str) -> Iterator[tuple[str, bytes | None]]:
    """(DN, entryCSN) of every entry `read_snapshot` reads, in one paged search.

    The quiet-cycle probe hashes these for every entry: the CSN is handed on as the bytes the server sent,
    and a DN is made canonical only where escapes could make the server's spelling differ from the
    snapshot's under dn_key (slapd writes `\\,` as `\\2C`).
    """
    version = VERSION_ATTRIBUTE.lower()
    for page in session.pages("probe for changes", base_dn, SNAPSHOT_FILTER, (VERSION_ATTRIBUTE,)):
        for dn, raw in page:
            values = raw.get(version)
            yield canonical_dn(dn) if "\\" in dn or "#" in dn else dn, values[0] if values else None


def naming_context(session: Session, base_dn: str) -> str | None:
    """The naming context (database suffix) that holds `base_dn`, as the root DSE lists them."""
    holding = [context for context in session.root_values("namingContexts") if context and is_within(base_dn, context)]
    return max(holding, key=len) if holding else None


def change_stamp(session: Session, context: str) -> str | None:
    """The `contextCSN` of a naming context: syncprov moves it with every write to that database
    (logins included), so an unchanged stamp means an unchanged directory.  None where the
    server keeps none (no syncprov)."""
    found = session.base_entry("read the change stamp of", context, "(objectClass=*)", ["contextCSN"])
    values = found[1].get("contextcsn") if found is not None else None
    return " ".join(sorted(v.decode("ascii", "replace") for v in values)) if values else None
