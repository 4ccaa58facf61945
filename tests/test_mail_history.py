"""Simulated histories: every path to a lifecycle state leaves the mail side that state derives.

One employee (王芳, `wangfang`, whose manager 李娜 stays) goes through joiner, leaver, inactivity,
transfer and rehire events in any order while time advances.  After each event one cycle is
planned with `compute_plan` and applied to the shipped in-memory directory and mail backend
(lifecycle.testing), which keeps mail the way Modoboa 2.12 does (connectors/mail_modoboa/api.py's module doc, checked
against the real server in tests/test_mail_modoboa.py): a forward is the alias at the mailbox's own
address, a suspended mailbox bounces, an alias at an address outlives the mailbox deleted there and
becomes the forward of a mailbox created there, a renamed mailbox leaves its aliases behind (and takes
over the one at its new address), an expired alias delivers nothing, and only the aliases the daemon
made, with their recipients unchanged, are reported as its own.

After every cycle the mail side must be what the person's lifecycle state at that moment derives
(`expected_mail`, written from the state alone, not from the path), and a second plan at the same
moment must be empty.  The explicit table reaches each state by the paths that once went wrong; the
property test tries any order.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.mail_modoboa import CAPABILITIES as MODOBOA_CAPABILITIES
from lifecycle.domain.errors import RecordError
from lifecycle.domain.mail import MailCapability
from lifecycle.domain.models import HrRecord, PersonStatus, Plan, SuspensionRule
from lifecycle.engine.apply import Executor
from lifecycle.engine.vault import CredentialVault
from lifecycle.journal.store import Journal
from lifecycle.testing import AliasRow, InMemoryDirectory, InMemoryMailBackend
from policies.context import PolicyContext
from policies.employment import Standing, employment
from policies.engine import compute_plan
from tests.harness import at, hr, make_settings, person

START = at("2026-01-05T09:00")
MANAGER_ID, EMPLOYEE_ID, UID = "1", "2", "wangfang"
MANAGER = "lina@example.com"
DOMAINS = {"HQ": "example.com", "SZ": "sz.example.com"}
DOVECOT_CAPABILITIES = frozenset({MailCapability.AUTO_REPLY, MailCapability.EXPORT, MailCapability.KICK_SESSIONS})
# Short enough that a few steps of time reach every inactivity and retention date.
POLICY = {"inactivity_days": 60, "inactivity_warning_days": 10, "retention_days": 30, "inactivity_exempt": [MANAGER_ID]}


# -- the Dovecot companion beside the shipped Modoboa-like backend ----------------------------


class FakeDovecot:
    """The Dovecot companion: sieve auto-replies and verified archives, kept in memory."""

    CAPABILITIES = DOVECOT_CAPABILITIES

    def __init__(self) -> None:
        self.autoreplies: dict[str, str] = {}
        self.archived: list[str] = []
        self.mail: InMemoryMailBackend | None = None

    def kick(self, user: str) -> bool:
        return True

    def backup(self, user: str) -> Path:
        if self.mail is None or user not in self.mail.accounts:
            raise RecordError(f"backup {user}: no such mailbox", connector="dovecot")
        self.archived.append(user)
        return Path("/archive") / user

    def put_autoreply(self, user: str, subject: str, text: str) -> None:
        if self.mail is None or user not in self.mail.accounts:
            raise RecordError(f"auto-reply {user}: no such mailbox", connector="dovecot")
        self.autoreplies[user] = text

    def remove_autoreply(self, user: str) -> None:
        self.autoreplies.pop(user, None)

    def mailbox_deleted(self, address: str, keep_dir: bool) -> None:
        if not keep_dir:
            self.remove_autoreply(address)  # the sieve script lived in the mailbox's directory


# -- the world one employee lives in ----------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    leaver_mail: str  # forward | forward_autoreply | reject
    dovecot: bool  # a Dovecot companion: auto-replies, and archives (archive_before_delete follows it)

    def __str__(self) -> str:
        return f"{self.leaver_mail}{'+dovecot' if self.dovecot else ''}"


VARIANTS = (Variant("forward", False), Variant("forward_autoreply", True), Variant("reject", False), Variant("forward", True))


class World:
    def __init__(self, workdir: Path, variant: Variant) -> None:
        self.variant = variant
        self.settings = make_settings(
            workdir,
            mail={"token": "test-token", "leaver_mail": variant.leaver_mail, "archive_before_delete": variant.dovecot},
            policy=POLICY,
        )
        self.now = START
        self.directory = InMemoryDirectory()
        self.journal = Journal(self.settings.state.url)
        self.vault = CredentialVault(self.settings.accounts.initial_password_dir, self.settings.accounts.password_length)
        self.companion = FakeDovecot() if variant.dovecot else None
        self.mail = InMemoryMailBackend(DOMAINS.values(), clock=lambda: self.now,
                                        on_delete=self.companion.mailbox_deleted if self.companion else None)
        if self.companion is not None:
            self.companion.mail = self.mail
        self.capabilities = MODOBOA_CAPABILITIES | (DOVECOT_CAPABILITIES if variant.dovecot else frozenset())
        self.rows: dict[str, HrRecord] = {MANAGER_ID: person(MANAGER_ID, "李娜", hire=date(2020, 1, 1))}
        self.history: list[str] = []

    def close(self) -> None:
        self.journal.close()

    @property
    def today(self) -> date:
        return self.now.date()

    def plan(self) -> Plan:
        return compute_plan(
            hr(*self.rows.values()), self.directory.read_snapshot(), self.journal.load_state(), self.settings, self.now,
            mail=self.mail.read_snapshot(sorted(DOMAINS.values())), capabilities=self.capabilities,
        )

    def cycle(self) -> Plan:
        plan = self.plan()
        assert not plan.held, plan.held
        result = Executor(self.directory, self.journal, self.vault, "test", mail=self.mail, companion=self.companion).apply(
            plan, self.journal.begin_run("apply", self.now)
        )
        assert result.ok, (result.summary(), [(a.kind.value, a.target) for a in plan.actions])
        return plan

    # -- events (each one is what HR or time or the employee does; the cycle follows) ----------

    def hire(self) -> None:
        row = self.rows.get(EMPLOYEE_ID)
        if row is None:
            self.rows[EMPLOYEE_ID] = person(EMPLOYEE_ID, "王芳", manager=MANAGER_ID, hire=self.today)
        elif row.termination_date is not None:  # a rehire: the same row, a new hire date
            self.rows[EMPLOYEE_ID] = replace(row, hire_date=self.today, termination_date=None)

    def leave(self) -> None:
        row = self.rows.get(EMPLOYEE_ID)
        if row is not None and row.termination_date is None:
            self.rows[EMPLOYEE_ID] = replace(row, termination_date=self.today)

    def withdraw(self) -> None:
        """HR takes a termination back: employed since the old hire date (no rehire)."""
        row = self.rows.get(EMPLOYEE_ID)
        if row is not None and row.termination_date is not None:
            self.rows[EMPLOYEE_ID] = replace(row, termination_date=None)

    def transfer(self) -> None:
        row = self.rows.get(EMPLOYEE_ID)
        if row is not None:
            self.rows[EMPLOYEE_ID] = replace(row, company="SZ" if row.company == "HQ" else "HQ")

    def login(self) -> None:
        entry = self.directory.by_uid(UID)
        if entry is not None and not entry.get("locked"):
            entry["last_bind"] = self.now

    def wait(self, days: int) -> None:
        self.now += timedelta(days=days)

    def step(self, event: str) -> None:
        self.history.append(event)
        EVENTS[event](self)
        self.cycle()
        self.check()

    def check(self) -> None:
        where = f"after {' -> '.join(self.history)} ({self.variant})"
        expected = expected_mail(self)
        observed = observed_mail(self, expected.address)
        assert observed == expected, where
        leftover = self.plan().actions
        assert leftover == (), f"{where}: not converged: {[(a.kind.value, a.target, a.reason) for a in leftover]}"


EVENTS = {
    "hire": World.hire,
    "leave": World.leave,
    "transfer": World.transfer,
    "withdraw": World.withdraw,
    "login": World.login,
    "day": lambda w: w.wait(1),
    "fortnight": lambda w: w.wait(15),
    "quarter": lambda w: w.wait(91),
}


# -- the mail side a lifecycle state derives, and the one observed ----------------------------


@dataclass(frozen=True)
class MailSide:
    address: str  # the employee's address ("" before there is an account)
    mailbox: str  # "none" | "active" | "suspended"
    reaches: frozenset[str]  # where mail to the address ends
    auto_reply: bool
    other_mailboxes: tuple[str, ...] = field(default=())  # the employee's mailboxes at any other address
    # The employee's other addresses forwarding to the manager (an old domain's departed address).
    elsewhere_to_manager: tuple[str, ...] = field(default=())


def expected_mail(world: World) -> MailSide:
    """From the lifecycle state alone: the stored state, the HR standing, the directory entry."""
    state = world.journal.person(EMPLOYEE_ID)
    if state is None:
        return MailSide("", "none", frozenset(), False)
    ctx = PolicyContext(world.settings, world.now)
    departed = employment(world.rows.get(EMPLOYEE_ID), ctx).standing == Standing.DEPARTED
    forwarding = world.variant.leaver_mail != "reject"
    copy = world.variant.leaver_mail == "forward_autoreply" and world.variant.dovecot
    entry = world.directory.by_uid(UID)
    if state.status == PersonStatus.ACTIVE:
        assert entry is not None and not entry.get("locked")
        address = entry["mail"]
        return MailSide(address, "active", frozenset({address}), False)
    if state.status == PersonStatus.SUSPENDED:
        assert entry is not None and entry.get("locked")
        address = entry["mail"]
        if departed:  # a departure takes over whatever suspension came before it
            assert state.suspension_rule == SuspensionRule.LEAVER
        if state.suspension_rule == SuspensionRule.LEAVER:
            reaches = ({MANAGER} | ({address} if copy else set())) if forwarding else set()
            return MailSide(address, "suspended", frozenset(reaches), copy)
        return MailSide(address, "suspended", frozenset(), False)  # inactivity: kept, nothing forwarded
    assert state.status == PersonStatus.DELETED and entry is None
    address = f"{state.uid}@{DOMAINS[state.company]}"
    if departed:
        return MailSide(address, "none", frozenset({MANAGER}) if forwarding else frozenset(), False)
    # Employed without an account (deleted for inactivity, waiting for `lifecycle reinstate`): mail to the
    # address is the person's, so it goes to nobody else (an earlier departure's alias is removed).
    return MailSide(address, "none", frozenset(), False)


def observed_mail(world: World, address: str) -> MailSide:
    mail = world.mail
    mine = tuple(sorted(a for a in mail.accounts if a.split("@")[0] == UID and a != address))
    elsewhere = tuple(sorted(a for a in mail.aliases if a.split("@")[0] == UID and a != address and MANAGER in mail.resolves(a)))
    if not address:
        return MailSide("", "none", frozenset(), False, mine, elsewhere)
    account = mail.accounts.get(address)
    state = "none" if account is None else ("active" if account.active else "suspended")
    # An auto-reply answers only mail that is delivered to the mailbox.
    replying = world.companion is not None and address in world.companion.autoreplies and address in mail.reaches(address)
    return MailSide(address, state, mail.reaches(address), replying, mine, elsewhere)


# -- histories -------------------------------------------------------------------------------


@pytest.fixture
def world_of(tmp_path: Path) -> Iterator:
    made: list[World] = []

    def make(variant: Variant) -> World:
        world = World(tmp_path / f"w{len(made)}", variant)
        made.append(world)
        return world

    yield make
    for world in made:
        world.close()


INACTIVE = ["quarter", "fortnight"]  # warned after the quarter, suspended a fortnight later
PATHS = {
    "joiner": ["hire"],
    "leaver": ["hire", "leave"],
    "leaver deleted": ["hire", "leave", "quarter"],
    "rehire before deletion": ["hire", "leave", "fortnight", "hire"],
    "rehire after deletion": ["hire", "leave", "quarter", "hire"],
    "rehire after deletion, left and deleted again": ["hire", "leave", "quarter", "hire", "leave", "quarter"],
    "used account stays": ["hire", "fortnight", "login", "quarter", "login", "fortnight"],
    "inactivity": ["hire", *INACTIVE],
    "inactivity, deleted": ["hire", *INACTIVE, "quarter"],
    "inactivity, then leaver": ["hire", *INACTIVE, "leave"],
    "inactivity, then leaver, deleted": ["hire", *INACTIVE, "leave", "quarter"],
    "inactivity, then leaver, rehired": ["hire", *INACTIVE, "leave", "fortnight", "hire"],
    "inactivity, then leaver, deleted, rehired": ["hire", *INACTIVE, "leave", "quarter", "hire"],
    "inactivity, deleted, then leaver": ["hire", *INACTIVE, "quarter", "leave"],
    "inactivity, deleted, leaver, rehired": ["hire", *INACTIVE, "quarter", "leave", "day", "hire"],
    "leaver late in retention of an inactivity suspension": ["hire", *INACTIVE, "fortnight", "leave", "fortnight", "day"],
    "transfer": ["hire", "transfer"],
    "transfer and back": ["hire", "transfer", "fortnight", "transfer"],
    "transfer, leaver, deleted": ["hire", "transfer", "leave", "quarter"],
    "transfer while suspended for inactivity": ["hire", *INACTIVE, "transfer"],
    "transfer while suspended for inactivity, then leaver, deleted": ["hire", *INACTIVE, "transfer", "leave", "quarter"],
    "leaver moved by HR, deleted": ["hire", "leave", "transfer", "quarter"],
    "leaver moved by HR, rehired": ["hire", "leave", "transfer", "fortnight", "hire"],
    "rehire after deletion, then transfer": ["hire", "leave", "quarter", "hire", "transfer"],
    "leaver deleted, rehired at another company": ["hire", "leave", "quarter", "transfer", "hire"],
    "inactivity, deleted, leaver, termination withdrawn": ["hire", *INACTIVE, "quarter", "leave", "day", "withdraw"],
    # Suspended once (Modoboa's hidden self-alias stays disabled), back after the transfer alias (180 days) expired.
    "rehired, transfer and back after the transfer alias expired": [
        "hire", "leave", "fortnight", "hire", "transfer", *["login", "fortnight"] * 13, "transfer", "login", "fortnight"],
}


@pytest.mark.parametrize("variant", VARIANTS, ids=str)
@pytest.mark.parametrize("path", list(PATHS), ids=list(PATHS))
def test_every_path_ends_in_the_mail_state_its_lifecycle_state_derives(world_of, path: str, variant: Variant) -> None:
    world = world_of(variant)
    world.step("hire")  # the manager (and, with "hire" first, the employee) on day one
    for event in PATHS[path][1:]:
        world.step(event)


def test_a_rehire_after_deletion_takes_the_departed_address_back_from_the_manager(world_of) -> None:
    world = world_of(Variant("forward", False))
    for event in ["hire", "leave", "quarter"]:
        world.step(event)
    assert world.mail.reaches("wangfang@example.com") == {MANAGER}  # the departed address forwards
    world.hire()
    plan = world.plan()
    mine = [(a.kind.value, a.target) for a in plan.actions if a.employee_id == EMPLOYEE_ID and a.kind.value.endswith(
        ("mailbox", "forward", "alias"))]
    assert mine == [("create_mailbox", "wangfang@example.com"), ("clear_forward", "wangfang@example.com")]
    world.cycle()
    assert world.mail.reaches("wangfang@example.com") == {"wangfang@example.com"}  # the manager gets none of it
    assert world.plan().actions == ()


def test_a_departure_after_an_inactivity_suspension_is_handled_as_a_leavers(world_of) -> None:
    world = world_of(Variant("forward", False))
    for event in ["hire", *INACTIVE]:
        world.step(event)
    suspended_at = world.journal.person(EMPLOYEE_ID).suspended_at
    world.wait(20)
    world.leave()
    plan = world.plan()
    mine = {a.kind.value: a for a in plan.actions if a.employee_id == EMPLOYEE_ID}
    assert set(mine) == {"record_state", "forward_mail"}  # already locked and out of the groups: no new suspension
    assert mine["record_state"].params.state["suspension_rule"] == "leaver"
    world.cycle()
    state = world.journal.person(EMPLOYEE_ID)
    assert state.suspension_rule == SuspensionRule.LEAVER
    # Retention counts from the departure, not from the inactivity suspension 20 days before it.
    assert state.suspended_at == world.now and state.suspended_at > suspended_at
    assert world.mail.reaches("wangfang@example.com") == {MANAGER}
    world.wait(29)
    assert [a.kind.value for a in world.plan().actions] == []
    world.wait(1)
    world.cycle()
    assert world.directory.by_uid(UID) is None and "wangfang@example.com" not in world.mail.accounts
    assert world.mail.reaches("wangfang@example.com") == {MANAGER}  # the departed address stays a forward


def test_a_departed_alias_lost_after_the_deletion_is_made_again(world_of) -> None:
    world = world_of(Variant("forward", False))
    for event in ["hire", "leave", "quarter"]:
        world.step(event)
    world.mail.aliases.pop("wangfang@example.com")  # the alias step failed, or a crash came between
    plan = world.plan()
    assert [(a.kind.value, a.target, a.params.recipients) for a in plan.actions] == [
        ("create_alias", "wangfang@example.com", (MANAGER,))
    ]
    world.cycle()
    world.check()


def test_an_active_mailbox_forwarding_to_the_manager_as_a_leaver_s_would_is_repaired(world_of) -> None:
    """What the rehire bug left behind in a deployment: the forward is removed, other forwards stay."""
    world = world_of(Variant("forward", False))
    world.step("hire")
    world.mail.aliases["wangfang@example.com"] = AliasRow([MANAGER])
    assert [(a.kind.value, a.rule) for a in world.plan().actions] == [("clear_forward", "repair")]
    world.cycle()
    world.check()
    world.mail.set_forward("wangfang@example.com", ["wang.fang@home.example.org"])  # her own, kept
    assert world.plan().actions == ()


EVENT_NAMES = sorted(EVENTS)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(st.sampled_from(EVENT_NAMES), min_size=1, max_size=12), variant=st.sampled_from(VARIANTS))
def test_any_order_of_events_converges_to_the_derived_mail_state(events: list[str], variant: Variant) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        world = World(Path(workdir), variant)
        try:
            world.step("hire")
            for event in events:
                world.step(event)
        finally:
            world.close()
