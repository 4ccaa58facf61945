"""Who is told what (policies.notices), decided with the plan: events, recipients, languages, dates, digests.

Pure: plans are computed from hand-made snapshots (compute_plan), nothing is read or written.  HQ's notices
are in [notify] language (en); SZ has its own language (zh-CN) and time zone (America/Los_Angeles), far
enough from Shanghai's that a date in the wrong zone shows.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from lifecycle.domain.errors import StalePlanError
from lifecycle.domain.mail import Mailbox, MailCapability, MailSnapshot
from lifecycle.domain.models import (
    ActionKind,
    DirectoryEntry,
    DirectorySnapshot,
    Held,
    HrRecord,
    HrStatus,
    PersonState,
    PersonStatus,
    Plan,
    RejectedRow,
    Review,
    ReviewKind,
    StoredState,
    SuspensionRule,
)
from lifecycle.domain.notices import Notice, NoticeEvent
from lifecycle.domain.settings import Settings
from lifecycle.engine.cycle import check_saved_plan
from policies.context import PolicyContext
from policies.engine import compute_plan
from policies.notices import digest_due, digest_notice, notices_of_plan
from tests.harness import BASE, at, hr, person

DAY = timedelta(days=1)
NOW = at("2026-03-02T09:00")  # Shanghai: 2026-03-01 17:00 in Los Angeles
LA = ZoneInfo("America/Los_Angeles")
HQ_PEOPLE, SZ_PEOPLE = f"ou=hq,ou=people,{BASE}", f"ou=sz,ou=people,{BASE}"
BOSS = "boss@example.com"
HQ_DESK, SZ_DESK = "it-hq@example.com", "it-sz@sz.example.com"
SECRETS = ("test-bind-secret", "test-token")


def settings(*, notify: dict[str, Any] | None = None, mail: bool = False, hq: dict[str, Any] | None = None,
             accounts: dict[str, Any] | None = None, web: bool = False) -> Settings:
    data: dict[str, Any] = {
        "state": {"url": "sqlite:////nonexistent/policy-notices/state.db"},  # never opened: these tests are pure
        "hr": {"path": "/nonexistent/policy-notices/hr.csv"},
        "directory": {"bind_password": "test-bind-secret", "base_dn": BASE, "groups_dn": f"ou=groups,{BASE}"},
        "accounts": {"initial_password_dir": "/nonexistent/policy-notices/credentials", **(accounts or {})},
        "companies": [
            {"code": "HQ", "name": "集团总部", "domain": "example.com", "people_dn": HQ_PEOPLE, "notify_to": [HQ_DESK],
             **(hq or {})},
            {"code": "SZ", "name": "深圳分公司", "domain": "sz.example.com", "people_dn": SZ_PEOPLE,
             "notify_to": [SZ_DESK], "language": "zh-CN", "timezone": "America/Los_Angeles"},
        ],
    }
    if notify is not None:
        data["notify"] = notify
    if mail:
        data["mail"] = {"token": "test-token"}
    if web:
        data["web"] = {"base_url": "https://console.example.com/", "session_secret": "x" * 32}
    return Settings(**data)


NOTIFY = settings(notify={"language": "en"})
MAILING = settings(notify={"language": "en"}, mail=True)
ALL_MAIL = frozenset(MailCapability)


def entry(uid: str, employee_id: str, *, company: str = "HQ", locked: bool = False, last_bind: datetime | None = NOW - DAY,
          cn: str = "") -> DirectoryEntry:
    people, domain = (HQ_PEOPLE, "example.com") if company == "HQ" else (SZ_PEOPLE, "sz.example.com")
    return DirectoryEntry(dn=f"uid={uid},{people}", uid=uid, cn=cn or uid, mail=f"{uid}@{domain}",
                          employee_number=employee_id, locked=locked, last_bind=last_bind, created=NOW - 400 * DAY)


def active(employee_id: str, uid: str, company: str = "HQ", **fields: Any) -> PersonState:
    return PersonState(employee_id, uid, company, PersonStatus.ACTIVE, created_at=NOW - 400 * DAY, **fields)


BOSS_ROW = person("1", "王老板")
BOSS_ENTRY = entry("boss", "1", cn="王老板")
BOSS_STATE = active("1", "boss")


def world(*entries: DirectoryEntry, states: tuple[PersonState, ...] | None = None,
          **stored: Any) -> tuple[DirectorySnapshot, StoredState]:
    """The directory's entries and the stored state (the manager's, and `states`; the manager's alone by default)."""
    persons = (BOSS_STATE, *(states or ())) if BOSS_ENTRY in entries else tuple(states or ())
    return DirectorySnapshot(entries, (), frozenset(e.uid for e in entries)), StoredState(persons=persons, **stored)


def plan_of(records: tuple[HrRecord, ...], directory: DirectorySnapshot, state: StoredState, config: Settings = NOTIFY, *,
            now: datetime = NOW, mail: MailSnapshot | None = None, capabilities: frozenset[MailCapability] = ALL_MAIL) -> Plan:
    return compute_plan(hr(*records), directory, state, config, now, mail=mail,
                        capabilities=capabilities if mail is not None else frozenset())


def mailboxes(*addresses: str, forward: dict[str, tuple[str, ...]] | None = None) -> MailSnapshot:
    forward = forward or {}
    boxes = [Mailbox(a, a, 1024, True, None, NOW - 400 * DAY, forward.get(a, ())) for a in sorted(addresses)]
    return MailSnapshot(boxes, (), ("example.com", "sz.example.com"))


def only(plan: Plan, event: NoticeEvent) -> Notice:
    found = [n for n in plan.notices if n.event is event]
    assert len(found) == 1, plan.notices
    return found[0]


def joiner(employee_id: str = "2", name: str = "李娜", **fields: Any) -> HrRecord:
    return replace(person(employee_id, name, manager="1", hire=date(2026, 3, 2), title="工程师"), **fields)


# -- joiner ---------------------------------------------------------------------------------------------


def test_a_joiner_s_manager_is_told_with_the_branch_contact_in_cc_once_the_account_exists() -> None:
    plan = plan_of((BOSS_ROW, joiner()), *world(BOSS_ENTRY))
    create = next(a for a in plan.actions if a.kind is ActionKind.CREATE_ACCOUNT)
    notice = only(plan, NoticeEvent.JOINER)
    assert (notice.to, notice.cc, notice.language, notice.company, notice.employee_id) == ((BOSS,), (HQ_DESK,), "en", "HQ", "2")
    assert notice.cause == ("create_account", "2", create.target)  # without mail: the account is what is told
    uid = create.params.attributes.uid
    assert notice.facts == {
        "name": "李娜", "employee_id": "2", "company": "HQ", "company_name": "集团总部", "account": uid,
        "address": f"{uid}@example.com", "manager_name": "王老板", "contact": HQ_DESK, "password_page": "",
        "start_date": "2026-03-02", "department": "研发部", "title": "工程师", "password_delivery": "file",
    }


def test_an_initial_load_tells_no_manager_of_staff_hired_long_ago() -> None:
    recent, old = joiner("2", hire_date=date(2026, 1, 31)), joiner("3", "张伟", hire_date=date(2026, 1, 30))
    plan = plan_of((BOSS_ROW, recent, old), *world(BOSS_ENTRY))  # [notify] joiner_days: 30 by default
    assert {a.employee_id for a in plan.actions if a.kind is ActionKind.CREATE_ACCOUNT} == {"2", "3"}
    assert [n.employee_id for n in plan.notices if n.event is NoticeEvent.JOINER] == ["2"]


def test_with_mail_the_joiner_notice_follows_the_new_mailbox() -> None:
    plan = plan_of((BOSS_ROW, joiner()), *world(BOSS_ENTRY), MAILING, mail=mailboxes(BOSS))
    mailbox = next(a for a in plan.actions if a.kind is ActionKind.CREATE_MAILBOX and a.employee_id == "2")
    assert only(plan, NoticeEvent.JOINER).cause == ("create_mailbox", "2", mailbox.target)


def test_a_manager_hired_in_the_same_plan_is_told_at_the_new_address() -> None:
    new_boss = replace(BOSS_ROW, hire_date=date(2026, 3, 1))
    plan = plan_of((new_boss, joiner()), *world())
    boss_address = next(a.params.attributes.mail for a in plan.actions
                        if a.kind is ActionKind.CREATE_ACCOUNT and a.employee_id == "1")
    mine = next(n for n in plan.notices if n.employee_id == "2")
    assert (mine.to, mine.cc, mine.facts["manager_name"]) == ((boss_address,), (HQ_DESK,), "王老板")
    top = next(n for n in plan.notices if n.employee_id == "1")  # the new manager has no manager: the branch is told
    assert (top.to, top.cc) == ((HQ_DESK,), ())


def test_without_a_manager_the_branch_contact_is_told_and_without_either_nobody() -> None:
    plan = plan_of((BOSS_ROW, joiner(manager_id="")), *world(BOSS_ENTRY))
    notice = only(plan, NoticeEvent.JOINER)
    assert (notice.to, notice.cc, notice.facts["manager_name"]) == ((HQ_DESK,), (), "")
    quiet = settings(notify={"language": "en"}, hq={"notify_to": []})
    assert plan_of((BOSS_ROW, joiner(manager_id="")), *world(BOSS_ENTRY), quiet).notices == ()


def test_a_locked_or_departing_manager_is_not_written_to() -> None:
    locked = plan_of((BOSS_ROW, joiner()), *world(replace(BOSS_ENTRY, locked=True), states=(BOSS_STATE,)))
    assert only(locked, NoticeEvent.JOINER).to == (HQ_DESK,)
    leaving = plan_of((replace(BOSS_ROW, status=HrStatus.TERMINATED, termination_date=date(2026, 3, 1)), joiner()),
                      *world(BOSS_ENTRY))
    assert only(leaving, NoticeEvent.JOINER).to == (HQ_DESK,)


def test_a_contact_who_is_also_the_manager_is_written_to_once() -> None:
    config = settings(notify={"language": "en"}, hq={"notify_to": [BOSS.upper(), HQ_DESK]})
    notice = only(plan_of((BOSS_ROW, joiner()), *world(BOSS_ENTRY), config), NoticeEvent.JOINER)
    assert (notice.to, notice.cc) == ((BOSS,), (HQ_DESK,))


def made_earlier(hire: date = date(2026, 3, 2), **state: Any) -> tuple[DirectorySnapshot, StoredState]:
    """Lina's account, made in an earlier plan (an hour ago) whose mailbox creation failed."""
    made = PersonState("2", "lina", "HQ", PersonStatus.ACTIVE, created_at=NOW - timedelta(hours=1), **state)
    return world(BOSS_ENTRY, replace(entry("lina", "2", cn="李娜"), created=NOW - timedelta(hours=1)), states=(made,))


def test_a_mailbox_made_after_its_account_failed_first_still_tells_the_manager_once() -> None:
    first = plan_of((BOSS_ROW, joiner()), *world(BOSS_ENTRY), MAILING, mail=mailboxes(BOSS))
    assert only(first, NoticeEvent.JOINER).cause[0] == "create_mailbox"  # dropped when the mailbox fails
    again = plan_of((BOSS_ROW, joiner()), *made_earlier(), MAILING, mail=mailboxes(BOSS))
    mine = [a.kind for a in again.actions if a.employee_id == "2"]
    assert ActionKind.CREATE_MAILBOX in mine and ActionKind.CREATE_ACCOUNT not in mine
    notice = only(again, NoticeEvent.JOINER)
    assert (notice.to, notice.cc, notice.cause) == ((BOSS,), (HQ_DESK,), ("create_mailbox", "2", "lina@example.com"))
    assert (notice.facts["account"], notice.facts["address"], notice.facts["start_date"]) == (
        "lina", "lina@example.com", "2026-03-02")
    # Once the mailbox is there, nobody is told again.
    done = plan_of((BOSS_ROW, joiner()), *made_earlier(), MAILING, mail=mailboxes(BOSS, "lina@example.com"))
    assert done.notices == ()


def test_a_mailbox_made_later_for_long_standing_staff_or_a_restored_rehire_tells_no_manager() -> None:
    staff = plan_of((BOSS_ROW, joiner(hire_date=date(2020, 1, 1))), *made_earlier(), MAILING, mail=mailboxes(BOSS))
    assert any(a.kind is ActionKind.CREATE_MAILBOX and a.employee_id == "2" for a in staff.actions)
    assert staff.notices == ()  # [notify] joiner_days: their managers know them
    # A rehire whose account came back yesterday: the restore told the manager, its new mailbox does not again.
    restored = plan_of((BOSS_ROW, joiner()), *made_earlier(restored_at=NOW - DAY), MAILING, mail=mailboxes(BOSS))
    assert any(a.kind is ActionKind.CREATE_MAILBOX and a.employee_id == "2" for a in restored.actions)
    assert restored.notices == ()


def test_the_password_page_is_the_console_s() -> None:
    config = settings(notify={"language": "en"}, web=True)
    assert only(plan_of((BOSS_ROW, joiner()), *world(BOSS_ENTRY), config), NoticeEvent.JOINER).facts["password_page"] \
        == "https://console.example.com/password"


# -- inactivity -----------------------------------------------------------------------------------------


def idle(days: int, **state: Any) -> tuple[DirectorySnapshot, StoredState]:
    return world(BOSS_ENTRY, entry("lina", "2", last_bind=NOW - days * DAY), states=(active("2", "lina", **state),))


def test_an_inactivity_warning_goes_to_the_person_with_the_manager_in_cc() -> None:
    plan = plan_of((BOSS_ROW, joiner(hire_date=date(2020, 1, 1))), *idle(170))
    warn = next(a for a in plan.actions if a.kind is ActionKind.WARN_INACTIVE)
    notice = only(plan, NoticeEvent.INACTIVITY_WARNING)
    assert (notice.to, notice.cc, notice.cause) == (("lina@example.com",), (BOSS,), ("warn_inactive", "2", warn.target))
    # Suspension no earlier than 183 days after the last use, nor 14 days after this warning: here the latter.
    assert (notice.facts["suspend_on"], notice.facts["last_login"], notice.facts["idle_days"]) == (
        "2026-03-16", (NOW - 170 * DAY).date().isoformat(), 170)


def test_an_inactivity_suspension_tells_the_manager_when_the_account_goes() -> None:
    plan = plan_of((BOSS_ROW, joiner(hire_date=date(2020, 1, 1))), *idle(200, warned_at=NOW - 15 * DAY))
    notice = only(plan, NoticeEvent.INACTIVITY_SUSPENDED)
    assert (notice.to, notice.cc, notice.cause[0]) == ((BOSS,), (), "suspend_account")
    assert (notice.facts["suspended_on"], notice.facts["delete_on"]) == ("2026-03-02", "2026-05-31")  # 90 days later


# -- leaver ---------------------------------------------------------------------------------------------


def leaver_world(**stored: Any) -> tuple[DirectorySnapshot, StoredState]:
    return world(BOSS_ENTRY, entry("lina", "2"), states=(active("2", "lina"),), **stored)


LEAVER_ROW = joiner(hire_date=date(2020, 1, 1), status=HrStatus.TERMINATED, termination_date=date(2026, 3, 1))


def test_a_leaver_s_manager_hears_where_the_mail_goes_and_when_the_account_is_deleted() -> None:
    box = mailboxes(BOSS, "lina@example.com")
    plan = plan_of((BOSS_ROW, LEAVER_ROW), *leaver_world(), MAILING, mail=box)
    assert any(a.kind is ActionKind.FORWARD_MAIL for a in plan.actions)
    notice = only(plan, NoticeEvent.LEAVER_SUSPENDED)
    assert (notice.to, notice.cause[0], notice.cause[1]) == ((BOSS,), "suspend_account", "2")
    facts = notice.facts
    # With aliases the address keeps forwarding after the deletion: no end to tell.
    assert (facts["last_day"], facts["forward_to"], facts["forward_until"], facts["delete_on"]) == (
        "2026-03-01", BOSS, "", "2026-05-31")
    without_aliases = plan_of((BOSS_ROW, LEAVER_ROW), *leaver_world(), MAILING, mail=box,
                              capabilities=ALL_MAIL - {MailCapability.ALIASES})
    assert only(without_aliases, NoticeEvent.LEAVER_SUSPENDED).facts["forward_until"] == "2026-05-31"


def test_a_leaver_under_legal_hold_has_no_deletion_date() -> None:
    plan = plan_of((BOSS_ROW, LEAVER_ROW), *leaver_world(holds=frozenset({"2"})))
    facts = only(plan, NoticeEvent.LEAVER_SUSPENDED).facts
    assert (facts["delete_on"], facts["forward_to"], facts["forward_until"]) == ("", "", "")


def test_a_held_suspension_tells_no_one_until_it_is_applied() -> None:
    held = plan_of((BOSS_ROW, LEAVER_ROW), *leaver_world())
    suspend = next(a for a in held.actions if a.kind is ActionKind.SUSPEND_ACCOUNT)
    rejected = frozenset({("suspend_account", "2", suspend.target)})
    plan = plan_of((BOSS_ROW, LEAVER_ROW), *leaver_world(rejected=rejected))
    assert [h.action.kind for h in plan.held] == [ActionKind.SUSPEND_ACCOUNT]
    assert plan.notices == ()


def test_a_departure_taking_over_an_inactivity_suspension_tells_the_manager_and_a_relock_does_not() -> None:
    idle_suspended = PersonState("2", "lina", "HQ", PersonStatus.SUSPENDED, created_at=NOW - 400 * DAY,
                                 suspended_at=NOW - 30 * DAY, suspension_rule=SuspensionRule.INACTIVITY)
    plan = plan_of((BOSS_ROW, LEAVER_ROW), *world(BOSS_ENTRY, entry("lina", "2", locked=True), states=(idle_suspended,)))
    notice = only(plan, NoticeEvent.LEAVER_SUSPENDED)
    assert (notice.to, notice.cause) == ((BOSS,), ("record_state", "2", "2"))
    assert notice.facts["delete_on"] == "2026-05-31"  # retention counts from the departure
    # A leaver's account unlocked by hand is locked again, its suspension date kept: the manager was told already.
    leaver_suspended = replace(idle_suspended, suspension_rule=SuspensionRule.LEAVER)
    relocked = plan_of((BOSS_ROW, LEAVER_ROW), *world(BOSS_ENTRY, entry("lina", "2"), states=(leaver_suspended,)))
    assert [a.kind for a in relocked.actions if a.employee_id == "2"][:1] == [ActionKind.SUSPEND_ACCOUNT]
    assert relocked.notices == ()


def test_a_departure_by_long_absence_dates_the_last_day_from_the_first_absent_day() -> None:
    config = settings(notify={"language": "en"}).model_copy(update={"hr": NOTIFY.hr.model_copy(
        update={"absent_means": "terminated"})})
    absent = active("2", "lina", absent_since=at("2026-01-10T03:00"))
    plan = plan_of((BOSS_ROW,), *world(BOSS_ENTRY, entry("lina", "2"), states=(absent,)), config)
    notice = only(plan, NoticeEvent.LEAVER_SUSPENDED)
    assert (notice.to, notice.facts["last_day"], notice.facts["name"]) == ((HQ_DESK,), "2026-01-10", "lina")


# -- branch transfer ------------------------------------------------------------------------------------


def transfer_world() -> tuple[DirectorySnapshot, StoredState]:
    return world(BOSS_ENTRY, entry("lina", "2"), states=(active("2", "lina"),))


MOVED_ROW = joiner(hire_date=date(2020, 1, 1), company="SZ")


def test_a_branch_transfer_tells_the_person_at_the_new_address_in_the_new_company_s_language_and_time() -> None:
    plan = plan_of((BOSS_ROW, MOVED_ROW), *transfer_world(), MAILING, mail=mailboxes(BOSS, "lina@example.com"))
    alias = next(a for a in plan.actions if a.kind is ActionKind.CREATE_ALIAS)
    notice = only(plan, NoticeEvent.BRANCH_TRANSFER)
    assert (notice.to, notice.cc, notice.language, notice.company) == (("lina@sz.example.com",), (), "zh-CN", "SZ")
    assert notice.cause == ("rename_mailbox", "2", "lina@example.com")
    expires = datetime.fromisoformat(alias.params.expires)
    assert expires.astimezone(LA).date() != expires.date()  # the zone matters for this date
    assert notice.facts["old_until"] == expires.astimezone(LA).date().isoformat()
    assert (notice.facts["old_address"], notice.facts["new_address"], notice.facts["new_company_name"],
            notice.facts["address"], notice.facts["contact"]) == (
        "lina@example.com", "lina@sz.example.com", "深圳分公司", "lina@sz.example.com", SZ_DESK)


def test_without_mail_the_move_to_the_new_company_tells_the_person() -> None:
    plan = plan_of((BOSS_ROW, MOVED_ROW), *transfer_world())
    move = next(a for a in plan.actions if a.kind is ActionKind.MOVE_ACCOUNT)
    notice = only(plan, NoticeEvent.BRANCH_TRANSFER)
    assert (notice.to, notice.cause, notice.facts["old_until"]) == (
        ("lina@sz.example.com",), ("move_account", "2", move.target), "")


# -- rehire and the first password ----------------------------------------------------------------------


def rehire_world() -> tuple[DirectorySnapshot, StoredState]:
    suspended = PersonState("2", "lina", "HQ", PersonStatus.SUSPENDED, created_at=NOW - 400 * DAY,
                            suspended_at=NOW - 30 * DAY, suspension_rule=SuspensionRule.LEAVER)
    return world(BOSS_ENTRY, entry("lina", "2", locked=True), states=(suspended,))


REHIRED_ROW = joiner(hire_date=date(2026, 3, 2))


def test_a_rehire_gets_the_account_back_then_a_fresh_password_and_the_manager_is_told() -> None:
    plan = plan_of((BOSS_ROW, REHIRED_ROW), *rehire_world())
    mine = [a for a in plan.actions if a.employee_id == "2" and a.kind in (ActionKind.RESTORE_ACCOUNT, ActionKind.RESET_PASSWORD)]
    assert [a.kind for a in mine] == [ActionKind.RESTORE_ACCOUNT, ActionKind.RESET_PASSWORD]
    reset = mine[1]
    # The restore makes a fresh password due; the reset that gives it clears that (tests/test_rehire_reset.py).
    assert mine[0].params.state["reset_due_at"] == NOW.isoformat()
    assert (reset.params.uid, reset.params.mail, dict(reset.params.state), reset.rule) == (
        "lina", "lina@example.com", {"reset_due_at": None}, "rehire")
    notice = only(plan, NoticeEvent.REHIRE)
    assert (notice.to, notice.cause, notice.facts["start_date"]) == ((BOSS,), ("restore_account", "2", mine[0].target),
                                                                     "2026-03-02")
    assert all(n.event is not NoticeEvent.INITIAL_PASSWORD for n in plan.notices)  # delivery "file": no mail


PERSONAL = settings(notify={"language": "en"}, accounts={"initial_password_delivery": "personal_email",
                                                          "personal_email_opt_in": True})


def test_the_first_password_goes_to_the_personal_address_only() -> None:
    plan = plan_of((BOSS_ROW, joiner(personal_email="Li.Na@QQ.com")), *world(BOSS_ENTRY), PERSONAL)
    create = next(a for a in plan.actions if a.kind is ActionKind.CREATE_ACCOUNT)
    notice = only(plan, NoticeEvent.INITIAL_PASSWORD)
    assert (notice.to, notice.cc, notice.cause) == (("li.na@qq.com",), (), ("create_account", "2", create.target))
    assert (notice.facts["login"], notice.facts["address"]) == (create.params.attributes.uid, create.params.attributes.mail)
    assert only(plan, NoticeEvent.JOINER).facts["password_delivery"] == "personal_email"
    assert [r for r in plan.reviews if r.kind is ReviewKind.NO_PERSONAL_EMAIL] == []


def test_a_rehire_s_fresh_password_goes_to_the_personal_address() -> None:
    plan = plan_of((BOSS_ROW, replace(REHIRED_ROW, personal_email="lina@gmail.com")), *rehire_world(), PERSONAL)
    reset = next(a for a in plan.actions if a.kind is ActionKind.RESET_PASSWORD)
    notice = only(plan, NoticeEvent.INITIAL_PASSWORD)
    assert (notice.to, notice.cause) == (("lina@gmail.com",), ("reset_password", "2", reset.target))


@pytest.mark.parametrize("personal", ["", "lina@example.com", "lina@SZ.example.com", "x@mail.example.com",
                                      # a root's trailing dot, any case, full-width letters and dots (IDNA)
                                      "lina@example.com.", "lina@EXAMPLE.COM.", "lina@sz.example.com..",
                                      "lina@ｅｘａｍｐｌｅ.com", "lina@example。com", "lina@mail.Example.com."])
def test_no_password_to_a_corporate_address_or_nowhere_a_review_instead(personal: str) -> None:
    plan = plan_of((BOSS_ROW, joiner(personal_email=personal)), *world(BOSS_ENTRY), PERSONAL)
    assert all(n.event is not NoticeEvent.INITIAL_PASSWORD for n in plan.notices)
    (review,) = [r for r in plan.reviews if r.kind is ReviewKind.NO_PERSONAL_EMAIL]
    assert (review.employee_id, review.company) == ("2", "HQ")
    assert ("no personal_email" if not personal else "own mail domain") in review.reason
    # Where the password is now, and that nothing sends it later.
    assert "/nonexistent/policy-notices/credentials/HQ/2.txt" in review.fix and "personal_email" in review.fix
    assert "later does not send this password" in review.fix


@pytest.mark.parametrize("personal", ["lina@exa..mple.com", "lina@.qq.com"])
def test_a_personal_address_whose_domain_is_no_name_gets_no_password(personal: str) -> None:
    plan = plan_of((BOSS_ROW, joiner(personal_email=personal)), *world(BOSS_ENTRY), PERSONAL)
    assert all(n.event is not NoticeEvent.INITIAL_PASSWORD for n in plan.notices)
    (review,) = [r for r in plan.reviews if r.kind is ReviewKind.NO_PERSONAL_EMAIL]
    assert "not a valid domain name" in review.reason


def test_a_rehire_s_reset_planned_again_sends_the_fresh_password_and_tells_the_manager_nothing_new() -> None:
    """The restore was applied yesterday, its reset failed: the reset is planned again, its notice with it."""
    back = PersonState("2", "lina", "HQ", PersonStatus.ACTIVE, created_at=NOW - 400 * DAY, restored_at=NOW - DAY,
                       reset_due_at=NOW - DAY)
    directory, state = world(BOSS_ENTRY, entry("lina", "2", cn="李娜"), states=(back,))
    plan = plan_of((BOSS_ROW, replace(REHIRED_ROW, personal_email="lina@gmail.com")), directory, state, PERSONAL)
    reset = next(a for a in plan.actions if a.employee_id == "2" and a.kind is ActionKind.RESET_PASSWORD)
    assert (reset.rule, reset.target, dict(reset.params.state)) == ("rehire", entry("lina", "2").dn, {"reset_due_at": None})
    assert "due since the rehire on 2026-03-01" in reset.reason
    notice = only(plan, NoticeEvent.INITIAL_PASSWORD)
    assert (notice.to, notice.cause) == (("lina@gmail.com",), ("reset_password", "2", reset.target))
    assert [n.event for n in plan.notices] == [NoticeEvent.INITIAL_PASSWORD]  # the rehire notice went with the restore
    # Given: nothing more is due.
    given = plan_of((BOSS_ROW, replace(REHIRED_ROW, personal_email="lina@gmail.com")),
                    *world(BOSS_ENTRY, entry("lina", "2", cn="李娜"), states=(replace(back, reset_due_at=None),)), PERSONAL)
    assert all(a.kind is not ActionKind.RESET_PASSWORD for a in given.actions) and given.notices == ()


def test_a_due_reset_waits_while_the_account_is_locked_and_an_account_made_later_owes_none() -> None:
    back = PersonState("2", "lina", "HQ", PersonStatus.ACTIVE, created_at=NOW - 400 * DAY, restored_at=NOW - DAY,
                       reset_due_at=NOW - DAY)
    locked = plan_of((BOSS_ROW, REHIRED_ROW), *world(BOSS_ENTRY, entry("lina", "2", locked=True), states=(back,)))
    assert all(a.kind is not ActionKind.RESET_PASSWORD for a in locked.actions)
    remade = replace(back, created_at=NOW - timedelta(hours=1))  # made again since: it got a password of its own
    fresh = plan_of((BOSS_ROW, REHIRED_ROW), *world(BOSS_ENTRY, entry("lina", "2"), states=(remade,)))
    assert all(a.kind is not ActionKind.RESET_PASSWORD for a in fresh.actions)


# -- everything at once: language, secrets, notify off --------------------------------------------------


def busy_plan(config: Settings) -> Plan:
    """A joiner, a warning, a leaver, a transfer and a rehire in one plan."""
    records = (BOSS_ROW, joiner("2", personal_email="a@qq.com"),
               joiner("3", "周杰", hire_date=date(2020, 1, 1)),
               replace(LEAVER_ROW, employee_id="4", name="吴敏"),
               replace(MOVED_ROW, employee_id="5", name="郑强"),
               replace(REHIRED_ROW, employee_id="6", name="孙丽", personal_email="b@163.com"))
    suspended = PersonState("6", "sunli", "HQ", PersonStatus.SUSPENDED, created_at=NOW - 400 * DAY,
                            suspended_at=NOW - 30 * DAY, suspension_rule=SuspensionRule.LEAVER)
    directory, state = world(BOSS_ENTRY, entry("zhoujie", "3", last_bind=NOW - 170 * DAY), entry("wumin", "4"),
                             entry("zhengqiang", "5"), entry("sunli", "6", locked=True),
                             states=(active("3", "zhoujie"), active("4", "wumin"), active("5", "zhengqiang"), suspended))
    boxes = mailboxes(BOSS, "zhoujie@example.com", "wumin@example.com", "zhengqiang@example.com", "sunli@example.com")
    return plan_of(records, directory, state, config, mail=boxes if config.mail is not None else None)


def test_every_event_in_one_plan_in_each_company_s_language_and_no_secret_anywhere() -> None:
    config = settings(notify={"language": "en"}, mail=True, web=True,
                      accounts={"initial_password_delivery": "personal_email", "personal_email_opt_in": True})
    plan = busy_plan(config)
    events = sorted((n.employee_id, n.event.value) for n in plan.notices)
    assert events == [("2", "initial_password"), ("2", "joiner"), ("3", "inactivity_warning"), ("4", "leaver_suspended"),
                      ("5", "branch_transfer"), ("6", "initial_password"), ("6", "rehire")]
    assert {n.employee_id: n.language for n in plan.notices} == {"2": "en", "3": "en", "4": "en", "5": "zh-CN", "6": "en"}
    for notice in plan.notices:
        text = json.dumps(notice.to_dict(), ensure_ascii=False)
        assert json.loads(text) == notice.to_dict()  # JSON values only
        assert not any(secret in text for secret in SECRETS)
        assert {k for k in notice.facts if "password" in k or "secret" in k} <= {"password_page", "password_delivery"}
        assert Notice.from_dict(notice.to_dict()) == notice
    # The saved plan carries them.
    assert [Notice.from_dict(n) for n in plan.to_dict()["notices"]] == list(plan.notices)


def test_without_notify_nothing_is_sent_and_nobody_is_looked_at() -> None:
    config = settings(mail=True)
    plan = busy_plan(config)
    assert plan.notices == () and plan.actions
    assert [r for r in plan.reviews if r.kind is ReviewKind.NO_PERSONAL_EMAIL] == []

    class Untouchable(list):  # the engine's views: not even iterated without [notify]
        def __iter__(self):  # type: ignore[no-untyped-def]
            raise AssertionError("views looked at")

    told = notices_of_plan(plan.actions, Untouchable(), DirectorySnapshot(()), PolicyContext(config, NOW))
    assert told == ((), ())


# -- saved plans ------------------------------------------------------------------------------------------


def test_a_saved_plan_whose_notices_differ_is_stale() -> None:
    plan = plan_of((BOSS_ROW, joiner()), *world(BOSS_ENTRY))
    saved = json.loads(json.dumps(plan.to_dict()))
    check_saved_plan(saved, plan)  # the same: accepted
    changed = json.loads(json.dumps(plan.to_dict()))
    changed["notices"][0]["to"] = ["someone@example.com"]
    with pytest.raises(StalePlanError, match="who is told what changed"):
        check_saved_plan(changed, plan)
    older = {k: v for k, v in saved.items() if k != "notices"}  # made before notices: nobody was told in it
    with pytest.raises(StalePlanError, match="newly sent: joiner about 2 to boss@example.com"):
        check_saved_plan(older, plan)
    broken = json.loads(json.dumps(plan.to_dict()))
    broken["notices"][0]["event"] = "gossip"
    with pytest.raises(StalePlanError, match="a notice this version does not plan"):
        check_saved_plan(broken, plan)


# -- the daily digest -------------------------------------------------------------------------------------


def held_dict(employee_id: str, company: str) -> dict[str, Any]:
    plan = plan_of((BOSS_ROW, LEAVER_ROW), *leaver_world())
    action = replace(next(a for a in plan.actions if a.kind is ActionKind.SUSPEND_ACCOUNT), employee_id=employee_id,
                     company=company)
    return Held(action, "more than 10 suspensions").to_dict()


def test_the_digest_lists_a_branch_s_own_items_and_counts_them_all() -> None:
    company = NOTIFY.companies[1]
    rejected = [RejectedRow(n, "hire_date", "not a date", "write it as 2026-01-02", f"s{n}", "SZ") for n in range(60)]
    rejected.append(RejectedRow(99, "company", "unknown company", "fix", "h1", "HQ"))
    reviews = [Review(ReviewKind.UNKNOWN_MANAGER, "s1", "SZ", "row 3", "no such manager", "correct it"),
               Review(ReviewKind.UNKNOWN_MANAGER, "h1", "HQ", "row 4", "no such manager", "correct it")]
    notice = digest_notice(company, date(2026, 3, 1), [held_dict("s2", "SZ"), held_dict("h2", "HQ")], rejected, reviews, NOTIFY)
    assert notice is not None
    assert (notice.event, notice.to, notice.cc, notice.cause, notice.key, notice.language, notice.employee_id) == (
        NoticeEvent.DIGEST, (SZ_DESK,), (), None, "digest/SZ/2026-03-01", "zh-CN", "")
    facts = notice.facts
    assert (facts["date"], facts["counts"]) == ("2026-03-01", {"held": 1, "rejected": 60, "reviews": 1})
    assert len(facts["rejected"]) == 50 and facts["rejected"][0] == {
        "row": 0, "key": "", "field": "hire_date", "reason": "not a date", "fix": "write it as 2026-01-02", "employee_id": "s0"}
    assert facts["held"] == [{"employee_id": "s2", "kind": "suspend_account", "target": facts["held"][0]["target"],
                              "reason": "more than 10 suspensions"}]
    assert facts["reviews"] == [{"kind": "unknown_manager", "employee_id": "s1", "target": "row 3",
                                 "reason": "no such manager", "fix": "correct it"}]
    assert json.loads(json.dumps(notice.to_dict())) == notice.to_dict()


def test_no_digest_without_news_a_contact_or_notify() -> None:
    company = NOTIFY.companies[1]
    assert digest_notice(company, date(2026, 3, 1), [], [], [], NOTIFY) is None
    news = [Review(ReviewKind.UNKNOWN_MANAGER, "s1", "SZ", "row 3", "no such manager", "correct it")]
    assert digest_notice(company.model_copy(update={"notify_to": ()}), date(2026, 3, 1), [], [], news, NOTIFY) is None
    assert digest_notice(company, date(2026, 3, 1), [], [], news, settings()) is None
    assert digest_notice(company, date(2026, 3, 1), [], [], news, NOTIFY) is not None


def test_a_digest_is_due_once_a_day_after_digest_at_in_the_company_s_time() -> None:
    hq, sz = NOTIFY.companies
    # 08:30 in Shanghai; 08:30 in Los Angeles is 00:30 the next day in Shanghai.
    assert digest_due(hq, None, at("2026-03-02T08:29"), NOTIFY) is None
    assert digest_due(hq, None, at("2026-03-02T08:30"), NOTIFY) == date(2026, 3, 2)
    assert digest_due(hq, date(2026, 3, 1), at("2026-03-02T12:00"), NOTIFY) == date(2026, 3, 2)
    assert digest_due(hq, date(2026, 3, 2), at("2026-03-02T23:59"), NOTIFY) is None
    assert digest_due(sz, None, at("2026-03-03T00:29"), NOTIFY) is None
    assert digest_due(sz, date(2026, 3, 1), at("2026-03-03T00:30"), NOTIFY) == date(2026, 3, 2)
    assert digest_due(hq, None, at("2026-03-02T12:00"), settings()) is None


def test_the_digest_as_sent_names_a_file_row_by_its_number_and_an_api_record_by_its_key() -> None:
    from zoneinfo import ZoneInfo

    from connectors.notices import compose

    rejected = [RejectedRow(50, "termination_date", "before the hire date", "correct one of the dates", "s50", "SZ"),
                RejectedRow(0, "hire_date", "not a date", "write it as 2026-01-02", "s7", "SZ", key="manager4410")]
    notice = digest_notice(NOTIFY.companies[1], date(2026, 3, 1), [], rejected, [], NOTIFY)
    assert notice is not None
    message = compose(notice, sender="IT <it@example.com>", message_id="<lifecycle.digest.x@example.com>",
                      zone=ZoneInfo("Asia/Shanghai"), now=NOW)
    body = message.get_body(("plain",)).get_content()
    assert "第 50 行（工号 s50）" in body and "记录 manager4410（工号 s7）" in body and "row" not in body
