"""A state store that cannot be opened or written, in the operator's words: what, why, and the fix.

The store's engine turns driver errors into StateStoreError through `state_store_failure`
(lifecycle.journal.store); `sqlite_store_diagnosis` looks at the file system, not at the
driver's message, to say why an SQLite file cannot be written.
"""

from __future__ import annotations

import errno
import os
import pwd
import sqlite3
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from lifecycle.domain.errors import StateStoreError

# SQLite primary result codes that blame the environment (file system, permissions), not the data.
_SQLITE_ENVIRONMENT = ("SQLITE_PERM", "SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_FULL", "SQLITE_CANTOPEN", "SQLITE_NOTADB")
# The same for PostgreSQL, by SQLSTATE: (cause, fix).
_POSTGRES_ENVIRONMENT = {
    "53100": ("the database server's disk is full", "free space on the PostgreSQL server"),
    "25006": ("the server accepts reads only (a standby, or default_transaction_read_only)", "point [state] url at the primary"),
    "42501": ("the database user lacks a privilege", "GRANT the [state] url's user rights on the lifecycle tables"),
}
_ERRNO_CODES = {errno.ENOSPC: "SQLITE_FULL", errno.EDQUOT: "SQLITE_FULL", errno.EROFS: "SQLITE_READONLY"}
_NEARLY_FULL = 1 << 20  # bytes: below this much free space, a write failure is a full disk


def state_store_failure(url: str | URL, exc: BaseException) -> StateStoreError | None:
    """The operator's words for a failure to open or write the state store, or None if it is not one."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        sqlstate = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
        if sqlstate not in _POSTGRES_ENVIRONMENT:
            return None
        cause, fix = _POSTGRES_ENVIRONMENT[sqlstate]
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return StateStoreError(f"state store {parsed.render_as_string(hide_password=True)}: {cause} ({first}); {fix}")
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    code = _sqlite_code(exc)
    if isinstance(exc, OSError):
        code = _ERRNO_CODES.get(exc.errno or 0, "OSError")
    elif code is None:
        return None
    path = Path(parsed.database).absolute()
    cause, fix = sqlite_store_diagnosis(path, code, exc)
    return StateStoreError(f"state store {path}: {cause}; {fix}")


def _sqlite_code(exc: BaseException) -> str | None:
    """The SQLite primary result code's name when it blames the environment, else None."""
    if not isinstance(exc, sqlite3.Error):
        return None
    name = getattr(exc, "sqlite_errorname", "") or ""
    for code in _SQLITE_ENVIRONMENT:
        if name == code or name.startswith(code + "_"):
            return code
    message = str(exc)  # a driver without error names: its fixed messages
    for text, code in (("readonly database", "SQLITE_READONLY"), ("disk is full", "SQLITE_FULL"),
                       ("unable to open database file", "SQLITE_CANTOPEN"), ("disk I/O error", "SQLITE_IOERR"),
                       ("file is not a database", "SQLITE_NOTADB")):
        if text in message:
            return code
    return None


def sqlite_store_diagnosis(path: Path, code: str, exc: BaseException) -> tuple[str, str]:
    """(cause, fix) for a store at `path` that failed with `code`; looks at the file system, not the message."""
    user = user_name(os.geteuid())
    setting = "set [state] url to a file in a directory this user can write, e.g. sqlite:////var/lib/lifecycle/state.db"
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"{ancestor} is a file, not a directory", setting
    if path.is_dir():
        return "it is a directory, not a database file", setting
    if code == "SQLITE_NOTADB":
        return ("the file is not an SQLite database (or is damaged)",
                "point [state] url at the right file, or restore it from a backup")
    mount = _mount_point(ancestor)
    try:
        fs = os.statvfs(ancestor)
    except OSError:
        fs = None
    if fs is not None and fs.f_flag & os.ST_RDONLY:
        return (f"the file system at {mount} is mounted read-only",
                f"remount {mount} read-write, or {setting} (under systemd: in the unit's StateDirectory= or ReadWritePaths=)")
    free = fs.f_bavail * fs.f_frsize if fs is not None else None
    nearly_full = free is not None and free < _NEARLY_FULL
    if code == "SQLITE_FULL" or (nearly_full and code in ("SQLITE_IOERR", "SQLITE_CANTOPEN", "OSError")):
        shown = f"{free // 1024} KiB free" if free is not None else "no space left"
        return (f"the file system at {mount} is full ({shown}: {_first_line(exc)})",
                (f"free space on {mount} (`df -h {mount}`), then run again: actions left in flight are re-checked "
                 "against the directory and completed"))
    if ancestor != path.parent:
        return (f"directory {path.parent} does not exist and cannot be created ({_first_line(exc)})",
                f"create it: install -d -o {user} {path.parent}")
    for target, what in ((path, "the file"), (path.parent, f"directory {path.parent}")):
        if target.exists() and not os.access(target, os.W_OK | (os.X_OK if target.is_dir() else 0)):
            info = target.stat()
            owner = user_name(info.st_uid)
            if os.geteuid() == 0:  # root ignores permission bits: only an attribute can refuse it
                return f"{what} is immutable or append-only", f"chattr -i -a {target} (see `lsattr -d {target}`)"
            why = f"{what} is not writable by user {user} (owner {owner}, mode {info.st_mode & 0o7777:04o})"
            if target.is_dir():
                why += f"; SQLite keeps {path.name}-wal and {path.name}-shm next to the database"
            fix = f"chown {user}: {target}"
            if owner not in (user, "root"):
                fix = f"run lifecycle as {owner} (the service user?), or {fix}"
            return why, fix
    return (f"SQLite says: {_first_line(exc)}",
            (f"check that {path.parent} is writable by user {user}, has free space, and is not immutable "
             f"(`lsattr -d {path.parent}`)"))


def _mount_point(path: Path) -> Path:
    path = path.resolve()
    try:
        device = path.stat().st_dev
        while path != path.parent and path.parent.stat().st_dev == device:
            path = path.parent
    except OSError:
        pass
    return path


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # no passwd entry (DynamicUser=)
        return str(uid)


def _first_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
