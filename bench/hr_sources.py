"""The same people read from each kind of HR source: a CSV export, an xlsx workbook, a PostgreSQL and a MariaDB table.

    .venv/bin/python -m bench.hr_sources --size 10000 [--seed 6] [--kinds csv,xlsx,sql-pg,sql-mariadb] [--json out.json]

N people of 3 companies (集团总部, 北京分公司, 上海分公司; Chinese names as bench.generate draws them, CEO ->
department heads -> team leads -> staff, managers by 工号, departments as paths "公司/部门/组" read with
`department_path_separator = "/"` and the company level stripped) are written once per kind:
  csv          a UTF-8 file with the Chinese headers of an export (工号, 姓名, 公司, 部门, ...), `[hr] kind = "csv"`
  xlsx         the same rows in a workbook written by openpyxl's write-only mode (dates as date cells), kind "xlsx"
  sql-pg       a table with typed columns (DATE, VARCHAR) in PostgreSQL, kind "sql" with `[hr.sql] table`
  sql-mariadb  the same table in MariaDB
A table is uniquely named (bench_hr_<random>) and dropped once its kind is measured, also when it fails.

Each kind is measured in a fresh Python process (the source opened as the daemon opens it, `open_hr`):
the wall and CPU time of 3 `read()` calls (median shown; the first also imports the database driver
and opens the engine), of 3 `fingerprint()` calls, the resident set's growth during the first read
(VmHWM after minus VmRSS before, the peak reset through /proc/self/clear_refs: what a fresh daemon
pays, driver and engine included; the later reads reuse the pages it freed and grow by ~0), and the
peak of Python allocations during a 4th read under tracemalloc (slower, not timed).  A database
source's CPU is the client's only; the server's is not counted.

Exits 1 when a kind cannot be measured or reads wrong: records accepted != N, any row rejected,
`fingerprint()` differing from `read().fingerprint` or between reads.  Never for a time.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gc
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.generate import COMPANIES, DEPARTMENTS, NOW, TEAM_SIZE, NameMaker

KINDS = ("csv", "xlsx", "sql-pg", "sql-mariadb")
REPEATS = 3
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MARIADB_URL = "mariadb+pymysql://root@127.0.0.1:3306/test"
# The URL reaches the worker by environment, not its command line (where `ps` would show a password).
URL_ENV = "LIFECYCLE_BENCH_HR_SQL_URL"
# The drivers installed in the venv, as connectors.hr_sql picks them for a URL naming the database only.
DRIVERS = {"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql", "mariadb": "mariadb+pymysql"}
# The three companies: code, name (what HR writes in the company column), domain.
BENCH_COMPANIES = tuple((code, name, domain) for code, name, domain, _, _ in COMPANIES[:3])
COMPANY_WEIGHTS = tuple(weight for *_, weight in COMPANIES[:3])
# Headers of the files (an export's Chinese headers) and columns of the tables (as a view would name them).
FILE_HEADERS = ("工号", "姓名", "公司", "部门", "职务", "上级工号", "状态", "入职日期", "离职日期")
SQL_COLUMNS = ("employee_id", "name", "company", "department", "title", "manager_id", "status", "hire_date",
               "termination_date")


@dataclass(frozen=True, slots=True)
class Row:
    employee_id: str
    name: str
    company: str
    department: str
    title: str
    manager_id: str
    status: str
    hire_date: date
    termination_date: date | None

    def values(self) -> tuple[Any, ...]:
        return (self.employee_id, self.name, self.company, self.department, self.title, self.manager_id or None,
                self.status, self.hire_date, self.termination_date)


# -- the people -------------------------------------------------------------------------------


def generate_rows(size: int, seed: int) -> list[Row]:
    """`size` people of 3 companies, deterministic by (size, seed): per company CEO -> heads -> team leads -> staff."""
    rng = random.Random(seed)
    names = NameMaker(rng)
    today = NOW.date()
    counts = [size * w // sum(COMPANY_WEIGHTS) for w in COMPANY_WEIGHTS]
    counts[0] += size - sum(counts)
    people: list[dict[str, Any]] = []
    next_id = 100001

    def new(company: str, department: str, title: str, manager: str, senior: bool) -> dict[str, Any]:
        nonlocal next_id
        start = date(2005, 1, 1) if senior else date(2012, 1, 1)
        hire = start + timedelta(days=rng.randrange((today - timedelta(days=1) - start).days + 1))
        person = {"employee_id": str(next_id), "name": names.make()[0], "company": company, "department": department,
                  "title": title, "manager_id": manager, "status": "在职", "hire_date": hire, "termination_date": None}
        next_id += 1
        people.append(person)
        return person

    for (_, company, _), count in zip(BENCH_COMPANIES, counts):
        departments = DEPARTMENTS[: max(3, min(len(DEPARTMENTS), 4 + count // 800))]
        if count < 1 + len(departments):
            raise ValueError(f"--size {size} is too small for 3 companies with their department heads (use 60 or more)")
        ceo = new(company, f"{company}/总经办", "总经理", "", True)
        heads = {d: new(company, f"{company}/{d}", titles[0], ceo["employee_id"], True) for d, titles in departments}
        remaining = count - 1 - len(heads)
        weights = [1.0 / (rank + 1) ** 0.5 for rank in range(len(departments))]
        teams: dict[str, tuple[str, str]] = {}  # department -> (team path, lead's id)
        staffed: Counter[str] = Counter()
        while remaining > 0:
            dept, titles = rng.choices(departments, weights)[0]
            if staffed[dept] % TEAM_SIZE == 0:
                team = f"{company}/{dept}/{dept.removesuffix('部')}{staffed[dept] // TEAM_SIZE + 1}组"
                lead_title = titles[1] if len(titles) > 2 else titles[-1]
                lead = new(company, team, lead_title, heads[dept]["employee_id"], True)
                teams[dept] = (team, lead["employee_id"])
            else:
                team, lead_id = teams[dept]
                new(company, team, rng.choice(titles[2:] or titles[1:]), lead_id, False)
            staffed[dept] += 1
            remaining -= 1

    managers = {p["manager_id"] for p in people if p["manager_id"]}
    for person in people:
        if person["employee_id"] in managers:
            continue
        roll = rng.random()
        if roll < 0.02:
            person["status"] = "休假"
        elif roll < 0.035:  # left in the past
            person["status"] = "离职"
            first = max(person["hire_date"], today - timedelta(days=700))
            person["termination_date"] = first + timedelta(days=rng.randrange((today - first).days or 1))
        elif roll < 0.045:  # leaving in the future: still active today
            person["termination_date"] = today + timedelta(days=rng.randrange(30, 400))
    return [Row(**person) for person in people]


def write_csv(rows: list[Row], path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(FILE_HEADERS)
        for row in rows:
            writer.writerow(["" if v is None else v.isoformat() if isinstance(v, date) else v for v in row.values()])


def write_xlsx(rows: list[Row], path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("花名册")
    sheet.append(FILE_HEADERS)
    for row in rows:
        cells: list[Any] = []
        for value in row.values():
            if isinstance(value, date):  # a date cell, shown as a date in Excel and WPS (stored as a serial either way)
                cell = WriteOnlyCell(sheet, datetime(value.year, value.month, value.day))
                cell.number_format = "yyyy-mm-dd"
                cells.append(cell)
            else:
                cells.append(value)
        sheet.append(cells)
    workbook.save(path)


def engine_url(url: str) -> Any:
    """The URL with the installed driver (as connectors.hr_sql picks it) and utf8mb4 for MariaDB/MySQL."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    parsed = parsed.set(drivername=DRIVERS.get(parsed.drivername, parsed.drivername))
    if parsed.get_backend_name() in ("mysql", "mariadb") and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    return parsed


class BenchTable:
    """A uniquely named table holding the rows, created on enter and dropped on exit (also after a failure)."""

    def __init__(self, url: str, rows: list[Row]) -> None:
        from sqlalchemy import Column, Date, MetaData, String, Table, create_engine
        from sqlalchemy.pool import NullPool

        self.name = f"bench_hr_{uuid.uuid4().hex[:10]}"
        self.rows = rows
        self.engine = create_engine(engine_url(url), poolclass=NullPool)
        self.table = Table(
            self.name, MetaData(),
            Column("employee_id", String(32), primary_key=True), Column("name", String(64), nullable=False),
            Column("company", String(64), nullable=False), Column("department", String(200), nullable=False),
            Column("title", String(64)), Column("manager_id", String(32)), Column("status", String(16), nullable=False),
            Column("hire_date", Date, nullable=False), Column("termination_date", Date),
            mysql_charset="utf8mb4",
        )
        self.load_s = 0.0

    def __enter__(self) -> BenchTable:
        from sqlalchemy import insert

        started = time.perf_counter()
        try:
            self.table.create(self.engine)
            with self.engine.begin() as conn:
                chunk = 5000
                for at in range(0, len(self.rows), chunk):
                    values = [dict(zip(SQL_COLUMNS, r.values())) for r in self.rows[at:at + chunk]]
                    conn.execute(insert(self.table), values)
        except BaseException:
            self._drop()
            raise
        self.load_s = time.perf_counter() - started
        return self

    def __exit__(self, *exc: object) -> None:
        self._drop()

    def _drop(self) -> None:
        try:
            self.table.drop(self.engine, checkfirst=True)
        finally:
            self.engine.dispose()


# -- worker side: one kind, in its own process ------------------------------------------------


def _proc_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak() -> bool:
    """Reset VmHWM to the current resident set (Linux 4.0+); False when the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def usage() -> tuple[float, float]:
    """(wall clock, CPU of this process) now."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), ru.ru_utime + ru.ru_stime


def bench_settings(kind: str, path: Path | None, table: str | None, url: str | None) -> Any:
    """The daemon's Settings for one source kind: the 3 companies, departments as paths, the rest by default."""
    from pydantic import SecretStr

    from lifecycle.domain.hr_settings import HrSettings, HrSqlSettings
    from lifecycle.domain.settings import CompanySettings, DirectorySettings, Settings

    hr_common: dict[str, Any] = {"department_path_separator": "/", "department_strip_prefix": 1}
    if kind in ("csv", "xlsx"):
        hr = HrSettings(kind=kind, path=path, **hr_common)
    else:
        hr = HrSettings(kind="sql", sql=HrSqlSettings(url=SecretStr(url or ""), table=table or ""), **hr_common)
    companies = tuple(
        CompanySettings(code=code, name=name, domain=domain, people_dn=f"ou={code.lower()},ou=people,dc=example,dc=com")
        for code, name, domain in BENCH_COMPANIES
    )
    # The directory is never opened: a password only to satisfy its section.
    directory = DirectorySettings(bind_password=SecretStr("unused-by-this-bench"))
    return Settings(hr=hr, directory=directory, companies=companies)


def worker(kind: str, spec: dict[str, Any], out: Path) -> None:
    from lifecycle.runtime.logging import configure_logging

    configure_logging(level="WARNING")  # quiet: a warning or an error still reaches stderr
    from lifecycle.engine.cycle import open_hr

    path = Path(spec["path"]) if spec.get("path") else None
    settings = bench_settings(spec["source_kind"], path, spec.get("table"), os.environ.get(URL_ENV))
    source = open_hr(settings)
    size = spec["size"]
    today = NOW.date()
    can_reset = _reset_peak()
    reads: list[dict[str, float]] = []
    fingerprints: set[str] = set()
    for _ in range(REPEATS):
        gc.collect()
        _reset_peak()
        rss_before = _proc_kb("VmRSS")
        w0, c0 = usage()
        snapshot = source.read(today)
        w1, c1 = usage()
        growth = (_proc_kb("VmHWM") - rss_before) / 1024
        _check(kind, snapshot, size)
        fingerprints.add(snapshot.fingerprint)
        reads.append({"wall_s": round(w1 - w0, 6), "cpu_s": round(c1 - c0, 6), "rss_growth_mb": round(growth, 1)})
        del snapshot
    prints: list[dict[str, float]] = []
    marks: set[str] = set()
    for _ in range(REPEATS):
        w0, c0 = usage()
        marks.add(source.fingerprint())
        w1, c1 = usage()
        prints.append({"wall_s": round(w1 - w0, 6), "cpu_s": round(c1 - c0, 6)})
    gc.collect()
    tracemalloc.start()
    snapshot = source.read(today)
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    _check(kind, snapshot, size)
    result = {
        "kind": kind, "source": source.name, "records": len(snapshot.records), "rejected": len(snapshot.rejected),
        "reads": reads, "fingerprints": prints,
        "read_wall_s": statistics.median(r["wall_s"] for r in reads),
        "read_cpu_s": statistics.median(r["cpu_s"] for r in reads),
        "fingerprint_wall_s": statistics.median(p["wall_s"] for p in prints),
        "fingerprint_cpu_s": statistics.median(p["cpu_s"] for p in prints),
        # The first read's: the later ones reuse the pages it freed and grow by ~0 (all three are in "reads").
        "rss_growth_mb": reads[0]["rss_growth_mb"] if can_reset else None,
        "tracemalloc_peak_mb": round(traced_peak / 2**20, 1),
        "peak_rss_mb": round(_proc_kb("VmHWM") / 1024, 1) if not can_reset else None,
        "fingerprint_stable": len(fingerprints) == 1 and len(marks) == 1,
        "fingerprint_matches_read": marks == fingerprints,
    }
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")


def _check(kind: str, snapshot: Any, size: int) -> None:
    """Every generated person accepted, none rejected: a benchmark of a reader that loses rows measures nothing."""
    if len(snapshot.records) != size or snapshot.rejected:
        shown = "; ".join(f"row {r.row} {r.employee_id} {r.field}: {r.reason}" for r in snapshot.rejected[:5])
        raise SystemExit(f"{kind}: {len(snapshot.records)} records accepted of {size} generated, "
                         f"{len(snapshot.rejected)} rejected{': ' + shown if shown else ''}")


# -- orchestrator -------------------------------------------------------------------------------


def run_worker(kind: str, spec: dict[str, Any], workdir: Path, url: str | None) -> dict[str, Any]:
    spec_path, out = workdir / f"spec-{kind}.json", workdir / f"result-{kind}.json"
    spec_path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    env = dict(os.environ)
    if url:
        env[URL_ENV] = url
    started = time.perf_counter()
    command = [sys.executable, "-m", "bench.hr_sources", "--worker", kind, "--spec", str(spec_path),
               "--result", str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    if done.returncode != 0 or not out.exists():
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        return {"kind": kind, "failed": f"the worker exited {done.returncode}: {tail}"}
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    result["process_wall_s"] = round(time.perf_counter() - started, 2)
    if done.stderr.strip():
        result["stderr"] = done.stderr.strip().splitlines()[-5:]
    return result


def measure(kind: str, rows: list[Row], workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    spec: dict[str, Any] = {"size": len(rows)}
    if kind in ("csv", "xlsx"):
        path = workdir / f"employees.{kind}"
        started = time.perf_counter()
        (write_csv if kind == "csv" else write_xlsx)(rows, path)
        prepared = {"write_s": round(time.perf_counter() - started, 2),
                    "input": f"{path.stat().st_size / 1024:.0f} KB file"}
        spec.update(source_kind=kind, path=str(path))
        return {**run_worker(kind, spec, workdir, None), **prepared}
    url = args.pg_url if kind == "sql-pg" else args.mariadb_url
    with contextlib.ExitStack() as stack:
        try:
            table = stack.enter_context(BenchTable(url, rows))
        except Exception as exc:  # the server down, the table refused: reported, the other kinds still run
            return {"kind": kind, "failed": f"cannot load the table: {type(exc).__name__}: {str(exc).splitlines()[0]}"}
        spec.update(source_kind="sql", table=table.name)
        prepared = {"load_s": round(table.load_s, 2), "input": f"table {table.name}, loaded in {table.load_s:.2f} s"}
        return {**run_worker(kind, spec, workdir, url), **prepared}


def problems(results: dict[str, Any]) -> list[str]:
    found = []
    for kind, r in results["kinds"].items():
        if "failed" in r:
            found.append(f"{kind}: {r['failed']}")
            continue
        if r["records"] != results["size"] or r["rejected"]:
            found.append(f"{kind}: {r['records']} records accepted, {r['rejected']} rejected of {results['size']}")
        if not r["fingerprint_stable"]:
            found.append(f"{kind}: the fingerprint changed between reads of the same content")
        if not r["fingerprint_matches_read"]:
            found.append(f"{kind}: fingerprint() differs from read().fingerprint (the daemon compares the two)")
    return found


def table(results: dict[str, Any]) -> str:
    lines = [f"HR sources: {results['size']} people (seed {results['seed']}), 3 companies, {results['cpus']} CPUs, "
             f"load {results['load_before']:.2f} before / {results['load_after']:.2f} after; median of {REPEATS}",
             "",
             "| source | records | read wall ms | read CPU ms | fingerprint() wall ms | RSS growth MB (1st read) "
             "| tracemalloc peak MB | input |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for kind, r in results["kinds"].items():
        if "failed" in r:
            lines.append(f"| {kind} | failed | | | | | | |")
            continue
        rss = f"{r['rss_growth_mb']:.1f}" if r["rss_growth_mb"] is not None else f"(peak {r['peak_rss_mb']:.0f})"
        lines.append(f"| {kind} | {r['records']} | {r['read_wall_s'] * 1000:.1f} | {r['read_cpu_s'] * 1000:.1f} | "
                     f"{r['fingerprint_wall_s'] * 1000:.2f} | {rss} | {r['tracemalloc_peak_mb']:.1f} | {r['input']} |")
    lines.append("")
    for kind, r in results["kinds"].items():
        if "reads" in r:
            lines.append(f"{kind}: reads (wall ms) {_ms(r['reads'])}, RSS growth (MB) "
                         f"{', '.join(str(x['rss_growth_mb']) for x in r['reads'])}; fingerprint() (wall ms) "
                         f"{_ms(r['fingerprints'])}")
    for problem in results.get("problems", []):
        lines.append(f"PROBLEM: {problem}")
    return "\n".join(lines)


def _ms(timings: list[dict[str, float]]) -> str:
    return ", ".join(f"{t['wall_s'] * 1000:.2f}" for t in timings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, of {', '.join(KINDS)}")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--pg-url", default=os.environ.get("LIFECYCLE_TEST_PG_HR", PG_URL))
    parser.add_argument("--mariadb-url", default=os.environ.get("LIFECYCLE_TEST_MARIADB", MARIADB_URL))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--spec", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, json.loads(args.spec.read_text(encoding="utf-8")), args.result)
        return 0
    kinds = [k.strip().lower() for k in args.kinds.split(",") if k.strip()]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown or not kinds:
        parser.error(f"--kinds: unknown {unknown}; choose from {', '.join(KINDS)}")
    started = time.perf_counter()
    rows = generate_rows(args.size, args.seed)
    results: dict[str, Any] = {"size": args.size, "seed": args.seed, "cpus": os.cpu_count(),
                               "load_before": os.getloadavg()[0], "generate_s": round(time.perf_counter() - started, 2),
                               "kinds": {}}
    workdir = Path(tempfile.mkdtemp(prefix="lifecycle-bench-hr-"))
    try:
        for kind in kinds:
            print(f"  {kind} ...", flush=True)
            results["kinds"][kind] = measure(kind, rows, workdir, args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["load_after"] = os.getloadavg()[0]
    results["problems"] = problems(results)
    print("\n" + table(results))
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    for problem in results["problems"]:
        print(f"PROBLEM {problem}", file=sys.stderr)
    return 1 if results["problems"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
