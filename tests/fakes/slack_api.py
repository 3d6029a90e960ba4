"""A loopback fake of the Slack Web API (aiohttp, port 0) that records every call.

The real `AsyncWebClient(base_url=fake.api_url)` talks to it. It answers like Slack: JSON with `ok`, message
`ts`, `error` on failure, and HTTP 429 with Retry-After when told to. Response URLs (slash commands,
interactivity) are served under `/response/<id>`. Channel history (`conversations.history`, `.replies`) is
what `add_message` put there plus what the bot posted; `conversations.list` shows the channels `add_channel` made
(archived ones only without `exclude_archived`), at most `list_page` a page, with a cursor. `stall(method)` holds
that method's calls unanswered (and never applied), as a process killed mid-call leaves them.
`apps.connections.open` (Socket Mode) takes the app token and answers `socket_url()` (see tests/fakes/slack_socket.py).
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
    reactions: set[tuple[str, str, str]] = field(default_factory=set)
    stalled: set[str] = field(default_factory=set)
    slowed: list[tuple[str, float, dict[str, Any]]] = field(default_factory=list)
    channels: list[dict[str, Any]] = field(default_factory=list)
    list_page: int = 1000              # conversations.list: Slack may return fewer than `limit` per page
    list_cursor: str | None = None     # conversations.list: hand out this next_cursor on every page (a stuck walk)
    _changed: asyncio.Condition | None = None
    _unstalled: asyncio.Event | None = None
    _runner: web.AppRunner | None = None
    port: int = 0

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> FakeSlackAPI:
        self._changed = asyncio.Condition()
        self._unstalled = asyncio.Event()
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/response/{rid}", self._response_url)
        self._runner, self.port = await serve(app)
        return self

    async def stop(self) -> None:
        self.unstall()
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

    def slow(self, method: str, seconds: float, **match: Any) -> None:
        """Answer `method` calls whose arguments include `match` only after `seconds` (a slow Slack edge)."""
        self.slowed.append((method, seconds, match))

    def stall(self, method: str) -> None:
        """Hold every call of `method` unanswered until `unstall()`; held calls are then refused, not applied."""
        self.stalled.add(method)

    def unstall(self) -> None:
        self.stalled.clear()
        if self._unstalled is not None:
            self._unstalled.set()
            self._unstalled = asyncio.Event()

    def add_message(self, channel: str, text: str = "", *, ts: str | None = None, **fields: Any) -> str:
        """A message posted in `channel` by someone else (an alerting app, a person); returns its ts."""
        ts = ts or f"{time.time():.6f}"
        while (channel, ts) in self.messages:
            ts = f"{float(ts) + 0.000001:.6f}"
        self.messages[(channel, ts)] = {"type": "message", "ts": ts, "text": text, **fields}
        return ts

    def add_channel(self, name: str, id: str, *, private: bool = False, archived: bool = False,
                    member: bool = True) -> None:
        """A channel of the workspace, as conversations.list shows it to the bot."""
        self.channels.append({"id": id, "name": name, "is_channel": not private, "is_group": private,
                              "is_private": private, "is_archived": archived, "is_member": member})

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
        for name, seconds, match in self.slowed:
            if name == method and all(str(args.get(k)) == str(v) for k, v in match.items()):
                await asyncio.sleep(seconds)
        if method in self.stalled and self._unstalled is not None:
            await self._record(Call(method, args, time.monotonic(), 0))
            await self._unstalled.wait()
            return web.json_response({"ok": False, "error": "fatal_error"})
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
        if method == "reactions.add":
            key = (args.get("channel", ""), args.get("timestamp", ""), args.get("name", ""))
            if key in self.reactions:
                return {"ok": False, "error": "already_reacted"}
            self.reactions.add(key)
            return {"ok": True}
        if method == "chat.postEphemeral":
            return {"ok": True}
        if method == "conversations.list":
            return self._list(args)
        if method == "conversations.history":
            return self._history(args)
        if method == "conversations.replies":
            return self._replies(args)
        if method == "views.open":
            if not args.get("trigger_id"):
                return {"ok": False, "error": "invalid_trigger_id"}
            view = args.get("view")
            view = json.loads(view) if isinstance(view, str) else view
            return {"ok": True, "view": {"id": f"V{next(self._ts)}", **(view or {})}}
        return {"ok": False, "error": "unknown_method"}

    def _thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        replies = [m for (ch, _), m in self.messages.items() if ch == channel and m.get("thread_ts") == ts
                   and m["ts"] != ts]
        return sorted(replies, key=lambda m: float(m["ts"]))

    def _page(self, items: list[dict[str, Any]], args: dict[str, Any], key: str = "messages",
              most: int = 1000) -> dict[str, Any]:
        start = int(args.get("cursor") or 0)
        limit = min(int(args.get("limit") or 100), most)
        page = items[start:start + limit]
        more = start + limit < len(items)
        return {"ok": True, key: page, "has_more": more,
                "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    def _list(self, args: dict[str, Any]) -> dict[str, Any]:
        """Like Slack for a bot token: public channels, and private ones only where the bot is a member."""
        types = str(args.get("types") or "public_channel").split(",")
        keep_archived = str(args.get("exclude_archived", "")).lower() not in ("1", "true")
        shown = [c for c in self.channels if ("private_channel" if c["is_private"] else "public_channel") in types
                 and (keep_archived or not c["is_archived"]) and (c["is_member"] or not c["is_private"])]
        page = self._page(shown, args, "channels", self.list_page)
        if self.list_cursor is not None:
            page["response_metadata"]["next_cursor"] = self.list_cursor
        return page

    def _history(self, args: dict[str, Any]) -> dict[str, Any]:
        """Top-level messages, newest first, with `reply_count` for thread parents."""
        channel = args.get("channel", "")
        oldest, latest = float(args.get("oldest") or 0), float(args.get("latest") or 1e12)
        top = []
        for (ch, ts), m in self.messages.items():
            if ch != channel or (m.get("thread_ts") and m["thread_ts"] != ts) or not oldest < float(ts) <= latest:
                continue
            count = len(self._thread(channel, ts))
            top.append({**m, **({"reply_count": count, "thread_ts": ts} if count else {})})
        top.sort(key=lambda m: float(m["ts"]), reverse=True)
        return self._page(top, args)

    def _replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = args.get("channel", ""), str(args.get("ts", ""))
        parent = self.messages.get((channel, ts)) or self.history.get((channel, ts))
        replies = self._thread(channel, ts)
        if parent is None and not replies:
            return {"ok": False, "error": "thread_not_found"}
        items = ([parent] if parent else []) + replies
        if args.get("oldest") or args.get("latest"):
            lo, hi = float(args.get("oldest") or 0), float(args.get("latest") or 1e12)
            items = [m for m in items if lo <= float(m["ts"]) <= hi]
        return self._page(items, args)

    async def _response_url(self, request: web.Request) -> web.Response:
        args = await self._args(request)
        await self._record(Call("response_url", args, time.monotonic()))
        return web.Response(text="ok")
