"""The mail side of the benchmark: a throwaway Modoboa with the generated people's mailboxes.

    python -m bench.mail --size 10000 [--seed 6] [--workdir DIR] [--page-sizes 500,2000] [--json F]  # load, verify, list

What bench.run uses (see the bottom of this docstring for the exact calls):

- `start_modoboa(workdir)`: the test template (devservers.modoboa, deployed once into
  bench/out/modoboa-template) started in `workdir`.  The template's settings raise every DRF
  throttle scope to `BENCH_THROTTLE_RATE` (stock Modoboa: `STOCK_THROTTLE_RATES`), and the
  `[mail]` section written here lifts the driver's own pacing to `BENCH_PACING`: mail writes
  are then bounded by the server (runserver, one request at a time), not by a rate limit.
- `load_mailboxes(instance, ldif, settings=None)`: the 12 domains through the API (as the daemon's
  ensure_domains would), then one mailbox per person of directory.ldif written straight into
  Modoboa's SQLite database in one transaction, row for row what `POST /api/v2/accounts/`
  produces (core.User + its SimpleUsers group, admin.Mailbox, the hidden internal self-alias
  and its recipient, admin.Quota, the admin's ObjectAccess on the user and the mailbox, the
  user's six UserObjectLimit rows, the contacts address book); only django-reversion's history
  rows are left out.  Address = the LDIF's mail, display name = its displayName, quota by the
  `[mail]` rules (`quota_by_title`, else `default_quota_mb`), active, one shared password hash.
- `mail_config_text(url, token_file)` / `write_mail_config(config, instance, home)`: the `[mail]`
  section appended to the bench's config.toml (the cycle then reads and writes mail for real).
- `install_mail_counters()`: API requests by kind ("GET accounts", "PATCH accounts", ...).
- `bare_mail_listing(settings)`: the listing a cycle cannot avoid, with plain httpx.
- `verify_listing(mail_settings, people, domains)`: the driver's snapshot == the loaded mailboxes.

Integration in bench/run.py (orchestrator; `Bench.instance`, after config.toml is written):

    from bench import mail as bench_mail
    modoboa = bench_mail.start_modoboa(home / "modoboa")            # ~1 s (+ ~15-20 s the first time: template)
    if ldif:                                                          # A/B/C: the people's mailboxes, D: none
        self.results["mail_load"] = bench_mail.load_mailboxes(modoboa, self.data / "directory.ldif")
    bench_mail.write_mail_config(config, modoboa, home)               # appends [mail] (token in home/mail-token)
    ... modoboa.stop() next to every slapd.stop(); per phase, like _slapd_cpu:
    cpu0 = bench_mail.server_cpu(modoboa) ... result["modoboa_cpu_s"] = bench_mail.server_cpu(modoboa) - cpu0

Worker (`worker()`, right after `_install_counters()`, before anything opens the backend):

    mail_calls: Counter = Counter()
    mail_requests = bench_mail.install_mail_counters(phases=phases, calls=mail_calls)
    ... result["mail_requests"] = dict(mail_requests)       # {"GET accounts": 12, "GET v1 accounts": 12, ...}
        result["mail_calls"] = dict(mail_calls)             # driver methods: create_mailbox, suspend, ...
        result["mail_write_calls"] = sum(v for k, v in mail_calls.items() if k in bench_mail.MAIL_WRITE_METHODS)
    bare phase:  result["mail"] = bare = bench_mail.bare_mail_listing(settings)
                 result["wall_s"] += bare["wall_s"]; result["cpu_s"] += bare["cpu_s"]   # bare I/O includes the listing
    mail actions of a plan: kinds in bench_mail.MAIL_KINDS (B: actions == mail_write_calls).

Scenario C (lifecycle.engine.quiet.check) does not read mail at all.  D with [mail] creates every mailbox
through the API: ~0.12 s each at 10k (a search, then a POST whose SHA512-CRYPT hash takes most of
it), i.e. ~20 min at 10k and hours at 100k; run D with mail at 10k only, or without [mail].
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import resource
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TEMPLATE_DIR = HERE / "out" / "modoboa-template"
API = "/api/v2"

# What Modoboa 2.12's generated settings.py has, and what the test template makes of every scope
# (devservers/modoboa.py _SETTINGS_OVERRIDES): far above anything one client can send.
STOCK_THROTTLE_RATES = {"user": "300/minute", "ddos": "5/second", "ddos_lesser": "200/minute", "login": "10/minute",
                        "password_recovery_request": "12/hour", "password_recovery_totp_check": "25/hour",
                        "password_recovery_apply": "25/hour"}
BENCH_THROTTLE_RATE = "100000/second"
# The driver's own pacing in the bench's [mail] (stock: 4 writes/s, 270 requests/min, under the stock throttle).
BENCH_PACING = {"max_writes_per_second": 100000.0, "max_requests_per_minute": 6000000.0}
# Per request: one page of 500 accounts takes ~1 s on a loaded 2-vCPU box.
BENCH_TIMEOUT_SECONDS = 120.0

# Every loaded mailbox has this password: "Secret-Pass-12345", hashed once by Modoboa itself
# (SHA512-CRYPT, 70000 rounds; hashing it per mailbox would take ~0.1 s each).
PASSWORD_HASH = ("{SHA512-CRYPT}$6$rounds=70000$r4xMlfhX2MWBYP6V$gLiGhkyFLu9V4E9OZTnzAmdDgsUaFyOCSL57EvBziyLoWleP6NyoPVZdE"
                 "RszpCkjguExrpVe7m6TQ3Ukm.INk1")
# The UserObjectLimit rows Modoboa gives every new account (limits app): name -> (app_label, model).
USER_LIMITS = (("domains", "admin", "domain"), ("domain_aliases", "admin", "domainalias"),
               ("mailboxes", "admin", "mailbox"), ("mailbox_aliases", "admin", "alias"),
               ("domain_admins", "core", "user"), ("quota", "admin", "domain"))


def bench_quota_by_title() -> dict[str, int]:
    """Quota rules for the bench: department heads 4096 MB, team leads 2048, staff 1024 (a mover's
    new title can change the tier, so scenario B has mailbox updates)."""
    from bench.generate import DEPARTMENTS

    rules: dict[str, int] = {}
    for _, titles in DEPARTMENTS:
        for index, title in enumerate(titles):
            rules.setdefault(title, 4096 if index == 0 else 2048 if index == 1 else 1024)
    return rules


# -- the server ------------------------------------------------------------------------


def modoboa_venv() -> Path:
    return Path(os.environ.get("LIFECYCLE_MODOBOA_VENV") or ROOT / ".modoboa-venv")


def build_template(template_dir: Path | None = None, venv: Path | None = None):
    """Deploy the test template once (~15-20 s; reused while complete)."""
    from devservers.modoboa import ModoboaInstance

    return ModoboaInstance.build(Path(template_dir or TEMPLATE_DIR), venv or modoboa_venv())


def start_modoboa(workdir: Path, template_dir: Path | None = None, venv: Path | None = None):
    """A running Modoboa (runserver + private redis on loopback) with an empty database in `workdir`."""
    instance = build_template(template_dir, venv)
    instance.start(Path(workdir))
    return instance


def server_cpu(instance) -> float:
    """CPU seconds used so far by the instance's runserver (like bench.run._slapd_cpu)."""
    process = getattr(instance, "_process", None)
    if process is None:
        return 0.0
    try:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the people ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MailPerson:
    address: str
    display_name: str
    title: str
    employee_id: str


def _value(line: str) -> tuple[str, str]:
    attribute, _, rest = line.partition(":")
    if rest.startswith(":"):
        return attribute, base64.b64decode(rest[1:].strip()).decode("utf-8")
    return attribute, rest.strip()


def people_from_ldif(path: Path) -> list[MailPerson]:
    """Every person entry with a mail in bench.generate's LDIF (unfolded lines, one entry per block)."""
    people: list[MailPerson] = []
    for block in Path(path).read_text(encoding="utf-8").split("\n\n"):
        if not block.startswith("dn: uid="):
            continue
        values: dict[str, str] = {}
        for line in block.split("\n"):
            if line.startswith(("mail:", "displayName:", "title:", "employeeNumber:", "cn:")):
                key, value = _value(line)
                values[key] = value
        if values.get("mail"):
            people.append(MailPerson(values["mail"].lower(), values.get("displayName") or values.get("cn", ""),
                                     values.get("title", ""), values.get("employeeNumber", "")))
    return people


# -- the [mail] section ----------------------------------------------------------------


def _toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def mail_config_text(url: str, token_file: Path, *, default_quota_mb: int = 1024,
                     quota_by_title: dict[str, int] | None = None, page_size: int = 500,
                     pacing: dict[str, float] | None = None, timeout_seconds: float = BENCH_TIMEOUT_SECONDS) -> str:
    """`[mail]` for the bench's config.toml (appended after the [[companies]] tables)."""
    pacing = {**BENCH_PACING, **(pacing or {})}
    rules = bench_quota_by_title() if quota_by_title is None else quota_by_title
    lines = [
        "",
        "# Written by bench.mail: the throwaway Modoboa; its DRF throttle is raised to "
        f"{BENCH_THROTTLE_RATE} per scope and the driver's pacing with it.",
        "[mail]",
        'kind = "modoboa"',
        f"url = {_toml_string(url)}",
        f"token_file = {_toml_string(str(token_file))}",
        f"default_quota_mb = {default_quota_mb}",
        f"max_writes_per_second = {pacing['max_writes_per_second']}",
        f"max_requests_per_minute = {pacing['max_requests_per_minute']}",
        f"page_size = {page_size}",
        f"timeout_seconds = {timeout_seconds}",
        "backoff_seconds = 0.2",
        "",
        "[mail.quota_by_title]",
        *(f"{_toml_string(title)} = {quota}" for title, quota in sorted(rules.items())),
        "",
    ]
    return "\n".join(lines)


def write_mail_config(config: Path, instance, home: Path, **options: Any) -> Path:
    """Write the instance's token to home/mail-token (0600) and append `[mail]` to `config`."""
    token_file = Path(home) / "mail-token"
    token_file.write_text(instance.token + "\n", encoding="utf-8")
    token_file.chmod(0o600)
    with open(config, "a", encoding="utf-8") as handle:
        handle.write(mail_config_text(instance.url, token_file, **options))
    return token_file


def mail_settings_for(instance, **options: Any):
    """MailSettings as the bench's [mail] would give them (for a driver outside a config file)."""
    from pydantic import SecretStr

    from lifecycle.domain.settings import MailSettings

    pacing = {**BENCH_PACING, **options.pop("pacing", {})}
    rules = options.pop("quota_by_title", None)
    return MailSettings(url=instance.url, token=SecretStr(instance.token), timeout_seconds=BENCH_TIMEOUT_SECONDS,
                        backoff_seconds=0.2, quota_by_title=bench_quota_by_title() if rules is None else rules,
                        **pacing, **options)


# -- the bulk load ---------------------------------------------------------------------


def _now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")  # how Django stores a UTC datetime in SQLite


def _check_columns(db: sqlite3.Connection, table: str, columns: Sequence[str]) -> None:
    have = {row[1] for row in db.execute(f'PRAGMA table_info("{table}")')}
    missing = [c for c in columns if c not in have]
    if not have or missing:
        raise RuntimeError(f"Modoboa's {table} lacks {missing or 'everything'}: the bulk loader matches Modoboa 2.12.0 only")


def _insert(db: sqlite3.Connection, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> int:
    _check_columns(db, table, columns)
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" for _ in columns)
    cursor = db.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)
    return cursor.rowcount


def _next_id(db: sqlite3.Connection, table: str) -> int:
    return int(db.execute(f'SELECT COALESCE(MAX(id), 0) + 1 FROM "{table}"').fetchone()[0])


def bulk_insert(db_path: Path, people: Sequence[MailPerson], *, quota_by_title: dict[str, int], default_quota_mb: int,
                admin_username: str = "admin") -> dict[str, int]:
    """The rows `POST /api/v2/accounts/` makes for each person, in one transaction (domains must exist)."""
    db = sqlite3.connect(db_path, timeout=60, isolation_level=None)
    try:
        db.execute("PRAGMA synchronous = OFF")
        db.execute("BEGIN IMMEDIATE")
        content_type = {(a, m): i for i, a, m in db.execute("SELECT id, app_label, model FROM django_content_type")}
        group = db.execute("SELECT id FROM auth_group WHERE name = 'SimpleUsers'").fetchone()[0]
        admin = db.execute("SELECT id FROM core_user WHERE username = ?", (admin_username,)).fetchone()[0]
        domains = {name: i for i, name in db.execute("SELECT id, name FROM admin_domain")}
        missing = sorted({p.address.partition("@")[2] for p in people} - set(domains))
        if missing:
            raise RuntimeError(f"domains missing in Modoboa: {missing}")
        taken = {row[0] for row in db.execute("SELECT username FROM core_user")}
        todo = [p for p in people if p.address not in taken]
        now = _now_text()
        user0, box0, alias0 = _next_id(db, "core_user"), _next_id(db, "admin_mailbox"), _next_id(db, "admin_alias")
        ct_user, ct_box = content_type[("core", "user")], content_type[("admin", "mailbox")]
        n = len(todo)
        counts: dict[str, int] = {}
        counts["core_user"] = _insert(
            db, "core_user",
            ("id", "is_superuser", "username", "first_name", "last_name", "email", "is_staff", "is_active", "date_joined",
             "is_local", "password", "last_login", "master_user", "language", "phone_number", "secondary_email",
             "_parameters", "totp_enabled", "webauthn_enabled"),
            ((user0 + i, 0, p.address, p.display_name, "", p.address, 0, 1, now, 1, PASSWORD_HASH, None, 0, "en", None, None,
              "{}", 0, 0) for i, p in enumerate(todo)))
        counts["core_user_groups"] = _insert(db, "core_user_groups", ("user_id", "group_id"),
                                             ((user0 + i, group) for i in range(n)))
        counts["admin_mailbox"] = _insert(
            db, "admin_mailbox",
            ("id", "address", "quota", "use_domain_quota", "domain_id", "user_id", "creation", "last_modification",
             "message_limit", "is_send_only"),
            ((box0 + i, p.address.partition("@")[0], quota_by_title.get(p.title, default_quota_mb), 0,
              domains[p.address.partition("@")[2]], user0 + i, now, now, None, 0) for i, p in enumerate(todo)))
        counts["admin_alias"] = _insert(
            db, "admin_alias",
            ("id", "address", "enabled", "internal", "domain_id", "description", "expire_at", "creation", "last_modification"),
            ((alias0 + i, p.address, 1, 1, domains[p.address.partition("@")[2]], "", None, now, now) for i, p in enumerate(todo)))
        counts["modoboa_admin_aliasrecipient"] = _insert(
            db, "modoboa_admin_aliasrecipient", ("alias_id", "r_alias_id", "r_mailbox_id", "address"),
            ((alias0 + i, None, box0 + i, p.address) for i, p in enumerate(todo)))
        counts["admin_quota"] = _insert(db, "admin_quota", ("username", "bytes", "messages"), ((p.address, 0, 0) for p in todo))
        counts["core_objectaccess"] = _insert(
            db, "core_objectaccess", ("object_id", "is_owner", "content_type_id", "user_id"),
            (row for i in range(n) for row in ((user0 + i, 1, ct_user, admin), (box0 + i, 1, ct_box, admin))))
        limits = [(name, content_type[(app, model)]) for name, app, model in USER_LIMITS]
        counts["limits_userobjectlimit"] = _insert(
            db, "limits_userobjectlimit", ("name", "max_value", "content_type_id", "user_id"),
            ((name, 0, ct, user0 + i) for i in range(n) for name, ct in limits))
        counts["modoboa_contacts_addressbook"] = _insert(
            db, "modoboa_contacts_addressbook", ("name", "sync_token", "last_sync", "user_id", "_path", "sync_started"),
            (("Contacts", "", None, user0 + i, "contacts", None) for i in range(n)))
        db.execute("COMMIT")
        counts["skipped_existing"] = len(people) - n
        return counts
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    finally:
        db.close()


def load_mailboxes(instance, ldif: Path, settings=None, *, domains: Sequence[str] | None = None,
                   quota_by_title: dict[str, int] | None = None, default_quota_mb: int | None = None) -> dict[str, Any]:
    """Domains through the API, then every LDIF person's mailbox in bulk; returns timings and counts.

    `settings` (lifecycle Settings, optional) gives the domains and the [mail] quota rules; else
    bench.generate's 12 domains and `bench_quota_by_title()`.
    """
    from connectors.mail_modoboa import ModoboaBackend

    if settings is not None:
        domains = domains or [c.domain for c in settings.companies]
        if settings.mail is not None:
            quota_by_title = settings.mail.quota_by_title if quota_by_title is None else quota_by_title
            default_quota_mb = settings.mail.default_quota_mb if default_quota_mb is None else default_quota_mb
    if domains is None:
        from bench.generate import COMPANIES

        domains = [c[2] for c in COMPANIES]
    rules = bench_quota_by_title() if quota_by_title is None else quota_by_title
    default = 1024 if default_quota_mb is None else default_quota_mb
    result: dict[str, Any] = {}
    t = time.perf_counter()
    people = people_from_ldif(ldif)
    result["parse_ldif_s"] = time.perf_counter() - t
    t = time.perf_counter()
    with ModoboaBackend(mail_settings_for(instance)) as backend:
        result["domains_created"] = len(backend.ensure_domains(domains))
    result["domains_s"] = time.perf_counter() - t
    t = time.perf_counter()
    result["rows"] = bulk_insert(instance.db_path, people, quota_by_title=rules, default_quota_mb=default)
    result["insert_s"] = time.perf_counter() - t
    redis = getattr(instance, "_redis", None)
    if redis is not None:
        redis.command("FLUSHALL")  # nothing Modoboa cached before the load survives it
    result["mailboxes"] = result["rows"]["core_user"]
    result["people"] = len(people)
    result["load_s"] = result["parse_ldif_s"] + result["domains_s"] + result["insert_s"]
    return result


def expected_mailboxes(people: Iterable[MailPerson], quota_by_title: dict[str, int], default_quota_mb: int) -> dict[str, tuple]:
    return {p.address: (p.display_name, quota_by_title.get(p.title, default_quota_mb), True) for p in people}


def verify_listing(settings, people: Sequence[MailPerson], domains: Sequence[str]) -> dict[str, Any]:
    """The driver's snapshot against the loaded people: same addresses, names, quotas, all active."""
    from connectors.mail_modoboa import ModoboaBackend

    wanted = expected_mailboxes(people, settings.quota_by_title, settings.default_quota_mb)
    t = time.perf_counter()
    with ModoboaBackend(settings) as backend:
        snapshot = backend.read_snapshot(domains)
    wall = time.perf_counter() - t
    got = {m.address: (m.display_name, m.quota_mb, m.is_active) for m in snapshot.mailboxes}
    wrong = sorted(a for a in wanted.keys() & got.keys() if wanted[a] != got[a])
    return {"ok": got == wanted and not snapshot.aliases and all(m.forward_to == () for m in snapshot.mailboxes),
            "listed": len(got), "expected": len(wanted), "missing": sorted(wanted.keys() - got.keys())[:5],
            "unexpected": sorted(got.keys() - wanted.keys())[:5], "wrong": [(a, wanted[a], got[a]) for a in wrong[:5]],
            "aliases": len(snapshot.aliases), "wall_s": wall}


# -- counting and the bare listing -----------------------------------------------------

_ID = re.compile(r"^\d+$")


def endpoint_of(path: str) -> str:
    """/api/v2/accounts/12/delete/ -> 'accounts delete'; /api/v2/aliases/ -> 'aliases'; /api/v1/accounts/ -> 'v1 accounts'."""
    parts = [p for p in path.split("?", 1)[0].removeprefix(API).removeprefix("/api").split("/") if p and not _ID.match(p)]
    return " ".join(parts) or "/"


MAIL_METHODS = ("read_snapshot", "find_mailbox", "ensure_domains", "create_mailbox", "update_mailbox", "rename_mailbox",
                "suspend", "restore", "set_forward", "clear_forward", "create_alias", "delete_alias",
                "delete_mailbox")
MAIL_WRITE_METHODS = MAIL_METHODS[3:]
MAIL_KINDS = frozenset({"create_mailbox", "update_mailbox", "rename_mailbox", "suspend_mailbox", "restore_mailbox",
                        "forward_mail", "clear_forward", "auto_reply", "archive_mailbox", "delete_mailbox", "create_alias",
                        "delete_alias"})


def install_mail_counters(phases: dict | None = None, calls: Counter | None = None,
                          seconds: dict | None = None, within: Callable[[str], Any] | None = None) -> Counter:
    """Count the driver's HTTP requests by "METHOD endpoint" (each attempt; 429 answers also as "HTTP 429").

    With `phases` (bench.run's phase timer), the time in ModoboaBackend.read_snapshot is added
    under "read_mail" (run inside `within("read_mail")` when given); with `calls`, the driver's
    port methods are counted by name; with `seconds`, the wall time of the requests is summed by
    the same kinds.
    """
    from connectors.mail_modoboa.api import ModoboaApi
    from connectors.mail_modoboa.backend import ModoboaBackend
    from lifecycle.domain.errors import TransientError

    requests: Counter = Counter()
    cls = ModoboaBackend
    original_send = ModoboaApi._send

    def send(self, method, path, **kwargs):
        kind = f"{method} {endpoint_of(path)}"
        requests[kind] += 1
        t = time.perf_counter()
        try:
            return original_send(self, method, path, **kwargs)
        except TransientError as exc:
            if "HTTP 429" in str(exc):
                requests["HTTP 429"] += 1
            raise
        finally:
            if seconds is not None:
                seconds[kind] = seconds.get(kind, 0.0) + time.perf_counter() - t

    ModoboaApi._send = send  # one attempt: retries are counted too
    if calls is not None:
        for name in MAIL_METHODS:
            original = getattr(cls, name)

            def counted(self, *args, __original=original, __name=name, **kwargs):
                calls[__name] += 1
                return __original(self, *args, **kwargs)

            setattr(cls, name, counted)
    if phases is not None:
        original_read = cls.read_snapshot

        def timed(self, *args, **kwargs):
            t = time.perf_counter()
            try:
                with within("read_mail") if within else contextlib.nullcontext():
                    return original_read(self, *args, **kwargs)
            finally:
                phases["read_mail"] = phases.get("read_mail", 0.0) + time.perf_counter() - t

        cls.read_snapshot = timed
    return requests


def _usage() -> tuple[float, float]:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), ru.ru_utime + ru.ru_stime


def bare_mail_listing(settings) -> dict[str, Any]:
    """What reading mail cannot avoid: the requests the driver's read_snapshot makes, with plain httpx.

    `settings` is the lifecycle Settings (its [mail] and companies) or a MailSettings plus
    `domains=` via bare_listing().  Returns wall/CPU, requests, rows.
    """
    return bare_listing(settings.mail, [c.domain for c in settings.companies])


def bare_listing(mail, domains: Sequence[str], *, v1_accounts: bool = True) -> dict[str, Any]:
    """The requests of ModoboaBackend.read_snapshot with plain httpx and json: the domains, then per
    domain the account count (v2, one row), the accounts (v1, unpaged) and the aliases (v2 pages
    followed through `next`'s query).  `v1_accounts=False`: the accounts through v2's pages instead
    (what the driver did before, and still does when v1 is absent)."""
    from urllib.parse import parse_qsl, urlsplit

    import httpx

    headers = {"Authorization": f"Token {mail.token.get_secret_value()}", "Accept": "application/json"}
    page = str(mail.page_size)
    requests = accounts = aliases = 0
    w0, c0 = _usage()
    with httpx.Client(base_url=mail.url, headers=headers, timeout=mail.timeout_seconds, verify=mail.verify_tls) as client:

        def get(path: str, params: dict[str, str]) -> Any:
            nonlocal requests
            response = client.get(path, params=params)
            response.raise_for_status()
            requests += 1
            return response.json()

        def rows(path: str, params: dict[str, str]) -> list[dict]:
            out: list[dict] = []
            query: dict[str, str] = {**params, "page_size": page}
            while True:
                body = get(path, query)
                out.extend(body["results"])
                if not body.get("next"):
                    return out
                query = dict(parse_qsl(urlsplit(body["next"]).query, keep_blank_values=True))  # as the driver does

        ids = {row["name"]: row["pk"] for row in rows(f"{API}/domains/", {})}
        for name in sorted({d.lower() for d in domains}):
            if name not in ids:
                continue
            if v1_accounts:
                get(f"{API}/accounts/", {"domain": str(ids[name]), "page_size": "1"})
                accounts += len(get("/api/v1/accounts/", {"domain": name}))
            else:
                accounts += len(rows(f"{API}/accounts/", {"domain": str(ids[name])}))
            aliases += len(rows(f"{API}/aliases/", {"domain": name}))
    w1, c1 = _usage()
    return {"wall_s": w1 - w0, "cpu_s": c1 - c0, "requests": requests, "accounts": accounts, "aliases": aliases,
            "page_size": mail.page_size, "accounts_via": "v1" if v1_accounts else "v2 pages"}


# -- stand-alone measurement -----------------------------------------------------------


def measure(size: int, seed: int, workdir: Path, *, page_sizes: Sequence[int] = (500,), repeat: int = 1) -> dict[str, Any]:
    """Start, load, verify; time the driver's listing against the bare one (per page size)."""
    from bench.generate import COMPANIES, GENERATOR_VERSION, generate

    data = HERE / "out" / f"{size}-{seed}-v{GENERATOR_VERSION}"
    if not (data / "meta.json").exists():
        generate(size, seed, data)
    domains = [c[2] for c in COMPANIES]
    result: dict[str, Any] = {"size": size, "seed": seed, "load_before": os.getloadavg(),
                              "throttle": {s: BENCH_THROTTLE_RATE for s in STOCK_THROTTLE_RATES}, "pacing": BENCH_PACING}
    t = time.perf_counter()
    instance = start_modoboa(workdir / "modoboa")
    result["start_s"] = time.perf_counter() - t
    try:
        result["load"] = load_mailboxes(instance, data / "directory.ldif", domains=domains)
        people = people_from_ldif(data / "directory.ldif")
        for page_size in page_sizes:
            settings = mail_settings_for(instance, page_size=page_size)
            runs = []
            for _ in range(repeat):
                cpu0 = server_cpu(instance)
                w0, c0 = _usage()
                check = verify_listing(settings, people, domains)
                w1, c1 = _usage()
                cpu1 = server_cpu(instance)
                bare = bare_listing(settings, domains)
                cpu2 = server_cpu(instance)
                runs.append({"driver_wall_s": w1 - w0, "driver_cpu_s": c1 - c0, "driver_server_cpu_s": cpu1 - cpu0,
                             "bare_wall_s": bare["wall_s"], "bare_cpu_s": bare["cpu_s"], "bare_server_cpu_s": cpu2 - cpu1,
                             "bare_requests": bare["requests"], "verified": check["ok"], "listed": check["listed"],
                             "problems": {k: check[k] for k in ("missing", "unexpected", "wrong") if check[k]}})
                print(f"  page_size {page_size}: {json.dumps(runs[-1], ensure_ascii=False)}", flush=True)
            result.setdefault("listing", {})[str(page_size)] = runs
    finally:
        instance.stop()
    result["load_after"] = os.getloadavg()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-mail"))
    parser.add_argument("--page-sizes", default="500")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    result = measure(args.size, args.seed, args.workdir.resolve(), page_sizes=[int(p) for p in args.page_sizes.split(",")],
                     repeat=args.repeat)
    text = json.dumps(result, ensure_ascii=False, indent=1, default=str)
    print(text)
    if args.json:
        args.json.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
