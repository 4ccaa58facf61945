"""The Dovecot companion: what a mail backend without Dovecot access cannot do, over doveadm's HTTP API.

`[mail.dovecot]` (optional) next to a backend such as Modoboa, whose admin
API cannot end IMAP sessions, export a mailbox or set an auto-reply:

- `kick(user)`: end the user's open IMAP/POP3 sessions (after a suspension,
  which only stops new logins);
- `backup(user)`: export the whole mailbox (every folder) as a maildir to
  `archive_dir/<domain>/<local>-<INBOX GUID>` with doveadm `backup` (dsync),
  then verify it: the archive must hold as many messages as the live
  mailbox, or ArchiveNotVerified (a RecordError) and the mailbox must not be
  deleted.  One folder per mailbox: a retry brings the same archive up to
  date instead of writing another one (see backup());
- `put_autoreply(user, subject, text)` / `remove_autoreply(user)`: a sieve
  vacation script (`lifecycle-autoreply`), put and activated with doveadm
  `sieve put` (ManageSieve would need the user's own login); the script that
  was active before is remembered in the script and re-activated on removal;
- `message_count(user)`: messages over all folders (`mailbox status -t
  messages *`), `check()`: reachable, key accepted, every command there with
  the parameter types this module sends.

What the API is, as measured against Dovecot 2.3.19 (Debian 12) in
devservers/dovecot.py:

- `POST <api_url>` (`http://host:port/doveadm/v1`) with a JSON body
  `[["<command>", {<parameters>}, "<tag>"]]`; the answer is
  `[["doveadmResponse", [<rows>], "<tag>"]]` or
  `[["error", {"type": "exitCode", "exitCode": N}, "<tag>"]]`
  (`{"type": "unknownMethod"}` for a command the server does not have).
  Exit codes (sysexits): 67 no such user, 68 not found (no session to kick,
  no such script), 75 temporary failure (also: the archive directory is not
  writable by the mail user, or for `fs` commands a directory the doveadm
  service may not read), 65 a dsync that cannot update its destination, 2 the
  mailbox changed during a dsync.
- Auth `Authorization: X-Dovecot-API <base64 of doveadm_api_key>`; a wrong
  key is HTTP 401.  `GET <api_url>` lists every command with its parameters
  and their types.
- One command per request, `Connection: close`: the doveadm service forks a
  process per connection (`service_count = 1`), and a parameter of the wrong
  type has been seen to crash it; check() compares the types.
- Mail commands run as the mail user of the account: `archive_dir` must be
  writable by it on the Dovecot server.  dsync makes a new archive 0700 with
  0600 files whatever `archive_dir`'s mode (it takes modes from an existing
  mail root only, and on the same file system it hard-links the live
  mailbox's 0600 files), so the daemon could not count it from here without
  a group or ACL grant on the mail server.  It does not need to: Dovecot
  counts it.  `fs iter` / `fs iter-dirs` / `fs stat` (driver `posix`) are not
  mail commands; the doveadm service runs them as its own user (root in the
  stock configuration), and they list the archive's `cur` and `new`
  directories (of the maildir and of each `.<folder>`): one file per
  message.  The archive stays readable by the mail user and root only, and
  archive_dir need not exist on the daemon's host at all.
- `fs iter` of a directory that does not exist answers an empty list, so the
  archive's existence is asked with `fs stat` (exit code 68 when absent).
- A boolean parameter counts when it is present, even `false`: mailboxStatus
  with `"totalSum": false` is `-t`, which doveadm refuses for the `guid` field
  by ending the connection.  Leave a parameter out to leave it unset.
- A dsync `backup` into an archive that lost files does not repair it: it
  tries to delete and recreate INBOX ("INBOX can't be deleted"), exit code
  65, every time, even with `fullSync`.  backup() then starts a fresh archive
  beside it.  (`fs delete` could remove the damaged one, but as root, and it
  follows a symlinked path: never used here.)

Errors: connection problems, timeouts, HTTP 5xx and exit code 75/2 ->
TransientError; HTTP 401/403, a missing command or a usage error ->
ConnectorConfigError; anything else (no such user, a verification that
failed, an archive not verified) -> RecordError.  The API key is never
logged nor put in a message.
"""

from __future__ import annotations

import base64
import json
import pwd
import re
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

import httpx
import structlog

from lifecycle.domain.errors import ConnectorConfigError, RecordError, TransientError
from lifecycle.domain.mail import MailCapability
from lifecycle.domain.settings import DovecotSettings

log = structlog.get_logger(__name__)

CONNECTOR = "mail.dovecot"
API_PATH = "/doveadm/v1"
AUTOREPLY_SCRIPT = "lifecycle-autoreply"
MAX_MESSAGE = 500
_PREVIOUS = re.compile(r'^# lifecycle: previously active: "((?:[^"\\]|\\.)*)"$', re.MULTILINE)
_GUID = re.compile(r"[0-9a-f]{32}")
# Archives of one mailbox at most: the first, then a fresh one each time dsync cannot bring the newest
# up to date (it never repairs an archive that lost files), so a lasting fault stops with an error
# instead of writing a new folder every cycle.
ARCHIVES_PER_MAILBOX = 3
# `fs` commands on the Dovecot server's own file system: the archive, read by the doveadm service.
POSIX_FS = {"fsDriver": "posix", "fsArgs": ""}

# The parameters this module sends, with the types the server must declare for them.
COMMANDS: dict[str, dict[str, str]] = {
    "kick": {"mask": "array"},
    "mailboxStatus": {"user": "string", "field": "array", "mailboxMask": "array", "totalSum": "boolean"},
    "backup": {"user": "string", "destination": "array"},
    "fsStat": {"fsDriver": "string", "fsArgs": "string", "path": "string"},
    "fsIter": {"fsDriver": "string", "fsArgs": "string", "path": "string"},
    "fsIterDirs": {"fsDriver": "string", "fsArgs": "string", "path": "string"},
    "sieveList": {"user": "string"},
    "sieveGet": {"user": "string", "scriptname": "string"},
    "sievePut": {"user": "string", "scriptname": "string", "activate": "boolean", "file": "string"},
    "sieveActivate": {"user": "string", "scriptname": "string"},
    "sieveDeactivate": {"user": "string"},
    "sieveDelete": {"user": "string", "scriptname": "array"},
}

EX_CHANGED = 2  # dsync: success, but the mailbox changed during the sync
EX_USAGE = 64
EX_NOUSER = 67
EX_NOTFOUND = 68
EX_TEMPFAIL = 75
EX_NOPERM = 77


class DoveadmError(RecordError):
    """doveadm answered with an exit code for one command."""

    def __init__(self, message: str, *, exit_code: int | None) -> None:
        super().__init__(message, connector=CONNECTOR)
        self.exit_code = exit_code


class ArchiveNotVerified(RecordError):
    """The archive does not hold the mailbox's messages (or could not be written): the mailbox must not be deleted."""

    def __init__(self, message: str, *, archives: list[Path]) -> None:
        super().__init__(message, connector=CONNECTOR)
        self.archives = archives


def _address(value: str) -> str:
    """A single user: no doveadm mask characters (kick never matches anyone else), nothing a mail location reads.

    `*`/`?` are kick wildcards; `:` separates mail location parameters and `%`
    starts a variable in one (the archive path is `maildir:<dir>/<domain>/<local>-...`);
    no part starts with a dot, so `<domain>` is never `..` nor hidden.
    """
    address = value.strip().lower()
    local, sep, domain = address.partition("@")
    if (
        not sep
        or not local
        or not domain
        or "@" in domain
        or local.startswith(".")
        or domain.startswith(".")
        or any(c in address for c in "*?,/:% \t\r\n\"'\\")
    ):
        raise RecordError(f"{value!r} is not a single e-mail address", connector=CONNECTOR)
    return address


def _sieve_string(value: str) -> str:
    """A sieve quoted string (RFC 5228 2.4.2): backslash and double quote escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _sieve_unquote(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def autoreply_script(subject: str, text: str, *, days: int = 1, previous: str | None = None) -> str:
    """The vacation script put by put_autoreply()."""
    subject = " ".join(subject.split())  # one header line
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = ["# lifecycle: auto-reply for a departed person (replaced and removed by lifecycle)"]
    if previous:
        lines.append(f"# lifecycle: previously active: {_sieve_string(previous)}")
    lines += ['require ["vacation"];', f"vacation :days {int(days)} :subject {_sieve_string(subject)} {_sieve_string(text)};", ""]
    return "\n".join(lines)


def count_maildir(path: Path) -> int:
    """Messages in a maildir (Maildir++): the files in cur/ and new/ of the root and of every .<folder>."""
    total = 0
    folders = [path, *(child for child in path.iterdir() if child.name.startswith(".") and child.is_dir())]
    for folder in folders:
        for sub in ("cur", "new"):
            directory = folder / sub
            if directory.is_dir():
                total += sum(1 for entry in directory.iterdir() if entry.is_file() and not entry.name.startswith("."))
    return total


class DovecotCompanion:
    """Kick, export and auto-reply for the mailboxes of a Dovecot server, over doveadm's HTTP API."""

    CAPABILITIES: ClassVar[frozenset[MailCapability]] = frozenset(
        {MailCapability.AUTO_REPLY, MailCapability.EXPORT, MailCapability.KICK_SESSIONS}
    )
    """What a mail backend can do once this companion is configured next to it."""

    def __init__(self, settings: DovecotSettings, *, transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        assert settings.api_key is not None  # the settings validator guarantees it
        self._key = settings.api_key.get_secret_value()
        self._tags = 0
        self._key_accepted = False
        token = base64.b64encode(self._key.encode("utf-8")).decode("ascii")
        self._client = httpx.Client(
            headers={"Authorization": f"X-Dovecot-API {token}", "Accept": "application/json", "Connection": "close"},
            timeout=settings.timeout_seconds,
            verify=settings.verify_tls,
            transport=transport,
            follow_redirects=False,
            limits=httpx.Limits(max_keepalive_connections=0),
        )
        self._token = token

    # -- context ------------------------------------------------------------

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # -- the operations -----------------------------------------------------

    def check(self) -> list[str]:
        """Problems that make the companion unusable; empty when healthy."""
        try:
            response = self._http("GET", what="list the doveadm commands", timeout=self.settings.timeout_seconds)
            listing = response.json()
        except (TransientError, ConnectorConfigError, RecordError) as exc:
            return [str(exc)]
        except ValueError:
            return [f"doveadm API {self.settings.api_url}: the command list is not JSON"]
        problems: list[str] = []
        declared: dict[str, dict[str, str]] = {}
        for command in listing if isinstance(listing, list) else ():
            if isinstance(command, dict) and "command" in command:
                declared[str(command["command"])] = {
                    str(p.get("name")): str(p.get("type")) for p in command.get("parameters") or () if isinstance(p, dict)
                }
        for name, params in COMMANDS.items():
            if name not in declared:
                hint = " (the sieve commands need Pigeonhole: dovecot-sieve)" if name.startswith("sieve") else ""
                problems.append(f"doveadm API {self.settings.api_url}: no command {name}{hint}")
                continue
            for param, kind in params.items():
                if declared[name].get(param) != kind:
                    problems.append(
                        f"doveadm API: {name} parameter {param} is {declared[name].get(param)!r}, this module sends {kind}"
                    )
        if not problems:
            problems += self._archive_dir_problems()
        return problems

    def _archive_dir_problems(self) -> list[str]:
        archive = self.settings.archive_dir
        try:
            if self._exists(archive, what=f"look for archive_dir {archive}"):
                return []
        except (TransientError, ConnectorConfigError, RecordError) as exc:
            return [str(exc)]
        return [
            f"archive_dir {archive} does not exist on the Dovecot server: create it there, owned by the mail user "
            "(mode 0700; on the daemon's host systemd/lifecycle.tmpfiles makes /var/lib/lifecycle/archive)"
        ]

    def kick(self, user: str) -> bool:
        """End the open sessions of `user`; True if there were any."""
        address = _address(user)
        try:
            rows = self._command("kick", {"mask": [address]}, what=f"kick {address}")
        except DoveadmError as exc:
            if exc.exit_code == EX_NOTFOUND:
                return False
            raise
        kicked = any(address in str(row.get("result", "")).lower().split() for row in rows)
        log.info("mail.sessions_kicked", address=address, kicked=kicked)
        return kicked

    def message_count(self, user: str) -> int:
        """Messages over all folders of the mailbox."""
        address = _address(user)
        rows = self._command(
            "mailboxStatus",
            {"user": address, "field": ["messages"], "mailboxMask": ["*"], "totalSum": True},
            what=f"count the messages of {address}",
        )
        try:
            return sum(int(row["messages"]) for row in rows)
        except (KeyError, TypeError, ValueError) as exc:
            raise RecordError(f"count the messages of {address}: unexpected answer {rows!r:.200}", connector=CONNECTOR) from exc

    def backup(self, user: str) -> Path:
        """Export the mailbox to archive_dir/<domain>/<local>-<INBOX GUID> and verify it; the archive's path.

        The folder is named after the mailbox, not the time: a retry (an
        earlier try cut short or not verified, mail that arrived since, a
        deletion that failed after it) brings the same archive up to date with
        dsync instead of writing another.  A mailbox made anew at the address
        (a rehire after deletion) has another GUID, so an earlier archive is
        never overwritten.  When dsync cannot bring the newest archive up to
        date (it lost files: dsync fails or it stays short), a fresh one is
        written beside it, `-2`, `-3`, up to ARCHIVES_PER_MAILBOX; the
        unverified ones are left for inspection and named in the error.

        Raises ArchiveNotVerified (a RecordError) unless the archive holds as
        many messages as the mailbox: the mailbox must then not be deleted.
        """
        address = _address(user)
        local, _, domain = address.partition("@")
        guid = self._inbox_guid(address)
        folder = self.settings.archive_dir / domain
        targets = [folder / f"{local}-{guid}", *(folder / f"{local}-{guid}-{n}" for n in range(2, ARCHIVES_PER_MAILBOX + 1))]
        existing = [n for n, target in enumerate(targets) if self._exists(target, what=f"look for the archive {target}")]
        newest = existing[-1] if existing else 0
        kept = [targets[n] for n in existing]
        try:
            return self._export_verified(address, targets[newest])
        except ArchiveNotVerified as exc:
            if not existing or newest + 1 == len(targets):
                raise self._not_verified(address, exc, kept or [targets[0]], room=newest + 1 < len(targets)) from exc
            log.warning("mail.archive_not_updatable", address=address, archive=str(targets[newest]), reason=str(exc))
        fresh = targets[newest + 1]
        try:
            return self._export_verified(address, fresh)
        except ArchiveNotVerified as exc:
            raise self._not_verified(address, exc, [*kept, fresh], room=newest + 2 < len(targets)) from exc

    def _export_verified(self, address: str, target: Path) -> Path:
        """dsync the mailbox into `target` and count both; once more when mail arrived meanwhile."""
        what = f"back up {address} to {target}"
        archived = live = 0
        for _round in range(2):
            before = self.message_count(address)
            try:
                self._command(
                    "backup",
                    {"user": address, "destination": [f"maildir:{target}"]},
                    what=what,
                    timeout=self.settings.backup_timeout_seconds,
                )
            except DoveadmError as exc:
                raise ArchiveNotVerified(
                    f"doveadm backup into {target} failed (exit code {exc.exit_code})", archives=[target]
                ) from exc
            archived = self._archived_messages(target, what=what)
            live = self.message_count(address)
            if archived == live:
                log.info("mail.mailbox_exported", address=address, archive=str(target), messages=live)
                return target
            if before == live:
                break  # nothing arrived meanwhile: exporting again would not help
        raise ArchiveNotVerified(f"{target} holds {archived} messages, the mailbox {live}", archives=[target])

    def _not_verified(
        self, address: str, cause: ArchiveNotVerified, archives: list[Path], *, room: bool
    ) -> ArchiveNotVerified:
        """The error for the daemon's log: the folders, their owner and mode when visible here, and what to do."""
        unverified = ", ".join(f"{path} ({_file_mode(path)})" for path in archives)
        if room:
            fix = (
                f"the next try brings {archives[-1]} up to date, or writes a fresh archive beside it "
                f"(at most {ARCHIVES_PER_MAILBOX})"
            )
        else:
            fix = (
                f"{len(archives)} archives of this mailbox failed and no more are written: see Dovecot's log for "
                f"{address}, then remove them on the Dovecot server (as root) and the next try archives it anew"
            )
        return ArchiveNotVerified(
            f"back up {address}: archive not verified, the mailbox is kept (not deleted): {cause}; "
            f"unverified: {unverified}; fix: {fix}",
            archives=archives,
        )

    def _inbox_guid(self, address: str) -> str:
        """INBOX's GUID: the same for the mailbox's whole life, new when a mailbox is made anew at the address."""
        # No totalSum: a boolean parameter is on when present, and doveadm refuses `-t` with `guid`.
        rows = self._command(
            "mailboxStatus",
            {"user": address, "field": ["guid"], "mailboxMask": ["INBOX"]},
            what=f"read the INBOX GUID of {address}",
        )
        guid = str(rows[0].get("guid", "")) if len(rows) == 1 else ""
        if not _GUID.fullmatch(guid):
            raise RecordError(f"read the INBOX GUID of {address}: unexpected answer {rows!r:.200}", connector=CONNECTOR)
        return guid

    def _archived_messages(self, target: Path, *, what: str) -> int:
        """Messages in the archive, counted by Dovecot: the files of cur/ and new/ of the maildir and each .<folder>."""
        if not self._exists(target, what=what):
            return 0  # never written (or not where the daemon looks): whatever the mailbox holds is missing
        folders = self._fs_list("fsIterDirs", target, what=what)
        total = 0
        for name in ["", *(name for name in folders if name.startswith("."))]:
            for sub in ("cur", "new"):
                files = self._fs_list("fsIter", target / name / sub, what=what)
                total += sum(1 for file in files if not file.startswith("."))
        return total

    def _exists(self, path: Path, *, what: str) -> bool:
        try:
            self._command("fsStat", {**POSIX_FS, "path": str(path)}, what=what)
        except DoveadmError as exc:
            if exc.exit_code == EX_NOTFOUND:
                return False
            raise
        return True

    def _fs_list(self, command: str, directory: Path, *, what: str) -> list[str]:
        rows = self._command(command, {**POSIX_FS, "path": str(directory)}, what=what)
        return [str(row.get("path", "")) for row in rows]

    def put_autoreply(self, user: str, subject: str, text: str) -> None:
        """Reply `text` (at most once per sender per autoreply_days) to mail delivered to the mailbox."""
        address = _address(user)
        scripts = self._scripts(address)
        previous = next((name for name, active in scripts.items() if active and name != AUTOREPLY_SCRIPT), None)
        if previous is None and AUTOREPLY_SCRIPT in scripts:
            previous = self._previous_of(address)  # keep what an earlier put remembered
        script = autoreply_script(subject, text, days=self.settings.autoreply_days, previous=previous)
        self._command(
            "sievePut",
            {"user": address, "scriptname": AUTOREPLY_SCRIPT, "activate": True, "file": script},
            what=f"put the auto-reply of {address}",
        )
        log.info("mail.autoreply_set", address=address, replaced_active=previous)

    def remove_autoreply(self, user: str) -> None:
        """Remove the auto-reply (absent is fine) and re-activate the script that was active before it."""
        address = _address(user)
        scripts = self._scripts(address)
        if AUTOREPLY_SCRIPT not in scripts:
            return
        previous = self._previous_of(address)
        what = f"remove the auto-reply of {address}"
        if scripts[AUTOREPLY_SCRIPT]:
            if previous and previous in scripts:
                self._command("sieveActivate", {"user": address, "scriptname": previous}, what=what)
            else:
                self._command("sieveDeactivate", {"user": address}, what=what)
        try:
            self._command("sieveDelete", {"user": address, "scriptname": [AUTOREPLY_SCRIPT]}, what=what)
        except DoveadmError as exc:
            if exc.exit_code != EX_NOTFOUND:
                raise
        log.info("mail.autoreply_removed", address=address, reactivated=previous if previous in scripts else None)

    # -- helpers ------------------------------------------------------------

    def _scripts(self, address: str) -> dict[str, bool]:
        rows = self._command("sieveList", {"user": address}, what=f"list the sieve scripts of {address}")
        return {str(row.get("script")): str(row.get("active", "")).upper() == "ACTIVE" for row in rows if row.get("script")}

    def _previous_of(self, address: str) -> str | None:
        try:
            rows = self._command(
                "sieveGet", {"user": address, "scriptname": AUTOREPLY_SCRIPT}, what=f"read the auto-reply of {address}"
            )
        except DoveadmError as exc:
            if exc.exit_code == EX_NOTFOUND:
                return None
            raise
        text = "".join(str(value) for row in rows for value in row.values())
        match = _PREVIOUS.search(text.replace("\r\n", "\n"))
        return _sieve_unquote(match.group(1)) if match else None

    def _verify_key(self, what: str) -> None:
        """GET the command list once: Dovecot 2.3.19 answers 401 to a GET, but never answers a POST with a bad key.

        (Measured: the server logs "Invalid authentication attempt to HTTP API"
        and leaves a POST with a body waiting until the client gives up, so a
        wrong key would otherwise look like a timeout and be retried forever.)
        """
        self._http("GET", what=what, timeout=self.settings.timeout_seconds)
        self._key_accepted = True

    def _command(
        self, command: str, parameters: dict[str, Any], *, what: str, timeout: float | None = None
    ) -> list[dict[str, Any]]:
        """One doveadm command; its rows, or the error mapping."""
        if not self._key_accepted:
            self._verify_key(what)
        self._tags += 1
        tag = f"lifecycle-{self._tags}"
        try:
            response = self._http(
                "POST", what=what, body=[[command, parameters, tag]], timeout=timeout or self.settings.timeout_seconds
            )
        except TransientError:
            self._key_accepted = False  # a key changed on the server makes POSTs hang: the next command asks again
            raise
        try:
            body = response.json()
            kind, payload, answered = body[0]
        except (ValueError, TypeError, IndexError, KeyError) as exc:
            raise RecordError(
                f"{what}: unexpected answer from doveadm: {self._scrub(response.text)[:MAX_MESSAGE]}", connector=CONNECTOR
            ) from exc
        if answered != tag:
            raise RecordError(f"{what}: doveadm answered tag {answered!r}, not {tag!r}", connector=CONNECTOR)
        if kind == "doveadmResponse":
            return [row for row in payload or () if isinstance(row, dict)]
        if kind != "error" or not isinstance(payload, dict):
            raise RecordError(f"{what}: unexpected answer from doveadm: {json.dumps(body)[:MAX_MESSAGE]}", connector=CONNECTOR)
        if payload.get("type") == "unknownMethod":
            raise ConnectorConfigError(f"{what}: doveadm has no command {command} (plugin not loaded?)", connector=CONNECTOR)
        code = payload.get("exitCode")
        code = int(code) if isinstance(code, int | str) and str(code).isdigit() else None
        if code in (EX_TEMPFAIL, EX_CHANGED):
            hint = ""
            if command == "backup":
                hint = " (for a backup: is archive_dir writable by the mail user on the server?)"
            elif command.startswith("fs"):
                # Measured: a directory the doveadm service may not read is exit code 75 too.
                hint = (
                    " (can the doveadm service read the archive? `fs` commands run as `service doveadm`'s user, "
                    "root unless dovecot.conf sets one)"
                )
            raise TransientError(f"{what}: doveadm {command} exit code {code}: temporary failure{hint}", connector=CONNECTOR)
        if code in (EX_USAGE, EX_NOPERM):
            raise ConnectorConfigError(f"{what}: doveadm {command} refused it (exit code {code})", connector=CONNECTOR)
        reason = {EX_NOUSER: "no such user", EX_NOTFOUND: "not found"}.get(code or -1, "failed")
        raise DoveadmError(f"{what}: doveadm {command}: {reason} (exit code {code})", exit_code=code)

    def _http(self, method: str, *, what: str, body: Any = None, timeout: float) -> httpx.Response:
        where = f"doveadm API {self.settings.api_url}"
        # Re-raised `from None` below: the errors' text may hold the API key, which the message carries
        # scrubbed; a chained cause would print it unscrubbed.
        try:
            response = self._client.request(method, self.settings.api_url, json=body, timeout=timeout)
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise TransientError(
                self._scrub(f"{what}: {where} did not answer: {type(exc).__name__} {exc}"), connector=CONNECTOR
            ) from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise ConnectorConfigError(self._scrub(f"{what}: {where}: {exc}"), connector=CONNECTOR) from None
        except httpx.HTTPError as exc:
            raise TransientError(self._scrub(f"{what}: {where}: {type(exc).__name__} {exc}"), connector=CONNECTOR) from None
        status = response.status_code
        if status == 200:
            return response
        detail = self._scrub(response.text.strip())[:MAX_MESSAGE]
        message = f"{what}: {where}: HTTP {status} {detail}".rstrip()
        if status in (401, 403):
            raise ConnectorConfigError(
                f"{message}: check [mail.dovecot] api_key_file (the server's doveadm_api_key)", connector=CONNECTOR
            )
        if status >= 500 or status == 429:
            raise TransientError(message, connector=CONNECTOR)
        raise RecordError(message, connector=CONNECTOR)

    def _scrub(self, text: str) -> str:
        for secret in (self._key, self._token):
            if secret:
                text = text.replace(secret, "********")
        return text


def _file_mode(path: Path) -> str:
    """Owner and mode of `path` when this host sees it (the same host as Dovecot, or a mount), for messages.

    Under the unit's PrivateUsers= a file of any other user shows as `nobody`.
    """
    try:
        found = path.stat()
    except OSError as exc:
        return f"owner and mode not visible here: {exc.strerror}"
    try:
        owner = pwd.getpwuid(found.st_uid).pw_name
    except KeyError:
        owner = f"uid {found.st_uid}"
    return f"owner {owner}, mode {found.st_mode & 0o7777:04o}"


def companion_capabilities(backend: frozenset[MailCapability], companion: DovecotCompanion | None) -> frozenset[MailCapability]:
    """A backend's abilities with the companion's added (none without one)."""
    return backend | (companion.CAPABILITIES if companion is not None else frozenset())


__all__ = (
    "ARCHIVES_PER_MAILBOX",
    "AUTOREPLY_SCRIPT",
    "ArchiveNotVerified",
    "DoveadmError",
    "DovecotCompanion",
    "DovecotSettings",
    "autoreply_script",
    "companion_capabilities",
    "count_maildir",
)
