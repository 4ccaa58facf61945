"""Guards and feed health as pure functions, and through the engine."""

from __future__ import annotations

from datetime import date, timedelta

from lifecycle.domain.action_params import AccountParams, AliasParams, MemberParams, NewAccountParams, NewEntryAttributes
from lifecycle.domain.models import Action, ActionKind, FeedBaseline, HrSnapshot
from lifecycle.domain.settings import GuardSettings
from lifecycle.testing import InMemoryDirectory
from policies.feed_health import feed_baseline, frozen_companies
from policies.guards import action_key, guard_plan
from tests.harness import Cycle, at, hr, kinds, make_settings, person

NOW = at("2026-12-01T09:00")


def suspend(eid: str, company: str = "HQ") -> Action:
    return Action(ActionKind.SUSPEND_ACCOUNT, eid, company, f"uid=u{eid}", "leaver", "left", params=AccountParams(f"uid=u{eid}", {"status": "suspended"}))


def remove(eid: str, company: str = "HQ") -> Action:
    return Action(ActionKind.REMOVE_MEMBER, eid, company, "cn=g", "groups", "suspended", params=MemberParams("cn=g", f"uid=u{eid}"))


def test_mass_suspension_is_held_per_company_and_the_rest_goes_ahead():
    actions = [suspend(str(i)) for i in range(60)] + [remove(str(i)) for i in range(60)] + [suspend("sz1", "SZ")]
    guarded = guard_plan(actions, {"HQ": 5000, "SZ": 100}, GuardSettings())
    assert len(guarded.held) == 120  # 60 suspensions > 50, and their group removals wait with them
    assert [a.employee_id for a in guarded.allowed] == ["sz1"]
    assert all(h.approvable for h in guarded.held if h.action.kind == ActionKind.SUSPEND_ACCOUNT)
    assert not any(h.approvable for h in guarded.held if h.action.kind == ActionKind.REMOVE_MEMBER)
    assert "exceed the limit of 50" in guarded.held[0].reason


def test_fraction_of_a_small_company_with_a_floor():
    settings = GuardSettings()  # 5 % of 40 accounts is 2, but the floor lets 5 through
    assert len(guard_plan([suspend(str(i)) for i in range(5)], {"HQ": 40}, settings).held) == 0
    assert len(guard_plan([suspend(str(i)) for i in range(6)], {"HQ": 40}, settings).held) == 6
    assert len(guard_plan([suspend(str(i)) for i in range(50)], {"HQ": 1000}, settings).held) == 0  # exactly 5 %
    assert len(guard_plan([suspend(str(i)) for i in range(51)], {"HQ": 1000}, settings).held) == 51


def test_approved_actions_pass_and_rejected_ones_do_not():
    actions = [suspend(str(i)) for i in range(8)]
    approved = frozenset(action_key(a) for a in actions[:7])
    rejected = frozenset({action_key(actions[7])})
    guarded = guard_plan(actions, {"HQ": 40}, GuardSettings(), approved=approved, rejected=rejected)
    assert [a.employee_id for a in guarded.allowed] == [str(i) for i in range(7)]
    assert [(h.action.employee_id, h.approvable) for h in guarded.held] == [("7", False)]


def test_every_deletion_waits_when_configured():
    delete = Action(ActionKind.DELETE_ACCOUNT, "1", "HQ", "uid=u1", "leaver", "retention over",
                    params=AccountParams("uid=u1", {"status": "deleted"}))
    guarded = guard_plan([delete, suspend("2")], {"HQ": 10}, GuardSettings(approve_deletions=True))
    assert [h.action.kind for h in guarded.held] == [ActionKind.DELETE_ACCOUNT]
    assert guard_plan([delete], {"HQ": 10}, GuardSettings(approve_deletions=True),
                      approved=frozenset({action_key(delete)})).allowed == (delete,)


def test_frozen_company_holds_destructive_actions_only():
    create = Action(ActionKind.CREATE_ACCOUNT, "9", "SZ", "uid=u9", "joiner", "new",
                    params=NewAccountParams("uid=u9", NewEntryAttributes("u9", *[""] * 9), "2026-12-01T09:00:00+00:00"))
    guarded = guard_plan([suspend("1", "SZ"), create, suspend("2", "HQ")], {"HQ": 10, "SZ": 10}, GuardSettings(),
                         frozen={"SZ": "rows dropped"})
    assert [a.employee_id for a in guarded.allowed] == ["9", "2"]
    assert guarded.held[0].approvable is False and "frozen" in guarded.held[0].reason


def snapshot(counts: dict[str, int], columns=("company", "employee_id", "name", "termination_date"), **flags) -> HrSnapshot:
    records = [person(f"{c}{i}", "张伟", c) for c, n in counts.items() for i in range(n)]
    return HrSnapshot(tuple(records), columns=tuple(columns), **flags)


def test_feed_health(tmp_path):
    settings = make_settings(tmp_path)
    base = FeedBaseline({"HQ": 100, "SZ": 50}, ("company", "employee_id", "name", "termination_date"))
    assert frozen_companies(snapshot({"HQ": 100, "SZ": 50}), base, settings) == {}
    frozen = frozen_companies(snapshot({"HQ": 100, "SZ": 30}), base, settings)
    assert list(frozen) == ["SZ"] and "from 50 to 30 (40%" in frozen["SZ"]
    assert frozen_companies(snapshot({"HQ": 81, "SZ": 50}), base, settings) == {}  # 19 % is within 20 %
    assert set(frozen_companies(snapshot({"HQ": 100, "SZ": 50}, columns=("company", "employee_id", "name")), base, settings)) == {
        "*", "HQ", "SZ"}
    assert "still be written" in frozen_companies(snapshot({"HQ": 100, "SZ": 50}, settling=True), base, settings)["HQ"]
    assert "cut off" in frozen_companies(snapshot({"HQ": 100, "SZ": 50}, truncated=True), base, settings)["SZ"]
    assert frozen_companies(snapshot({"HQ": 1}), None, settings) == {}  # the first feed has nothing to compare with
    kept = feed_baseline(snapshot({"HQ": 100, "SZ": 30}), base, {"SZ": "dropped"})
    assert kept.rows_per_company == {"HQ": 100, "SZ": 50}  # a frozen company keeps its old baseline


def test_a_broken_feed_never_suspends_through_the_engine(tmp_path):
    c = Cycle(make_settings(tmp_path, hr={"absent_means": "terminated", "absent_days": 1}), InMemoryDirectory(created=NOW))
    names = ["李娜", "王芳", "张伟", "刘洋", "陈静", "杨帆", "赵敏", "周杰", "吴敏", "孙丽"]
    staff = [person(str(i), name, "SZ" if i % 2 else "HQ") for i, name in enumerate(names)]
    full = hr(*staff)
    c.apply(full, NOW)
    c.journal.save_feed_baseline(feed_baseline(full, None, {}), NOW)
    # SZ loses 2 of its 5 rows (40 %); in HQ one person really leaves.
    kept = [p for p in staff if p.employee_id not in ("0", "7", "9")] + [person("0", "李娜", left=date(2026, 12, 2))]
    broken = hr(*kept)
    applied = []
    for day in (1, 3):
        plan, _ = c.apply(broken, NOW + timedelta(days=day))
        applied += kinds(plan)
    assert ("suspend_account", "0") in applied  # HQ goes ahead
    assert not any(kind == "suspend_account" and eid in ("7", "9") for kind, eid in applied)
    assert plan.frozen.keys() == {"SZ"}
    assert {h.action.employee_id for h in plan.held if h.action.kind == ActionKind.SUSPEND_ACCOUNT} == {"7", "9"}
    assert not c.directory.by_uid("zhoujie").get("locked") and not c.directory.by_uid("sunli").get("locked")
    c.close()


def test_the_actions_held_warning_counts_what_lifecycle_held_lists_and_what_depends_on_them(tmp_path):
    from structlog.testing import capture_logs

    from lifecycle.engine.cycle import _record_guards

    settings = make_settings(tmp_path, guards={"max_destructive": 1, "destructive_floor": 0})
    c = Cycle(settings, InMemoryDirectory(created=NOW))
    staff = [person(str(i), name) for i, name in enumerate(["李娜", "王芳", "张伟"])]
    c.apply(hr(*staff), NOW)
    left = hr(*[person(p.employee_id, p.name, left=date(2026, 12, 2)) for p in staff])
    plan = c.plan(left, NOW + timedelta(days=2))
    suspensions = [h for h in plan.held if h.approvable]
    dependent = [h for h in plan.held if not h.approvable]
    assert len(suspensions) == 3 and dependent  # each suspension's group removal waits with it
    run_id = c.journal.begin_run("apply", NOW)
    with capture_logs() as logs:
        _record_guards(c.journal, run_id, plan, NOW, "test")
    (line,) = [entry for entry in logs if entry["event"] == "actions_held"]
    assert line["held"] == 3 and line["held_dependent"] == len(dependent) and line["by_company"] == {"HQ": 3}
    assert line["summary"] == f"3 held (+{len(dependent)} that depend on them)"
    c.close()


def test_a_frozen_feed_keeps_departed_addresses_forwarded():
    def alias(kind: ActionKind, eid: str, company: str) -> Action:
        address = f"u{eid}@{company.lower()}.example.com"
        return Action(kind, eid, company, address, "leaver", "manager changed", params=AliasParams(address, ("boss@example.com",)))

    repoint_hq = [alias(ActionKind.DELETE_ALIAS, "1", "HQ"), alias(ActionKind.CREATE_ALIAS, "1", "HQ")]
    repoint_sz = [alias(ActionKind.DELETE_ALIAS, "2", "SZ"), alias(ActionKind.CREATE_ALIAS, "2", "SZ")]
    guarded = guard_plan(repoint_hq + repoint_sz, {"HQ": 100, "SZ": 100}, GuardSettings(), frozen={"HQ": "rows dropped by 40 %"})
    assert [(h.action.kind, h.action.employee_id, h.approvable) for h in guarded.held] == [
        (ActionKind.DELETE_ALIAS, "1", False), (ActionKind.CREATE_ALIAS, "1", False)]
    assert "frozen: rows dropped by 40 %" in guarded.held[0].reason
    assert "waits for the held removal" in guarded.held[1].reason
    assert [a.employee_id for a in guarded.allowed] == ["2", "2"]
