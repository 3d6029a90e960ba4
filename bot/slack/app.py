"""`build_app(settings, topology, …) -> AsyncApp`: the Slack bot, wired. Nothing happens at import."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections.abc import Callable

from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.metrics import Metrics, SlackCallObserver
from bot.providers.base import Provider
from bot.sandbox import SandboxManager
from bot.settings import Settings
from bot.slack.corrections import register_corrections
from bot.slack.listeners import register
from bot.slack.runtime import Pacing, Runtime
from bot.slack.state import State
from bot.slack.tasks import TaskTracker
from bot.store import Store
from bot.topology import Topology


def make_client(settings: Settings, metrics: Metrics | None = None) -> AsyncWebClient:
    """The Web API client: SLACK_BOT_TOKEN, SLACK_API_URL, retries on 429 (Retry-After), 5xx and resets;
    failed responses and 429s are counted in `metrics`."""
    token = settings.require("slack_bot_token")
    base_url = settings.slack_api_url or AsyncWebClient.BASE_URL
    return AsyncWebClient(
        token=token,
        base_url=base_url if base_url.endswith("/") else base_url + "/",
        retry_handlers=[
            *([SlackCallObserver(metrics)] if metrics else []),
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=5),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def build_runtime(settings: Settings, topology: Topology, *, client: AsyncWebClient | None = None,
                  provider: Provider | None = None, sandboxes: SandboxManager | None = None,
                  clock: Callable[[], float] | None = None, pacing: Pacing | None = None,
                  store: Store | None = None, owns_store: bool = True) -> Runtime:
    """The bot's long-lived state (one SandboxManager and provider for the app's lifetime). Without a `store`,
    what it remembers lives in memory only (lost at restart)."""
    from bot.providers import get_provider

    own_provider, own_sandboxes = provider is None, sandboxes is None
    if provider is None:
        provider = get_provider(settings.provider)
    if sandboxes is None:
        sandboxes = SandboxManager.for_topology(topology)  # honours require_os_enforcement and [redaction]
    metrics = Metrics()
    return Runtime(
        settings=settings, topology=topology, client=client or make_client(settings, metrics), provider=provider,
        sandboxes=sandboxes, pacing=pacing or Pacing(post_interval_s=settings.post_interval_s),
        clock=clock or time.time,
        tracker=TaskTracker(settings.max_concurrent_triages, metrics),
        state=State(store, owner=replica_id(), lease_s=max(0.5, settings.lease_s), owns_store=owns_store),
        owns_provider=own_provider, owns_sandboxes=own_sandboxes,
    )


def replica_id() -> str:
    """Who holds a lease: host, process and a random suffix (a restarted process never reuses one)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class _DropTokenUnused(logging.Filter):
    """Bolt warns "`token` will be unused" whenever SLACK_BOT_TOKEN is exported and a client is passed, which
    is always our case (the client carries that very token): drop that one line, keep every other."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def bolt_logger() -> logging.Logger:
    """The logger Bolt uses for the app (its base logger), with the spurious warning filtered out."""
    logger = logging.getLogger("slack_bolt.etl_triage")
    if not any(isinstance(f, _DropTokenUnused) for f in logger.filters):
        logger.addFilter(_DropTokenUnused())
    return logger


def build_bolt_app(rt: Runtime) -> AsyncApp:
    app = AsyncApp(
        client=rt.client,
        signing_secret=rt.settings.slack_signing_secret or "",
        name="etl-triage",
        process_before_response=False,
        logger=bolt_logger(),
    )
    register(app, rt)
    register_corrections(app, rt)
    return app


def build_app(settings: Settings, topology: Topology, *, client: AsyncWebClient | None = None,
              provider: Provider | None = None, sandboxes: SandboxManager | None = None,
              clock: Callable[[], float] | None = None, pacing: Pacing | None = None) -> AsyncApp:
    """A Bolt AsyncApp with the listeners registered. Use `build_runtime` + `build_bolt_app` when you
    also need to drain running triages on shutdown (`Runtime.aclose`), as `serve` does."""
    return build_bolt_app(build_runtime(settings, topology, client=client, provider=provider,
                                        sandboxes=sandboxes, clock=clock, pacing=pacing))
