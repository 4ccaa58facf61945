"""Modoboa's JSON rows read into the domain's records: accounts into Mailbox, aliases into Alias.

An account row: `username`, `first_name`/`last_name`, `is_active`,
`date_joined`, `last_login` (null until a login), `mailbox: {full_address,
quota (MB, a string), use_domain_quota}`, `aliases` (the addresses of the
visible aliases that point at it).  An alias row: `address`, `enabled`,
`recipients`, `expire_at`, `description`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, NamedTuple

from lifecycle.domain.errors import RecordError
from lifecycle.domain.mail import Alias, Mailbox

CONNECTOR = "mail"
MANAGED_MARK = "hr-lifecycle"  # the start of the description of the aliases this driver makes
LIST_MARK = "hr-lifecycle list"  # ... of those made as mail lists (policies.resources)

# The fields a snapshot reads of a listed account, its mailbox and an alias, and of a page: the rest
# (roles, limits, flags...) is dropped while the JSON is parsed, so a big listing is never held whole.
SNAPSHOT_FIELDS = frozenset({
    "count", "next", "results", "username", "first_name", "last_name", "is_active", "last_login", "date_joined",
    "mailbox", "full_address", "quota", "address", "enabled", "recipients", "expire_at", "description",
})


def snapshot_fields(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json.loads' object_pairs_hook: each object with SNAPSHOT_FIELDS only."""
    return {key: value for key, value in pairs if key in SNAPSHOT_FIELDS}


def parse_time(value: Any) -> datetime | None:
    """An API timestamp as an aware UTC datetime (naive ones are UTC); None when absent or unreadable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def quota(value: Any) -> int:
    """A quota in MB as the API writes it (a string); 0 (none) when unreadable."""
    try:
        return int(str(value).strip() or 0)
    except ValueError:
        return 0


def address_of(value: str) -> str:
    """A lower-case e-mail address, or RecordError."""
    normal = value.strip().lower()
    local, sep, domain = normal.partition("@")
    if not sep or not local or not domain or "@" in domain:
        raise RecordError(f"{value!r} is not an e-mail address", connector=CONNECTOR)
    return normal


def managed_note(recipients: Iterable[str], mail_list: bool = False) -> str:
    """The description of an alias this driver makes: the mark (a list's: `LIST_MARK`) and the recipients it was
    made with."""
    return f"{LIST_MARK if mail_list else MANAGED_MARK}: {', '.join(sorted(recipients))}"


def account_address(account: dict[str, Any]) -> str | None:
    """The mailbox's address of an account row; None for an account without a mailbox."""
    mailbox = account.get("mailbox")
    if not isinstance(mailbox, dict):
        return None
    found = mailbox.get("full_address") or account.get("username")
    return str(found).lower() if found else None


def display_name(account: dict[str, Any]) -> str:
    return " ".join(part for part in (account.get("first_name") or "", account.get("last_name") or "") if part)


def recipients(alias: dict[str, Any]) -> list[str]:
    return [str(r).lower() for r in alias.get("recipients") or ()]


class AliasRow(NamedTuple):
    delivers: bool  # enabled and not expired
    recipients: list[str]  # lower case
    managed: bool
    expires: datetime | None
    mail_list: bool = False  # managed, made as a mail list


def alias_row(row: dict[str, Any], now: datetime) -> AliasRow:
    targets = recipients(row)
    expires = parse_time(row.get("expire_at"))
    delivers = bool(row.get("enabled")) and (expires is None or expires > now)
    note = row.get("description")
    listed = note == managed_note(targets, mail_list=True)
    return AliasRow(delivers, targets, listed or note == managed_note(targets), expires, listed)


def alias(address: str, row: AliasRow) -> Alias:
    return Alias(address=address, recipients=tuple(sorted(row.recipients)), is_active=row.delivers,
                 managed=row.managed, expires=row.expires, mail_list=row.mail_list)


class Shared:
    """One object per distinct display name, quota and timestamp text in a snapshot (names and the
    timestamps of mailboxes created in bulk repeat)."""

    __slots__ = ("_numbers", "_texts", "_times")

    def __init__(self) -> None:
        self._texts: dict[str, str] = {}
        self._numbers: dict[int, int] = {}
        self._times: dict[Any, datetime | None] = {}

    def text(self, value: str) -> str:
        return self._texts.setdefault(value, value)

    def number(self, value: int) -> int:
        return self._numbers.setdefault(value, value)

    def time(self, value: Any) -> datetime | None:
        if not value:
            return None
        key = str(value)
        if key not in self._times:
            self._times[key] = parse_time(key)
        return self._times[key]


def mailbox(account: dict[str, Any], own_alias: AliasRow | None, shared: Shared | None = None) -> Mailbox:
    """The Mailbox of an account row; `own_alias`: the visible alias at the mailbox's address, if any (its forward)."""
    shared = shared if shared is not None else Shared()
    mail = account_address(account) or ""
    forward_to: tuple[str, ...] = ()
    keeps_copy = False
    if own_alias is not None and own_alias.delivers:
        forward_to = tuple(sorted(r for r in own_alias.recipients if r != mail))
        keeps_copy = bool(forward_to) and mail in own_alias.recipients
    row = account.get("mailbox") or {}
    return Mailbox(
        address=mail,
        display_name=shared.text(display_name(account)),
        quota_mb=shared.number(quota(row.get("quota"))),
        is_active=bool(account.get("is_active")),
        last_login=shared.time(account.get("last_login")),
        created=shared.time(account.get("date_joined")),
        forward_to=forward_to,
        forward_keeps_copy=keeps_copy,
    )
