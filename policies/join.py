"""Join the snapshots per person: HR record + stored state + directory entry.

Matching order, most trusted first: the uid the daemon recorded for the
employee; the entry's `employeeNumber`; then (reported for an admin to
confirm, never acted on alone) the configured secondary attribute.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from lifecycle.domain.dn import match_key
from lifecycle.domain.mail import MailSnapshot
from lifecycle.domain.models import (
    DirectoryEntry,
    DirectorySnapshot,
    HrRecord,
    HrSnapshot,
    PersonState,
    PersonStatus,
    Review,
    ReviewKind,
    StoredState,
)
from policies.context import PolicyContext
from policies.naming import lower_name


@dataclass(frozen=True, slots=True)
class PersonView:
    employee_id: str
    hr: HrRecord | None
    state: PersonState | None
    entry: DirectoryEntry | None
    # Company the person belongs to now: HR's word first, then what we recorded.
    company: str
    # Company whose subtree holds the entry today (differs from `company` for a mover).
    entry_company: str | None = None


@dataclass
class Joined:
    persons: list[PersonView] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)
    # Entries that belong to nobody we manage: reported, never touched.
    unmatched: list[DirectoryEntry] = field(default_factory=list)
    # Employee ids nothing is done for (rejected rows, ids that changed shape).
    blocked: frozenset[str] = frozenset()


def join_snapshots(
    hr: HrSnapshot, directory: DirectorySnapshot, state: StoredState, ctx: PolicyContext, mail: MailSnapshot | None = None
) -> Joined:
    joined = Joined()
    if mail is not None:
        directory = _with_mail_logins(directory, mail)
    blocked = hr.rejected_ids()
    records = {r.employee_id: r for r in hr.records}
    states = state.by_employee()
    by_uid = _Index()
    by_number = _Index()
    for listed in directory.entries:
        if listed.uid:
            by_uid.add(lower_name(listed.uid), listed)
        if listed.employee_number:
            by_number.add(listed.employee_number, listed)
    uid_owner = {lower_name(p.uid): p.employee_id for p in state.persons if p.uid}
    # Entries outside the subtrees (or of another class) are never acted on, but a number one of them shares
    # with any other entry under the base DN makes that employee's entry a guess.
    elsewhere = _Index()
    for other in (*directory.outside, *directory.other_classes):
        if other.employee_number:
            elsewhere.add(other.employee_number, other)

    ambiguous = _shared_numbers(by_number, elsewhere, itertools.chain(records, states))
    for number in sorted(ambiguous):
        dns = ", ".join(e.dn for e in ambiguous[number])
        joined.reviews.append(
            Review(
                ReviewKind.DUPLICATE_EMPLOYEE_NUMBER,
                number,
                records[number].company if number in records else "",
                dns,
                f"employeeNumber {number} is on several entries ({dns}); nothing is done for this employee",
                "remove employeeNumber from the entries that are not this person",
            )
        )

    claimed: set[str] = set()  # DNs linked to some employee
    away: _AwayIndex | None = None  # built for the first linked employee whose entry is not in the subtrees
    held_away: set[str] = set()
    # Only people with neither a stored link nor an entry by number are matched this way: built when needed.
    secondary: dict[str, list[DirectoryEntry]] | None = None
    secondary_hr: dict[str, int] | None = None

    mangled = _mangled_ids(records, states, by_number)
    for new_id, old_id in sorted(mangled.items()):
        joined.reviews.append(
            Review(
                ReviewKind.INCONSISTENT_RECORD,
                new_id,
                records[new_id].company,
                f"row {records[new_id].row}",
                f"employee id {new_id} looks like the known id {old_id} with {_id_change(new_id, old_id)} "
                "(a spreadsheet may have changed the id column); neither is acted on until the ids agree",
                f"export the id column as text, exactly as before ({old_id}), or correct the id in HR",
            )
        )
    blocked = blocked | set(mangled) | set(mangled.values())
    # A duplicated number blocks its employee; their reports keep the manager attribute they have.
    joined.blocked = frozenset(blocked | set(ambiguous))

    ids = list(records)
    ids += [employee_id for employee_id in states if employee_id not in records]
    ids.sort()
    for employee_id in ids:
        if employee_id in blocked or employee_id in ambiguous:
            # A rejected row is never acted on; keep its entry out of "unmatched" too.
            for rejected_entry in ambiguous.get(employee_id) or by_number.get(employee_id):
                claimed.add(rejected_entry.dn)
            st = states.get(employee_id)
            if st and st.uid:
                claimed.update(e.dn for e in by_uid.get(lower_name(st.uid)))
            continue
        record = records.get(employee_id)
        st = states.get(employee_id)
        entry = _find_entry(employee_id, st, by_uid, by_number, ctx)
        if entry is None and st is not None and st.uid and (record is not None or st.status != PersonStatus.DELETED):
            if away is None:
                away = _AwayIndex(directory)
            moved = away.find(st.uid, employee_id)
            if moved is not None:  # moved out of the subtrees by hand: not gone, and not to be made again
                joined.reviews.append(
                    Review(
                        ReviewKind.INCONSISTENT_RECORD,
                        employee_id,
                        record.company if record else st.company,
                        moved.dn,
                        f"account {st.uid} of employee {employee_id} was moved out of the managed subtree (it is at "
                        f"{moved.dn}); nothing is done for {employee_id}, and no new account is made, while it is there",
                        f"move it back under the company's subtree, or `lifecycle unlink {employee_id} --reason ...` if "
                        "it is not this person's",
                    )
                )
                held_away.add(employee_id)
                continue
        owner = uid_owner.get(lower_name(entry.uid)) if entry is not None else None
        if entry is not None and owner not in (None, employee_id):
            joined.reviews.append(
                Review(
                    ReviewKind.DUPLICATE_EMPLOYEE_NUMBER,
                    employee_id,
                    record.company if record else (st.company if st else ""),
                    entry.dn,
                    f"entry {entry.dn} carries employeeNumber {employee_id}, but its uid {entry.uid} is reserved for "
                    f"employee {owner}; nothing is done for {employee_id}",
                    "give the entry another uid, or correct its employeeNumber",
                )
            )
            claimed.add(entry.dn)
            continue
        if entry is None and record is not None and st is None:
            if secondary is None or secondary_hr is None:
                secondary, secondary_hr = _secondary_index(directory, ctx), _secondary_hr_index(hr.records, ctx)
            candidate = _secondary_match(record, secondary, secondary_hr, ctx)
            if candidate is not None:
                claimed.add(candidate.dn)
                joined.reviews.append(
                    Review(
                        ReviewKind.CONFIRM_MATCH,
                        employee_id,
                        record.company,
                        candidate.dn,
                        f"entry {candidate.dn} has no employeeNumber but its {ctx.settings.directory.match_attribute} "
                        f"matches employee {employee_id} ({record.name}); waiting for confirmation before adopting it",
                        f"run `lifecycle adopt {employee_id} {candidate.uid}` to confirm, or set employeeNumber on the entry",
                    )
                )
                continue
        if entry is not None:
            claimed.add(entry.dn)
        company = record.company if record else (st.company if st else "")
        joined.persons.append(
            PersonView(employee_id, record, st, entry, company, ctx.company_of_dn(entry.dn) if entry else None)
        )

    if held_away:
        joined.blocked = joined.blocked | held_away
    for entry in directory.entries:
        if entry.dn not in claimed:
            joined.unmatched.append(entry)
            joined.reviews.append(
                Review(
                    ReviewKind.UNMATCHED_ENTRY,
                    entry.employee_number,
                    ctx.company_of_dn(entry.dn) or "",
                    entry.dn,
                    "entry in a managed subtree matches no HR record; it is left untouched",
                    "add the person to the HR export, set employeeNumber, or move the entry out of the managed subtree",
                )
            )
    return joined


def _shared_numbers(by_number: _Index, elsewhere: _Index, employee_ids: Iterable[str]) -> dict[str, list[DirectoryEntry]]:
    """The employeeNumbers more than one entry under the base DN carries, as the directory compares them (without
    letter case: `GZ0001` and `gz0001` are one), each spelled as the employee id it is (else as an entry has it),
    with the entries carrying it."""
    carriers = _Index()  # match key -> the entries carrying it (no list for the keys one entry carries)
    for index in (by_number, elsewhere):
        for number in index.all_keys():
            key = number if number.isdigit() else match_key(number)
            for entry in index.get(number):
                carriers.add(key, entry)
    shared = {key: carriers.get(key) for key in sorted(carriers.shared_keys())}
    if not shared:
        return {}
    spelled = {}
    for employee_id in employee_ids:
        key = employee_id if employee_id.isdigit() else match_key(employee_id)
        if key in shared:
            spelled[key] = employee_id
    return {spelled.get(key, entries[0].employee_number): entries for key, entries in shared.items()}


class _AwayIndex:
    """The entries outside the subtrees (or of another class), by uid and by employeeNumber."""

    def __init__(self, directory: DirectorySnapshot) -> None:
        self._by_uid: dict[str, DirectoryEntry] = {}
        self._by_number: dict[str, DirectoryEntry] = {}
        for entry in (*directory.outside, *directory.other_classes):
            if entry.uid:
                self._by_uid.setdefault(lower_name(entry.uid), entry)
            if entry.employee_number:
                self._by_number.setdefault(match_key(entry.employee_number), entry)

    def find(self, uid: str, employee_id: str) -> DirectoryEntry | None:
        """The employee's entry out there: carrying their stored uid, or their number."""
        return self._by_uid.get(lower_name(uid)) or self._by_number.get(match_key(employee_id))


class _Index:
    """key -> the entries carrying it, in order: a dict of lists without a list for every key."""

    __slots__ = ("_first", "_more")

    def __init__(self) -> None:
        self._first: dict[str, DirectoryEntry] = {}
        self._more: dict[str, list[DirectoryEntry]] = {}  # keys several entries carry: all of them

    def add(self, key: str, entry: DirectoryEntry) -> None:
        first = self._first
        if key not in first:
            first[key] = entry
            return
        more = self._more.get(key)
        if more is None:
            self._more[key] = [first[key], entry]
        else:
            more.append(entry)

    def get(self, key: str) -> list[DirectoryEntry]:
        more = self._more.get(key)
        if more is not None:
            return more
        entry = self._first.get(key)
        return [] if entry is None else [entry]

    def __contains__(self, key: object) -> bool:
        return key in self._first

    def all_keys(self) -> Iterable[str]:
        return self._first.keys()

    def shared_keys(self) -> set[str]:
        return set(self._more)


def _find_entry(
    employee_id: str,
    state: PersonState | None,
    by_uid: _Index,
    by_number: _Index,
    ctx: PolicyContext,
) -> DirectoryEntry | None:
    if state is not None and state.uid and state.status != PersonStatus.DELETED:
        candidates = by_uid.get(lower_name(state.uid))
        if len(candidates) == 1 and candidates[0].employee_number == employee_id:
            return candidates[0]  # the common case: the recorded uid, carrying the employee's own number
        # Branch directories may reuse a uid: the employee's own number wins, then its company's subtree.
        for narrowed in (
            [e for e in candidates if e.employee_number == employee_id],
            [e for e in candidates if not e.employee_number and ctx.company_of_dn(e.dn) == state.company],
        ):
            if len(narrowed) == 1:
                return narrowed[0]
    numbered = by_number.get(employee_id)
    return numbered[0] if len(numbered) == 1 else None


def _secondary_value(entry: DirectoryEntry, attribute: str) -> str:
    return match_key({"mail": entry.mail, "uid": entry.uid, "cn": entry.cn}.get(attribute, ""))


def _hr_secondary_value(record: HrRecord, attribute: str) -> str:
    return match_key({"mail": record.email, "uid": record.account, "cn": record.name}.get(attribute, ""))


def _secondary_index(directory: DirectorySnapshot, ctx: PolicyContext) -> dict[str, list[DirectoryEntry]]:
    attribute = ctx.settings.directory.match_attribute
    index: dict[str, list[DirectoryEntry]] = defaultdict(list)
    if attribute == "none":
        return index
    for entry in directory.entries:
        if not entry.employee_number:
            value = _secondary_value(entry, attribute)
            if value:
                index[value].append(entry)
    return index


def _secondary_hr_index(records: tuple[HrRecord, ...], ctx: PolicyContext) -> dict[str, int]:
    attribute = ctx.settings.directory.match_attribute
    counts: dict[str, int] = defaultdict(int)
    for record in records:
        value = _hr_secondary_value(record, attribute)
        if value:
            counts[value] += 1
    return counts


def _secondary_match(
    record: HrRecord,
    index: dict[str, list[DirectoryEntry]],
    hr_counts: dict[str, int],
    ctx: PolicyContext,
) -> DirectoryEntry | None:
    """A unique-on-both-sides match, or nothing: two 张伟 never match by cn."""
    value = _hr_secondary_value(record, ctx.settings.directory.match_attribute)
    if not value or hr_counts.get(value, 0) != 1:
        return None
    candidates = index.get(value, [])
    return candidates[0] if len(candidates) == 1 else None


def _mangled_ids(records: dict[str, HrRecord], states: dict[str, PersonState], by_number: _Index) -> dict[str, str]:
    """New HR ids that are a known (now absent) employee's id with leading zeros lost or gained.

    A spreadsheet that turned ids into numbers drops the zeros; an export fixed to keep
    them as text brings them back.  Either way the same people would look like joiners
    plus leavers.  Pairs are made only where each side is unique: new id -> known id.
    """
    known_absent = {eid for eid in states if eid not in records}
    known_absent.update(eid for eid in by_number.all_keys() if eid not in records)
    new = {eid for eid in records if eid not in states and eid not in by_number}
    by_key_known: dict[str, list[str]] = defaultdict(list)
    by_key_new: dict[str, list[str]] = defaultdict(list)
    # The directory compares employeeNumber without regard to case: `gz0001` and `GZ0001` are one id there.
    for eid in known_absent:
        by_key_known[match_key(eid.lstrip("0"))].append(eid)
    for eid in new:
        by_key_new[match_key(eid.lstrip("0"))].append(eid)
    pairs = {}
    for key, news in by_key_new.items():
        knowns = by_key_known.get(key, [])
        if key and len(news) == 1 and len(knowns) == 1 and news[0] != knowns[0]:
            pairs[news[0]] = knowns[0]
    return pairs


def _id_change(new_id: str, old_id: str) -> str:
    if len(new_id) == len(old_id):
        return "its letter case changed (the directory takes both as one employeeNumber)"
    return f"leading zeros {'lost' if len(new_id) < len(old_id) else 'added'}"


def _with_mail_logins(directory: DirectorySnapshot, mail: MailSnapshot) -> DirectorySnapshot:
    """Last login is the later of the directory's last bind and the mailbox's last login."""
    logins = {m.address: m.last_login for m in mail.mailboxes if m.last_login is not None}
    if not logins:
        return directory
    entries = []
    for entry in directory.entries:
        login = logins.get(entry.mail.lower()) if entry.mail else None
        if login is not None and (entry.last_bind is None or login > entry.last_bind):
            entry = replace(entry, last_bind=login)
        entries.append(entry)
    return replace(directory, entries=tuple(entries))
