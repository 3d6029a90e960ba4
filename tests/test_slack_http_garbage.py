"""HTTP mode: unauthenticated or malformed requests get 400/401 and one log line, never a 500 or a traceback."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time

import pytest

from tests.fakes.slack_world import SECRET, SlackWorld


def _signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    stamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


CASES = [
    ("non-numeric timestamp", b"{}", "application/json",
     {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=00"}, 401),
    ("no signature", b"{}", "application/json", {}, 401),
    ("wrong secret", b"{}", "application/json", _signed(b"{}", "not-the-secret"), 401),
    ("signed non-JSON", b"not json{", "application/json", None, 400),
    ("signed JSON array", b"[1, 2]", "application/json", None, 400),
    ("signed bad form payload", b"payload=%7Bnot", "application/x-www-form-urlencoded", None, 400),
    ("signed non-UTF-8", b"\xff\xfe{}", "application/json", None, 400),
]


@pytest.mark.parametrize(("body", "ctype", "headers", "status"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_slack_http_garbage_is_refused_with_one_log_line(tmp_path, caplog, body, ctype, headers, status):
    world = await SlackWorld.start(tmp_path)
    try:
        caplog.clear()
        with caplog.at_level(logging.INFO):
            h = {"Content-Type": ctype, **(_signed(body) if headers is None else headers)}
            async with world.session.post(world.url + "/slack/events", data=body, headers=h) as resp:
                assert resp.status == status
            async with world.session.get(world.url + "/healthz") as health:
                assert health.status == 200
        records = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(records) == 1 and records[0].exc_info is None, [r.getMessage() for r in records]
        assert str(status) in records[0].getMessage()
    finally:
        await world.close()
