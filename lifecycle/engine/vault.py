"""Initial passwords: generated, and sealed in a root-only file for the person they are for.

A password never appears in the plan, the action log or any log line; the
vault's file is the only place that holds it.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import string
from collections.abc import Sequence
from pathlib import Path

from lifecycle.domain.action_params import NewAccountParams
from lifecycle.domain.models import Action

PASSWORD_ALPHABET = string.ascii_letters + string.digits + "-_.!"


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


class CredentialVault:
    """Seals each new account's initial password in a root-only file for its recipient.

    Each file is written to a 0600 temporary file, made durable, and renamed
    into place (atomic); `issue_many` does that for a batch with one file
    system sync instead of one fsync per file.
    """

    def __init__(self, directory: Path, length: int) -> None:
        self.directory = directory
        self.length = length

    def issue_for(self, actions: Sequence[Action]) -> dict[str, str]:
        """Sealed initial passwords for the new accounts among `actions`, durable before any of them is created."""
        people = [(a.employee_id, a.params.attributes.uid, a.params.attributes.mail)
                  for a in actions if isinstance(a.params, NewAccountParams)]
        return self.issue_many(people) if people else {}

    def issue(self, employee_id: str, uid: str, mail: str) -> str:
        return self.issue_many([(employee_id, uid, mail)])[employee_id]

    def issue_many(self, people: Sequence[tuple[str, str, str]]) -> dict[str, str]:
        """A new password for each (employee_id, uid, mail), sealed and durable before this returns."""
        if not people:
            return {}
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.directory, 0o700)
        passwords: dict[str, str] = {}
        written: list[tuple[Path, Path]] = []
        for employee_id, uid, mail in people:
            password = new_password(self.length)
            path = self.directory / f"{employee_id}.txt"
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.fchmod(fd, 0o600)  # a leftover temporary file keeps its old mode through O_TRUNC
                os.write(fd, f"employee_id: {employee_id}\nlogin: {uid}\nmail: {mail}\ninitial_password: {password}\n".encode())
                if len(people) == 1:
                    os.fsync(fd)
            finally:
                os.close(fd)
            passwords[employee_id] = password
            written.append((tmp, path))
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            if len(people) > 1 and not _syncfs(dir_fd):
                for tmp, _ in written:
                    fd = os.open(tmp, os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
            for tmp, path in written:
                os.replace(tmp, path)
            os.fsync(dir_fd)  # the renames
        finally:
            os.close(dir_fd)
        return passwords

    def read_password(self, employee_id: str) -> str | None:
        path = self.directory / f"{employee_id}.txt"
        try:
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.startswith("initial_password: "):
                    return line.removeprefix("initial_password: ")
        except FileNotFoundError:
            return None
        return None
