"""The `Directory` contract: what the engine relies on from an account directory."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import pytest

from lifecycle.domain.dn import dn_key, match_key
from lifecycle.domain.errors import AlreadyExistsError, RecordError
from lifecycle.domain.models import DirectoryEntry
from lifecycle.domain.ports import Directory, DirectoryFeatures

PASSWORD = "Initial-Passw0rd!"


@dataclass(frozen=True)
class DirectoryLayout:
    """Where the contract puts people and groups: containers the directory under test has."""

    people_dn: str = "ou=hq,ou=people,dc=example,dc=com"
    other_people_dn: str = "ou=sz,ou=people,dc=example,dc=com"
    groups_dn: str = "ou=groups,dc=example,dc=com"

    def person(self, uid: str, other: bool = False) -> str:
        return f"uid={uid},{self.other_people_dn if other else self.people_dn}"

    def group(self, name: str) -> str:
        return f"cn={name},{self.groups_dn}"


def attributes(uid: str, **extra: str) -> dict[str, str]:
    values = {"uid": uid, "cn": f"Person {uid}", "sn": "Person", "mail": f"{uid}@example.com", "employeeNumber": f"E-{uid}"}
    values.update(extra)
    return values


def keys(dns: Iterable[str]) -> set[str]:
    """DNs as the directory compares them."""
    return {dn_key(dn) for dn in dns}


def read(directory: Directory, dn: str) -> DirectoryEntry:
    entry = directory.read_person(dn)
    assert entry is not None, f"{dn} is not there"
    return entry


class DirectoryContract:
    """The contract; a subclass provides `directory` (and may override `layout`)."""

    @pytest.fixture
    def layout(self) -> DirectoryLayout:
        return DirectoryLayout()

    @pytest.fixture
    def directory(self) -> Iterator[Directory]:
        raise NotImplementedError("a DirectoryContract subclass provides the `directory` fixture")

    def add(self, directory: Directory, layout: DirectoryLayout, uid: str, *, other: bool = False, **extra: str) -> str:
        dn = layout.person(uid, other)
        directory.create_person(dn, attributes(uid, **extra), PASSWORD)
        return dn

    # -- the port itself -----------------------------------------------------------------------------

    def test_it_is_a_directory_and_declares_its_features(self, directory: Directory) -> None:
        assert isinstance(directory, Directory)
        features = directory.features
        assert isinstance(features, DirectoryFeatures) and features.write_connections >= 1
        with directory.writer():
            directory.await_references([])
        assert directory.reference_holders([]) == []

    # -- people ----------------------------------------------------------------------------------------

    def test_a_created_person_reads_back_with_every_attribute(self, directory: Directory, layout: DirectoryLayout) -> None:
        boss = self.add(directory, layout, "boss")
        dn = self.add(directory, layout, "wangfang", cn="王芳", sn="王", givenName="芳", displayName="王芳 (研发部)",
                      departmentNumber="研发部", title="工程师", manager=boss)
        entry = read(directory, dn)
        assert (entry.uid, entry.cn, entry.sn, entry.given_name, entry.display_name) == ("wangfang", "王芳", "王", "芳",
                                                                                         "王芳 (研发部)")
        assert (entry.mail, entry.employee_number, entry.department, entry.title) == ("wangfang@example.com", "E-wangfang",
                                                                                      "研发部", "工程师")
        assert dn_key(entry.dn) == dn_key(dn) and dn_key(entry.manager) == dn_key(boss)
        assert entry.locked is False and entry.last_bind is None
        snapshot = directory.read_snapshot()
        assert keys(e.dn for e in snapshot.entries) == keys([boss, dn])
        assert next(e for e in snapshot.entries if e.uid == "wangfang") == entry
        assert {"boss", "wangfang"} <= snapshot.taken_uids

    def test_empty_values_are_not_written_and_the_naming_value_is(self, directory: Directory, layout: DirectoryLayout) -> None:
        dn = layout.person("lina")
        directory.create_person(dn, {"cn": "李娜", "sn": "李", "title": "", "mail": ""}, None)
        entry = read(directory, dn)
        assert (entry.uid, entry.title, entry.mail) == ("lina", "", "")

    def test_a_create_over_an_existing_dn_is_already_exists_whatever_its_case(
        self, directory: Directory, layout: DirectoryLayout
    ) -> None:
        dn = self.add(directory, layout, "lina")
        with pytest.raises(AlreadyExistsError):
            directory.create_person(dn, attributes("lina"), None)
        with pytest.raises(AlreadyExistsError):
            directory.create_person(dn.upper(), attributes("LINA"), None)
        assert len(directory.read_snapshot().entries) == 1

    def test_dns_compare_without_case_and_come_back_with_lower_case_attribute_types(
        self, directory: Directory, layout: DirectoryLayout
    ) -> None:
        dn = self.add(directory, layout, "lina")
        entry = read(directory, dn.upper())
        assert dn_key(entry.dn) == dn_key(dn)
        assert [rdn.split("=", 1)[0] for rdn in entry.dn.split(",")] == [rdn.split("=", 1)[0].lower() for rdn in dn.split(",")]
        directory.modify_person(dn.upper(), {"title": "经理"})
        assert read(directory, dn).title == "经理"

    def test_uids_are_taken_as_the_directory_compares_them(self, directory: Directory, layout: DirectoryLayout) -> None:
        self.add(directory, layout, "LiNa")
        assert match_key("LiNa") in {match_key(uid) for uid in directory.read_snapshot().taken_uids}

    def test_a_modify_replaces_values_and_none_or_empty_removes_them(self, directory: Directory, layout: DirectoryLayout) -> None:
        dn = self.add(directory, layout, "lina", title="工程师", departmentNumber="研发部")
        directory.modify_person(dn, {"title": "经理", "departmentNumber": None, "displayName": ""})
        entry = read(directory, dn)
        assert (entry.title, entry.department, entry.display_name) == ("经理", "", "")
        directory.modify_person(dn, {"departmentNumber": None})  # absent already: fine
        directory.modify_person(dn, {})
        assert read(directory, dn) == entry

    def test_writes_to_a_person_that_is_not_there_are_record_errors(
        self, directory: Directory, layout: DirectoryLayout
    ) -> None:
        missing = layout.person("nobody")
        writes: tuple[Callable[[], object], ...] = (
            lambda: directory.modify_person(missing, {"title": "x"}),
            lambda: directory.set_password(missing, PASSWORD),
            lambda: directory.lock(missing),
            lambda: directory.move_person(missing, layout.other_people_dn),
        )
        for write in writes:
            with pytest.raises(RecordError) as raised:
                write()
            assert not isinstance(raised.value, AlreadyExistsError)

    def test_lock_and_unlock(self, directory: Directory, layout: DirectoryLayout) -> None:
        dn = self.add(directory, layout, "lina")
        directory.lock(dn)
        assert read(directory, dn).locked is True
        directory.lock(dn)
        assert read(directory, dn).locked is True
        directory.unlock(dn)
        assert read(directory, dn).locked is False
        directory.unlock(dn)
        assert read(directory, dn).locked is False

    def test_a_password_is_set_on_a_person_and_never_empty(self, directory: Directory, layout: DirectoryLayout) -> None:
        dn = self.add(directory, layout, "lina")
        directory.set_password(dn, "Another-Passw0rd!")
        with pytest.raises(ValueError):
            directory.set_password(dn, "")
        assert read(directory, dn).uid == "lina"

    # -- moves and deletes, and the references that follow them (refint) ---------------------------------

    def test_a_move_rewrites_every_member_and_manager_value(self, directory: Directory, layout: DirectoryLayout) -> None:
        boss = self.add(directory, layout, "boss")
        report = self.add(directory, layout, "report", manager=boss.upper())
        group = layout.group("HQ-研发部")
        directory.create_group(group, "HQ", "研发部", report, [report, boss.upper()])
        moved = directory.move_person(boss, layout.other_people_dn)
        assert dn_key(moved) == dn_key(layout.person("boss", other=True))
        directory.await_references([boss])
        assert directory.read_person(boss) is None and read(directory, moved).uid == "boss"
        assert dn_key(read(directory, report).manager) == dn_key(moved)
        found = directory.read_group(group)
        assert found is not None and keys(found.members) == keys([report, moved])
        assert directory.reference_holders([boss]) == []
        assert keys(directory.reference_holders([moved])) == keys([report, group])

    def test_a_move_done_already_or_to_where_the_person_is_changes_nothing(
        self, directory: Directory, layout: DirectoryLayout
    ) -> None:
        dn = self.add(directory, layout, "lina")
        assert dn_key(directory.move_person(dn, layout.people_dn)) == dn_key(dn)
        moved = directory.move_person(dn, layout.other_people_dn)
        assert dn_key(directory.move_person(dn, layout.other_people_dn)) == dn_key(moved)  # a retry
        assert keys(e.dn for e in directory.read_snapshot().entries) == keys([moved])

    def test_a_delete_removes_the_person_and_the_references_to_it(self, directory: Directory, layout: DirectoryLayout) -> None:
        boss = self.add(directory, layout, "boss")
        report = self.add(directory, layout, "report", manager=boss)
        group = layout.group("HQ-研发部")
        directory.create_group(group, "HQ", "研发部", report, [report, boss])
        directory.delete_person(boss.upper())
        directory.await_references([boss])
        assert directory.read_person(boss) is None
        assert read(directory, report).manager == ""
        found = directory.read_group(group)
        assert found is not None and keys(found.members) == keys([report])
        directory.delete_person(boss)  # gone already: fine
        assert directory.reference_holders([boss]) == []

    def test_deleting_a_group_s_only_member_leaves_its_value(self, directory: Directory, layout: DirectoryLayout) -> None:
        """A groupOfNames cannot lose its last value: the reference stays, and is reported."""
        alone = self.add(directory, layout, "alone")
        group = layout.group("HQ-独立部")
        directory.create_group(group, "HQ", "独立部", alone)
        directory.delete_person(alone)
        directory.await_references([alone])
        found = directory.read_group(group)
        assert found is not None and keys(found.members) == keys([alone])
        assert keys(directory.reference_holders([alone])) == keys([group])

    # -- groups ------------------------------------------------------------------------------------------

    def test_a_group_is_created_with_its_members_and_read_back(self, directory: Directory, layout: DirectoryLayout) -> None:
        alice, bob = self.add(directory, layout, "alice"), self.add(directory, layout, "bob")
        group = layout.group("HQ-财务部")
        directory.create_group(group, "HQ", "财务部", alice, [alice, bob])
        found = directory.read_group(group.upper())
        assert found is not None
        assert (found.cn, found.company, found.department) == ("HQ-财务部", "HQ", "财务部")
        assert dn_key(found.dn) == dn_key(group) and keys(found.members) == keys([alice, bob])
        assert directory.read_snapshot().groups == (found,)
        with pytest.raises(AlreadyExistsError):
            directory.create_group(group.upper(), "HQ", "财务部", alice)
        solo = layout.group("solo")
        directory.create_group(solo, "", "", bob)
        found = directory.read_group(solo)
        assert found is not None and (found.company, found.department, keys(found.members)) == ("", "", keys([bob]))

    def test_members_compare_without_case_and_adding_or_removing_twice_is_fine(
        self, directory: Directory, layout: DirectoryLayout
    ) -> None:
        alice, bob, carol = (self.add(directory, layout, uid) for uid in ("alice", "bob", "carol"))
        group = layout.group("HQ-Ops")
        directory.create_group(group, "HQ", "Ops", alice)
        directory.add_member(group, bob)
        directory.add_member(group, bob.upper())
        directory.add_members(group, [bob, carol])
        found = directory.read_group(group)
        assert found is not None and len(found.members) == 3 and keys(found.members) == keys([alice, bob, carol])
        directory.remove_member(group, bob.upper())
        directory.remove_member(group, bob)
        directory.remove_members(group, [carol, bob])
        found = directory.read_group(group)
        assert found is not None and keys(found.members) == keys([alice])

    def test_a_group_never_loses_its_last_member(self, directory: Directory, layout: DirectoryLayout) -> None:
        alice, bob = self.add(directory, layout, "alice"), self.add(directory, layout, "bob")
        group = layout.group("HQ-Ops")
        directory.create_group(group, "HQ", "Ops", alice, [alice, bob])
        with pytest.raises(RecordError):
            directory.remove_members(group, [alice, bob])
        with pytest.raises(RecordError):
            directory.remove_members(group, [alice.upper(), bob])
        found = directory.read_group(group)
        assert found is not None and keys(found.members) == keys([alice, bob])
        directory.remove_member(group, bob)
        with pytest.raises(RecordError):
            directory.remove_member(group, alice)
        found = directory.read_group(group)
        assert found is not None and keys(found.members) == keys([alice])

    def test_member_writes_to_a_group_that_is_not_there_are_record_errors(
        self, directory: Directory, layout: DirectoryLayout
    ) -> None:
        alice = self.add(directory, layout, "alice")
        missing = layout.group("nothing")
        with pytest.raises(RecordError):
            directory.add_member(missing, alice)
        with pytest.raises(RecordError):
            directory.add_members(missing, [alice])
        assert directory.read_group(missing) is None

    def test_a_deleted_group_is_gone_and_deleting_it_again_is_fine(self, directory: Directory, layout: DirectoryLayout) -> None:
        alice = self.add(directory, layout, "alice")
        group = layout.group("HQ-Ops")
        directory.create_group(group, "HQ", "Ops", alice)
        directory.delete_group(group.upper())
        directory.delete_group(group)
        assert directory.read_group(group) is None and directory.read_snapshot().groups == ()
        assert read(directory, alice).uid == "alice"

    # -- what a quiet cycle asks: has anything changed? ---------------------------------------------------------

    def test_the_change_stamp_moves_with_every_write_and_never_with_a_read(
        self, directory: Directory, layout: DirectoryLayout
    ) -> None:
        dn = self.add(directory, layout, "lina")
        if not directory.features.change_stamps:
            assert directory.change_stamp() is None
            return
        before = directory.change_stamp()
        assert before is not None
        directory.read_snapshot()
        assert directory.read_person(dn) is not None and directory.change_stamp() == before
        stamps = [before]
        writes: tuple[Callable[[], object], ...] = (
            lambda: directory.modify_person(dn, {"title": "经理"}), lambda: directory.lock(dn),
            lambda: directory.create_group(layout.group("HQ-财务部"), "HQ", "财务部", dn))
        for write in writes:
            write()
            stamp = directory.change_stamp()
            assert stamp is not None and stamp not in stamps
            stamps.append(stamp)

    def test_entry_versions_move_with_the_writes_to_their_entry(self, directory: Directory, layout: DirectoryLayout) -> None:
        if not directory.features.entry_versions:
            return  # entry_versions() and read_uids() are only called when declared
        lina, wang = self.add(directory, layout, "lina"), self.add(directory, layout, "wangfang")
        versions = {dn_key(dn): version for dn, version in directory.entry_versions()}
        assert {dn_key(lina), dn_key(wang)} <= set(versions)
        directory.modify_person(wang, {"title": "经理"})
        after = {dn_key(dn): version for dn, version in directory.entry_versions()}
        assert after[dn_key(lina)] == versions[dn_key(lina)] is not None
        assert after[dn_key(wang)] != versions[dn_key(wang)]
        assert directory.read_uids(lina) == ["lina"] and directory.read_uids(layout.person("nobody")) is None
