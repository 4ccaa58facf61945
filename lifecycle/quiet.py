"""Quiet cycles: skip a cycle whose inputs have not changed and whose plan time has not changed.

After a cycle that planned nothing and ended ok, the daemon keeps a baseline:
the HR file's sha256, the stored state, a cheap directory probe (DN and
`entryCSN` of every entry under the base DN) and `next_due` (the first
instant time alone changes the plan).  A later cycle that finds all four
unchanged has nothing to decide and skips reading, planning and applying.

Logins change an entry's `entryCSN` (lastbind, ppolicy), and people log in
all day; a changed person entry is therefore re-read and compared without
its last-login time.  A newer login only ever postpones an inactivity action,
and `next_due` computed from the older login is earlier, never later, so
ignoring it is safe.  Anything else that changed makes the cycle a real one.
The daily full reconciliation ignores the baseline altogether.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from connectors.directory_ldap import LdapDirectory, canonical_dn, dn_key
from lifecycle.models import DirectoryEntry, DirectorySnapshot, StoredState
from lifecycle.settings import Settings

# Beyond this many changed people per cycle a full read is cheaper than one read each.
MAX_RECHECKS = 200


@dataclass
class Markers:
    """What the inputs looked like at one instant, cheaply."""

    hr: str  # sha256 of the HR file, "" if unreadable
    state: StoredState | None
    probe: dict[str, str]  # dn key -> "csn:..." (managed subtrees) or "uid:..." (elsewhere)


@dataclass
class Baseline:
    markers: Markers
    people: dict[str, DirectoryEntry]  # dn key -> entry, from the snapshot the last plan used
    due: datetime | None  # next_due; None: time alone never changes the plan
    config: str  # config fingerprint
    logins_seen: int = 0


@dataclass
class Verdict:
    quiet: bool
    changed: list[str] = field(default_factory=list)
    unchanged: dict[str, str] = field(default_factory=dict)  # input -> why it was skipped


def hr_digest(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return ""


def probe_directory(settings: Settings, directory: LdapDirectory) -> dict[str, str]:
    """DN -> change marker for every entry under the base DN (one paged search, two attributes)."""
    managed = [dn_key(c.people_dn) for c in settings.companies] + [dn_key(settings.directory.groups_dn)]
    probe: dict[str, str] = {}
    base = canonical_dn(settings.directory.base_dn)
    # The connector has no public probe yet; `_paged` brings paging, retries and error mapping.
    with directory._lock:  # noqa: SLF001
        for dn, raw in directory._paged("probe for changes", base, "(objectClass=*)", ["entryCSN", "uid"]):  # noqa: SLF001
            key = dn_key(dn)
            values = {name.lower(): sorted(v.decode("utf-8", "replace") for v in vals) for name, vals in raw.items()}
            if any(key == m or key.endswith("," + m) for m in managed):
                probe[key] = "csn:" + ",".join(values.get("entrycsn", []))
            else:  # outside the managed subtrees only the uid namespace matters
                probe[key] = "uid:" + ",".join(v.lower() for v in values.get("uid", []))
    return probe


def take_markers(settings: Settings, directory: LdapDirectory, load_state) -> Markers:
    return Markers(hr_digest(settings.hr.path), load_state(), probe_directory(settings, directory))


def people_by_key(snapshot: DirectorySnapshot | None) -> dict[str, DirectoryEntry]:
    return {dn_key(e.dn): e for e in snapshot.entries} if snapshot is not None else {}


def without_login(entry: DirectoryEntry | None) -> DirectoryEntry | None:
    return None if entry is None else dataclasses.replace(entry, last_bind=None)


def settle_time(settings: Settings) -> datetime | None:
    """When a freshly written HR file stops "settling" (the guards wait for it)."""
    min_age = settings.guards.min_file_age_seconds
    try:
        mtime = os.stat(settings.hr.path).st_mtime
    except OSError:
        return None
    return datetime.fromtimestamp(mtime + min_age, UTC)


def check(
    baseline: Baseline | None, settings: Settings, config: str, now: datetime, directory: LdapDirectory, load_state
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
    hr = hr_digest(settings.hr.path)
    if not hr or hr != baseline.markers.hr:
        verdict.changed.append("hr" if hr else "hr (unreadable)")
        return verdict
    verdict.unchanged["hr"] = f"sha256 {hr[:12]} unchanged"
    state = load_state()
    if state != baseline.markers.state:
        verdict.changed.append("state")
        return verdict
    verdict.unchanged["state"] = "stored state unchanged"
    probe = probe_directory(settings, directory)
    before = baseline.markers.probe
    if set(probe) != set(before):
        added, removed = len(set(probe) - set(before)), len(set(before) - set(probe))
        verdict.changed.append(f"directory: {added} entries added, {removed} removed")
        return verdict
    touched = [key for key in probe if probe[key] != before[key]]
    people = [key for key in touched if key in baseline.people]
    if len(people) != len(touched):
        verdict.changed.append(f"directory: {len(touched) - len(people)} entries changed")
        return verdict
    if len(people) > MAX_RECHECKS:
        verdict.changed.append(f"directory: {len(people)} people changed")
        return verdict
    for key in people:
        fresh = directory.read_person(baseline.people[key].dn)
        if without_login(fresh) != without_login(baseline.people[key]):
            verdict.changed.append(f"directory: {baseline.people[key].dn} changed")
            return verdict
    baseline.markers.probe = probe  # logins seen: not re-read next time
    baseline.logins_seen += len(people)
    verdict.unchanged["directory"] = "no change" + (f" but {len(people)} new logins" if people else "")
    verdict.quiet = True
    return verdict
