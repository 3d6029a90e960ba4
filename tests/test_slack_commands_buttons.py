"""/triage and the report's buttons, over signed HTTP to the real Bolt app."""

from __future__ import annotations

import copy
import json

import pytest

from tests.fakes.slack_world import ALERTS, OTHER, SlackWorld


@pytest.fixture
async def world(tmp_path):
    w = await SlackWorld.start(tmp_path)
    yield w
    await w.close()


def _text(body: str) -> str:
    """Bolt answers `ack(text=…)` with the bare text (Slack shows it ephemerally) or JSON with `text`."""
    return json.loads(body)["text"] if body.startswith("{") else body


async def _report(world: SlackWorld, channel: str = OTHER) -> dict:
    await world.fake.wait_for(lambda f: f.of("chat.postMessage"))
    await world.idle()
    post = world.fake.of("chat.postMessage")[0]
    return copy.deepcopy(world.fake.messages[(channel, post.result["ts"])])


async def test_slack_triage_command_acks_ephemeral_then_posts_report_in_channel(world):
    resp, body = await world.command("orders_daily")
    assert resp.status == 200
    assert "Triaging `orders_daily`" in _text(body)
    msg = await _report(world)
    post = world.fake.of("chat.postMessage")[0]
    assert post.args["channel"] == OTHER and not post.args.get("thread_ts")
    assert msg["text"].startswith("orders_daily:")
    assert any(b["type"] == "actions" for b in msg["blocks"])


async def test_slack_triage_command_unknown_job_suggests_closest(world):
    _, body = await world.command("ordrs_daily")
    assert "Triaging" in _text(body)
    call = await world.fake.wait_for(lambda f: f.of("response_url"))
    await world.idle()
    text = call[0].args["text"]
    assert "don't know a job called `ordrs_daily`" in text and "`orders_daily`" in text and "/triage list" in text
    assert call[0].args["response_type"] == "ephemeral"
    assert world.fake.of("chat.postMessage") == []


async def test_slack_triage_command_list_and_usage(world):
    _, body = await world.command("list")
    assert "customer_sync" in _text(body) and "orders_daily" in _text(body)
    _, body = await world.command("")
    assert "Usage: `/triage JOB_NAME [RUN_ID]`" in _text(body)
    _, body = await world.command("../etc/passwd")
    assert "Usage" in _text(body)


async def test_slack_triage_command_not_in_channel_explains_invite(world):
    world.fake.fail_next("chat.postMessage", error="not_in_channel")
    await world.command("orders_daily")
    call = await world.fake.wait_for(lambda f: f.of("response_url"))
    assert "/invite @etl-triage" in call[0].args["text"]


async def test_slack_escalate_posts_in_thread_and_channel_and_is_idempotent(world):
    await world.command("orders_daily")
    msg = await _report(world)
    primary = next(e for b in msg["blocks"] if b["type"] == "actions" for e in b["elements"]
                   if e["action_id"] == "triage_escalate:unknown")
    resp = await world.click(OTHER, msg, primary["action_id"])
    assert resp.status == 200
    await world.click(OTHER, msg, primary["action_id"])  # a double click
    await world.idle()
    posts = world.fake.of("chat.postMessage")[1:]
    thread = [p for p in posts if p.args["channel"] == OTHER]
    esc = [p for p in posts if p.args["channel"] != OTHER]
    assert len(thread) == 1 and len(esc) == 1
    assert thread[0].args["thread_ts"] == msg["ts"]
    assert thread[0].args["text"].startswith("<@UBOB> escalated to Data on-call <!subteam^SONCALL>")
    assert esc[0].args["channel"] == "CONCALL" and "https://acme.slack.com/archives/" in esc[0].args["text"]
    assert len(world.fake.of("chat.getPermalink")) == 1
    updated = world.fake.messages[(OTHER, msg["ts"])]
    status = next(b for b in updated["blocks"] if b.get("block_id") == "triage_status")
    assert "Escalated to Data on-call by <@UBOB>" in status["elements"][0]["text"]
    ids = [e["action_id"] for b in updated["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert primary["action_id"] not in ids and "triage_resolved" in ids


async def test_slack_escalate_that_fails_says_so_and_can_be_clicked_again(world):
    await world.command("orders_daily")
    msg = await _report(world)
    action_id = "triage_escalate:unknown"
    world.fake.fail_next("chat.postMessage", error="not_in_channel")
    await world.click(OTHER, msg, action_id)
    await world.idle()
    failed = world.fake.of("chat.postMessage")[-1]
    assert failed.args["thread_ts"] == msg["ts"] and "could not be posted (not_in_channel)" in failed.args["text"]
    await world.click(OTHER, msg, action_id)  # the retry goes through instead of being taken for a double click
    await world.idle()
    esc = [p for p in world.fake.of("chat.postMessage") if p.args["channel"] == "CONCALL"]
    assert len(esc) == 1


async def test_slack_escalate_without_config_says_where_to_configure(tmp_path):
    w = await SlackWorld.start(tmp_path, escalation=False)
    try:
        await w.command("orders_daily")
        msg = await _report(w)
        await w.click(OTHER, msg, "triage_escalate:code")
        await w.idle()
        posts = w.fake.of("chat.postMessage")[1:]
        assert len(posts) == 1 and posts[0].args["thread_ts"] == msg["ts"]
        assert "No escalation channel is configured" in posts[0].args["text"]
        assert "<!subteam" not in posts[0].args["text"]
    finally:
        await w.close()


async def test_slack_resolved_records_and_removes_buttons(world):
    await world.command("orders_daily")
    msg = await _report(world)
    await world.click(OTHER, msg, "triage_resolved", user="UCAROL")
    await world.idle()
    updated = world.fake.messages[(OTHER, msg["ts"])]
    assert not any(b["type"] == "actions" for b in updated["blocks"])
    assert "Marked resolved by <@UCAROL>" in json.dumps(updated["blocks"])
    [record] = await world.rt.state.store.feedback_on(OTHER, msg["ts"])
    assert (record["verdict"], record["user"], record["job"]) == ("resolved", "UCAROL", "orders_daily")
    assert record["triage_id"] is not None  # the /triage report is in the history it belongs to


async def test_slack_wrong_diagnosis_records_and_keeps_escalation(world):
    await world.command("orders_daily")
    msg = await _report(world)
    await world.click(OTHER, msg, "triage_wrong")
    await world.idle()
    updated = world.fake.messages[(OTHER, msg["ts"])]
    ids = [e["action_id"] for b in updated["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert "triage_wrong" not in ids and any(i.startswith("triage_escalate:") for i in ids)
    assert "marked this diagnosis wrong" in json.dumps(updated["blocks"])
    [record] = await world.rt.state.store.feedback_on(OTHER, msg["ts"])
    assert record["verdict"] == "wrong_diagnosis" and record["user"] == "UBOB"


async def test_slack_click_after_restart_uses_message_blocks(tmp_path):
    # A new runtime (no memory) still updates the message from the blocks Slack sends with the click.
    w = await SlackWorld.start(tmp_path)
    try:
        await w.command("orders_daily")
        msg = await _report(w)
    finally:
        await w.close()
    w2 = await SlackWorld.start(tmp_path)
    try:
        w2.fake.messages[(OTHER, msg["ts"])] = msg
        await w2.click(OTHER, msg, "triage_resolved")
        await w2.idle()
        updated = w2.fake.messages[(OTHER, msg["ts"])]
        assert updated["blocks"][0] == msg["blocks"][0] and "Marked resolved" in json.dumps(updated["blocks"])
    finally:
        await w2.close()


async def test_slack_alert_report_buttons_reply_in_alert_thread(world):
    await world.event({"text": "Job orders_daily failed", "user": "UHUMAN"})
    alert_ts = "1700000001.000200"
    await world.fake.wait_for(lambda f: any(any(b.get("block_id") == "triage_actions" for b in c.args["blocks"])
                                            for c in f.of("chat.update")))
    await world.idle()
    msg = world.thread_messages(ALERTS, alert_ts)[0]
    await world.click(ALERTS, msg, "triage_escalate:infra")
    await world.idle()
    note = [p for p in world.fake.of("chat.postMessage") if p.args["channel"] == ALERTS][-1]
    assert note.args["thread_ts"] == alert_ts and "escalated to Platform <!subteam^SPLATFORM>" in note.args["text"]


async def test_slack_escalate_posted_but_report_update_failed_is_done_not_a_failure(world):
    await world.command("orders_daily")
    msg = await _report(world)
    action_id = "triage_escalate:unknown"
    world.fake.fail_next("chat.update", error="message_not_found")
    await world.click(OTHER, msg, action_id)
    await world.idle()
    assert not any("could not be posted" in p.args.get("text", "") for p in world.fake.of("chat.postMessage"))
    await world.click(OTHER, msg, action_id)            # the button is still there: a second click pages no one
    await world.idle()
    esc = [p for p in world.fake.of("chat.postMessage") if p.args["channel"] == "CONCALL"]
    assert len(esc) == 1


async def _click_payload(world: SlackWorld, message: dict, action_id: str, **change) -> None:
    from urllib.parse import urlencode

    from tests.fakes.slack_api import TEAM_ID

    button = next(e for b in message["blocks"] if b.get("type") == "actions" for e in b["elements"]
                  if e["action_id"] == action_id)
    payload = {
        "type": "block_actions", "team": {"id": TEAM_ID}, "user": {"id": "UMALLORY", "name": "m"}, "api_app_id": "A1",
        "token": "x", "trigger_id": "1.2.3", "response_url": world.fake.response_url("b"),
        "container": {"type": "message", "message_ts": message["ts"], "channel_id": OTHER},
        "channel": {"id": OTHER, "name": "ops"}, "message": message,
        "actions": [{"type": "button", "action_id": action_id, "block_id": "triage_actions", "value": button["value"],
                     "text": button["text"], "action_ts": "1700000999.1"}],
    }
    for key, value in change.items():
        if value is None:
            payload.pop(key, None)
        else:
            payload[key] = value
    resp = await world.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")
    assert resp.status == 200


async def test_slack_tampered_button_value_escalates_nowhere(world):
    await world.command("orders_daily")
    msg = await _report(world)
    button = next(e for b in msg["blocks"] if b.get("type") == "actions" for e in b["elements"]
                  if e["action_id"] == "triage_escalate:unknown")
    forged = json.loads(button["value"]) | {"j": "customer_sync", "s": "page the CRM team"}
    action = {"type": "button", "action_id": "triage_escalate:infra", "block_id": "triage_actions",
              "value": json.dumps(forged), "text": button["text"], "action_ts": "1"}
    before = len(world.fake.calls)
    await _click_payload(world, msg, "triage_escalate:unknown", actions=[action])
    await world.idle()
    assert [c.method for c in world.fake.calls[before:]] == []


async def test_slack_click_without_channel_posts_nothing(world):
    await world.command("orders_daily")
    msg = await _report(world)
    before = len(world.fake.calls)
    await _click_payload(world, msg, "triage_escalate:unknown", channel=None,
                         container={"type": "message", "message_ts": msg["ts"]})
    await world.idle()
    assert [c.method for c in world.fake.calls[before:]] == []


async def test_slack_resolved_on_a_message_that_is_not_ours_updates_nothing(world):
    await world.command("orders_daily")
    msg = await _report(world)
    theirs = {**msg, "bot_id": "BOTHER", "user": "UOTHER", "ts": "1700000555.000100"}
    world.fake.messages[(OTHER, theirs["ts"])] = theirs
    before = len(world.fake.calls)
    await _click_payload(world, theirs, "triage_resolved",
                         container={"type": "message", "message_ts": theirs["ts"], "channel_id": OTHER})
    await world.idle()
    assert [c.method for c in world.fake.calls[before:]] == []
    assert await world.rt.state.store.feedback_on(OTHER, theirs["ts"]) == []
