"""A loopback fake of Slack's Socket Mode (aiohttp websocket, port 0) plus a bot connected to it.

Protocol, as slack_sdk.socket_mode.aiohttp speaks it: the client calls `apps.connections.open` with the app
token (answered by `FakeSlackAPI`, whose `socket_url` is `FakeSocketMode.issue_url`), connects to the
returned ws:// URL, gets `{"type": "hello"}`, then receives envelopes
`{"envelope_id", "type", "payload", "accepts_response_payload", "retry_attempt", "retry_reason"}` and answers
each with `{"envelope_id": …[, "payload": …]}` (the ack). Slack asks for a reconnect with
`{"type": "disconnect", "reason": "refresh_requested"}` or just closes the socket.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from bot.settings import Settings
from bot.slack.app import build_bolt_app, build_runtime
from bot.slack.runtime import Pacing, Runtime
from bot.slack.serve import start_socket_mode
from bot.store import open_store
from tests.fakes.loopback import serve
from tests.fakes.slack_api import TEAM_ID, FakeSlackAPI
from tests.fakes.slack_world import ALERTS, OTHER, make_topology


@dataclass
class Connection:
    ticket: str
    ws: web.WebSocketResponse
    received: list[dict[str, Any]] = field(default_factory=list)
    pings: int = 0
    muted: bool = False  # stops answering pings, like a half-open connection


@dataclass
class FakeSocketMode:
    """Issues ws:// URLs, sends envelopes to the newest connection, records what the client sends back."""

    connections: list[Connection] = field(default_factory=list)
    acks: dict[str, dict[str, Any]] = field(default_factory=dict)
    issued: list[str] = field(default_factory=list)
    refused: int = 0
    port: int = 0
    _n: itertools.count = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Condition | None = None
    _runner: web.AppRunner | None = None

    async def start(self) -> FakeSocketMode:
        self._changed = asyncio.Condition()
        app = web.Application()
        app.router.add_get("/link/", self._link)
        self._runner, self.port = await serve(app)
        return self

    async def stop(self) -> None:
        for conn in self.connections:
            await conn.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def stale_url(self) -> str:
        """A URL whose handshake is refused (HTTP 401), like an expired one."""
        return f"ws://127.0.0.1:{self.port}/link/?ticket=expired&app_id=A1"

    def issue_url(self) -> str:
        """A fresh single-use URL, as `apps.connections.open` returns."""
        ticket = f"t{next(self._n)}"
        self.issued.append(ticket)
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id=A1"

    async def wait_for(self, predicate: Callable[[FakeSocketMode], Any], timeout: float = 10.0) -> Any:  # noqa: ASYNC109
        """Until `predicate(self)` is truthy (re-checked after every connection and message); returns it."""
        assert self._changed is not None
        async with asyncio.timeout(timeout), self._changed:
            while not (result := predicate(self)):
                await self._changed.wait()
            return result

    def live(self) -> list[Connection]:
        return [c for c in self.connections if not c.ws.closed]

    async def connected(self, n: int = 1) -> Connection:
        """The `n`-th connection, once it is open (hello sent)."""
        return await self.wait_for(lambda s: len(s.connections) >= n and not s.connections[n - 1].ws.closed
                                   and s.connections[n - 1])

    # ------------------------------------------------------------------ scripting

    async def send(self, kind: str, payload: dict[str, Any], *, retry_attempt: int = 0,
                   retry_reason: str = "", accepts_response_payload: bool = False) -> str:
        """Send one envelope on the newest open connection; returns its envelope_id."""
        conn = self.live()[-1]
        envelope_id = f"env-{next(self._n)}"
        await conn.ws.send_json({"envelope_id": envelope_id, "type": kind, "payload": payload,
                                 "accepts_response_payload": accepts_response_payload,
                                 "retry_attempt": retry_attempt, "retry_reason": retry_reason})
        return envelope_id

    async def ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:  # noqa: ASYNC109
        return await self.wait_for(lambda s: s.acks.get(envelope_id), timeout)

    async def drop(self, *, refresh_requested: bool) -> None:
        """End the newest connection: Slack's `disconnect` message first, or just close the socket."""
        conn = self.live()[-1]
        if refresh_requested:
            await conn.ws.send_json({"type": "disconnect", "reason": "refresh_requested",
                                     "debug_info": {"host": "fake"}})
        else:
            await conn.ws.close()

    # ------------------------------------------------------------------ server

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    async def _link(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self.issued:
            self.refused += 1
            await self._notify()
            raise web.HTTPUnauthorized(text="unknown ticket")
        self.issued.remove(ticket)  # single use, like Slack's
        ws = web.WebSocketResponse(autoping=False)  # pings answered below, unless muted
        await ws.prepare(request)
        conn = Connection(ticket, ws)
        await ws.send_json({"type": "hello", "num_connections": len(self.live()) + 1,
                            "debug_info": {"host": "fake", "approximate_connection_time": 18060},
                            "connection_info": {"app_id": "A1"}})
        self.connections.append(conn)
        await self._notify()
        async for msg in ws:
            if msg.type == WSMsgType.PING:
                conn.pings += 1
                if not conn.muted:
                    await ws.pong(msg.data)
                await self._notify()
                continue
            if msg.type != WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            conn.received.append(data)
            if "envelope_id" in data:
                self.acks.setdefault(data["envelope_id"], data)
            await self._notify()
        await self._notify()
        return ws


# ---------------------------------------------------------------------- a bot connected over Socket Mode


@dataclass
class SocketWorld:
    api: FakeSlackAPI
    socket: FakeSocketMode
    rt: Runtime
    handler: AsyncSocketModeHandler
    _n: int = 0

    own_fakes: bool = True

    @classmethod
    async def start(cls, tmp: Path, *, ping_interval: float = 10.0, api: FakeSlackAPI | None = None,
                    socket: FakeSocketMode | None = None, store_url: str | None = None) -> SocketWorld:
        """A bot over Socket Mode; pass `api` and `socket` (and the same tmp or `store_url`) for a restart."""
        own = api is None
        api = api or await FakeSlackAPI().start()
        socket = socket or await FakeSocketMode().start()
        api.socket_url = socket.issue_url
        settings = Settings(slack_bot_token=api.token, slack_app_token=api.app_token, slack_api_url=api.api_url,
                            alert_channels=frozenset({ALERTS}))
        store = await open_store(store_url or f"sqlite:///{tmp / 'state' / 'etl-triage.db'}")
        rt = build_runtime(settings, make_topology(tmp), pacing=Pacing(0, 0), store=store)
        seen = len(socket.connections)
        handler = await start_socket_mode(build_bolt_app(rt), api.app_token, ping_interval=ping_interval)
        await socket.connected(seen + 1)
        return cls(api, socket, rt, handler, own_fakes=own)

    async def close(self) -> None:
        await self.handler.close_async()
        await self.rt.aclose(10)
        if self.own_fakes:
            await self.socket.stop()
            await self.api.stop()

    async def idle(self) -> None:
        await self.rt.tracker.wait_idle()

    def event_envelope(self, event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
        self._n += 1
        event = {"type": "message", "channel": ALERTS, "ts": f"1700000{self._n:03d}.000200", **event}
        return {"token": "x", "team_id": TEAM_ID, "api_app_id": "A1", "type": "event_callback",
                "event_id": event_id or f"Ev{self._n}", "event_time": 1700000000, "event": event,
                "authorizations": [{"team_id": TEAM_ID, "user_id": "UBOT", "is_bot": True}]}

    def command_payload(self, text: str, channel: str = OTHER) -> dict[str, str]:
        return {"token": "x", "team_id": TEAM_ID, "channel_id": channel, "channel_name": "ops",
                "user_id": "UALICE", "user_name": "alice", "command": "/triage", "text": text, "api_app_id": "A1",
                "response_url": self.api.response_url(), "trigger_id": "1.2.3", "is_enterprise_install": "false"}

    def thread_messages(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        return [m for (ch, _), m in self.api.messages.items() if ch == channel and m.get("thread_ts") == thread_ts]


__all__ = ["Connection", "FakeSocketMode", "SocketWorld"]
