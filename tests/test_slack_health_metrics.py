"""`serve` answers /healthz and /metrics at the wire, in Socket Mode and in HTTP mode, with the real bot behind
them (fake Slack Web API + fake Socket Mode on loopback, free ports)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.settings import Settings
from bot.slack.serve import EVENTS_PATH, serve
from tests.fakes.slack_api import TEAM_ID, FakeSlackAPI
from tests.fakes.slack_socket import FakeSocketMode
from tests.fakes.slack_world import ALERTS, SECRET, make_topology, sign

AIRFLOW_TEXT = "Task Failed. *Dag*: orders_daily *Task*: load_orders *Run ID*: scheduled__2026-11-19T02:00:00"


class Announcements(logging.Handler):
    """Collects serve's start-up lines (they carry the bound `port`) and wakes whoever waits for one."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []
        self.changed = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.changed.set()

    async def wait(self, starts: str) -> logging.LogRecord:
        async with asyncio.timeout(10):
            while True:
                found = [r for r in self.records if r.getMessage().startswith(starts)]
                if found:
                    return found[0]
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
def announced():
    h = Announcements()
    logger = logging.getLogger("bot.slack.serve")
    old = logger.level
    logger.addHandler(h)
    logger.setLevel(logging.INFO)
    yield h
    logger.removeHandler(h)
    logger.setLevel(old)


@pytest.fixture
async def api():
    fake = await FakeSlackAPI().start()
    yield fake
    await fake.stop()


def _settings(api: FakeSlackAPI, **kw: Any) -> Settings:
    return Settings(slack_bot_token=api.token, slack_app_token=api.app_token, slack_api_url=api.api_url,
                    alert_channels=frozenset({ALERTS}), **kw)


def _event(ts: str) -> dict[str, Any]:
    return {"token": "x", "team_id": TEAM_ID, "api_app_id": "A1", "type": "event_callback", "event_id": f"Ev{ts}",
            "event_time": 1700000000, "event": {"type": "message", "channel": ALERTS, "ts": ts, "text": AIRFLOW_TEXT,
                                                "user": "UHUMAN"}}


def _report_posted(api: FakeSlackAPI) -> bool:
    return any(b.get("block_id") == "triage_actions" for c in api.of("chat.update") for b in c.args.get("blocks", []))


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, str, str]:
    async with session.get(url) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


def _samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of a Prometheus exposition, parsed by prometheus-client's own parser."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def _value(samples: dict[tuple[str, frozenset], float], name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= ls)


async def _stop(task: asyncio.Task) -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    assert await asyncio.wait_for(task, 15) == 0


async def test_serve_socket_mode_health_and_metrics_on_the_health_port(tmp_path, api, announced):
    socket = await FakeSocketMode().start()
    api.socket_url = socket.issue_url
    api.fail_next("reactions.add", error="missing_scope")  # a Slack API error, counted
    args = argparse.Namespace(http=False, port=0, health_port=0, health_host="127.0.0.1")
    task = asyncio.create_task(serve(args, _settings(api, state_dir=str(tmp_path / "state")), make_topology(tmp_path)))
    session = aiohttp.ClientSession()
    try:
        health = (await announced.wait("health and metrics on")).port
        await announced.wait("connected to Slack")
        status, _, body = await _get(session, f"http://127.0.0.1:{health}/healthz")
        report = json.loads(body)
        assert status == 200 and report["ok"] is True
        assert report["slack"] == {"mode": "socket", "connected": True, "token_verified": True}
        assert report["sandbox"]["enforcement"] in ("landlock", "in-process")
        assert report["store"]["ok"] is True

        eid = await socket.send("events_api", _event("1700000042.000200"))
        await socket.ack(eid)
        await api.wait_for(_report_posted)
        again = await socket.send("events_api", _event("1700000042.000200"), retry_attempt=1, retry_reason="timeout")
        await socket.ack(again)

        for _ in range(100):  # the redelivery is claimed (and refused) asynchronously: wait for it to be seen
            status, content_type, text = await _get(session, f"http://127.0.0.1:{health}/metrics")
            m = _samples(text)
            if _value(m, "etl_triage_dedup_hits_total", kind="event"):
                break
            await asyncio.sleep(0.1)
        assert status == 200 and content_type.startswith("text/plain")
        assert _value(m, "etl_triage_triages_total", provider="offline", outcome="ok") == 1
        assert _value(m, "etl_triage_stage_duration_seconds_count", stage="classify", status="ok") == 1
        assert _value(m, "etl_triage_stage_duration_seconds_count", stage="recommend") == 1
        assert _value(m, "etl_triage_dedup_hits_total", kind="event") == 1
        assert _value(m, "etl_triage_slack_api_errors_total", method="reactions.add", error="missing_scope") == 1
        assert _value(m, "etl_triage_triages_in_flight") == 0 and _value(m, "etl_triage_triages_queued") == 0
        assert ("etl_triage_fallbacks_total" in text) and ("etl_triage_model_tokens_total" in text)
        await _stop(task)
    finally:
        task.cancel()
        await session.close()
        await socket.stop()


async def test_serve_socket_mode_healthz_is_503_while_slack_is_not_connected(tmp_path, api, announced):
    socket = await FakeSocketMode().start()
    api.socket_url = socket.stale_url  # every handshake refused: slack-sdk keeps retrying
    args = argparse.Namespace(http=False, port=0, health_port=0, health_host="127.0.0.1")
    task = asyncio.create_task(serve(args, _settings(api, state_dir=str(tmp_path / "state")), make_topology(tmp_path)))
    session = aiohttp.ClientSession()
    try:
        health = (await announced.wait("health and metrics on")).port
        await socket.wait_for(lambda s: s.refused >= 1)
        status, _, body = await _get(session, f"http://127.0.0.1:{health}/healthz")
        assert status == 503
        assert json.loads(body)["slack"]["connected"] is False
        await _stop(task)
    finally:
        task.cancel()
        await session.close()
        await socket.stop()


async def test_serve_http_mode_health_and_metrics_on_both_ports_and_429s_counted(tmp_path, api, announced):
    api.fail_next("chat.postMessage", status=429, retry_after=0)  # retried by slack-sdk after Retry-After
    args = argparse.Namespace(http=True, host="127.0.0.1", port=0, health_port=0, health_host="127.0.0.1")
    settings = _settings(api, slack_signing_secret=SECRET, state_dir=str(tmp_path / "state"))
    task = asyncio.create_task(serve(args, settings, make_topology(tmp_path)))
    session = aiohttp.ClientSession()
    try:
        health = (await announced.wait("health and metrics on")).port
        events = (await announced.wait("listening on")).port
        body = json.dumps(_event("1700000043.000200"))
        headers = {"Content-Type": "application/json", **sign(body)}
        async with session.post(f"http://127.0.0.1:{events}{EVENTS_PATH}", data=body, headers=headers) as resp:
            assert resp.status == 200
        await api.wait_for(_report_posted)
        for port in (health, events):
            status, _, text = await _get(session, f"http://127.0.0.1:{port}/healthz")
            assert status == 200 and json.loads(text)["slack"]["mode"] == "http"
            status, _, text = await _get(session, f"http://127.0.0.1:{port}/metrics")
            m = _samples(text)
            assert status == 200
            assert _value(m, "etl_triage_triages_total", outcome="ok") == 1
            assert _value(m, "etl_triage_slack_rate_limited_total", method="chat.postMessage") == 1
        await _stop(task)
    finally:
        task.cancel()
        await session.close()


def test_metrics_count_fallbacks_tokens_and_partial_reports():
    from bot.contract import Escalation, StageResult, TriageReport
    from bot.metrics import Metrics

    stages = [StageResult(name="classify", status="ok", output_kind="classification", provider="anthropic",
                          model="claude-haiku-4-5", input_tokens=1200, output_tokens=80, duration_ms=900),
              StageResult(name="investigate", status="ok", output_kind="investigation", provider="offline",
                          fallback="model timed out", duration_ms=40),
              StageResult(name="recommend", status="failed", output_kind="recommendation", provider="anthropic",
                          duration_ms=20)]
    report = TriageReport(job="j", category="infra", confidence=0.7, root_cause="r", action="a",
                          escalation=Escalation(team="t"), stages=stages, provider="anthropic", duration_ms=960,
                          complete=False)
    m = Metrics()
    m.observe_report(report)
    m.observe_failure("anthropic", "log_not_found")
    s = _samples(m.exposition()[0].decode())
    assert _value(s, "etl_triage_triages_total", category="infra", outcome="partial") == 1
    assert _value(s, "etl_triage_triages_total", category="none", outcome="log_not_found") == 1
    assert _value(s, "etl_triage_fallbacks_total", stage="investigate") == 1
    assert _value(s, "etl_triage_fallbacks_total", stage="classify") == 0
    assert _value(s, "etl_triage_model_tokens_total", model="claude-haiku-4-5", direction="input") == 1200
    assert _value(s, "etl_triage_model_tokens_total", model="claude-haiku-4-5", direction="output") == 80
    assert _value(s, "etl_triage_stage_duration_seconds_count", stage="recommend", status="failed") == 1
    assert _value(s, "etl_triage_stage_duration_seconds_bucket", stage="classify", le="1.0") == 1
    assert _value(s, "etl_triage_stage_duration_seconds_bucket", stage="classify", le="0.5") == 0
