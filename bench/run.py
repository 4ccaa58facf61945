"""Scenarios A-D at a given size, each in its own process, against a throwaway slapd and Modoboa.

    ./scripts/bench --size 10000 [--seed 6] [--scenarios A,B,C,D] [--no-mail] [--transactions] [--json out.json] [--workdir DIR]

A  full reconciliation, nothing to change (`apply_cycle` after the state adopted the directory)
B  the same with 1% changes in HR (half movers, a quarter joiners, a quarter leavers)
C  a quiet cycle (`lifecycle.engine.quiet.check` with the baseline the daemon keeps after A)
D  initial load: every joiner created in an empty directory

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
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.generate import BASE_DN, GENERATOR_VERSION, NOW, config_text, generate, organizational_units

HERE = Path(__file__).resolve().parent
WRITE_METHODS = ("create_person", "modify_person", "set_password", "move_person", "lock", "unlock", "delete_person",
                 "create_group", "add_member", "add_members", "remove_member", "remove_members", "delete_group")
# Several member changes to one group in one write (the executor's, per group and batch).
MULTI_MEMBER_METHODS = ("add_members", "remove_members")
READ_METHODS = ("read_snapshot", "read_person", "read_group", "find_by_employee_number", "ensure_containers", "_exists")
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
    from connectors import directory_ldap, hr_csv
    from lifecycle.engine import apply as apply_module
    from lifecycle.engine import cycle, tuning

    calls: Counter = Counter()
    requests: Counter = Counter()
    phases: dict[str, float] = Counter()
    cls = directory_ldap.LdapDirectory
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
    original_exchange = cls._exchange

    def exchange(self, what, dn, call, **kwargs):
        # One LDAP request (a page of a search counts once), labelled by what it was for.
        requests[_request_label(what)] += 1
        return original_exchange(self, what, dn, call, **kwargs)

    cls._exchange = exchange

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
    timed(directory_ldap.LdapDirectory, "read_snapshot", "read_directory")
    timed(tuning, "read_names_ahead", "read_names_ahead")
    timed(apply_module.Executor, "_perform_mail", "mail_write")
    from lifecycle.journal.store import Journal
    timed(Journal, "load_state", "load_state")
    return calls, requests, phases


def _usage() -> tuple[float, float]:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), ru.ru_utime + ru.ru_stime


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
    from connectors.directory_ldap import LdapDirectory
    from lifecycle.engine import quiet
    from lifecycle.engine.cycle import apply_cycle, config_fingerprint
    from lifecycle.journal.store import Journal
    from lifecycle.domain.settings import load_settings

    settings = load_settings(config)
    if os.environ.get(TRANSACTIONS_ENV) == "1":  # `--transactions`: the opt-in LDAP transactions
        settings = settings.with_transactions()
    journal = Journal(settings.state.url)
    result: dict = {"phase": phase, "write_connections": settings.directory.write_connections}
    imported_rss = peak_rss_mb()
    with LdapDirectory(settings.directory, settings.companies) as ldap:
        if phase == "bare":
            result.update(bare_io(settings))
            if settings.mail is not None:
                result["mail"] = bare = bench_mail.bare_mail_listing(settings)
                result["wall_s"] += bare["wall_s"]  # the bare I/O includes listing the mailboxes
                result["cpu_s"] += bare["cpu_s"]
        elif phase == "C":
            with open(baseline_path, "rb") as handle:
                baseline = pickle.load(handle)
            w0, c0 = _usage()
            verdict = quiet.check(baseline, settings, config_fingerprint(settings), NOW, ldap, journal.state_version)
            w1, c1 = _usage()
            result.update(wall_s=w1 - w0, cpu_s=c1 - c0, quiet=verdict.quiet, changed=verdict.changed, unchanged=verdict.unchanged)
        else:
            extra: dict[str, float] = {}
            if phase == "A":
                t = time.perf_counter()
                before = quiet.Glance.of(quiet.take_markers(settings, ldap, journal.state_version))  # as the daemon keeps it
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
                after = quiet.take_markers(settings, ldap, journal.state_version)
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


def bare_io(settings) -> dict:
    """The I/O a cycle cannot avoid: the snapshot's search with plain ldap3, and parsing the HR CSV.

    For context (not the ratio's denominator): the same search read by `ldap_wire` with a handler
    that does nothing (network + slapd + framing), and by OpenLDAP's C client `ldapsearch`.
    """
    from ldap3 import SIMPLE, SUBTREE, Connection, Server

    from connectors.directory_ldap import SNAPSHOT_ATTRIBUTES, SNAPSHOT_FILTER
    from connectors.ldap_wire import search_page

    d = settings.directory
    connection = Connection(Server(d.url), user=d.bind_dn, password=d.bind_password.get_secret_value(),
                            authentication=SIMPLE, auto_bind=True, check_names=False)
    w0, c0 = _usage()
    entries = 0
    for _ in connection.extend.standard.paged_search(d.base_dn, SNAPSHOT_FILTER, search_scope=SUBTREE,
                                                     attributes=list(SNAPSHOT_ATTRIBUTES), paged_size=d.page_size,
                                                     generator=True):
        entries += 1
    w1, c1 = _usage()
    data = Path(settings.hr.path).read_bytes()
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    w2, c2 = _usage()
    cookie, framed = None, 0
    while True:
        page = search_page(connection, d.base_dn, SNAPSHOT_FILTER, SNAPSHOT_ATTRIBUTES, d.page_size, cookie,
                           lambda buffer, start, end: None)
        framed += page.entries
        cookie = page.cookie
        if not cookie:
            break
    w3, _ = _usage()
    connection.unbind()
    # ldapsearch -y sends the file's bytes as they are: a copy without the final newline.
    raw_secret = Path(d.bind_password_file).with_suffix(".raw")
    raw_secret.write_text(d.bind_password.get_secret_value(), encoding="utf-8")
    raw_secret.chmod(0o600)
    t = time.perf_counter()
    subprocess.run(["ldapsearch", "-x", "-LLL", "-o", "ldif-wrap=no", "-H", d.url, "-D", d.bind_dn, "-y", str(raw_secret),
                    "-b", d.base_dn, "-E", f"pr={d.page_size}/noprompt", SNAPSHOT_FILTER, *SNAPSHOT_ATTRIBUTES],
                   check=True, stdout=subprocess.DEVNULL)
    c_client = time.perf_counter() - t
    return {"ldap_wall_s": w1 - w0, "ldap_cpu_s": c1 - c0, "ldap_entries": entries, "hr_wall_s": w2 - w1,
            "hr_cpu_s": c2 - c1, "hr_rows": len(rows) - 1, "wall_s": w2 - w0, "cpu_s": c2 - c0,
            "wire_no_decoding_s": w3 - w2, "wire_entries": framed, "ldapsearch_s": c_client}


# -- orchestrator ------------------------------------------------------------------


def bare_writes(instance: Instance, ldif: Path, connections: int) -> dict:
    """The writes an initial load cannot avoid, done by OpenLDAP's C client: the generator's LDIF
    (the entries D creates) added to an empty slapd by `connections` `ldapadd` processes at once,
    one add at a time each as the daemon's write connections do, the people first and then the
    groups with their members. D's LDAP side against this is the engine's share of the load."""
    records = [r for r in ldif.read_text(encoding="utf-8").split("\n\n") if r.strip()]
    people = [r for r in records if "\nobjectClass: inetOrgPerson" in r]
    groups = [r for r in records if "\nobjectClass: inetOrgPerson" not in r]
    home = instance.home / "bare-writes"
    home.mkdir()
    secret = home / "secret"  # ldapadd -y sends the file's bytes as they are
    secret.write_text(instance.slapd.admin_password, encoding="utf-8")
    secret.chmod(0o600)
    parts = []
    for n in range(connections):
        part = home / f"people-{n}.ldif"
        part.write_text("\n\n".join(people[n::connections]) + "\n", encoding="utf-8")
        parts.append(part)
    (home / "groups.ldif").write_text("\n\n".join(groups) + "\n", encoding="utf-8")
    command = ["ldapadd", "-x", "-H", instance.slapd.url, "-D", instance.slapd.admin_dn, "-y", str(secret), "-f"]
    pid = instance.slapd._process.pid  # noqa: SLF001
    cpu0 = _slapd_cpu(pid)
    t = time.perf_counter()
    errors = [home / f"{part.stem}.err" for part in [*parts, home / "groups.ldif"]]  # files: a full pipe would block ldapadd
    running = []
    for part, error in zip(parts, errors, strict=False):
        with open(error, "wb") as handle:
            running.append(subprocess.Popen([*command, str(part)], stdout=subprocess.DEVNULL, stderr=handle))
    failed = [error.read_text(errors="replace")[-300:] for process, error in zip(running, errors, strict=False) if process.wait()]
    t_people = time.perf_counter()
    if groups and not failed:
        with open(errors[-1], "wb") as handle:
            if subprocess.run([*command, str(home / "groups.ldif")], stdout=subprocess.DEVNULL, stderr=handle).returncode:
                failed.append(errors[-1].read_text(errors="replace")[-300:])
    t_end = time.perf_counter()
    return {"wall_s": t_end - t, "people_s": t_people - t, "groups_s": t_end - t_people, "writes": len(records),
            "connections": connections, "slapd_cpu_s": _slapd_cpu(pid) - cpu0, "failed": failed}


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
            slapd._initialise()  # noqa: SLF001 - base tree first, then the people (both offline)
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
        pid = instance.slapd._process.pid  # noqa: SLF001
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
        if {"A", "B", "C"} & set(scenarios):
            loaded = self.instance("loaded", ldif=True, mail=mail)
            self.results["slapadd_s"] = loaded.slapadd
            print(f"slapadd -q of {self.size} people: {loaded.slapadd:.2f} s; mailboxes: {self.results.get('mail_load')}", flush=True)
            try:
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
                self.results["bare_writes"] = bare_writes(target, self.data / "directory.ldif", connections)
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


def problems(results: dict) -> list[str]:
    """What the scenarios must show whatever the machine's speed (the CI smoke run fails on these, never on time)."""
    found = []
    p = results["phases"]
    for name in ("adopt", "A", "B", "D"):
        r = p.get(name)
        if r and not r.get("ok", False):
            found.append(f"{name}: the cycle did not end ok: {r.get('applied')}")
    if "A" in p and p["A"].get("actions"):
        found.append(f"A: a second full reconciliation planned {p['A']['actions']} (must be nothing)")
    if "B" in p:
        b = p["B"]
        if b["directory_actions"] != _changes_written(b):
            found.append(f"B: {b['directory_actions']} directory actions but {_changes_written(b)} changes written")
        expected = results.get("B_changes") or {}
        if b["directory_actions"] == 0 or not expected:
            found.append("B: the 1% change set produced no directory actions")
    if "C" in p and not p["C"].get("quiet"):
        found.append(f"C: the cycle after an unchanged one was not quiet: {p['C'].get('changed')}")
    if "D" in p:
        d = p["D"]
        created = (d.get("actions") or {}).get("create_account", 0)
        if created != results["data"]["plan_actions"]["create_account"]:
            found.append(f"D: {created} accounts created, the generator expected {results['data']['plan_actions']['create_account']}")
        if d["directory_actions"] != _changes_written(d):
            found.append(f"D: {d['directory_actions']} directory actions but {_changes_written(d)} changes written")
    for failure in (results.get("bare_writes") or {}).get("failed", []):
        found.append(f"bare writes: an ldapadd failed: {failure}")
    return found


def _changes_written(result: dict) -> int:
    return result.get("ldap_changes_written", result["ldap_write_calls"])


def _kinds(counts: dict | None) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted((counts or {}).items()))


def table(results: dict) -> str:
    p, size = results["phases"], results["size"]
    bare = p.get("bare", {})
    bare_wall = bare.get("wall_s")
    mail_load = results.get("mail_load") or {}
    lines = [f"size {size} (seed {results['seed']}), {results['cpus']} CPUs, load {results['load_before'][0]:.2f} before / "
             f"{results['load_after'][0]:.2f} after; slapadd -q {results.get('slapadd_s') or 0:.2f} s"
             + (f"; {mail_load.get('mailboxes', '?')} mailboxes bulk-loaded into Modoboa in {mail_load.get('load_s', 0):.1f} s"
                if results.get("mail") else "; no mail backend")
             + ("; LDAP transactions on" if results.get("transactions") else "; LDAP transactions off (the default)"),
             f"name collisions: {results['data']['collisions']['share_in_colliding_names']:.1%} of people share their pinyin, "
             f"{results['data']['collisions']['share_numbered']:.1%} get a number",
             "",
             "| scenario | wall s | CPU s | slapd CPU s | Modoboa CPU s | peak RSS MB | actions | LDAP writes | mail writes | vs bare I/O |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name in ("adopt", "A", "B", "C", "D", "bare"):
        r = p.get(name)
        if not r:
            continue
        actions = sum((r.get("actions") or {}).values()) if "actions" in r else ""
        ratio = f"{r['wall_s'] / bare_wall:.2f}x" if bare_wall and name in ("A", "B") else ""
        modoboa = f"{r['modoboa_cpu_s']:.2f}" if "modoboa_cpu_s" in r else ""
        rss = f"{r['peak_rss_mb']:.0f}"
        if r.get("peak_rss_cycle_mb") and round(r["peak_rss_cycle_mb"]) != round(r["peak_rss_mb"]):
            rss = f"{r['peak_rss_cycle_mb']:.0f} ({rss} with extras)"
        lines.append(f"| {name} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | {r.get('slapd_cpu_s', 0):.2f} | {modoboa} | "
                     f"{rss} | {actions} | {r.get('ldap_write_calls', '')} | {r.get('mail_write_calls', '')} | {ratio} |")
    lines.append("")
    lines.append("Requests by kind (LDAP: one per page of a search; mail: one per HTTP request):")
    for name in ("adopt", "A", "B", "C", "D"):
        r = p.get(name)
        if r:
            lines.append(f"- {name}: LDAP {_kinds(r.get('ldap_requests'))}" + (f"; mail {_kinds(r.get('mail_requests'))}" if r.get("mail_requests") else ""))
    lines.append("")
    for name in ("adopt", "A", "B", "D"):
        r = p.get(name)
        if r:
            lines.append(f"{name} phases (s): {r.get('phases_s')}; actions {r.get('actions')}; daemon extras {r.get('daemon_extras_s', {})}")
    if bare:
        mail = bare.get("mail") or {}
        lines.append(f"bare I/O {bare['wall_s']:.2f} s: ldap3 paged read {bare['ldap_wall_s']:.2f} s ({bare['ldap_entries']} entries), "
                     f"HR csv parse {bare['hr_wall_s']:.2f} s"
                     + (f", mailbox listing {mail['wall_s']:.2f} s ({mail.get('requests')} requests)" if mail else "")
                     + f". For context: the same search framed by ldap_wire without decoding {bare.get('wire_no_decoding_s', 0):.2f} s, "
                     f"OpenLDAP's ldapsearch {bare.get('ldapsearch_s', 0):.2f} s")
    if "B" in p:
        b = p["B"]
        apply_s = max(b["phases_s"].get("apply", 0), 1e-9)
        lines.append(f"B: changes {results.get('B_changes')}; directory actions {b['directory_actions']} vs changes written "
                     f"{_changes_written(b)} in {b['ldap_write_calls']} LDAP write calls; mail actions {b.get('mail_actions')} vs mail write calls {b.get('mail_write_calls')}; "
                     f"apply {apply_s:.2f} s")
        ldap_apply = b["phases_s"].get("apply_directory")
        if ldap_apply:
            lines.append(f"B: LDAP apply {ldap_apply:.2f} s = {b['ldap_write_calls'] / max(ldap_apply, 1e-9):.0f} writes/s, "
                         f"{_changes_written(b) / max(ldap_apply, 1e-9):.0f} actions/s; seconds in each write call, summed over "
                         f"the connections: {_kinds(b.get('ldap_write_seconds'))}")
    if "C" in p:
        lines.append(f"C: quiet={p['C'].get('quiet')} changed={p['C'].get('changed')} unchanged={p['C'].get('unchanged')}")
    if "D" in p:
        d = p["D"]
        ldap_apply = d["phases_s"].get("apply_directory") or d["phases_s"].get("apply", 0)
        lines.append(f"D: apply (LDAP side) {ldap_apply:.2f} s for {d['ldap_write_calls']} writes "
                     f"= {d['ldap_write_calls'] / max(ldap_apply, 1e-9):.0f} writes/s; seconds in each write call, summed over "
                     f"the connections: {_kinds(d.get('ldap_write_seconds'))}")
        bare_w = results.get("bare_writes")
        if bare_w:
            wall = max(bare_w["wall_s"], 1e-9)
            lines.append(f"bare writes (D's floor on this slapd): {bare_w['connections']} ldapadd processes (OpenLDAP's C "
                         f"client, no transactions) added the same {bare_w['writes']} entries to an empty slapd in "
                         f"{bare_w['wall_s']:.2f} s = {bare_w['writes'] / wall:.0f} writes/s (people {bare_w['people_s']:.2f} s, "
                         f"groups {bare_w['groups_s']:.2f} s; slapd CPU {bare_w['slapd_cpu_s']:.2f} s); "
                         f"D's LDAP side / bare writes = {ldap_apply / wall:.2f}x")
    for problem in results.get("problems", []):
        lines.append(f"PROBLEM: {problem}")
    return "\n".join(lines)


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
