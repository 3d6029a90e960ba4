"""Logging as an operator sees it: `etl-triage serve --log-format json` as a process, against fake Slack."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

import pytest

from bot.cli import main
from tests.conftest import ROOT
from tests.fakes.slack_api import TEAM_ID, FakeSlackAPI
from tests.fakes.slack_socket import FakeSocketMode
from tests.fakes.slack_world import ALERTS, make_topology

AIRFLOW_TEXT = "Task Failed. *Dag*: orders_daily *Task*: load_orders *Run ID*: scheduled__2026-11-19T02:00:00"


def _env(**kw: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ETL_TRIAGE_"))}
    return {**env, **kw}


async def test_serve_json_logs_one_object_per_line_with_triage_fields_and_prints_nothing(tmp_path):
    api = await FakeSlackAPI().start()
    socket = await FakeSocketMode().start()
    api.socket_url = socket.issue_url
    make_topology(tmp_path)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "serve", "--log-format", "json", "--health-port", "0",
        "--topology", str(tmp_path / "topology.toml"), "--log-root", str(tmp_path / "logs"), cwd=ROOT,
        env=_env(SLACK_BOT_TOKEN=api.token, SLACK_APP_TOKEN=api.app_token, SLACK_API_URL=api.api_url,
                 ETL_TRIAGE_ALERT_CHANNELS=ALERTS, ETL_TRIAGE_STATE_DIR=str(tmp_path / "state")),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await socket.connected(1)
        ts = "1700000077.000200"
        eid = await socket.send("events_api", {
            "token": "x", "team_id": TEAM_ID, "api_app_id": "A1", "type": "event_callback", "event_id": "Ev77",
            "event_time": 1700000000, "event": {"type": "message", "channel": ALERTS, "ts": ts,
                                                "text": AIRFLOW_TEXT, "user": "UHUMAN"}})
        await socket.ack(eid)
        await api.wait_for(lambda a: any(b.get("block_id") == "triage_actions"
                                         for c in a.of("chat.update") for b in c.args.get("blocks", [])))
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await socket.stop()
        await api.stop()
    assert proc.returncode == 0, err.decode()
    assert out == b""  # nothing is print()ed on the serve path
    records = [json.loads(line) for line in err.decode().splitlines()]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    assert not any("will be unused" in r["message"] for r in records)
    stages = [r for r in records if r.get("stage")]
    assert [r["stage"] for r in stages] == ["classify", "investigate", "recommend"]
    ids = {r["triage_id"] for r in stages}
    assert len(ids) == 1
    for r in stages:
        assert r["channel"] == ALERTS and r["job"] == "orders_daily" and isinstance(r["duration_ms"], float)
    [done] = [r for r in records if r.get("outcome")]
    assert done["triage_id"] in ids and done["category"] and done["provider"] == "offline"
    assert any(r["message"] == "connected to Slack (Socket Mode)" for r in records)


def test_cli_bad_log_level_in_environment_is_one_line_and_exit_2(capsys, monkeypatch):
    monkeypatch.setenv("ETL_TRIAGE_LOG_LEVEL", "loud")
    assert main(["validate", str(ROOT / "topology.toml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "loud" in err[0] and "--log-level" in err[0]


@pytest.mark.parametrize(("argv", "shown"), [
    ([], False),                   # WARNING by default
    (["-v"], False),               # INFO
    (["-vv"], True),               # DEBUG
    (["--log-level", "debug"], True),
    (["-vv", "--log-level", "info"], False),  # --log-level wins over -v
])
def test_cli_verbosity_flags_choose_the_level(tmp_path, capsys, argv, shown):
    make_topology(tmp_path)
    code = main(["validate", *argv, str(tmp_path / "topology.toml")])
    assert code == 0
    err = capsys.readouterr().err
    assert ("DEBUG bot.cli: topology" in err) == shown, err
