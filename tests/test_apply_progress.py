"""The executor reports its progress through the ProgressSink port, against a real slapd: every action of
the plan is counted once, batch by batch, and the phase always ends."""

from __future__ import annotations

from collections import Counter
from datetime import date

from lifecycle.domain.models import ActionKind
from lifecycle.engine.apply import Executor
from tests.harness import Cycle, at, hr, person

NOW = at("2026-12-01T09:00")
STAFF = [("1", "李娜", "研发部"), ("2", "王芳", "研发部"), ("3", "张伟", "销售部"), ("4", "刘洋", "销售部"),
         ("5", "陈静", "财务部"), ("6", "杨帆", "财务部"), ("7", "赵磊", "研发部")]


class Recording:
    """A ProgressSink that keeps every call."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def start(self, phase: str, total: int) -> None:
        self.calls.append(("start", phase, total))

    def advance(self, done: int = 1, failed: int = 0) -> None:
        self.calls.append(("advance", done, failed))

    def finish(self) -> None:
        self.calls.append(("finish",))

    def advanced(self) -> tuple[int, int]:
        return (sum(c[1] for c in self.calls if c[0] == "advance"), sum(c[2] for c in self.calls if c[0] == "advance"))


def _joiners():
    return hr(*[person(eid, name, department=dept, hire=date(2020, 1, int(eid))) for eid, name, dept in STAFF])


def test_an_apply_advances_once_per_action_in_total(ldap_cycle: Cycle) -> None:
    plan = ldap_cycle.plan(_joiners(), NOW)
    kinds = Counter(a.kind for a in plan.actions)
    assert kinds[ActionKind.CREATE_ACCOUNT] == len(STAFF) and kinds[ActionKind.CREATE_GROUP] == 3  # several batches
    sink = Recording()
    run_id = ldap_cycle.journal.begin_run("apply", NOW)
    executor = Executor(ldap_cycle.directory, ldap_cycle.journal, ldap_cycle.vault, "test", batch_size=2)
    result = executor.apply(plan, run_id, progress=sink)

    assert result.ok and sum(result.counts.values()) == len(plan.actions)
    assert sink.calls[0] == ("start", "apply", len(plan.actions)) and sink.calls[-1] == ("finish",)
    assert sink.advanced() == (len(plan.actions), 0)
    advances = [c for c in sink.calls if c[0] == "advance"]
    assert len(advances) > 2 and all(done > 0 for _, done, _ in advances)  # batch by batch, as they end
    assert ldap_cycle.plan(_joiners(), NOW).actions == ()  # and it was all really applied


def test_a_stopped_apply_counts_what_ended_and_still_ends_the_phase(ldap_cycle: Cycle) -> None:
    plan = ldap_cycle.plan(_joiners(), NOW)
    sink = Recording()
    asked = []

    def stop_after_the_first_batch() -> bool:
        asked.append(True)
        return len(asked) > 1

    run_id = ldap_cycle.journal.begin_run("apply", NOW)
    executor = Executor(ldap_cycle.directory, ldap_cycle.journal, ldap_cycle.vault, "test", batch_size=2)
    result = executor.apply(plan, run_id, stop_after_the_first_batch, progress=sink)

    assert result.stopped and 0 < sum(result.counts.values()) < len(plan.actions)
    assert sink.advanced() == (sum(result.counts.values()), 0)
    assert sink.calls[0] == ("start", "apply", len(plan.actions)) and sink.calls[-1] == ("finish",)
