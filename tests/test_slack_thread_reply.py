"""Alerts in watched channels get a triage report in their thread (real Bolt app over HTTP, fake Web API)."""

from __future__ import annotations

import json

import pytest

from bot.slack.runtime import Pacing
from tests.fakes.slack_api import BOT_ID, BOT_USER_ID
from tests.fakes.slack_world import ALERTS, OTHER, SlackWorld

AIRFLOW_TEXT = "Task Failed. *Dag*: orders_daily *Task*: load_orders *Run ID*: scheduled__2026-11-19T02:00:00"


@pytest.fixture
async def world(tmp_path):
    w = await SlackWorld.start(tmp_path)
    yield w
    await w.close()


def _final(world: SlackWorld, thread_ts: str) -> dict:
    replies = world.thread_messages(ALERTS, thread_ts)
    assert len(replies) == 1, replies
    return replies[0]


def _report_done(thread_ts: str):
    def check(fake):
        return [c for c in fake.of("chat.update") if c.args.get("blocks")
                and any(b.get("block_id") == "triage_actions" for b in c.args["blocks"])]
    return check


async def test_slack_alert_gets_reaction_placeholder_and_report_in_thread(world):
    resp = await world.event({"text": AIRFLOW_TEXT, "user": "UHUMAN"})
    assert resp.status == 200
    ts = "1700000001.000200"
    await world.fake.wait_for(_report_done(ts))
    await world.idle()
    reactions = world.fake.of("reactions.add")
    assert [(c.args["channel"], c.args["timestamp"]) for c in reactions] == [(ALERTS, ts)]
    posts = world.fake.of("chat.postMessage")
    assert len(posts) == 1 and posts[0].args["thread_ts"] == ts
    assert "Triaging `orders_daily`" in posts[0].args["text"]
    msg = _final(world, ts)
    assert msg["text"].startswith("orders_daily:")            # fallback text always set
    kinds = [b["type"] for b in msg["blocks"]]
    assert kinds[0] == "header" and kinds[-1] == "actions"
    body = json.dumps(msg["blocks"])
    assert "Root cause" in body and "Recommended action" in body and "Escalation" in body
    assert "orders_daily/scheduled__2026-11-19T02_00_00.log:" in body   # evidence with path:line
    assert "classify" in body and "total" in body              # stage timings context
    buttons = [e for b in msg["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons[0]["style"] == "primary" and buttons[0]["text"]["text"].startswith("Escalate to ")
    assert {"Resolved", "Wrong diagnosis"} <= {b["text"]["text"] for b in buttons}
    assert all(len(b["value"]) <= 2000 for b in buttons)


async def test_slack_log_with_channel_mention_is_escaped(world):
    await world.event({"text": "Job orders_daily failed", "user": "UHUMAN"})
    await world.fake.wait_for(_report_done("1700000001.000200"))
    await world.idle()
    sent = world.fake.dump()
    assert "<!channel>" not in sent and "<@U999>" not in sent
    assert "&lt;!channel&gt;" in sent


async def test_slack_missing_log_says_so_in_thread(world):
    await world.event({"text": "Job nightly_ghost failed", "user": "UHUMAN"})
    ts = "1700000001.000200"
    await world.fake.wait_for(lambda f: f.of("chat.update"))
    await world.idle()
    msg = _final(world, ts)
    assert "Couldn't triage `nightly_ghost`" in msg["text"]
    body = json.dumps(msg["blocks"])
    assert "find the log" in body and "What I tried" in body and "/triage nightly_ghost" in body
    assert "Triaging" not in msg["text"]


async def test_slack_redelivered_event_gets_one_report(world):
    event = {"text": AIRFLOW_TEXT, "user": "UHUMAN", "channel": ALERTS, "ts": "1700000500.000100",
             "type": "message"}
    await world.resend(event, retry_num=0)
    await world.resend(event, retry_num=1)
    await world.resend(event, retry_num=2)
    await world.idle()
    assert len(world.fake.of("chat.postMessage")) == 1
    assert len(world.fake.of("reactions.add")) == 1


@pytest.mark.parametrize("event", [
    pytest.param({"text": AIRFLOW_TEXT, "bot_id": BOT_ID, "subtype": "bot_message"}, id="own-bot-message"),
    pytest.param({"text": AIRFLOW_TEXT, "user": BOT_USER_ID}, id="own-user"),
    pytest.param({"text": AIRFLOW_TEXT, "user": "UHUMAN", "thread_ts": "1600000000.000100"}, id="thread-reply"),
    pytest.param({"text": AIRFLOW_TEXT, "user": "UHUMAN", "channel": OTHER}, id="unwatched-channel"),
    pytest.param({"subtype": "message_changed", "message": {"text": AIRFLOW_TEXT}}, id="edit"),
    pytest.param({"subtype": "message_deleted", "previous_message": {"text": AIRFLOW_TEXT}}, id="delete"),
    pytest.param({"subtype": "channel_join", "text": "<@U1> has joined the channel", "user": "U1"}, id="join"),
    pytest.param({"text": "orders_daily finished fine, 12,000 rows", "user": "UHUMAN"}, id="not-a-failure"),
    pytest.param({"text": "[Recovered] orders_daily failed earlier, now ok", "user": "UHUMAN"}, id="recovery"),
])
async def test_slack_ignores_messages_that_are_not_new_alerts(world, event):
    resp = await world.event(event)
    assert resp.status == 200
    await world.idle()
    assert world.fake.of("chat.postMessage") == [] and world.fake.of("reactions.add") == []


async def test_slack_attachment_only_alert_is_triaged(world):
    att = {"color": "danger", "fallback": "Airflow alert", "title": "Task Failed",
           "fields": [{"title": "DAG", "value": "orders_daily"}, {"title": "Task", "value": "load_orders"}]}
    await world.event({"subtype": "bot_message", "bot_id": "BAIRFLOW", "username": "Airflow", "text": "",
                       "attachments": [att]})
    await world.fake.wait_for(_report_done("1700000001.000200"))
    await world.idle()
    assert "Triaging `orders_daily`" in world.fake.of("chat.postMessage")[0].args["text"]


async def test_slack_blocks_only_rich_text_alert_is_triaged(world):
    rich = {"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": [
        {"type": "text", "text": "Dagster run failed: ", "style": {"bold": True}},
        {"type": "text", "text": "Job \"orders_daily\" failed."}]}]}
    await world.event({"subtype": "bot_message", "bot_id": "BDAGSTER", "text": "", "blocks": [rich]})
    await world.fake.wait_for(_report_done("1700000001.000200"))
    await world.idle()
    assert "Triaging `orders_daily`" in world.fake.of("chat.postMessage")[0].args["text"]


async def test_slack_rate_limited_post_is_retried_once_with_one_reply(world):
    world.fake.fail_next("chat.postMessage", status=429, retry_after=0)
    await world.event({"text": AIRFLOW_TEXT, "user": "UHUMAN"})
    await world.fake.wait_for(_report_done("1700000001.000200"), timeout=15)
    await world.idle()
    attempts = world.fake.of("chat.postMessage", ok_only=False)
    assert [c.status for c in attempts] == [429, 200]
    assert len(world.thread_messages(ALERTS, "1700000001.000200")) == 1


async def test_slack_bad_signature_is_rejected_with_401(world):
    resp = await world.event({"text": AIRFLOW_TEXT, "user": "UHUMAN"}, secret="wrong-secret")
    assert resp.status == 401
    await world.idle()
    assert world.fake.of("chat.postMessage") == []


async def test_slack_healthz_answers_ok(world):
    async with world.session.get(world.url + "/healthz") as resp:
        assert resp.status == 200
        body = await resp.json()
        assert body["ok"] is True and body["store"] == {"kind": "database", "ok": True, "state": "ok"}


async def test_slack_progress_updates_are_coalesced_within_the_update_interval(tmp_path):
    # A triage shorter than the interval: intermediate progress is dropped, only the report is sent.
    w = await SlackWorld.start(tmp_path, pacing=Pacing(post_interval_s=0, update_interval_s=1.0))
    try:
        await w.event({"text": AIRFLOW_TEXT, "user": "UHUMAN"})
        await w.fake.wait_for(_report_done("1700000001.000200"))
        await w.idle()
        updates = w.fake.of("chat.update")
        assert len(updates) == 1
        assert any(b.get("block_id") == "triage_actions" for b in updates[0].args["blocks"])
    finally:
        await w.close()
