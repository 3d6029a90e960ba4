"""What one process keeps in memory for incidents: wake-ups for alerts waiting on their incident's report, the
live header of each first report, and the order of posts in a storm (first reports before repeats).

The facts (who leads, how many alerts, where the report is) are in the store; this only saves polling and
keeps one process's posts in the right order. Another replica's waiters find the report by polling.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from bot.slack.pacing import LiveMessage

MAX_TRACKED = 2000
JOIN_WAIT_S = 10.0   # an earlier alert still reading its log holds a later one's join this long at most


@dataclass
class IncidentState:
    fingerprint_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(16))
    _reported: dict[int, asyncio.Event] = field(default_factory=dict)
    headers: dict[int, LiveMessage] = field(default_factory=dict)
    permalinks: dict[tuple[str, str], str] = field(default_factory=dict)
    _leaders: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    _no_leaders: defaultdict[str, asyncio.Event] = field(default_factory=lambda: defaultdict(asyncio.Event))
    _repeat_locks: defaultdict[str, asyncio.Lock] = field(default_factory=lambda: defaultdict(asyncio.Lock))
    _arrivals: defaultdict[str, dict[str, asyncio.Event]] = field(default_factory=lambda: defaultdict(dict))

    def arrive(self, channel: str, ts: str) -> None:
        """An alert was accepted: until it has joined its incident (`joined`), later alerts wait their turn."""
        waiting = self._arrivals[channel]
        if len(waiting) < MAX_TRACKED:
            waiting.setdefault(ts, asyncio.Event())

    async def turn(self, channel: str, ts: str) -> None:
        """Wait until every earlier alert of the channel has joined its incident (bounded), so the first alert
        of a storm leads it however long each log takes to read, not whichever fingerprint finished first."""
        mine = _ts(ts)
        earlier = [e for t, e in self._arrivals.get(channel, {}).items() if _ts(t) < mine]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(JOIN_WAIT_S):
                for event in earlier:
                    await event.wait()

    def joined(self, channel: str, ts: str) -> None:
        """The alert has joined (or will not join) an incident: later alerts may take their turn."""
        waiting = self._arrivals.get(channel)
        if waiting is not None and (event := waiting.pop(ts, None)) is not None:
            event.set()
            if not waiting:
                self._arrivals.pop(channel, None)

    def reported(self, incident_id: int) -> asyncio.Event:
        """Set when the incident's first report is posted (or its leader gave up) in this process."""
        if incident_id not in self._reported:
            while len(self._reported) >= MAX_TRACKED:
                self._reported.pop(next(iter(self._reported)))
            self._reported[incident_id] = asyncio.Event()
        return self._reported[incident_id]

    @contextlib.asynccontextmanager
    async def first_report(self, channel: str) -> AsyncIterator[None]:
        """Around a new failure's posts: repeats in this channel wait until no first report is waiting."""
        self._leaders[channel] += 1
        self._no_leaders[channel].clear()
        try:
            yield
        finally:
            self._leaders[channel] -= 1
            if self._leaders[channel] <= 0:
                self._leaders.pop(channel, None)
                self._no_leaders[channel].set()

    @contextlib.asynccontextmanager
    async def repeat(self, channel: str) -> AsyncIterator[None]:
        """Around a repeat's post: one at a time per channel, each after every waiting first report, so a
        storm's distinct causes are answered before its repeats hold the channel's post slots."""
        async with self._repeat_locks[channel]:
            while self._leaders.get(channel, 0) > 0:
                await self._no_leaders[channel].wait()
            yield

    def header(self, incident_id: int, make: Any) -> LiveMessage:
        live = self.headers.get(incident_id)
        if live is None:
            while len(self.headers) >= MAX_TRACKED:
                self.headers.pop(next(iter(self.headers)))
            live = self.headers[incident_id] = make()
        return live


def _ts(ts: str) -> float:
    try:
        return float(ts)
    except ValueError:
        return float("inf")
