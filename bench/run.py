"""Scenarios A-D at a given size, each in its own process, against a throwaway slapd and Modoboa.

    ./scripts/bench --size 10000 [--seed 6] [--scenarios A,B,C,D] [--no-mail] [--transactions] [--json out.json] [--workdir DIR]

A  full reconciliation, nothing to change (`apply_cycle` after the state adopted the directory)
B  the same with 1% changes in HR (half movers, a quarter joiners, a quarter leavers)
C  a quiet cycle (`lifecycle.engine.quiet.check` with the baseline the daemon keeps after A)
D  initial load: every joiner created in an empty directory
bare  only the bare I/O (bench/bare.py: the plain clients' reads and writes); it runs with A, B and C too

A, C and B share one slapd, loaded with `slapadd -q` from bench.generate's LDIF, and one
Modoboa with the matching mailboxes (bench.mail; not with --no-mail); the state store starts
empty, so an untimed-for-targets "adopt" cycle (reported too) records the entries as the
daemon's own before A.  D gets its own empty slapd and no mail backend (Modoboa's API
creates ~10 mailboxes/s).  Exits 1 when a result is wrong (see `problems`), never for a time.
Each phase runs in a fresh Python process: peak RSS is that process's VmHWM (not ru_maxrss,
which Linux carries over from the parent across fork+exec).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import pickle
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench import bare
from bench.generate import BASE_DN, GENERATOR_VERSION, NOW, config_text, generate, organizational_units
from bench.report import problems, table

HERE = Path(__file__).resolve().parent
WRITE_METHODS = ("create_person", "modify_person", "set_password", "move_person", "lock", "unlock", "delete_person",
                 "create_group", "add_member", "add_members", "remove_member", "remove_members", "delete_group")
# Several member changes to one group in one write (the executor's, per group and batch).
MULTI_MEMBER_METHODS = ("add_members", "remove_members")
READ_METHODS = ("read_snapshot", "read_person", "read_group", "find_by_employee_number", "ensure_containers", "change_stamp")
DIRECTORY_KINDS = {"create_account", "update_account", "move_account", "suspend_account", "restore_account",
                   "delete_account", "create_group", "add_member", "remove_member", "delete_group"}


# -- worker side -------------------------------------------------------------------

class InFlight:
    """The time at least one LDAP write was in flight: the union of the write calls' intervals
    (they overlap over several connections), kept as it goes: O(1) memory, where a list of
    98k intervals was 11 MB of the initial load's peak RSS."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._since = 0.0
        self.seconds = 0.0
        self.calls = 0

    def start(self) -> None:
        with self._lock:
            if self._running == 0:
                self._since = time.perf_counter()
            self._running += 1

    def stop(self) -> None:
        with self._lock:
            self._running -= 1
            self.calls += 1
            if self._running == 0:
                self.seconds += time.perf_counter() - self._since


WRITES_IN_FLIGHT = InFlight()


class PhaseMemory:
    """Where the peak comes from: the resident set sampled every `interval` s by a thread, the
    largest sample kept under the phases running at that moment ("read_inputs/read_directory")."""

    def __init__(self, interval: float = 0.05) -> None:
        self._stack: list[str] = []
        self.peaks: dict[str, float] = {}
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="bench-rss", daemon=True)

    @contextlib.contextmanager
    def within(self, label: str):
        self._stack.append(label)
        try:
            yield
        finally:
            self.sample()
            self._stack.pop()

    def sample(self) -> None:
        with open("/proc/self/statm", "rb") as handle:
            rss = int(handle.read().split()[1]) * PAGE_SIZE / 2**20
        where = "/".join(self._stack) or "(outside)"
        if rss > self.peaks.get(where, 0.0):
            self.peaks[where] = rss

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        self.sample()
        return {where: round(mb, 1) for where, mb in sorted(self.peaks.items(), key=lambda item: -item[1])}


PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
# Adds, modifies and deletes by each client in the bare phase (one at a time, one connection).
CLIENT_WRITES = 2000
PHASE_MEMORY = PhaseMemory()
TRANSACTIONS_ENV = "LIFECYCLE_BENCH_TRANSACTIONS"
# Seconds spent in each write method, summed over the write connections (they overlap).
WRITE_SECONDS: Counter = Counter()
WRITE_SECONDS_LOCK = threading.Lock()


def _request_label(what: str) -> str:
    """The kind of an LDAP request from its description: "read directory", "modify", "look for", ..."""
    words = what.split(" ")
    two_words = words[0] in ("read", "look", "find", "set", "create", "probe") and len(words) > 1
    return " ".join(words[:2]) if two_words else words[0]


def _install_counters() -> tuple[Counter, Counter, dict]:
    """Count LdapDirectory calls by method and LDAP requests by label; time the cycle's phases."""
    from connectors import hr_csv
    from connectors.ldap import LdapDirectory
    from connectors.ldap.session import Session
    from lifecycle.engine import apply as apply_module
    from lifecycle.engine import cycle, perform, tuning

    calls: Counter = Counter()
    requests: Counter = Counter()
    phases: dict[str, float] = Counter()
    cls = LdapDirectory
    for name in WRITE_METHODS + READ_METHODS:
        original = getattr(cls, name)

        def wrapper(self, *args, __original=original, __name=name, **kwargs):
            calls[__name] += 1
            if __name in MULTI_MEMBER_METHODS:
                calls[__name + " (changes)"] += len(args[1])
            if __name not in WRITE_METHODS:
                return __original(self, *args, **kwargs)
            WRITES_IN_FLIGHT.start()
            started = time.perf_counter()
            try:
                return __original(self, *args, **kwargs)
            finally:
                WRITES_IN_FLIGHT.stop()
                with WRITE_SECONDS_LOCK:
                    WRITE_SECONDS[__name] += time.perf_counter() - started

        setattr(cls, name, wrapper)
    original_transaction = cls.transaction

    @contextlib.contextmanager
    def transaction(self):
        # In flight from its start to its commit: slapd applies the queued writes at the commit.
        WRITES_IN_FLIGHT.start()
        started = time.perf_counter()
        try:
            with original_transaction(self):
                yield
        finally:
            WRITES_IN_FLIGHT.stop()
            with WRITE_SECONDS_LOCK:
                WRITE_SECONDS["transaction (start to commit)"] += time.perf_counter() - started

    cls.transaction = transaction
    original_exchange = Session.exchange

    def exchange(self, what, dn, call, **kwargs):
        # One LDAP request (a page of a search counts once), labelled by what it was for.
        requests[_request_label(what)] += 1
        return original_exchange(self, what, dn, call, **kwargs)

    Session.exchange = exchange

    def timed(module, name, label):
        original = getattr(module, name)

        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                with PHASE_MEMORY.within(label):
                    return original(*args, **kwargs)
            finally:
                phases[label] += time.perf_counter() - t

        setattr(module, name, wrapper)

    timed(cycle, "read_inputs", "read_inputs")
    timed(cycle, "plan_from", "plan")
    timed(apply_module.Executor, "apply", "apply")
    timed(apply_module.Executor, "recover", "recover")
    timed(hr_csv.CsvHrSource, "read", "read_hr")
    timed(LdapDirectory, "read_snapshot", "read_directory")
    timed(tuning, "read_names_ahead", "read_names_ahead")
    timed(perform.ActionPerformer, "perform_mail", "mail_write")
    from lifecycle.journal.store import Journal
    timed(Journal, "load_state", "load_state")
    return calls, requests, phases


_usage = bare.usage


def peak_rss_mb() -> float:
    """This process's own peak resident set (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(phase: str, config: Path, out: Path, baseline_path: Path) -> None:
    from lifecycle.runtime.logging import configure_logging

    log_file = open(out.with_suffix(".log"), "w", encoding="utf-8")  # noqa: SIM115
    configure_logging(json=True, level="INFO", stream=log_file)  # as the service logs, to a file
    calls, requests, phases = _install_counters()
    from bench import mail as bench_mail

    mail_calls: Counter = Counter()
    mail_requests = bench_mail.install_mail_counters(phases=phases, calls=mail_calls, within=PHASE_MEMORY.within)
    PHASE_MEMORY.start()
    from connectors.ldap import LdapDirectory
    from lifecycle.domain.settings import load_settings
    from lifecycle.engine import quiet
    from lifecycle.engine.cycle import apply_cycle, config_fingerprint, open_hr
    from lifecycle.journal.store import Journal

    settings = load_settings(config)
    if os.environ.get(TRANSACTIONS_ENV) == "1":  # `--transactions`: the opt-in LDAP transactions
        settings = settings.with_transactions()
    journal = Journal(settings.state.url)
    result: dict = {"phase": phase, "write_connections": settings.directory.write_connections}
    imported_rss = peak_rss_mb()
    with LdapDirectory(settings.directory, settings.companies) as ldap:
        if phase == "bare":
            result.update(bare.bare_io(settings))
            result["client_writes"] = bare.client_writes(settings, CLIENT_WRITES)
            if settings.mail is not None:
                result["mail"] = listing = bench_mail.bare_mail_listing(settings)
                result["wall_s"] += listing["wall_s"]  # the bare I/O includes listing the mailboxes
                result["cpu_s"] += listing["cpu_s"]
        elif phase == "C":
            with open(baseline_path, "rb") as handle:
                baseline = pickle.load(handle)
            w0, c0 = _usage()
            verdict = quiet.check(baseline, settings, config_fingerprint(settings), NOW, ldap, journal.state_version, open_hr(settings))
            w1, c1 = _usage()
            result.update(wall_s=w1 - w0, cpu_s=c1 - c0, quiet=verdict.quiet, changed=verdict.changed, unchanged=verdict.unchanged)
        else:
            extra: dict[str, float] = {}
            if phase == "A":
                t = time.perf_counter()
                before = quiet.Glance.of(quiet.take_markers(open_hr(settings), ldap, journal.state_version))  # as the daemon keeps it
                extra["daemon_markers_before"] = time.perf_counter() - t
            snapshot_holder: dict = {}
            original_read = LdapDirectory.read_snapshot

            def keep_snapshot(self, *args, **kwargs):
                snapshot_holder["s"] = original_read(self, *args, **kwargs)
                return snapshot_holder["s"]

            LdapDirectory.read_snapshot = keep_snapshot
            w0, c0 = _usage()
            plan, applied = apply_cycle(settings, NOW, ldap, journal, actor="bench")
            w1, c1 = _usage()
            result["peak_rss_cycle_mb"] = peak_rss_mb()  # before the daemon's extras below
            kinds = Counter(a.kind.value for a in plan.actions)
            writes = {k: v for k, v in calls.items() if k in WRITE_METHODS}
            multi = sum(calls[k] for k in MULTI_MEMBER_METHODS)
            result.update(
                wall_s=w1 - w0, cpu_s=c1 - c0, actions=dict(kinds), held=len(plan.held), reviews=len(plan.reviews),
                rejected=len(plan.rejected), applied=applied.summary(), ok=applied.ok,
                directory_actions=sum(v for k, v in kinds.items() if k in DIRECTORY_KINDS),
                ldap_write_calls=sum(writes.values()),
                # Each directory action written once: one call each, or one change of a multi-member call.
                ldap_changes_written=sum(writes.values()) - multi + sum(calls[k + " (changes)"] for k in MULTI_MEMBER_METHODS),
                mail_actions=sum(v for k, v in kinds.items() if k in bench_mail.MAIL_KINDS),
                mail_write_calls=sum(v for k, v in mail_calls.items() if k in bench_mail.MAIL_WRITE_METHODS),
            )
            if phase == "A":
                t = time.perf_counter()
                after = quiet.take_markers(open_hr(settings), ldap, journal.state_version)
                baseline = quiet.Baseline(after, quiet.people_by_key(snapshot_holder["s"]), plan.next_due, config_fingerprint(settings),
                                          taken_uids=snapshot_holder["s"].taken_uids)
                extra["daemon_baseline_after"] = time.perf_counter() - t
                result["peak_rss_daemon_mb"] = peak_rss_mb()  # the bench's pickle of the baseline below is not the daemon's
                extra["baseline_same_probe"] = float(not before.moved(after, plan.hr_fingerprint))
                with open(baseline_path, "wb") as handle:
                    pickle.dump(baseline, handle)
            result["daemon_extras_s"] = extra
        result["ldap_calls"] = dict(calls)
        result["ldap_write_seconds"] = {k: round(v, 3) for k, v in WRITE_SECONDS.items()}
        if WRITES_IN_FLIGHT.calls:
            phases["apply_directory"] = WRITES_IN_FLIGHT.seconds  # LDAP writes in flight (mail excluded)
        result["mail_requests"] = dict(mail_requests)
        result["mail_calls"] = dict(mail_calls)
        result["ldap_requests"] = dict(requests)
        result["phases_s"] = {k: round(v, 3) for k, v in phases.items()}
    journal.close()
    result["rss_peak_by_phase_mb"] = PHASE_MEMORY.stop()
    result["peak_rss_mb"] = result.pop("peak_rss_daemon_mb", None) or peak_rss_mb()
    result["rss_after_imports_mb"] = imported_rss
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")


# -- orchestrator ------------------------------------------------------------------


def _slapd_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def changed_hr(source: Path, target: Path, seed: int, fraction: float = 0.01) -> dict:
    """1% of the people changed: half movers, a quarter joiners, a quarter leavers (deterministic)."""
    rng = random.Random(seed * 7919 + 2)
    with open(source, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    col = {name: i for i, name in enumerate(header)}
    changes = max(4, round(len(body) * fraction))
    managers = {r[col["manager_id"]] for r in body}
    candidates = [i for i, r in enumerate(body) if r[col["status"]] == "在职" and not r[col["termination_date"]]
                  and r[col["employee_id"]] not in managers]
    picked = rng.sample(candidates, changes // 2 + changes // 4)
    movers, leavers = picked[: changes // 2], picked[changes // 2:]
    by_company_dept: dict = {}
    for r in body:
        if r[col["manager_id"]]:
            by_company_dept.setdefault((r[col["company"]], r[col["department"]]), []).append(r)
    keys = sorted(by_company_dept)
    transfers = 0
    for index in movers:
        row = body[index]
        company, department = row[col["company"]], row[col["department"]]
        if rng.random() < 0.1:  # a tenth of the movers change company (entry moved, new mail domain)
            options = [k for k in keys if k[0] != company]
            transfers += 1
        else:
            options = [k for k in keys if k[0] == company and k[1] != department]
        new_company, new_dept = rng.choice(options)
        peer = rng.choice(by_company_dept[(new_company, new_dept)])
        row[col["company"]], row[col["department"]] = new_company, new_dept
        row[col["manager_id"]], row[col["title"]] = peer[col["manager_id"]], peer[col["title"]]
    yesterday = (NOW.date() - timedelta(days=1)).isoformat()
    for index in leavers:
        body[index][col["status"]] = "离职"
        body[index][col["termination_date"]] = yesterday
    next_id = max(int(r[col["employee_id"]]) for r in body) + 1
    joiners = changes // 4
    from bench.generate import NameMaker
    names = NameMaker(rng)
    for n in range(joiners):
        template = body[rng.randrange(len(body))]
        while not template[col["manager_id"]]:
            template = body[rng.randrange(len(body))]
        name, surname = names.make()
        row = list(template)
        row[col["employee_id"]], row[col["name"]] = str(next_id + n), name
        row[col["family_name"]] = surname if len(surname) > 1 else ""
        row[col["english_name"]], row[col["status"]], row[col["termination_date"]] = "", "在职", ""
        row[col["hire_date"]] = (NOW.date() - timedelta(days=2)).isoformat()
        body.append(row)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows([header, *body])
    target.write_text(buffer.getvalue(), encoding="utf-8")
    return {"movers": len(movers), "of_which_transfers": transfers, "leavers": len(leavers), "joiners": joiners}


class Bench:
    def __init__(self, size: int, seed: int, workdir: Path) -> None:
        self.size, self.seed, self.workdir = size, seed, workdir
        self.data = HERE / "out" / f"{size}-{seed}-v{GENERATOR_VERSION}"
        self.results: dict = {"size": size, "seed": seed, "cpus": os.cpu_count(), "load_before": os.getloadavg(),
                              "transactions": os.environ.get(TRANSACTIONS_ENV) == "1"}

    def ensure_data(self) -> None:
        if not (self.data / "meta.json").exists():
            print(f"generating {self.size} people (seed {self.seed}) into {self.data} ...", flush=True)
            generate(self.size, self.seed, self.data)
        self.results["data"] = json.loads((self.data / "meta.json").read_text(encoding="utf-8"))

    def instance(self, name: str, ldif: bool, mail: bool) -> Instance:
        """A throwaway slapd (loaded from the LDIF, or empty) and, with `mail`, a Modoboa with the mailboxes."""
        from bench import mail as bench_mail
        from devservers.slapd import Slapd

        home = self.workdir / name
        home.mkdir(parents=True)
        slapd = Slapd(home / "slapd", base_dn=BASE_DN, organizational_units=organizational_units())
        slapadd = None
        if ldif:
            text = (self.data / "directory.ldif").read_text(encoding="utf-8")
            slapd._initialise()
            t = time.perf_counter()
            slapd.load_ldif(text)
            slapadd = time.perf_counter() - t
        slapd.start()
        secret = home / "ldap-password"
        secret.write_text(slapd.admin_password + "\n", encoding="utf-8")
        secret.chmod(0o600)
        shutil.copyfile(self.data / "employees.csv", home / "employees.csv")
        config = home / "config.toml"
        config.write_text(config_text(url=slapd.url, bind_dn=slapd.admin_dn, password_file=secret,
                                      hr_path=home / "employees.csv", state_url=f"sqlite:///{home}/state.db",
                                      credentials=home / "credentials"), encoding="utf-8")
        instance = Instance(name, home, config, slapd, None, slapadd)
        if mail:
            try:
                instance.modoboa = bench_mail.start_modoboa(home / "modoboa")
                if ldif:
                    self.results["mail_load"] = bench_mail.load_mailboxes(instance.modoboa, self.data / "directory.ldif")
                bench_mail.write_mail_config(config, instance.modoboa, home)
            except BaseException:
                instance.stop()
                raise
        return instance

    def phase(self, phase: str, instance: Instance) -> dict:
        from bench import mail as bench_mail

        home = instance.home
        out = home / f"result-{phase}.json"
        pid = instance.slapd._process.pid
        cpu0 = _slapd_cpu(pid)
        mail0 = bench_mail.server_cpu(instance.modoboa) if instance.modoboa else 0.0
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bench.run", "--worker", phase, "--config", str(instance.config), "--result",
                        str(out), "--baseline", str(home / "baseline.pickle")], check=True, cwd=HERE.parent)
        outer = time.perf_counter() - t
        result = json.loads(out.read_text(encoding="utf-8"))
        result["slapd_cpu_s"] = _slapd_cpu(pid) - cpu0
        if instance.modoboa:
            result["modoboa_cpu_s"] = bench_mail.server_cpu(instance.modoboa) - mail0
        result["process_wall_s"] = outer
        print(f"  {phase}: {json.dumps({k: result.get(k) for k in ('wall_s', 'cpu_s', 'peak_rss_mb', 'actions', 'quiet')}, ensure_ascii=False)}", flush=True)
        return result

    def run(self, scenarios: list[str], mail: bool) -> dict:
        self.ensure_data()
        self.results["mail"] = mail
        phases: dict = {}
        if {"A", "B", "C", "BARE"} & set(scenarios):
            loaded = self.instance("loaded", ldif=True, mail=mail)
            self.results["slapadd_s"] = loaded.slapadd
            print(f"slapadd -q of {self.size} people: {loaded.slapadd:.2f} s; mailboxes: {self.results.get('mail_load')}", flush=True)
            try:
                if {"A", "B", "C"} & set(scenarios):
                    phases["adopt"] = self.phase("adopt", loaded)
                phases["bare"] = self.phase("bare", loaded)
                if "A" in scenarios or "C" in scenarios:
                    phases["A"] = self.phase("A", loaded)
                if "C" in scenarios:
                    phases["C"] = self.phase("C", loaded)
                if "B" in scenarios:
                    self.results["B_changes"] = changed_hr(self.data / "employees.csv", loaded.home / "employees.csv", self.seed)
                    phases["B"] = self.phase("B", loaded)
            finally:
                loaded.stop()
        if "D" in scenarios:
            # The initial load is measured on the directory side: creating mailboxes through
            # Modoboa's API costs ~0.1 s each on its server (password hashing), hours at 100k.
            empty = self.instance("empty", ldif=False, mail=False)
            try:
                phases["D"] = self.phase("D", empty)
            finally:
                empty.stop()
            target = self.instance("bare-writes", ldif=False, mail=False)
            try:
                connections = phases["D"].get("write_connections") or 1
                self.results["bare_writes"] = bare.bare_writes(target.slapd, target.home / "bare-writes",
                                                               self.data / "directory.ldif", connections, _slapd_cpu)
                shown = {k: v for k, v in self.results["bare_writes"].items() if k != "failed"}
                print(f"  bare writes: {json.dumps(shown)}", flush=True)
            finally:
                target.stop()
        self.results["phases"] = phases
        self.results["load_after"] = os.getloadavg()
        return self.results


@dataclass
class Instance:
    name: str
    home: Path
    config: Path
    slapd: Any
    modoboa: Any
    slapadd: float | None

    def stop(self) -> None:
        if self.modoboa is not None:
            self.modoboa.stop()
        self.slapd.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--scenarios", default="A,B,C,D")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--no-mail", action="store_true", help="directory only: no Modoboa for A, B and C")
    parser.add_argument("--workdir", type=Path, help="keep the slapds, state and logs here (default: a temp dir, removed)")
    parser.add_argument("--transactions", action="store_true",
                        help="with `[directory] transactions = true` (opt-in; off by default: see config.example.toml)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--baseline", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        if args.worker in os.environ.get("BENCH_PROFILE", "").split(","):
            import cProfile

            profiler = cProfile.Profile()
            profiler.runcall(worker, args.worker, args.config, args.result, args.baseline)
            profiler.dump_stats(str(args.result.with_suffix(".prof")))
        else:
            worker(args.worker, args.config, args.result, args.baseline)
        return 0
    os.environ[TRANSACTIONS_ENV] = "1" if args.transactions else "0"  # read by the workers
    keep = args.workdir is not None
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="lifecycle-bench-"))).resolve()
    if keep and workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        results = Bench(args.size, args.seed, workdir).run([s.strip().upper() for s in args.scenarios.split(",")],
                                                           mail=not args.no_mail)
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    results["problems"] = problems(results)
    text = table(results)
    print("\n" + text)
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    for problem in results["problems"]:
        print(f"PROBLEM {problem}", file=sys.stderr)
    return 1 if results["problems"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
