"""What each decided cycle publishes for the console (lifecycle.journal.console), read from a real run.

The console cannot read HR or the directory: everything it shows of the plan, the rejected rows,
the findings and a person's coming events must be in the state store after `apply`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lifecycle.cli.main import main
from lifecycle.domain.settings import load_settings
from lifecycle.journal.store import Journal

pytestmark = pytest.mark.servers

LEAVER = "100028"  # 马超, SZ: leaves on 2027-01-15 in the sample export


def apply(config: Path, now: str) -> None:
    assert main(["--config", str(config), "apply", "--now", now]) == 0


def test_an_apply_publishes_each_companys_plan_rejections_findings_and_the_people_in_motion(config: Path) -> None:
    hr = config.parent / "employees.csv"
    with hr.open("a", encoding="utf-8") as handle:
        handle.write("200001,坏日期,,,SZ,测试部,测试,,在职,not-a-date,\n")  # rejected, its company readable
        handle.write("200002,无公司,,,NOPE,测试部,测试,,在职,2020-01-01,\n")  # rejected, no company known
    apply(config, "2026-12-01T09:00")
    settings = load_settings(config, secrets=False)
    journal = Journal(settings.state.url)
    try:
        views = journal.published_views(["HQ", "SZ", "GZ", ""])
        assert set(views) >= {"HQ", "SZ", "GZ", ""}
        counts = journal.account_counts(["SZ", "GZ"])
        assert counts["SZ"]["active"] > 0 and counts["GZ"]["active"] > 0
        sz_rows = {r["employee_id"]: r for r in views["SZ"]["rejected"]}
        assert sz_rows["200001"]["field"] == "hire_date" and sz_rows["200001"]["fix"]
        # No company known (the sample's unknown BJ, and ours): the group admins' alone.
        assert sorted(r["employee_id"] for r in views[""]["rejected"]) == ["100050", "200002"]
        assert all(r["employee_id"] != "200001" for c in ("HQ", "GZ", "") for r in views[c]["rejected"])
        # The action log says whose a rejected row is, too.
        logged = {e.employee_id: e.company for e in journal.entries(kind="hr_row_rejected")}
        assert (logged["200001"], logged["200002"], logged["100050"]) == ("SZ", "", "")

        outlook = journal.outlook(LEAVER)
        assert outlook is not None and outlook["company"] == "SZ" and outlook["name"] == "马超"
        assert [day[:10] for day, _ in outlook["events"]] == ["2027-01-15", "2027-04-15"]
        assert journal.company_of(LEAVER) == "SZ"
        first = views["SZ"]["published_at"]
    finally:
        journal.close()

    apply(config, "2027-01-16T09:00")  # the departure: published as planned, before it is applied
    journal = Journal(settings.state.url)
    try:
        views = journal.published_views(["SZ"])
        assert views["SZ"]["published_at"] >= first
        assert "suspend_account" in {a["kind"] for a in views["SZ"]["actions"] if a["employee_id"] == LEAVER}
        assert journal.outlook(LEAVER)["standing"].startswith("departed")  # type: ignore[index]
    finally:
        journal.close()
    apply(config, "2027-01-16T09:05")  # the next cycle publishes what the suspension set in motion
    journal = Journal(settings.state.url)
    try:
        events = journal.outlook(LEAVER)["events"]  # type: ignore[index]
        assert [(day[:10], "deleted" in what) for day, what in events] == [("2027-04-16", True)]
        assert journal.person_state(LEAVER)["status"] == "suspended"  # type: ignore[index]
    finally:
        journal.close()


def test_plan_publishes_nothing(config: Path) -> None:
    assert main(["--config", str(config), "plan", "--now", "2026-12-01T09:00"]) == 2
    settings = load_settings(config, secrets=False)
    journal = Journal(settings.state.url)
    try:
        assert journal.published_views(["HQ", "SZ", "GZ", ""]) == {}
        assert journal.outlook(LEAVER) is None
    finally:
        journal.close()
