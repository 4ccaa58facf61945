"""The executor's batches against a real slapd: write-ahead per batch, concurrent write lanes,
per-entry order, one refint wait per batch, crashes and dropped connections mid-batch."""

from __future__ import annotations

import contextlib
import inspect
import os
import stat
import threading
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from connectors.ldap import LdapDirectory
from lifecycle.domain.action_params import (
    AttributeUpdateParams,
    MemberParams,
    MoveParams,
    NewAccountParams,
    NewEntryAttributes,
    NewGroupParams,
)
from lifecycle.domain.errors import ConfigError
from lifecycle.domain.models import Action, ActionKind, Plan
from lifecycle.domain.settings import DirectorySettings, load_settings
from lifecycle.engine.apply import Executor
from lifecycle.engine.vault import CredentialVault
from lifecycle.journal.store import Journal
from tests.conftest import GROUPS_DN, HQ_PEOPLE_DN, SLAPD_TRANSACTION_CRASH, SZ_PEOPLE_DN

pytestmark = SLAPD_TRANSACTION_CRASH  # every test here writes in LDAP transactions

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def settings_for(directory_settings: DirectorySettings, connections: int) -> DirectorySettings:
    # With LDAP transactions (off by default): these tests are about how the executor uses them.
    return directory_settings.model_copy(update={"write_connections": connections, "transactions": True})


def create(n: int, people_dn: str = HQ_PEOPLE_DN) -> Action:
    uid = f"user{n}"
    dn = f"uid={uid},{people_dn}"
    attributes = NewEntryAttributes(uid, f"User {n}", "User", "", "", f"{uid}@example.com", str(n), "", "", "")
    return Action(ActionKind.CREATE_ACCOUNT, str(n), "HQ", dn, "joiner", "test", {},
                  params=NewAccountParams(dn, attributes, None, {"uid": uid, "company": "HQ", "status": "active"}))


def update(n: int, title: str, people_dn: str = HQ_PEOPLE_DN) -> Action:
    dn = f"uid=user{n},{people_dn}"
    return Action(ActionKind.UPDATE_ACCOUNT, str(n), "HQ", dn, "sync", "test", {},
                  params=AttributeUpdateParams(dn, {"title": title}))


def move(n: int, to: str) -> Action:
    dn = f"uid=user{n},{HQ_PEOPLE_DN}"
    return Action(ActionKind.MOVE_ACCOUNT, str(n), "HQ", dn, "mover", "test", {},
                  params=MoveParams(dn, to, f"uid=user{n},{to}", {}))


def group_dn(name: str) -> str:
    return f"cn={name},{GROUPS_DN}"


def create_group(name: str, members: list[int], *, listed: bool = True) -> Action:
    dns = [f"uid=user{n},{HQ_PEOPLE_DN}" for n in members]
    params = NewGroupParams(group_dn(name), "HQ", name, dns[0], tuple(dns) if listed else None)
    return Action(ActionKind.CREATE_GROUP, "", "HQ", group_dn(name), "groups", "test", {}, params=params)


def member(kind: ActionKind, group: str, n: int) -> Action:
    dn = f"uid=user{n},{HQ_PEOPLE_DN}"
    return Action(kind, str(n), "HQ", group_dn(group), "groups", "test", {}, params=MemberParams(group_dn(group), dn))


class Counting(LdapDirectory):
    """The real connector, counting write calls (from every lane thread)."""

    WRITES = ("create_person", "modify_person", "set_password", "move_person", "lock", "unlock", "delete_person",
              "create_group", "add_member", "add_members", "remove_member", "remove_members", "delete_group")

    def __init__(self, settings: DirectorySettings, companies) -> None:
        super().__init__(settings, companies)
        self.calls: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()



_COUNT_LOCK = threading.Lock()


def _counted(name: str):
    original = getattr(LdapDirectory, name)

    def wrapper(self, *args, **kwargs):
        with _COUNT_LOCK:  # calls come from several lane threads
            self.calls[name] += 1
        return original(self, *args, **kwargs)

    wrapper.__signature__ = inspect.signature(original)
    return wrapper


for _name in Counting.WRITES:
    setattr(Counting, _name, _counted(_name))


@pytest.fixture
def run(tmp_path: Path, directory_settings: DirectorySettings, companies):
    journal = Journal(f"sqlite:///{tmp_path}/state.db")
    vault = CredentialVault(tmp_path / "credentials", 16)
    opened: list[LdapDirectory] = []

    def apply(actions: list[Action], *, connections: int = 4, batch_size: int = 500, directory=None):
        directory = directory or Counting(settings_for(directory_settings, connections), companies)
        opened.append(directory)
        plan = Plan(NOW, tuple(actions))
        executor = Executor(directory, journal, vault, "test", batch_size=batch_size)
        return directory, executor, executor.apply(plan, journal.begin_run("apply", NOW))

    yield apply, journal
    for directory in opened:
        directory.close()
    journal.close()


def statuses(journal: Journal) -> list[tuple[str, str, str]]:
    return [(e.kind, e.employee_id, e.status) for e in journal.entries()]


def test_one_failure_in_a_batch_fails_that_person_only(run, slapd) -> None:
    apply, journal = run
    # A foreign entry where user2 would go: its create fails (employeeNumber differs), the others go on.
    apply([create(2)], connections=1)
    journal2 = journal
    actions = [create(n) for n in range(1, 9)]
    actions[1] = replace(create(2), employee_id="x2")
    actions += [update(n, "工程师") for n in range(1, 9)]
    actions[8 + 1] = replace(update(2, "经理"), employee_id="x2")
    directory, _, result = apply(actions, connections=4)
    by = {(e.kind, e.employee_id): e.status for e in journal2.entries() if e.run_id == result.run_id}
    assert by[("create_account", "x2")] == "failed"
    assert by[("update_account", "x2")] == "skipped"  # later action of that person, next batch
    assert all(by[("create_account", str(n))] == "applied" for n in (1, 3, 4, 5, 6, 7, 8))
    assert all(by[("update_account", str(n))] == "applied" for n in (1, 3, 4, 5, 6, 7, 8))
    assert result.counts == Counter({"applied": 14, "failed": 1, "skipped": 1}) and not result.stopped
    assert directory.read_person(f"uid=user3,{HQ_PEOPLE_DN}").title == "工程师"
    assert directory.read_person(f"uid=user2,{HQ_PEOPLE_DN}").title == ""  # never touched


def test_writes_equal_actions_and_pending_rows_come_before_each_write(run, slapd, tmp_path) -> None:
    apply, journal = run
    actions = [create(n) for n in range(1, 41)] + [create_group("dev", [1, 2, 3])]
    actions += [member(ActionKind.ADD_MEMBER, "dev", n) for n in range(4, 41)]
    actions += [update(n, "t") for n in range(1, 41)]
    directory, _, result = apply(actions, connections=4, batch_size=16)
    assert result.ok and result.counts["applied"] == len(actions)
    # One LDAP write per action, but the 37 additions to one group: one write of the group.
    assert directory.calls == Counter(create_person=40, create_group=1, add_members=1, modify_person=40)
    group = directory.read_group(group_dn("dev"))
    assert group is not None and len(group.members) == 40
    assert all(e.status == "applied" for e in journal.entries())
    ids = [e.id for e in journal.entries()]
    assert ids == sorted(ids) and [e.target for e in journal.entries()] == [a.target for a in actions]  # plan order
    assert [d.name for d in (tmp_path / "credentials").iterdir()] == ["HQ"]  # one folder per company
    files = sorted((tmp_path / "credentials" / "HQ").iterdir())
    assert len(files) == 40 and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    assert all(f.suffix == ".txt" for f in files)  # no temporary file left
    assert stat.S_IMODE((tmp_path / "credentials").stat().st_mode) == 0o700


def test_actions_on_one_entry_keep_their_order_across_lanes(run, slapd) -> None:
    apply, _journal = run
    apply([create(n) for n in range(1, 9)] + [create_group(f"g{g}", [1]) for g in range(6)], connections=1)
    churn = []
    for g in range(6):  # add, remove, add again: only the plan order ends with the member present
        for n in range(2, 9):
            churn += [member(ActionKind.ADD_MEMBER, f"g{g}", n)]
    removes = []
    for g in range(6):
        for n in range(2, 9):
            removes += [member(ActionKind.REMOVE_MEMBER, f"g{g}", n)]
    directory, _, result = apply(churn + removes, connections=4, batch_size=500)
    assert result.ok
    for g in range(6):
        assert {m.split(",")[0] for m in directory.read_group(group_dn(f"g{g}")).members} == {"uid=user1"}
    modify_titles = [update(1, f"t{i}") for i in range(30)]  # 30 updates of one entry in one batch
    directory, _, result = apply(modify_titles, connections=4)
    assert result.ok and directory.read_person(f"uid=user1,{HQ_PEOPLE_DN}").title == "t29"


def test_member_changes_go_as_one_write_per_group_each_journalled(run, slapd, directory_settings, companies) -> None:
    apply, journal = run
    apply([create(n) for n in range(1, 13)] + [create_group("g0", [1, 2, 3, 4, 5, 6]), create_group("g1", [1, 2, 3]),
                                               create_group("g2", [1, 2])], connections=1)
    gone = f"uid=user3,{HQ_PEOPLE_DN}"
    Counting(settings_for(slapd_settings(slapd), 1), ()).remove_member(group_dn("g0"), gone)  # an admin was faster
    removes = [member(ActionKind.REMOVE_MEMBER, "g0", n) for n in (2, 3, 4)] + [member(ActionKind.REMOVE_MEMBER, "g1", n) for n in (2, 3)]
    removes += [member(ActionKind.REMOVE_MEMBER, "g2", n) for n in (1, 2)]  # would leave g2 empty: refused
    adds = [member(ActionKind.ADD_MEMBER, "g0", n) for n in range(7, 13)] + [member(ActionKind.ADD_MEMBER, "g1", 12)]
    # Without transactions, so each group's write stands alone (with them: the next test).
    plain = Counting(directory_settings.model_copy(update={"write_connections": 4, "transactions": False}), companies)
    directory, _, result = apply(removes + adds, directory=plain)

    members = {g: {m.split(",")[0] for m in directory.read_group(group_dn(g)).members} for g in ("g0", "g1", "g2")}
    assert members["g0"] == {f"uid=user{n}" for n in (1, 5, 6, 7, 8, 9, 10, 11, 12)}
    assert members["g1"] == {"uid=user1", "uid=user12"}
    assert members["g2"] == {"uid=user2"}
    # g0's removal went as one request, refused for the value already gone, then one by one; g1's as one;
    # g2's as one, refused (empty group), then one by one: the last removal fails alone.  Additions: one per group.
    assert directory.calls["remove_members"] == 3 and directory.calls["remove_member"] == 3 + 2
    assert directory.calls["add_members"] == 1 and directory.calls["add_member"] == 1  # g0: one request; g1: its one addition alone
    by = {(e.kind, e.target, e.employee_id): (e.status, e.error) for e in journal.entries() if e.run_id == result.run_id}
    assert len(by) == len(removes + adds)
    failed = {k: v for k, v in by.items() if v[0] != "applied"}
    assert list(failed) == [("remove_member", group_dn("g2"), "2")]
    assert "delete the group instead" in failed[("remove_member", group_dn("g2"), "2")][1]
    assert result.counts == Counter({"applied": len(removes + adds) - 1, "failed": 1})


def count_transaction_sizes(monkeypatch) -> list[int]:
    """The number of write calls each committed LDAP transaction carried, from now on."""
    sizes: list[int] = []
    original = LdapDirectory.transaction

    def counted(self):
        before = sum(getattr(self, "calls", Counter()).values())
        with original(self):
            yield
        sizes.append(sum(getattr(self, "calls", Counter()).values()) - before)

    monkeypatch.setattr(LdapDirectory, "transaction", contextlib.contextmanager(counted))
    return sizes


def test_group_writes_go_in_transactions_and_a_refused_one_goes_alone(run, slapd, monkeypatch) -> None:
    apply, journal = run
    groups = [f"t{g}" for g in range(6)]
    apply([create(n) for n in range(1, 9)] + [create_group(g, [1, 2, 3, 4]) for g in groups], connections=1)
    sizes = count_transaction_sizes(monkeypatch)
    # All six groups lose members 2 and 3: one write each, in transactions of 2 and then 4 writes.
    directory, _, result = apply([member(ActionKind.REMOVE_MEMBER, g, n) for g in groups for n in (2, 3)], connections=1)
    assert result.ok and result.counts == Counter({"applied": 12})
    assert directory.calls == Counter(remove_members=6) and sizes == [2, 4]
    assert all(directory.read_group(group_dn(g)).members == {f"uid=user{n},{HQ_PEOPLE_DN}" for n in (1, 4)} for g in groups)

    # An admin already added user5 to t3: the transaction carrying t3's write is refused as a whole, so each
    # of its group writes goes alone, and t3's values one by one; nothing is lost, nothing written twice.
    Counting(settings_for(slapd_settings(slapd), 1), ()).add_member(group_dn("t3"), f"uid=user5,{HQ_PEOPLE_DN}")
    sizes.clear()
    adds = [member(ActionKind.ADD_MEMBER, g, n) for g in groups for n in (5, 6)]
    directory, _, result = apply(adds, connections=1)
    assert result.ok and result.counts == Counter({"applied": 12})
    assert sizes == [2]  # t0+t1 committed; t2..t5 refused (not counted: the commit raised)
    assert directory.calls == Counter(add_members=2 + 4 + 4, add_member=2)
    assert all(directory.read_group(group_dn(g)).members == {f"uid=user{n},{HQ_PEOPLE_DN}" for n in (1, 4, 5, 6)} for g in groups)
    rows = [e for e in journal.entries() if e.kind == "add_member" and e.status == "applied"]
    assert len(rows) == 12


def count_refint_waits(monkeypatch) -> list[int]:
    """The number of old DNs of each `await_references` call from now on."""
    waits: list[int] = []
    original = LdapDirectory.await_references

    def counted(self, old_dns):
        waits.append(len(old_dns))
        return original(self, old_dns)

    monkeypatch.setattr(LdapDirectory, "await_references", counted)
    return waits


def test_moves_wait_for_refint_once_per_batch(run, slapd, monkeypatch) -> None:
    apply, _journal = run
    apply([create(n) for n in range(1, 21)] + [create_group("dev", list(range(1, 21)))], connections=1)
    waits = count_refint_waits(monkeypatch)
    directory, _, result = apply([move(n, SZ_PEOPLE_DN) for n in range(1, 21)], connections=4, batch_size=500)
    assert result.ok and waits == [20]
    members = directory.read_group(group_dn("dev")).members
    assert len(members) == 20 and all(m.endswith(SZ_PEOPLE_DN) for m in members)  # refint done before the next batch


def test_group_with_all_initial_members_in_one_add(run, slapd) -> None:
    apply, _journal = run
    apply([create(n) for n in range(1, 6)], connections=1)
    directory, _, result = apply([create_group("dev", [1, 2, 3, 4, 5])], connections=2)
    assert result.ok and directory.calls["create_group"] == 1 and directory.calls["add_member"] == 0
    assert len(directory.read_group(group_dn("dev")).members) == 5
    # Already there (an interrupted run) with only some members: the missing ones are added.
    directory.remove_member(group_dn("dev"), f"uid=user5,{HQ_PEOPLE_DN}")
    directory.remove_member(group_dn("dev"), f"uid=user4,{HQ_PEOPLE_DN}")
    directory, _, result = apply([create_group("dev", [1, 2, 3, 4, 5])], connections=2)
    assert result.ok and len(directory.read_group(group_dn("dev")).members) == 5
    # The old shape (first_member only) still works.
    directory, _, result = apply([create_group("ops", [2], listed=False)], connections=2)
    assert result.ok and len(directory.read_group(group_dn("ops")).members) == 1


def test_a_crash_mid_batch_leaves_pending_rows_that_recover_settles(run, slapd, monkeypatch) -> None:
    apply, journal = run
    original = Journal.finish_actions

    def power_cut(self, outcomes, now):
        raise SystemExit("power cut")  # after the batch's writes, before its outcomes

    monkeypatch.setattr(Journal, "finish_actions", power_cut)
    with pytest.raises(SystemExit):
        apply([create(n) for n in range(1, 11)], connections=4)
    monkeypatch.setattr(Journal, "finish_actions", original)
    pending = journal.pending_actions()
    assert len(pending) == 10 and {e.kind for e in pending} == {"create_account"}
    _directory, executor, _ = apply([], connections=4)
    settled = executor.recover()
    assert len(settled) == 10 and journal.pending_actions() == []
    assert all(e.status == "applied" for e in journal.entries())
    assert journal.person("3") is not None  # the state came with the settling


class DropsAfter(Counting):
    """The real connector; the server is stopped right after the n-th create (from whichever lane)."""

    def __init__(self, settings, companies, server, creates: int) -> None:
        super().__init__(settings, companies)
        self.server, self.left = server, creates
        self.sent: list[str] = []  # the DNs of the creates sent before the stop, in the order they went

    def create_person(self, dn, *args, **kwargs):
        super().create_person(dn, *args, **kwargs)
        with _COUNT_LOCK:  # creates come from several lane threads
            self.sent.append(dn)
            self.left -= 1
            stop = self.left == 0
        if stop:
            self.server.stop()


def test_a_connection_dropped_mid_batch_stops_the_run_with_rows_pending(run, slapd, directory_settings, companies) -> None:
    apply, journal = run
    actions = [create(n) for n in range(1, 61)] + [update(n, "t") for n in range(1, 61)]
    dropping = DropsAfter(settings_for(directory_settings, 4), companies, slapd, creates=15)
    _, _, result = apply(actions, directory=dropping)
    assert result.stopped.startswith("TransientError")
    assert len(dropping.sent) >= 15  # the drop came mid-batch
    pending = journal.pending_actions()
    assert len(pending) == result.counts["outcome_unknown"] >= 1
    assert result.counts["applied"] + result.counts["outcome_unknown"] + result.counts["skipped"] == len(actions)
    # Each create sent before the drop went in an LDAP transaction (2, 4, 8... per lane) that was committed
    # (applied), cut by the drop (pending: committed or not, slapd never said), or abandoned because another
    # lane stopped first (skipped: never committed).  How many end which way depends on where each lane
    # stood when the drop came, so only the journal's word is checked, against the directory.
    status = {e.target: e.status for e in journal.entries() if e.kind == "create_account"}
    assert {status[dn] for dn in dropping.sent} <= {"applied", "pending", "skipped"}
    slapd.start()
    directory, executor, _ = apply([], connections=4)
    for a in actions[:60]:
        if status[a.target] == "applied":
            assert directory.read_person(a.target) is not None, a.target
        elif status[a.target] == "skipped":  # never sent, or in a transaction abandoned: nothing written
            assert directory.read_person(a.target) is None, a.target
    executor.recover()
    done = {a.employee_id for a in actions[:60] if directory.read_person(a.target) is not None}
    todo = [create(n) for n in range(1, 61) if str(n) not in done] + [update(n, "t") for n in range(1, 61)]
    _, _, result = apply(todo, connections=4)
    assert result.ok
    applied = Counter((e.kind, e.employee_id) for e in journal.entries() if e.status == "applied")
    assert max(applied.values()) == 1 and len([k for k in applied if k[0] == "create_account"]) == 60


def test_stop_request_is_honoured_between_batches(run, slapd) -> None:
    _apply, journal = run
    asked = {"n": 0}

    def stop_after_two() -> bool:
        asked["n"] += 1
        return asked["n"] > 2

    vault = CredentialVault(Path(journal.engine.url.database).parent / "credentials", 16)
    plan = Plan(NOW, tuple(create(n) for n in range(1, 31)))
    with LdapDirectory(slapd_settings(slapd), ()) as directory:
        result = Executor(directory, journal, vault, "test", batch_size=10).apply(plan, journal.begin_run("apply", NOW), stop_after_two)
    assert result.stopped == "stop requested" and result.counts["applied"] == 20
    assert len(journal.pending_actions()) == 0


def slapd_settings(slapd) -> DirectorySettings:
    return DirectorySettings(url=slapd.url, bind_dn=slapd.admin_dn, bind_password=SecretStr(slapd.admin_password),
                             base_dn="dc=example,dc=com", groups_dn=GROUPS_DN)


def test_vault_issue_many_seals_each_password_once(tmp_path: Path) -> None:
    vault = CredentialVault(tmp_path / "vault", 16)
    passwords = vault.issue_many([(str(n), f"u{n}", f"u{n}@example.com") for n in range(50)])
    assert len(set(passwords.values())) == 50
    for n in range(50):
        path = tmp_path / "vault" / f"{n}.txt"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert vault.read_password(str(n)) == passwords[str(n)]
        p = passwords[str(n)]
        assert len(p) == 16 and any(c.isdigit() for c in p) and any(c.isupper() for c in p) and any(c.islower() for c in p)
    assert not list((tmp_path / "vault").glob("*.tmp"))


@pytest.mark.parametrize("value", [0, 17, "many"])
def test_write_connections_is_validated(tmp_path: Path, value) -> None:
    secret = tmp_path / "secret"
    secret.write_text("x")
    os.chmod(secret, 0o600)
    rendered = f'"{value}"' if isinstance(value, str) else value
    config = tmp_path / "config.toml"
    config.write_text(f"""[directory]
bind_password_file = "{secret}"
write_connections = {rendered}

[[companies]]
code = "HQ"
name = "HQ"
domain = "example.com"
people_dn = "ou=hq,ou=people,dc=example,dc=com"
""")
    with pytest.raises(ConfigError, match="write_connections"):
        load_settings(config)


def test_a_batch_on_a_holder_waits_for_refint_and_others_do_not(run, slapd, monkeypatch) -> None:
    apply, _journal = run
    apply([create(n) for n in range(1, 7)] + [create_group("dev", [1, 2, 3, 4, 5, 6]), create_group("ops", [6])],
          connections=1)
    waits = count_refint_waits(monkeypatch)
    moved = f"uid=user1,{SZ_PEOPLE_DN}"
    leave_dev = Action(ActionKind.REMOVE_MEMBER, "1", "SZ", group_dn("dev"), "groups", "test", {},
                       params=MemberParams(group_dn("dev"), moved))
    join_ops = Action(ActionKind.ADD_MEMBER, "1", "SZ", group_dn("ops"), "groups", "test", {},
                      params=MemberParams(group_dn("ops"), moved))
    directory, _, result = apply([move(1, SZ_PEOPLE_DN), move(2, SZ_PEOPLE_DN), update(3, "x"), join_ops, leave_dev],
                                 connections=4)
    assert result.ok
    assert waits == [2]  # once, before the batch that writes the old group; not before the update or ops
    dev = {m.split(",")[0] for m in directory.read_group(group_dn("dev")).members}
    assert "uid=user1" not in dev and "uid=user2" in dev  # refint did not put user1 back afterwards
    assert moved in directory.read_group(group_dn("ops")).members


def test_a_mover_leaving_its_group_before_the_move_waits_for_nothing(run, slapd, monkeypatch) -> None:
    apply, _journal = run
    boss, report = f"uid=user1,{HQ_PEOPLE_DN}", f"uid=user2,{HQ_PEOPLE_DN}"
    reports_to = Action(ActionKind.UPDATE_ACCOUNT, "2", "HQ", report, "sync", "test", {},
                        params=AttributeUpdateParams(report, {"manager": boss}))
    apply([create(n) for n in range(1, 5)] + [create_group("dev", [1, 2, 3]), create_group("ops", [4]), reports_to],
          connections=1)
    writes_before_each_wait: list[int] = []
    original = LdapDirectory.await_references

    def counted(self, old_dns):
        writes_before_each_wait.append(sum(self.calls.values()))
        return original(self, old_dns)

    monkeypatch.setattr(LdapDirectory, "await_references", counted)
    moved = f"uid=user1,{SZ_PEOPLE_DN}"
    leave_dev = Action(ActionKind.REMOVE_MEMBER, "1", "HQ", group_dn("dev"), "groups", "test", {},
                       params=MemberParams(group_dn("dev"), boss, early=True))
    new_manager = replace(reports_to, params=AttributeUpdateParams(report, {"manager": moved}))
    join_ops = Action(ActionKind.ADD_MEMBER, "1", "SZ", group_dn("ops"), "groups", "test", {},
                      params=MemberParams(group_dn("ops"), moved))
    directory, _, result = apply([leave_dev, move(1, SZ_PEOPLE_DN), new_manager, join_ops], connections=4)
    assert result.ok
    # The report holds the old DN until its update, which replaces it: refint's rename of it then fails harmlessly,
    # so nothing waited before a batch; the one look at the end (nothing left to rename) came after all four writes.
    assert writes_before_each_wait == [4]
    assert directory.read_person(report).manager == moved
    assert {m.split(",")[0] for m in directory.read_group(group_dn("dev")).members} == {"uid=user2", "uid=user3"}
    assert directory.read_group(group_dn("ops")).members == {f"uid=user4,{HQ_PEOPLE_DN}", moved}


def test_creates_go_in_ldap_transactions_and_bind_like_any_other(run, slapd, monkeypatch, tmp_path) -> None:
    apply, _journal = run
    sizes = count_transaction_sizes(monkeypatch)
    directory, _, result = apply([create(n) for n in range(1, 41)] + [update(n, "t") for n in range(1, 41)], connections=1)
    assert result.ok and directory.calls == Counter(create_person=40, modify_person=40)
    assert sizes == [2, 4, 8, 16, 10] * 2  # creates, then updates: 2, 4, 8... writes per commit
    person = directory.read_person(f"uid=user7,{HQ_PEOPLE_DN}")
    assert person is not None and person.title == "t"
    password = CredentialVault(tmp_path / "credentials", 16).read_password("7")
    from ldap3 import Connection, Server
    user = Connection(Server(slapd.url), f"uid=user7,{HQ_PEOPLE_DN}", password)
    assert user.bind(), user.result  # the hashed initial password, written inside a transaction, works
    admin = Connection(Server(slapd.url), slapd.admin_dn, slapd.admin_password, auto_bind=True)
    admin.search(f"uid=user7,{HQ_PEOPLE_DN}", "(objectClass=*)", search_scope="BASE", attributes=["pwdReset", "userPassword"])
    assert admin.entries[0].pwdReset.value is True and admin.entries[0].userPassword.value.startswith(b"{SSHA}")


def test_transactions_can_be_turned_off(run, slapd, monkeypatch, directory_settings, companies) -> None:
    apply, _journal = run
    opened: list[int] = []
    original = LdapDirectory.transaction
    monkeypatch.setattr(LdapDirectory, "transaction", lambda self: opened.append(1) or original(self))
    plain = Counting(directory_settings.model_copy(update={"write_connections": 2, "transactions": False}), companies)
    _, _, result = apply([create(n) for n in range(1, 11)], directory=plain)
    assert result.ok and plain.calls["create_person"] == 10 and opened == []
    _, _, result = apply([update(n, "t") for n in range(1, 11)], connections=2)
    assert result.ok and opened  # asked for, and the server offers them
    assert DirectorySettings(url="ldap://x", bind_dn="cn=x", bind_password=SecretStr("x")).transactions is False  # opt-in
