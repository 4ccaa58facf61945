"""The state store's schema under Alembic (lifecycle.journal.migrations), on SQLite and the machine's PostgreSQL.

The revisions make exactly what lifecycle.journal.schema describes; a store that is
behind is refused by every command but `lifecycle migrate` and the service's start;
a newer store, or tables lifecycle did not make, are refused by all; an upgrade is
one transaction, taken once when two processes try at the same time.

The upgrade of a store written by the code before migrations: tests/test_migrations_upgrade.py.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from lifecycle.cli.main import main
from lifecycle.domain.errors import StateStoreError
from lifecycle.journal import migrations, state_version
from lifecycle.journal.check import check_state_store
from lifecycle.journal.migrations import HEAD, SchemaState
from lifecycle.journal.schema import metadata
from lifecycle.journal.store import Journal, upgrade_store
from lifecycle.runtime.leader import FileLock
from tests.test_leader import pg_url  # noqa: F401 - fixture

FIXTURE = Path(__file__).parent / "fixtures" / "state_8308661" / "sqlite" / "state.db"
OUR_TABLES = {"persons", "action_log", "approvals", "holds", "feed_baseline", "runs", "state_version", "alembic_version",
              "published", "person_outlook", "web_sessions",  # revision 0002 (the console)
              "outbox", "sealed_passwords",  # revision 0003 (notices, console-revealed passwords)
              "interventions"}  # revision 0004 (admins' forwards, suspensions, new accounts)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.servers)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")


def unversioned_store(tmp_path: Path) -> str:
    """A copy of a store written by commit 8308661 (before migrations)."""
    database = tmp_path / "old" / "state.db"
    database.parent.mkdir()
    shutil.copyfile(FIXTURE, database)
    return f"sqlite:///{database}"


def write_config(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[state]\nurl = "{url}"\n\n[hr]\npath = "{tmp_path / "employees.csv"}"\n\n'
        '[directory]\nurl = "ldap://127.0.0.1:1"\nbind_dn = "cn=admin,dc=example,dc=com"\nbase_dn = "dc=example,dc=com"\n'
        'groups_dn = "ou=groups,dc=example,dc=com"\n\n'
        '[[companies]]\ncode = "HQ"\ndomain = "example.com"\npeople_dn = "ou=hq,ou=people,dc=example,dc=com"\n',
        encoding="utf-8",
    )
    return config


def run(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out, err


def table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def test_head_is_the_newest_revision() -> None:
    scripts = ScriptDirectory.from_config(migrations._config(None))
    assert scripts.get_heads() == [HEAD]


def test_the_revisions_make_what_schema_py_describes(store_url: str) -> None:
    journal = Journal(store_url)  # an empty database: made by the revisions
    try:
        with journal.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [HEAD]
            context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": migrations.in_schema_py})
            differences = compare_metadata(context, metadata)
        assert differences == []
    finally:
        journal.close()
    assert table_names(store_url) == OUR_TABLES


def test_a_fresh_store_is_made_exactly_as_create_all_made_it_before_migrations(tmp_path: Path) -> None:
    """Same tables, columns, indexes and state_version triggers, to the SQL text, as a store of commit 8308661."""
    Journal(f"sqlite:///{tmp_path / 'new.db'}").close()

    def schema(path: Path) -> set[tuple[str, str, str]]:
        with sqlite3.connect(path) as conn:
            rows = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE tbl_name != 'alembic_version'").fetchall()
        conn.close()
        return set(rows)

    old = tmp_path / "old.db"
    shutil.copyfile(FIXTURE, old)
    upgrade_store(f"sqlite:///{old}")
    made = schema(tmp_path / "new.db")
    # 13 tables, 15 indexes, 10 automatic ones (unique and text keys), 15 triggers
    assert len(made) == 53
    assert made == schema(old)  # the revisions from nothing make what an upgrade makes of the old store
    # Revision 0002 adds action_log.origin, 0003 persons.reset_due_at (and persons' trigger compares it).
    later = {"action_log", "persons", "state_version_persons_update"}
    baseline = {row for row in schema(FIXTURE) if row[1] not in later}
    assert baseline <= made
    persons_trigger = next(sql for kind, name, sql in made if name == "state_version_persons_update")
    assert 'OLD."reset_due_at" IS NOT NEW."reset_due_at"' in persons_trigger
    assert 'OLD."updated_at"' not in persons_trigger  # the bookkeeping stamp still wakes nobody


def test_a_store_that_is_behind_is_refused_by_commands_and_upgraded_by_migrate(tmp_path: Path, capsys) -> None:
    url = unversioned_store(tmp_path)
    config = write_config(tmp_path, url)

    code, _, err = run(config, capsys, "log")
    assert code == 1
    assert err == (f"lifecycle: state store {url}: schema made before migrations (not yet recorded as revision 0001); "
                   f"this lifecycle needs {HEAD}; run `lifecycle migrate` (back the store up first), or restart the service: it upgrades the store at its start\n")
    assert "made before migrations" in check_state_store(url)  # `lifecycle check` says so, and is not failed by it

    code, out, _ = run(config, capsys, "migrate", "--check")
    assert code == 2
    console = ("apply revision 0002: The console: what the daemon publishes for it, its sessions, "
               "and where a decision came from.\n  apply revision 0003: Notices and console-revealed initial passwords.\n"
               "  apply revision 0004: Admin interventions: forwards a superior required, suspensions, new accounts "
               "confirmed for joiners.")
    assert out == (f"state store {url}: schema made before migrations (not yet recorded as revision 0001); this lifecycle needs {HEAD}\n"
                   f"an upgrade would:\n  record the existing tables as revision 0001 (they are kept as they are)\n  {console}\n")
    assert "alembic_version" not in table_names(url)  # a dry run changes nothing

    code, out, _ = run(config, capsys, "migrate")
    assert code == 0
    assert out.endswith(f"upgraded:\n  record the existing tables as revision 0001 (they are kept as they are)\n  {console}\n")
    assert run(config, capsys, "migrate") == (0, f"state store {url}: schema at revision {HEAD} (current)\n", "")
    code, out, _ = run(config, capsys, "log", "--employee", "100028")
    assert code == 0 and "delete_account" in out


def test_migrate_is_refused_while_the_service_holds_the_store(tmp_path: Path, capsys) -> None:
    url = unversioned_store(tmp_path)
    config = write_config(tmp_path, url)
    service = FileLock(Path(url.removeprefix("sqlite:///") + ".lock"))
    assert service.try_acquire()
    try:
        code, _, err = run(config, capsys, "migrate")
    finally:
        service.release()
    assert code == 1
    assert "the service is running" in err and "restart it to upgrade the store" in err
    assert "alembic_version" not in table_names(url)


def test_a_store_newer_than_this_lifecycle_is_refused_by_everything(store_url: str, tmp_path: Path, capsys) -> None:
    Journal(store_url).close()
    engine = create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed0042'"))
    engine.dispose()
    words = (f"schema at revision f00dfeed0042, which this lifecycle does not know (it knows up to {HEAD}): "
             "it was written by a newer lifecycle; run that version of lifecycle")
    for attempt in (lambda: Journal(store_url), lambda: upgrade_store(store_url), lambda: check_state_store(store_url)):
        with pytest.raises(StateStoreError, match="written by a newer lifecycle") as raised:
            attempt()
        assert "f00dfeed0042" in str(raised.value)
    config = write_config(tmp_path, store_url)
    code, _, err = run(config, capsys, "migrate", "--check")
    assert code == 1 and words in err


def test_tables_lifecycle_did_not_make_are_refused_and_left_alone(tmp_path: Path, capsys) -> None:
    url = unversioned_store(tmp_path)
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        conn.execute("ALTER TABLE persons ADD COLUMN nickname TEXT")
    conn.close()
    with pytest.raises(StateStoreError, match="tables that lifecycle did not make \\(persons has unknown columns nickname\\)"):
        Journal(url)
    code, _, err = run(write_config(tmp_path, url), capsys, "migrate")
    assert code == 1 and "persons has unknown columns nickname" in err
    assert "alembic_version" not in table_names(url)


def test_a_failed_upgrade_leaves_the_store_as_it_was(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The revision fails after it made its tables (installing the triggers): on SQLite too, nothing stays."""
    def broken(*_args: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(state_version, "install", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        Journal(store_url)
    assert table_names(store_url) == set()
    monkeypatch.undo()
    Journal(store_url).close()
    assert table_names(store_url) == OUR_TABLES


def test_two_processes_starting_on_an_empty_store_make_it_once(store_url: str) -> None:
    results: list[object] = []

    def start() -> None:
        try:
            results.append(upgrade_store(store_url).state)
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(map(str, results)) == sorted([str(SchemaState.EMPTY), str(SchemaState.CURRENT)])
    journal = Journal(store_url)
    try:
        assert journal.state_version() == 0
    finally:
        journal.close()
