"""Serve an aiohttp application on a free loopback port."""

from __future__ import annotations

from aiohttp import web


async def serve(app: web.Application, **runner_kw: object) -> tuple[web.AppRunner, int]:
    """Start `app` on 127.0.0.1 with a port the kernel picks; returns the runner (to clean up) and the port."""
    runner = web.AppRunner(app, **runner_kw)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
