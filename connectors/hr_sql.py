"""The HR database as a source: a view, table or query read over SQLAlchemy (`[hr] kind = "sql"`).

`SqlHrSource` is the `HrSource` port (lifecycle.domain.ports) and `HrWriteBack` over `[hr.sql]`.
Like the CSV reader it only finds the header and the rows: the result's column names are the
header (the same names, Chinese names and `[hr.columns]` mapping as a CSV export), and
`connectors.hr_snapshot` validates them.  Cells arrive as the database's types (dates, numbers).

One read is one connection and one transaction that can only read and sees one snapshot:
PostgreSQL `REPEATABLE READ, READ ONLY`; MariaDB/MySQL `START TRANSACTION WITH CONSISTENT SNAPSHOT,
READ ONLY` at REPEATABLE READ; Oracle `SET TRANSACTION READ ONLY`; elsewhere (SQL Server) a plain
transaction, so the account should have SELECT only.  Every read transaction is rolled back.  The
statement timeout (`timeout_seconds`) is the server's: PostgreSQL `statement_timeout`, MariaDB
`max_statement_time`, MySQL `max_execution_time`.  Connections are not pooled: the daemon polls
every few minutes and keeps no idle connection to HR's database.

Dates: a time with a zone (PostgreSQL `timestamptz`, SQL Server `datetimeoffset`) becomes the date it
is in `[hr.sql] timezone` (Asia/Shanghai by default), not in the server's zone: midnight Beijing time
is that day, not the day before in UTC.  The session takes the same zone, so what the server computes
(`NOW()`, `CURRENT_DATE`, a MariaDB `TIMESTAMP` column) agrees: PostgreSQL `TimeZone` for the
transaction; MariaDB/MySQL `time_zone`, named when the server has its zone tables
(mysql_tzinfo_to_sql) and otherwise the zone's offset now (exact for China, which has no summer
time).  A time without a zone (`timestamp`, `DATETIME`) is HR's wall-clock time and is taken as is.

Row numbers: row N is the N-th row of the result (1 = the first, as database clients number them);
a rejection also names the row's employee id when it has one.  The query is sent as written (no
bind parameters), so `%` and `:` in it need no escaping.

The URL carries the password: it is read from `url_file` (or `url`) on first use and shown only as
`render_as_string(hide_password=True)`; a driver message that quotes the password is scrubbed.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import column, delete, func, insert, table, text
from sqlalchemy.engine import URL, Connection, Engine, create_engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from connectors.hr_records import cell_text
from connectors.hr_snapshot import RowsRead, build_snapshot
from lifecycle.domain.errors import FeedError, HrWriteBackError
from lifecycle.domain.hr_settings import HrSettings, HrSqlSettings
from lifecycle.domain.models import HrSnapshot
from lifecycle.domain.settings import Secret, read_secret

__all__ = ["URL_SECRET", "SqlHrSource", "safe_url"]

log = structlog.get_logger(__name__)

URL_SECRET = Secret("hr.sql", "url", "the database URL (with its password)")

# A URL naming only the database picks SQLAlchemy's default driver, which is not installed: take the one that is.
_INSTALLED_DRIVERS = {"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql", "mariadb": "mariadb+pymysql"}
# The package to install for a driver a URL names, when it is missing.
_DRIVER_PACKAGES = {"pyodbc": "pyodbc", "oracledb": "oracledb", "pymssql": "pymssql", "psycopg2": "psycopg2-binary",
                    "mysqldb": "mysqlclient", "mariadbconnector": "mariadb", "asyncpg": "asyncpg"}
# URL query keys whose values are secrets (a driver that takes the password as a parameter).
_SECRET_QUERY_KEY = re.compile(r"pass|pwd|secret|token|key", re.IGNORECASE)
_ODBC_SECRET = re.compile(r"((?:PWD|Password)\s*=\s*)(\{[^}]*\}|[^;]*)", re.IGNORECASE)
_CONNECT_SLACK = 10  # seconds a client waits beyond the server's statement timeout before giving up itself


def safe_url(url: URL) -> str:
    """The URL as messages show it: no password, nor a secret in its query (an ODBC connection string's PWD)."""
    query: dict[str, str | tuple[str, ...]] = {}
    for key, value in url.query.items():
        if _SECRET_QUERY_KEY.search(key):
            query[key] = "***"
        elif key == "odbc_connect":
            query[key] = _ODBC_SECRET.sub(r"\1***", value if isinstance(value, str) else ";".join(value))
    return url.update_query_dict(query).render_as_string(hide_password=True) if query else url.render_as_string(
        hide_password=True)


class SqlHrSource:
    """`[hr.sql]` as the cycle reads it (the `HrSource` port) and writes the assigned account back (`HrWriteBack`).

    `company_aliases` maps company codes and names to codes (HR may write either).
    """

    def __init__(self, settings: HrSettings, company_aliases: Mapping[str, str]) -> None:
        if settings.sql is None:
            raise ValueError('[hr] kind = "sql" needs an [hr.sql] section')
        self.settings = settings
        self.sql: HrSqlSettings = settings.sql
        self.company_aliases = dict(company_aliases)
        self._engine: Engine | None = None
        self._shown = ""  # the URL as messages show it, once read
        self._lock = threading.Lock()
        self._zone = ZoneInfo(self.sql.timezone)

    # -- the HrSource port -----------------------------------------------------------------

    @property
    def name(self) -> str:
        if not self._shown:
            try:
                self._open()
            except FeedError:
                where = f"[hr.sql] url_file {self.sql.url_file}" if self.sql.url_file else "[hr.sql] url"
                return f"the HR database of {where} ({self._what})"
        return f"{self._shown} ({self._what})"

    def read(self, today: date) -> HrSnapshot:
        """Every row of the view, table or query, validated; FeedError when the database cannot be read."""
        started = time.monotonic()
        result = self._fetch()
        seconds = round(time.monotonic() - started, 3)
        source = self.name
        if not any(any(cell_text(c).strip() for c in cells) for cells in result.rows):
            got = f"{len(result.rows)} rows, every cell empty" if result.rows else "no rows"
            raise FeedError(
                f"{source} returned {got}; refusing to treat every employee as gone; fix: check that the "
                f"{'query' if self.sql.query.strip() else 'table or view'} selects the employees (run it in a database "
                "client as the same user)"
            )
        read = RowsRead(result.headers, list(enumerate(result.rows, 1)), source, header_row=0, width=len(result.headers),
                        fingerprint=result.fingerprint, details={"read_seconds": seconds})
        return build_snapshot(read, self.settings, self.company_aliases, today)

    def age_seconds(self) -> float:
        """A committed transaction is never half-written: the snapshot never needs to settle."""
        return math.inf

    def fingerprint(self) -> str:
        """The digest of the rows a read gives now (the same as `read().fingerprint`); "" when unreadable."""
        try:
            return self._fetch().fingerprint
        except FeedError as exc:
            log.info("hr_sql_fingerprint_unreadable", source=self.name, error=str(exc))
            return ""

    # -- HrWriteBack -------------------------------------------------------------------------

    def write_back(self, employee_id: str, account: str, email: str) -> None:
        """Record the account and address for `employee_id` in HR's database, in a transaction of its own.

        `writeback_statement` must update exactly one row (none: no such employee; several: the WHERE is
        wrong, and nothing is changed); `writeback_table` holds one row per employee (replaced).
        An empty address is written as NULL.
        """
        if not self.sql.writes_back:
            raise HrWriteBackError("[hr.sql] sets neither writeback_statement nor writeback_table: nothing to write back to")
        values = {"employee_id": employee_id, "account": account, "email": email or None}
        try:
            engine = self._open()
        except FeedError as exc:
            raise HrWriteBackError(str(exc)) from exc  # ours: no password in it, and no cause that has one
        try:
            with engine.connect() as conn:
                self._limit_time(conn)
                self._set_zone(conn)  # NOW() in the statement (or written_at) is HR's local time
                if self.sql.writeback_statement:
                    self._update(conn, values)
                else:
                    self._replace_row(conn, values)
                conn.commit()
        except DBAPIError as exc:
            # The driver's words may quote the password (a name the server echoes): only the scrubbed text goes on.
            message = self._scrub(self._explain(exc, "write back to", writing=True))
            raise HrWriteBackError(message) from None
        except SQLAlchemyError as exc:
            raise HrWriteBackError(f"cannot write back to {self.name}: {type(exc).__name__}; fix: check [hr.sql]") from exc
        log.info("hr_sql_written_back", source=self.name, employee_id=employee_id, account=account)

    def _update(self, conn: Connection, values: dict[str, str | None]) -> None:
        # The settings made sure it binds :employee_id and nothing the daemon does not supply.
        statement = text(self.sql.writeback_statement)
        names = set(statement.compile().params)
        updated = conn.execute(statement, {k: v for k, v in values.items() if k in names}).rowcount
        if updated == 1 or updated < 0:  # -1: a driver that cannot count (some ODBC drivers)
            return
        conn.rollback()
        employee = values["employee_id"]
        if updated == 0:
            raise HrWriteBackError(
                f"no row for employee {employee} in {self.name}: the write-back statement updated nothing; fix: check "
                "that HR has this employee and that [hr.sql] writeback_statement's WHERE compares the id column with "
                ":employee_id"
            )
        raise HrWriteBackError(
            f"the write-back statement would update {updated} rows for employee {employee} in {self.name}, so nothing "
            "was changed; fix: make [hr.sql] writeback_statement's WHERE match one row (the employee id column)"
        )

    def _replace_row(self, conn: Connection, values: dict[str, str | None]) -> None:
        # Delete and insert in one transaction: the same two statements on every database, unlike upserts.
        schema, _, name = self.sql.writeback_table.rpartition(".")
        target = table(name, column("employee_id"), column("account"), column("email"), column("written_at"),
                       schema=schema or None)
        conn.execute(delete(target).where(target.c.employee_id == values["employee_id"]))
        conn.execute(insert(target).values(**values, written_at=func.current_timestamp()))

    # -- reading -----------------------------------------------------------------------------

    @property
    def _what(self) -> str:
        return f"table {self.sql.table}" if self.sql.table else "query"

    def _open(self) -> Engine:
        """The engine, made on first use (that is when the URL's secret is read); FeedError when it cannot be."""
        with self._lock:
            if self._engine is not None:
                return self._engine
            try:
                secret = read_secret(self.sql, URL_SECRET).get_secret_value()
            except ValueError as exc:
                raise FeedError(f"cannot open the HR database: {exc}") from exc  # read_secret never quotes the secret
            where = f"[hr.sql] url_file {self.sql.url_file}" if self.sql.url_file else "[hr.sql] url"
            try:
                url = make_url(secret.strip())
            except (ArgumentError, ValueError) as exc:
                # SQLAlchemy's words quote the URL, password and all: the cause is dropped, the message names none.
                # ValueError: what stands where the port goes is not a number (it may be part of the password).
                why = "SQLAlchemy cannot parse it" if isinstance(exc, ArgumentError) else "its port is not a number"
                raise FeedError(self._scrub(
                    f"{where} is not a database URL ({why}); fix: write it as "
                    "postgresql+psycopg://user:password@host:5432/database or "
                    "mariadb+pymysql://user:password@host:3306/database (a password with @ / : % in it URL-encoded)"
                )) from None
            url = url.set(drivername=_INSTALLED_DRIVERS.get(url.drivername, url.drivername))
            if url.get_backend_name() in ("mysql", "mariadb") and "charset" not in url.query:
                url = url.update_query_dict({"charset": "utf8mb4"})  # Chinese names, and more than the BMP
            shown = safe_url(url)
            try:
                # hide_parameters: a bound value (an account, an address) never lands in an exception's text.
                engine = create_engine(url, poolclass=NullPool, hide_parameters=True, connect_args=self._connect_args(url))
            except NoSuchModuleError as exc:
                raise FeedError(
                    f"{where} names the database {url.get_backend_name()!r} with driver {url.get_driver_name()!r}, which "
                    "SQLAlchemy does not know; fix: use postgresql+psycopg://, mariadb+pymysql://, mysql+pymysql://, "
                    "mssql+pyodbc:// or oracle+oracledb://"
                ) from exc
            except ImportError as exc:
                package = _DRIVER_PACKAGES.get(url.get_driver_name(), exc.name or url.get_driver_name())
                raise FeedError(
                    f"the database driver for {shown} is not installed ({exc.name}); fix: install it into the daemon's "
                    f"environment (pip install {package})"
                ) from exc
            self._shown = shown
            self._engine = engine
            return engine

    def _connect_args(self, url: URL) -> dict[str, Any]:
        seconds = math.ceil(self.sql.timeout_seconds)
        backend = url.get_backend_name()
        if backend == "postgresql":
            return {"connect_timeout": max(2, seconds), "client_encoding": "utf8"}
        if backend in ("mysql", "mariadb"):
            return {"connect_timeout": seconds, "read_timeout": seconds + _CONNECT_SLACK,
                    "write_timeout": seconds + _CONNECT_SLACK}
        return {}

    def _fetch(self) -> _Result:
        """The header and rows, read in one read-only snapshot transaction (rolled back); FeedError when it fails."""
        engine = self._open()
        try:
            with engine.connect() as conn:
                self._begin_snapshot(conn)
                result = conn.exec_driver_sql(self._select(conn), execution_options={"no_parameters": True})
                if not result.returns_rows:
                    raise FeedError(
                        f"the [hr.sql] query of {self.name} returned no result; fix: make it a SELECT that returns one "
                        "row per employee"
                    )
                headers = list(map(str, result.keys()))
                rows = [tuple(_cell(v, headers[i], self._zone) for i, v in enumerate(row)) for row in result]
                # Nothing is kept of a read, whatever the query did (a read that fails is rolled back by closing).
                conn.rollback()
        except DBAPIError as exc:
            message = self._scrub(self._explain(exc, "read"))  # as above: the driver's words may quote the password
            raise FeedError(message) from None
        except SQLAlchemyError as exc:
            raise FeedError(f"cannot read {self.name}: {type(exc).__name__}; fix: check [hr.sql]") from exc
        return _Result(headers, rows, _fingerprint(headers, rows))

    def _select(self, conn: Connection) -> str:
        if self.sql.query.strip():
            return self.sql.query
        quote = conn.dialect.identifier_preparer.quote
        return "SELECT * FROM " + ".".join(quote(part) for part in self.sql.table.split("."))

    def _begin_snapshot(self, conn: Connection) -> None:
        dialect = conn.dialect.name
        if dialect in ("mysql", "mariadb"):
            self._limit_time(conn)  # session variables: set before the transaction starts
            self._set_zone(conn)
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            conn.exec_driver_sql("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        elif dialect == "postgresql":
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            self._limit_time(conn)
            self._set_zone(conn)
        elif dialect == "oracle":
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")  # transaction-level read consistency

    def _limit_time(self, conn: Connection) -> None:
        """The server cancels a statement running longer than `timeout_seconds` (PostgreSQL, MariaDB, MySQL)."""
        dialect = conn.dialect
        seconds = self.sql.timeout_seconds
        if dialect.name == "postgresql":
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {math.ceil(seconds * 1000)}")
        elif dialect.name in ("mysql", "mariadb"):
            if getattr(dialect, "is_mariadb", False):
                conn.exec_driver_sql(f"SET SESSION max_statement_time = {seconds:.3f}")
            else:
                conn.exec_driver_sql(f"SET SESSION max_execution_time = {math.ceil(seconds * 1000)}")

    def _set_zone(self, conn: Connection) -> None:
        """The session's time zone is `[hr.sql] timezone` (PostgreSQL: this transaction; MariaDB/MySQL: the session)."""
        name = self.sql.timezone
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT set_config('TimeZone', %s, true)", (name,))
        elif conn.dialect.name in ("mysql", "mariadb"):
            # The name needs the server's zone tables (CONVERT_TZ gives NULL without them); else the offset now.
            conn.exec_driver_sql(
                "SET time_zone = IF(CONVERT_TZ('2000-01-01 00:00:00', '+00:00', %s) IS NULL, %s, %s)",
                (name, _utc_offset(self._zone), name),
            )

    # -- errors ------------------------------------------------------------------------------

    def _explain(self, exc: DBAPIError, doing: str, *, writing: bool = False) -> str:
        """The database's own words (first line, no password), and the fix for the usual causes."""
        original = exc.orig if exc.orig is not None else exc
        message = self._scrub(_first_line(original))
        code = str(getattr(original, "sqlstate", None) or "")
        args: tuple[object, ...] = getattr(original, "args", ())
        if args and isinstance(args[0], int):
            code = str(args[0])  # PyMySQL: (errno, message)
        return f"cannot {doing} {self.name}: {message}; fix: {_fix(code, message, self.sql, writing)}"

    def _scrub(self, text: str) -> str:
        """`text` with the URL's password (as written and URL-encoded) masked."""
        secret = self._password()
        for hidden in {secret, quote_plus(secret)} - {""}:
            text = text.replace(hidden, "***")
        return text

    def _password(self) -> str:
        try:
            return make_url(read_secret(self.sql, URL_SECRET).get_secret_value().strip()).password or ""
        except (ValueError, ArgumentError):
            return ""


@dataclass(frozen=True)
class _Result:
    headers: list[str]
    rows: list[tuple[object, ...]]
    fingerprint: str


def _cell(value: object, header: str, zone: ZoneInfo) -> object:
    """A cell as `cell_text` takes it: a time with a zone in `zone` (so that its date is HR's date there);
    a binary column (BLOB, VARBINARY) holds UTF-8 text or is refused."""
    if isinstance(value, datetime) and value.utcoffset() is not None:
        return value.astimezone(zone)
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FeedError(
                f"the column {header!r} of the HR database holds binary data that is not UTF-8 text; fix: convert it "
                "in the query (CAST(... AS CHAR) on MariaDB/MySQL, convert_from(..., 'UTF8') on PostgreSQL)"
            ) from exc
    return value


def _utc_offset(zone: ZoneInfo) -> str:
    """The zone's offset from UTC now, as MariaDB and MySQL write it (+08:00)."""
    offset = datetime.now(zone).utcoffset()
    minutes = round(offset.total_seconds() / 60) if offset is not None else 0
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _fingerprint(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """The content's digest, whatever order the rows come in (a SELECT without ORDER BY may change it)."""
    digest = hashlib.sha256(repr(headers).encode())
    for line in sorted(repr([cell_text(c) for c in row]) for row in rows):
        digest.update(line.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _first_line(error: BaseException) -> str:
    args: tuple[object, ...] = getattr(error, "args", ())
    if len(args) >= 2 and isinstance(args[0], int) and isinstance(args[1], str):
        words = f"{args[1]} (error {args[0]})"  # PyMySQL
    else:
        words = str(error)
    lines = [line.strip() for line in words.strip().splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


# (SQLSTATE or driver error codes, words of the message (lower case), the fix for a read, for a write-back);
# the first that matches.
_FIXES: tuple[tuple[frozenset[str], tuple[str, ...], str, str], ...] = (
    (frozenset({"57014", "1969", "3024"}),
     ("statement timeout", "max_statement_time", "max_execution_time", "timed out", "timeout expired"),
     "make the query faster (an index, a simpler view) or raise [hr.sql] timeout_seconds",
     "check for locks on the write-back table (a long transaction in HR's system) or raise [hr.sql] timeout_seconds"),
    (frozenset({"25006", "1792"}), ("read-only transaction", "read only transaction"),
     "the daemon reads in a read-only transaction: make [hr.sql] query a SELECT that changes nothing",
     "the server or this user only reads (a standby, default_transaction_read_only, read_only): point the URL at the "
     "primary, or let this user write"),
    (frozenset({"2003", "2005", "2006", "2013"}),
     ("connection refused", "can't connect", "could not translate host", "failed to resolve host",
      "name or service not known", "no route to host", "lost connection"),
     "check the host and port in the URL, that the database server runs and that this host may reach it (firewall)",
     ""),
    (frozenset({"28000", "28P01", "1045", "1698"}),
     ("password authentication failed", "access denied for user", "no pg_hba.conf entry", 'role "', "login failed"),
     "check the user and password in the URL ([hr.sql] url_file) and that the server lets this user connect from "
     "this host", ""),
    (frozenset({"3D000", "1049"}), ("unknown database", 'database "'), "check the database name at the end of the URL", ""),
    (frozenset({"42501", "1142", "1143", "1044"}), ("permission denied", "command denied", "insufficient privileges"),
     "check that [hr.sql] table (or the query) names a view or table that exists (MariaDB and MySQL deny a table "
     "they do not show this user), and have the DBA grant this user SELECT on it (GRANT SELECT ON ... TO ...)",
     "have the DBA grant this user the write-back's rights (UPDATE on the table writeback_statement changes; SELECT, "
     "INSERT and DELETE on writeback_table)"),
    (frozenset({"42P01", "1146", "3F000"}), ("does not exist", "doesn't exist", "invalid object name", "ora-00942"),
     "check that [hr.sql] table (or the query) names a view or table this user can see: schema.name, in lower case "
     "(a name with upper-case letters is taken as quoted, case and all), and that the user has SELECT on it",
     "create the write-back table (employee_id, account, email, written_at; README: HR database) or check "
     "[hr.sql] writeback_table / writeback_statement's table name"),
    (frozenset({"42703", "1054"}), ("unknown column", "invalid column name", "ora-00904"),
     "check the column names in [hr.sql] query against the view or table",
     "check the column names in [hr.sql] writeback_statement, or that writeback_table has the columns employee_id, "
     "account, email and written_at"),
    (frozenset({"42601", "1064"}), ("syntax error", "ora-00900", "incorrect syntax"),
     "check [hr.sql] query's SQL for this database (run it in a database client as the same user)",
     "check [hr.sql] writeback_statement's SQL for this database"),
)


def _fix(code: str, message: str, sql: HrSqlSettings, writing: bool) -> str:
    lowered = message.lower()
    for codes, words, read_fix, write_fix in _FIXES:
        if code in codes or any(word in lowered for word in words):
            return (write_fix or read_fix) if writing else read_fix
    setting = "writeback_statement or writeback_table" if writing else ("query" if sql.query.strip() else "table")
    return f"check the database server's log and [hr.sql] {setting}"
