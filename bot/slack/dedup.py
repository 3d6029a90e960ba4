"""Slack redelivers events (HTTP retries with X-Slack-Retry-Num, Socket Mode re-sends): remember what we saw.

In memory: the fallback of `bot/slack/state.py` while the state database is unreachable, and a cheap first
filter in front of it. The durable dedup is the store's claim.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable


class Seen:
    """`first(key)` is True once per key within `ttl_s`; at most `max_size` keys are kept."""

    def __init__(self, ttl_s: float = 3600.0, max_size: int = 50_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s, self.max_size, self.clock = ttl_s, max_size, clock
        self._seen: OrderedDict[Hashable, float] = OrderedDict()

    def first(self, key: Hashable) -> bool:
        now = self.clock()
        self._expire(now)
        if key in self._seen:
            return False
        self._seen[key] = now
        while len(self._seen) > self.max_size:
            self._seen.popitem(last=False)
        return True

    def forget(self, key: Hashable) -> None:
        """Let `key` count as new again (e.g. the action it guarded failed and may be retried)."""
        self._seen.pop(key, None)

    def _expire(self, now: float) -> None:
        while self._seen:
            _key, at = next(iter(self._seen.items()))
            if now - at < self.ttl_s:
                break
            self._seen.popitem(last=False)

    def __contains__(self, key: Hashable) -> bool:
        self._expire(self.clock())
        return key in self._seen

    def __len__(self) -> int:
        return len(self._seen)
