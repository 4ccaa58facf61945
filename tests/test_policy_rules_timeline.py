"""What `lifecycle explain` says comes next, and when a suspended account is deleted (tests/MUTATION.md).

`explain_upcoming` is the answer an admin reads, and `next_due` (built on it) is when the
daemon wakes up: a wrong date here is a late warning, suspension or deletion.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from lifecycle.domain.models import DirectoryEntry, HrStatus, PersonState, PersonStatus, SuspensionRule
from policies.context import PolicyContext
from policies.join import PersonView
from policies.retention import decide_deletion, deletion_due
from policies.timeline import explain_upcoming
from tests.harness import BASE, at, make_settings, person

SETTINGS = make_settings(Path("/nonexistent/policy-rules"))
TOKYO = ZoneInfo("Asia/Tokyo")
# SZ keeps its books in Tokyo time here: dates of SZ people start at midnight in Tokyo.
ZONED = make_settings(Path("/nonexistent/policy-rules"), companies=[
    {"code": "HQ", "name": "集团总部", "domain": "example.com", "people_dn": f"ou=hq,ou=people,{BASE}"},
    {"code": "SZ", "name": "深圳分公司", "domain": "sz.example.com", "people_dn": f"ou=sz,ou=people,{BASE}",
     "timezone": "Asia/Tokyo"},
])
DAY = timedelta(days=1)
T0 = at("2026-01-01T09:00")
WARN_AFTER = timedelta(days=169)
SUSPEND_AFTER = timedelta(days=183)


def ctx(now: datetime, settings=SETTINGS, holds: frozenset[str] = frozenset()) -> PolicyContext:
    return PolicyContext(settings, now, holds=holds)


def entry(company: str = "HQ", last_bind: datetime | None = None) -> DirectoryEntry:
    return DirectoryEntry(dn=f"uid=lina,ou={company.lower()},ou=people,{BASE}", uid="lina", employee_number="1",
                          created=T0, last_bind=last_bind)


def state(company: str = "HQ", **fields) -> PersonState:
    return PersonState("1", "lina", company, **({"status": PersonStatus.ACTIVE, "created_at": T0} | fields))


def suspended(rule: SuspensionRule | None = SuspensionRule.LEAVER, at_: datetime = T0) -> PersonState:
    return state(status=PersonStatus.SUSPENDED, suspended_at=at_, suspension_rule=rule)


def upcoming(view: PersonView, c: PolicyContext) -> list[tuple[object, str]]:
    _, events = explain_upcoming(view, c)
    return [(e.when, e.what) for e in events]


def test_a_future_hire_is_told_when_the_account_comes():
    record = person("1", "李娜", hire=date(2026, 3, 1))
    assert upcoming(PersonView("1", record, None, None, "HQ"), ctx(T0)) == [
        (date(2026, 3, 1), "account and mailbox are created (joiner)")]
    early = make_settings(Path("/nonexistent/policy-rules"), policy={"prehire_days": 3})
    assert upcoming(PersonView("1", record, None, None, "HQ"), ctx(T0, early)) == [
        (date(2026, 2, 26), "account and mailbox are created (joiner)")]


def test_a_suspended_account_is_told_its_deletion_date_or_its_hold():
    view = PersonView("1", person("1", "李娜", left=date(2026, 1, 1)), suspended(), entry(), "HQ", "HQ")
    due = T0 + timedelta(days=90)
    assert upcoming(view, ctx(T0 + DAY)) == [(due, "account is deleted (90 days after suspension), unless rehired or held")]
    assert upcoming(view, ctx(T0 + DAY, holds=frozenset({"1"}))) == [
        (due, "deletion would be due, but the account is on legal hold (`lifecycle release` lifts it)")]
    assert upcoming(view, ctx(T0 + DAY, holds=frozenset({"2"}))) == [
        (due, "account is deleted (90 days after suspension), unless rehired or held")]
    # A suspension without a recorded date has no deletion date to tell.
    undated = PersonView("1", view.hr, state(status=PersonStatus.SUSPENDED, suspension_rule=SuspensionRule.LEAVER), entry(),
                         "HQ", "HQ")
    assert upcoming(undated, ctx(T0 + DAY)) == []
    assert upcoming(undated, ctx(T0 + DAY, holds=frozenset({"1"}))) == []


def test_a_coming_departure_is_told_with_its_deletion_at_local_midnight_and_inactivity_stops_there():
    left = date(2026, 7, 1)  # after the inactivity warning (2026-06-19), before the suspension (2026-07-03)
    view = PersonView("1", person("1", "李娜", "SZ", left=left), state("SZ"), entry("SZ"), "SZ", "SZ")
    assert upcoming(view, ctx(T0 + DAY, ZONED)) == [
        (T0 + WARN_AFTER, "inactivity warning is sent if the account stays unused"),
        (left, "login is disabled and the account leaves its groups (leaver)"),
        (datetime(2026, 9, 29, tzinfo=TOKYO), "account is deleted after 90 days of retention"),
    ]
    assert datetime(2026, 9, 29, tzinfo=TOKYO) != at("2026-09-29T00:00")  # the company's zone, not the default one
    # Leaving before any inactivity date: only the departure and the deletion are told.
    early = PersonView("1", person("1", "李娜", left=date(2026, 2, 1)), state(), entry(), "HQ", "HQ")
    assert [what for _, what in upcoming(early, ctx(T0 + DAY))] == [
        "login is disabled and the account leaves its groups (leaver)", "account is deleted after 90 days of retention"]


def test_an_employee_already_gone_is_told_no_departure():
    view = PersonView("1", person("1", "李娜", left=date(2026, 1, 1)), state(), entry(), "HQ", "HQ")
    assert upcoming(view, ctx(T0 + DAY)) == []  # departed: the leaver rule acts now, nothing is "upcoming"


def test_inactivity_dates_are_told_only_for_an_active_account_that_exists():
    record = person("1", "李娜")
    assert upcoming(PersonView("1", record, state(), None, "HQ", "HQ"), ctx(T0 + DAY)) == []  # entry missing
    assert upcoming(PersonView("1", record, None, entry(), "HQ", "HQ"), ctx(T0 + DAY)) == []  # not ours yet
    inactive = state(status=PersonStatus.SUSPENDED, suspension_rule=SuspensionRule.INACTIVITY)
    assert upcoming(PersonView("1", record, inactive, entry(), "HQ", "HQ"), ctx(T0 + DAY)) == []
    assert upcoming(PersonView("1", record, state(), entry(), "HQ", "HQ"), ctx(T0 + DAY)) == [
        (T0 + WARN_AFTER, "inactivity warning is sent if the account stays unused"),
        (T0 + SUSPEND_AFTER, "account is suspended for inactivity if it stays unused"),
    ]


def test_a_warning_sent_on_time_is_not_told_again():
    # The daemon wakes at the warning's instant: warned_at is exactly the due date.
    view = PersonView("1", person("1", "李娜"), state(warned_at=T0 + WARN_AFTER), entry(), "HQ", "HQ")
    assert upcoming(view, ctx(T0 + WARN_AFTER + DAY)) == [
        (T0 + SUSPEND_AFTER, "account is suspended for inactivity if it stays unused")]


def test_people_on_leave_are_told_they_are_never_suspended_for_inactivity():
    view = PersonView("1", person("1", "李娜", status=HrStatus.LEAVE), state(), entry(), "HQ", "HQ")
    assert upcoming(view, ctx(T0 + DAY)) == [((T0 + DAY).date(), "never suspended for inactivity: on leave")]


def test_deletion_is_due_retention_days_after_a_recorded_suspension_only():
    assert deletion_due(suspended(), ctx(T0)) == T0 + timedelta(days=90)
    assert deletion_due(state(status=PersonStatus.SUSPENDED), ctx(T0)) is None  # no date recorded
    assert deletion_due(state(status=PersonStatus.ACTIVE, suspended_at=T0), ctx(T0)) is None  # given back
    assert deletion_due(state(status=PersonStatus.DELETED, suspended_at=T0), ctx(T0)) is None


def test_a_deletion_names_the_suspension_rule_and_the_retention():
    due = T0 + timedelta(days=90)
    assert decide_deletion(suspended(), ctx(due - timedelta(seconds=1))) is None
    step = decide_deletion(suspended(), ctx(due))
    assert (step.rule, step.reason) == ("leaver", "suspended on 2026-01-01 (leaver); retention of 90 days ended on 2026-04-01")
    step = decide_deletion(suspended(SuspensionRule.INACTIVITY), ctx(due))
    assert (step.rule, step.reason) == (
        "inactivity", "suspended on 2026-01-01 (inactivity); retention of 90 days ended on 2026-04-01")
    # A suspension recorded before rules were stored counts as a leaver's.
    step = decide_deletion(suspended(None), ctx(due))
    assert (step.rule, step.reason) == ("leaver", "suspended on 2026-01-01 (leaver); retention of 90 days ended on 2026-04-01")
    assert decide_deletion(suspended(), ctx(due, holds=frozenset({"1"}))) is None


def test_a_companys_own_time_zone_decides_its_today_its_midnights_and_its_wake_ups():
    from policies.timeline import next_due_of

    late = at("2026-02-28T23:30")  # already 2026-03-01 00:30 in Tokyo (SZ), still February in Shanghai (HQ)
    c = ctx(late, ZONED)
    assert (c.today("SZ"), c.today("HQ")) == (date(2026, 3, 1), date(2026, 2, 28))
    assert (c.zone("SZ"), c.zone("HQ")) == (TOKYO, ZoneInfo("Asia/Shanghai"))
    hire = date(2026, 3, 2)
    sz = PersonView("1", person("1", "李娜", "SZ", hire=hire), None, None, "SZ")
    hq = PersonView("2", person("2", "王芳", "HQ", hire=hire), None, None, "HQ")
    assert next_due_of([sz], c) == datetime(2026, 3, 2, tzinfo=TOKYO)
    assert next_due_of([hq], c) == at("2026-03-02T00:00")
    assert next_due_of([sz, hq], c) == datetime(2026, 3, 2, tzinfo=TOKYO)  # the earlier of the two instants


def test_the_daemon_wakes_when_an_absence_becomes_a_departure_and_never_at_now():
    from policies.timeline import next_due_of

    absent = make_settings(Path("/nonexistent/policy-rules"), hr={"absent_means": "terminated", "absent_days": 3})
    since = at("2026-03-01T10:00")
    view = PersonView("1", None, state(absent_since=since), entry(), "HQ", "HQ")
    assert next_due_of([view], ctx(since + DAY, absent)) == since + timedelta(days=3)
    # At the very instant an event is due, the next wake-up is the one after it.
    active = PersonView("1", person("1", "李娜"), state(), entry(), "HQ", "HQ")
    assert next_due_of([active], ctx(T0 + WARN_AFTER)) == T0 + SUSPEND_AFTER
    assert next_due_of([active], ctx(T0 + SUSPEND_AFTER)) is None


def test_a_rehire_is_told_inactivity_dates_from_the_day_it_was_given_back():
    restored = T0 + 300 * DAY
    view = PersonView("1", person("1", "李娜"), state(restored_at=restored), entry(), "HQ", "HQ")
    assert [when for when, _ in upcoming(view, ctx(restored + DAY))] == [restored + WARN_AFTER, restored + SUSPEND_AFTER]


def test_an_inactivity_date_at_the_very_midnight_of_the_last_day_is_not_told():
    midnight = at("2026-01-01T00:00")  # created at midnight: the warning falls at 2026-06-19 00:00
    made = DirectoryEntry(dn=f"uid=lina,ou=hq,ou=people,{BASE}", uid="lina", employee_number="1", created=midnight)
    view = PersonView("1", person("1", "李娜", left=date(2026, 6, 19)), state(created_at=midnight), made, "HQ", "HQ")
    assert [what for _, what in upcoming(view, ctx(midnight + DAY))] == [
        "login is disabled and the account leaves its groups (leaver)", "account is deleted after 90 days of retention"]
    view = PersonView("1", person("1", "李娜", left=date(2026, 6, 20)), state(created_at=midnight), made, "HQ", "HQ")
    assert next(when for when, _ in upcoming(view, ctx(midnight + DAY))) == midnight + WARN_AFTER


def test_policy_context_refuses_a_naive_now():
    import pytest

    with pytest.raises(ValueError, match="^now must be timezone-aware$"):
        PolicyContext(SETTINGS, datetime(2026, 1, 1, 9, 0))


def test_a_coming_departure_of_someone_suspended_for_inactivity_is_an_event_and_restarts_retention():
    from policies.context import start_of_day
    from policies.timeline import next_due_of

    leave_day = date(2026, 8, 10)
    record = person("1", "李娜", left=leave_day)  # still active in HR until that day
    view = PersonView("1", record, suspended(SuspensionRule.INACTIVITY, at_=T0 + SUSPEND_AFTER), entry(), "HQ")
    now = T0 + SUSPEND_AFTER + 10 * DAY
    events = upcoming(view, ctx(now))
    assert events == [
        (leave_day, "the departure takes over the suspension: mail is handled as a leaver's and retention counts from this day"),
        (start_of_day(leave_day, SETTINGS.company_zone("HQ")) + timedelta(days=90),
         "account is deleted (90 days after suspension), unless rehired or held"),
    ]
    # A daemon in quiet cycles wakes up for it, not only at the next full reconciliation.
    assert next_due_of([view], ctx(now)) == start_of_day(leave_day, SETTINGS.company_zone("HQ"))
    # A leaver's own suspension keeps its date.
    leaver = PersonView("1", record, suspended(SuspensionRule.LEAVER, at_=T0), entry(), "HQ")
    assert [what for _, what in upcoming(leaver, ctx(now))] == ["account is deleted (90 days after suspension), unless rehired or held"]
