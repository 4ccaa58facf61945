"""A state store written by the code before migrations (commit 8308661), upgraded by today's: every row kept.

tests/fixtures/state_8308661/ holds, for SQLite and for PostgreSQL, a store that the old
`lifecycle` wrote against a real slapd (its make_fixture.py says how): 47 people (active,
suspended, one deleted), deletions held for approval (one approved and applied, one rejected,
one waiting), a legal hold, the feed baseline, rejected HR rows, 81 log entries, 4 runs; with
the directory it goes with (slapcat) and the old code's answer to a last plan.

Here the directory is loaded into a fresh slapd, the store is upgraded with `lifecycle migrate`,
every row of every table is compared, and a cycle afterwards must be quiet: the same plan as
the old code's, and an apply that changes neither the directory nor the stored state.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, inspect, text

from devservers.demo import BASE_DN, COMPANIES
from devservers.slapd import Slapd
from lifecycle.cli.main import main
from lifecycle.journal.migrations import HEAD
from tests.test_leader import pg_url  # noqa: F401 - fixture

pytestmark = pytest.mark.servers

FIXTURES = Path(__file__).parent / "fixtures" / "state_8308661"
QUIET = "2027-04-17T11:00"  # an hour after the old code's last apply


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def old_slapd(tmp_path: Path, backend: str) -> Iterator[Slapd]:
    """A fresh slapd of the demo's layout holding the directory the old store goes with."""
    units = [f"ou=people,{BASE_DN}", *(f"ou={ou},ou=people,{BASE_DN}" for *_, ou in COMPANIES), f"ou=groups,{BASE_DN}"]
    server = Slapd(tmp_path / "slapd", base_dn=BASE_DN, organizational_units=units)
    server.load_ldif((FIXTURES / backend / "directory.ldif").read_text(encoding="utf-8"))  # slapadd: as it was, to the stamp
    with server:
        yield server


@pytest.fixture
def old_store(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        database = tmp_path / "state" / "state.db"
        database.parent.mkdir()
        shutil.copyfile(FIXTURES / "sqlite" / "state.db", database)
        return f"sqlite:///{database}"
    url: str = request.getfixturevalue("pg_url")
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute((FIXTURES / "postgresql" / "state.sql").read_text(encoding="utf-8"))  # a pg_dump of the old store
    return url


def write_config(tmp_path: Path, slapd: Slapd, url: str, backend: str) -> Path:
    """The old code's config (make_fixture.py), pointed at this test's copies."""
    shutil.copyfile(FIXTURES / backend / "employees.csv", tmp_path / "employees.csv")
    secret = tmp_path / "ldap-password"
    secret.write_text(slapd.admin_password + "\n", encoding="utf-8")
    secret.chmod(0o600)
    companies = "".join(f'[[companies]]\ncode = "{code}"\nname = "{name}"\ndomain = "{domain}"\n'
                        f'people_dn = "ou={ou},ou=people,{BASE_DN}"\n\n' for code, name, domain, ou in COMPANIES)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[state]\nurl = "{url}"\n\n[hr]\npath = "{tmp_path / "employees.csv"}"\n\n'
        f'[directory]\nurl = "{slapd.url}"\nbind_dn = "{slapd.admin_dn}"\nbind_password_file = "{secret}"\n'
        f'base_dn = "{BASE_DN}"\ngroups_dn = "ou=groups,{BASE_DN}"\n\n'
        f'[policy]\ntimezone = "Asia/Shanghai"\nretention_days = 90\n\n'
        f'[accounts]\ninitial_password_dir = "{tmp_path / "credentials"}"\n\n'
        f'[guards]\nmin_file_age_seconds = 0\napprove_deletions = true\n\n{companies}',
        encoding="utf-8",
    )
    return config


def run(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out, err


# What later revisions add: 0002 the console's tables and action_log.origin (the old rows get ""); 0003 the
# notices' outbox, the console's sealed passwords and persons.reset_due_at (NULL: no reset due). Revision 0004 adds the admins' interventions.
LATER_TABLES = {"published", "person_outlook", "web_sessions", "outbox", "sealed_passwords", "interventions"}
LATER_COLUMNS = {"action_log": {"origin"}, "persons": {"reset_due_at"}}


def rows(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table the old store had, in its columns, in a stable order."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            found = inspect(conn)
            names = sorted(set(found.get_table_names()) - {"alembic_version"} - LATER_TABLES)
            result = {}
            for name in names:
                columns = [c["name"] for c in found.get_columns(name) if c["name"] not in LATER_COLUMNS.get(name, ())]
                query = f"SELECT {', '.join(columns)} FROM {name}"
                result[name] = sorted(conn.execute(text(query)).all(), key=repr)
            return result
    finally:
        engine.dispose()


def origins(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(text("SELECT origin FROM action_log")).scalars())
    finally:
        engine.dispose()


def statuses_logged_after(url: str, last_id: int) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(text("SELECT status FROM action_log WHERE id > :last"), {"last": last_id}).scalars())
    finally:
        engine.dispose()


def directory_dump(slapd: Slapd) -> str:
    return subprocess.run(["/usr/sbin/slapcat", "-F", str(slapd.config_dir), "-b", BASE_DN, "-o", "ldif_wrap=no"],
                          check=True, capture_output=True, text=True).stdout


def test_an_old_store_is_upgraded_with_every_row_and_the_next_cycle_is_quiet(
    tmp_path: Path, backend: str, old_slapd: Slapd, old_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, old_slapd, old_store, backend)
    before = rows(old_store)
    assert {name: len(found) for name, found in before.items()} == {
        "action_log": 81, "approvals": 3, "feed_baseline": 1, "holds": 1, "persons": 47, "runs": 4, "state_version": 1,
    }

    code, _, err = run(config, capsys, "plan", "--now", QUIET)
    assert code == 1 and "run `lifecycle migrate`" in err  # refused, and nothing changed
    code, out, _ = run(config, capsys, "migrate", "--dry-run")
    assert code == 2 and "record the existing tables as revision 0001" in out
    assert rows(old_store) == before
    assert run(config, capsys, "migrate")[0] == 0
    assert rows(old_store) == before  # every row of every table, byte for byte
    assert origins(old_store) == {""}  # revision 0002's column, on every old row

    old = json.loads((FIXTURES / backend / "last_plan.json").read_text(encoding="utf-8"))
    code, out, _ = run(config, capsys, "plan", "--now", QUIET, "--format", "json")
    plan = json.loads(out)
    assert (code, plan["actions"]) == (old["exit"], old["plan"]["actions"]) == (0, [])

    def waiting(found: dict[str, list[dict[str, str]]]) -> list[tuple[str, str, str]]:
        return sorted((item["kind"], item["employee_id"], item["target"]) for item in found["held"])

    assert waiting(plan) == waiting(old["plan"]) == [
        ("delete_account", "100037", "uid=gaoming,ou=gz,ou=people,dc=example,dc=com"),  # rejected by an admin
        ("delete_account", "100038", "uid=luolin,ou=gz,ou=people,dc=example,dc=com"),  # waiting for one
    ]
    assert [r["employee_id"] for r in plan["rejected"]] == [r["employee_id"] for r in old["plan"]["rejected"]]

    directory = directory_dump(old_slapd)
    assert run(config, capsys, "apply", "--now", QUIET)[0] == 0
    after = rows(old_store)
    assert after["state_version"] == before["state_version"]  # what a quiet probe reads: nothing changed
    for name in ("persons", "approvals", "holds"):
        assert after[name] == before[name]
    # Each cycle re-stamps the baseline it accepts (accepted_at: a bookkeeping column, state_version.BOOKKEEPING).
    assert [row[:-1] for row in after["feed_baseline"]] == [row[:-1] for row in before["feed_baseline"]]
    assert set(before["action_log"]) <= set(after["action_log"]) and set(before["runs"]) <= set(after["runs"])
    assert statuses_logged_after(old_store, len(before["action_log"])) <= {"held"}  # nothing was attempted
    assert directory_dump(old_slapd) == directory


def test_the_service_upgrades_an_old_store_at_its_start(tmp_path: Path, old_slapd: Slapd, old_store: str, backend: str) -> None:
    from tests.daemon_support import EVERY_SECOND, Daemon, append_config

    config = write_config(tmp_path, old_slapd, old_store, backend)
    append_config(config, EVERY_SECOND)
    before = rows(old_store)
    daemon = Daemon(config)
    try:
        upgraded = daemon.wait_event("state_store_upgraded")
        daemon.wait_event("daemon_ready")
    finally:
        assert daemon.stop() == 0, daemon.tail()
    assert upgraded["was"] == "schema made before migrations (not yet recorded as revision 0001); this lifecycle needs 0004"
    assert upgraded["steps"] == ["record the existing tables as revision 0001 (they are kept as they are)",
                                 "apply revision 0002: The console: what the daemon publishes for it, its sessions, "
                                 "and where a decision came from.",
                                 "apply revision 0003: Notices and console-revealed initial passwords.",
                                 "apply revision 0004: Admin interventions: forwards a superior required, suspensions, "
                                 "new accounts confirmed for joiners."]
    after = rows(old_store)  # its cycles, at today's date, may change people: the append-only tables tell what was kept
    assert set(before["action_log"]) <= set(after["action_log"]) and set(before["runs"]) <= set(after["runs"])
    engine = create_engine(old_store)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [HEAD]
    finally:
        engine.dispose()
