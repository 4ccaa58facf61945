"""The HR database as a source (connectors.hr_sql) against this machine's PostgreSQL and MariaDB servers.

PostgreSQL: 127.0.0.1:5432, database `test`, user postgres (trust), or `LIFECYCLE_TEST_PG_HR` (a URL);
MariaDB: 127.0.0.1:3306, database `test`, root without a password, or `LIFECYCLE_TEST_MARIADB`.
Each test run works in a schema (PostgreSQL) or under a table prefix (MariaDB) of its own, dropped afterwards.
A server that is down fails these tests (start it: .ci/run shows how); they are never skipped.
"""

from __future__ import annotations

import csv
import io
import os
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

from connectors.hr_csv import CsvHrSource
from connectors.hr_records import cell_text
from connectors.hr_sql import SqlHrSource, _cell, safe_url
from lifecycle.cli.checks import check_hr as _check_hr
from lifecycle.domain.errors import FeedError, HrWriteBackError
from lifecycle.domain.hr_settings import HrSqlSettings
from lifecycle.domain.models import HrRecord, HrSnapshot
from lifecycle.domain.ports import HrSource, HrWriteBack
from lifecycle.domain.settings import Settings
from lifecycle.engine.cycle import company_aliases, open_hr
from lifecycle.testing import InMemoryDirectory
from lifecycle.testing.conformance import HrSourceContract
from lifecycle.testing.conformance.hr import Publish
from tests.harness import Cycle, at, make_settings

pytestmark = pytest.mark.servers

PG_URL = os.environ.get("LIFECYCLE_TEST_PG_HR", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("LIFECYCLE_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/test?charset=utf8mb4")
TODAY = date(2026, 12, 1)
NOW = at("2026-12-01T09:00")
RUN = uuid.uuid4().hex[:10]  # this run's schema (PostgreSQL) and table prefix (MariaDB)

# The people, as typed columns hold them: ids are numbers, dates are dates, an empty cell is NULL.
COLUMNS = ("employee_id", "name", "company", "department", "title", "manager_id", "status", "hire_date",
           "termination_date", "email")
PEOPLE: tuple[tuple[Any, ...], ...] = (
    (1001, "李娜", "HQ", "财务部", "经理", None, "active", date(2020, 1, 1), None, None),
    (1002, "王芳", "集团总部", "财务部", "会计", 1001, "在职", date(2021, 3, 15), None, "wang.fang@example.com"),
    (1003, "欧阳娜娜", "SZ", "研发部", "工程师", 1001, "terminated", date(2019, 7, 1), date(2026, 11, 30), None),
    (1004, "张伟", "深圳分公司", "研发部", "工程师", 1003, "leave", date(2022, 5, 9), None, None),
    (1005, "𠮷田花子", "HQ", "市场部", "专员", 1002, "active", date(2026, 12, 10), None, None),  # 𠮷: beyond the BMP
)
# The same people in a view with the Chinese headers of an export.
CHINESE = {"employee_id": "工号", "name": "姓名", "company": "公司", "department": "部门", "title": "职务",
           "manager_id": "上级工号", "status": "状态", "hire_date": "入职日期", "termination_date": "离职日期",
           "email": "邮箱"}


def csv_text(rows: Sequence[Sequence[Any]] = PEOPLE) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(["" if v is None else v.isoformat() if isinstance(v, date) else v for v in row])
    return out.getvalue()


# -- the servers ------------------------------------------------------------------------------


@dataclass
class Db:
    """A server's test database: this run's names in it, and what the tests made there (dropped afterwards)."""

    kind: str  # "postgresql" | "mariadb"
    url: str
    engine: Engine
    made: list[str] = field(default_factory=list)  # MariaDB: tables, views, users to drop

    def name(self, short: str) -> str:
        """The qualified name ([hr.sql] table) of this run's `short` table."""
        return f"hr_{RUN}.{short}" if self.kind == "postgresql" else f"test.hr_{RUN}_{short}"

    def run(self, *statements: str, **params: Any) -> None:
        with self.engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement), params)

    def scalar(self, statement: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(statement), params).scalar()

    def create_people(
        self, short: str, rows: Sequence[Sequence[Any]] = PEOPLE, *, key: str = "INT", account: bool = False
    ) -> str:
        """A table of COLUMNS (ids of type `key`; with `account`, a column for it) holding `rows`; returns its name."""
        table = self.name(short)
        types = {"employee_id": key, "manager_id": key, "hire_date": "DATE", "termination_date": "DATE",
                 "email": "VARCHAR(254)"}
        columns = ", ".join(f"{c} {types.get(c, 'VARCHAR(64)')}" for c in COLUMNS)
        charset = " DEFAULT CHARSET=utf8mb4" if self.kind == "mariadb" else ""
        if account:
            columns += ", account VARCHAR(64)"
        self.run(f"CREATE TABLE {table} ({columns}){charset}")
        self.made.append(f"TABLE {table}")
        self.fill(table, rows)
        return table

    def fill(self, table: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.engine.begin() as conn:
            conn.execute(text(f"DELETE FROM {table}"))
            if rows:
                values = ", ".join(f":{c}" for c in COLUMNS)
                conn.execute(text(f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({values})"),
                             [dict(zip(COLUMNS, row)) for row in rows])

    def create_view(self, short: str, select: str) -> str:
        view = self.name(short)
        self.run(f"CREATE VIEW {view} AS {select}")
        self.made.append(f"VIEW {view}")
        return view

    def user_with_password(self, password: str, *grants: str) -> str:
        """A user that logs in with `password` and holds only `grants` ("SELECT ON <table>"); returns its URL."""
        user = f"hr_{RUN}_{len(self.made)}"
        if self.kind == "postgresql":
            self.run(f"CREATE ROLE {user} LOGIN PASSWORD '{password}'", f"GRANT USAGE ON SCHEMA hr_{RUN} TO {user}",
                     *(f"GRANT {g} TO {user}" for g in grants))
            self.made.append(f"ROLE {user}")
        else:
            self.run(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'", *(f"GRANT {g} TO '{user}'@'%'" for g in grants))
            self.made.append(f"USER '{user}'@'%'")
        return make_url(self.url).set(username=user, password=password).render_as_string(hide_password=False)

    def settings(self, tmp_path: Path, **sql: Any) -> Settings:
        sql.setdefault("url", self.url)
        return make_settings(tmp_path, hr={"kind": "sql", "sql": sql})

    def source(self, tmp_path: Path, **sql: Any) -> SqlHrSource:
        settings = self.settings(tmp_path, **sql)
        return SqlHrSource(settings.hr, company_aliases(settings))


def _engine(url: str, server: str, start: str) -> Engine:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect():
            pass
    except Exception as exc:
        raise AssertionError(f"{server} at {make_url(url).render_as_string()} is needed for these tests: {exc}; "
                             f"start it with `{start}`") from None
    return engine


@pytest.fixture(scope="module")
def pg_server() -> Iterator[Engine]:
    engine = _engine(PG_URL, "PostgreSQL", "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start")
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA hr_{RUN}"))
    yield engine
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA hr_{RUN} CASCADE"))
    engine.dispose()


@pytest.fixture(scope="module")
def mariadb_server() -> Iterator[Engine]:
    yield _engine(MARIADB_URL, "MariaDB", "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd")


@pytest.fixture
def pg(pg_server: Engine) -> Iterator[Db]:
    db = Db("postgresql", PG_URL, pg_server)
    yield db
    with pg_server.begin() as conn:  # the tables go with the schema; a role has to go before the next run's
        for made in reversed(db.made):
            if made.startswith("ROLE "):
                role = made.removeprefix("ROLE ")
                conn.execute(text(f"DROP OWNED BY {role}"))
                conn.execute(text(f"DROP ROLE {role}"))
            else:
                conn.execute(text(f"DROP {made} CASCADE"))


@pytest.fixture
def mariadb(mariadb_server: Engine) -> Iterator[Db]:
    db = Db("mariadb", MARIADB_URL, mariadb_server)
    yield db
    with mariadb_server.begin() as conn:
        for made in reversed(db.made):
            conn.execute(text(f"DROP {made}"))


@pytest.fixture(params=["postgresql", "mariadb"])
def db(request: pytest.FixtureRequest) -> Db:
    fixture: Db = request.getfixturevalue("pg" if request.param == "postgresql" else "mariadb")
    return fixture


def without_row(snapshot: HrSnapshot) -> list[HrRecord]:
    """The records, less their row numbers (a CSV's header is row 1, a query's first row is row 1)."""
    return sorted((replace(r, row=0) for r in snapshot.records), key=lambda r: r.employee_id)


# -- the same people, whatever holds them -----------------------------------------------------


def test_a_postgresql_view_and_a_mariadb_table_give_the_csv_s_records_and_plan(
    tmp_path: Path, pg: Db, mariadb: Db
) -> None:
    csv_settings = make_settings(tmp_path)
    Path(csv_settings.hr.path).write_text(csv_text(), encoding="utf-8")
    from_csv = CsvHrSource(csv_settings.hr, company_aliases(csv_settings)).read(TODAY)

    base = pg.create_people("staff_base")
    view = pg.create_view("staff", "SELECT " + ", ".join(f'{c} AS "{CHINESE[c]}"' for c in COLUMNS) + f" FROM {base}")
    pg_settings = pg.settings(tmp_path / "pg", table=view)
    from_pg = open_hr(pg_settings).read(TODAY)  # [hr] kind = "sql" opens this connector
    from_mariadb = mariadb.source(tmp_path / "mariadb", table=mariadb.create_people("staff")).read(TODAY)

    assert len(from_csv.records) == len(PEOPLE) and not from_csv.rejected
    for snapshot in (from_pg, from_mariadb):
        assert without_row(snapshot) == without_row(from_csv)  # every field, the companies' names resolved
        assert snapshot.rejected == () and snapshot.columns == from_csv.columns
    assert {r.employee_id: r.name for r in from_mariadb.records}["1005"] == "𠮷田花子"
    assert from_pg.source == f"postgresql+psycopg://postgres@127.0.0.1:5432/test (table {view})"

    cycle = Cycle(csv_settings, InMemoryDirectory())
    try:
        plans = [cycle.plan(snapshot, NOW) for snapshot in (from_csv, from_pg, from_mariadb)]
    finally:
        cycle.close()
    # The same actions; their reasons name the row where HR holds the person (a file's row 2 is a query's row 1).
    actions = [[replace(a, reason=re.sub(r" \(row \d+\)", "", a.reason)) for a in plan.actions] for plan in plans]
    assert actions[0] and actions[1] == actions[0] and actions[2] == actions[0]
    assert [a.reason for a in plans[1].actions] == [a.reason for a in plans[2].actions]


def test_chinese_text_round_trips_in_names_headers_and_values(tmp_path: Path, db: Db) -> None:
    rare = "𠮷野龘䶮"  # outside the BMP (utf8mb4 on MariaDB), and rare characters inside it
    table = db.create_people("staff", [(*PEOPLE[0][:1], rare, *PEOPLE[0][2:])])
    header = '"姓名"' if db.kind == "postgresql" else "`姓名`"
    query = f"SELECT employee_id AS 工号, name AS {header}, company, department, status, hire_date FROM {table}"
    snapshot = db.source(tmp_path, query=query).read(TODAY)
    assert [(r.employee_id, r.name, r.department) for r in snapshot.records] == [("1001", rare, "财务部")]


# -- bad rows and bad sources -----------------------------------------------------------------


def test_a_bad_row_is_rejected_with_its_row_and_employee_and_the_others_are_kept(tmp_path: Path, db: Db) -> None:
    bad = list(PEOPLE)
    bad[2] = (*PEOPLE[2][:6], "退休返聘", *PEOPLE[2][7:])  # a status word nobody mapped
    table = db.create_people("staff", bad)
    snapshot = db.source(tmp_path, query=f"SELECT * FROM {table} ORDER BY employee_id").read(TODAY)
    assert sorted(r.employee_id for r in snapshot.records) == ["1001", "1002", "1004", "1005"]
    [rejected] = snapshot.rejected
    assert (rejected.row, rejected.employee_id, rejected.field) == (3, "1003", "status")
    assert rejected.message().startswith("row 3 (employee 1003): status:")


def test_every_row_rejected_or_none_at_all_refuses_the_feed(tmp_path: Path, db: Db) -> None:
    table = db.create_people("staff", [(*row[:7], None, *row[8:]) for row in PEOPLE])  # no hire date anywhere
    source = db.source(tmp_path, table=table)
    with pytest.raises(FeedError, match=r"every one of the 5 rows of .* \(table .*\) was rejected"):
        source.read(TODAY)
    db.fill(table, [])
    with pytest.raises(FeedError, match=r"returned no rows; refusing to treat every employee as gone"):
        source.read(TODAY)


def test_an_unknown_table_is_refused_naming_the_source_and_the_fix_never_the_password(tmp_path: Path, db: Db) -> None:
    password = f"pw{RUN}"  # lower case: the server quotes it back as it folds names
    table = db.create_people("staff")
    # MariaDB tells a user who may not see a table that it is denied, not that it is missing: grant the database.
    url = db.user_with_password(password, f"SELECT ON {table}" if db.kind == "postgresql" else "SELECT ON test.*")
    source = db.source(tmp_path, url=url, table=db.name("nosuch"))
    with pytest.raises(FeedError) as caught:
        source.read(TODAY)
    message = str(caught.value)
    shown = make_url(url).render_as_string(hide_password=True)
    assert message.startswith(f"cannot read {shown} (table {db.name('nosuch')}): ")
    assert "nosuch" in message and "fix: check that [hr.sql] table" in message
    # The server quotes a name it does not know: a name that is the password comes back scrubbed.
    echoed = db.source(tmp_path, url=url, query=f"SELECT * FROM {password}")
    with pytest.raises(FeedError) as caught_echo:
        echoed.read(TODAY)
    for text_ in (message, str(caught_echo.value), source.name):
        assert password not in text_ and "***" in text_
    assert source.fingerprint() == ""
    # It reads with that password, so it is the one the server checks.
    assert len(db.source(tmp_path, url=url, table=table).read(TODAY).records) == len(PEOPLE)


def test_a_wrong_password_and_a_closed_port_are_refused_with_their_fix(tmp_path: Path, db: Db) -> None:
    table = db.create_people("staff")
    url = db.user_with_password(f"right{RUN}", f"SELECT ON {table}")
    if db.kind == "mariadb":  # PostgreSQL trusts every local user here: it checks no password
        wrong = make_url(url).set(password=f"wrong{RUN}").render_as_string(hide_password=False)
        with pytest.raises(FeedError, match=r"Access denied for user .*fix: check the user and password in the URL"):
            db.source(tmp_path, url=wrong, table=table).read(TODAY)
    else:
        unknown = make_url(url).set(username=f"nobody{RUN}").render_as_string(hide_password=False)
        with pytest.raises(FeedError, match=r'role "nobody.*" does not exist; fix: check the user and password'):
            db.source(tmp_path, url=unknown, table=table).read(TODAY)
    closed = make_url(url).set(port=1).render_as_string(hide_password=False)
    source = db.source(tmp_path, url=closed, table=table)
    with pytest.raises(FeedError, match=r"(?i)refused.*fix: check the host and port in the URL") as caught:
        source.read(TODAY)
    assert source.fingerprint() == ""
    assert f"right{RUN}" not in str(caught.value) and "***" in str(caught.value)


def test_a_query_that_is_slower_than_the_timeout_is_cancelled_by_the_server(tmp_path: Path, db: Db) -> None:
    table = db.create_people("staff")
    sleep = "pg_sleep(1)" if db.kind == "postgresql" else "SLEEP(1)"
    source = db.source(tmp_path, query=f"SELECT t.*, {sleep} AS slept FROM {table} t", timeout_seconds=0.2)
    with pytest.raises(FeedError, match=r"(?i)(statement timeout|max_statement_time).*raise \[hr.sql\] timeout_seconds"):
        source.read(TODAY)


# -- one read-only, consistent transaction ----------------------------------------------------


@pytest.mark.parametrize("writes", ["a writing CTE", "a second statement"])
def test_postgresql_refuses_a_query_that_writes(tmp_path: Path, pg: Db, writes: str) -> None:
    table = pg.create_people("staff")
    query = (f"WITH gone AS (DELETE FROM {table} RETURNING *) SELECT * FROM gone" if writes == "a writing CTE"
             else f"SELECT * FROM {table}; DELETE FROM {table}")
    with pytest.raises(FeedError, match=r"read-only transaction.*fix: the daemon reads in a read-only transaction"):
        pg.source(tmp_path, query=query).read(TODAY)
    assert pg.scalar(f"SELECT count(*) FROM {table}") == len(PEOPLE)


def test_mariadb_refuses_a_query_that_writes(tmp_path: Path, mariadb: Db) -> None:
    table = mariadb.create_people("staff")
    with pytest.raises(FeedError, match=r"READ ONLY transaction.*fix: the daemon reads in a read-only transaction"):
        mariadb.source(tmp_path, query=f"DELETE FROM {table}").read(TODAY)
    assert mariadb.scalar(f"SELECT count(*) FROM {table}") == len(PEOPLE)


def test_the_read_is_one_repeatable_read_read_only_transaction(tmp_path: Path, db: Db) -> None:
    """The query itself reports the transaction it runs in (as the title of each person)."""
    table = db.create_people("staff")
    if db.kind == "postgresql":
        seen = "current_setting('transaction_isolation') || '/' || current_setting('transaction_read_only')"
        expected = "repeatable read/on"
    else:
        seen = ("(SELECT CONCAT(trx_isolation_level, '/', trx_is_read_only) FROM information_schema.innodb_trx "
                "WHERE trx_mysql_thread_id = CONNECTION_ID())")
        expected = "REPEATABLE READ/1"
    query = f"SELECT employee_id, name, company, department, status, hire_date, {seen} AS title FROM {table}"
    snapshot = db.source(tmp_path, query=query).read(TODAY)
    assert {r.title for r in snapshot.records} == {expected}


# -- dates and time zones ---------------------------------------------------------------------


def _session_zone(db: Db, zone: str) -> set[str]:
    """What the server says its session zone is once the daemon set `zone`: MariaDB without its zone tables
    (as here) takes the zone's offset now."""
    if db.kind == "postgresql":
        return {zone}
    offset = datetime.now(ZoneInfo(zone)).utcoffset() or timedelta()
    minutes = int(offset.total_seconds() // 60)
    return {zone, f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"}


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/Los_Angeles"])
def test_a_time_with_a_zone_counts_as_its_date_in_the_configured_zone(tmp_path: Path, db: Db, zone: str) -> None:
    """timestamptz (PostgreSQL) and TIMESTAMP (MariaDB) hold an instant: its date is the one in [hr.sql] timezone,
    whatever the server's zone; a time without a zone (timestamp, DATETIME) is taken as written."""
    table = db.name("stamps")
    instant, wall_clock = ("TIMESTAMP WITH TIME ZONE", "TIMESTAMP") if db.kind == "postgresql" else ("TIMESTAMP NULL",
                                                                                                     "DATETIME")
    db.run(f"CREATE TABLE {table} (employee_id INT, name VARCHAR(64), company VARCHAR(64), department VARCHAR(64), "
           f"status VARCHAR(64), hire_date {wall_clock}, termination_date {instant})")
    db.made.append(f"TABLE {table}")
    # Left in UTC: midnight in Beijing on 30 June (16:00 on the 29th in UTC, 09:00 in Los Angeles), and 08:00 in
    # Beijing on 30 June (midnight in UTC, 17:00 on the 29th in Los Angeles).
    utc = "SET TIME ZONE 'UTC'" if db.kind == "postgresql" else "SET time_zone = '+00:00'"
    with db.engine.begin() as conn:
        conn.execute(text(utc))
        conn.execute(text(f"INSERT INTO {table} VALUES (1001, '李娜', 'HQ', '财务部', '离职', '2020-01-01 00:00:00', "
                          "'2026-06-29 16:00:00'), (1002, '王芳', 'HQ', '财务部', '离职', '2021-03-15 23:30:00', "
                          "'2026-06-30 00:00:00')"))
    seen = "current_setting('TimeZone')" if db.kind == "postgresql" else "@@session.time_zone"
    source = db.source(tmp_path, query=f"SELECT t.*, {seen} AS title FROM {table} t", timezone=zone)
    snapshot = source.read(TODAY)
    dates = {r.employee_id: (r.hire_date, r.termination_date) for r in snapshot.records}
    day = 30 if zone == "Asia/Shanghai" else 29
    assert dates == {"1001": (date(2020, 1, 1), date(2026, 6, day)), "1002": (date(2021, 3, 15), date(2026, 6, day))}
    # What the server computes (NOW(), CURRENT_DATE) is in the same zone.
    assert {r.title for r in snapshot.records} <= _session_zone(db, zone) and snapshot.records
    assert source.fingerprint() == snapshot.fingerprint


def test_an_instant_the_driver_gives_in_another_zone_is_dated_in_the_configured_one() -> None:
    """A driver whose session zone the daemon cannot set (SQL Server's datetimeoffset) gives the instant as stored."""
    shanghai = ZoneInfo("Asia/Shanghai")
    assert cell_text(_cell(datetime(2026, 6, 29, 16, tzinfo=UTC), "离职日期", shanghai)) == "2026-06-30"
    assert cell_text(_cell(datetime(2026, 6, 29, 20, tzinfo=timezone(timedelta(hours=-4))), "离职日期",
                           shanghai)) == "2026-06-30"
    assert cell_text(_cell(datetime(2026, 6, 29, 23, 30), "离职日期", shanghai)) == "2026-06-29"  # no zone: as written


def test_mariadb_writes_back_the_time_in_the_configured_zone(tmp_path: Path, mariadb: Db) -> None:
    table = mariadb.create_people("staff", key="VARCHAR(64)")
    kept = mariadb.name("accounts")
    mariadb.run(f"CREATE TABLE {kept} (employee_id VARCHAR(64) PRIMARY KEY, account VARCHAR(64) NOT NULL, "
                "email VARCHAR(254), written_at DATETIME NOT NULL)")
    mariadb.made.append(f"TABLE {kept}")
    mariadb.source(tmp_path, table=table, writeback_table=kept).write_back("1002", "wang.fang", "")
    # written_at (a DATETIME, the session's CURRENT_TIMESTAMP) is Beijing time: 8 hours ahead of UTC.
    hours = mariadb.scalar(f"SELECT ROUND(TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), written_at) / 3600) FROM {kept}")
    assert int(hours) == 8


def test_timezone_must_be_a_zone_name(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"'Beijing' is not a time zone \(e.g. Asia/Shanghai\)"):
        HrSqlSettings(url="postgresql://hr@db/hr", table="staff", timezone="Beijing")
    assert HrSqlSettings(url="postgresql://hr@db/hr", table="staff").timezone == "Asia/Shanghai"


# -- the fingerprint --------------------------------------------------------------------------


def test_the_fingerprint_moves_with_the_content_only(tmp_path: Path, db: Db) -> None:
    table = db.create_people("staff")
    source = db.source(tmp_path, table=table)
    first = source.fingerprint()
    assert len(first) == 64 and source.read(TODAY).fingerprint == first
    db.run(f"UPDATE {table} SET name = name, title = title")  # rewrites every row (PostgreSQL: in a new order)
    assert source.fingerprint() == first
    db.run(f"UPDATE {table} SET title = '主管' WHERE employee_id = 1002")
    changed = source.fingerprint()
    assert changed not in ("", first) and source.read(TODAY).fingerprint == changed
    db.run(f"UPDATE {table} SET title = '会计' WHERE employee_id = 1002")
    assert source.fingerprint() == first
    assert source.age_seconds() == float("inf")


# -- write-back -------------------------------------------------------------------------------


def test_the_write_back_statement_updates_the_employee_s_row(tmp_path: Path, db: Db) -> None:
    table = db.create_people("staff", account=True)
    statement = f"UPDATE {table} SET account = :account, email = :email WHERE employee_id = :employee_id"
    source = db.source(tmp_path, table=table, writeback_statement=statement)
    assert isinstance(source, HrWriteBack) and isinstance(source, HrSource)
    source.write_back("1004", "zhang.wei", "zhang.wei@sz.example.com")
    source.write_back("1004", "zhang.wei", "zhang.wei@sz.example.com")  # the same again: the row is still found
    source.write_back("1001", "li.na", "")
    with db.engine.connect() as conn:
        rows = {str(r[0]): (r[1], r[2]) for r in conn.execute(text(f"SELECT employee_id, account, email FROM {table}"))}
    assert rows["1004"] == ("zhang.wei", "zhang.wei@sz.example.com")
    assert rows["1001"] == ("li.na", None)  # no address: NULL
    assert rows["1002"] == (None, "wang.fang@example.com")  # nobody else touched
    # What was written back is what the next read sees (account and email are columns of the export).
    snapshot = source.read(TODAY)
    assert {r.employee_id: r.account for r in snapshot.records}["1004"] == "zhang.wei"


def test_a_write_back_that_finds_no_row_or_several_changes_nothing(tmp_path: Path, db: Db) -> None:
    table = db.create_people("staff", account=True)
    by_id = f"UPDATE {table} SET account = :account WHERE employee_id = :employee_id"
    with pytest.raises(HrWriteBackError, match=r"no row for employee 9999 in .*fix: check that HR has this employee"):
        db.source(tmp_path, table=table, writeback_statement=by_id).write_back("9999", "nobody", "")
    by_department = f"UPDATE {table} SET account = :account WHERE department = '研发部' OR employee_id = :employee_id"
    with pytest.raises(HrWriteBackError, match=r"would update 3 rows for employee 1001 .* nothing was changed"):
        db.source(tmp_path, table=table, writeback_statement=by_department).write_back("1001", "li.na", "")
    assert db.scalar(f"SELECT count(*) FROM {table} WHERE account IS NOT NULL") == 0


@pytest.mark.parametrize(("statement", "refusal"), [
    ("UPDATE hr.staff SET ad_account = :account", r"does not bind :employee_id, so it cannot name the employee's row"),
    ("UPDATE hr.staff SET mail = :mail, ad_account = :acount WHERE emp_no = :employee_id",
     r"binds :acount, :mail, which the daemon does not supply; fix: bind only :employee_id, :account and :email"),
    ("UPDATE hr.staff SET ad_account = :account WHERE emp_no = :employee_id::text",
     r"does not bind :employee_id, .* \(a cast right after a bind hides it: write CAST\(:employee_id AS \.\.\.\)\)"),
])
def test_a_write_back_statement_that_binds_the_wrong_names_is_refused_when_the_settings_load(
    statement: str, refusal: str
) -> None:
    with pytest.raises(ValidationError, match=refusal):
        HrSqlSettings(url="postgresql://hr@db/hr", table="staff", writeback_statement=statement)


@pytest.mark.parametrize(("sql", "written"), [
    ({"writeback_statement": "UPDATE s SET a = :account, e = :email WHERE id = :employee_id"}, {"account", "email"}),
    ({"writeback_statement": "UPDATE s SET e = :email WHERE id = :employee_id"}, {"email"}),
    ({"writeback_statement": "UPDATE s SET a = :account, t = '12\\:00' WHERE id = CAST(:employee_id AS int)"},
     {"account"}),
    ({"writeback_table": "lifecycle_accounts"}, {"account", "email"}),
    ({}, set()),
])
def test_written_fields_are_what_the_write_back_sets(sql: dict[str, str], written: set[str]) -> None:
    assert HrSqlSettings(url="postgresql://hr@db/hr", table="staff", **sql).written_fields == written


def test_a_statement_that_sets_only_the_email_leaves_the_account_alone(tmp_path: Path, db: Db) -> None:
    table = db.create_people("staff", account=True)
    db.run(f"UPDATE {table} SET account = 'HR-OWN-1001' WHERE employee_id = 1001")
    statement = f"UPDATE {table} SET email = :email WHERE employee_id = :employee_id"
    db.source(tmp_path, table=table, writeback_statement=statement).write_back("1001", "li.na", "li.na@example.com")
    with db.engine.connect() as conn:
        row = conn.execute(text(f"SELECT account, email FROM {table} WHERE employee_id = 1001")).one()
    assert tuple(row) == ("HR-OWN-1001", "li.na@example.com")


def test_the_write_back_table_holds_one_row_per_employee(tmp_path: Path, db: Db) -> None:
    table = db.create_people("staff", key="VARCHAR(64)")
    kept = db.name("accounts")
    stamp = "TIMESTAMP WITH TIME ZONE" if db.kind == "postgresql" else "DATETIME"
    db.run(f"CREATE TABLE {kept} (employee_id VARCHAR(64) PRIMARY KEY, account VARCHAR(64) NOT NULL, "
           f"email VARCHAR(254), written_at {stamp} NOT NULL)")
    db.made.append(f"TABLE {kept}")
    source = db.source(tmp_path, table=table, writeback_table=kept)
    source.write_back("1002", "wangfang", "")
    source.write_back("1003", "ouyang.nana", "ouyang.nana@sz.example.com")
    source.write_back("1002", "wang.fang", "wang.fang@example.com")  # replaced, not added
    with db.engine.connect() as conn:
        rows = conn.execute(text(f"SELECT employee_id, account, email, written_at FROM {kept} ORDER BY employee_id")).all()
    assert [tuple(r[:3]) for r in rows] == [("1002", "wang.fang", "wang.fang@example.com"),
                                           ("1003", "ouyang.nana", "ouyang.nana@sz.example.com")]
    assert all(r[3] is not None for r in rows)
    # A query that joins the table reads back what was written (which ends the write-back for those people).
    joined = (f"SELECT s.employee_id, s.name, s.company, s.department, s.status, s.hire_date, a.account, a.email "
              f"FROM {table} s LEFT JOIN {kept} a ON a.employee_id = s.employee_id")
    snapshot = db.source(tmp_path, query=joined, writeback_table=kept).read(TODAY)
    assert {(r.employee_id, r.account, r.email) for r in snapshot.records if r.account} == {
        ("1002", "wang.fang", "wang.fang@example.com"), ("1003", "ouyang.nana", "ouyang.nana@sz.example.com")}
    with pytest.raises(HrWriteBackError, match=r"(?i)(does not exist|doesn't exist).*fix: create the write-back table"):
        db.source(tmp_path, table=table, writeback_table=db.name("missing")).write_back("1002", "wang.fang", "")


def test_a_write_back_the_database_refuses_names_its_reason_not_the_password(tmp_path: Path, db: Db) -> None:
    password = f"pw{RUN}"
    table = db.create_people("staff", account=True)
    url = db.user_with_password(password, f"SELECT ON {table}")  # reads, may not write
    statement = f"UPDATE {table} SET account = :account WHERE employee_id = :employee_id"
    source = db.source(tmp_path, url=url, table=table, writeback_statement=statement)
    assert len(source.read(TODAY).records) == len(PEOPLE)
    with pytest.raises(HrWriteBackError) as caught:
        source.write_back("1001", "li.na", "li.na@example.com")
    message = str(caught.value)
    assert message.startswith(f"cannot write back to {make_url(url).render_as_string(hide_password=True)}")
    assert "denied" in message.lower()
    assert "fix: have the DBA grant this user the write-back's rights" in message
    assert password not in message and "li.na@example.com" not in message
    assert db.scalar(f"SELECT count(*) FROM {table} WHERE account IS NOT NULL") == 0


def test_write_back_without_a_statement_or_table_is_refused(tmp_path: Path, pg: Db) -> None:
    with pytest.raises(HrWriteBackError, match="sets neither writeback_statement nor writeback_table"):
        pg.source(tmp_path, table=pg.name("staff")).write_back("1001", "li.na", "")


# -- the URL ----------------------------------------------------------------------------------


def test_the_url_is_read_from_its_file_on_first_use(tmp_path: Path, pg: Db) -> None:
    table = pg.create_people("staff")
    url_file = tmp_path / "hr-db-url"
    source = pg.source(tmp_path, url=None, url_file=str(url_file), table=table)  # no file yet: nothing is read
    assert source.name == f"the HR database of [hr.sql] url_file {url_file} (table {table})"
    assert source.fingerprint() == ""
    with pytest.raises(FeedError, match=r"cannot open the HR database: cannot read the file .*hr-db-url"):
        source.read(TODAY)
    url_file.write_text(PG_URL.replace("postgresql+psycopg://", "postgresql://") + "\n", encoding="utf-8")  # no driver
    url_file.chmod(0o600)
    assert len(source.read(TODAY).records) == len(PEOPLE)
    assert source.name == f"postgresql+psycopg://postgres@127.0.0.1:5432/test (table {table})"


def test_a_url_that_cannot_be_used_is_refused_without_echoing_it(tmp_path: Path, pg: Db) -> None:
    with pytest.raises(FeedError, match=r"\[hr.sql\] url is not a database URL") as caught:
        pg.source(tmp_path, url="hr database at db1 with password s3cr3t", table="staff").read(TODAY)
    assert "s3cr3t" not in str(caught.value)
    with pytest.raises(FeedError, match=r"driver for mssql\+pyodbc://hr:\*\*\*@sqlserver/hr is not installed .*"
                                         r"pip install pyodbc"):
        pg.source(tmp_path, url="mssql+pyodbc://hr:s3cr3t@sqlserver/hr", table="staff").read(TODAY)
    with pytest.raises(FeedError, match=r"pip install oracledb"):
        pg.source(tmp_path, url="oracle+oracledb://hr:s3cr3t@ora:1521/?service_name=HR", table="staff").read(TODAY)


def test_a_url_whose_port_is_not_a_number_is_reported_without_the_url(tmp_path: Path, pg: Db) -> None:
    url = "postgresql://lifecycle:S3cr3tPW@hr-db:54x2/ehr"
    statement = "UPDATE staff SET account = :account WHERE employee_id = :employee_id"
    source = pg.source(tmp_path, url=url, table="staff", writeback_statement=statement)
    assert source.name == "the HR database of [hr.sql] url (table staff)"
    with pytest.raises(FeedError, match=r"^\[hr.sql\] url is not a database URL \(its port is not a number\); fix: ") as read:
        source.read(TODAY)
    assert source.fingerprint() == ""
    with pytest.raises(HrWriteBackError, match=r"url is not a database URL \(its port is not a number\)") as written:
        source.write_back("1001", "li.na", "")
    # `lifecycle check` reports it as the HR source's problem (no traceback).
    problems = _check_hr(pg.settings(tmp_path, url=url, table="staff"))
    assert problems == [f"hr source (sql): {read.value}"]
    for shown in (str(read.value), str(written.value), source.name, problems[0]):
        assert "S3cr3tPW" not in shown and "54x2" not in shown and "hr-db" not in shown
    assert read.value.__cause__ is None and read.value.__suppress_context__


def test_messages_show_the_url_without_any_secret_in_it() -> None:
    password = quote_plus("Pa55;w@rd")
    odbc = make_url(f"mssql+pyodbc://?odbc_connect={quote_plus('DRIVER={ODBC Driver 18};SERVER=db;UID=hr;PWD=Pa55')}")
    assert "Pa55" not in safe_url(odbc) and "UID%3Dhr" in safe_url(odbc)
    assert safe_url(make_url(f"postgresql+psycopg://hr:{password}@db/hr?sslpassword=x")) == (
        "postgresql+psycopg://hr:***@db/hr?sslpassword=%2A%2A%2A")


# -- the HrSource contract --------------------------------------------------------------------

CONTRACT_COLUMNS = ("employee_id", "name", "company", "department", "title", "manager_id", "status", "hire_date",
                    "termination_date")


def _contract_rows(records: Sequence[HrRecord]) -> list[tuple[Any, ...]]:
    return [(r.employee_id, r.name, r.company, r.department, r.title, r.manager_id or None, r.status.value,
             r.hire_date, r.termination_date, None) for r in records]


class TestPostgreSqlQuery(HrSourceContract):
    @pytest.fixture
    def publish(self, tmp_path: Path, pg: Db) -> Publish:
        table = pg.create_people("contract", [], key="VARCHAR(64)")
        source = pg.source(tmp_path, query=f"SELECT {', '.join(CONTRACT_COLUMNS)} FROM {table} ORDER BY employee_id")

        def publish(records: Sequence[HrRecord]) -> SqlHrSource:
            pg.fill(table, _contract_rows(records))
            return source

        return publish


class TestMariaDbTable(HrSourceContract):
    @pytest.fixture
    def publish(self, tmp_path: Path, mariadb: Db) -> Publish:
        table = mariadb.create_people("contract", [], key="VARCHAR(64)")
        url = make_url(MARIADB_URL).set(drivername="mariadb+pymysql").difference_update_query(["charset"])
        source = mariadb.source(tmp_path, url=url.render_as_string(hide_password=False), table=table)
        assert source.name.startswith("mariadb+pymysql://") and "charset=utf8mb4" in source.name

        def publish(records: Sequence[HrRecord]) -> SqlHrSource:
            mariadb.fill(table, _contract_rows(records))
            return source

        return publish
