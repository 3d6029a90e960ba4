"""A loopback fake of the Slack Web API (aiohttp, port 0) that records every call.

The real `AsyncWebClient(base_url=fake.api_url)` talks to it. It answers like Slack: JSON with `ok`, message
`ts`, `error` on failure, and HTTP 429 with Retry-After when told to. Response URLs (slash commands,
interactivity) are served under `/response/<id>`. `apps.connections.open` (Socket Mode) takes the app token
and answers `socket_url()` (see tests/fakes/slack_socket.py).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from tests.fakes.loopback import serve

BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
TEAM_ID = "T0001"


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    at: float
    status: int = 200
    result: dict[str, Any] = field(default_factory=dict)


@dataclass
class FakeSlackAPI:
    token: str = "xoxb-test"
    app_token: str = "xapp-test"
    socket_url: Callable[[], str] | None = None
    calls: list[Call] = field(default_factory=list)
    failures: dict[str, list[tuple[int, dict[str, Any], dict[str, str]]]] = field(default_factory=dict)
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    history: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)   # (channel, ts) → a message
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Condition | None = None
    _runner: web.AppRunner | None = None
    port: int = 0

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> FakeSlackAPI:
        self._changed = asyncio.Condition()
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/response/{rid}", self._response_url)
        self._runner, self.port = await serve(app)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, rid: str = "r1") -> str:
        return f"http://127.0.0.1:{self.port}/response/{rid}"

    # ------------------------------------------------------------------ scripting

    def fail_next(self, method: str, status: int = 200, error: str | None = None,
                  retry_after: int | None = None) -> None:
        """Make the next call of `method` fail: HTTP `status` (429 → Retry-After) or `ok: false, error`."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        body = {"ok": False, "error": error or ("ratelimited" if status == 429 else "internal_error")}
        self.failures.setdefault(method, []).append((status, body, headers))

    def of(self, method: str, ok_only: bool = True) -> list[Call]:
        return [c for c in self.calls if c.method == method and (c.status == 200 or not ok_only)]

    def dump(self) -> str:
        return json.dumps([{"method": c.method, "args": c.args} for c in self.calls], ensure_ascii=False)

    async def wait_for(self, predicate: Callable[[FakeSlackAPI], Any], timeout: float = 10.0) -> Any:  # noqa: ASYNC109
        """Until `predicate(self)` is truthy (re-checked after every recorded call); returns its value."""
        assert self._changed is not None
        async with asyncio.timeout(timeout), self._changed:
            while not (result := predicate(self)):
                await self._changed.wait()
            return result

    # ------------------------------------------------------------------ handlers

    async def _record(self, call: Call) -> None:
        self.calls.append(call)
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    async def _args(self, request: web.Request) -> dict[str, Any]:
        raw = await request.text()
        if request.content_type == "application/json":
            args = json.loads(raw or "{}")
        else:
            args = dict(parse_qsl(raw))
            args.update(dict(request.query))
        for key in ("blocks", "attachments"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        return args

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._args(request)
        queued = self.failures.get(method)
        if queued:
            status, body, headers = queued.pop(0)
            await self._record(Call(method, args, time.monotonic(), status))
            return web.json_response(body, status=status, headers=headers)
        if method == "apps.connections.open":
            body = self._connections_open(request.headers.get("Authorization", ""))
            await self._record(Call(method, args, time.monotonic(), result=body))
            return web.json_response(body)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            await self._record(Call(method, args, time.monotonic(), 401))
            return web.json_response({"ok": False, "error": "invalid_auth"})
        body = self._answer(method, args)
        await self._record(Call(method, args, time.monotonic(), result=body))
        return web.json_response(body)

    def _connections_open(self, authorization: str) -> dict[str, Any]:
        """Like Slack: a bot token is the wrong type, an unknown one is invalid, the app token gets a URL."""
        if authorization == f"Bearer {self.token}":
            return {"ok": False, "error": "not_allowed_token_type"}
        if authorization != f"Bearer {self.app_token}" or self.socket_url is None:
            return {"ok": False, "error": "invalid_auth"}
        return {"ok": True, "url": self.socket_url()}

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "url": "https://acme.slack.com/", "team": "Acme", "user": "etl-triage",
                    "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID}
        if method == "chat.postMessage":
            ts = f"{1_700_000_000 + next(self._ts)}.000100"
            msg = {"type": "message", "ts": ts, "text": args.get("text", ""), "blocks": args.get("blocks", []),
                   "bot_id": BOT_ID, "user": BOT_USER_ID}
            if args.get("thread_ts"):
                msg["thread_ts"] = args["thread_ts"]
            self.messages[(args["channel"], ts)] = msg
            return {"ok": True, "channel": args["channel"], "ts": ts, "message": msg}
        if method == "chat.update":
            key = (args["channel"], args["ts"])
            if key not in self.messages:
                return {"ok": False, "error": "message_not_found"}
            self.messages[key].update({"text": args.get("text", ""), "blocks": args.get("blocks", [])})
            return {"ok": True, "channel": args["channel"], "ts": args["ts"], "text": args.get("text", "")}
        if method == "chat.getPermalink":
            ts = str(args.get("message_ts", "")).replace(".", "")
            return {"ok": True, "channel": args.get("channel"),
                    "permalink": f"https://acme.slack.com/archives/{args.get('channel')}/p{ts}"}
        if method == "conversations.replies":
            parent = self.history.get((args.get("channel"), args.get("ts")))
            if parent is None:
                return {"ok": False, "error": "thread_not_found"}
            return {"ok": True, "messages": [parent], "has_more": False}
        if method in ("reactions.add", "chat.postEphemeral"):
            return {"ok": True}
        return {"ok": False, "error": "unknown_method"}

    async def _response_url(self, request: web.Request) -> web.Response:
        args = await self._args(request)
        await self._record(Call("response_url", args, time.monotonic()))
        return web.Response(text="ok")
