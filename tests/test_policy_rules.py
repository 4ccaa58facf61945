"""The rules a hand-made mutation probe found unpinned, pinned (tests/MUTATION.md).

- Inactivity: which date counts as the last use (the latest of the directory's last bind,
  the mailbox's last login, the account's creation and a rehire's `restored_at`); which
  warning counts (one given after the last use: a later login re-bases it); when the
  warning and the suspension are due, to the second; who is never suspended (people on
  leave, `[policy] inactivity_exempt`).
- Outcome guard: each company's limit is min(max_destructive, max(destructive_floor,
  floor(max_destructive_fraction x that company's own accounts))), also when a large and
  a small company act in the same cycle.
- Feed health: a company's rows may drop by exactly `max_feed_drop`; one row more freezes it.

Times are Asia/Shanghai (`at`) unless a test says otherwise; `now` is always a parameter.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from lifecycle.domain.action_params import AccountParams, AttributeUpdateParams, GroupDeletionParams, MemberParams
from lifecycle.domain.mail import Mailbox, MailSnapshot
from lifecycle.domain.models import (
    Action,
    ActionKind,
    DirectoryEntry,
    DirectorySnapshot,
    FeedBaseline,
    HrSnapshot,
    HrStatus,
    PersonState,
    PersonStatus,
    StoredState,
    SuspensionRule,
)
from lifecycle.domain.settings import GuardSettings
from lifecycle.testing import InMemoryDirectory
from policies.context import PolicyContext
from policies.employment import Employment, Standing
from policies.engine import compute_plan
from policies.feed_health import feed_baseline, frozen_companies
from policies.guards import guard_plan
from policies.inactivity import decide_inactivity, exempt_reason, inactivity_dates, last_use
from policies.join import PersonView
from policies.timeline import explain_upcoming
from tests.harness import Cycle, at, hr, make_settings, person

SETTINGS = make_settings(Path("/nonexistent/policy-rules"))  # pure tests: nothing is read or written there
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)
# Defaults: inactivity_days 183, inactivity_warning_days 14, so the warning is due 169 days after the last use.
WARN_AFTER = timedelta(days=169)
SUSPEND_AFTER = timedelta(days=183)
WARNING = timedelta(days=14)
T0 = at("2026-01-01T09:00")
HQ_PEOPLE = "ou=hq,ou=people,dc=example,dc=com"
SZ_PEOPLE = "ou=sz,ou=people,dc=example,dc=com"
EMPLOYED = Employment(Standing.EMPLOYED, date(2020, 1, 1))
ON_LEAVE = Employment(Standing.EMPLOYED, date(2020, 1, 1), on_leave=True)


def ctx(now: datetime, settings=SETTINGS) -> PolicyContext:
    return PolicyContext(settings, now)


def entry(*, last_bind: datetime | None = None, created: datetime | None = T0, uid: str = "lina") -> DirectoryEntry:
    return DirectoryEntry(dn=f"uid={uid},{HQ_PEOPLE}", uid=uid, employee_number="1", mail=f"{uid}@example.com",
                          last_bind=last_bind, created=created)


def state(**fields) -> PersonState:
    values = {"status": PersonStatus.ACTIVE, "created_at": T0} | fields
    return PersonState("1", "lina", "HQ", **values)


def decide(now: datetime, *, e: DirectoryEntry | None = None, s: PersonState | None = None, emp=EMPLOYED,
           settings=SETTINGS, employee_id: str = "1") -> str | None:
    """"warn", "suspend" or None: what the inactivity rule decides at `now`."""
    warn, suspend = decide_inactivity(employee_id, e or entry(), s or state(), emp, ctx(now, settings))
    assert warn is None or suspend is None
    return "warn" if warn else "suspend" if suspend else None


def inactivity(plan) -> list[tuple[str, str]]:
    return [(a.kind.value, a.employee_id) for a in plan.actions
            if a.kind in (ActionKind.WARN_INACTIVE, ActionKind.SUSPEND_ACCOUNT)]


# -- inactivity: the last use ------------------------------------------------------------------


def test_last_use_is_the_latest_of_bind_creation_and_rehire():
    bind, created, stored, restored = T0 + 3 * DAY, T0 + 1 * DAY, T0 + 2 * DAY, T0 + 4 * DAY
    assert last_use(entry(last_bind=bind, created=created), state(created_at=stored, restored_at=restored)) == restored
    assert last_use(entry(last_bind=bind, created=created), state(created_at=stored)) == bind
    assert last_use(entry(last_bind=created, created=bind), state(created_at=stored)) == bind  # created after the bind
    assert last_use(entry(last_bind=created, created=stored), state(created_at=bind)) == bind  # the stored creation
    assert last_use(entry(last_bind=None, created=None), state(created_at=stored)) == stored
    assert last_use(entry(last_bind=None, created=None), state(created_at=None, restored_at=restored)) == restored
    assert last_use(entry(last_bind=bind, created=None), None) == bind
    assert last_use(entry(last_bind=None, created=created), None) == created
    assert last_use(entry(last_bind=None, created=None), state(created_at=None)) is None


def test_a_later_bind_moves_the_warning_and_an_earlier_one_does_not():
    created = entry(created=T0)
    used = entry(created=T0, last_bind=T0 + 30 * DAY)
    old = entry(created=T0, last_bind=T0 - 30 * DAY)  # a bind before the account was (re)made here
    now = T0 + WARN_AFTER
    assert decide(now, e=created) == "warn"
    assert decide(now, e=old) == "warn"
    assert decide(now, e=used) is None
    assert decide(T0 + 30 * DAY + WARN_AFTER - SECOND, e=used) is None
    assert decide(T0 + 30 * DAY + WARN_AFTER, e=used) == "warn"


def test_an_account_without_any_known_use_is_left_alone():
    unknown = entry(created=None, last_bind=None)
    assert decide(T0 + 1000 * DAY, e=unknown, s=state(created_at=None)) is None
    assert inactivity_dates(unknown, state(created_at=None), ctx(T0)) is None


# -- inactivity: the warning, to the second ----------------------------------------------------


def test_the_warning_is_due_exactly_inactivity_minus_warning_days_after_the_last_use():
    assert decide(T0 + WARN_AFTER - DAY) is None  # day 168
    assert decide(T0 + WARN_AFTER - SECOND) is None
    assert decide(T0 + WARN_AFTER) == "warn"  # day 169, to the second
    assert decide(T0 + WARN_AFTER + DAY) == "warn"  # day 170: still a warning, never a suspension first


def test_the_warning_instant_is_the_same_whatever_zone_the_login_was_recorded_in():
    bind_utc = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)  # 2026-03-02 00:30 in Shanghai
    e = entry(created=T0, last_bind=bind_utc)
    due = at("2026-08-18T00:30")  # Shanghai: 169 days after 2026-03-02 00:30
    assert due == bind_utc + WARN_AFTER
    assert decide(due - SECOND, e=e) is None
    assert decide(due, e=e) == "warn"


def test_other_warning_periods_move_the_warning_and_the_suspension(tmp_path):
    settings = make_settings(tmp_path, policy={"inactivity_days": 30, "inactivity_warning_days": 7})
    assert decide(T0 + 23 * DAY - SECOND, settings=settings) is None
    assert decide(T0 + 23 * DAY, settings=settings) == "warn"
    warned = state(warned_at=T0 + 23 * DAY)
    assert decide(T0 + 30 * DAY - SECOND, s=warned, settings=settings) is None
    assert decide(T0 + 30 * DAY, s=warned, settings=settings) == "suspend"
    assert inactivity_dates(entry(), state(), ctx(T0, settings)) == (T0 + 23 * DAY, T0 + 30 * DAY)


def test_the_warning_says_when_the_suspension_will_come_and_from_which_last_use():
    warn, _ = decide_inactivity("1", entry(), state(), EMPLOYED, ctx(T0 + WARN_AFTER))
    assert warn.rule == "inactivity"
    assert warn.reason == "no login since 2026-01-01; the account will be suspended on or after 2026-07-03 unless it is used"
    assert warn.extra == {"last_used": T0.isoformat()}
    # Seen late (400 days idle): the suspension is the warning period away from now, not from the last use.
    late = at("2027-02-05T09:00")
    warn, _ = decide_inactivity("1", entry(), state(), EMPLOYED, ctx(late))
    assert warn.reason == "no login since 2026-01-01; the account will be suspended on or after 2027-02-19 unless it is used"


# -- inactivity: the suspension, to the second -------------------------------------------------


def test_the_suspension_is_due_inactivity_days_after_the_last_use_when_warned_in_time():
    warned = state(warned_at=T0 + WARN_AFTER)
    assert inactivity_dates(entry(), warned, ctx(T0)) == (T0 + WARN_AFTER, T0 + SUSPEND_AFTER)
    assert decide(T0 + SUSPEND_AFTER - DAY, s=warned) is None  # day 182
    assert decide(T0 + SUSPEND_AFTER - SECOND, s=warned) is None
    assert decide(T0 + SUSPEND_AFTER, s=warned) == "suspend"  # day 183
    assert decide(T0 + SUSPEND_AFTER + DAY, s=warned) == "suspend"


def test_a_late_warning_gives_the_full_warning_period_before_the_suspension():
    warned_at = T0 + 400 * DAY
    warned = state(warned_at=warned_at)
    assert inactivity_dates(entry(), warned, ctx(T0)) == (T0 + WARN_AFTER, warned_at + WARNING)
    assert decide(warned_at + WARNING - SECOND, s=warned) is None
    assert decide(warned_at + WARNING, s=warned) == "suspend"
    # A warning a day late: the suspension is a day late too.
    late_by_a_day = state(warned_at=T0 + WARN_AFTER + DAY)
    assert decide(T0 + SUSPEND_AFTER, s=late_by_a_day) is None
    assert decide(T0 + SUSPEND_AFTER + DAY, s=late_by_a_day) == "suspend"


def test_the_suspension_names_the_rule_the_last_use_and_the_warning():
    warned = state(warned_at=T0 + WARN_AFTER)
    _, suspend = decide_inactivity("1", entry(), warned, EMPLOYED, ctx(T0 + SUSPEND_AFTER))
    assert suspend.rule == "inactivity"
    assert suspend.extra == {"rule": SuspensionRule.INACTIVITY.value}
    assert suspend.reason == "no login since 2026-01-01 (more than 183 days) and warned on 2026-06-19"


def test_a_login_after_the_warning_voids_it_and_the_next_warning_counts_from_that_login():
    login = T0 + WARN_AFTER + 5 * DAY
    relogged = entry(last_bind=login)
    voided = state(warned_at=T0 + WARN_AFTER)
    assert inactivity_dates(relogged, voided, ctx(T0)) == (login + WARN_AFTER, login + SUSPEND_AFTER)
    assert decide(T0 + SUSPEND_AFTER, e=relogged, s=voided) is None  # the old warning's suspension is off
    assert decide(login + WARN_AFTER - SECOND, e=relogged, s=voided) is None
    # Due again: a new warning, not a suspension on the strength of the old one.
    assert decide(login + WARN_AFTER, e=relogged, s=voided) == "warn"
    assert decide(login + SUSPEND_AFTER, e=relogged, s=voided) == "warn"
    rewarned = state(warned_at=login + WARN_AFTER)
    assert decide(login + SUSPEND_AFTER - SECOND, e=relogged, s=rewarned) is None
    assert decide(login + SUSPEND_AFTER, e=relogged, s=rewarned) == "suspend"


def test_a_warning_given_at_or_after_the_last_use_counts():
    # What decides is whether the warning came after the use it warned about (a warning at
    # the very instant of the last use still counts; one an instant before does not).
    used = T0 + 10 * DAY
    e = entry(last_bind=used)
    assert decide(used + SUSPEND_AFTER, e=e, s=state(warned_at=used)) == "suspend"
    assert decide(used + SUSPEND_AFTER, e=e, s=state(warned_at=used - SECOND)) == "warn"


def test_a_rehire_counts_from_the_day_the_account_was_given_back():
    restored = T0 + 300 * DAY
    rehired = state(restored_at=restored)
    assert decide(T0 + 400 * DAY, s=rehired) is None  # idle since T0, but given back 100 days ago
    assert decide(restored + WARN_AFTER - SECOND, s=rehired) is None
    assert decide(restored + WARN_AFTER, s=rehired) == "warn"
    # A warning from before the rehire does not count towards a suspension after it.
    before = state(restored_at=restored, warned_at=T0 + WARN_AFTER)
    assert decide(restored + SUSPEND_AFTER, s=before) == "warn"


def test_only_active_accounts_are_warned_or_suspended():
    now = T0 + 400 * DAY
    warned = {"warned_at": T0 + WARN_AFTER}
    assert decide(now, s=state(**warned)) == "suspend"
    for status in (PersonStatus.SUSPENDED, PersonStatus.DELETED, PersonStatus.CONFIRMED):
        assert decide(now, s=state(status=status, **warned)) is None
    assert decide_inactivity("1", entry(), None, EMPLOYED, ctx(now)) == (None, None)


# -- inactivity: who is never suspended ---------------------------------------------------------


def test_people_on_leave_are_neither_warned_nor_suspended():
    now = T0 + 400 * DAY
    assert decide(now, emp=ON_LEAVE) is None
    assert decide(now, emp=ON_LEAVE, s=state(warned_at=T0 + WARN_AFTER)) is None
    assert exempt_reason("1", ON_LEAVE, ctx(now)) == "on leave"


def test_the_exempt_list_spares_exactly_the_listed_employees(tmp_path):
    settings = make_settings(tmp_path, policy={"inactivity_exempt": ["2", "10"]})
    now = T0 + 400 * DAY
    warned = state(warned_at=T0 + WARN_AFTER)
    for listed in ("2", "10"):
        assert decide(now, settings=settings, employee_id=listed) is None
        assert decide(now, s=warned, settings=settings, employee_id=listed) is None
        assert exempt_reason(listed, EMPLOYED, ctx(now, settings)) == "listed in [policy] inactivity_exempt"
    for other in ("1", "20", "1 0", "02"):  # ids are compared whole, not as substrings or numbers
        assert decide(now, settings=settings, employee_id=other) == "warn"
        assert decide(now, s=warned, settings=settings, employee_id=other) == "suspend"
        assert exempt_reason(other, EMPLOYED, ctx(now, settings)) is None
    assert exempt_reason("2", ON_LEAVE, ctx(now, settings)) == "on leave"  # on leave is said first


def test_explain_tells_the_exemption_instead_of_inactivity_dates(tmp_path):
    settings = make_settings(tmp_path, policy={"inactivity_exempt": ["1"]})
    now = T0 + 10 * DAY
    record = person("1", "李娜")
    view = PersonView("1", record, state(), entry(), "HQ", "HQ")
    _, events = explain_upcoming(view, ctx(now, settings))
    assert [(e.when, e.what) for e in events] == [
        (now.date(), "never suspended for inactivity: listed in [policy] inactivity_exempt")]
    _, events = explain_upcoming(PersonView("1", person("1", "李娜", status=HrStatus.LEAVE), state(), entry(), "HQ", "HQ"),
                                 ctx(now))
    assert [e.what for e in events] == ["never suspended for inactivity: on leave"]
    _, events = explain_upcoming(view, ctx(now))
    assert [(e.when, e.what) for e in events] == [
        (T0 + WARN_AFTER, "inactivity warning is sent if the account stays unused"),
        (T0 + SUSPEND_AFTER, "account is suspended for inactivity if it stays unused"),
    ]


def test_explain_drops_a_warning_once_given_and_brings_it_back_after_a_login():
    record = person("1", "李娜")
    now = T0 + WARN_AFTER + 2 * DAY
    warned = state(warned_at=T0 + WARN_AFTER + DAY)  # a day late: the suspension moves with it
    _, events = explain_upcoming(PersonView("1", record, warned, entry(), "HQ", "HQ"), ctx(now))
    assert [(e.when, e.what) for e in events] == [
        (T0 + WARN_AFTER + DAY + WARNING, "account is suspended for inactivity if it stays unused")]
    login = T0 + WARN_AFTER + 5 * DAY
    _, events = explain_upcoming(PersonView("1", record, warned, entry(last_bind=login), "HQ", "HQ"), ctx(login + DAY))
    assert [e.when for e in events] == [login + WARN_AFTER, login + SUSPEND_AFTER]


# -- inactivity through the engine: mail logins, rehire, when the daemon wakes -----------------


@pytest.fixture
def cycle(tmp_path):
    c = Cycle(make_settings(tmp_path), InMemoryDirectory(created=T0))
    yield c
    c.close()


def plan_with_mail(c: Cycle, snapshot: HrSnapshot, now: datetime, logins: dict[str, datetime | None]):
    boxes = tuple(Mailbox(address, address.split("@")[0], 1024, True, login, T0) for address, login in logins.items())
    return compute_plan(snapshot, c.directory.read_snapshot(), c.journal.load_state(), c.settings, now,
                        mail=MailSnapshot(boxes, (), ("example.com",)))


def test_a_mailbox_login_counts_as_use_when_it_is_later_than_the_last_bind(cycle):
    team = hr(person("1", "李娜"), person("2", "王芳"))
    cycle.apply(team, T0)
    cycle.directory.by_uid("lina")["mail"] = "LiNa@Example.com"  # addresses compare without case
    cycle.directory.by_uid("wangfang")["last_bind"] = T0 + 100 * DAY
    now = T0 + 100 * DAY + WARN_AFTER
    logins = {"lina@example.com": T0 + 100 * DAY, "wangfang@example.com": T0 + 50 * DAY}
    # 李娜 only read mail; 王芳's mailbox login is older than her last bind: the bind counts.
    assert inactivity(plan_with_mail(cycle, team, now - SECOND, logins)) == []
    assert inactivity(plan_with_mail(cycle, team, now, logins)) == [("warn_inactive", "1"), ("warn_inactive", "2")]
    # Without the mailbox logins 李娜 was due long ago; a mailbox that never logged in changes nothing.
    assert inactivity(plan_with_mail(cycle, team, T0 + WARN_AFTER, {"lina@example.com": None})) == [("warn_inactive", "1")]
    assert inactivity(cycle.plan(team, T0 + WARN_AFTER)) == [("warn_inactive", "1")]


def test_a_mailbox_login_after_the_warning_voids_it(cycle):
    team = hr(person("1", "李娜"))
    cycle.apply(team, T0)
    cycle.apply(team, T0 + WARN_AFTER)
    assert cycle.journal.person("1").warned_at == T0 + WARN_AFTER
    login = T0 + WARN_AFTER + 3 * DAY
    assert inactivity(cycle.plan(team, T0 + SUSPEND_AFTER)) == [("suspend_account", "1")]
    assert inactivity(plan_with_mail(cycle, team, T0 + SUSPEND_AFTER, {"lina@example.com": login})) == []
    assert inactivity(plan_with_mail(cycle, team, login + WARN_AFTER, {"lina@example.com": login})) == [("warn_inactive", "1")]


def test_the_engine_records_the_warning_and_the_suspension_with_their_instants(cycle):
    team = hr(person("1", "李娜"))
    cycle.apply(team, T0)
    plan, _ = cycle.apply(team, T0 + WARN_AFTER)
    [warn] = [a for a in plan.actions if a.kind == ActionKind.WARN_INACTIVE]
    assert (warn.target, warn.rule) == (f"uid=lina,{HQ_PEOPLE}", "inactivity")
    assert warn.params.state == {"warned_at": (T0 + WARN_AFTER).isoformat()}
    assert warn.params.mail == "lina@example.com"
    plan, _ = cycle.apply(team, T0 + SUSPEND_AFTER)
    [suspend] = [a for a in plan.actions if a.kind == ActionKind.SUSPEND_ACCOUNT]
    assert suspend.params.state == {"status": "suspended", "suspended_at": (T0 + SUSPEND_AFTER).isoformat(),
                                       "suspension_rule": "inactivity"}
    stored = cycle.journal.person("1")
    assert (stored.status, stored.suspended_at, stored.suspension_rule) == (
        PersonStatus.SUSPENDED, T0 + SUSPEND_AFTER, SuspensionRule.INACTIVITY)


def test_the_daemon_wakes_for_the_warning_and_then_for_the_suspension(cycle):
    team = hr(person("1", "李娜"))
    cycle.apply(team, T0)
    assert cycle.plan(team, T0 + DAY).next_due == T0 + WARN_AFTER
    cycle.apply(team, T0 + WARN_AFTER + 2 * DAY)  # warned two days late
    assert cycle.plan(team, T0 + WARN_AFTER + 3 * DAY).next_due == T0 + WARN_AFTER + 2 * DAY + WARNING
    cycle.directory.by_uid("lina")["last_bind"] = T0 + 190 * DAY  # a login voids the warning
    assert cycle.plan(team, T0 + 191 * DAY).next_due == T0 + 190 * DAY + WARN_AFTER


def test_a_rehire_is_not_suspended_on_a_warning_from_before_it_left(cycle):
    team = hr(person("1", "李娜"))
    cycle.apply(team, T0)
    cycle.apply(team, T0 + WARN_AFTER)  # warned
    leaving = hr(person("1", "李娜", left=date(2026, 6, 25)))
    plan, _ = cycle.apply(leaving, at("2026-06-25T09:00"))
    assert ("suspend_account", "1") in [(a.kind.value, a.employee_id) for a in plan.actions]
    back = at("2026-08-01T09:00")
    rehired = hr(person("1", "李娜", hire=date(2026, 8, 1)))
    plan, _ = cycle.apply(rehired, back)
    assert ("restore_account", "1") in [(a.kind.value, a.employee_id) for a in plan.actions]
    stored = cycle.journal.person("1")
    assert (stored.restored_at, stored.warned_at) == (back, None)
    assert inactivity(cycle.plan(rehired, back + WARNING + DAY)) == []
    assert inactivity(cycle.plan(rehired, back + WARN_AFTER - SECOND)) == []
    assert inactivity(cycle.plan(rehired, back + WARN_AFTER)) == [("warn_inactive", "1")]


def test_exempt_and_on_leave_people_are_spared_through_the_engine(tmp_path):
    c = Cycle(make_settings(tmp_path, policy={"inactivity_exempt": ["2"]}), InMemoryDirectory(created=T0))
    team = hr(person("1", "李娜"), person("2", "王芳"), person("3", "张伟", status=HrStatus.LEAVE))
    c.apply(team, T0)
    plan, _ = c.apply(team, T0 + 400 * DAY)
    assert inactivity(plan) == [("warn_inactive", "1")]
    plan, _ = c.apply(team, T0 + 400 * DAY + WARNING)
    assert inactivity(plan) == [("suspend_account", "1")]
    assert not c.directory.by_uid("wangfang").get("locked") and not c.directory.by_uid("zhangwei").get("locked")
    c.close()


# -- the outcome guard: each company's limit from its own accounts -------------------------------


def destructive(eid: str, company: str, kind: ActionKind = ActionKind.SUSPEND_ACCOUNT) -> Action:
    status = "deleted" if kind == ActionKind.DELETE_ACCOUNT else "suspended"
    return Action(kind, eid, company, f"uid=u{eid}", "leaver", "left", params=AccountParams(f"uid=u{eid}", {"status": status}))


def held_and_allowed(actions, accounts, settings: GuardSettings | None = None) -> tuple[dict[str, int], dict[str, int]]:
    guarded = guard_plan(actions, accounts, settings or GuardSettings())
    held: dict[str, int] = {}
    allowed: dict[str, int] = {}
    for h in guarded.held:
        held[h.action.company] = held.get(h.action.company, 0) + 1
    for a in guarded.allowed:
        allowed[a.company] = allowed.get(a.company, 0) + 1
    return held, allowed


def batch(**counts: int) -> list[Action]:
    return [destructive(f"{company}{i}", company) for company, n in counts.items() for i in range(n)]


def test_a_large_and_a_small_company_each_get_their_own_fraction():
    accounts = {"HQ": 1000, "SZ": 100}  # limits: HQ min(50, 5 % of 1000 = 50) = 50; SZ max(5, 5 % of 100 = 5) = 5
    assert held_and_allowed(batch(HQ=50, SZ=5), accounts) == ({}, {"HQ": 50, "SZ": 5})
    assert held_and_allowed(batch(HQ=50, SZ=6), accounts) == ({"SZ": 6}, {"HQ": 50})
    assert held_and_allowed(batch(HQ=51, SZ=5), accounts) == ({"HQ": 51}, {"SZ": 5})
    # The small company's count is not the sum, the largest, or the other company's.
    assert held_and_allowed(batch(HQ=8, SZ=8), {"HQ": 200, "SZ": 40}) == ({"SZ": 8}, {"HQ": 8})
    assert held_and_allowed(batch(HQ=8, SZ=8), {"HQ": 40, "SZ": 200}) == ({"HQ": 8}, {"SZ": 8})


def test_the_fraction_is_rounded_down():
    # 5 % of 139 accounts is 6.95: 6 may go, 7 wait; 5 % of 140 is exactly 7.
    assert held_and_allowed(batch(SZ=6, HQ=1), {"SZ": 139, "HQ": 10}) == ({}, {"SZ": 6, "HQ": 1})
    assert held_and_allowed(batch(SZ=7, HQ=1), {"SZ": 139, "HQ": 10}) == ({"SZ": 7}, {"HQ": 1})
    assert held_and_allowed(batch(SZ=7, HQ=1), {"SZ": 140, "HQ": 10}) == ({}, {"SZ": 7, "HQ": 1})


def test_the_floor_and_the_cap_apply_per_company():
    # Below the floor (5 % of 60 is 3): 5 go, 6 wait.  Above the cap (5 % of 5000 is 250): 50 go, 51 wait.
    assert held_and_allowed(batch(SZ=5, HQ=50), {"SZ": 60, "HQ": 5000}) == ({}, {"SZ": 5, "HQ": 50})
    assert held_and_allowed(batch(SZ=6, HQ=51), {"SZ": 60, "HQ": 5000}) == ({"SZ": 6, "HQ": 51}, {})
    # A company the directory has no accounts for yet is held to the floor.
    assert held_and_allowed(batch(GZ=5), {"HQ": 5000}) == ({}, {"GZ": 5})
    assert held_and_allowed(batch(GZ=6), {"HQ": 5000}) == ({"GZ": 6}, {})


def test_other_limits_are_read_from_the_settings():
    strict = GuardSettings(max_destructive=3, max_destructive_fraction=0.1, destructive_floor=1)
    # HQ: min(3, max(1, 10 % of 1000)) = 3; SZ: min(3, max(1, 10 % of 20)) = 2; GZ: min(3, max(1, 10 % of 5 = 0)) = 1.
    accounts = {"HQ": 1000, "SZ": 20, "GZ": 5}
    assert held_and_allowed(batch(HQ=3, SZ=2, GZ=1), accounts, strict) == ({}, {"HQ": 3, "SZ": 2, "GZ": 1})
    assert held_and_allowed(batch(HQ=4, SZ=3, GZ=2), accounts, strict) == ({"HQ": 4, "SZ": 3, "GZ": 2}, {})
    assert held_and_allowed(batch(HQ=1), accounts, GuardSettings(max_destructive=0)) == ({"HQ": 1}, {})


def test_suspensions_and_deletions_count_together_and_the_reason_gives_the_numbers():
    actions = [destructive(f"s{i}", "SZ") for i in range(3)] + [
        destructive(f"d{i}", "SZ", ActionKind.DELETE_ACCOUNT) for i in range(3)]
    guarded = guard_plan(actions + batch(HQ=6), {"SZ": 40, "HQ": 200}, GuardSettings())
    assert [a.company for a in guarded.allowed] == ["HQ"] * 6
    assert [h.action.employee_id for h in guarded.held] == ["s0", "s1", "s2", "d0", "d1", "d2"]
    assert all(h.approvable for h in guarded.held)
    assert guarded.held[0].reason == (
        "6 suspensions/deletions for SZ in one cycle exceed the limit of 5 (max_destructive 50, 5% of 40 accounts, "
        "floor 5); approve with `lifecycle approve`")


def test_what_leaves_with_a_held_suspension_waits_with_it_and_nothing_else_does():
    # A group left empty goes with its last members: its deletion names them as `leaving`.
    deletions = [Action(ActionKind.DELETE_GROUP, "", company, f"cn={company}-g", "groups", "nobody is left",
                        params=GroupDeletionParams(f"cn={company}-g", (f"{company}0",))) for company in ("SZ", "HQ")]
    guarded = guard_plan(batch(SZ=6, HQ=6) + deletions, {"SZ": 40, "HQ": 200}, GuardSettings())
    waiting = [h for h in guarded.held if h.action.kind == ActionKind.DELETE_GROUP]
    assert [(h.action.company, h.approvable, h.reason) for h in waiting] == [
        ("SZ", False, "waits for a held suspension of a member")]
    assert [a.company for a in guarded.allowed if a.kind == ActionKind.DELETE_GROUP] == ["HQ"]


def company_plan(people: dict[str, tuple[int, int]], now: datetime, extra_entries=()):
    """A pure plan for {company: (accounts, leavers)}: every account active, the leavers left yesterday."""
    people_dn = {"HQ": HQ_PEOPLE, "SZ": SZ_PEOPLE}
    records, entries, states = [], list(extra_entries), []
    for company, (accounts, leavers) in people.items():
        for i in range(accounts):
            eid = f"{company}{i:04d}"
            uid = f"u{eid.lower()}"
            left = (now - DAY).date() if i < leavers else None
            records.append(person(eid, "张伟", company, left=left))
            entries.append(DirectoryEntry(dn=f"uid={uid},{people_dn[company]}", uid=uid, employee_number=eid, created=T0))
            states.append(PersonState(eid, uid, company, PersonStatus.ACTIVE, created_at=T0))
    directory = DirectorySnapshot(tuple(entries), (), frozenset(e.uid for e in entries))
    return compute_plan(hr(*records), directory, StoredState(tuple(states)), SETTINGS, now)


def suspensions(plan) -> tuple[dict[str, int], dict[str, int]]:
    held: dict[str, int] = {}
    allowed: dict[str, int] = {}
    for h in plan.held:
        if h.action.kind == ActionKind.SUSPEND_ACCOUNT:
            held[h.action.company] = held.get(h.action.company, 0) + 1
    for a in plan.actions:
        if a.kind == ActionKind.SUSPEND_ACCOUNT:
            allowed[a.company] = allowed.get(a.company, 0) + 1
    return held, allowed


def test_the_engine_counts_each_companys_accounts_in_its_own_subtree():
    now = at("2026-12-01T09:00")
    # HQ 200 accounts (limit 10), SZ 40 (5 % is 2: the floor of 5 holds).
    assert suspensions(company_plan({"HQ": (200, 10), "SZ": (40, 5)}, now)) == ({}, {"HQ": 10, "SZ": 5})
    assert suspensions(company_plan({"HQ": (200, 10), "SZ": (40, 6)}, now)) == ({"SZ": 6}, {"HQ": 10})
    assert suspensions(company_plan({"HQ": (200, 11), "SZ": (40, 5)}, now)) == ({"HQ": 11}, {"SZ": 5})
    # Entries outside every company's subtree are nobody's accounts.
    outsiders = [DirectoryEntry(dn=f"uid=svc{i},ou=system,dc=example,dc=com", uid=f"svc{i}") for i in range(40)]
    assert suspensions(company_plan({"HQ": (200, 11)}, now, outsiders)) == ({"HQ": 11}, {})


# -- feed health: the drop boundary ---------------------------------------------------------------

COLUMNS = ("company", "employee_id", "name", "termination_date")


def rows(columns=COLUMNS, **counts: int) -> HrSnapshot:
    records = [person(f"{company}{i}", "张伟", company) for company, n in counts.items() for i in range(n)]
    return HrSnapshot(tuple(records), columns=tuple(columns))


def test_a_drop_of_exactly_max_feed_drop_does_not_freeze_and_one_row_more_does():
    base = FeedBaseline({"HQ": 100, "SZ": 50}, COLUMNS)
    assert frozen_companies(rows(HQ=80, SZ=40), base, SETTINGS) == {}  # exactly 20 % each
    assert list(frozen_companies(rows(HQ=79, SZ=40), base, SETTINGS)) == ["HQ"]
    assert list(frozen_companies(rows(HQ=80, SZ=39), base, SETTINGS)) == ["SZ"]
    assert list(frozen_companies(rows(HQ=79, SZ=39), base, SETTINGS)) == ["HQ", "SZ"]
    assert frozen_companies(rows(HQ=100, SZ=500), base, SETTINGS) == {}  # growth is never a problem


def test_the_drop_limit_is_read_from_the_settings(tmp_path):
    settings = make_settings(tmp_path, guards={"max_feed_drop": 0.5})
    base = FeedBaseline({"HQ": 10}, COLUMNS)
    assert frozen_companies(rows(HQ=5), base, settings) == {}
    assert list(frozen_companies(rows(HQ=4), base, settings)) == ["HQ"]
    strict = make_settings(tmp_path, guards={"max_feed_drop": 0})
    assert frozen_companies(rows(HQ=10), base, strict) == {}
    assert list(frozen_companies(rows(HQ=9), base, strict)) == ["HQ"]


def test_a_company_that_vanishes_from_the_export_is_frozen_even_with_one_row():
    base = FeedBaseline({"HQ": 100, "SZ": 1}, COLUMNS)
    frozen = frozen_companies(rows(HQ=100), base, SETTINGS)
    assert frozen == {"SZ": "SZ's HR rows dropped from 1 to 0 (100%, more than max_feed_drop 20%); "
                            "accept with `lifecycle accept-feed SZ` if the drop is real"}


def test_a_company_accepted_with_no_rows_is_not_divided_by_zero():
    base = FeedBaseline({"HQ": 10, "SZ": 0}, COLUMNS)  # `lifecycle accept-feed` of a company without rows
    assert frozen_companies(rows(HQ=10), base, SETTINGS) == {}
    assert frozen_companies(rows(HQ=10, SZ=3), base, SETTINGS) == {}


def test_a_whole_file_problem_freezes_every_company_with_its_reason():
    base = FeedBaseline({"HQ": 10}, COLUMNS)
    cut = HrSnapshot(rows(HQ=10).records, columns=COLUMNS, truncated=True)
    why = "the HR file looks cut off (its last row is incomplete and it has no final line break)"
    assert frozen_companies(cut, base, SETTINGS) == {"*": why, "HQ": why, "SZ": why}
    assert frozen_companies(cut, None, SETTINGS) == {"*": why, "HQ": why, "SZ": why}  # even on the first feed
    fewer = rows(("company", "employee_id"), HQ=10)
    why = "column(s) name, termination_date present in the last accepted export are missing"
    assert frozen_companies(fewer, base, SETTINGS) == {"*": why, "HQ": why, "SZ": why}
    # A snapshot that does not say which columns it had is not taken for one that lost them all.
    assert frozen_companies(rows((), HQ=10), base, SETTINGS) == {}


def test_the_baseline_keeps_the_old_counts_of_frozen_companies_and_the_old_columns_of_a_frozen_file():
    base = FeedBaseline({"HQ": 100, "SZ": 50}, COLUMNS)
    fewer = ("company", "employee_id", "name")
    kept = feed_baseline(rows(fewer, HQ=100, SZ=30), base, {"SZ": "dropped"})
    assert (kept.rows_per_company, kept.columns) == ({"HQ": 100, "SZ": 50}, fewer)  # new columns, old SZ count
    kept = feed_baseline(rows(fewer, HQ=90, SZ=30), base, {"*": "columns", "HQ": "columns", "SZ": "columns"})
    assert (kept.rows_per_company, kept.columns) == ({"HQ": 100, "SZ": 50}, COLUMNS)
    first = feed_baseline(rows(fewer, HQ=7), None, {"*": "cut off", "HQ": "cut off"})
    assert (first.rows_per_company, first.columns) == ({"HQ": 7}, fewer)  # nothing older to keep
    gz = feed_baseline(rows(HQ=100, SZ=50), FeedBaseline({"HQ": 100}, COLUMNS), {"SZ": "new"})
    assert gz.rows_per_company == {"HQ": 100, "SZ": 50}  # a company the old baseline did not know takes the new count


def test_an_exact_max_feed_drop_lets_the_engine_suspend_and_one_row_more_holds_it(cycle):
    staff = [person(f"S{i}", "张伟", "SZ") for i in range(10)]
    cycle.apply(hr(*staff), T0)
    cycle.journal.save_feed_baseline(FeedBaseline({"SZ": 10}, ()), T0)
    now = T0 + 2 * DAY
    leaver = person("S0", "张伟", "SZ", left=(T0 + DAY).date())
    exact = hr(leaver, *staff[1:8])  # 10 -> 8 rows: 20 %
    plan = cycle.plan(exact, now)
    assert plan.frozen == {} and ("suspend_account", "S0") in [(a.kind.value, a.employee_id) for a in plan.actions]
    more = hr(leaver, *staff[1:7])  # 10 -> 7 rows: 30 %
    plan = cycle.plan(more, now)
    assert list(plan.frozen) == ["SZ"]
    assert [(h.action.kind, h.action.employee_id, h.approvable) for h in plan.held] == [
        (ActionKind.REMOVE_MEMBER, "S0", False), (ActionKind.SUSPEND_ACCOUNT, "S0", False)]


def test_only_what_leaves_with_a_held_suspension_waits_and_a_rejection_keeps_its_reason():
    from policies.guards import action_key

    update = Action(ActionKind.UPDATE_ACCOUNT, "SZ0", "SZ", "uid=uSZ0", "mover", "title changed",
                    params=AttributeUpdateParams("uid=uSZ0", {"title": "经理"}))
    removal = Action(ActionKind.REMOVE_MEMBER, "SZ1", "SZ", "cn=SZ-g", "groups", "suspended",
                     params=MemberParams("cn=SZ-g", "uid=uSZ1"))
    guarded = guard_plan([*batch(SZ=6), update, removal], {"SZ": 40}, GuardSettings(), rejected=frozenset({action_key(removal)}))
    assert guarded.allowed == (update,)  # the held person's other changes go ahead
    assert [(h.action.kind, h.reason, h.approvable) for h in guarded.held][-1] == (
        ActionKind.REMOVE_MEMBER, "rejected by an admin; not applied while the rejection stands", False)


def test_approve_deletions_holds_each_deletion_with_its_reason():
    deletion = destructive("1", "HQ", ActionKind.DELETE_ACCOUNT)
    guarded = guard_plan([deletion], {"HQ": 1000}, GuardSettings(approve_deletions=True))
    assert [(h.reason, h.approvable) for h in guarded.held] == [
        ("every deletion waits for approval ([guards] approve_deletions = true)", True)]


def test_a_company_without_accounts_has_no_fraction_to_spend():
    everything = GuardSettings(max_destructive_fraction=1, destructive_floor=0)
    assert held_and_allowed(batch(GZ=1), {"HQ": 10}, everything) == ({"GZ": 1}, {})
    assert held_and_allowed(batch(HQ=10), {"HQ": 10}, everything) == ({}, {"HQ": 10})


def test_the_warning_and_suspension_name_the_companys_calendar_days_not_utcs():
    from datetime import UTC

    # 20:30 UTC is 04:30 the next morning in Shanghai: the person last logged in on 2026-01-02 there.
    login = datetime(2026, 1, 1, 20, 30, tzinfo=UTC)
    warned_now = login + WARN_AFTER
    warn, _ = decide_inactivity("1", entry(last_bind=login, created=None), state(created_at=None), EMPLOYED, ctx(warned_now))
    assert warn is not None and "no login since 2026-01-02;" in warn.reason
    suspend_day = (login + SUSPEND_AFTER).astimezone(at("2026-01-01").tzinfo).date()
    assert f"suspended on or after {suspend_day}" in warn.reason
    warned = state(created_at=None, warned_at=warned_now)
    _, suspend = decide_inactivity("1", entry(last_bind=login, created=None), warned, EMPLOYED, ctx(login + SUSPEND_AFTER))
    assert suspend is not None
    assert f"no login since 2026-01-02 (more than 183 days) and warned on {warned_now.astimezone(at('2026-01-01').tzinfo).date()}" in suspend.reason
