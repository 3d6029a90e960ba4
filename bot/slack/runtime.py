"""What the Slack listeners share for the app's lifetime: client, pacing, state, tasks, message blocks.

Durable facts (claims, leases, escalations, feedback, the shared post pace) go through `state` (the store,
with a memory fallback). Everything a button click needs is also in the button's `value` and in the message
itself (its blocks carry the status lines; used buttons are removed). In memory only: the latest blocks of
reports we updated and the per-message click locks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.providers.base import Provider
from bot.sandbox import SandboxManager
from bot.settings import Settings
from bot.slack.incident_state import IncidentState
from bot.slack.pacing import ChannelPacer
from bot.slack.state import State
from bot.slack.tasks import TaskTracker
from bot.topology import Topology

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pacing:
    """Seconds between chat.postMessage calls per channel, and between chat.update calls per message."""

    post_interval_s: float = 1.0
    update_interval_s: float = 1.0


@dataclass
class Runtime:
    settings: Settings
    topology: Topology
    client: AsyncWebClient
    provider: Provider
    sandboxes: SandboxManager
    pacing: Pacing
    clock: Callable[[], float] = time.time
    tracker: TaskTracker = field(default_factory=TaskTracker)
    state: State = field(default_factory=lambda: State(None, owner="memory"))
    interrupt_note_s: float = 5.0  # how long a shutdown waits to say "paused" in a thread
    incidents: IncidentState = field(default_factory=IncidentState)
    owns_provider: bool = True
    owns_sandboxes: bool = True
    _pacer: ChannelPacer | None = None
    _blocks: OrderedDict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=OrderedDict)
    _locks: dict[tuple[str, str], asyncio.Lock] = field(default_factory=dict)
    _identity: dict[str, str] | None = None

    @property
    def pacer(self) -> ChannelPacer:
        if self._pacer is None:
            self._pacer = ChannelPacer(self.pacing.post_interval_s)
        return self._pacer

    def watched(self, channel: str | None) -> bool:
        return bool(channel) and channel in self.settings.alert_channels

    async def post(self, channel: str, payload: dict[str, Any], thread_ts: str | None = None) -> str:
        """chat.postMessage, paced per channel (across replicas, through the store); returns the message's ts."""
        await self.state.pace(channel, self.pacing.post_interval_s, self.pacer)
        resp = await self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, **payload)
        ts = str(resp["ts"])
        if payload.get("blocks"):
            self.remember(resp.get("channel") or channel, ts, payload["blocks"])
        return ts

    async def identity(self) -> dict[str, str]:
        """Our bot's `bot_id` and `user_id` (auth.test, asked once): how we recognise our own replies."""
        if self._identity is None:
            resp = await self.client.auth_test()
            self._identity = {"bot_id": str(resp.get("bot_id") or ""), "user_id": str(resp.get("user_id") or "")}
        return self._identity

    async def update(self, channel: str, ts: str, payload: dict[str, Any]) -> None:
        await self.client.chat_update(channel=channel, ts=ts, **payload)
        if payload.get("blocks"):
            self.remember(channel, ts, payload["blocks"])

    def remember(self, channel: str, ts: str, blocks: list[dict[str, Any]]) -> None:
        key = (channel, ts)
        self._blocks[key] = blocks
        self._blocks.move_to_end(key)
        while len(self._blocks) > 5000:
            old, _ = self._blocks.popitem(last=False)
            self._locks.pop(old, None)

    def blocks_of(self, channel: str, ts: str, fallback: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Our latest blocks for a message (in memory), else the ones Slack sent with the click."""
        return self._blocks.get((channel, ts), fallback)

    async def current_blocks(self, channel: str, ts: str, fallback: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Our latest blocks for a message: in memory, else as Slack has them now (after a restart, or posted by
        another replica: its status line and spent buttons included), else `fallback`."""
        if (channel, ts) in self._blocks:
            return self._blocks[(channel, ts)]
        try:
            resp = await self.client.conversations_replies(channel=channel, ts=ts, oldest=ts, latest=ts,
                                                           inclusive=True, limit=1)
        except SlackApiError as e:
            log.warning("could not read message %s/%s to update it (%s); rebuilding it from the report", channel,
                        ts, e.response.get("error"))
            return fallback
        found = next((m for m in resp.get("messages") or [] if m.get("ts") == ts and m.get("blocks")), None)
        return list(found["blocks"]) if found else fallback

    def lock(self, channel: str, ts: str) -> asyncio.Lock:
        """One lock per message, so clicks on it update it one at a time; idle locks beyond 5000 are dropped."""
        key = (channel, ts)
        lock = self._locks.pop(key, None) or asyncio.Lock()
        self._locks[key] = lock  # most recently used last
        if len(self._locks) > 5000:
            for old in [k for k, v in self._locks.items() if not v.locked()][: len(self._locks) - 5000]:
                del self._locks[old]
        return lock

    async def aclose(self, drain_timeout_s: float = 30.0) -> None:
        """Finish (or interrupt, after the timeout) running triages, then release resources."""
        cancelled = await self.tracker.drain(drain_timeout_s)
        if cancelled:
            log.warning("shutdown interrupted %d running triage(s)", cancelled)
        await self.state.aclose()
        if self.owns_provider:
            await self.provider.aclose()
        if self.owns_sandboxes:
            await self.sandboxes.aclose()
        session = getattr(self.client, "session", None)
        if session is not None and not session.closed:
            await session.close()
