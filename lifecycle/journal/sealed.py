"""Initial passwords sealed in the state store for the console to reveal once ([accounts] initial_password_delivery =
"console").

The daemon seals each password (Fernet: AES-128-CBC with an HMAC-SHA256, from the `cryptography` package) with a
key derived from `password_key_file`; the console loads the same file, opens the row once, and deletes it in the
transaction that journals the reveal.  A copy of the store alone opens nothing: the rows are useless without the key.
"""

from __future__ import annotations

import base64
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from lifecycle.domain.errors import ConfigError
from lifecycle.journal.action_log import record_admin_entry
from lifecycle.journal.schema import action_log, sealed_passwords, utc_text

MIN_KEY_BYTES = 32
REVEALED = "password_revealed"  # the action log's kind for a reveal (never the password)
_INFO = b"lifecycle sealed initial passwords v1"


def load_key(path: Path) -> Fernet:
    """The sealing key from the file at `path` (any 32 or more random bytes, through HKDF-SHA256).

    ConfigError naming the file and the fix when it cannot be read or is too short; never its content.
    """
    try:
        material = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"[accounts] password_key_file {path}: {exc.strerror or exc}; create it with "
                          f"`head -c 32 /dev/urandom > {path}` (mode 0600) and give it to the daemon and the console "
                          "(LoadCredential=)") from exc
    if len(material) < MIN_KEY_BYTES:
        raise ConfigError(f"[accounts] password_key_file {path} holds {len(material)} bytes; it needs {MIN_KEY_BYTES} "
                          f"or more random bytes: `head -c 32 /dev/urandom > {path}`")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(material)
    return Fernet(base64.urlsafe_b64encode(key))


@dataclass(frozen=True, slots=True)
class SealedFor:
    """Whom a sealed password is for: the sealed row's columns other than the password itself."""

    employee_id: str
    company: str
    uid: str
    mail: str


@dataclass(frozen=True, slots=True)
class Reveal:
    """What a reveal found: the password (once), or who revealed it before and when (`password` None)."""

    password: str | None
    uid: str = ""
    mail: str = ""
    revealed_by: str = ""
    revealed_at: str = ""


class SealedPasswords:
    """The `sealed_passwords` table, sealed and opened with one key."""

    def __init__(self, engine: Engine, key: Fernet) -> None:
        self.engine = engine
        self._key = key

    def seal_many(self, people: Sequence[tuple[SealedFor, str]], now: datetime | None = None) -> None:
        """Seal each (recipient, password), replacing a row not yet revealed, in one committed transaction
        (durable before this returns: the store's writes are synchronous)."""
        created = utc_text(now or datetime.now(UTC))
        with self.engine.begin() as conn:
            conn.execute(delete(sealed_passwords).where(
                sealed_passwords.c.employee_id.in_([p.employee_id for p, _ in people])))
            conn.execute(sealed_passwords.insert(), [
                {"employee_id": p.employee_id, "company": p.company, "uid": p.uid, "mail": p.mail,
                 "sealed": self._key.encrypt(password.encode()).decode("ascii"), "created_at": created}
                for p, password in people
            ])

    def read(self, employee_id: str, *, sealed_since: datetime | None = None) -> str | None:
        """The password sealed for `employee_id` (at `sealed_since` or later), left in place; None without one
        (or one this key cannot open)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(sealed_passwords.c.sealed, sealed_passwords.c.created_at)
                               .where(sealed_passwords.c.employee_id == employee_id)).first()
        if row is None or (sealed_since is not None and datetime.fromisoformat(row.created_at) < sealed_since):
            return None
        return self._open(row.sealed)

    def waiting(self, employee_id: str) -> SealedFor | None:
        """Whom the row waiting for `employee_id` is for; None when there is none."""
        with self.engine.connect() as conn:
            row = conn.execute(select(sealed_passwords).where(sealed_passwords.c.employee_id == employee_id)).mappings().first()
        return SealedFor(row["employee_id"], row["company"], row["uid"], row["mail"]) if row is not None else None

    def destroy(self, employee_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(sealed_passwords).where(sealed_passwords.c.employee_id == employee_id))

    def reveal(self, employee_id: str, *, companies: Collection[str], actor: str, origin: str, reason: str,
               now: datetime) -> Reveal | None:
        """Open the row once, for a caller who acts for `companies`: it is deleted and the reveal journalled in one
        transaction, the delete only where the row's company is one of `companies` (so a row moved to another
        company since the caller looked is never opened for them).

        None when the row waiting is another company's.  Without a row, who revealed the last one of `companies`
        and when (from the action log), or an empty Reveal.
        """
        mine = sealed_passwords.c.company.in_(list(companies))
        with self.engine.begin() as conn:
            row = conn.execute(select(sealed_passwords).where(sealed_passwords.c.employee_id == employee_id)
                               .with_for_update()).mappings().first()
            if row is None:
                last = conn.execute(
                    select(action_log.c.actor, action_log.c.logged_at)
                    .where(action_log.c.kind == REVEALED, action_log.c.employee_id == employee_id,
                           action_log.c.company.in_(list(companies)))
                    .order_by(action_log.c.id.desc()).limit(1)
                ).first()
                return Reveal(None, revealed_by=last.actor, revealed_at=last.logged_at) if last else Reveal(None)
            if row["company"] not in companies:
                return None
            password = self._open(row["sealed"])
            if password is None:
                raise ConfigError("a sealed initial password cannot be opened with [accounts] password_key_file: the "
                                  "console's key is not the daemon's; give both the same file")
            deleted = conn.execute(delete(sealed_passwords).where(sealed_passwords.c.employee_id == employee_id,
                                                                  sealed_passwords.c.sealed == row["sealed"], mine))
            if deleted.rowcount != 1:
                # Changed between the read and the delete: moved to another company (re-sealed for it), or
                # taken by another reveal.
                moved = conn.execute(select(sealed_passwords.c.company)
                                     .where(sealed_passwords.c.employee_id == employee_id)).scalar()
                return None if moved is not None and moved not in companies else Reveal(None)
            record_admin_entry(conn, kind=REVEALED, employee_id=employee_id, target=row["uid"], company=row["company"],
                               reason=reason, actor=actor, now=now, origin=origin)
        return Reveal(password, row["uid"], row["mail"])

    def _open(self, sealed: str) -> str | None:
        try:
            return self._key.decrypt(sealed.encode("ascii")).decode("utf-8")
        except InvalidToken:
            return None
