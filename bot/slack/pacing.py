"""Pace what we send so Slack never has to rate-limit us.

`ChannelPacer`: chat.postMessage at most once per `interval_s` per channel (Slack allows ~1/s per channel).
`LiveMessage`: chat.update of one message at most once per `interval_s`; intermediate states are coalesced
(only the newest is sent), the final state is always sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)


class ChannelPacer:
    def __init__(self, interval_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s, self.clock = interval_s, clock
        self._next: dict[str, float] = {}

    async def wait(self, channel: str) -> None:
        """Reserve the channel's next send slot and sleep until it (FIFO per channel)."""
        if self.interval_s <= 0:
            return
        now = self.clock()
        slot = max(now, self._next.get(channel, now))
        self._next[channel] = slot + self.interval_s
        if slot > now:
            await asyncio.sleep(slot - now)


class LiveMessage:
    """One message updated in place: `show(payload)` never blocks; `finish(payload)` waits until it is sent."""

    def __init__(self, send: Callable[[dict[str, Any]], Awaitable[Any]], interval_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, last_sent_at: float | None = None) -> None:
        self._send, self.interval_s, self.clock = send, interval_s, clock
        self._latest: dict[str, Any] | None = None
        self._sent: dict[str, Any] | None = None
        self._last = last_sent_at if last_sent_at is not None else clock()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._sending = False
        self.updates = 0

    def show(self, payload: dict[str, Any]) -> None:
        if self._closed:
            return
        self._latest = payload
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush())

    async def finish(self, payload: dict[str, Any]) -> None:
        """Send `payload` now if no progress update went out yet (a fast triage replaces its placeholder at
        once); otherwise after any in-flight update and the pacing interval. Errors propagate."""
        self._closed = True
        self._latest = None
        if self._task is not None and not self._task.done():
            if self._sending:
                await asyncio.wait([self._task])
            else:  # only waiting for its slot: the final state supersedes it
                self._task.cancel()
                await asyncio.wait([self._task])
        if self.updates:
            wait = self._last + self.interval_s - self.clock()
            if wait > 0:
                await asyncio.sleep(wait)
        await self._send(payload)
        self._last = self.clock()
        self.updates += 1

    async def _flush(self) -> None:
        while self._latest is not None and self._latest is not self._sent:
            wait = self._last + self.interval_s - self.clock()
            if wait > 0:
                await asyncio.sleep(wait)
            payload = self._latest
            if payload is None:
                return
            self._sending = True
            try:
                await self._send(payload)
                self.updates += 1
            except Exception:
                log.warning("progress update failed; the final update will still be sent", exc_info=True)
            finally:
                self._sending = False
                self._sent, self._last = payload, self.clock()
