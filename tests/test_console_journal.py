"""The Journal's side of the console (lifecycle.journal.console) on a real SQLite store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from lifecycle.domain.models import Action, PersonOutlook, Plan, RejectedRow, Review, ReviewKind
from lifecycle.journal.console import PUBLISHED_ROWS
from lifecycle.journal.store import Journal

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


def published_plan() -> Plan:
    dn = "uid=xin,ou=sz,ou=people,dc=example,dc=com"
    joiner = Action.from_dict({
        "kind": "suspend_account", "employee_id": "200001", "company": "SZ", "target": dn, "changes": {},
        "rule": "leaver", "reason": "left", "params": {"dn": dn, "state": {"status": "suspended"}},
    })
    return Plan(now=NOW, actions=(joiner,), rejected=(RejectedRow(7, "hire_date", "bad", "fix it", "200002", "SZ"),),
                outlooks=(PersonOutlook("200001", "SZ", "新人", "not started", (("2026-12-15", "account is created"),)),))


def test_a_hold_on_someone_known_only_from_the_published_view_is_listed_for_their_company(tmp_path: Path) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        journal.publish("run-1", published_plan(), NOW)
        for employee_id in ("200001", "200002"):
            assert journal.company_of(employee_id) == "SZ"
            journal.set_hold(employee_id, "litigation", "szadmin", NOW, on=True, origin="console 10.0.0.1", company="SZ")
        assert {h["employee_id"] for h in journal.holds_of({"SZ"})} == {"200001", "200002"}
        assert journal.holds_of({"GZ"}) == []
        logged = list(journal.entries(kind="hold"))
        assert [(e.company, e.origin) for e in logged] == [("SZ", "console 10.0.0.1")] * 2
        assert journal.company_of("999999") is None
    finally:
        journal.close()


def test_publish_replaces_the_last_view_and_sessions_end_when_idle_or_closed(tmp_path: Path) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        journal.publish("run-1", published_plan(), NOW)
        journal.publish("run-2", Plan(now=NOW, actions=()), NOW)
        assert journal.published_views(["SZ"]) == {} and journal.outlook("200001") is None
        idle, lifetime = timedelta(minutes=30), timedelta(hours=12)
        opened = {"uid": "a", "dn": "uid=a", "display_name": "A", "groups": ["cn=r"], "address": "::1", "idle": idle,
                  "lifetime": lifetime}
        journal.open_session("k1", now=NOW, **opened)
        assert journal.session("k1", NOW + timedelta(minutes=29), idle, lifetime) is not None  # and its use is noted
        assert journal.session("k1", NOW + timedelta(minutes=58), idle, lifetime) is not None  # 29 min after that use
        assert journal.session("k1", NOW + timedelta(minutes=89), idle, lifetime) is None  # 31 min unused: gone for good
        assert journal.session("k1", NOW + timedelta(minutes=90), idle, lifetime) is None
        journal.open_session("k2", now=NOW, **opened)
        journal.end_session("k2")
        assert journal.session("k2", NOW, idle, lifetime) is None
        # Used every 20 minutes, a session still ends `lifetime` after its login.
        journal.open_session("k3", now=NOW, **opened)
        for minutes in range(20, 12 * 60, 20):
            assert journal.session("k3", NOW + timedelta(minutes=minutes), idle, lifetime) is not None, minutes
        assert journal.session("k3", NOW + lifetime, idle, lifetime) is None
        # A login removes the sessions that ended meanwhile, whoever's they were.
        journal.open_session("k4", now=NOW, **opened)
        journal.open_session("k5", now=NOW + timedelta(hours=1), **opened)
        with journal.engine.connect() as conn:
            assert [row[0] for row in conn.execute(text("SELECT sid FROM web_sessions"))] == ["k5"]
    finally:
        journal.close()


def test_the_log_limit_gives_the_newest_entries_in_order(tmp_path: Path) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        for n in range(5):
            journal.record_admin_event("accept_feed", f"T{n}", f"baseline {n}", "admin", NOW, company="SZ")
        assert [e.target for e in journal.entries(limit=2)] == ["T3", "T4"]
        assert [e.target for e in journal.entries(companies=["SZ"], limit=10)] == [f"T{n}" for n in range(5)]
        assert list(journal.entries(companies=["GZ"], limit=2)) == []
    finally:
        journal.close()


def test_an_initial_load_publishes_the_first_rows_of_each_list_and_their_totals(tmp_path: Path) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        joiners = tuple(
            Action.from_dict({"kind": "suspend_account", "employee_id": f"{n:06}", "company": "SZ", "target": f"uid=u{n}",
                              "changes": {}, "rule": "leaver", "reason": "left",
                              "params": {"dn": f"uid=u{n}", "state": {"status": "suspended"}}})
            for n in range(PUBLISHED_ROWS + 500)
        )
        journal.publish("run-1", Plan(now=NOW, actions=joiners), NOW)
        view = journal.published_views(["SZ"])["SZ"]
        assert len(view["actions"]) == PUBLISHED_ROWS and view["actions"][0]["employee_id"] == "000000"
        assert view["totals"] == {"actions": PUBLISHED_ROWS + 500, "rejected": 0, "reviews": 0, "adoptions": 0}
    finally:
        journal.close()


def test_many_findings_of_one_kind_never_crowd_out_the_adoptions(tmp_path: Path) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        absent = [Review(ReviewKind.ABSENT_FROM_HR, f"{n:06}", "SZ", f"uid=a{n}", "gone", "check HR")
                  for n in range(PUBLISHED_ROWS + 10)]
        unmatched = [Review(ReviewKind.UNMATCHED_ENTRY, "", "SZ", f"uid=old{n}", "no HR row", "adopt it") for n in range(3)]
        journal.publish("run-1", Plan(now=NOW, actions=(), reviews=tuple(absent + unmatched)), NOW)
        view = journal.published_views(["SZ"])["SZ"]
        kinds = [r["kind"] for r in view["reviews"]]
        assert kinds.count("absent_from_hr") == PUBLISHED_ROWS and kinds.count("unmatched_entry") == 3
        assert view["totals"]["reviews"] == PUBLISHED_ROWS + 13 and view["totals"]["adoptions"] == 3
    finally:
        journal.close()
