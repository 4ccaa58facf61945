"""`[hr]`: where the personnel records come from, and how HR's words are read.

One section for every kind of source: the file kinds (`csv`, `xlsx`) read `path`, a database
(`sql`) is set in `[hr.sql]`, an HR SaaS (`rest`: DingTalk, Feishu, WeCom or a generic JSON API)
in `[hr.rest]`.  The value mapping (`status_map`, `manager_match`, department paths) applies to
every kind alike.  Secrets (a database URL with its password, an app secret) are read by the
connector that needs them, from `<key>_file` or the key itself, never logged.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from sqlalchemy import text as sql_text

from lifecycle.domain.hr_rest_settings import HrRestSettings, zone_name

__all__ = ["CANONICAL_HR_FIELDS", "HrRestSettings", "HrSettings", "HrSqlSettings"]

CANONICAL_HR_FIELDS = (
    "employee_id",
    "name",
    "family_name",
    "english_name",
    "company",
    "department",
    "title",
    "manager_id",
    "status",
    "hire_date",
    "termination_date",
    "email",
    "account",
    "personal_email",  # where an initial password may be sent ([accounts] initial_password_delivery)
)
HrStatusWord = Literal["active", "leave", "terminated"]
ManagerMatch = Literal["employee_id", "email", "name"]
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class HrSqlSettings(_Section):
    """`[hr.sql]`: a view or table in the HR database, read in one read-only transaction."""

    url: SecretStr | None = Field(None, description="SQLAlchemy URL, password included (url_file is recommended)")
    url_file: Path | None = Field(None, description="file holding the URL (systemd LoadCredential=)")
    query: str = Field("", description="SELECT returning one row per employee, columns named as in a CSV export")
    table: str = Field("", description="a table or view to read whole instead of a query (schema.name allowed)")
    writeback_statement: str = Field(
        "", description="UPDATE run once an account exists, with :employee_id, :account and :email bound"
    )
    writeback_table: str = Field(
        "", description="a table of (employee_id, account, email) the daemon keeps instead of an UPDATE"
    )
    timeout_seconds: float = Field(30.0, gt=0, le=3600)
    timezone: str = Field(
        "Asia/Shanghai", description="the zone in which a time with a zone (timestamptz) becomes a date; the session's"
    )

    @field_validator("table", "writeback_table")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if value and not _IDENTIFIER.fullmatch(value):
            raise ValueError(f"{value!r} is not a table name (letters, digits, '_', optionally schema.table)")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return zone_name(value)

    @field_validator("writeback_statement")
    @classmethod
    def _binds_the_employee(cls, value: str) -> str:
        if not value.strip():
            return ""
        names = set(_statement_binds(value))
        if "employee_id" not in names:
            # ':name::type' is not a bind to SQLAlchemy (a PostgreSQL cast right after it hides it).
            cast = " (a cast right after a bind hides it: write CAST(:employee_id AS ...))" if "::" in value else ""
            raise ValueError(
                f"writeback_statement does not bind :employee_id, so it cannot name the employee's row{cast}; fix: "
                "write it as UPDATE <table> SET <column> = :account, <column> = :email WHERE <id column> = :employee_id"
            )
        unknown = sorted(names - _WRITEBACK_BINDS)
        if unknown:
            raise ValueError(
                f"writeback_statement binds {', '.join(':' + n for n in unknown)}, which the daemon does not supply; "
                "fix: bind only :employee_id, :account and :email (write a literal colon as \\:)"
            )
        return value

    @model_validator(mode="after")
    def _one_of_each(self) -> HrSqlSettings:
        if bool(self.query.strip()) == bool(self.table):
            raise ValueError("set exactly one of query and table")
        if self.url is not None and self.url_file is not None:
            raise ValueError("[hr.sql] sets both url and url_file; keep one (url_file is recommended)")
        if self.url is None and self.url_file is None:
            raise ValueError("[hr.sql] needs the database URL: set url_file (recommended) or url")
        if self.writeback_statement and self.writeback_table:
            raise ValueError("set at most one of writeback_statement and writeback_table")
        return self

    @property
    def writes_back(self) -> bool:
        return bool(self.writeback_statement or self.writeback_table)

    @property
    def written_fields(self) -> frozenset[str]:
        """What a write-back sets of account and email: the statement's binds; writeback_table both."""
        if self.writeback_table:
            return frozenset({"account", "email"})
        return frozenset(_statement_binds(self.writeback_statement)) & {"account", "email"}


_WRITEBACK_BINDS = frozenset({"employee_id", "account", "email"})


def _statement_binds(statement: str) -> frozenset[str]:
    """The names a statement binds (:name), as SQLAlchemy's `text()` finds them when the daemon runs it."""
    return frozenset(sql_text(statement).compile().params) if statement.strip() else frozenset()


class HrSettings(_Section):
    kind: Literal["csv", "xlsx", "sql", "rest"] = "csv"
    path: Path = Path("/var/lib/lifecycle/hr/employees.csv")
    # csv
    encoding: Literal["auto", "utf-8", "utf-8-sig", "gb18030"] = "auto"
    delimiter: Literal[",", ";", "\t", "|"] = ","
    # xlsx
    sheet: str = Field("", description="the worksheet to read (default: the first)")
    header_row: int | None = Field(None, ge=1, le=1000, description="the header's row (default: found below title rows)")
    # every kind
    excel_serial_dates: bool = Field(False, description="a 5-digit number in a date column is an Excel date serial")
    columns: dict[str, str] = Field(default_factory=dict, description="canonical field -> header in the file")
    absent_means: Literal["review", "terminated"] = "review"
    absent_days: int = Field(3, ge=1)
    test_records: tuple[str, ...] = Field(
        (r"^test", "测试"),
        description="regular expressions (case-insensitive) on employee_id and name marking rows HR keeps for tests",
    )
    status_map: dict[str, HrStatusWord] = Field(
        default_factory=dict, description="HR status word -> active, leave or terminated (added to the built-in words)"
    )
    manager_match: tuple[ManagerMatch, ...] = Field(
        ("employee_id", "email", "name"),
        min_length=1,
        description="how the manager column is matched to a person, in order (name: only when unique in the company)",
    )
    department_path_separator: str = Field("", max_length=3, description='"/" when departments are paths')
    department_strip_prefix: int = Field(0, ge=0, le=10, description="path levels dropped from the front")
    department_groups: Literal["leaf", "nested"] = "leaf"
    max_rejected_fraction: float = Field(
        0.5, gt=0, le=1, description="more of a company's rows rejected than this: the company's feed is unusable"
    )
    sql: HrSqlSettings | None = None
    rest: HrRestSettings | None = None

    @field_validator("test_records")
    @classmethod
    def _valid_patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from exc
        return value

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(CANONICAL_HR_FIELDS))
        if unknown:
            raise ValueError(f"unknown field(s) {unknown}; allowed: {', '.join(CANONICAL_HR_FIELDS)}")
        return value

    @field_validator("status_map")
    @classmethod
    def _words(cls, value: dict[str, HrStatusWord]) -> dict[str, HrStatusWord]:
        for word in value:
            if not word.strip():
                raise ValueError("an empty status word cannot be mapped")
        return value

    @field_validator("manager_match")
    @classmethod
    def _no_repeats(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"{list(value)} names a way twice")
        return value

    @model_validator(mode="after")
    def _kind_has_its_section(self) -> HrSettings:
        if self.kind == "sql" and self.sql is None:
            raise ValueError('kind = "sql" needs an [hr.sql] section (url_file and query or table)')
        if self.kind == "rest" and self.rest is None:
            raise ValueError('kind = "rest" needs an [hr.rest] section (preset and credentials)')
        if self.kind == "rest" and self.columns:
            raise ValueError('[hr.columns] names the columns of a file or a query; for kind = "rest" map the vendor\'s '
                             "fields in [hr.rest.fields]")
        if self.department_groups == "nested" and not self.department_path_separator:
            raise ValueError('department_groups = "nested" needs department_path_separator (e.g. "/")')
        return self

    @property
    def is_file(self) -> bool:
        """A file the HR system writes (csv, xlsx): its age and digest are the file's."""
        return self.kind in ("csv", "xlsx")

    @property
    def writes_back(self) -> bool:
        """The source takes the assigned account and address back (an SQL statement or table, a REST preset)."""
        return bool(self.written_back)

    @property
    def written_back(self) -> frozenset[str]:
        """The canonical fields a write-back sets: an SQL statement or table both, a vendor the work email only."""
        if self.kind == "sql" and self.sql is not None and self.sql.writes_back:
            return self.sql.written_fields
        if self.kind == "rest" and self.rest is not None and self.rest.writeback:
            return frozenset({"email"})
        return frozenset()
