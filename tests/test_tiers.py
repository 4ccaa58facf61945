"""The test tiers (tests/tiers.py): a server fixture puts a test in the `servers` tier, and a test that
starts a process or reaches a database server without being in that tier fails."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

CONFTEST = '''
import subprocess

import pytest

pytest_plugins = ["tests.tiers"]


@pytest.fixture
def slapd():  # named like the real one: a server fixture
    return "ldap://127.0.0.1:1"
'''

INI = """
[pytest]
markers =
    servers: starts or uses a real server
"""

TESTS = '''
import os
import sqlite3
import subprocess

import pytest
from sqlalchemy import create_engine, text


def test_pure():
    assert 1 + 1 == 2


def test_uses_a_server_fixture(slapd):
    subprocess.run(["true"], check=True)


@pytest.mark.servers
def test_marked_starts_a_process():
    subprocess.run(["true"], check=True)


def test_unmarked_starts_a_process():
    subprocess.run(["true"], check=True)


def test_unmarked_forks():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)


def test_unmarked_hides_the_refusal():
    try:
        subprocess.run(["true"], check=True)
    except Exception:
        pass  # a launcher that wraps every error: the test still fails


def test_unmarked_uses_sqlite():
    with create_engine("sqlite://").connect() as connection:
        assert connection.execute(text("select 1")).scalar() == 1


class ServerConnection(sqlite3.Connection):
    """What SQLAlchemy's connect event sees of a PostgreSQL engine: a connection of psycopg's."""


ServerConnection.__module__ = "psycopg"


def test_unmarked_reaches_a_database_server():
    engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(":memory:", factory=ServerConnection))
    with engine.connect() as connection:
        connection.execute(text("select 1"))
'''


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makeini(INI)
    pytester.makepyfile(test_example=TESTS)
    return pytester


def test_a_server_fixture_marks_the_test_and_a_process_outside_the_tier_fails(suite: pytest.Pytester) -> None:
    result = suite.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, failed=4)
    failed = {report.nodeid.split("::")[-1] for report in result.reprec.getfailures()}  # type: ignore[attr-defined]
    assert failed == {"test_unmarked_starts_a_process", "test_unmarked_forks", "test_unmarked_hides_the_refusal",
                      "test_unmarked_reaches_a_database_server"}
    result.stdout.fnmatch_lines(["*test_unmarked_starts_a_process starts a process*not in the `servers` tier*"])
    result.stdout.fnmatch_lines(["*test_unmarked_reaches_a_database_server connects to a database server (psycopg)*"])


def test_the_pure_tier_leaves_out_what_uses_a_server(suite: pytest.Pytester) -> None:
    result = suite.runpytest_inprocess("-p", "no:cacheprovider", "-m", "not servers", "-k", "not unmarked")
    result.assert_outcomes(passed=1, deselected=7)
    result = suite.runpytest_inprocess("-p", "no:cacheprovider", "-m", "servers")
    result.assert_outcomes(passed=2, deselected=6)
