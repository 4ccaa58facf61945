"""What `lifecycle suspend` / `unsuspend` / `reset-password` say once the person's part of the plan has run
(lifecycle.cli.interventions._report): judged by the entry's lock as read back and by each action's outcome,
never by what was planned.  Pure: the outcome is given as the engine returns it."""

from __future__ import annotations

import pytest

from lifecycle.cli.interventions import _report
from lifecycle.domain.models import PersonState, PersonStatus, Plan
from lifecycle.engine.apply import ApplyResult
from lifecycle.engine.interventions import PersonApplied
from tests.harness import at, make_settings

PERSON = PersonState("1", "zhangsan", "HQ", PersonStatus.SUSPENDED)
UNUSABLE = {"HQ": "HQ's HR feed is unusable: 5 of its 7 rows were rejected"}


def said(tmp_path, capsys, command: str, plan: Plan, locked: bool | None) -> tuple[int, str, str]:
    code = _report(command, PERSON, PersonApplied(plan, ApplyResult("run-1"), {}, locked), make_settings(tmp_path))
    out, err = capsys.readouterr()
    return code, out, err


def test_nothing_done_on_an_unlocked_account_is_not_called_locked_already(tmp_path, capsys) -> None:
    code, out, err = said(tmp_path, capsys, "suspend", Plan(at("2026-12-01T09:00"), (), unusable=UNUSABLE), False)
    assert code == 1 and "locked already" not in out + err
    assert "the suspension is recorded but the account is not locked: HQ's HR feed is unusable" in err


def test_locked_already_only_when_the_entry_is_locked(tmp_path, capsys) -> None:
    code, out, _ = said(tmp_path, capsys, "suspend", Plan(at("2026-12-01T09:00"), ()), True)
    assert code == 0 and "the account is locked already" in out


@pytest.mark.parametrize("command", ["unsuspend", "reset-password"])
def test_an_unusable_feed_is_named_when_nothing_was_given(tmp_path, capsys, command: str) -> None:
    code, _, err = said(tmp_path, capsys, command, Plan(at("2026-12-01T09:00"), (), unusable=UNUSABLE),
                        command == "unsuspend")
    assert code == 1 and "HQ's HR feed is unusable" in err
