"""Properties that must hold for any HR history (hypothesis).

- re-planning right after an apply yields no actions (convergence, idempotence);
- no deletion without a suspension at least `retention_days` earlier;
- no action ever comes from a rejected row.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle.domain.action_params import EntryParams, MemberParams
from lifecycle.domain.models import ActionKind, HrStatus, RejectedRow
from lifecycle.testing import InMemoryDirectory
from tests.harness import Cycle, at, hr, make_settings, person

NAMES = ["张伟", "王芳", "曾伟", "欧阳娜娜", "李娜", "单雄", "张伟", "吕布"]
DEPARTMENTS = ["研发部", "财务部", "市场部"]
START = at("2026-01-01T09:00")
RETENTION = 30

employee = st.fixed_dictionaries(
    {
        "name": st.sampled_from(NAMES),
        "company": st.sampled_from(["HQ", "SZ"]),
        "department": st.sampled_from(DEPARTMENTS),
        "status": st.sampled_from([HrStatus.ACTIVE, HrStatus.ACTIVE, HrStatus.LEAVE, HrStatus.TERMINATED]),
        "hire_offset": st.integers(-400, 60),
        "leave_offset": st.one_of(st.none(), st.integers(-30, 120)),
        "manager": st.integers(0, 7),
        "present": st.booleans() | st.just(True),
        "rejected": st.integers(0, 9).map(lambda n: n == 0),  # about one row in ten
    }
)
history = st.lists(
    st.tuples(st.integers(1, 60), st.lists(employee, min_size=8, max_size=8)),
    min_size=2,
    max_size=5,
)


def snapshot_for(day, people):
    records, rejected = [], []
    for index, p in enumerate(people):
        eid = f"E{index}"
        if p["rejected"]:
            rejected.append(RejectedRow(index + 2, "hire_date", "not a date", "fix it", employee_id=eid))
            continue
        if not p["present"]:
            continue
        hire = (START + timedelta(days=p["hire_offset"])).date()
        left = None if p["leave_offset"] is None else max(hire, (START + timedelta(days=p["leave_offset"])).date())
        manager = f"E{p['manager']}" if p["manager"] != index else ""
        records.append(person(eid, p["name"], p["company"], p["department"], status=p["status"], hire=hire, left=left, manager=manager))
    return hr(*records, rejected=tuple(rejected))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history)
def test_properties_hold_over_any_history(steps):
    with tempfile.TemporaryDirectory() as tmp:
        cycle = Cycle(make_settings(Path(tmp), policy={"retention_days": RETENTION}), InMemoryDirectory(created=START))
        suspended_at: dict[str, object] = {}
        now = START
        try:
            for gap, people in steps:
                now = now + timedelta(days=gap)
                snapshot = snapshot_for(now, people)
                blocked = snapshot.rejected_ids()
                blocked_dns = {
                    p["dn"] for p in cycle.directory.people.values() if p.get("employeeNumber") in blocked
                }
                plan, result = cycle.apply(snapshot, now)
                assert result.ok, result.summary()
                for action in plan.actions:
                    assert action.employee_id not in blocked, action
                    params = action.params
                    assert not isinstance(params, MemberParams) or params.member_dn not in blocked_dns, action
                    assert not isinstance(params, EntryParams) or params.dn not in blocked_dns, action
                    if action.kind == ActionKind.SUSPEND_ACCOUNT:
                        suspended_at[action.employee_id] = now
                    if action.kind == ActionKind.RESTORE_ACCOUNT:
                        suspended_at.pop(action.employee_id, None)
                    if action.kind == ActionKind.DELETE_ACCOUNT:
                        assert action.employee_id in suspended_at, action
                        assert now - suspended_at[action.employee_id] >= timedelta(days=RETENTION), action
                replan = cycle.plan(snapshot, now)
                assert replan.actions == (), [a.to_dict() for a in replan.actions]
        finally:
            cycle.close()
