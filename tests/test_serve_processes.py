"""Real `etl-triage serve` processes against the fake Web API: kill -9 mid-triage, two replicas on one
Postgres, a database that can't be reached at start, channel names in ETL_TRIAGE_ALERT_CHANNELS."""

from __future__ import annotations

import asyncio
import sys
import time

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import SettingsError
from bot.slack.channels import resolve_alert_channels
from tests.conftest import ROOT
from tests.fakes.serve_process import ServeProcess, serve_env
from tests.fakes.slack_api import BOT_ID, FakeSlackAPI
from tests.fakes.slack_world import ALERTS, make_topology

AIRFLOW_TEXT = "Task Failed. *Dag*: orders_daily *Task*: load_orders *Run ID*: scheduled__2026-11-19T02:00:00"


@pytest.fixture
async def fake():
    f = await FakeSlackAPI().start()
    yield f
    await f.stop()


def _db_env(store_url: str) -> dict[str, str]:
    return {"ETL_TRIAGE_DATABASE_URL": store_url}


def bot_replies(fake: FakeSlackAPI, channel: str, ts: str) -> list[dict]:
    return [m for (ch, _), m in fake.messages.items() if ch == channel and m.get("thread_ts") == ts
            and m.get("bot_id") == BOT_ID]


def has_report(msg: dict) -> bool:
    return any(b.get("block_id") == "triage_actions" for b in msg.get("blocks") or [])


async def test_serve_killed_mid_triage_then_a_fresh_start_gives_exactly_one_reply(tmp_path, fake, store_url):
    make_topology(tmp_path)
    env = serve_env(fake, [ALERTS], ETL_TRIAGE_LEASE_S="1", **_db_env(store_url))
    ts = "1700000800.000100"
    fake.stall("chat.update")                       # the placeholder is out, the report is not
    first = await ServeProcess.start(tmp_path, env)
    try:
        assert await first.event({"type": "message", "channel": ALERTS, "ts": ts, "text": AIRFLOW_TEXT,
                                  "user": "UHUMAN"}) == 200
        await fake.wait_for(lambda f: [c for c in f.calls if c.method == "chat.update"], timeout=30)
    finally:
        await first.kill()
    fake.unstall()
    second = await ServeProcess.start(tmp_path, env)
    try:
        await fake.wait_for(lambda f: any(has_report(m) for m in bot_replies(f, ALERTS, ts)), timeout=30)
        assert await second.event({"type": "message", "channel": ALERTS, "ts": ts, "text": AIRFLOW_TEXT,
                                   "user": "UHUMAN"}, retry_num=1) == 200   # and Slack's retry changes nothing
    finally:
        assert await second.stop() == 0
    [reply] = bot_replies(fake, ALERTS, ts)
    assert has_report(reply)
    assert len(fake.of("chat.postMessage")) == 1 and len(fake.of("reactions.add")) == 1
    assert fake.of("conversations.list", ok_only=False) == []       # channel ids need no lookup


async def test_serve_two_replicas_on_one_postgres_answer_100_alerts_once_at_a_shared_pace(tmp_path, fake, pg_url):
    make_topology(tmp_path)
    channels = [f"CALERT{i}" for i in range(5)]
    interval = 0.25   # per channel: shared, 20 posts take >= 19 intervals; two separate paces would take ~9
    env = serve_env(fake, channels, ETL_TRIAGE_POST_INTERVAL_S=str(interval), ETL_TRIAGE_MAX_CONCURRENCY="8",
                    **_db_env(pg_url))
    a, b = await asyncio.gather(ServeProcess.start(tmp_path, env), ServeProcess.start(tmp_path, env))
    alerts = [(channels[i % 5], f"1700001{i:03d}.000100") for i in range(100)]
    try:
        sends, started = [], time.monotonic()
        for i, (channel, ts) in enumerate(alerts):
            event = {"type": "message", "channel": channel, "ts": ts, "text": AIRFLOW_TEXT, "user": "UHUMAN"}
            first, second = (a, b) if i % 2 else (b, a)
            sends += [first.event(event), second.event(event, retry_num=1)]   # the redelivery hits the other
        assert set(await asyncio.gather(*sends)) == {200}
        await fake.wait_for(lambda f: all(any(has_report(m) for m in bot_replies(f, ch, ts)) for ch, ts in alerts),
                            timeout=120)
    finally:
        codes = await asyncio.gather(a.stop(), b.stop())
    assert codes == [0, 0]
    assert all(len(bot_replies(fake, ch, ts)) == 1 for ch, ts in alerts)          # 100 replies, 0 duplicates
    posts = fake.of("chat.postMessage")
    assert len(posts) == 100 and len(fake.of("reactions.add", ok_only=False)) == 100
    for channel in channels:  # both processes drew slots from one pace per channel: a lower bound, not a timing
        at = sorted(c.at for c in posts if c.args["channel"] == channel)
        assert len(at) == 20 and at[-1] - started >= 19 * interval * 0.95, (channel, at[-1] - started)


@pytest.mark.parametrize("where", ["postgres", "sqlite"])
async def test_serve_database_unreachable_at_start_is_one_line_and_exit_2(tmp_path, fake, where):
    make_topology(tmp_path)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the state directory should be\n")
    extra = ({"ETL_TRIAGE_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/test"} if where == "postgres"
             else {"ETL_TRIAGE_STATE_DIR": str(blocker)})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "serve", "--http", "--port", "0", "--topology",
        str(tmp_path / "topology.toml"), "--log-root", str(tmp_path / "logs"), cwd=ROOT,
        env=serve_env(fake, [ALERTS], **extra), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    lines = err.decode().strip().splitlines()
    assert proc.returncode == 2, err.decode()
    assert len(lines) == 1 and lines[0].startswith("etl-triage: error: state database "), lines
    assert ("ETL_TRIAGE_DATABASE_URL" if where == "postgres" else "ETL_TRIAGE_STATE_DIR") in lines[0]
    assert b"listening" not in out


def _workspace(fake: FakeSlackAPI) -> None:
    """Six channels, three a page: #etl-ops on the second page; an archived #etl-ops-old; a private #dbt-alerts."""
    fake.list_page = 3
    fake.add_channel("general", "CGENERAL1")
    fake.add_channel("etl-ops", "COLDOPS01", archived=True)      # archived under the same name: never chosen
    fake.add_channel("random", "CRANDOM01", member=False)
    fake.add_channel("data-eng", "CDATAENG1")
    fake.add_channel("etl-ops", "CETLOPS01")
    fake.add_channel("dbt-alerts", "GDBTALRT1", private=True)


async def test_serve_resolves_channel_names_across_pages_and_triages_alerts_there(tmp_path, fake):
    make_topology(tmp_path)
    _workspace(fake)
    env = serve_env(fake, ["#etl-ops", "dbt-alerts", "#random", ALERTS])
    sp = await ServeProcess.start(tmp_path, env)
    ts = "1700000900.000100"
    try:
        assert await sp.event({"type": "message", "channel": "CETLOPS01", "ts": ts, "text": AIRFLOW_TEXT,
                               "user": "UHUMAN"}) == 200
        await fake.wait_for(lambda f: any(has_report(m) for m in bot_replies(f, "CETLOPS01", ts)), timeout=30)
    finally:
        assert await sp.stop() == 0
    pages = fake.of("conversations.list")
    assert [c.args.get("cursor") for c in pages] == [None, "3"]                 # two pages, then all were found
    assert all(c.args["types"] == "public_channel,private_channel" and c.args["exclude_archived"] in ("1", "true")
               for c in pages)
    said = "".join(sp.stderr)
    assert "alert channel #etl-ops is CETLOPS01" in said and "alert channel dbt-alerts is GDBTALRT1" in said
    assert "alert channel #random is CRANDOM01 (the bot is not a member: /invite @etl-triage there" in said
    assert f"alert channel {ALERTS}" not in said                             # an id is used as given
    assert "COLDOPS01" not in said and not bot_replies(fake, "COLDOPS01", ts)


@pytest.mark.parametrize(("channels", "failure", "says"), [
    (["#etl-ops", "#etl-opps", "nope"], None, ["'#etl-opps', 'nope'", "/invite @etl-triage", "Channel ID"]),
    (["#etl-ops"], "missing_scope", ["'#etl-ops'", "channels:read", "groups:read", "reinstall", "Channel ID"]),
])
async def test_serve_refuses_to_start_naming_channels_it_cannot_resolve(tmp_path, fake, channels, failure, says):
    make_topology(tmp_path)
    _workspace(fake)
    if failure:
        fake.fail_next("conversations.list", error=failure)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "serve", "--http", "--port", "0", "--topology",
        str(tmp_path / "topology.toml"), "--log-root", str(tmp_path / "logs"), cwd=ROOT,
        env=serve_env(fake, channels), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    lines = err.decode().strip().splitlines()
    assert proc.returncode == 2, err.decode()
    assert len(lines) == 1 and lines[0].startswith("etl-triage: error: ETL_TRIAGE_ALERT_CHANNELS"), lines
    assert all(s in lines[0] for s in says), lines[0]
    assert "'#etl-ops'," not in lines[0] or failure                        # the name that was found is not blamed
    assert b"listening" not in out
    assert len(fake.of("conversations.list")) == (1 if failure else 2)     # every page read before refusing


async def _resolve(fake: FakeSlackAPI, names: list[str], **kw: float) -> str:
    client = AsyncWebClient(token=fake.token, base_url=fake.api_url)
    with pytest.raises(SettingsError) as e:
        await resolve_alert_channels(client, names, **kw)
    return str(e.value)


async def test_a_page_cursor_slack_repeats_stops_the_walk_with_a_way_out(fake):
    _workspace(fake)
    fake.list_cursor = "3"                   # every page says "next: 3": the walk would read page 2 forever
    said = await _resolve(fake, ["#nowhere"])
    assert "returned a page cursor it had returned before" in said and "Channel ID" in said
    assert [c.args.get("cursor") for c in fake.of("conversations.list")] == [None, "3"]  # no page asked for twice


async def test_a_walk_slower_than_the_deadline_stops_naming_the_channels(fake):
    _workspace(fake)
    fake.slow("conversations.list", 0.3, cursor="3")          # page 1 at once (#data-eng), page 2 slow
    said = await _resolve(fake, ["#etl-ops", "#data-eng"], deadline_s=0.2)
    assert "names '#etl-ops', and" in said and "did not find them within 0.2 s" in said and "Channel ID" in said
    assert "#data-eng" not in said                              # found on the first page: not blamed
