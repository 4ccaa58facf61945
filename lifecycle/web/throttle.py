"""Failed logins per user name and per client address, in a moving window (the `limits` library).

Counted in this process's memory: a restart forgets them, and two console processes count apart
(each still stops a guesser after a handful of tries).
"""

from __future__ import annotations

from collections.abc import Iterable

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


class LoginThrottle:
    def __init__(self, failures: int, window_minutes: int) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._item = RateLimitItemPerMinute(failures, window_minutes)
        # An office behind one address shares it: several people may mistype at once.
        self._address_item = RateLimitItemPerMinute(failures * 4, window_minutes)

    def _item_for(self, key: str) -> RateLimitItemPerMinute:
        return self._address_item if key.startswith("address:") else self._item

    def allows(self, keys: Iterable[str]) -> bool:
        return all(self._limiter.test(self._item_for(key), key) for key in keys)

    def failed(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._limiter.hit(self._item_for(key), key)
