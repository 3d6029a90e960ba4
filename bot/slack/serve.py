"""`etl-triage serve`: Socket Mode (default when SLACK_APP_TOKEN is set) or `--http --port N`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from bot.errors import SettingsError
from bot.settings import Settings
from bot.slack.app import build_bolt_app, build_runtime
from bot.slack.runtime import Runtime
from bot.topology import Topology

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"
DRAIN_TIMEOUT_S = 30.0


def web_app(app: AsyncApp, rt: Runtime) -> web.Application:
    """POST /slack/events (events, slash commands, interactivity; signatures checked by Bolt → 401),
    GET /healthz."""

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True, "running_triages": rt.tracker.pending})

    web_application = web.Application()
    web_application.add_routes([web.post(EVENTS_PATH, events), web.get("/healthz", healthz)])
    return web_application


async def start_http(app: AsyncApp, rt: Runtime, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Start the HTTP server; returns the runner and the bound port (pass port 0 for a free one)."""
    runner = web.AppRunner(web_app(app, rt))
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1] if site._server and site._server.sockets else port
    return runner, int(bound)


async def serve(args: argparse.Namespace, settings: Settings, topology: Topology) -> int:
    settings.require("slack_bot_token")
    http = bool(getattr(args, "http", False))
    if http:
        settings.require("slack_signing_secret")
    elif not settings.slack_app_token:
        raise SettingsError("SLACK_APP_TOKEN is not set; export it (xapp-…) for Socket Mode, or run "
                            "`etl-triage serve --http --port N` with SLACK_SIGNING_SECRET")
    if not settings.alert_channels:
        log.warning("ETL_TRIAGE_ALERT_CHANNELS is empty: no channel is watched; only /triage works")
    rt = build_runtime(settings, topology)
    app = build_bolt_app(rt)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if http:
            runner, port = await start_http(app, rt, "0.0.0.0", int(getattr(args, "port", 3000)))
            print(f"etl-triage: listening on http://0.0.0.0:{port}{EVENTS_PATH} (GET /healthz)", flush=True)
            try:
                await stop.wait()
            finally:
                await runner.cleanup()
        else:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            handler = AsyncSocketModeHandler(app, settings.slack_app_token)
            await handler.connect_async()
            print("etl-triage: connected to Slack (Socket Mode)", flush=True)
            try:
                await stop.wait()
            finally:
                await handler.close_async()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        print(f"etl-triage: shutting down; waiting up to {DRAIN_TIMEOUT_S:g}s for "
              f"{rt.tracker.pending} running triage(s)", flush=True)
        await rt.aclose(DRAIN_TIMEOUT_S)
    return 0
