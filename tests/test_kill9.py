"""kill -9 at random points while `lifecycle apply` works through hundreds of actions.

After a final clean run, the directory and the applied actions in the journal must
equal those of a run that was never interrupted: nothing lost, nothing done twice.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from connectors.ldap import LdapDirectory
from devservers.demo import BASE_DN, COMPANIES, write_config
from devservers.slapd import Slapd
from lifecycle.domain.settings import load_settings

pytestmark = pytest.mark.servers  # slapd and the CLI, killed and run again

SURNAMES = "张王李赵刘陈杨黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐曾单欧阳"
GIVEN = ["伟", "芳", "娜", "敏", "静", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛", "明", "超", "秀英", "桂英", "建华"]
DEPARTMENTS = ["研发部", "销售部", "财务部", "人力资源部", "运营部"]
HEADER = "employee_id,name,company,department,title,manager_id,status,hire_date,termination_date\n"
KILLS = 24
NOW = "2026-12-01T09:00"
LATER = "2026-12-20T09:00"


def people(count: int, *, leavers: int = 0, movers: int = 0) -> str:
    rng = random.Random(7)
    rows = []
    for i in range(count):
        name = rng.choice(["欧阳", *SURNAMES[:-2]]) + rng.choice(GIVEN)
        company = COMPANIES[i % 3][0]
        department = DEPARTMENTS[i % len(DEPARTMENTS)]
        left = "2026-12-10" if i < leavers else ""
        if leavers <= i < leavers + movers:
            company, department = COMPANIES[(i + 1) % 3][0], DEPARTMENTS[(i + 2) % len(DEPARTMENTS)]
        manager = f"E{i % 7:04d}" if i >= 7 else ""
        rows.append(f"E{i:04d},{name},{company},{department},职员,{manager},active,2020-01-01,{left}\n")
    return HEADER + "".join(rows)


def setup(tmp_path: Path, name: str) -> tuple[Slapd, Path]:
    root = tmp_path / name
    root.mkdir()
    units = [f"ou=people,{BASE_DN}", *(f"ou={ou},ou=people,{BASE_DN}" for *_, ou in COMPANIES), f"ou=groups,{BASE_DN}"]
    server = Slapd(root / "slapd", base_dn=BASE_DN, organizational_units=units).start()
    config = write_config(root, server, root / "employees.csv")
    # Hundreds of people at once: keep the guards out of this test's way.
    text = config.read_text(encoding="utf-8").replace("[guards]\n", "[guards]\nmax_destructive_fraction = 1.0\ndestructive_floor = 1000\n")
    config.write_text(text, encoding="utf-8")
    return server, config


def apply_cmd(config: Path, now: str) -> list[str]:
    return [sys.executable, "-m", "lifecycle.cli.main", "--config", str(config), "apply", "--now", now]


def journal_rows(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return conn.execute("select count(*) from action_log").fetchone()[0]
    except sqlite3.Error:
        return 0


def kill_repeatedly(config: Path, now: str, kills: int, seed: int) -> int:
    """Start apply and SIGKILL it after a random number of journal rows, `kills` times."""
    rng = random.Random(seed)
    db = config.parent / "state.db"
    done = 0
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    for _ in range(kills * 3):
        if done == kills:
            break
        start = journal_rows(db)
        target = start + rng.randint(2, 12)
        process = subprocess.Popen(apply_cmd(config, now), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 30
        while process.poll() is None and journal_rows(db) < target and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 0.006))  # land anywhere inside an action, not only between two
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            done += 1
        process.wait(timeout=30)
    return done


def finish(config: Path, now: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    result = subprocess.run(apply_cmd(config, now), capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def world(config: Path) -> tuple[dict, dict, Counter, set]:
    settings = load_settings(config)
    with LdapDirectory(settings.directory, settings.companies) as ldap:
        snapshot = ldap.read_snapshot()
    entries = {
        e.dn: (e.uid, e.cn, e.mail, e.employee_number, e.department, e.title, e.manager, e.locked) for e in snapshot.entries
    }
    groups = {g.dn: sorted(g.members) for g in snapshot.groups}
    with sqlite3.connect(config.parent / "state.db") as conn:
        applied = Counter(
            (kind, employee_id, target, json.loads(params).get("member_dn", ""))
            for kind, employee_id, target, params in conn.execute(
                "select kind, employee_id, target, params from action_log where status = 'applied'"
            )
        )
        pending = set(conn.execute("select id from action_log where status = 'pending'").fetchall())
    return entries, groups, applied, pending


def test_kill_minus_nine_at_random_points_loses_and_repeats_nothing(tmp_path: Path) -> None:
    reference, ref_config = setup(tmp_path, "reference")
    victim, config = setup(tmp_path, "victim")
    try:
        for cfg in (ref_config, config):
            (cfg.parent / "employees.csv").write_text(people(150), encoding="utf-8")
        finish(ref_config, NOW)
        survived = kill_repeatedly(config, NOW, KILLS, seed=1)
        finish(config, NOW)

        # Second act: leavers and branch transfers, interrupted as well.
        for cfg in (ref_config, config):
            (cfg.parent / "employees.csv").write_text(people(150, leavers=30, movers=30), encoding="utf-8")
        finish(ref_config, LATER)
        survived += kill_repeatedly(config, LATER, 8, seed=2)
        finish(config, LATER)

        ref_entries, ref_groups, ref_applied, _ = world(ref_config)
        entries, groups, applied, pending = world(config)
        assert survived >= 20
        assert len(ref_entries) == 150 and sum(1 for e in ref_entries.values() if e[-1]) == 30
        assert entries == ref_entries
        assert groups == ref_groups
        assert pending == set()
        assert applied == ref_applied  # every action applied exactly once, as in the uninterrupted run
        assert max(applied.values()) == 1
    finally:
        reference.stop()
        victim.stop()
