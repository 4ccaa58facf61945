"""Exporting a mailbox before it is deleted, verified by Dovecot itself: doveadm `backup` (dsync) into a maildir.

What Dovecot does, as measured against 2.3.19 (devservers/dovecot.py):

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
- A dsync `backup` into an archive that lost files does not repair it: it
  tries to delete and recreate INBOX ("INBOX can't be deleted"), exit code
  65, every time, even with `fullSync`.  backup() then starts a fresh archive
  beside it.  (`fs delete` could remove the damaged one, but as root, and it
  follows a symlinked path: never used here.)
"""

from __future__ import annotations

import pwd
import re
from pathlib import Path

import structlog

from connectors.mail_dovecot.doveadm import CONNECTOR, EX_NOTFOUND, Doveadm, DoveadmError
from lifecycle.domain.errors import RecordError

log = structlog.get_logger(__name__)

# Archives of one mailbox at most: the first, then a fresh one each time dsync cannot bring the newest
# up to date (it never repairs an archive that lost files), so a lasting fault stops with an error
# instead of writing a new folder every cycle.
ARCHIVES_PER_MAILBOX = 3
# `fs` commands on the Dovecot server's own file system: the archive, read by the doveadm service.
POSIX_FS = {"fsDriver": "posix", "fsArgs": ""}
_GUID = re.compile(r"[0-9a-f]{32}")


class ArchiveNotVerified(RecordError):
    """The archive does not hold the mailbox's messages (or could not be written): the mailbox must not be deleted."""

    def __init__(self, message: str, *, archives: list[Path]) -> None:
        super().__init__(message, connector=CONNECTOR)
        self.archives = archives


class Archiver:
    """Mailbox exports into `archive_dir` on the Dovecot server, counted by Dovecot."""

    def __init__(self, doveadm: Doveadm, archive_dir: Path, *, backup_timeout: float) -> None:
        self.doveadm = doveadm
        self.archive_dir = archive_dir
        self.backup_timeout = backup_timeout

    def message_count(self, address: str) -> int:
        """Messages over all folders of the mailbox (`mailbox status -t messages *`)."""
        rows = self.doveadm.run(
            "mailboxStatus",
            {"user": address, "field": ["messages"], "mailboxMask": ["*"], "totalSum": True},
            what=f"count the messages of {address}",
        )
        try:
            return sum(int(row["messages"]) for row in rows)
        except (KeyError, TypeError, ValueError) as exc:
            raise RecordError(f"count the messages of {address}: unexpected answer {rows!r:.200}", connector=CONNECTOR) from exc

    def exists(self, path: Path, *, what: str) -> bool:
        """Whether `path` exists on the Dovecot server."""
        try:
            self.doveadm.run("fsStat", {**POSIX_FS, "path": str(path)}, what=what)
        except DoveadmError as exc:
            if exc.exit_code == EX_NOTFOUND:
                return False
            raise
        return True

    def backup(self, address: str) -> Path:
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
        local, _, domain = address.partition("@")
        guid = self._inbox_guid(address)
        folder = self.archive_dir / domain
        targets = [folder / f"{local}-{guid}", *(folder / f"{local}-{guid}-{n}" for n in range(2, ARCHIVES_PER_MAILBOX + 1))]
        existing = [n for n, target in enumerate(targets) if self.exists(target, what=f"look for the archive {target}")]
        newest = existing[-1] if existing else 0
        kept = [targets[n] for n in existing]
        try:
            return self._export_verified(address, targets[newest])
        except ArchiveNotVerified as exc:
            if not existing or newest + 1 == len(targets):
                raise _not_verified(address, exc, kept or [targets[0]], room=newest + 1 < len(targets)) from exc
            log.warning("mail.archive_not_updatable", address=address, archive=str(targets[newest]), reason=str(exc))
        fresh = targets[newest + 1]
        try:
            return self._export_verified(address, fresh)
        except ArchiveNotVerified as exc:
            raise _not_verified(address, exc, [*kept, fresh], room=newest + 2 < len(targets)) from exc

    def _export_verified(self, address: str, target: Path) -> Path:
        """dsync the mailbox into `target` and count both; once more when mail arrived meanwhile."""
        what = f"back up {address} to {target}"
        archived = live = 0
        for _round in range(2):
            before = self.message_count(address)
            try:
                self.doveadm.run(
                    "backup", {"user": address, "destination": [f"maildir:{target}"]}, what=what, timeout=self.backup_timeout
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

    def _inbox_guid(self, address: str) -> str:
        """INBOX's GUID: the same for the mailbox's whole life, new when a mailbox is made anew at the address."""
        # No totalSum: a boolean parameter is on when present, and doveadm refuses `-t` with `guid`.
        rows = self.doveadm.run(
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
        if not self.exists(target, what=what):
            return 0  # never written (or not where the daemon looks): whatever the mailbox holds is missing
        folders = self._fs_list("fsIterDirs", target, what=what)
        total = 0
        for name in ["", *(name for name in folders if name.startswith("."))]:
            for sub in ("cur", "new"):
                files = self._fs_list("fsIter", target / name / sub, what=what)
                total += sum(1 for file in files if not file.startswith("."))
        return total

    def _fs_list(self, command: str, directory: Path, *, what: str) -> list[str]:
        rows = self.doveadm.run(command, {**POSIX_FS, "path": str(directory)}, what=what)
        return [str(row.get("path", "")) for row in rows]


def _not_verified(address: str, cause: ArchiveNotVerified, archives: list[Path], *, room: bool) -> ArchiveNotVerified:
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


def count_maildir(path: Path) -> int:
    """Messages in a maildir (Maildir++) this host can read: the files in cur/ and new/ of the root and of every .<folder>."""
    total = 0
    folders = [path, *(child for child in path.iterdir() if child.name.startswith(".") and child.is_dir())]
    for folder in folders:
        for sub in ("cur", "new"):
            directory = folder / sub
            if directory.is_dir():
                total += sum(1 for entry in directory.iterdir() if entry.is_file() and not entry.name.startswith("."))
    return total
