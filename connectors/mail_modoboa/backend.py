"""ModoboaBackend: the MailBackend port for Modoboa 2.12, and how it keeps delivery in its own hands.

The API's facts are in api.py.  Modoboa's admin API cannot change the hidden
self-alias that delivers to a mailbox, and a suspension disables it for good
(api.py).  So this driver keeps delivery with a *visible* self-alias:
restore() re-enables the account and the single-recipient aliases that point
at it, and makes sure an enabled alias at the mailbox's address lists the
mailbox itself (created when absent).  That is the representation Modoboa
itself uses for "forward and keep a copy", and what Postfix's alias map
(admin/postfix_maps.py AliasesMap) resolves.  set_forward() writes the
targets plus the mailbox itself; clear_forward() leaves only the mailbox
itself (delivery keeps working even after an earlier restore); suspend()
takes the mailbox out of its own forward, so a suspended mailbox receives
nothing while a forward set on purpose (a leaver's mail to a manager) goes on.
restore() also drops an expiry from that alias: a mailbox renamed back onto
its old address has taken over the transfer alias there, and once that
expired a mailbox that was ever suspended would get nothing.
rename_mailbox() takes the mailbox's own alias (its forward, its delivery)
along to the new address, so the old one is free for the expiring transfer
alias and no forward (a rehired leaver's to the manager) stays behind.

The aliases this driver makes (create_alias) carry `description`
"hr-lifecycle: <recipients>"; an alias is reported `managed` only while its
recipients are still those, so one an admin or the user made, or re-pointed
since, is never changed or removed by the daemon.

The directory is the only password store: the supported mail stack checks
logins against it (Dovecot's passdb ldap, Modoboa's LDAP authentication), so
create_mailbox() is normally given no password and sends Modoboa, whose API
requires one, a long random value that is kept nowhere (throwaway_password()).

Pacing, retries and the error mapping are connectors/http.py's; messages
never contain the token or a password.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import httpx
import structlog

from connectors.mail_modoboa import rows
from connectors.mail_modoboa.api import ModoboaApi
from connectors.mail_modoboa.rows import CONNECTOR, address_of, alias_row
from connectors.mail_modoboa.snapshot import read_snapshot
from lifecycle.domain.errors import AlreadyExistsError, ConnectorConfigError, RecordError, TransientError
from lifecycle.domain.mail import Alias, Mailbox, MailCapability, MailSnapshot
from lifecycle.domain.settings import MailSettings

log = structlog.get_logger(__name__)

CAPABILITIES = frozenset(
    {
        MailCapability.FORWARD_KEEPS_COPY,
        MailCapability.ALIASES,
        MailCapability.LAST_LOGIN,
        MailCapability.QUOTA,
        MailCapability.DISPLAY_NAME,
        MailCapability.CREATE_DOMAIN,
    }
)
"""Modoboa 2.12 without Dovecot access: no SUSPEND_KEEPS_DELIVERY (suspension
bounces mail), no FORWARD_WITHOUT_COPY (the admin API cannot disable the hidden
self-alias), no AUTO_REPLY/EXPORT/KICK_SESSIONS (they need Dovecot).
LAST_LOGIN is Modoboa's `last_login`: web logins, and IMAP logins where
Dovecot's post-login script of Modoboa's installer updates it."""


# The driver takes `[mail]` as it is: one definition of the keys, in lifecycle/domain/settings.py.
ModoboaSettings = MailSettings


def _now() -> datetime:
    return datetime.now(UTC)


class ModoboaBackend:
    """MailBackend for Modoboa 2.12 over its admin API v2.  Thread-safe (httpx.Client is)."""

    def __init__(
        self,
        settings: ModoboaSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.api = ModoboaApi(settings, transport=transport, sleep=sleep)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.api.close()

    def capabilities(self) -> frozenset[MailCapability]:
        return CAPABILITIES

    def check(self) -> list[str]:
        """Reachable, token valid, and a SuperAdmins token (domains are created with it)."""
        try:
            me = self.api.me()
        except (TransientError, ConnectorConfigError, RecordError) as exc:
            return [str(exc)]
        role = me.get("role") if isinstance(me, dict) else None
        if role == "SuperAdmins":
            return []
        owner = me.get("username", "?") if isinstance(me, dict) else "?"
        problem = (
            f"the Modoboa token belongs to {owner} with role {role!r}: use a token of a SuperAdmins account "
            "(domains cannot be created otherwise)"
        )
        return [problem]

    # -- reading ------------------------------------------------------------

    def ensure_domains(self, domains: Sequence[str]) -> list[str]:
        wanted = sorted({d.strip().lower() for d in domains if d.strip()})
        existing = set(self.api.domain_ids())
        created: list[str] = []
        for name in wanted:
            if name not in existing and self.api.create_domain(name, self.settings.default_quota_mb):
                log.info("mail.domain_created", domain=name)
                created.append(name)
        return created

    def read_snapshot(self, domains: Sequence[str]) -> MailSnapshot:
        return read_snapshot(self.api, domains)

    def find_mailbox(self, address: str) -> Mailbox | None:
        address = address_of(address)
        account = self.api.find_account(address)
        if account is None:
            return None
        own = self.api.find_alias(address)
        return rows.mailbox(account, alias_row(own, _now()) if own is not None else None)

    def find_alias(self, address: str) -> Alias | None:
        address = address_of(address)
        row = self.api.find_alias(address)
        return rows.alias(address, alias_row(row, _now())) if row is not None else None

    # -- mailboxes ----------------------------------------------------------

    def create_mailbox(self, address: str, display_name: str, quota_mb: int | None, password: str | None = None) -> Mailbox:
        address = address_of(address)
        if self.api.find_account(address) is not None:
            raise AlreadyExistsError(f"mailbox {address} already exists", connector=CONNECTOR)
        quota = self.settings.default_quota_mb if quota_mb is None else quota_mb
        if quota < 0:
            raise RecordError(f"create mailbox {address}: quota {quota} MB is negative", connector=CONNECTOR)
        account = self.api.create_account(address, display_name, quota, password or throwaway_password())
        log.info("mail.mailbox_created", address=address)
        return Mailbox(
            address=address,
            display_name=rows.display_name(account),
            quota_mb=rows.quota((account.get("mailbox") or {}).get("quota", quota)),
            is_active=bool(account.get("is_active", True)),
            last_login=rows.parse_time(account.get("last_login")),
            created=rows.parse_time(account.get("date_joined")),
        )

    def update_mailbox(self, address: str, *, display_name: str | None = None, quota_mb: int | None = None) -> None:
        address = address_of(address)
        body: dict[str, Any] = {}
        if display_name is not None:
            body.update({"first_name": display_name, "last_name": ""})
        if quota_mb is not None:
            if quota_mb < 0:
                raise RecordError(f"update mailbox {address}: quota {quota_mb} MB is negative", connector=CONNECTOR)
            body["mailbox"] = {"use_domain_quota": False, "quota": str(quota_mb)}
        if not body:
            return
        self.api.patch_account(self.api.account(address), body, what=f"update mailbox {address}")
        log.info("mail.mailbox_updated", address=address, fields=sorted(body))

    def suspend(self, address: str) -> None:
        address = address_of(address)
        account = self.api.account(address)
        if account.get("is_active", True):
            self.api.patch_account(account, {"is_active": False}, what=f"suspend {address}")
        own = self.api.find_alias(address)
        if own is not None:
            recipients = rows.recipients(own)
            if address in recipients and len(recipients) > 1:
                # A forward goes on; the suspended mailbox itself gets nothing.
                self.api.patch_alias(own, [r for r in recipients if r != address], enabled=True, what=f"suspend {address}")
        log.info("mail.suspended", address=address)

    def restore(self, address: str) -> None:
        address = address_of(address)
        account = self.api.account(address)
        if not account.get("is_active", False):
            self.api.patch_account(account, {"is_active": True}, what=f"restore {address}")
        for alias_address in sorted({str(a).lower() for a in account.get("aliases") or ()} - {address}):
            alias = self.api.find_alias(alias_address)
            if alias is None or alias.get("enabled"):
                continue
            if rows.recipients(alias) == [address]:
                self.api.patch_alias(alias, [address], enabled=True, what=f"restore {address}: re-enable alias {alias_address}")
        self._ensure_self_delivery(address)
        log.info("mail.restored", address=address)

    def rename_mailbox(self, address: str, new_address: str) -> None:
        """Move a mailbox to a new address (a branch transfer); Modoboa moves the mail with it.

        Its own alias (its forward, or the delivery restore() sets up) goes with it: Modoboa leaves it at the old
        address, where it would forward for ever in place of the expiring transfer alias.  An alias already at the
        new address becomes the mailbox's own: the moved recipients are added and its expiry is dropped.
        """
        address, new_address = address_of(address), address_of(new_address)
        what = f"rename mailbox {address} to {new_address}"
        if self.api.find_account(new_address) is None or self.api.find_account(address) is not None:
            account = self.api.account(address)
            own = self.api.find_alias(address)  # while the mailbox is there, the alias at its address is its own
            self.api.patch_account(account, {"username": new_address}, what=what)
            log.info("mail.mailbox_renamed", address=address, new_address=new_address)
        else:
            # Renamed already by an interrupted run: its own alias is the one re-linked to it, unless it is ours.
            own = self.api.find_alias(address)
            if own is not None and (new_address not in rows.recipients(own) or alias_row(own, _now()).managed):
                own = None
        if own is None:
            return
        left = self.api.find_alias(address)  # as the rename left it: recipients re-linked to the new address
        if left is None or left.get("pk") != own.get("pk"):
            return
        found = alias_row(left, _now())
        if not left.get("enabled"):
            self.api.delete_alias(left, what=f"{what}: its disabled alias")  # restore() sets delivery up again
            return
        here = self.api.find_alias(new_address)
        if here is None:
            self.api.create_alias(new_address, found.recipients, what=f"{what}: its forward")
        else:
            kept = alias_row(here, _now())
            merged = sorted(set(kept.recipients if kept.delivers else ()) | set(found.recipients))
            self.api.patch_alias(here, merged, enabled=True, what=f"{what}: its forward", also={"expire_at": None})
        self.api.delete_alias(left, what=f"{what}: its forward at the old address")

    def delete_mailbox(self, address: str, keep_dir: bool = True) -> None:
        """Delete the account and mailbox (and every alias with its address); absent is fine."""
        address = address_of(address)
        account = self.api.find_account(address)
        if account is None:
            return
        self.api.delete_account(account, keep_dir=keep_dir, what=f"delete mailbox {address}")
        log.info("mail.mailbox_deleted", address=address, keep_dir=keep_dir)

    # -- forwards and aliases -----------------------------------------------

    def set_forward(self, address: str, recipients: Sequence[str], keep_copy: bool | None = None) -> None:
        """Forward the address; the mailbox keeps a copy when `keep_copy` (default: while it is active).

        A suspended mailbox that keeps a copy still receives (Dovecot delivers to it), so its
        sieve auto-reply answers the senders.
        """
        address = address_of(address)
        targets = sorted({address_of(r) for r in recipients} - {address})
        if not targets:
            raise RecordError(
                f"forward {address}: no recipient other than itself (clear_forward removes a forward)", connector=CONNECTOR
            )
        account = self.api.account(address)
        copy = account.get("is_active", False) if keep_copy is None else keep_copy
        wanted = targets + ([address] if copy else [])
        own = self.api.find_alias(address)
        what = f"forward {address}"
        if own is None:
            self.api.create_alias(address, wanted, what=what)
        elif sorted(rows.recipients(own)) != sorted(wanted) or not own.get("enabled"):
            self.api.patch_alias(own, wanted, enabled=True, what=what)
        log.info("mail.forward_set", address=address, recipients=targets)

    def clear_forward(self, address: str) -> None:
        address = address_of(address)
        own = self.api.find_alias(address)
        if own is None:
            return
        account = self.api.account(address)
        if account.get("is_active", False):
            # Only the mailbox itself: mail keeps arriving even if Modoboa's
            # hidden self-alias was left disabled by an earlier suspension.
            if rows.recipients(own) != [address] or not own.get("enabled"):
                self.api.patch_alias(own, [address], enabled=True, what=f"clear the forward of {address}")
        else:
            self.api.delete_alias(own, what=f"clear the forward of {address}")
        log.info("mail.forward_cleared", address=address)

    def create_alias(
        self, address: str, recipients: Sequence[str], expires: datetime | None = None, *, mail_list: bool = False
    ) -> None:
        """A managed alias (a list's note with `mail_list`); with `expires`, Modoboa stops delivering through it after
        that instant.

        An alias already at the address with these recipients becomes this one, expiry included: a rename leaves
        the mailbox's own alias at the old address, to the new one and without an expiry, where the transfer
        alias is planned.
        """
        address = address_of(address)
        targets = sorted({address_of(r) for r in recipients})
        what = f"create alias {address}"
        if not targets:
            raise RecordError(f"{what}: no recipient", connector=CONNECTOR)
        existing = self.api.find_alias(address)
        if existing is not None and sorted(rows.recipients(existing)) != targets:
            raise AlreadyExistsError(f"alias {address} already exists", connector=CONNECTOR)
        if self.api.find_account(address) is not None:
            raise RecordError(f"{what}: a mailbox has that address (use set_forward)", connector=CONNECTOR)
        if existing is None:
            self.api.create_alias(address, targets, what=what, expires=expires, managed=True, mail_list=mail_list)
        else:
            self.api.patch_alias(existing, targets, enabled=True, what=what, also={
                "expire_at": expires.isoformat() if expires is not None else None,
                "description": rows.managed_note(targets, mail_list)})
        log.info("mail.alias_created", address=address, recipients=targets, expires=expires.isoformat() if expires else None)

    def delete_alias(self, address: str, recipients: Sequence[str] | None = None) -> None:
        address = address_of(address)
        what = f"delete alias {address}"
        alias = self.api.find_alias(address)
        if alias is None:
            return
        if self.api.find_account(address) is not None:
            raise RecordError(f"{what}: it is a mailbox's forward (use clear_forward)", connector=CONNECTOR)
        if recipients is not None:
            expected = sorted({address_of(r) for r in recipients})
            found = alias_row(alias, _now())
            if sorted(found.recipients) != expected or not found.managed:
                # Someone changed it since the plan read it: it is theirs now.
                raise RecordError(f"{what}: it was changed (recipients {', '.join(found.recipients) or 'none'}) since "
                                  f"the plan, which expected this daemon's alias to {', '.join(expected)}: left as it is",
                                  connector=CONNECTOR)
        self.api.delete_alias(alias, what=what)
        log.info("mail.alias_deleted", address=address)

    def update_alias(self, address: str, recipients: Sequence[str], expected: Sequence[str] | None = None) -> None:
        """New recipients for a managed alias (a list kept in step); its description follows, so it stays managed."""
        address = address_of(address)
        targets = sorted({address_of(r) for r in recipients})
        what = f"update alias {address}"
        if not targets:
            raise RecordError(f"{what}: no recipient", connector=CONNECTOR)
        alias = self.api.find_alias(address)
        if alias is None:
            raise RecordError(f"{what}: no alias there (deleted since the plan): made again by the next plan",
                              connector=CONNECTOR)
        found = alias_row(alias, _now())
        if sorted(found.recipients) == targets and found.managed and found.mail_list:
            return  # done already (an interrupted run)
        if not found.managed or (expected is not None and sorted(found.recipients) != sorted({address_of(r) for r in expected})):
            raise RecordError(f"{what}: it was changed (recipients {', '.join(found.recipients) or 'none'}) since the "
                              "plan, or not made by this daemon: left as it is", connector=CONNECTOR)
        self.api.patch_alias(alias, targets, enabled=bool(alias.get("enabled")), what=what,
                             also={"description": rows.managed_note(targets, mail_list=True)})
        log.info("mail.alias_updated", address=address, recipients=targets)

    def _ensure_self_delivery(self, address: str) -> None:
        """An enabled visible alias at the address that lists the mailbox itself (see the module doc)."""
        own = self.api.find_alias(address)
        what = f"restore {address}: self-alias"
        if own is None:
            self.api.create_alias(address, [address], what=what)
            return
        recipients = rows.recipients(own)
        # An expiry would end delivery: a mailbox renamed back onto its old address has the transfer alias there
        # as its own, and once a suspension disabled Modoboa's hidden self-alias nothing else delivers to it.
        if address not in recipients or not own.get("enabled") or own.get("expire_at"):
            self.api.patch_alias(own, sorted(set(recipients) | {address}), enabled=True, what=what, also={"expire_at": None})


def throwaway_password() -> str:
    """What a mailbox is created with when the directory holds the password: nobody knows it, nothing keeps it.

    288 random bits, plus one character of each class so Modoboa's validators (upper, lower, digit and, when a
    site turns them on, specials) accept it.
    """
    return secrets.token_urlsafe(36) + "Aa1!"
