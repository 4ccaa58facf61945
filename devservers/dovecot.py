"""A throwaway Dovecot 2.3 (Debian) for tests: passwords from the directory, mailboxes from a Modoboa test database.

`DovecotInstance(workdir, modoboa_db).start()` writes its own configuration
into `workdir` and runs `dovecot -F -c <workdir>/dovecot.conf` in the
foreground: no file of /etc/dovecot is read, the Debian service is never
involved, and `stop()` leaves no process behind: the master leads a session
of its own and takes its children with it (`session_pids(master_pid)` is
empty afterwards).  Should the test process die without stopping it, the
master gets SIGTERM all the same (PR_SET_PDEATHSIG); only `data_dir` stays.
`reset()` ends every session and empties every mailbox between tests (and
reopens the Modoboa database: see `reopen_database()`).

devservers/postfix.py's `deliver()` sends test mail the way a Modoboa server's
Postfix would; devservers/dovecot_config.py writes the configuration.

What it is configured like, and why:

- Listeners on free 127.0.0.1 ports only: IMAP (no TLS: `ssl = no`,
  plaintext logins allowed on loopback), LMTP (inet, the way Postfix hands
  mail over on a Modoboa server) and the doveadm HTTP API
  (`doveadm_api_key`; `api_url` is `http://127.0.0.1:<port>/doveadm/v1`).
- The configuration, the SQL file, the post-login script and the log are in
  the work dir.  Sockets (`base_dir`), `state_dir`, the mail homes
  (`mail/<domain>/<local>`, `mail_location = maildir:~/.maildir` as in
  Modoboa's installer), `archive/`, `outbox/` and the sendmail stand-in are in
  `data_dir`: the work dir itself for an ordinary user, but as root a fresh
  0755 directory under /tmp (linked as `<workdir>/data`, removed by stop()),
  because Dovecot refuses uid 0 for mail processes, so they run as Debian's
  `mail` user (8:8), which cannot enter pytest's private (0700) temporary
  directories; unix socket paths also stay short there.  Login processes
  run as `dovenull`, internal ones as `dovecot` (from the Debian package);
  the post-login script and the auth workers as root.
- Passwords are the directory's (the only password store): `use_directory()`
  (or `directory=`) says where; without one every login is refused, saying
  so.  The passdb chain (dovecot_config.py) is, in order:
  1. `ldap`, entries with `pwdReset: TRUE` only (`auth_bind`): the right
     initial password fails with `NO [EXPIRED] Your password must be changed
     first: <the console's /password>` (`code=pass_expired`, `nodelay`); a
     wrong one falls through to 2;
  2. `ldap`, the entry whose `mail` is the login (LDAP matches it case-
     insensitively), the password checked by binding as it (`auth_bind`): a
     locked entry (`pwdAccountLockedTime`, how the daemon suspends) cannot
     bind; `result_success = continue-ok`, `result_failure = return-fail`;
  3. `sql` on Modoboa's database, only once 1-2 authenticated (`skip =
     unauthenticated`), no password (`nopassword`): the mailbox exists, is
     active and its domain enabled, so a suspended mailbox stays refused.
  A wrong password gets `[AUTHENTICATIONFAILED] Authentication failed.`
  whether or not pwdReset is set or the address exists.  The lookup DN
  (`dn`/`dnpass`) only searches: the tests use the test slapd's admin; a
  deployment gives Dovecot a read-only account that may read `mail` and
  `pwdReset` under the base DN (and nothing of userPassword: auth_bind binds
  as the person).
- userdb `sql` with the sqlite driver on the Modoboa database, with the
  queries of Modoboa's Dovecot documentation for SQLite (2.12,
  doc/manual_installation/dovecot.rst) plus the `is_send_only` clauses of
  the installer's MySQL/PostgreSQL queries: the userdb finds every mailbox,
  active or not, exactly like the installer's `user_query` -- so LMTP still
  delivers to a suspended account and doveadm can still export it.
- The post-login script of Modoboa's installer (`service imap { executable =
  imap postlogin }`): `UPDATE core_user SET last_login=... WHERE
  username='$USER'` on the Modoboa database (a small Python script; the
  installer's uses psql/mysql).  Django stores naive UTC datetimes in SQLite;
  the script writes the same format.
- LMTP runs the Pigeonhole sieve plugin (`sieve = file:~/sieve;active=
  ~/.dovecot.sieve`, like the installer's 90-sieve.conf); `sendmail_path`
  is a script that records every outgoing message (vacation replies) in
  `<data_dir>/outbox/` instead of sending it: `sent_messages()` reads them.
- `auth_cache_size = 0` (Dovecot's default): a suspension is seen at the next
  login, as on a Modoboa server with the stock configuration;
  `auth_failure_delay = 0` (default 2 s) and no auth penalty (anvil's
  `anvil-auth-penalty` listener off: after a refused login, the next login
  from 127.0.0.1 waited 4 s) so refused logins do not slow the tests.

Nothing here talks to the network beyond 127.0.0.1.
"""


from __future__ import annotations

import base64
import contextlib
import ctypes
import email
import email.header
import email.policy
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from devservers.dovecot_config import (
    DirectoryLogin,
    MailUsers,
    MissingUser,
    dovecot_config,
    ldap_config,
    mail_users,
    postlogin_script,
    sendmail_script,
    sql_config,
)
from devservers.processes import free_port, stop_process
from devservers.processes import log_tail as _tail

DOVECOT = os.environ.get("LIFECYCLE_DOVECOT", shutil.which("dovecot") or "/usr/sbin/dovecot")
DOVEADM = os.environ.get("LIFECYCLE_DOVEADM", shutil.which("doveadm") or "/usr/bin/doveadm")
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
_SOCKET_DIR_MAX = 60  # base_dir + "/login/imap-urlauth-worker" must stay below 108 bytes
# Loopback only: never through a proxy from the environment.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class DovecotError(RuntimeError):
    """Starting or running the test Dovecot failed; the message has the log tail."""



class DovecotInstance:
    """One Dovecot (IMAP, LMTP, doveadm HTTP API) on loopback over a Modoboa SQLite database."""

    def __init__(
        self, workdir: Path, modoboa_db: Path, *, api_key: str | None = None, directory: DirectoryLogin | None = None
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.modoboa_db = Path(modoboa_db).resolve()
        self.api_key = api_key or secrets.token_urlsafe(24)
        self.directory = directory
        self.imap_port: int | None = None
        self.lmtp_port: int | None = None
        self.api_port: int | None = None
        self._data_dir: Path | None = None
        self._own_data_dir = False
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    # -- paths --------------------------------------------------------------

    @property
    def config_path(self) -> Path:
        return self.workdir / "dovecot.conf"

    @property
    def log_path(self) -> Path:
        return self.workdir / "dovecot.log"

    def ldap_config_path(self, *, must_change: bool) -> Path:
        return self.workdir / ("dovecot-ldap-must-change.conf.ext" if must_change else "dovecot-ldap.conf.ext")

    @property
    def data_dir(self) -> Path:
        """Sockets, state, mail, archive and outbox: the work dir, or (as root) a directory the mail user can reach."""
        if self._data_dir is None:
            raise DovecotError("Dovecot has no data directory yet: call start() first")
        return self._data_dir

    @property
    def mail_root(self) -> Path:
        """Homes are mail_root/<domain>/<local>; the maildir is <home>/.maildir."""
        return self.data_dir / "mail"

    @property
    def outbox(self) -> Path:
        """Where the sendmail stand-in puts each outgoing message (one .eml file each)."""
        return self.data_dir / "outbox"

    @property
    def archive_dir(self) -> Path:
        """A directory the mail processes can write: for the companion's backups in tests.

        As root it is the mail user's, 0700, like a deployment's: the companion
        never reads it, Dovecot counts the archives (doveadm `fs iter`, run by
        the doveadm service as root here, as in the stock configuration).
        """
        return self.data_dir / "archive"

    def home(self, address: str) -> Path:
        local, _, domain = address.lower().partition("@")
        return self.mail_root / domain / local

    @property
    def api_url(self) -> str:
        if self.api_port is None:
            raise DovecotError("Dovecot has no port yet: call start() first")
        return f"http://127.0.0.1:{self.api_port}/doveadm/v1"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def master_pid(self) -> int | None:
        """The master's pid; it leads a session of its own, which every Dovecot process of this instance is in."""
        return self._process.pid if self._process is not None else None

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> Self:
        """Write the configuration, start the master in the foreground, wait for all three listeners."""
        if self.running:
            raise DovecotError("already running: stop() first")
        if not Path(DOVECOT).exists():
            raise DovecotError(f"{DOVECOT} not found: run scripts/install-dovecot (as root)")
        if not self.modoboa_db.exists():
            raise DovecotError(f"no Modoboa database at {self.modoboa_db}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._make_data_dir()
        for directory in (self.data_dir / "state", self.data_dir / "run"):
            directory.mkdir(exist_ok=True)
        for directory in (self.mail_root, self.outbox, self.archive_dir):
            self._make_mail_dir(directory)
        self._write_scripts()
        try:
            for attempt in range(3):
                self.imap_port, self.lmtp_port, self.api_port = self._free_ports(3)
                self._write_config()
                self._launch()
                if self._wait_ready():
                    return self
                tail = _tail(self.log_path)
                self._stop_master()
                if attempt == 2 or "in use" not in tail:
                    raise DovecotError(f"dovecot did not start:\n{tail}\n{self._stderr_tail()}")
        except BaseException:
            self.stop()
            raise
        return self  # pragma: no cover - the loop returns or raises

    def stop(self) -> None:
        """Stop the master (and with it every Dovecot process of this instance).  Safe to call twice."""
        self._stop_master()
        if self._own_data_dir and self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            (self.workdir / "data").unlink(missing_ok=True)
            self._data_dir = None
            self._own_data_dir = False

    def reset(self) -> None:
        """Back to no mail at all: end every session, remove every home, archive and recorded message."""
        if not self.running:
            raise DovecotError("not running: start() first")
        self.doveadm("kick", "*", check=False)
        self.reopen_database()
        for directory in (self.mail_root, self.archive_dir, self.outbox):
            shutil.rmtree(directory, ignore_errors=True)
            self._make_mail_dir(directory)

    def use_directory(self, directory: DirectoryLogin | None) -> None:
        """Check IMAP passwords against `directory` from the next login on (None: refuse every login).

        A no-op when it is the one in use.  Otherwise the configuration is
        rewritten and reloaded (`doveadm reload`, ~0.1 s); sessions are not
        ended (reset() does that).
        """
        if directory == self.directory:
            return
        self.directory = directory
        if self.running:
            self._write_config()
            self._reload()

    def reopen_database(self) -> None:
        """End the auth workers, so the next lookup opens the Modoboa database anew.

        Needed after the database file was replaced under them (ModoboaInstance.reset()
        copies the template in with SQLite's backup API): Dovecot 2.3's sqlite
        driver keeps its connection and fails every query with "database schema
        has changed" (SQLITE_SCHEMA) instead of preparing it again.  The master
        starts a new worker on the next lookup.
        """
        if self.master_pid is None:
            return
        workers = [pid for pid in session_pids(self.master_pid) if _cmdline(pid).endswith(("/auth -w", "/auth-worker"))]
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
            time.sleep(0.01)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def __del__(self) -> None:  # last resort: never leave a server behind a lost object
        process = getattr(self, "_process", None)
        if process is not None and process.poll() is None:
            process.terminate()  # the master takes its children down with it

    # -- tools --------------------------------------------------------------

    def doveadm(self, *args: str, check: bool = True, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
        """Run the doveadm CLI against this instance (its config and sockets)."""
        result = subprocess.run(
            [DOVEADM, "-c", str(self.config_path), *args],
            input=stdin.decode() if stdin is not None else None,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and result.returncode != 0:
            raise DovecotError(f"doveadm {' '.join(args)}: exit {result.returncode}: {result.stderr.strip()}")
        return result

    def message_count(self, address: str) -> int:
        """Messages over all folders of a mailbox, as Dovecot counts them (doveadm CLI)."""
        result = self.doveadm("-f", "flow", "mailbox", "status", "-u", address, "-t", "messages", "*")
        return int(result.stdout.split("=", 1)[1].strip())

    def sent_messages(self) -> list[EmailMessage]:
        """The messages handed to sendmail, oldest first (header X-Lifecycle-Sendmail-Args: the arguments)."""
        messages = []
        for path in sorted(self.outbox.glob("*.eml")):
            parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            messages.append(parsed)
        return messages

    def login(self, address: str, password: str) -> str:
        """"OK", or the text of the server's NO to an IMAP LOGIN as `address` (the passdb chain's answer)."""
        import imaplib

        assert self.imap_port is not None
        connection = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=10)
        try:
            connection.login(address, password)
        except imaplib.IMAP4.error as exc:
            return exc.args[0].decode() if isinstance(exc.args[0], bytes) else str(exc.args[0])
        finally:
            connection.shutdown()
        return "OK"

    def subjects(self, address: str) -> list[str]:
        """The decoded subjects of every message of a mailbox, all folders (doveadm fetch: no login needed)."""
        result = self.doveadm("-f", "json", "fetch", "-u", address, "hdr.subject", "all")
        rows = json.loads(result.stdout or "[]")
        return [str(email.header.make_header(email.header.decode_header(row.get("hdr.subject", "")))) for row in rows]

    # -- internals ----------------------------------------------------------

    @staticmethod
    def _free_ports(count: int) -> tuple[int, int, int]:
        ports: set[int] = set()
        while len(ports) < count:
            ports.add(free_port())
        first, second, third = sorted(ports)
        return first, second, third

    def _make_data_dir(self) -> None:
        """As root, mail processes run as `mail`, which cannot enter a private work dir (pytest's are 0700)."""
        if self._data_dir is not None:
            return
        if os.getuid() != 0 and len(str(self.workdir)) <= _SOCKET_DIR_MAX:
            self._data_dir = self.workdir
            return
        self._data_dir = Path(tempfile.mkdtemp(prefix="lc-dovecot-", dir="/tmp"))
        self._own_data_dir = True
        os.chmod(self._data_dir, 0o755)
        link = self.workdir / "data"
        link.unlink(missing_ok=True)
        link.symlink_to(self._data_dir)

    def _make_mail_dir(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        users = self._users()
        if os.getuid() == 0:
            os.chown(directory, users.uid, users.gid)
            os.chmod(directory, 0o700)

    def _write_scripts(self) -> None:
        postlogin = self.workdir / "postlogin"
        postlogin.write_text(postlogin_script(self.modoboa_db), encoding="utf-8")
        postlogin.chmod(0o755)
        sendmail = self.data_dir / "sendmail"
        sendmail.write_text(sendmail_script(self.outbox), encoding="utf-8")
        sendmail.chmod(0o755)

    def _reload(self) -> None:
        """`doveadm reload`, and wait until the master has taken the new configuration.

        The master handles SIGHUP after `doveadm reload` returned, all at once: it logs that it reloads, reads
        the configuration and from then on starts every new process (auth, login, lmtp, doveadm) from it; the
        old ones finish what they serve and exit (an lmtp process holding a connection to an ended auth
        process would fail its next lookup: so no auth process is ever killed here).
        """
        logged = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.doveadm("reload")
        deadline = time.monotonic() + START_TIMEOUT
        while not self._logged_since(logged, b"SIGHUP received - reloading configuration"):
            if time.monotonic() > deadline or not self.running:
                raise DovecotError(f"dovecot did not reload its configuration:\n{_tail(self.log_path)}")
            time.sleep(0.005)

    def _logged_since(self, offset: int, text: bytes) -> bool:
        with open(self.log_path, "rb") as log:
            log.seek(offset)
            return text in log.read()

    def _write_config(self) -> None:
        for must_change in (True, False):
            path = self.ldap_config_path(must_change=must_change)
            if self.directory is None:
                path.unlink(missing_ok=True)
                continue
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the lookup DN's password
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(ldap_config(self.directory, must_change=must_change))
        users = self._users()
        sql = self.workdir / "dovecot-sql.conf.ext"
        sql.write_text(sql_config(self.modoboa_db, self.mail_root, users), encoding="utf-8")
        sql.chmod(0o600)
        self.config_path.write_text(dovecot_config(self, sql, users), encoding="utf-8")
        self.config_path.chmod(0o600)

    @staticmethod
    def _users() -> MailUsers:
        try:
            return mail_users()
        except MissingUser as exc:
            raise DovecotError(str(exc)) from exc

    def _launch(self) -> None:
        self._stderr = open(self.workdir / "dovecot.stderr", "ab")  # noqa: SIM115 - lives as long as the process
        self._process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=self._stderr,
            stderr=self._stderr,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        ports = [self.imap_port, self.lmtp_port]
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            if all(_answers(port) for port in ports) and self._api_answers():
                return True
            time.sleep(0.05)
        return False

    def _api_answers(self) -> bool:
        request = urllib.request.Request(self.api_url, headers=self.api_headers())
        try:
            with _NO_PROXY.open(request, timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def api_headers(self) -> dict[str, str]:
        token = base64.b64encode(self.api_key.encode()).decode()
        return {"Authorization": f"X-Dovecot-API {token}", "Connection": "close"}

    def _stderr_tail(self) -> str:
        return _tail(self.workdir / "dovecot.stderr", 10)

    def _stop_master(self) -> None:
        process, self._process = self._process, None
        stop_process(process, STOP_TIMEOUT)
        if process is not None:
            _wait_session_gone(process.pid)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


def _answers(port: int | None) -> bool:
    if port is None:
        return False
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.settimeout(1)
            return bool(sock.recv(64))
    except OSError:
        return False


def _libc_prctl() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


# Looked up here, in the parent: the child of a process with threads must not dlopen() between fork and exec.
_PRCTL = _libc_prctl()


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the process that started it dies (a killed test run).

    The master then stops every Dovecot process of the instance; only its
    data directory is left behind.
    """
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2 :].split()[0] != "Z"


def session_pids(sid: int) -> list[int]:
    """Live processes of a session (the master is started as a session leader; its children stay in it)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp session ...; comm may contain spaces and parentheses
        fields = stat[stat.rindex(")") + 2 :].split()
        if len(fields) > 3 and int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


def _wait_session_gone(sid: int, timeout: float = STOP_TIMEOUT) -> None:
    """The master sends its children SIGTERM as it stops; wait for them, then kill what is left."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not session_pids(sid):
            return
        time.sleep(0.02)
    for pid in session_pids(sid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


