"""The DingTalk-style example (examples/dingtalk) end to end: its roster, built by its own builder, read through
its own config into a real slapd; the directory read back with a second client (ldap3); the same roster as a
GB18030 CSV gives the same plan."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from ldap3 import SUBTREE, Connection, Server
from openpyxl import load_workbook

from devservers.slapd import Slapd
from lifecycle.cli.main import main
from lifecycle.domain.settings import load_settings
from lifecycle.engine.cycle import open_hr

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "dingtalk"
CONFIG = EXAMPLE / "config.toml"
DAY_ONE = "2026-12-01T09:00"
BASE_DN = "dc=example,dc=com"


def _builder() -> ModuleType:
    """examples/dingtalk/make_roster.py, as a module (examples/ is no package)."""
    spec = importlib.util.spec_from_file_location("dingtalk_make_roster", EXAMPLE / "make_roster.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


make_roster = _builder()


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, Path]:
    """The roster as the builder makes it now: (xlsx, GB18030 csv)."""
    xlsx, text = make_roster.build(tmp_path / "roster")
    return xlsx, text


@pytest.fixture
def example(tmp_path: Path, demo_slapd: Slapd, built: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example's config.toml as it is committed, pointed (as its README says) at this test's slapd."""
    secret = tmp_path / "ldap-password"
    secret.write_text(demo_slapd.admin_password + "\n", encoding="utf-8")
    secret.chmod(0o600)
    for key, value in {
        "DIRECTORY__URL": demo_slapd.url,
        "DIRECTORY__BIND_PASSWORD_FILE": str(secret),
        "STATE__URL": f"sqlite:///{tmp_path}/state.db",
        "ACCOUNTS__INITIAL_PASSWORD_DIR": str(tmp_path / "credentials"),
        "HR__PATH": str(built[0]),
    }.items():
        monkeypatch.setenv(f"LIFECYCLE_{key}", value)
    return CONFIG


def run(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["--config", str(config), *args])
    out, _ = capsys.readouterr()
    return code, out


def plan_json(config: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code, out = run(config, capsys, "plan", "--now", DAY_ONE, "--format", "json")
    assert code == 2, out
    plan: dict[str, Any] = json.loads(out)
    return plan


@pytest.fixture
def ldap(demo_slapd: Slapd) -> Iterator[Connection]:
    with Connection(Server(demo_slapd.url), demo_slapd.admin_dn, demo_slapd.admin_password, auto_bind=True) as conn:
        yield conn


def people(conn: Connection) -> dict[str, dict[str, Any]]:
    """Every person under ou=people by employee number: their DN and attributes (single values as strings)."""
    conn.search(f"ou=people,{BASE_DN}", "(objectClass=inetOrgPerson)", SUBTREE,
                attributes=["uid", "cn", "employeeNumber", "departmentNumber", "title", "manager", "mail"])
    found: dict[str, dict[str, Any]] = {}
    for entry in conn.entries:
        values = {name: entry[name].value for name in entry.entry_attributes}
        values["dn"] = entry.entry_dn
        found[str(values["employeeNumber"])] = values
    return found


def group_members(conn: Connection) -> dict[str, set[str]]:
    conn.search(f"ou=groups,{BASE_DN}", "(objectClass=groupOfNames)", SUBTREE, attributes=["cn", "member"])
    return {str(e.cn.value): {m.lower() for m in e.member.values} for e in conn.entries}


def accepted_people() -> set[str]:
    return {p.employee_id for p in make_roster.PEOPLE} - {"200017", "200030"}  # 离职; an unknown company


def row_cited(text: str, rows_below: int) -> str:
    """`text` with the row numbers it cites ("row 12") moved up by `rows_below`."""
    return re.sub(r"\brow (\d+)", lambda match: f"row {int(match[1]) - rows_below}", text)


def test_the_committed_roster_is_what_the_builder_makes(built: tuple[Path, Path]) -> None:
    """Cell for cell (openpyxl stamps the time it saved into the file, so not byte for byte), merged ranges included;
    the CSV byte for byte."""
    committed, fresh = load_workbook(EXAMPLE / make_roster.XLSX_NAME), load_workbook(built[0])
    for mine, theirs in zip(committed.worksheets, fresh.worksheets, strict=True):
        assert mine.title == theirs.title
        assert list(mine.values) == list(theirs.values)
        assert sorted(map(str, mine.merged_cells.ranges)) == sorted(map(str, theirs.merged_cells.ranges))
    assert (EXAMPLE / make_roster.CSV_NAME).read_bytes() == built[1].read_bytes()


def test_the_example_config_reads_the_committed_roster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXAMPLE.parent.parent)  # the config's paths are relative to the checkout, as its README says
    settings = load_settings(CONFIG, secrets=False)
    snapshot = open_hr(settings).read(date(2026, 12, 1))
    assert len(snapshot.records) == len(make_roster.PEOPLE) - 1
    assert [(r.employee_id, r.field) for r in snapshot.rejected] == [("200030", "company")]


def test_the_dingtalk_roster_end_to_end(example: Path, built: tuple[Path, Path], ldap: Connection,
                                        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from_xlsx = plan_json(example, capsys)
    monkeypatch.setenv("LIFECYCLE_HR__KIND", "csv")
    monkeypatch.setenv("LIFECYCLE_HR__PATH", str(built[1]))
    from_csv = plan_json(example, capsys)
    monkeypatch.setenv("LIFECYCLE_HR__KIND", "xlsx")
    monkeypatch.setenv("LIFECYCLE_HR__PATH", str(built[0]))

    # The same people give the same plan, whatever the file.  Only the row numbers the reasons cite differ: the
    # workbook's data starts in row 4, below its title and its two header rows, the CSV's in row 2.
    def actions(plan: dict[str, Any], rows_below: int) -> list[tuple[Any, ...]]:
        return [(a["kind"], a["employee_id"], a["company"], a["target"], json.dumps(a["changes"], sort_keys=True),
                 a["rule"], row_cited(a["reason"], rows_below), json.dumps(a.get("params"), sort_keys=True))
                for a in plan["actions"]]

    def findings(plan: dict[str, Any], rows_below: int) -> list[tuple[Any, ...]]:
        return sorted((r["kind"], r["employee_id"], r["company"], row_cited(r["target"], rows_below),
                       row_cited(r["reason"], rows_below)) for r in plan["reviews"])

    assert actions(from_xlsx, 2) == actions(from_csv, 0) and len(from_xlsx["actions"]) > len(accepted_people())
    assert findings(from_xlsx, 2) == findings(from_csv, 0)
    assert [(r["row"], r["employee_id"], r["field"]) for r in from_xlsx["rejected"]] == [(24, "200030", "company")]
    assert [(r["row"], r["employee_id"], r["field"]) for r in from_csv["rejected"]] == [(22, "200030", "company")]

    # 陈思远's 直属主管 is 王磊, and SZ has two: no manager, and a finding that names the name.
    ambiguous = [r for r in from_xlsx["reviews"] if r["kind"] == "unknown_manager"]
    assert [(r["employee_id"], r["company"]) for r in ambiguous] == [("200011", "SZ")]
    assert "'王磊' is ambiguous" in ambiguous[0]["reason"] and "200010, 200014" in ambiguous[0]["reason"]

    code, out = run(example, capsys, "apply", "--now", DAY_ONE)
    assert code == 0, out
    found = people(ldap)
    assert set(found) == accepted_people()
    by_uid = {v["uid"]: v for v in found.values()}

    # The company from the legal name (合同公司), the department from the path without its first level.
    assert found["200022"]["dn"] == f"uid={found['200022']['uid']},ou=gz,ou=people,{BASE_DN}"
    assert found["200022"]["departmentNumber"] == "广州分公司/运营部/物流组"
    assert found["200003"]["dn"].endswith(f",ou=hq,ou=people,{BASE_DN}")
    assert found["200003"]["departmentNumber"] == "集团总部/人力资源部/招聘组"
    assert found["200012"]["dn"].endswith(f",ou=sz,ou=people,{BASE_DN}") and found["200012"]["title"] == "工程师"

    # Managers: by name (杨帆), by 工号 (200001 across companies), by work email (the SZ 王磊 named by address).
    assert found["200022"]["manager"] == found["200021"]["dn"]
    assert found["200010"]["manager"] == found["200001"]["dn"]
    assert found["200020"]["manager"] == found["200001"]["dn"]
    assert found["200016"]["manager"] == found["200010"]["dn"]
    assert found["200012"]["manager"] == found["200011"]["dn"]
    assert found["200011"].get("manager") is None  # the ambiguous 王磊
    assert {found["200010"]["uid"], found["200014"]["uid"]} == {"wanglei", "wanglei2"}
    assert set(by_uid) >= {"linzhiyuan", "chensiyuan", "xuqing", "guojianguo"}

    # A bare serial number in the date column is a date ([hr] excel_serial_dates); 返聘 and 长期病假 are mapped words.
    assert "200023" in found and "200026" in found and "200005" in found

    groups = group_members(ldap)
    assert found["200022"]["dn"].lower() in groups["GZ-广州分公司/运营部/物流组"]

    code, out = run(example, capsys, "plan", "--now", DAY_ONE)
    assert code == 0, out  # applied: nothing left to do
