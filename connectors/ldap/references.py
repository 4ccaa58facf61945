"""Waiting for slapd's refint overlay, which rewrites member/manager references after a move or delete.

refint rewrites (modrdn) or removes (delete) the references to an entry in a
background task, after the operation has already been answered.  Waiting means
the next read, and the next action on a group, see the settled directory.
References that stay (no refint, or a group whose only member was deleted:
refint cannot empty a groupOfNames) are logged and left to the next plan.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import structlog

from connectors.ldap.client import escape_filter_value
from connectors.ldap.dn import canonical_dn
from connectors.ldap.session import SIZE_LIMIT_EXCEEDED, SUCCESS, Session

log = structlog.get_logger(__name__)

# How long a wait lasts without refint settling any further DN (it runs after the reply).
REFERENCE_WAIT_SECONDS = 2.0
# DNs per reference search when waiting for a batch (two filter terms each).
REFERENCE_CHUNK = 100
POLL_SECONDS = 0.02


def reference_holders(session: Session, base_dn: str, old_dns: Sequence[str], *, limit: int = 0) -> list[str]:
    """DNs of entries under `base_dn` whose member or manager names one of `old_dns` (at most `limit`, 0: all)."""
    holders: list[str] = []
    dns = [dn for dn in dict.fromkeys(old_dns) if dn]
    for start in range(0, len(dns), REFERENCE_CHUNK):
        chunk = dns[start : start + REFERENCE_CHUNK]
        search_filter = "(|" + "".join(f"(member={v})(manager={v})" for v in map(escape_filter_value, chunk)) + ")"
        label = chunk[0] if len(chunk) == 1 else f"{chunk[0]} (and {len(chunk) - 1} more)"
        wanted = limit - len(holders) if limit else 0
        page = session.search("look for references to", base_dn, search_filter, ["1.1"], size_limit=wanted)
        if page.result.code not in (SUCCESS, SIZE_LIMIT_EXCEEDED):
            session.fail("look for references to", label, page.result)
        holders.extend(canonical_dn(dn) for dn, _ in page.entries)
        if limit and len(holders) >= limit:
            return holders[:limit]
    return holders


def await_references(session: Session, base_dn: str, old_dns: Sequence[str], timeout_seconds: float) -> None:
    """Wait until no member/manager value names any of `old_dns` (moved or deleted DNs).

    Polls one search per chunk of DNs (an OR filter) every 20 ms instead of one search
    per DN.  It gives up, logging what remains, once `REFERENCE_WAIT_SECONDS` (at most
    the timeout) pass without refint settling any further DN, so a batch waits as long
    as refint keeps working through it (it settles one DN after the other), and a stuck
    reference costs what it does for one DN.
    """
    remaining = [dn for dn in dict.fromkeys(old_dns) if dn]
    patience = min(REFERENCE_WAIT_SECONDS, timeout_seconds)
    deadline = time.monotonic() + patience
    while remaining:
        if not reference_holders(session, base_dn, remaining, limit=1):
            return
        if time.monotonic() >= deadline:
            still = [dn for dn in remaining if reference_holders(session, base_dn, [dn], limit=1)]
            if len(still) < len(remaining):  # refint is still working through them
                remaining = still
                deadline = time.monotonic() + patience
                continue
            for dn in still[:20]:
                example = reference_holders(session, base_dn, [dn], limit=1)
                if example:
                    log.warning("directory.references_remain", dn=dn, example=example[0])
            return
        time.sleep(POLL_SECONDS)
