"""A throwaway OpenLDAP server for tests and the demo.

`Slapd(workdir, ...)` writes a cn=config directory and an MDB database under
`workdir`, loads the base tree offline with `slapadd`, and runs `slapd` in the
foreground on a free loopback port.  The configuration mirrors what the
product expects from a real directory:

- ppolicy with a default policy that has `pwdLockout: TRUE` (and the overlay's
  `olcPPolicyUseLockout: TRUE`), so `pwdAccountLockedTime: 000001010000Z`
  really blocks binds; `pwdMustChange: TRUE` so `pwdReset` means something;
- `olcLastBind: TRUE` (writes `pwdLastSuccess`) and the `lastbind` overlay
  (writes `authTimestamp`, `olcLastBindPrecision: 0` so every bind is
  recorded; 2.5 has no precision setting for the database-level one);
- refint on `member` and `manager`, so renames and deletes keep references
  consistent (memberOf is deprecated upstream and deliberately not used);
- 64-bit index hashes (`olcIndexHash64`), so removing a member from a big
  group costs slapd the removed value's index keys, not a re-index of the
  whole group (bench/README.md);
- syncprov on the database (`syncprov=False` leaves it out), so the suffix
  carries a `contextCSN` that moves with every write: the quiet-cycle probe
  reads it instead of scanning every entry (lifecycle/engine/quiet.py).

Nothing here needs privileges beyond running the Debian `slapd` binaries; it
works as root and as an ordinary user.  `stop()` leaves no process behind.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from devservers.processes import free_port, log_tail, stop_process

SLAPD = os.environ.get("LIFECYCLE_SLAPD", "/usr/sbin/slapd")
SLAPADD = os.environ.get("LIFECYCLE_SLAPADD", "/usr/sbin/slapadd")
LDAPADD = shutil.which("ldapadd") or "/usr/bin/ldapadd"
MODULE_DIR = Path("/usr/lib/ldap")
SCHEMA_DIR = Path("/etc/ldap/schema")
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0



class SlapdError(RuntimeError):
    """slapd or one of its tools failed; the message carries the log tail."""


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # slapd sets it too
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def ssha(password: str) -> str:
    """RFC 2307 `{SSHA}` hash, the form slapd accepts in olcRootPW and userPassword."""
    salt = secrets.token_bytes(8)
    digest = hashlib.sha1(password.encode("utf-8") + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode("ascii")


def _ldif_value(attribute: str, value: str) -> str:
    """One LDIF line; base64 (`::`) whenever the value is not SAFE-STRING (RFC 2849)."""
    safe = value.isascii() and value.isprintable() and not value.startswith((" ", ":", "<")) and not value.endswith(" ")
    if safe:
        return f"{attribute}: {value}"
    return f"{attribute}:: {base64.b64encode(value.encode('utf-8')).decode('ascii')}"


def _first_rdn(dn: str) -> tuple[str, str]:
    """(attribute, value) of the first RDN of a simple DN (no escapes, no multi-valued RDNs).

    Only used for the base and container DNs the caller configures, which are
    plain `ou=...`/`dc=...` names; anything fancier is refused rather than
    guessed at.
    """
    rdn = dn.split(",", 1)[0]
    if "\\" in rdn or "+" in rdn or "=" not in rdn:
        raise ValueError(f"unsupported container DN {dn!r}: use plain attr=value RDNs")
    attribute, value = rdn.split("=", 1)
    return attribute.strip(), value.strip()


def _entry(*lines: str) -> str:
    """One LDIF record."""
    return "\n".join(lines)


def _norm(dn: str) -> str:
    return ",".join(part.strip().lower() for part in dn.split(","))


class Slapd:
    """One slapd process with its own config and database under `workdir`.

    `start()` may be called again after `stop()`: the config and data written
    the first time are kept, so a test can stop the server, check how clients
    cope, and start it again on the same port with the same data.
    """

    def __init__(
        self,
        workdir: Path,
        base_dn: str = "dc=example,dc=com",
        admin_password: str | None = None,
        organizational_units: Sequence[str] = (),
        *,
        port: int | None = None,
        memberof: bool = False,
        index_hash64: bool = True,
        syncprov: bool = True,
        anonymous_lookup: bool = False,
    ) -> None:
        self.workdir = Path(workdir)
        self.base_dn = base_dn
        self._admin_password = admin_password if admin_password is not None else secrets.token_urlsafe(18)
        self.organizational_units = list(organizational_units)
        self.memberof = memberof
        self.index_hash64 = index_hash64
        self.syncprov = syncprov
        self.anonymous_lookup = anonymous_lookup
        self.port = port
        self._process: subprocess.Popen[bytes] | None = None
        self._log_handle: IO[bytes] | None = None
        for dn in self.organizational_units:
            if not (_norm(dn).endswith("," + _norm(base_dn))):
                raise ValueError(f"organizational unit {dn!r} is not under {base_dn!r}")

    # -- properties ---------------------------------------------------------

    @property
    def url(self) -> str:
        if self.port is None:
            raise SlapdError("slapd has no port yet: call start() first")
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def admin_dn(self) -> str:
        return f"cn=admin,{self.base_dn}"

    @property
    def admin_password(self) -> str:
        return self._admin_password

    @property
    def policy_dn(self) -> str:
        return f"cn=default,ou=policies,{self.base_dn}"

    @property
    def config_dir(self) -> Path:
        return self.workdir / "slapd.d"

    @property
    def db_dir(self) -> Path:
        return self.workdir / "db"

    @property
    def log_path(self) -> Path:
        return self.workdir / "slapd.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> Slapd:
        """Create config and base tree on first use, then run slapd until it answers."""
        if self.running:
            return self
        if not (self.config_dir / "cn=config.ldif").exists():
            self._initialise()
        # A port picked by free_port() can be taken by someone else before
        # slapd binds it; pick another one a couple of times in that case.
        fixed_port = self.port is not None
        for attempt in range(3):
            if not fixed_port:
                self.port = free_port()
            try:
                self._launch()
                return self
            except SlapdError as exc:
                if fixed_port or attempt == 2 or "Address already in use" not in str(exc):
                    raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """SIGTERM, wait, SIGKILL if it hangs.  Safe to call twice."""
        process, self._process = self._process, None
        stop_process(process, STOP_TIMEOUT)
        self._close_log()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def __del__(self) -> None:  # last resort: never leave a slapd behind a lost object
        process = getattr(self, "_process", None)
        if process is not None and process.poll() is None:
            process.kill()

    # -- data ---------------------------------------------------------------

    def load_ldif(self, text: str) -> None:
        """Add the entries of an LDIF text (add records only).

        While stopped this uses `slapadd -q`, which is fast enough for 100k
        entries but bypasses overlays (no ppolicy hashing, no refint).  While
        running it uses `ldapadd` bound as the admin, so overlays apply; the
        password goes through a 0600 file, never the command line.
        """
        if not (self.config_dir / "cn=config.ldif").exists():
            self._initialise()
        ldif_path = self.workdir / f"load-{secrets.token_hex(4)}.ldif"
        ldif_path.write_text(text, encoding="utf-8")
        try:
            if self.running:
                secret = self.workdir / ".admin-password"
                fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(self._admin_password)  # ldapadd -y reads the whole file, no newline
                try:
                    command = [LDAPADD, "-x", "-H", self.url, "-D", self.admin_dn, "-y", str(secret), "-f", str(ldif_path)]
                    self._run(command, "ldapadd")
                finally:
                    secret.unlink(missing_ok=True)
            else:
                self._run([SLAPADD, "-q", "-F", str(self.config_dir), "-b", self.base_dn, "-l", str(ldif_path)], "slapadd")
        finally:
            ldif_path.unlink(missing_ok=True)

    # -- internals ----------------------------------------------------------

    def _initialise(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for path in (self.config_dir, self.db_dir):
            if path.exists():
                shutil.rmtree(path)
            path.mkdir(mode=0o700)
        config = self.workdir / "config.ldif"
        base = self.workdir / "base.ldif"
        try:
            config.write_text(self._config_ldif(), encoding="utf-8")
            self._run([SLAPADD, "-n0", "-F", str(self.config_dir), "-l", str(config)], "slapadd (config)")
            base.write_text(self._base_ldif(), encoding="utf-8")
            self._run([SLAPADD, "-q", "-F", str(self.config_dir), "-b", self.base_dn, "-l", str(base)], "slapadd (base tree)")
        except BaseException:
            # Half a setup would be taken for a complete one by the next start().
            shutil.rmtree(self.config_dir, ignore_errors=True)
            shutil.rmtree(self.db_dir, ignore_errors=True)
            raise

    def _launch(self) -> None:
        assert self.port is not None
        self._close_log()
        if not _port_free(self.port):
            # Otherwise the readiness probe below could talk to whoever holds the port.
            raise SlapdError(f"cannot listen on {self.url}: Address already in use")
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self._log_handle = log
        # `-d none`: stay in the foreground and print only real errors (a bad
        # config, a port in use) to the log; `-d 0` would print nothing at all.
        command = [SLAPD, "-F", str(self.config_dir), "-h", self.url, "-d", "none"]
        self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.workdir)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                self._close_log()
                raise SlapdError(f"slapd exited with status {code} while starting:\n{self._log_tail()}")
            if self._answers():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise SlapdError(f"slapd did not answer on {self.url} within {START_TIMEOUT:.0f}s:\n{self._log_tail()}")
            time.sleep(0.01)

    def _answers(self) -> bool:
        """True once an anonymous LDAPv3 bind gets a success response."""
        assert self.port is not None
        # BindRequest(version 3, name "", simple "") as a raw LDAPMessage, message id 1.
        request = bytes.fromhex("300c020101600702010304008000")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(request)
                response = sock.recv(64)
        except OSError:
            return False
        # BindResponse (0x61) whose resultCode is ENUMERATED 0.
        return b"\x61" in response and b"\x0a\x01\x00" in response

    def _close_log(self) -> None:
        handle, self._log_handle = self._log_handle, None
        if handle is not None:
            handle.close()

    def _log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log_path, lines)

    def _run(self, command: list[str], what: str) -> None:
        result = subprocess.run(command, capture_output=True, stdin=subprocess.DEVNULL, timeout=120, check=False)
        if result.returncode != 0:
            output = (result.stdout + result.stderr).decode("utf-8", errors="replace").strip()
            tail = "\n".join(output.splitlines()[-30:])
            raise SlapdError(f"{what} failed with status {result.returncode}:\n{tail}")

    def _config_ldif(self) -> str:
        modules = ["back_mdb", "ppolicy", "lastbind", "refint"] + (["memberof"] if self.memberof else [])
        modules += ["syncprov"] if self.syncprov else []
        schemas = ["core", "cosine", "inetorgperson", "nis"]
        base = self.base_dn
        indexes = [
            "objectClass eq",
            "uid eq",
            "employeeNumber eq",
            "mail eq",
            "cn eq",
            "member eq",
            "manager eq",
            "businessCategory eq",
        ] + (["entryCSN eq"] if self.syncprov else [])  # syncprov finds the newest entryCSN at startup by it
        access = [
            # Users authenticate with their password and may change it (pwdReset forces them to).
            "to attrs=userPassword by self write by anonymous auth by * none",
            "to * by self read by users read by * none",
        ]
        if self.anonymous_lookup:
            # As many sites do: anyone may find an entry by uid or mail (the console needs no lookup account then;
            # it reads employeeNumber before it confirms an adoption).
            access.insert(1, "to attrs=entry,objectClass,uid,mail,employeeNumber by anonymous read by * break")
        blocks = [
            "\n".join(
                [
                    "dn: cn=config",
                    "objectClass: olcGlobal",
                    "cn: config",
                    f"olcPidFile: {self.workdir / 'slapd.pid'}",
                    f"olcArgsFile: {self.workdir / 'slapd.args'}",
                    "olcLogLevel: none",
                ]
                # 64-bit index hashes: back-mdb then drops only the removed values' index keys
                # when a member leaves a group; with 32-bit hashes it re-indexes every remaining
                # member (collisions), which makes each removal from a 10,000-member group slow.
                + (["olcIndexHash64: TRUE"] if self.index_hash64 else [])
            ),
            "\n".join(
                ["dn: cn=module{0},cn=config", "objectClass: olcModuleList", "cn: module{0}", f"olcModulePath: {MODULE_DIR}"]
                + [f"olcModuleLoad: {m}" for m in modules]
            ),
            _entry("dn: cn=schema,cn=config", "objectClass: olcSchemaConfig", "cn: schema"),
            *[f"include: file://{SCHEMA_DIR / (name + '.ldif')}" for name in schemas],
            _entry(
                "dn: olcDatabase={-1}frontend,cn=config",
                "objectClass: olcDatabaseConfig",
                "objectClass: olcFrontendConfig",
                "olcDatabase: {-1}frontend",
                "olcPasswordHash: {SSHA}",
                # Big groups: values of `member` kept sorted, so a lookup is a binary search, not a scan.
                "olcSortVals: member",
            ),
            _entry(
                "dn: olcDatabase={0}config,cn=config",
                "objectClass: olcDatabaseConfig",
                "olcDatabase: {0}config",
                "olcAccess: {0}to * by * none",
            ),
            "\n".join(
                [
                    "dn: olcDatabase={1}mdb,cn=config",
                    "objectClass: olcDatabaseConfig",
                    "objectClass: olcMdbConfig",
                    "olcDatabase: {1}mdb",
                    _ldif_value("olcSuffix", base),
                    _ldif_value("olcRootDN", self.admin_dn),
                    f"olcRootPW: {ssha(self._admin_password)}",
                    f"olcDbDirectory: {self.db_dir}",
                    f"olcDbMaxSize: {1 << 30}",
                    # Database-level lastbind writes pwdLastSuccess; 2.5 has no
                    # precision knob here (the overlay below has one).
                    "olcLastBind: TRUE",
                ]
                + [f"olcDbIndex: {index}" for index in indexes]
                + [f"olcAccess: {{{n}}}{rule}" for n, rule in enumerate(access)]
            ),
            _entry(
                "dn: olcOverlay={0}ppolicy,olcDatabase={1}mdb,cn=config",
                "objectClass: olcOverlayConfig",
                "objectClass: olcPPolicyConfig",
                "olcOverlay: {0}ppolicy",
                _ldif_value("olcPPolicyDefault", self.policy_dn),
                "olcPPolicyUseLockout: TRUE",
                "olcPPolicyHashCleartext: TRUE",
            ),
            _entry(
                "dn: olcOverlay={1}lastbind,olcDatabase={1}mdb,cn=config",
                "objectClass: olcOverlayConfig",
                "objectClass: olcLastBindConfig",
                "olcOverlay: {1}lastbind",
                "olcLastBindPrecision: 0",
            ),
            _entry(
                "dn: olcOverlay={2}refint,olcDatabase={1}mdb,cn=config",
                "objectClass: olcOverlayConfig",
                "objectClass: olcRefintConfig",
                "olcOverlay: {2}refint",
                "olcRefintAttribute: member",
                "olcRefintAttribute: manager",
            ),
        ]
        if self.memberof:
            blocks.append(
                _entry(
                    "dn: olcOverlay={3}memberof,olcDatabase={1}mdb,cn=config",
                    "objectClass: olcOverlayConfig",
                    "objectClass: olcMemberOf",
                    "olcOverlay: {3}memberof",
                    "olcMemberOfRefInt: TRUE",
                )
            )
        if self.syncprov:
            # Keeps the suffix's contextCSN (the database's newest change), answered from memory on every read.
            position = sum(1 for block in blocks if block.startswith("dn: olcOverlay="))
            blocks.append(
                _entry(
                    f"dn: olcOverlay={{{position}}}syncprov,olcDatabase={{1}}mdb,cn=config",
                    "objectClass: olcOverlayConfig",
                    "objectClass: olcSyncProvConfig",
                    f"olcOverlay: {{{position}}}syncprov",
                )
            )
        return "\n\n".join(blocks) + "\n"

    def _base_ldif(self) -> str:
        attribute, value = _first_rdn(self.base_dn)
        classes = {
            "dc": ["top", "dcObject", "organization"],
            "o": ["top", "organization"],
            "ou": ["top", "organizationalUnit"],
        }
        if attribute.lower() not in classes:
            raise ValueError(f"base DN {self.base_dn!r} must start with dc=, o= or ou=")
        base = [_ldif_value("dn", self.base_dn)] + [f"objectClass: {c}" for c in classes[attribute.lower()]]
        base.append(_ldif_value(attribute, value))
        if attribute.lower() == "dc":
            base.append(_ldif_value("o", value))
        entries = ["\n".join(base)]
        entries.append(self._ou_entry(f"ou=policies,{self.base_dn}", "policies"))
        entries.append(
            _entry(
                f"dn: {self.policy_dn}",
                "objectClass: top",
                "objectClass: organizationalRole",
                "objectClass: pwdPolicy",
                "cn: default",
                "pwdAttribute: userPassword",
                "pwdLockout: TRUE",
                "pwdMustChange: TRUE",
                "pwdAllowUserChange: TRUE",
            )
        )
        for dn in self._containers():
            attribute, value = _first_rdn(dn)
            if attribute.lower() != "ou":
                raise ValueError(f"organizational unit {dn!r} must start with ou=")
            entries.append(self._ou_entry(dn, value))
        return "\n\n".join(entries) + "\n"

    @staticmethod
    def _ou_entry(dn: str, ou: str) -> str:
        return "\n".join([_ldif_value("dn", dn), "objectClass: top", "objectClass: organizationalUnit", _ldif_value("ou", ou)])

    def _containers(self) -> list[str]:
        """The requested OUs plus any missing intermediate ones, parents first."""
        base_depth = len(self.base_dn.split(","))
        wanted: dict[str, str] = {}
        for dn in self.organizational_units:
            parts = [p.strip() for p in dn.split(",")]
            for depth in range(len(parts) - base_depth, 0, -1):
                candidate = ",".join(parts[-(base_depth + depth) :])
                if _norm(candidate) != _norm(f"ou=policies,{self.base_dn}"):
                    wanted.setdefault(_norm(candidate), candidate)
        return sorted(wanted.values(), key=lambda dn: len(dn.split(",")))
