"""A rehire's fresh initial password is due until a reset gives it: a failed reset is planned again.

End to end on the directory double and a real SQLite journal (tests/harness.py): the restore records
`reset_due_at` in the stored state, the reset that gives the password clears it; the plans in
between ask for the reset again, and none after it.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from lifecycle.domain.errors import RecordError
from lifecycle.domain.models import ActionKind, HrStatus
from lifecycle.testing import InMemoryDirectory
from tests.harness import Cycle, at, hr, kinds, make_settings, person

NOW = at("2026-12-01T09:00")
BACK = at("2027-01-10T08:00")


class RefusingPasswords(InMemoryDirectory):
    """Refuses the next `refusals` password changes, as a server whose password policy says no would."""

    refusals = 0

    def set_password(self, dn: str, password: str) -> None:
        if self.refusals:
            self.refusals -= 1
            raise RecordError(f"set password of {dn}: refused by the test's server", connector="ldap")
        super().set_password(dn, password)


def test_a_rehire_whose_reset_failed_gets_it_in_the_next_plan_and_then_nothing(tmp_path: Path) -> None:
    directory = RefusingPasswords(created=NOW - timedelta(days=1))
    cycle = Cycle(make_settings(tmp_path), directory)
    try:
        cycle.apply(hr(person("1", "李娜")), NOW)
        old = directory.by_uid("lina")["password"]
        cycle.apply(hr(person("1", "李娜", status=HrStatus.TERMINATED, left=date(2026, 12, 5))), at("2026-12-06"))
        rehired = hr(person("1", "李娜", hire=date(2027, 1, 10)))

        directory.refusals = 1
        plan, result = cycle.apply(rehired, BACK)
        assert [k for k in kinds(plan) if k[0] in ("restore_account", "reset_password")] == [
            ("restore_account", "1"), ("reset_password", "1")]
        statuses = {e.kind: e.status for e in cycle.journal.entries() if e.kind in ("restore_account", "reset_password")}
        assert statuses == {"restore_account": "applied", "reset_password": "failed"}
        lina = directory.by_uid("lina")
        assert not lina.get("locked") and lina["password"] == old  # back, with the password the person left with
        assert cycle.journal.person("1").reset_due_at == BACK

        later = BACK + timedelta(minutes=10)
        again = cycle.plan(rehired, later)
        # (Her department's group waited for her account's actions to succeed: it is made now too.)
        assert [k for k in kinds(again) if k[0] != "create_group"] == [("reset_password", "1")]
        reset = next(a for a in again.actions if a.kind is ActionKind.RESET_PASSWORD)
        assert reset.rule == "rehire" and "due since the rehire on 2027-01-10" in reset.reason
        _, result = cycle.apply(rehired, later)
        assert result.ok
        fresh = cycle.vault.read_password("1", "HQ")
        assert directory.by_uid("lina")["password"] == fresh != old
        assert cycle.journal.person("1").reset_due_at is None
        assert cycle.plan(rehired, later + timedelta(minutes=10)).actions == ()
    finally:
        cycle.close()


def test_a_reset_given_with_its_restore_leaves_nothing_due(tmp_path: Path) -> None:
    directory = InMemoryDirectory(created=NOW - timedelta(days=1))
    cycle = Cycle(make_settings(tmp_path), directory)
    try:
        cycle.apply(hr(person("1", "李娜")), NOW)
        cycle.apply(hr(person("1", "李娜", status=HrStatus.TERMINATED, left=date(2026, 12, 5))), at("2026-12-06"))
        rehired = hr(person("1", "李娜", hire=date(2027, 1, 10)))
        plan, result = cycle.apply(rehired, BACK)
        assert result.ok and ActionKind.RESET_PASSWORD in {a.kind for a in plan.actions}
        assert cycle.journal.person("1").reset_due_at is None
        assert cycle.plan(rehired, BACK + timedelta(minutes=10)).actions == ()
    finally:
        cycle.close()
