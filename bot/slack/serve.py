"""`etl-triage serve`: Socket Mode (default when SLACK_APP_TOKEN is set) or `--http --port N`."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import logging
import signal
from dataclasses import replace
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import SettingsError
from bot.settings import Settings
from bot.slack.app import build_bolt_app, build_runtime, make_client
from bot.slack.channels import resolve_alert_channels
from bot.slack.health import SlackLink, add_health_routes, bound_port, start_health
from bot.slack.recovery import sweep_forever
from bot.slack.runtime import Runtime
from bot.store import database_url, open_store
from bot.topology import Topology

if TYPE_CHECKING:  # imported when Socket Mode starts (it pulls in the websocket client)
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"
DRAIN_TIMEOUT_S = 30.0


async def _listening() -> bool:
    return True  # in HTTP mode Slack calls us: being up is being connected


def web_app(app: AsyncApp, rt: Runtime, link: SlackLink | None = None) -> web.Application:
    """POST /slack/events (events, slash commands, interactivity; signatures checked by Bolt → 401),
    GET /healthz and GET /metrics."""

    async def events(request: web.Request) -> web.Response:
        refused = await _refuse_garbage(request, rt.settings.slack_signing_secret or "")
        if refused is not None:
            return refused
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    web_application = web.Application()
    web_application.add_routes([web.post(EVENTS_PATH, events)])
    add_health_routes(web_application, rt, link or SlackLink("http", _listening))
    return web_application


async def _refuse_garbage(request: web.Request, secret: str) -> web.Response | None:
    """401 for a request whose signature does not verify (a missing or non-numeric timestamp included), 400
    for a signed body that is not what Slack sends (UTF-8 JSON, or a form whose payload is JSON); one log
    line each, never a traceback or a 500. None: hand it to Bolt."""
    import json
    from urllib.parse import parse_qs

    peer = request.remote or "?"
    body = await request.read()
    stamp = request.headers.get("X-Slack-Request-Timestamp", "")
    signature = request.headers.get("X-Slack-Signature", "")
    expected = "v0=" + hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    if not stamp.isdigit() or not hmac.compare_digest(expected, signature):
        log.warning("refused an unsigned or badly signed request from %s (401)", peer)
        return web.json_response({"error": "invalid signature"}, status=401)
    try:
        text = body.decode("utf-8")
        if request.content_type == "application/json":
            if not isinstance(json.loads(text), dict):
                raise ValueError("not a JSON object")
        else:
            payload = parse_qs(text).get("payload")
            if payload and not isinstance(json.loads(payload[0]), dict):
                raise ValueError("payload is not a JSON object")
    except ValueError as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        log.warning("refused a signed but malformed request from %s (400): %s", peer, str(e)[:120])
        return web.json_response({"error": "malformed body"}, status=400)
    return None


async def start_http(app: AsyncApp, rt: Runtime, host: str, port: int,
                     link: SlackLink | None = None) -> tuple[web.AppRunner, int]:
    """Start the HTTP server; returns the runner and the bound port (pass port 0 for a free one)."""
    runner = web.AppRunner(web_app(app, rt, link), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, bound_port(site, port)


def _slack_error(e: SlackApiError) -> str:
    data = getattr(e.response, "data", None)
    return str(data.get("error")) if isinstance(data, dict) else str(e)


async def check_bot_token(client: AsyncWebClient) -> bool:
    """auth.test once, so a rejected SLACK_BOT_TOKEN stops startup instead of failing every event later.
    False when Slack could not be reached to check it."""
    try:
        await client.auth_test()
        return True
    except SlackApiError as e:
        raise SettingsError(f"SLACK_BOT_TOKEN was rejected by Slack ({_slack_error(e)}); export the Bot User "
                            "OAuth Token (xoxb-…) from the app's OAuth & Permissions page") from None
    except (TimeoutError, aiohttp.ClientError, OSError) as e:  # network trouble: not the token's fault
        log.warning("could not check SLACK_BOT_TOKEN (auth.test: %s); starting anyway", e)
        return False


async def start_socket_mode(app: AsyncApp, app_token: str, *, ping_interval: float = 10.0
                            ) -> AsyncSocketModeHandler:
    """Connect `app` to Slack over Socket Mode (apps.connections.open with `app_token` on the app's Web API
    client, then the websocket); returns the connected AsyncSocketModeHandler (`close_async()` to stop).

    A rejected app token raises SettingsError (slack-sdk alone would retry it forever); network trouble is
    left to slack-sdk, which retries every `ping_interval` seconds until connected or cancelled."""
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    handler = AsyncSocketModeHandler(app, app_token, ping_interval=ping_interval)
    try:
        try:
            opened = await handler.client.web_client.apps_connections_open(app_token=app_token)
            handler.client.wss_uri = str(opened["url"])  # connect() uses it instead of asking again
        except SlackApiError as e:
            raise SettingsError(f"SLACK_APP_TOKEN was rejected by Slack ({_slack_error(e)}); export the "
                                "app-level token (xapp-…, scope connections:write) from the app's Basic "
                                "Information page") from None
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            log.warning("apps.connections.open failed (%s); retrying every %gs", e, ping_interval)
        await handler.connect_async()
    except BaseException:
        await handler.close_async()
        raise
    return handler


async def serve(args: argparse.Namespace, settings: Settings, topology: Topology) -> int:
    """Run until SIGINT/SIGTERM. `args.health_port` (None: no health listener) serves /healthz and /metrics
    in both modes; HTTP mode serves them on its events port as well."""
    settings.require("slack_bot_token")
    http = bool(getattr(args, "http", False))
    if http:
        settings.require("slack_signing_secret")
    elif not settings.slack_app_token:
        raise SettingsError("SLACK_APP_TOKEN is not set; export it (xapp-…) for Socket Mode, or run "
                            "`etl-triage serve --http --port N` with SLACK_SIGNING_SECRET")
    if not settings.alert_channels:
        log.warning("ETL_TRIAGE_ALERT_CHANNELS is empty: no channel is watched; only /triage works")
    host = str(getattr(args, "host", None) or "0.0.0.0")
    port = int(getattr(args, "port", 3000))
    health_host = str(getattr(args, "health_host", None) or host)
    health_port = getattr(args, "health_port", None)
    link = SlackLink("http" if http else "socket", _listening if http else None)
    client = make_client(settings)
    link.token_verified = await check_bot_token(client)
    # events carry channel ids: names become ids now, or the start stops naming the ones not found
    settings = replace(settings, alert_channels=await resolve_alert_channels(client, settings.alert_channels))
    store = await open_store(database_url(settings.database_url, settings.state_dir))  # StoreError: exit 2
    log.info("state database: %s", store.where)
    rt = build_runtime(settings, topology, store=store)
    app = build_bolt_app(rt)
    sweeper: asyncio.Task[None] | None = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runners: list[web.AppRunner] = []
    try:
        same_as_events = http and int(health_port or 0) == port != 0 and health_host == host
        if health_port is not None and not same_as_events:
            runner, bound = await start_health(rt, link, health_host, int(health_port))
            runners.append(runner)
            log.info("health and metrics on http://%s:%d/healthz and /metrics", health_host, bound,
                     extra={"port": bound, "url": f"http://{health_host}:{bound}/metrics"})
        if http:
            runner, bound = await start_http(app, rt, host, port, link)
            log.info("listening on http://%s:%d%s (GET /healthz, /metrics)", host, bound, EVENTS_PATH,
                     extra={"port": bound, "mode": "http", "url": f"http://{host}:{bound}{EVENTS_PATH}"})
            sweeper = asyncio.create_task(sweep_forever(rt), name="recovery")
            try:
                await stop.wait()
            finally:  # refuse new events before draining, so Slack redelivers them elsewhere or later
                await runner.cleanup()
        else:
            app_token = settings.slack_app_token
            assert app_token, "Socket Mode without SLACK_APP_TOKEN is refused above"
            connecting = asyncio.ensure_future(start_socket_mode(app, app_token))
            stopping = asyncio.ensure_future(stop.wait())
            await asyncio.wait((connecting, stopping), return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not connecting.done():  # SIGINT/SIGTERM while slack-sdk retries the connection: give up
                connecting.cancel()
                await asyncio.gather(connecting, return_exceptions=True)
                return 0
            handler = connecting.result()
            sweeper = asyncio.create_task(sweep_forever(rt), name="recovery")
            link.check = handler.client.is_connected
            log.info("connected to Slack (Socket Mode)", extra={"mode": "socket"})
            try:
                await stop.wait()
            finally:
                link.check = None
                await handler.close_async()
    finally:
        if sweeper is not None:
            sweeper.cancel()
            await asyncio.gather(sweeper, return_exceptions=True)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        log.info("shutting down; waiting up to %gs for %d running triage(s)", DRAIN_TIMEOUT_S, rt.tracker.pending)
        await rt.aclose(DRAIN_TIMEOUT_S)
        for runner in runners:  # the health listener answers (503, not accepting) until the drain is over
            await runner.cleanup()
    return 0
