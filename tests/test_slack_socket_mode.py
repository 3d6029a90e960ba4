"""Socket Mode at the wire: the real slack-sdk SocketModeClient + Bolt app against a loopback fake of Slack."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import signal
import sys

import pytest

from bot.errors import SettingsError
from bot.settings import Settings
from bot.slack.serve import serve
from tests.conftest import ROOT
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_socket import FakeSocketMode, SocketWorld
from tests.fakes.slack_world import ALERTS, OTHER, make_topology

AIRFLOW_TEXT = "Task Failed. *Dag*: orders_daily *Task*: load_orders *Run ID*: scheduled__2026-11-19T02:00:00"


@pytest.fixture
async def world(tmp_path):
    w = await SocketWorld.start(tmp_path)
    yield w
    await w.close()


def _has_report(blocks: list[dict] | None) -> bool:
    return any(b.get("block_id") == "triage_actions" for b in blocks or [])


def _reports_in_thread(thread_ts: str):
    def check(api):
        return [c for c in api.of("chat.update") if _has_report(c.args.get("blocks"))
                and (c.args["channel"], c.args["ts"]) in {(ALERTS, p.result["ts"]) for p in api.of("chat.postMessage")
                                                          if p.args.get("thread_ts") == thread_ts}]
    return check


async def test_socket_mode_connects_with_app_token_and_gets_hello(world):
    opens = world.api.of("apps.connections.open")
    assert len(opens) == 1 and len(world.socket.connections) == 1
    assert world.socket.issued == []  # the issued URL was used


async def test_socket_mode_alert_is_acked_and_answered_in_thread(world):
    body = world.event_envelope({"text": AIRFLOW_TEXT, "user": "UHUMAN"})
    ts = body["event"]["ts"]
    eid = await world.socket.send("events_api", body)
    ack = await world.socket.ack(eid)
    assert ack == {"envelope_id": eid}
    await world.api.wait_for(_reports_in_thread(ts))
    await world.idle()
    posts = world.api.of("chat.postMessage")
    assert len(posts) == 1 and posts[0].args["thread_ts"] == ts
    assert "Triaging `orders_daily`" in posts[0].args["text"]
    [msg] = world.thread_messages(ALERTS, ts)
    assert msg["text"].startswith("orders_daily:") and _has_report(msg["blocks"])
    assert [(c.args["channel"], c.args["timestamp"]) for c in world.api.of("reactions.add")] == [(ALERTS, ts)]


async def test_socket_mode_redelivered_event_is_acked_without_second_report(world):
    body = world.event_envelope({"text": AIRFLOW_TEXT, "user": "UHUMAN"})
    first = await world.socket.send("events_api", body)
    await world.socket.ack(first)
    await world.api.wait_for(_reports_in_thread(body["event"]["ts"]))
    again = await world.socket.send("events_api", body, retry_attempt=1, retry_reason="timeout")
    assert await world.socket.ack(again) == {"envelope_id": again}
    await world.idle()
    assert len(world.api.of("chat.postMessage")) == 1
    assert len(world.api.of("reactions.add")) == 1


async def test_socket_mode_triage_command_acks_with_ephemeral_text_and_posts_report(world):
    eid = await world.socket.send("slash_commands", world.command_payload("orders_daily"),
                                  accepts_response_payload=True)
    ack = await world.socket.ack(eid)
    assert ack["envelope_id"] == eid
    assert "Triaging `orders_daily`" in ack["payload"]["text"]
    await world.api.wait_for(lambda a: a.of("chat.postMessage"))
    await world.idle()
    [post] = world.api.of("chat.postMessage")
    assert post.args["channel"] == OTHER and not post.args.get("thread_ts")
    msg = world.api.messages[(OTHER, post.result["ts"])]
    assert msg["text"].startswith("orders_daily:") and _has_report(msg["blocks"])


async def test_socket_mode_report_button_is_acked_and_escalates_in_thread(world):
    await world.socket.send("slash_commands", world.command_payload("orders_daily"), accepts_response_payload=True)
    await world.api.wait_for(lambda a: a.of("chat.postMessage"))
    await world.idle()
    post = world.api.of("chat.postMessage")[0]
    msg = world.api.messages[(OTHER, post.result["ts"])]
    button = next(e for b in msg["blocks"] if b["type"] == "actions" for e in b["elements"]
                  if e["action_id"] == "triage_escalate:unknown")
    payload = {"type": "block_actions", "team": {"id": "T0001"}, "user": {"id": "UBOB", "name": "bob"},
               "api_app_id": "A1", "token": "x", "trigger_id": "1.2.3", "response_url": world.api.response_url("b"),
               "container": {"type": "message", "message_ts": msg["ts"], "channel_id": OTHER, "is_ephemeral": False},
               "channel": {"id": OTHER, "name": "ops"}, "message": msg,
               "actions": [{"type": "button", "action_id": button["action_id"], "block_id": "triage_actions",
                            "value": button["value"], "text": button["text"], "action_ts": "1700000999.1"}]}
    eid = await world.socket.send("interactive", payload)
    assert await world.socket.ack(eid) == {"envelope_id": eid}
    await world.api.wait_for(lambda a: len(a.of("chat.postMessage")) >= 3)
    await world.idle()
    thread = [p for p in world.api.of("chat.postMessage")[1:] if p.args["channel"] == OTHER]
    assert len(thread) == 1 and thread[0].args["thread_ts"] == msg["ts"]
    assert "escalated to Data on-call" in thread[0].args["text"]


@pytest.mark.parametrize("refresh_requested", [True, False], ids=["disconnect-message", "socket-closed"])
async def test_socket_mode_reconnects_and_handles_events_after(world, refresh_requested):
    await world.socket.drop(refresh_requested=refresh_requested)
    second = await world.socket.connected(2)
    assert len(world.api.of("apps.connections.open")) == 2
    await world.socket.wait_for(lambda s: s.live() == [second])  # the old socket is gone
    body = world.event_envelope({"text": AIRFLOW_TEXT, "user": "UHUMAN"})
    eid = await world.socket.send("events_api", body)
    assert await world.socket.ack(eid) == {"envelope_id": eid}
    assert any(m.get("envelope_id") == eid for m in second.received)
    await world.api.wait_for(_reports_in_thread(body["event"]["ts"]))
    await world.idle()
    assert len(world.api.of("chat.postMessage")) == 1


async def test_socket_mode_half_open_connection_is_replaced(tmp_path):
    # The fake stops answering pings (a silently dead link): slack-sdk must notice and reconnect.
    w = await SocketWorld.start(tmp_path, ping_interval=0.1)
    try:
        first = w.socket.connections[0]
        first.muted = True
        second = await w.socket.connected(2)
        body = w.event_envelope({"text": AIRFLOW_TEXT, "user": "UHUMAN"})
        eid = await w.socket.send("events_api", body)
        assert await w.socket.ack(eid) == {"envelope_id": eid}
        assert any(m.get("envelope_id") == eid for m in second.received)
        await w.api.wait_for(_reports_in_thread(body["event"]["ts"]))
        await w.idle()
        assert len(w.api.of("apps.connections.open")) == 2
    finally:
        await w.close()


async def test_socket_mode_triage_command_unknown_job_responds_via_response_url(world):
    eid = await world.socket.send("slash_commands", world.command_payload("ordrs_daily"),
                                  accepts_response_payload=True)
    await world.socket.ack(eid)
    [call] = await world.api.wait_for(lambda a: a.of("response_url"))
    await world.idle()
    assert "don't know a job called `ordrs_daily`" in call.args["text"] and "`orders_daily`" in call.args["text"]
    assert call.args["response_type"] == "ephemeral"
    assert world.api.of("chat.postMessage") == []


async def test_socket_mode_event_redelivered_after_reconnect_gets_one_report(world):
    body = world.event_envelope({"text": AIRFLOW_TEXT, "user": "UHUMAN"})
    first = await world.socket.send("events_api", body)
    await world.socket.ack(first)
    await world.socket.drop(refresh_requested=False)
    await world.socket.connected(2)
    again = await world.socket.send("events_api", body, retry_attempt=1, retry_reason="timeout")
    assert await world.socket.ack(again) == {"envelope_id": again}
    await world.api.wait_for(_reports_in_thread(body["event"]["ts"]))
    await world.idle()
    assert len(world.api.of("chat.postMessage")) == 1
    assert json.dumps(world.thread_messages(ALERTS, body["event"]["ts"])).count("triage_actions") == 1


# ---------------------------------------------------------------------- startup


@pytest.fixture
async def api():
    fake = await FakeSlackAPI().start()
    yield fake
    await fake.stop()


def _settings(api: FakeSlackAPI, **kw) -> Settings:
    base = {"slack_bot_token": api.token, "slack_app_token": api.app_token, "slack_api_url": api.api_url,
            "alert_channels": frozenset({ALERTS})}
    return Settings(**{**base, **kw})


@pytest.mark.parametrize(("app_token", "error"), [
    ("xapp-revoked", "invalid_auth"),
    ("xoxb-test", "not_allowed_token_type"),  # the bot token pasted as the app token
])
async def test_socket_mode_rejected_app_token_fails_at_once_naming_the_variable(tmp_path, api, app_token, error):
    socket = await FakeSocketMode().start()
    api.socket_url = socket.issue_url
    try:
        async with asyncio.timeout(10):
            with pytest.raises(SettingsError) as e:
                await serve(argparse.Namespace(http=False, port=0), _settings(api, slack_app_token=app_token,
                                                                       state_dir=str(tmp_path / "state")),
                            make_topology(tmp_path))
    finally:
        await socket.stop()
    msg = str(e.value)
    assert "SLACK_APP_TOKEN" in msg and error in msg and "\n" not in msg
    assert socket.connections == []


async def test_serve_rejected_bot_token_fails_at_once_naming_the_variable(tmp_path, api):
    async with asyncio.timeout(10):
        with pytest.raises(SettingsError) as e:
            await serve(argparse.Namespace(http=False, port=0), _settings(api, slack_bot_token="xoxb-revoked",
                                                                       state_dir=str(tmp_path / "state")),
                        make_topology(tmp_path))
    assert "SLACK_BOT_TOKEN" in str(e.value) and "invalid_auth" in str(e.value) and "\n" not in str(e.value)
    assert api.of("apps.connections.open", ok_only=False) == []


async def test_serve_socket_mode_handles_an_alert_and_drains_on_sigterm(tmp_path, api, caplog):
    caplog.set_level(logging.INFO, logger="bot")
    socket = await FakeSocketMode().start()
    api.socket_url = socket.issue_url
    settings = _settings(api, state_dir=str(tmp_path / "state"))
    task = asyncio.create_task(serve(argparse.Namespace(http=False, port=0), settings, make_topology(tmp_path)))
    try:
        await socket.connected(1)
        ts = "1700000042.000200"
        body = {"token": "x", "team_id": "T0001", "api_app_id": "A1", "type": "event_callback", "event_id": "Ev42",
                "event_time": 1700000000, "event": {"type": "message", "channel": ALERTS, "ts": ts,
                                                    "text": AIRFLOW_TEXT, "user": "UHUMAN"}}
        eid = await socket.send("events_api", body)
        await socket.ack(eid)
        await api.wait_for(lambda a: a.of("chat.postMessage"))
        assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN, None)  # serve's handler
        os.kill(os.getpid(), signal.SIGTERM)
        assert await asyncio.wait_for(task, 15) == 0
    finally:
        task.cancel()
        await socket.stop()
    out = caplog.text
    assert "connected to Slack (Socket Mode)" in out and "shutting down" in out
    assert _reports_in_thread(ts)(api)  # the running triage finished before exit
    assert socket.live() == []


async def test_serve_sigterm_while_connection_is_retried_exits_cleanly(tmp_path, api, caplog):
    caplog.set_level(logging.INFO, logger="bot")
    socket = await FakeSocketMode().start()
    api.socket_url = socket.stale_url  # every handshake is refused: slack-sdk keeps retrying
    settings = _settings(api, state_dir=str(tmp_path / "state"))
    task = asyncio.create_task(serve(argparse.Namespace(http=False, port=0), settings, make_topology(tmp_path)))
    try:
        await socket.wait_for(lambda s: s.refused >= 1)
        assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN, None)  # serve's handler
        os.kill(os.getpid(), signal.SIGTERM)
        assert await asyncio.wait_for(task, 15) == 0
    finally:
        task.cancel()
        await socket.stop()
    out = caplog.text
    assert "connected to Slack" not in out and "shutting down" in out


def _cli_env(**kw: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ETL_TRIAGE_"))}
    return {**env, **kw}


@pytest.mark.parametrize(("env", "variable"), [
    ({"SLACK_APP_TOKEN": "xapp-1"}, "SLACK_BOT_TOKEN"),
    ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_APP_TOKEN"),
])
async def test_cli_serve_missing_token_is_one_line_and_exit_2(tmp_path, env, variable):
    make_topology(tmp_path)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "serve", "--topology", str(tmp_path / "topology.toml"),
        "--log-root", str(tmp_path / "logs"), cwd=ROOT, env=_cli_env(**env),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    lines = err.decode().strip().splitlines()
    assert proc.returncode == 2, err.decode()
    assert len(lines) == 1 and lines[0].startswith("etl-triage: error: ") and variable in lines[0]
    assert out == b""


async def test_cli_serve_rejected_app_token_is_one_line_and_exit_2(tmp_path, api):
    make_topology(tmp_path)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "serve", "--topology", str(tmp_path / "topology.toml"),
        "--log-root", str(tmp_path / "logs"), "--health-port", "0", cwd=ROOT,
        env=_cli_env(SLACK_BOT_TOKEN=api.token, SLACK_APP_TOKEN="xapp-revoked", SLACK_API_URL=api.api_url,
                     ETL_TRIAGE_STATE_DIR=str(tmp_path / "state")),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2, err.decode()
    assert "will be unused" not in err.decode()  # Bolt's spurious warning is filtered
    log_line = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING|ERROR) ")
    errors = [line for line in err.decode().splitlines() if not log_line.match(line)]
    assert len(errors) == 1 and errors[0].startswith("etl-triage: error: SLACK_APP_TOKEN was rejected"), errors
    assert "invalid_auth" in errors[0]
    assert len(api.of("apps.connections.open")) == 1  # asked once, not retried forever
