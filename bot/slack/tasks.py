"""Background triages: references kept, concurrency bounded, drained on shutdown, counted in `metrics`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from bot.metrics import Metrics

log = logging.getLogger(__name__)


class TaskTracker:
    def __init__(self, max_concurrency: int = 4, metrics: Metrics | None = None) -> None:
        self.slots = asyncio.Semaphore(max(1, max_concurrency))
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closed = False
        self.in_flight = 0  # triages holding a slot
        self.queued = 0  # triages waiting for one
        self.metrics = metrics or Metrics()
        self.metrics.in_flight.set_function(lambda: self.in_flight)
        self.metrics.queued.set_function(lambda: self.queued)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the concurrency slots, counted as queued while waiting and in flight while held."""
        self.queued += 1
        try:
            await self.slots.acquire()
        finally:
            self.queued -= 1
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1
            self.slots.release()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any] | None:
        """Run `coro` in the background; None (and the coroutine closed) once shutdown has begun."""
        if self.closed:
            coro.close()
            return None
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def wait_idle(self) -> None:
        """Until no task is running (tasks spawned meanwhile are waited for too)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def drain(self, timeout_s: float = 30.0) -> int:
        """Stop accepting work, wait up to `timeout_s`, then cancel what is left. Returns how many were cancelled."""
        self.closed = True
        try:
            async with asyncio.timeout(timeout_s):
                await self.wait_idle()
            return 0
        except TimeoutError:
            left = set(self._tasks)
            for t in left:
                t.cancel()
            await asyncio.gather(*left, return_exceptions=True)
            return len(left)
