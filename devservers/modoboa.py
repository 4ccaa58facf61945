"""A throwaway Modoboa 2.12 instance for tests: the real API on loopback.

`ModoboaInstance.build(template_dir, venv)` deploys Modoboa once into
`template_dir` (`modoboa-admin.py deploy` with a SQLite database, against a
private redis that only lives for the deploy), appends the test overrides to
the generated settings, creates the API token of the `admin` superuser and
marks the template complete.  A complete template is reused as is, so a
session (or, with a kept directory, several sessions) pays the deploy once.

`start(workdir)` copies the template's database into `workdir`, starts a
private `redis-server` and `manage.py runserver --noreload` on free loopback
ports, and waits until `GET /api/v2/domains/` answers with the token.
`reset()` puts the clean database back while the server keeps running (the
SQLite online-backup API, which takes the proper locks, so no connection can
see half a copy) and empties redis (cache and throttling counters); it takes
milliseconds instead of a restart's ~2 s.  `stop()` leaves nothing running.

The overrides (appended to settings.py, read from the environment so one
template serves any number of instances):

- `DATABASES['default']['NAME']` <- `$MODOBOA_TEST_DB`,
- `REDIS_URL` (cache + RQ queues) <- `$MODOBOA_TEST_REDIS_URL`,
- DRF throttle rates raised far above anything a test sends (the stock
  ones are 5 writes/s per endpoint, 200 reads/min per endpoint and 300
  requests/min per user; the driver's own pacing and 429 handling are
  tested through a fault-injecting proxy instead),
- no syslog handlers (nothing of the tests ends up in the host's syslog),
- TCP_NODELAY on runserver's sockets (keep-alive requests took 40 ms longer),
- Modoboa's LDAP authentication backend first (`modoboa.lib.authbackends.
  LDAPBackend`, as Modoboa's LDAP documentation says), when django-auth-ldap
  is in the venv: it only acts once `authentication_type` is "ldap".

`use_directory()` turns that on for the web UI's logins, against the
directory: the core parameters an admin sets in Modoboa's "Authentication"
settings, written into the database (LocalConfig; reset() puts the template's,
without them, back).  People are found by `mail` with a search bind
(`ldap_auth_method = "searchbind"`, the lookup DN: a read-only account in
production, the test slapd's admin in tests), and their password checked by
binding as them.  The filter leaves out entries with `pwdReset: TRUE`: slapd
accepts the bind of a password that must be changed, so Modoboa would let the
initial password in; it is refused until the person changed it.
`AUTH_LDAP_ALWAYS_UPDATE_USER = False`: otherwise each web login wrote the
entry's givenName and sn over the mailbox's display name, which the daemon
then set back.  Modoboa's LDAP backend still creates a Modoboa account (and
mailbox) at the first web login of a directory person who has none yet
(`get_or_create` in modoboa.lib.authbackends; AUTH_LDAP_NO_NEW_USERS cannot
stop it): the daemon creates every mailbox first, so only a person logging in
before the daemon made theirs would meet it.

The instance never needs root and binds 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from devservers.processes import free_port, stop_process
from devservers.processes import log_tail as _tail

MODOBOA_VERSION = "2.12.0"
TEMPLATE_REVISION = 4  # bump when what build() writes changes: kept templates are rebuilt
INSTANCE_NAME = "modoboa_test"
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "password"  # what `deploy` gives the admin; the API uses the token
REDIS_SERVER = os.environ.get("LIFECYCLE_REDIS_SERVER", shutil.which("redis-server") or "/usr/bin/redis-server")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
DEPLOY_TIMEOUT = 300.0
_MARKER = ".lifecycle-template"
# Loopback only: never through a proxy from the environment.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))

_SETTINGS_OVERRIDES = """

# --- lifecycle test-instance overrides (devservers/modoboa.py) ---
import os as _lifecycle_os

DATABASES["default"]["NAME"] = _lifecycle_os.environ.get("MODOBOA_TEST_DB", DATABASES["default"]["NAME"])
REDIS_URL = _lifecycle_os.environ.get("MODOBOA_TEST_REDIS_URL", REDIS_URL)
for _queue in RQ_QUEUES.values():
    _queue["URL"] = REDIS_URL
CACHES["default"]["LOCATION"] = REDIS_URL
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    scope: "100000/second" for scope in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
}
# runserver answers keep-alive requests in small writes; with Nagle's algorithm
# and delayed ACKs each one waited ~40 ms more (72 ms instead of 30).
import socketserver as _lifecycle_socketserver

_lifecycle_socketserver.StreamRequestHandler.disable_nagle_algorithm = True
try:  # LDAP authentication (use_directory()): only with django-auth-ldap, only once authentication_type is "ldap"
    import django_auth_ldap as _lifecycle_auth_ldap  # noqa: F401

    AUTHENTICATION_BACKENDS = ("modoboa.lib.authbackends.LDAPBackend", *AUTHENTICATION_BACKENDS)
    # A login must not copy givenName/sn over the display name the daemon manages through the API.
    AUTH_LDAP_ALWAYS_UPDATE_USER = False
except ImportError:
    pass
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "loggers": {
        name: {"handlers": ["null"], "propagate": False}
        for name in ("modoboa.auth", "modoboa.admin", "modoboa.dns", "modoboa.policyd")
    },
}
"""


class ModoboaError(RuntimeError):
    """Deploying or running the test instance failed; the message has the log tail."""


class _Redis:
    """One private redis-server in the foreground, no persistence."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.workdir / "redis.log"

    def start(self) -> None:
        if not Path(REDIS_SERVER).exists():
            raise ModoboaError(f"{REDIS_SERVER} not found: run scripts/install-modoboa (as root)")
        for attempt in range(3):
            self.port = free_port()
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
            command = [
                REDIS_SERVER,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--daemonize", "no",
                "--dir", str(self.workdir),
            ]  # fmt: skip
            self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    break
                if self.command("PING") == "+PONG":
                    return
                time.sleep(0.02)
            self.stop()
            if attempt == 2:
                raise ModoboaError(f"redis-server did not start:\n{_tail(self.log_path)}")

    def command(self, *words: str) -> str | None:
        """Send one inline command; the first line of the reply, or None if unreachable."""
        if self.port is None:
            return None
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                sock.sendall((" ".join(words) + "\r\n").encode())
                return sock.recv(256).split(b"\r\n", 1)[0].decode()
        except OSError:
            return None

    def stop(self) -> None:
        process, self._process = self._process, None
        stop_process(process, STOP_TIMEOUT)
        if self._log is not None:
            self._log.close()
            self._log = None


class ModoboaInstance:
    """One Modoboa (runserver + private redis) on loopback, from a deployed template."""

    def __init__(self, template_dir: Path, venv: Path, token: str) -> None:
        self.template_dir = Path(template_dir)
        self.venv = Path(venv)
        self._token = token
        self.ldap_login = False  # use_directory() was called since the last reset
        self.workdir: Path | None = None
        self.port: int | None = None
        self._redis: _Redis | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # -- template -----------------------------------------------------------

    @classmethod
    def build(cls, template_dir: Path, venv: Path) -> ModoboaInstance:
        """Deploy into `template_dir` unless a complete template is already there."""
        template_dir = Path(template_dir).resolve()
        venv = Path(venv).resolve()
        python = venv / "bin" / "python"
        deploy = venv / "bin" / "modoboa-admin.py"
        if not python.exists() or not deploy.exists():
            raise ModoboaError(f"no Modoboa in {venv}: run scripts/install-modoboa (as root)")
        marker = template_dir / _MARKER
        if marker.exists():
            try:
                info = json.loads(marker.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                info = {}
            current = info.get("version") == MODOBOA_VERSION and info.get("revision") == TEMPLATE_REVISION
            if current and (template_dir / "modoboa.db").exists():
                return cls(template_dir, venv, info["token"])
        if template_dir.exists():
            shutil.rmtree(template_dir)
        template_dir.mkdir(parents=True)
        redis = _Redis(template_dir)
        redis.start()
        log_path = template_dir / "deploy.log"
        try:
            with open(log_path, "wb") as log:
                command = [
                    str(python), str(deploy), "deploy", INSTANCE_NAME,
                    "--dburl", f"default:sqlite:///{template_dir / 'modoboa.db'}",
                    "--redisurl", redis.url,
                    "--domain", "127.0.0.1",
                    "--admin-username", ADMIN_USERNAME,
                ]  # fmt: skip
                result = subprocess.run(
                    command,
                    cwd=template_dir,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    timeout=DEPLOY_TIMEOUT,
                    check=False,
                )
            # deploy exits 0 even when one of its manage.py steps failed; it says so.
            output = log_path.read_text(encoding="utf-8", errors="replace")
            if result.returncode != 0 or "failed, check your configuration" in output:
                raise ModoboaError(f"modoboa-admin.py deploy failed:\n{_tail(log_path)}")
            settings = template_dir / INSTANCE_NAME / INSTANCE_NAME / "settings.py"
            with open(settings, "a", encoding="utf-8") as handle:
                handle.write(_SETTINGS_OVERRIDES)
            env = cls._environment(template_dir / "modoboa.db", redis.url)
            result = subprocess.run(
                [str(python), "manage.py", "drf_create_token", ADMIN_USERNAME],
                cwd=template_dir / INSTANCE_NAME,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=120,
                check=False,
            )
            words = result.stdout.decode(errors="replace").split()
            # "Generated token <key> for user admin"
            if result.returncode != 0 or "token" not in words or words.index("token") + 1 >= len(words):
                detail = (result.stdout + result.stderr).decode(errors="replace")[-2000:]
                raise ModoboaError(f"drf_create_token failed:\n{detail}")
            token = words[words.index("token") + 1]
        finally:
            redis.stop()
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"version": MODOBOA_VERSION, "revision": TEMPLATE_REVISION, "token": token}, handle)
        return cls(template_dir, venv, token)

    @staticmethod
    def _environment(db_path: Path, redis_url: str) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "MODOBOA_TEST_"))}
        env.update(
            {
                "MODOBOA_TEST_DB": str(db_path),
                "MODOBOA_TEST_REDIS_URL": redis_url,
                "DJANGO_SETTINGS_MODULE": f"{INSTANCE_NAME}.settings",
                "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    # -- properties ---------------------------------------------------------

    @property
    def url(self) -> str:
        if self.port is None:
            raise ModoboaError("Modoboa has no port yet: call start() first")
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return self._token

    @property
    def db_path(self) -> Path:
        if self.workdir is None:
            raise ModoboaError("Modoboa has no database yet: call start() first")
        return self.workdir / "modoboa.db"

    @property
    def template_db(self) -> Path:
        return self.template_dir / "modoboa.db"

    @property
    def log_path(self) -> Path:
        if self.workdir is None:
            raise ModoboaError("Modoboa has no workdir yet: call start() first")
        return self.workdir / "runserver.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- lifecycle ----------------------------------------------------------

    def start(self, workdir: Path) -> ModoboaInstance:
        """Fresh copy of the template database in `workdir`, redis, runserver; wait until the API answers."""
        if self.running:
            raise ModoboaError("already running: stop() first")
        self.workdir = Path(workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._copy_clean_db()
        self._redis = _Redis(self.workdir)
        try:
            self._redis.start()
            self._launch()
        except BaseException:
            self.stop()
            raise
        return self

    def reset(self) -> None:
        """Back to the template's state: clean database, empty redis; the server keeps running."""
        if not self.running:
            raise ModoboaError("not running: start() first")
        source = sqlite3.connect(f"file:{self.template_db}?mode=ro", uri=True)
        target = sqlite3.connect(self.db_path, timeout=30)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
        self.ldap_login = False
        assert self._redis is not None
        if self._redis.command("FLUSHALL") != "+OK":
            raise ModoboaError("redis did not answer FLUSHALL")

    def use_directory(self, url: str, base_dn: str, bind_dn: str, bind_password: str) -> None:
        """Web logins (Modoboa's own UI) check the directory's password: Modoboa's LDAP authentication.

        The core parameters of Modoboa's "Authentication" settings, written straight into LocalConfig (the
        API's PUT /api/v2/parameters/core/ wants every core parameter at once); Modoboa reads them at each
        login.  Only an ldap:// URL without TLS (the test slapd's).
        """
        if not list(self.venv.glob("lib/python*/site-packages/django_auth_ldap")):
            raise ModoboaError(f"django-auth-ldap is not in {self.venv}: run scripts/install-modoboa (as root)")
        host, _, port = url.removeprefix("ldap://").rstrip("/").partition(":")
        if not url.startswith("ldap://") or not host:
            raise ModoboaError(f"use_directory: {url!r} is not an ldap://host:port URL")
        ldap = {
            "authentication_type": "ldap",
            "ldap_server_address": host,
            "ldap_server_port": int(port or 389),
            "ldap_secured": "none",
            "ldap_auth_method": "searchbind",
            "ldap_bind_dn": bind_dn,
            "ldap_bind_password": bind_password,
            "ldap_search_base": base_dn,
            # %(user)s is the login, the address; a password that must still be changed opens nothing.
            "ldap_search_filter": "(&(objectClass=inetOrgPerson)(mail=%(user)s)(!(pwdReset=TRUE)))",
            "ldap_is_active_directory": False,
            "ldap_groups_search_base": base_dn,
        }
        with sqlite3.connect(self.db_path, timeout=30) as connection:
            (raw,) = connection.execute("SELECT _parameters FROM core_localconfig").fetchone()
            parameters = json.loads(raw or "{}")
            parameters.setdefault("core", {}).update(ldap)
            connection.execute("UPDATE core_localconfig SET _parameters=?", (json.dumps(parameters),))
        connection.close()
        self.ldap_login = True

    def web_login(self, username: str, password: str) -> bool:
        """A login on Modoboa's own login page (/accounts/login/, its web UI's): True when it let them in."""
        import re

        import httpx

        # Modoboa's cookies are Secure (CSRF_COOKIE_SECURE): over the test's plain HTTP they are passed by hand.
        with httpx.Client(base_url=self.url, timeout=30, trust_env=False) as client:
            page = client.get("/accounts/login/")
            field = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
            cookie = re.search(r"csrftoken=([^;]+)", page.headers.get("set-cookie", ""))
            if page.status_code != 200 or field is None or cookie is None:
                raise ModoboaError(f"Modoboa's login page answered {page.status_code} without a CSRF token")
            answer = client.post(
                "/accounts/login/",
                data={"username": username, "password": password, "csrfmiddlewaretoken": field.group(1)},
                headers={"Referer": f"{self.url}/accounts/login/", "Cookie": f"csrftoken={cookie.group(1)}"},
            )
        # Its LoginView redirects once logged in; it shows the form again (401) when it refused.
        if answer.status_code not in (302, 401):
            raise ModoboaError(f"Modoboa's login answered {answer.status_code}")
        return answer.status_code == 302

    def restart(self) -> None:
        """Stop runserver, put the clean database back, start it again (the slow, sure reset)."""
        self._stop_server()
        self._copy_clean_db()
        assert self._redis is not None
        self._redis.command("FLUSHALL")
        self._launch()

    def stop(self) -> None:
        """Stop runserver and redis.  Safe to call twice."""
        self._stop_server()
        redis, self._redis = self._redis, None
        if redis is not None:
            redis.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def __del__(self) -> None:  # last resort: never leave a server behind a lost object
        for process in (getattr(self, "_process", None), getattr(getattr(self, "_redis", None), "_process", None)):
            if process is not None and process.poll() is None:
                process.kill()

    # -- internals ----------------------------------------------------------

    def _copy_clean_db(self) -> None:
        self.ldap_login = False
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{self.db_path}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(self.template_db, self.db_path)

    def _launch(self) -> None:
        assert self.workdir is not None and self._redis is not None
        python = self.venv / "bin" / "python"
        env = self._environment(self.db_path, self._redis.url)
        for attempt in range(3):
            self.port = free_port()
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
            command = [str(python), "manage.py", "runserver", f"127.0.0.1:{self.port}", "--noreload", "--skip-checks"]
            self._process = subprocess.Popen(
                command,
                cwd=self.template_dir / INSTANCE_NAME,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=self._log,
            )
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    break
                if self._answers():
                    return
                time.sleep(0.05)
            tail = _tail(self.log_path)
            self._stop_server()
            if attempt == 2 or "already in use" not in tail:
                raise ModoboaError(f"Modoboa runserver did not answer on 127.0.0.1:{self.port}:\n{tail}")

    def _answers(self) -> bool:
        request = urllib.request.Request(f"{self.url}/api/v2/domains/", headers={"Authorization": f"Token {self._token}"})
        try:
            with _NO_PROXY.open(request, timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def _stop_server(self) -> None:
        process, self._process = self._process, None
        stop_process(process, STOP_TIMEOUT)
        if self._log is not None:
            self._log.close()
            self._log = None
