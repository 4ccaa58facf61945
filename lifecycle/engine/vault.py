"""Initial passwords: generated, and sealed for the person they are for before anything uses them.

Where they are sealed is [accounts] initial_password_delivery:

- "file": a root-only file per person, `initial_password_dir/<company>/<employee_id>.txt` (one folder per
  company, so a branch's HR can be given theirs); a file from before the folders, at the top, is still read;
- "personal_email": the same file, read by the outbox when it sends the personal notice and destroyed once
  the relay took it (`read_password`, `destroy`);
- "console": encrypted into the state store's `sealed_passwords` (lifecycle.journal.sealed), revealed once
  to the company's admin in the console.

A password never appears in the plan, the action log or any log line.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import string
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from sqlalchemy.engine import Engine

from lifecycle.domain.action_params import NewAccountParams, PasswordResetParams
from lifecycle.domain.models import Action
from lifecycle.domain.settings import AccountSettings
from lifecycle.journal.sealed import SealedFor, SealedPasswords, load_key

PASSWORD_ALPHABET = string.ascii_letters + string.digits + "-_.!"
# A file's modification time lags the clock by up to a kernel tick (coarse timestamps).
_MTIME_SLACK_SECONDS = 1.0


def _syncfs(fd: int) -> bool:
    """syncfs(2) on the file system holding `fd`: True when done, False where unavailable."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        call = libc.syncfs
    except (OSError, AttributeError):
        return False
    if call(fd) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"syncfs: {os.strerror(errno)}")
    return True


def new_password(length: int) -> str:
    """A random password of `length` characters with a digit, an upper-case and a lower-case letter."""
    alphabet, size = PASSWORD_ALPHABET, len(PASSWORD_ALPHABET)
    limit = 256 - 256 % size  # rejection sampling: every character equally likely
    while True:
        chars: list[str] = []
        while len(chars) < length:
            chars.extend(alphabet[b % size] for b in secrets.token_bytes(length * 2) if b < limit)
        password = "".join(chars[:length])
        if any(c.isdigit() for c in password) and any(c.isupper() for c in password) and any(c.islower() for c in password):
            return password


class Recipient(NamedTuple):
    """Whom a password is sealed for; `company` "" seals a file at the top of the folder (as before companies)."""

    employee_id: str
    uid: str
    mail: str
    company: str = ""


class CredentialVault:
    """Seals initial passwords where [accounts] initial_password_delivery says (see the module's words).

    A file is written to a 0600 temporary file, made durable, and renamed into place (atomic);
    `issue_many` does that for a batch with one file system sync instead of one fsync per file.
    In "console" delivery a batch's passwords go into the state store in one transaction.
    """

    def __init__(self, directory: Path, length: int, *, delivery: str = "file", sealed: SealedPasswords | None = None
                 ) -> None:
        if delivery == "console" and sealed is None:
            raise ValueError("console delivery seals into the state store: pass `sealed` (CredentialVault.for_settings)")
        self.directory = directory
        self.length = length
        self.delivery = delivery
        self.sealed = sealed if delivery == "console" else None

    @classmethod
    def for_settings(cls, accounts: AccountSettings, engine: Engine) -> CredentialVault:
        """The vault [accounts] asks for; `engine`: the state store's (console delivery seals into it).

        ConfigError when console delivery's key file is missing or too short (lifecycle.journal.sealed.load_key).
        """
        sealed = None
        if accounts.initial_password_delivery == "console" and accounts.password_key_file is not None:
            sealed = SealedPasswords(engine, load_key(accounts.password_key_file))
        return cls(accounts.initial_password_dir, accounts.password_length, delivery=accounts.initial_password_delivery,
                   sealed=sealed)

    def issue_for(self, actions: Sequence[Action]) -> dict[str, str]:
        """Sealed initial passwords for the new accounts and the password resets (a rehire's fresh password)
        among `actions`, durable before any of them is used."""
        people = [Recipient(a.employee_id, a.params.attributes.uid, a.params.attributes.mail, a.company)
                  for a in actions if isinstance(a.params, NewAccountParams)]
        people += [Recipient(a.employee_id, a.params.uid, a.params.mail, a.company)
                   for a in actions if isinstance(a.params, PasswordResetParams)]
        return self.issue_many(people) if people else {}

    def issue(self, employee_id: str, uid: str, mail: str, company: str = "") -> str:
        return self.issue_many([Recipient(employee_id, uid, mail, company)])[employee_id]

    def issue_many(self, people: Sequence[Recipient | tuple[str, str, str]]) -> dict[str, str]:
        """A new password for each recipient ((employee_id, uid, mail[, company])), sealed and durable before this returns."""
        recipients = [Recipient(*person) for person in people]
        if not recipients:
            return {}
        passwords = {r.employee_id: new_password(self.length) for r in recipients}
        if self.sealed is not None:
            self.sealed.seal_many([(SealedFor(r.employee_id, r.company, r.uid, r.mail), passwords[r.employee_id])
                                   for r in recipients])
        else:
            self._write_files(recipients, passwords)
        return passwords

    def _write_files(self, recipients: Sequence[Recipient], passwords: dict[str, str]) -> None:
        written: list[tuple[Path, Path]] = []
        folders: set[Path] = set()
        for r in recipients:
            folder = self._folder(r.company)
            if folder not in folders:
                for level in dict.fromkeys((self.directory, folder)):
                    level.mkdir(parents=True, exist_ok=True, mode=0o700)
                    os.chmod(level, 0o700)
                folders.add(folder)
            path = folder / f"{r.employee_id}.txt"
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.fchmod(fd, 0o600)  # a leftover temporary file keeps its old mode through O_TRUNC
                os.write(fd, f"employee_id: {r.employee_id}\nlogin: {r.uid}\nmail: {r.mail}\n"
                             f"initial_password: {passwords[r.employee_id]}\n".encode())
                if len(recipients) == 1:
                    os.fsync(fd)
            finally:
                os.close(fd)
            written.append((tmp, path))
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            if len(recipients) > 1 and not _syncfs(dir_fd):
                for tmp, _ in written:
                    fd = os.open(tmp, os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
            for tmp, path in written:
                os.replace(tmp, path)
            for folder in folders | {self.directory}:  # the renames, and a new company folder's own entry
                folder_fd = os.open(folder, os.O_RDONLY)
                try:
                    os.fsync(folder_fd)
                finally:
                    os.close(folder_fd)
        finally:
            os.close(dir_fd)

    def _folder(self, company: str) -> Path:
        if company and (company in (".", "..") or "/" in company or "\\" in company or "\0" in company):
            raise ValueError(f"company code {company!r} cannot name a folder of initial_password_dir")
        return self.directory / company if company else self.directory

    def _paths(self, employee_id: str, company: str | None) -> list[Path]:
        """Where a sealed file may be: the company's folder, then the top (a file from before the folders);
        without a company, the top and then every company's folder."""
        name = f"{employee_id}.txt"
        if company:
            return [self._folder(company) / name, self.directory / name]
        return [self.directory / name, *sorted(self.directory.glob(f"*/{name}"))]

    def read_password(self, employee_id: str, company: str | None = None, *, sealed_since: datetime | None = None
                      ) -> str | None:
        """The password sealed for `employee_id` (of `company`); None when there is none (revealed, destroyed).

        `sealed_since`: only one sealed at that time or later (a file's time, to the file system's precision).
        """
        if self.sealed is not None:
            return self.sealed.read(employee_id, sealed_since=sealed_since)
        for path in self._paths(employee_id, company):
            try:
                if sealed_since is not None and path.stat().st_mtime < sealed_since.timestamp() - _MTIME_SLACK_SECONDS:
                    continue
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                continue
            for line in text.splitlines():
                if line.startswith("initial_password: "):
                    return line.removeprefix("initial_password: ")
        return None

    def destroy(self, employee_id: str, company: str | None = None) -> None:
        """Remove the password sealed for `employee_id` (once the personal notice carrying it was sent)."""
        if self.sealed is not None:
            self.sealed.destroy(employee_id)
            return
        removed = set()
        for path in self._paths(employee_id, company):
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            removed.add(path.parent)
        for folder in removed:
            fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(fd)  # the removal survives a crash: the password is gone for good
            finally:
                os.close(fd)
