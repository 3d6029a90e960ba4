"""GET /healthz and GET /metrics, for probes and Prometheus, in Socket Mode as in HTTP mode.

/healthz answers 200 when the bot can do its job and 503 when it cannot (Slack not connected), with a JSON
body saying which part is which: the Slack connection, the store behind deduplication, the sandbox's
enforcement, the triages running and queued.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.errors import SettingsError
from bot.slack.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass
class SlackLink:
    """What /healthz says about Slack. `check` answers "connected now?" (None until there is something
    to ask, e.g. while Socket Mode is still connecting)."""

    mode: str  # "socket" | "http"
    check: Callable[[], Awaitable[bool]] | None = None
    token_verified: bool = False

    async def state(self) -> dict[str, Any]:
        connected = bool(self.check and await self.check())
        return {"mode": self.mode, "connected": connected, "token_verified": self.token_verified}


async def health_report(rt: Runtime, link: SlackLink) -> tuple[bool, dict[str, Any]]:
    slack = await link.state()
    required = bool(rt.topology.pipeline.require_os_enforcement)
    enforcement = str(rt.sandboxes.enforcement)
    sandbox_ok = not required or enforcement == "landlock"
    sandbox = {"enforcement": enforcement, "required": required, "ok": sandbox_ok}
    store: dict[str, Any]
    if rt.state.durable:
        store_ok = not rt.state.degraded
        store = {"kind": "database", "ok": store_ok,
                 "state": "unreachable (answering from memory)" if rt.state.degraded else "ok"}
    else:
        store_ok = True
        store = {"kind": "memory", "ok": store_ok}
    t = rt.tracker
    triages = {"background_tasks": t.pending, "in_flight": t.in_flight, "queued": t.queued, "accepting": not t.closed}
    ok = bool(slack["connected"]) and sandbox_ok and store_ok and not t.closed
    return ok, {"ok": ok, "slack": slack, "store": store, "sandbox": sandbox, "triages": triages}


def add_health_routes(app: web.Application, rt: Runtime, link: SlackLink) -> None:
    async def healthz(_: web.Request) -> web.Response:
        ok, body = await health_report(rt, link)
        return web.json_response(body, status=200 if ok else 503)

    async def metrics(_: web.Request) -> web.Response:
        data, content_type = rt.tracker.metrics.exposition()
        return web.Response(body=data, headers={"Content-Type": content_type})

    app.add_routes([web.get("/healthz", healthz), web.get("/metrics", metrics)])


async def start_health(rt: Runtime, link: SlackLink, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve /healthz and /metrics on host:port (0 = a free port); returns the runner and the bound port."""
    app = web.Application()
    add_health_routes(app, rt, link)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as e:
        await runner.cleanup()
        raise SettingsError(f"cannot listen on {host}:{port} for /healthz and /metrics ({e.strerror}); pass "
                            "--health-port N (0 picks a free port) or stop what holds that port") from None
    return runner, bound_port(site, port)


def bound_port(site: web.TCPSite, requested: int) -> int:
    """The port a started site listens on (the one the OS picked for port 0); `requested` if it cannot say."""
    # aiohttp types the server as AbstractServer, which does not declare the `sockets` every real one has
    sockets = getattr(site._server, "sockets", None)
    return int(sockets[0].getsockname()[1]) if sockets else requested
