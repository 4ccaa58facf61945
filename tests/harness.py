"""Building blocks for engine tests: settings, HR records, and one cycle on a fake directory."""

from __future__ import annotations

import tempfile
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from lifecycle.domain.models import HrRecord, HrSnapshot, HrStatus, Plan, RejectedRow
from lifecycle.domain.settings import Settings
from lifecycle.engine.apply import ApplyResult, Executor
from lifecycle.engine.vault import CredentialVault
from lifecycle.journal.store import Journal
from policies.engine import compute_plan

SHANGHAI = ZoneInfo("Asia/Shanghai")
BASE = "dc=example,dc=com"


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    data: dict[str, Any] = {
        "state": {"url": f"sqlite:///{tmp_path}/state.db"},
        "hr": {"path": str(tmp_path / "hr.csv")},
        "directory": {"bind_password": "test-bind-secret", "base_dn": BASE, "groups_dn": f"ou=groups,{BASE}"},
        "accounts": {"initial_password_dir": str(tmp_path / "credentials")},
        "companies": [
            {"code": "HQ", "name": "集团总部", "domain": "example.com", "people_dn": f"ou=hq,ou=people,{BASE}"},
            {"code": "SZ", "name": "深圳分公司", "domain": "sz.example.com", "people_dn": f"ou=sz,ou=people,{BASE}"},
        ],
    }
    for section, values in overrides.items():
        if isinstance(values, dict) and isinstance(data.get(section), dict):
            data[section] = {**data[section], **values}
        else:
            data[section] = values
    settings = Settings(**data)
    seed_state_store(settings.state.url)
    return settings


def seed_state_store(url: str) -> None:
    """Put a state store at the current schema at `url` (a SQLite file not there yet).

    A fresh store is made through every schema revision (Alembic), ~40 ms each time: the engine tests
    open hundreds, so they get a copy of one made once.  Making a fresh store is tested where it is the
    point (tests/test_migrations.py, and every test that opens its store without this helper).
    """
    if not url.startswith("sqlite:///"):
        return
    path = Path(url.removeprefix("sqlite:///"))
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_store_at_current_schema())


@cache
def _store_at_current_schema() -> bytes:
    with tempfile.TemporaryDirectory() as workdir:
        path = Path(workdir) / "state.db"
        Journal(f"sqlite:///{path}").close()
        return path.read_bytes()


def person(
    employee_id: str,
    name: str,
    company: str = "HQ",
    department: str = "研发部",
    *,
    status: HrStatus = HrStatus.ACTIVE,
    hire: date = date(2020, 1, 1),
    left: date | None = None,
    manager: str = "",
    title: str = "工程师",
    family_name: str = "",
    row: int = 0,
) -> HrRecord:
    return HrRecord(
        employee_id=employee_id, name=name, company=company, department=department, status=status, hire_date=hire,
        row=row, title=title, manager_id=manager, termination_date=left, family_name=family_name,
    )


def hr(*records: HrRecord, rejected: tuple[RejectedRow, ...] = ()) -> HrSnapshot:
    return HrSnapshot(tuple(records), rejected, "test", "fp")


def at(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=SHANGHAI)


class Cycle:
    """Plan and apply against a directory double and a real (SQLite) journal."""

    def __init__(self, settings: Settings, directory: Any) -> None:
        self.settings = settings
        self.directory = directory
        self.journal = Journal(settings.state.url)
        self.vault = CredentialVault(settings.accounts.initial_password_dir, settings.accounts.password_length)

    def plan(self, snapshot: HrSnapshot, now: datetime) -> Plan:
        return compute_plan(snapshot, self.directory.read_snapshot(), self.journal.load_state(), self.settings, now)

    def apply(self, snapshot: HrSnapshot, now: datetime) -> tuple[Plan, ApplyResult]:
        plan = self.plan(snapshot, now)
        run_id = self.journal.begin_run("apply", now)
        result = Executor(self.directory, self.journal, self.vault, "test").apply(plan, run_id)
        return plan, result

    def close(self) -> None:
        self.journal.close()


def kinds(plan: Plan) -> list[tuple[str, str]]:
    return [(a.kind.value, a.employee_id) for a in plan.actions]
