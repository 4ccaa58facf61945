"""The quiet-cycle directory probe against a real slapd: every kind of change wakes a cycle, logins do not.

The probe reads syncprov's contextCSN first and keeps only digests of the entries' DNs and
entryCSNs (see lifecycle/engine/quiet.py), so what must be shown is that no change the plan
depends on can hide behind an unchanged stamp or an unchanged set of digests:
additions, deletions (also when another write follows them), edits of people and
groups (also when a login of the same person follows them), moves, a uid renamed outside
the managed subtrees, an entry whose version is withheld; and that a server without
syncprov gets the same answers from the digests alone.  The probe goes through the
Directory port: a directory with a change stamp only (the in-memory one) is quiet exactly
while its stamp stays, and one that can tell nothing is never quiet.
tests/test_daemon.py shows the same through the running daemon.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from ldap3 import MODIFY_DELETE, MODIFY_REPLACE, Connection, Server

from connectors.ldap import LdapDirectory
from devservers.demo import COMPANIES, SAMPLE, write_config
from devservers.slapd import Slapd
from lifecycle.domain.dn import dn_key
from lifecycle.domain.ports import Directory, DirectoryFeatures
from lifecycle.domain.settings import Settings, load_settings
from lifecycle.engine import quiet
from lifecycle.engine.cycle import apply_cycle, open_hr
from lifecycle.engine.vault import CredentialVault
from lifecycle.journal.store import Journal
from lifecycle.testing.directory import InMemoryDirectory
from tests.harness import make_settings

NOW = datetime.fromisoformat("2026-12-01T09:00:00+08:00")
CONFIG = "fingerprint"


def _world(config: Path, server: Slapd) -> Iterator[tuple]:
    """The sample export applied; a service account outside the managed subtrees; an admin connection."""
    settings = load_settings(config)
    journal = Journal(settings.state.url)
    with LdapDirectory(settings.directory, settings.companies) as ldap:
        plan, result = apply_cycle(settings, NOW, ldap, journal)
        assert result.ok and plan.actions
        admin = Connection(Server(server.url), server.admin_dn, server.admin_password, auto_bind=True, check_names=False)
        assert admin.add(f"uid=backup-svc,{settings.directory.base_dn}", ["account"], {"uid": "backup-svc", "description": "v1"})
        yield settings, journal, ldap, admin
        admin.unbind()
    journal.close()


@pytest.fixture
def world(config: Path, demo_slapd: Slapd) -> Iterator[tuple]:
    """On a slapd with syncprov (devservers.slapd's default): the contextCSN is there to read."""
    yield from _world(config, demo_slapd)


@pytest.fixture
def plain_world(tmp_path: Path) -> Iterator[tuple]:  # starts its own slapd: its tests carry the servers mark
    """On a slapd without syncprov: no contextCSN, the digests alone."""
    base = "dc=example,dc=com"
    units = [f"ou=people,{base}", *(f"ou={ou},ou=people,{base}" for *_, ou in COMPANIES), f"ou=groups,{base}"]
    with Slapd(tmp_path / "slapd", base_dn=base, organizational_units=units, syncprov=False) as server:
        shutil.copyfile(SAMPLE, tmp_path / "employees.csv")
        yield from _world(write_config(tmp_path, server, tmp_path / "employees.csv"), server)


def baseline_now(settings: Settings, journal: Journal, ldap: Directory) -> quiet.Baseline:
    snapshot = ldap.read_snapshot()
    markers = quiet.take_markers(open_hr(settings), ldap, journal.state_version)
    return quiet.Baseline(markers, quiet.people_by_key(snapshot), None, CONFIG, taken_uids=snapshot.taken_uids)


def check(settings: Settings, journal: Journal, ldap: Directory, baseline: quiet.Baseline) -> quiet.Verdict:
    return quiet.check(baseline, settings, CONFIG, NOW, ldap, journal.state_version, open_hr(settings))


def someone(ldap: LdapDirectory, index: int = 0):
    return ldap.read_snapshot().entries[index]


def log_in(settings: Settings, ldap: LdapDirectory) -> None:
    person = next(e for e in ldap.read_snapshot().entries if e.employee_number == "100001")
    assert ldap.bind_as(person.dn, CredentialVault(settings.accounts.initial_password_dir, 16).read_password("100001"))


def test_nothing_changed_is_quiet_and_a_login_stays_quiet(world) -> None:
    settings, journal, ldap, _ = world
    baseline = baseline_now(settings, journal, ldap)
    verdict = check(settings, journal, ldap, baseline)
    assert verdict.quiet and verdict.unchanged["directory"] == "no change (change stamp unchanged)"

    log_in(settings, ldap)  # lastbind writes: the stamp moves, the digests say it was a login
    verdict = check(settings, journal, ldap, baseline)
    assert verdict.quiet and verdict.unchanged["directory"] == "no change but 1 new logins"
    again = check(settings, journal, ldap, baseline)  # the login is in the baseline now: not re-read
    assert again.quiet and again.unchanged["directory"] == "no change (change stamp unchanged)"


def test_an_unchanged_stamp_is_one_read_not_a_scan(world, monkeypatch: pytest.MonkeyPatch) -> None:
    settings, journal, ldap, admin = world
    baseline = baseline_now(settings, journal, ldap)
    stamp = ldap.change_stamp()
    assert stamp is not None and stamp == baseline.markers.probe.stamp
    # Reads and refused writes are no change: the stamp stays.
    ldap.read_snapshot()
    assert not admin.modify(f"uid=nobody,{settings.directory.base_dn}", {"description": [(MODIFY_REPLACE, ["x"])]})
    assert ldap.change_stamp() == stamp

    def no_scan(*args, **kwargs):
        raise AssertionError("the probe scanned the directory although the stamp had not moved")

    monkeypatch.setattr(LdapDirectory, "entry_versions", no_scan)
    assert check(settings, journal, ldap, baseline).quiet


@pytest.mark.parametrize("change", ["add", "modify", "delete", "modrdn"])
def test_every_kind_of_write_moves_the_stamp_and_wakes_a_cycle(world, change: str) -> None:
    settings, journal, ldap, _ = world
    baseline = baseline_now(settings, journal, ldap)
    stamp = ldap.change_stamp()
    person = someone(ldap)
    if change == "add":
        people_dn = settings.companies[0].people_dn
        ldap.create_person(f"uid=intruder,{people_dn}", {"uid": "intruder", "cn": "X", "sn": "X", "employeeNumber": "999"}, None)
    elif change == "modify":
        ldap.modify_person(person.dn, {"title": "临时工"})
    elif change == "delete":
        ldap.delete_person(person.dn)
    else:
        other = next(c.people_dn for c in settings.companies if c.people_dn not in person.dn)
        ldap.move_person(person.dn, other)
    assert ldap.change_stamp() != stamp
    verdict = check(settings, journal, ldap, baseline)
    assert not verdict.quiet and verdict.changed[0].startswith("directory: "), verdict


@pytest.mark.servers
def test_without_syncprov_the_digests_alone_tell(plain_world) -> None:
    settings, journal, ldap, _ = plain_world
    assert ldap.change_stamp() is None
    baseline = baseline_now(settings, journal, ldap)
    assert baseline.markers.probe.stamp is None
    verdict = check(settings, journal, ldap, baseline)
    assert verdict.quiet and verdict.unchanged["directory"] == "no change"
    log_in(settings, ldap)
    assert check(settings, journal, ldap, baseline).unchanged["directory"] == "no change but 1 new logins"
    person = someone(ldap)
    ldap.modify_person(person.dn, {"title": "临时工"})
    verdict = check(settings, journal, ldap, baseline)
    assert not verdict.quiet and verdict.changed == [f"directory: {person.dn} changed"]


def test_an_edit_of_a_person_wakes_a_cycle(world) -> None:
    settings, journal, ldap, _ = world
    baseline = baseline_now(settings, journal, ldap)
    person = someone(ldap)
    ldap.modify_person(person.dn, {"title": "临时工"})
    verdict = check(settings, journal, ldap, baseline)
    assert not verdict.quiet and verdict.changed == [f"directory: {person.dn} changed"]


def test_an_added_entry_wakes_a_cycle(world) -> None:
    settings, journal, ldap, _ = world
    baseline = baseline_now(settings, journal, ldap)
    people_dn = settings.companies[0].people_dn
    ldap.create_person(f"uid=intruder,{people_dn}", {"uid": "intruder", "cn": "X", "sn": "X", "employeeNumber": "999"}, None)
    verdict = check(settings, journal, ldap, baseline)
    assert not verdict.quiet and verdict.changed == ["directory: 1 entries added, 0 removed"]


def test_a_deletion_wakes_a_cycle_even_when_a_login_follows_it(world) -> None:
    settings, journal, ldap, _ = world
    baseline = baseline_now(settings, journal, ldap)
    gone = next(e for e in ldap.read_snapshot().entries if e.employee_number != "100001")
    ldap.delete_person(gone.dn)
    # A later write elsewhere (a login) must not hide the deletion.
    person = next(e for e in ldap.read_snapshot().entries if e.employee_number == "100001")
    assert ldap.bind_as(person.dn, CredentialVault(settings.accounts.initial_password_dir, 16).read_password("100001"))
    verdict = check(settings, journal, ldap, baseline)
    assert not verdict.quiet and verdict.changed[0].startswith("directory: 0 entries added, ") and "removed" in verdict.changed[0]
    assert not verdict.changed[0].endswith(" 0 removed")


def test_a_group_membership_change_wakes_a_cycle(world) -> None:
    settings, journal, ldap, admin = world
    baseline = baseline_now(settings, journal, ldap)
    group = next(g for g in ldap.read_snapshot().groups if len(g.members) > 1)
    member = min(group.members)
    assert admin.modify(group.dn, {"member": [(MODIFY_DELETE, [member])]})
    verdict = check(settings, journal, ldap, baseline)
    assert not verdict.quiet and verdict.changed == [f"directory: {group.dn} changed"]


def test_outside_the_managed_subtrees_only_the_uid_namespace_matters(world) -> None:
    settings, journal, ldap, admin = world
    service = f"uid=backup-svc,{settings.directory.base_dn}"
    baseline = baseline_now(settings, journal, ldap)
    assert admin.modify(service, {"description": [(MODIFY_REPLACE, ["v2"])]})
    verdict = check(settings, journal, ldap, baseline)
    assert verdict.quiet, verdict.changed

    assert admin.modify(service, {"uid": [(MODIFY_REPLACE, ["backup-svc", "newname"])]})  # a name is taken now
    verdict = check(settings, journal, ldap, baseline)
    assert not verdict.quiet and verdict.changed == [f"directory: {service} changed"]


def test_a_state_change_wakes_a_cycle(world) -> None:
    settings, journal, ldap, _ = world
    baseline = baseline_now(settings, journal, ldap)
    journal.set_hold("100001", "litigation", "tester", NOW, on=True)
    verdict = check(settings, journal, ldap, baseline)
    assert not verdict.quiet and verdict.changed == ["state"]


def test_the_glance_kept_across_a_cycle_sees_what_the_full_markers_see(world) -> None:
    settings, journal, ldap, _ = world
    markers = quiet.take_markers(open_hr(settings), ldap, journal.state_version)
    glance = quiet.Glance.of(markers)
    assert glance.moved(quiet.take_markers(open_hr(settings), ldap, journal.state_version), markers.hr) == []
    assert glance.moved(markers, "another HR file") == ["hr"]
    person = someone(ldap)
    ldap.modify_person(person.dn, {"title": "临时工"})
    assert glance.moved(quiet.take_markers(open_hr(settings), ldap, journal.state_version), markers.hr) == ["directory"]
    # The same entries found in another order are the same directory.
    probe = markers.probe
    reordered = quiet.DirectoryProbe(frozenset(sorted(probe.entries, reverse=True)), probe.names, probe.stamp)
    assert reordered.fingerprint() == probe.fingerprint()
    assert quiet.DirectoryProbe(probe.names, probe.entries, probe.stamp).fingerprint() != probe.fingerprint()
    assert quiet.DirectoryProbe(probe.entries, probe.names, None).fingerprint() != probe.fingerprint()


def test_a_login_does_not_hide_an_edit_of_the_same_person(world) -> None:
    settings, journal, ldap, _ = world
    baseline = baseline_now(settings, journal, ldap)
    person = next(e for e in ldap.read_snapshot().entries if e.employee_number == "100001")
    ldap.modify_person(person.dn, {"title": "临时工"})
    log_in(settings, ldap)  # the same entry's version moves again: still a change, not a login
    verdict = check(settings, journal, ldap, baseline)
    assert not verdict.quiet and verdict.changed == [f"directory: {person.dn} changed"]


def test_a_login_of_a_person_whose_dn_has_escapes_stays_quiet(world) -> None:
    """slapd spells `uid=o\\,brien` as `uid=o\\2Cbrien`: the probe still finds the person the snapshot read."""
    settings, journal, ldap, _ = world
    dn = ldap.person_dn("o,brien+1", settings.companies[0].people_dn)
    password = "Escaped-Passw0rd!"
    ldap.create_person(dn, {"uid": "o,brien+1", "cn": "O'Brien", "sn": "O'Brien", "employeeNumber": "998"}, password)
    baseline = baseline_now(settings, journal, ldap)
    assert dn_key(dn) in baseline.people
    assert ldap.bind_as(dn, password)
    verdict = check(settings, journal, ldap, baseline)
    assert verdict.quiet and verdict.unchanged["directory"] == "no change but 1 new logins", verdict


class WithheldVersion:
    """The real directory, with one entry's entryCSN withheld, as an ACL hiding it from the bind DN would."""

    def __init__(self, inner: LdapDirectory, dn: str) -> None:
        self._inner, self._hidden = inner, dn_key(dn)

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    def entry_versions(self):
        for dn, version in self._inner.entry_versions():
            yield dn, None if dn_key(dn) == self._hidden else version


def test_an_entry_whose_version_is_withheld_is_re_read_every_time(world) -> None:
    settings, journal, ldap, admin = world
    person = next(e for e in ldap.read_snapshot().entries if e.employee_number != "100001")
    withheld = WithheldVersion(ldap, person.dn)
    baseline = baseline_now(settings, journal, withheld)
    assert quiet.probe_directory(withheld).fingerprint() != quiet.probe_directory(withheld).fingerprint()
    log_in(settings, ldap)  # the stamp moves: the versions are compared, the withheld one as changed
    verdict = check(settings, journal, withheld, baseline)
    assert verdict.quiet and verdict.unchanged["directory"] == "no change but 2 new logins", verdict
    assert admin.modify(person.dn, {"title": [(MODIFY_REPLACE, ["临时工"])]})  # invisible to the versions
    verdict = check(settings, journal, withheld, baseline)
    assert not verdict.quiet and verdict.changed == [f"directory: {person.dn} changed"]


class TellsNothing(InMemoryDirectory):
    """A directory that declares no way to tell whether it changed."""

    @property
    def features(self) -> DirectoryFeatures:
        return replace(super().features, change_stamps=False, entry_versions=False)


def test_through_the_port_a_change_stamp_alone_tells_and_a_directory_that_tells_nothing_is_never_quiet(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path)
    settings.hr.path.write_text("employee_id\n", encoding="utf-8")
    people_dn = settings.companies[0].people_dn
    stamped = InMemoryDirectory()
    stamped.create_person(f"uid=a,{people_dn}", {"uid": "a", "cn": "A", "sn": "A"}, None)
    assert stamped.features.change_stamps and not stamped.features.entry_versions
    baseline = quiet.Baseline(quiet.take_markers(open_hr(settings), stamped, lambda: 1), {}, None, CONFIG)
    verdict = quiet.check(baseline, settings, CONFIG, NOW, stamped, lambda: 1, open_hr(settings))
    assert verdict.quiet and verdict.unchanged["directory"] == "no change (change stamp unchanged)"
    stamped.record_login(f"uid=a,{people_dn}", NOW)  # no entry versions to tell a login from an edit
    verdict = quiet.check(baseline, settings, CONFIG, NOW, stamped, lambda: 1, open_hr(settings))
    assert not verdict.quiet and verdict.changed == ["directory: change stamp moved"]

    blind = TellsNothing()
    markers = quiet.take_markers(open_hr(settings), blind, lambda: 1)
    assert quiet.Glance.of(markers).moved(quiet.take_markers(open_hr(settings), blind, lambda: 1), markers.hr) == ["directory"]
    verdict = quiet.check(quiet.Baseline(markers, {}, None, CONFIG), settings, CONFIG, NOW, blind, lambda: 1, open_hr(settings))
    assert not verdict.quiet and verdict.changed == ["directory: no change stamp"]
