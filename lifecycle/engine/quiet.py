"""Quiet cycles: skip a cycle whose inputs have not changed and whose plan time has not changed.

After a cycle that planned nothing and ended ok, the daemon keeps a baseline:
the HR source's fingerprint (a file's sha256, a digest of a database's or an API's rows), the stored state's version (a counter the database
bumps on every change: lifecycle.journal.state_version), a cheap directory probe and
`next_due` (the first instant time alone changes the plan).  A later cycle
that finds all four unchanged has nothing to decide and skips reading,
planning and applying.

The directory says whether it changed through its port (lifecycle.domain.ports.Directory),
as its declared features allow, cheapest first:

- a change stamp (`features.change_stamps`; OpenLDAP: syncprov's `contextCSN` of the
  database holding the base DN) moves with every write, so an unchanged stamp means an
  unchanged directory, in one read;
- when it moved, or there is none, each entry's version (`features.entry_versions`;
  OpenLDAP: `entryCSN`) for every entry the snapshot reads (people, managed groups, uid
  holders): the probe keeps a 128-bit digest of each DN with its version, and of each DN
  alone, so an unchanged set of digests means an unchanged directory, and only the entries
  whose digest is new are looked at.  The version is hashed as the directory sent it.

A directory that declares neither is never quiet.  bench/README.md has what each costs at
100k people.

Logins are writes: OpenLDAP's lastbind overlay sets `authTimestamp` and `olcLastBind` sets
`pwdLastSuccess`, which the snapshot reads as the person's last login (inactivity is planned
from it), so a login moves the stamp and the entry's version, and people log in all day.  A
changed person entry is therefore re-read and compared without its last-login time, and the
stamp read before that scan becomes the baseline's.  A newer login only ever postpones an
inactivity action, and `next_due` computed from the older login is earlier, never later, so
ignoring it is safe.  Anything else that changed makes the cycle a real one.
The daily full reconciliation ignores the baseline altogether.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from lifecycle.domain.dn import dn_key, match_key
from lifecycle.domain.models import DirectoryEntry, DirectorySnapshot, Plan
from lifecycle.domain.ports import Directory, HrSource
from lifecycle.domain.settings import Settings

log = structlog.get_logger("lifecycle.daemon.service")

# Beyond this many changed entries per cycle a full read is cheaper than one read each.
MAX_RECHECKS = 200


def _name_digest(dn: bytes) -> bytes:
    return hashlib.blake2b(dn, digest_size=16).digest()


def _entry_digest(dn: bytes, version: bytes | None) -> bytes:
    """The digest of an entry's DN (UTF-8) and version, as the directory sent them.  An entry whose version
    was withheld gets a digest no probe sees twice: it counts as changed each time, and is re-read."""
    if version is None:
        return os.urandom(16)
    return hashlib.blake2b(dn + b"\0" + version, digest_size=16).digest()


@dataclass(frozen=True)
class DirectoryProbe:
    """The directory at one instant: a digest of every entry the snapshot reads and of every DN, and the
    directory's change stamp read just before them (None where it keeps none).  `blind`: the directory
    could tell nothing (no stamp, no entry versions), and the probe equals no other."""

    entries: frozenset[bytes]
    names: frozenset[bytes]
    stamp: str | None = None
    blind: bool = False

    def fingerprint(self) -> bytes:
        """One digest of the whole probe: equal exactly when the probes are (order aside)."""
        if self.blind:
            return os.urandom(16)
        whole = hashlib.blake2b(digest_size=16)
        for digest in sorted(self.entries):
            whole.update(digest)
        whole.update(b"/")
        for digest in sorted(self.names):
            whole.update(digest)
        whole.update(b"/" + (self.stamp or "").encode("ascii", "replace"))
        return whole.digest()


@dataclass
class Markers:
    """What the inputs looked like at one instant, cheaply."""

    hr: str  # sha256 of the HR file, "" if unreadable
    state: int  # the stored state's version
    probe: DirectoryProbe


@dataclass(frozen=True)
class Glance:
    """Markers reduced to whether anything moved: what is kept across a cycle (the probe's
    two digest sets are ~20 MB at 100k people, and the cycle's peak memory is no place for them)."""

    hr: str
    state: int
    probe: bytes  # DirectoryProbe.fingerprint()

    @classmethod
    def of(cls, markers: Markers) -> Glance:
        return cls(markers.hr, markers.state, markers.probe.fingerprint())

    def moved(self, later: Markers, plan_hr: str) -> list[str]:
        """What changed between this glance and `later` (the HR file also against the plan's)."""
        return [name for name, same in (
            ("hr", later.hr == self.hr == plan_hr), ("state", later.state == self.state),
            ("directory", later.probe.fingerprint() == self.probe)) if not same]


@dataclass
class Baseline:
    markers: Markers
    people: dict[str, DirectoryEntry]  # dn key -> entry, from the snapshot the last plan used
    due: datetime | None  # next_due; None: time alone never changes the plan
    config: str  # config fingerprint
    logins_seen: int = 0
    taken_uids: frozenset[str] = frozenset()  # the snapshot's uid namespace


@dataclass
class Verdict:
    quiet: bool
    changed: list[str] = field(default_factory=list)
    unchanged: dict[str, str] = field(default_factory=dict)  # input -> why it was skipped


def probe_directory(directory: Directory) -> DirectoryProbe:
    """The change stamp, then each entry's version: a digest of each entry and of its DN.

    The stamp is read first: a write during the listing moves it past the one kept.
    """
    features = directory.features
    stamp = directory.change_stamp() if features.change_stamps else None
    if not features.entry_versions:
        return DirectoryProbe(frozenset(), frozenset(), stamp, blind=stamp is None)
    entries: set[bytes] = set()
    names: set[bytes] = set()
    for dn, version in directory.entry_versions():
        encoded = dn.encode("utf-8")
        entries.add(_entry_digest(encoded, version))
        names.add(_name_digest(encoded))
    return DirectoryProbe(frozenset(entries), frozenset(names), stamp)


def take_markers(hr: HrSource, directory: Directory, state_version: Callable[[], int]) -> Markers:
    return Markers(hr.fingerprint(), state_version(), probe_directory(directory))


def people_by_key(snapshot: DirectorySnapshot | None) -> dict[str, DirectoryEntry]:
    return {dn_key(e.dn): e for e in snapshot.entries} if snapshot is not None else {}


def without_login(entry: DirectoryEntry | None) -> DirectoryEntry | None:
    return None if entry is None else dataclasses.replace(entry, last_bind=None)


def settle_time(settings: Settings, hr: HrSource, now: datetime) -> datetime | None:
    """When a freshly written HR file stops "settling" (the guards wait for it); None when it cannot tell
    or the source never settles (a database read in one transaction)."""
    age = hr.age_seconds()
    if age is None or math.isinf(age):
        return None
    return now + timedelta(seconds=max(0.0, settings.guards.min_file_age_seconds - age))


def check(
    baseline: Baseline | None, settings: Settings, config: str, now: datetime, directory: Directory,
    state_version: Callable[[], int], hr_source: HrSource,
) -> Verdict:
    """Compare the inputs with the baseline, cheapest first; stop at the first change."""
    verdict = Verdict(False)
    if baseline is None:
        verdict.changed.append("no baseline (first cycle, or the last one changed something or failed)")
        return verdict
    if config != baseline.config:
        verdict.changed.append("config")
        return verdict
    if baseline.due is not None and now >= baseline.due:
        verdict.changed.append(f"time: due {baseline.due.isoformat(timespec='seconds')}")
        return verdict
    verdict.unchanged["plan"] = "no timer due" + (f" before {baseline.due.isoformat(timespec='seconds')}" if baseline.due else "")
    hr = hr_source.fingerprint()
    if not hr or hr != baseline.markers.hr:
        verdict.changed.append("hr" if hr else "hr (unreadable)")
        return verdict
    verdict.unchanged["hr"] = f"fingerprint {hr[:12]} unchanged"
    if state_version() != baseline.markers.state:
        verdict.changed.append("state")
        return verdict
    verdict.unchanged["state"] = "stored state unchanged"
    before = baseline.markers.probe
    features = directory.features
    # The stamp is read before the listing: a write during it moves the stamp past this one.
    stamp = directory.change_stamp() if features.change_stamps else None
    if stamp is not None and stamp == before.stamp:
        verdict.unchanged["directory"] = "no change (change stamp unchanged)"
        verdict.quiet = True
        return verdict
    if not features.entry_versions:  # nothing finer to tell which entries changed
        verdict.changed.append("directory: change stamp moved" if stamp is not None else "directory: no change stamp")
        return verdict
    seen: list[bytes] = []
    new: list[tuple[bytes, str]] = []  # (digest of the DN, DN) of the entries that are not in the baseline
    known = before.entries
    for dn, version in directory.entry_versions():
        encoded = dn.encode("utf-8")
        digest = _entry_digest(encoded, version)
        seen.append(digest)
        if digest not in known:
            new.append((_name_digest(encoded), dn))
    added = sum(1 for name, _ in new if name not in before.names)
    removed = len(before.entries) - (len(seen) - len(new)) - (len(new) - added)
    if added or removed:
        verdict.changed.append(f"directory: {added} entries added, {removed} removed")
        return verdict
    managed = [dn_key(dn) for dn in (*(c.people_dn for c in settings.companies), settings.directory.groups_dn)]
    people: list[str] = []
    others: list[str] = []
    for _, dn in new:
        key = dn_key(dn)
        if key in baseline.people:
            people.append(key)
        elif any(key == m or key.endswith("," + m) for m in managed):
            verdict.changed.append(f"directory: {dn} changed")
            return verdict
        else:
            others.append(dn)
    if len(people) + len(others) > MAX_RECHECKS:
        verdict.changed.append(f"directory: {len(people) + len(others)} entries changed")
        return verdict
    for dn in others:
        # Outside the managed subtrees only the uid namespace matters (a removed uid only frees a name).
        uids = directory.read_uids(dn)
        if uids is None or not all(match_key(uid) in baseline.taken_uids for uid in uids):
            verdict.changed.append(f"directory: {dn} changed")
            return verdict
    for key in people:
        fresh = directory.read_person(baseline.people[key].dn)
        if without_login(fresh) != without_login(baseline.people[key]):
            verdict.changed.append(f"directory: {baseline.people[key].dn} changed")
            return verdict
    if new or stamp != before.stamp:  # logins seen: not re-read next time
        baseline.markers.probe = DirectoryProbe(frozenset(seen), before.names, stamp)
    baseline.logins_seen += len(people)
    verdict.unchanged["directory"] = "no change" + (f" but {len(people)} new logins" if people else "")
    verdict.quiet = True
    return verdict


def baseline_after(
    s: Settings, config: str, directory: Directory, hr: HrSource, state_version: Callable[[], int], before: Glance,
    plan: Plan, snapshot: DirectorySnapshot | None,
) -> Baseline | None:
    """What the next cycle may compare with to be quiet: the inputs this empty plan was made from, if nothing
    moved while it was made (None: the next cycle reads everything again)."""
    after = take_markers(hr, directory, state_version)
    moved = ([] if snapshot is not None else ["directory snapshot"]) + before.moved(after, plan.hr_fingerprint)
    if moved or snapshot is None:
        log.info("quiet_baseline_skipped", moved=moved, consequence="the next cycle reads everything again")
        return None
    due = plan.next_due  # computed from the same HR, directory and state as the plan
    settle = settle_time(s, hr, plan.now)
    if settle is not None and settle > plan.now:
        due = min(due, settle) if due is not None else settle
    return Baseline(after, people_by_key(snapshot), due, config, taken_uids=snapshot.taken_uids)
