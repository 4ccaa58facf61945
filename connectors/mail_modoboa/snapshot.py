"""Reading Modoboa whole: the mailboxes and aliases of the managed domains, as one MailSnapshot."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from connectors.mail_modoboa import rows
from connectors.mail_modoboa.api import ModoboaApi
from lifecycle.domain.mail import Alias, MailboxesBuilder, MailSnapshot


def read_snapshot(api: ModoboaApi, domains: Sequence[str]) -> MailSnapshot:
    """Every mailbox (its forward: the visible alias at its address) and every other alias of `domains`
    that exist in Modoboa; the absent ones are left out of `MailSnapshot.domains`."""
    wanted = sorted({d.strip().lower() for d in domains if d.strip()})
    ids = api.domain_ids()
    present = [name for name in wanted if name in ids]
    mailboxes = MailboxesBuilder()
    aliases: list[Alias] = []
    shared = rows.Shared()
    for name in present:
        # Each list is reduced to what the snapshot keeps before the next is read: a big domain's rows are
        # large as parsed JSON.
        alias_rows = api.domain_aliases(name)
        now = datetime.now(UTC)
        by_address = {str(row.get("address", "")).lower(): rows.alias_row(row, now) for row in alias_rows}
        del alias_rows
        accounts = api.domain_accounts(name, ids[name])
        addresses: set[str] = set()
        for account in accounts:
            address = rows.account_address(account)
            if address is None:
                continue
            addresses.add(address)
            mailboxes.add(rows.mailbox(account, by_address.get(address), shared))
        del accounts
        mailboxes.flush()
        for address, row in by_address.items():
            if address not in addresses:  # else the mailbox's forward / self-alias, reported on the mailbox
                aliases.append(rows.alias(address, row))
    return MailSnapshot(
        mailboxes=mailboxes.build(),
        aliases=tuple(sorted(aliases, key=lambda a: a.address)),
        domains=tuple(present),
    )
