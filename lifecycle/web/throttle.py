"""Failed logins per account, per typed name and per client address, in a moving window (`limits`).

- The account: the entry the name found (its DN as the directory compares it), so `szadmin`,
  `ＳＺＡＤＭＩＮ` and `szadmin@sz.example.com` share one count.  Attempts on one account are
  serialised, so simultaneous guesses cannot all pass the check before any failure is counted.
- The typed name (NFKC, case-folded): a name that finds no entry is counted too.
- The client address (an IPv6 address by its /64, which one client usually holds whole), with
  four times the allowance: an office behind one address shares it.

Counted in this process's memory: a restart forgets them, and two console processes count apart.
"""

from __future__ import annotations

import ipaddress
import threading
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from connectors.ldap.login import LoginRefused
from lifecycle.domain.dn import dn_key

_QUEUE_SECONDS = 15  # the longest a login waits for the attempt before it on the same account


class Throttled(Exception):
    """Too many failed logins for this account, name or address: try again later."""


def name_key(username: str) -> str:
    return "name:" + unicodedata.normalize("NFKC", username).strip().casefold()


def address_key(address: str) -> str:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return "address:" + address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return "address:" + str(parsed.ipv4_mapped)
        return "address:" + str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return "address:" + str(parsed)


class LoginThrottle:
    def __init__(self, failures: int, window_minutes: int) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._item = RateLimitItemPerMinute(failures, window_minutes)
        self._address_item = RateLimitItemPerMinute(failures * 4, window_minutes)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _item_for(self, key: str) -> RateLimitItemPerMinute:
        return self._address_item if key.startswith("address:") else self._item

    def allows(self, keys: Iterable[str]) -> bool:
        return all(self._limiter.test(self._item_for(key), key) for key in keys)

    def failed(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._limiter.hit(self._item_for(key), key)

    @contextmanager
    def account_attempt(self, dn: str) -> Iterator[None]:
        """Around one bind as `dn`: refused (Throttled) once the account's failures are used up; a
        LoginRefused inside counts against the account before the next attempt on it may start."""
        key = "account:" + dn_key(dn)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        # Bounded: binds that hang (a slow directory) must not gather every server thread on one account.
        if not lock.acquire(timeout=_QUEUE_SECONDS):
            raise Throttled
        try:
            if not self._limiter.test(self._item, key):
                raise Throttled
            try:
                yield
            except LoginRefused:
                self._limiter.hit(self._item, key)
                raise
        finally:
            lock.release()
