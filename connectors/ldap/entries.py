"""What the connector reads in an entry: the attributes it asks for, and people and groups built from raw values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone

from connectors.ldap.dn import canonical_dn
from lifecycle.domain.dn import dn_key
from lifecycle.domain.models import DirectoryEntry, GroupEntry

PERSON_CLASSES = ("top", "person", "organizationalPerson", "inetOrgPerson")
PERSON_FILTER = "(objectClass=inetOrgPerson)"
GROUP_FILTER = "(&(objectClass=groupOfNames)(businessCategory=lifecycle))"
MANAGED_MARKER = "lifecycle"
PERSON_ATTRIBUTES = (
    "uid",
    "cn",
    "sn",
    "givenName",
    "displayName",
    "mail",
    "employeeNumber",
    "departmentNumber",
    "title",
    "manager",
    "pwdAccountLockedTime",
    "authTimestamp",
    "pwdLastSuccess",
    "createTimestamp",
)
GROUP_ATTRIBUTES = ("cn", "o", "ou", "member")
# The snapshot: people, managed groups and every holder of a uid or an employeeNumber, in one search under the
# base DN (an entry of any class may be a person's existing account, or share a number with one).
SNAPSHOT_FILTER = f"(|{PERSON_FILTER}(uid=*)(employeeNumber=*){GROUP_FILTER})"
SNAPSHOT_ATTRIBUTES = tuple(dict.fromkeys(("objectClass", "businessCategory", *PERSON_ATTRIBUTES, *GROUP_ATTRIBUTES)))
# An entry's version (lifecycle.domain.ports.Directory.entry_versions): slapd moves it with every write to the entry.
VERSION_ATTRIBUTE = "entryCSN"

RawAttributes = Mapping[str, Sequence[bytes]]  # lower-case attribute type -> raw values


def text(values: Sequence[bytes] | None) -> str:
    """The first value as text ("" when there is none)."""
    if not values:
        return ""
    return values[0].decode("utf-8", errors="replace")


def parse_generalized_time(value: str) -> datetime | None:
    """GeneralizedTime (`YYYYMMDDHHMMSS[.fff][Z|+hhmm]`) as an aware UTC datetime."""
    if len(value) == 15 and value[14] == "Z" and value[:14].isdigit():  # what slapd writes: the common case
        try:
            return datetime(int(value[0:4]), int(value[4:6]), int(value[6:8]), int(value[8:10]), int(value[10:12]),
                            int(value[12:14]), tzinfo=UTC)
        except ValueError:
            return None
    value = value.strip()
    if len(value) < 10:
        return None
    try:
        zone: timezone = UTC
        if value.endswith("Z"):
            value = value[:-1]
        elif len(value) > 5 and value[-5] in "+-":
            sign = 1 if value[-5] == "+" else -1
            zone = timezone(sign * timedelta(hours=int(value[-4:-2]), minutes=int(value[-2:])))
            value = value[:-5]
        fraction = 0.0
        for separator in ".,":
            if separator in value:
                value, digits = value.split(separator, 1)
                fraction = float("0." + digits) if digits else 0.0
        digits = value.ljust(14, "0")
        if not digits[:14].isdigit():
            return None
        stamp = datetime(
            int(digits[0:4]), int(digits[4:6]), int(digits[6:8]), int(digits[8:10]), int(digits[10:12]), int(digits[12:14]),
            tzinfo=zone,
        )
        return (stamp + timedelta(seconds=fraction)).astimezone(UTC)
    except ValueError:
        return None


def _time(values: Sequence[bytes] | None) -> datetime | None:
    return parse_generalized_time(text(values)) if values else None


class SharedValues:
    """Shared strings for one snapshot (100k people must fit a small machine).

    Member and manager values repeat the people's DNs: each canonical form is
    made once and shared.  Departments, titles, family and given names repeat
    across thousands of people: each distinct value is kept once.
    """

    __slots__ = ("_forms", "_texts", "_times")

    def __init__(self, known: Iterable[str] = ()) -> None:
        self._forms: dict[str, str] = {}
        self._texts: dict[str, str] = {value: value for value in known}
        self._times: dict[bytes, datetime | None] = {}  # bulk loads give thousands the same createTimestamp

    def form(self, dn: str) -> str:
        found = self._forms.get(dn)
        if found is None:
            found = canonical_dn(dn)
            found = self._forms[dn] = dn if found == dn else found
        return found

    def key(self, dn: str) -> str:
        return dn_key(self.form(dn))

    def shared(self, values: Sequence[bytes] | None) -> str:
        value = text(values)
        return self._texts.setdefault(value, value)

    def time(self, values: Sequence[bytes] | None) -> datetime | None:
        if not values:
            return None
        raw = values[0]
        if raw not in self._times:
            self._times[raw] = _time(values)
        return self._times[raw]


def person_from(dn: str, attrs: RawAttributes, shared: SharedValues | None = None) -> DirectoryEntry:
    """A person from its raw attributes."""
    form = shared.form if shared is not None else canonical_dn
    one = shared.shared if shared is not None else text
    when = shared.time if shared is not None else _time
    binds = [t for t in (when(attrs.get("authtimestamp")), when(attrs.get("pwdlastsuccess"))) if t is not None]
    manager = text(attrs.get("manager"))
    return DirectoryEntry(
        dn=form(dn),
        uid=text(attrs.get("uid")),
        cn=one(attrs.get("cn")),
        sn=one(attrs.get("sn")),
        given_name=one(attrs.get("givenname")),
        display_name=one(attrs.get("displayname")),  # usually equal to cn
        mail=one(attrs.get("mail")),  # shared with the mailbox's address (see `read_snapshot`)
        employee_number=text(attrs.get("employeenumber")),
        department=one(attrs.get("departmentnumber")),
        title=one(attrs.get("title")),
        manager=form(manager) if manager else "",
        locked=bool(attrs.get("pwdaccountlockedtime")),
        last_bind=max(binds) if binds else None,
        created=when(attrs.get("createtimestamp")),
    )


def group_from(dn: str, attrs: RawAttributes, shared: SharedValues | None = None) -> GroupEntry:
    form = shared.form if shared is not None else canonical_dn
    members = frozenset(form(v.decode("utf-8", errors="replace")) for v in attrs.get("member") or ())
    return GroupEntry(
        dn=form(dn),
        cn=text(attrs.get("cn")),
        company=text(attrs.get("o")),
        department=text(attrs.get("ou")),
        members=members,
    )


def is_managed_group(classes: set[bytes], attrs: RawAttributes) -> bool:
    """A groupOfNames this daemon manages (its businessCategory marks it)."""
    return b"groupofnames" in classes and any(v.lower() == MANAGED_MARKER.encode() for v in attrs.get("businesscategory", ()))
