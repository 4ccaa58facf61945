"""The quiet-cycle directory probe against a real slapd: every kind of change wakes a cycle, logins do not.

The probe keeps only digests of the entries' bytes (see lifecycle/engine/quiet.py), so
what must be shown is that no change the plan depends on can hide behind an
unchanged set of digests: additions, deletions (also when another write
follows them), edits of people and groups, a uid renamed outside the managed
subtrees.  tests/test_daemon.py shows the same through the running daemon.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from ldap3 import MODIFY_DELETE, MODIFY_REPLACE, Connection, Server

from connectors.directory_ldap import LdapDirectory
from lifecycle.engine import quiet
from lifecycle.engine.apply import CredentialVault
from lifecycle.engine.cycle import apply_cycle
from lifecycle.journal.store import Journal
from lifecycle.domain.settings import Settings, load_settings
from devservers.slapd import Slapd

NOW = datetime.fromisoformat("2026-12-01T09:00:00+08:00")
CONFIG = "fingerprint"


@pytest.fixture
def world(config: Path, demo_slapd: Slapd):
    settings = load_settings(config)
    journal = Journal(settings.state.url)
    with LdapDirectory(settings.directory, settings.companies) as ldap:
        plan, result = apply_cycle(settings, NOW, ldap, journal)
        assert result.ok and plan.actions
        admin = Connection(Server(demo_slapd.url), demo_slapd.admin_dn, demo_slapd.admin_password, auto_bind=True, check_names=False)
        assert admin.add(f"uid=backup-svc,{settings.directory.base_dn}", ["account"], {"uid": "backup-svc", "description": "v1"})
        yield settings, journal, ldap, admin
        admin.unbind()
    journal.close()


def baseline_now(settings: Settings, journal: Journal, ldap: LdapDirectory) -> quiet.Baseline:
    snapshot = ldap.read_snapshot()
    markers = quiet.take_markers(settings, ldap, journal.state_version)
    return quiet.Baseline(markers, quiet.people_by_key(snapshot), None, CONFIG, taken_uids=snapshot.taken_uids)


def check(settings: Settings, journal: Journal, ldap: LdapDirectory, baseline: quiet.Baseline) -> quiet.Verdict:
    return quiet.check(baseline, settings, CONFIG, NOW, ldap, journal.state_version)


def someone(ldap: LdapDirectory, index: int = 0):
    return ldap.read_snapshot().entries[index]


def test_nothing_changed_is_quiet_and_a_login_stays_quiet(world) -> None:
    settings, journal, ldap, _ = world
    baseline = baseline_now(settings, journal, ldap)
    verdict = check(settings, journal, ldap, baseline)
    assert verdict.quiet and verdict.unchanged["directory"] == "no change"

    person = next(e for e in ldap.read_snapshot().entries if e.employee_number == "100001")
    password = CredentialVault(settings.accounts.initial_password_dir, 16).read_password("100001")
    assert ldap.bind_as(person.dn, password)
    verdict = check(settings, journal, ldap, baseline)
    assert verdict.quiet and verdict.unchanged["directory"] == "no change but 1 new logins"
    again = check(settings, journal, ldap, baseline)  # the login is in the baseline now: not re-read
    assert again.quiet and again.unchanged["directory"] == "no change"


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
    member = sorted(group.members)[0]
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
    settings, journal, ldap, admin = world
    markers = quiet.take_markers(settings, ldap, journal.state_version)
    glance = quiet.Glance.of(markers)
    assert glance.moved(quiet.take_markers(settings, ldap, journal.state_version), markers.hr) == []
    assert glance.moved(markers, "another HR file") == ["hr"]
    person = someone(ldap)
    ldap.modify_person(person.dn, {"title": "临时工"})
    assert glance.moved(quiet.take_markers(settings, ldap, journal.state_version), markers.hr) == ["directory"]
    # The same entries found in another order are the same directory.
    reordered = quiet.DirectoryProbe(frozenset(sorted(markers.probe.entries, reverse=True)), markers.probe.names)
    assert reordered.fingerprint() == markers.probe.fingerprint()
    assert quiet.DirectoryProbe(markers.probe.names, markers.probe.entries).fingerprint() != markers.probe.fingerprint()
