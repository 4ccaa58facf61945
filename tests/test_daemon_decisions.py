"""An admin's decision wakes the running daemon: a cycle within seconds, not at the next scheduled one.

`lifecycle suspend` while the service holds the active-instance lock only records the decision; the daemon
must act on it at once (a compromised account is not left open for `cycle_minutes`).
"""

from __future__ import annotations

from pathlib import Path

from connectors.ldap import LdapDirectory
from devservers.slapd import Slapd
from lifecycle.cli.main import main
from lifecycle.daemon.decisions import DecisionWatch
from lifecycle.domain.settings import load_settings
from tests.daemon_support import Daemon, demo_slapd, make_config, next_summary  # noqa: F401 - fixtures


def test_a_decision_recorded_while_the_service_runs_is_applied_at_once(tmp_path: Path, demo_slapd: Slapd, capsys) -> None:
    config = make_config(tmp_path, demo_slapd, small=True)
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace(f"cycle_minutes = {1 / 60!r}", "cycle_minutes = 600"), encoding="utf-8")
    settings = load_settings(config)
    daemon = Daemon(config)
    try:
        first = next_summary(daemon, 0, kind="normal")  # the start's cycle; the next scheduled one is 10 hours away
        assert first["outcome"] == "ok", first
        n = len(daemon.summaries())

        assert main(["--config", str(config), "suspend", "100002", "--reason", "shared her password"]) == 0
        said = capsys.readouterr().out
        assert "the running daemon applies it" in said, said

        woken = next_summary(daemon, n, kind="normal")
        assert woken["counts"].get("applied", 0) >= 1, woken  # the lock and what follows it
        assert daemon.events("decision_found")
        with LdapDirectory(settings.directory, settings.companies) as ldap:
            entry = ldap.find_by_employee_number("100002")
            assert entry is not None and entry.locked
    finally:
        assert daemon.stop() == 0, daemon.tail()


def test_the_watch_reads_the_counter_at_most_every_poll_and_reports_each_change_once() -> None:
    clock = [0.0]
    reads: list[int] = []
    version = [7]

    def read() -> int:
        reads.append(version[0])
        return version[0]

    watch = DecisionWatch(poll_seconds=5, clock=lambda: clock[0])
    assert not watch.changed(read) and reads == []  # no cycle has ended yet: nothing to compare with
    watch.cycle_ended(7)
    assert not watch.changed(read) and reads == [7]
    clock[0] = 1.0
    version[0] = 8  # an admin's decision
    assert not watch.changed(read) and reads == [7]  # not read again before the poll interval
    clock[0] = 5.0
    assert watch.changed(read) and reads == [7, 8]
    clock[0] = 10.0
    assert not watch.changed(read)  # the same change is reported once
    watch.cycle_ended(None)  # the store could not be read at the cycle's end: ask for nothing
    clock[0] = 20.0
    version[0] = 9
    assert not watch.changed(read)
