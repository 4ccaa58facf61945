"""Test mail delivered the way a Modoboa server's Postfix would: the recipient resolved with Modoboa's Postfix
map queries on its database, then LMTP into the test Dovecot (devservers/dovecot.py).
"""

from __future__ import annotations

import email.policy
import email.utils
import smtplib
import sqlite3
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from devservers.dovecot import DovecotError, DovecotInstance

# Modoboa 2.12 admin/postfix_maps.py, the `sqlite` variants ('%s' bound as a parameter):
DOMAINS_QUERY = "SELECT name FROM admin_domain WHERE name=? AND type='domain' AND enabled=1"
"""DomainsMap, sql-domains.cf: virtual_mailbox_domains."""
DOMAIN_ALIASES_QUERY = (
    "SELECT dom.name FROM admin_domain dom "
    "INNER JOIN admin_domainalias domal ON dom.id=domal.target_id "
    "WHERE domal.name=? AND domal.enabled=1 AND dom.enabled=1"
)
"""DomainsAliasesMap, sql-domain-aliases.cf: virtual_alias_domains."""
ALIASES_QUERY = (
    "SELECT alr.address FROM modoboa_admin_aliasrecipient AS alr "
    "INNER JOIN admin_alias AS al ON alr.alias_id=al.id "
    "WHERE al.enabled=1 AND al.address=? AND "
    "(al.expire_at IS NULL OR al.expire_at>datetime('now'))"
)
"""AliasesMap, sql-aliases.cf: virtual_alias_maps."""
_RECURSION_LIMIT = 1000  # Postfix virtual_alias_recursion_limit
_EXPANSION_LIMIT = 1000  # Postfix virtual_alias_expansion_limit


@dataclass(frozen=True)
class Delivery:
    """What happened to one message for one recipient."""

    recipient: str
    message_id: str
    expanded: tuple[str, ...]
    """The addresses after virtual alias expansion (what Postfix hands to a transport)."""
    delivered: tuple[str, ...] = ()
    """Mailboxes Dovecot stored the message in (LMTP 250 after DATA)."""
    bounced: tuple[tuple[str, str], ...] = ()
    """(address, reply) for every address that was refused: by Postfix's tables or by Dovecot."""
    relayed: tuple[str, ...] = ()
    """Addresses outside the Modoboa domains: Postfix would relay them (not delivered here)."""
    deferred: tuple[tuple[str, str], ...] = field(default=())
    """(address, reply) for temporary failures (LMTP 4xx): Postfix would retry."""

    @property
    def bounced_addresses(self) -> tuple[str, ...]:
        return tuple(address for address, _ in self.bounced)


@dataclass(frozen=True)
class Resolution:
    """Postfix's routing of one recipient (see resolve())."""

    expanded: tuple[str, ...]
    """The addresses after virtual alias expansion."""
    lmtp: tuple[str, ...]
    """Those of a virtual mailbox domain: handed to Dovecot over LMTP."""
    relayed: tuple[str, ...]
    """Those outside the Modoboa domains."""
    bounced: tuple[tuple[str, str], ...]
    """(address, reply) refused by Postfix itself."""


def resolve(modoboa_db: Path, recipient: str) -> Resolution:
    """Postfix's view of one recipient, from Modoboa's own map queries on its database.

    Mirrors a Postfix configured like Modoboa's installer (main.cf:
    `virtual_mailbox_domains = sql-domains.cf`, `virtual_alias_domains =
    sql-domain-aliases.cf`, `virtual_alias_maps = sql-aliases.cf`, no
    `virtual_mailbox_maps`, `virtual_transport = lmtp:unix:private/dovecot-lmtp`):

    1. smtpd, `reject_unauth_destination`: the recipient's domain must be a
       virtual mailbox domain (DomainsMap) or a virtual alias domain
       (DomainsAliasesMap), else "554 5.7.1 Relay access denied" (relay
       domains are not modelled);
    2. cleanup, virtual alias expansion (AliasesMap; disabled and expired
       aliases return nothing): the full address is looked up, then
       `@domain`; every result is expanded again (recursion and expansion
       limits 1000), a result equal to the address being expanded is kept as
       it is (Modoboa's self-aliases), an address without a result is final;
       duplicates are dropped;
    3. trivial-rewrite: a final address in a virtual mailbox domain goes to
       the virtual transport (LMTP: Dovecot's userdb decides); in a virtual
       alias domain it bounces ("User unknown in virtual alias table");
       anything else would be relayed.

    Since there is no `virtual_mailbox_maps`, smtpd's `reject_unlisted_recipient`
    accepts any address of a virtual mailbox domain: whether a mailbox exists
    is Dovecot's answer to RCPT TO.  Whether an account is active is not asked
    on this path at all (Modoboa's installer's userdb finds inactive accounts
    too): suspending a Modoboa account disables its aliases, and an address
    whose aliases are all disabled is delivered to its mailbox unchanged.
    """
    recipient = recipient.strip().lower()
    connection = sqlite3.connect(f"file:{Path(modoboa_db).resolve()}?mode=ro", uri=True, timeout=10)
    try:

        def found(query: str, key: str) -> list[str]:
            return [str(row[0]).lower() for row in connection.execute(query, (key,))]

        def mailbox_domain(address: str) -> bool:
            return bool(found(DOMAINS_QUERY, address.rpartition("@")[2]))

        def alias_domain(address: str) -> bool:
            return bool(found(DOMAIN_ALIASES_QUERY, address.rpartition("@")[2]))

        if not mailbox_domain(recipient) and not alias_domain(recipient):
            return Resolution((), (), (), ((recipient, "554 5.7.1 Relay access denied"),))
        final: list[str] = []
        bounced: list[tuple[str, str]] = []

        def expand(address: str, depth: int) -> None:
            if depth > _RECURSION_LIMIT:
                bounced.append((address, "5.4.6 virtual alias table recursion limit exceeded"))
                return
            results = found(ALIASES_QUERY, address) or found(ALIASES_QUERY, "@" + address.rpartition("@")[2])
            if not results:
                final.append(address)
                return
            for result in dict.fromkeys(results):
                if result == address:
                    final.append(address)
                else:
                    expand(result, depth + 1)

        expand(recipient, 0)
        expanded = tuple(dict.fromkeys(final))
        if len(expanded) > _EXPANSION_LIMIT:
            return Resolution(expanded, (), (), ((recipient, "5.4.6 virtual alias table expansion limit exceeded"),))
        lmtp: list[str] = []
        relayed: list[str] = []
        for address in expanded:
            if mailbox_domain(address):
                lmtp.append(address)
            elif alias_domain(address):
                bounced.append((address, "550 5.1.1 User unknown in virtual alias table"))
            else:
                relayed.append(address)
        return Resolution(expanded, tuple(lmtp), tuple(relayed), tuple(bounced))
    finally:
        connection.close()


def deliver(
    instance: DovecotInstance,
    modoboa_db: Path,
    sender: str,
    recipient: str,
    subject: str,
    body: str,
) -> Delivery:
    """Deliver one message from `sender` to `recipient` the way a Modoboa mail server would.

    The recipient is resolved like Postfix does with Modoboa's map queries
    (see `resolve()`: DomainsMap, DomainsAliasesMap and AliasesMap of Modoboa
    2.12 admin/postfix_maps.py, SQLite variants); every resulting address of
    a Modoboa domain is then handed to `instance` over LMTP, one transaction
    per address (MAIL FROM, RCPT TO, DATA), as Postfix's lmtp client would.
    Dovecot's reply to RCPT TO is its userdb's answer (no mailbox: 550).
    The message has `To: <recipient>` (what a sieve vacation checks).
    """
    if instance.lmtp_port is None or not instance.running:
        raise DovecotError("Dovecot is not running: start() first")
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = email.utils.formatdate(usegmt=True)
    message_id = email.utils.make_msgid(domain="lifecycle.test")
    message["Message-ID"] = message_id
    message.set_content(body)
    data = message.as_bytes(policy=email.policy.SMTP)
    routing = resolve(modoboa_db, recipient)
    delivered: list[str] = []
    bounced = list(routing.bounced)
    deferred: list[tuple[str, str]] = []
    for address in routing.lmtp:
        with smtplib.LMTP("127.0.0.1", instance.lmtp_port, local_hostname="mx.lifecycle.test", timeout=30) as lmtp:
            lmtp.ehlo("mx.lifecycle.test")
            code, reply = lmtp.mail(sender)
            if code != 250:
                raise DovecotError(f"LMTP MAIL FROM:<{sender}> refused: {code} {reply.decode(errors='replace')}")
            code, reply = lmtp.rcpt(address)
            if code == 250:
                code, reply = lmtp.data(data)
            text = f"{code} {reply.decode(errors='replace')}"
            if code == 250:
                delivered.append(address)
            elif code >= 500:
                bounced.append((address, text))
            else:
                deferred.append((address, text))
    return Delivery(
        recipient=recipient.strip().lower(),
        message_id=message_id,
        expanded=routing.expanded,
        delivered=tuple(delivered),
        bounced=tuple(bounced),
        relayed=routing.relayed,
        deferred=tuple(deferred),
    )
