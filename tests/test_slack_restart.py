"""Restarts and replicas at the wire: the real Bolt app over HTTP, the fake Web API, a real SQLite file or
Postgres schema. A "restart" is a second bot on the same store and the same Slack."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from urllib.parse import urlsplit, urlunsplit

import pytest

from bot.slack.runtime import Pacing
from tests.fakes.slack_api import BOT_ID, BOT_USER_ID, FakeSlackAPI
from tests.fakes.slack_world import ALERTS, OTHER, SlackWorld
from tests.fakes.tcp_proxy import TcpProxy

AIRFLOW_TEXT = "Task Failed. *Dag*: orders_daily *Task*: load_orders *Run ID*: scheduled__2026-11-19T02:00:00"


@pytest.fixture
async def fake():
    f = await FakeSlackAPI().start()
    yield f
    await f.stop()


def has_report(msg: dict) -> bool:
    return any(b.get("block_id") == "triage_actions" for b in msg.get("blocks") or [])


def replies(world_or_fake, channel: str, ts: str) -> list[dict]:
    fake = getattr(world_or_fake, "fake", world_or_fake)
    return [m for (ch, _), m in fake.messages.items() if ch == channel and m.get("thread_ts") == ts
            and m.get("bot_id") == BOT_ID]


def answered(channel: str, ts: str):
    return lambda f: any(has_report(m) for m in replies(f, channel, ts))


def alert_event(ts: str, text: str = AIRFLOW_TEXT, channel: str = ALERTS) -> dict:
    return {"type": "message", "channel": channel, "ts": ts, "text": text, "user": "UHUMAN"}


async def test_slack_redelivery_after_restart_gets_no_second_reply_or_reaction(tmp_path, fake, store_url):
    ts = "1700000500.000100"
    first = await SlackWorld.start(tmp_path, fake=fake, store_url=store_url)
    try:
        await first.resend(alert_event(ts), retry_num=0)
        await fake.wait_for(answered(ALERTS, ts))
        await first.idle()
    finally:
        await first.close()
    second = await SlackWorld.start(tmp_path, fake=fake, store_url=store_url, recover_at_start=True)
    try:
        await second.resend(alert_event(ts), retry_num=1)
        await second.resend(alert_event(ts), retry_num=2)
        await second.idle()
    finally:
        await second.close()
    assert len(fake.of("chat.postMessage")) == 1
    assert len(fake.of("reactions.add", ok_only=False)) == 1
    [reply] = replies(fake, ALERTS, ts)
    assert has_report(reply)


async def test_slack_shutdown_mid_triage_releases_it_and_the_next_start_finishes_the_same_reply(
        tmp_path, fake, store_url):
    ts = "1700000600.000100"
    fake.stall("chat.update")                      # the report never gets out before the shutdown
    first = await SlackWorld.start(tmp_path, fake=fake, store_url=store_url, lease_s=3600)
    first.rt.interrupt_note_s = 0.2                # the "paused" note can't get through the stalled update
    await first.resend(alert_event(ts), retry_num=0)
    await fake.wait_for(lambda f: f.of("chat.postMessage") and [c for c in f.calls if c.method == "chat.update"])
    await first.close(drain_timeout_s=0.1)
    fake.unstall()
    # The lease was an hour long: only the release lets the next start take it over at once.
    second = await SlackWorld.start(tmp_path, fake=fake, store_url=store_url, lease_s=3600, recover_at_start=True)
    try:
        await fake.wait_for(answered(ALERTS, ts))
        await second.idle()
        [history] = await second.rt.state.store.history()
    finally:
        await second.close()
    [reply] = replies(fake, ALERTS, ts)
    assert has_report(reply) and "paused" not in json.dumps(reply["blocks"])
    assert len(fake.of("chat.postMessage")) == 1 and len(fake.of("reactions.add")) == 1
    assert history.status == "done" and history.category is not None


async def test_slack_alerts_posted_while_down_are_answered_once_after_start(tmp_path, fake, store_url):
    now = time.time()
    missed = fake.add_message(ALERTS, AIRFLOW_TEXT, ts=f"{now - 600:.6f}", user="UHUMAN")
    missed2 = fake.add_message(ALERTS, "Job orders_daily failed", ts=f"{now - 300:.6f}", user="UHUMAN",
                               reply_count=1)
    fake.add_message(ALERTS, "someone: looking", ts=f"{now - 290:.6f}", user="UHUMAN", thread_ts=missed2)
    chatter = fake.add_message(ALERTS, "orders_daily finished fine, 12,000 rows", ts=f"{now - 200:.6f}", user="U2")
    done = fake.add_message(ALERTS, "Job orders_daily failed", ts=f"{now - 100:.6f}", user="UHUMAN")
    fake.add_message(ALERTS, "orders_daily: DATA problem", ts=f"{now - 90:.6f}", bot_id=BOT_ID,
                     user=BOT_USER_ID, thread_ts=done)  # answered before this store existed
    too_old = fake.add_message(ALERTS, AIRFLOW_TEXT, ts=f"{now - 3 * 3600:.6f}", user="UHUMAN")

    first = await SlackWorld.start(tmp_path, fake=fake, store_url=store_url, recover_at_start=True)
    try:
        await fake.wait_for(lambda f: answered(ALERTS, missed)(f) and answered(ALERTS, missed2)(f))
        await first.idle()
        await first.resend(alert_event(missed), retry_num=1)   # Slack's late retry of the same alert
        await first.idle()
    finally:
        await first.close()
    second = await SlackWorld.start(tmp_path, fake=fake, store_url=store_url, recover_at_start=True)
    await second.idle()
    await second.close()

    assert len(replies(fake, ALERTS, missed)) == 1 and len(replies(fake, ALERTS, missed2)) == 1
    assert replies(fake, ALERTS, chatter) == [] and replies(fake, ALERTS, too_old) == []
    assert len(replies(fake, ALERTS, done)) == 1                                   # still only the old one
    assert len(fake.of("chat.postMessage")) == 2
    assert sorted(c.args["timestamp"] for c in fake.of("reactions.add")) == sorted([missed, missed2])
    assert fake.of("conversations.history")[0].args["channel"] == ALERTS


async def test_slack_escalation_clicked_on_two_replicas_is_posted_once(tmp_path, fake, store_url):
    a = await SlackWorld.start(tmp_path, fake=fake, store_url=store_url)
    b = await SlackWorld.start(tmp_path, fake=fake, store_url=store_url)
    try:
        await a.command("orders_daily")
        await fake.wait_for(lambda f: f.of("chat.postMessage"))
        await a.idle()
        post = fake.of("chat.postMessage")[0]
        msg = dict(fake.messages[(OTHER, post.result["ts"])])
        await asyncio.gather(a.click(OTHER, msg, "triage_escalate:unknown"),
                             b.click(OTHER, msg, "triage_escalate:unknown", user="UEVE"),
                             a.click(OTHER, msg, "triage_escalate:unknown", user="UEVE"))
        await a.idle()
        await b.idle()
    finally:
        await a.close()
        await b.close()
    to_team = [p for p in fake.of("chat.postMessage") if p.args["channel"] == "CONCALL"]
    notes = [p for p in fake.of("chat.postMessage") if p.args.get("thread_ts") == msg["ts"]]
    assert len(to_team) == 1 and len(notes) == 1


async def test_slack_wrong_diagnosis_asks_for_the_right_category_and_keeps_it_across_a_restart(
        tmp_path, fake, store_url):
    first = await SlackWorld.start(tmp_path, fake=fake, store_url=store_url)
    try:
        await first.command("orders_daily")
        await fake.wait_for(lambda f: f.of("chat.postMessage"))
        await first.idle()
        ts = fake.of("chat.postMessage")[0].result["ts"]
        msg = dict(fake.messages[(OTHER, ts)])
        await first.click(OTHER, msg, "triage_wrong")
        [opened] = await fake.wait_for(lambda f: f.of("views.open"))
        await first.idle()
    finally:
        await first.close()
    view = opened.result["view"]
    assert view["callback_id"] == "triage_wrong_diagnosis" and opened.args["trigger_id"] == "1.2.3"
    options = [o["value"] for b in view["blocks"] if b.get("block_id") == "category"
               for o in b["element"]["options"]]
    assert set(options) == {"data", "infra", "code", "unknown"} - {msg_category(msg)}

    second = await SlackWorld.start(tmp_path, fake=fake, store_url=store_url)   # the answer comes after a deploy
    try:
        resp = await second.submit_view(view, {
            "category": {"value": {"type": "static_select", "selected_option": {"value": "code"}}},
            "cause": {"value": {"type": "plain_text_input", "value": "a deploy renamed customer_id"}}})
        assert resp.status == 200
        await second.idle()
        [fb] = await second.rt.state.store.feedback_on(OTHER, ts)
        [row] = await second.rt.state.store.history(job="orders_daily")
    finally:
        await second.close()
    assert (fb["verdict"], fb["user"], fb["corrected_category"], fb["corrected_cause"], fb["corrected_by"]) == \
        ("wrong_diagnosis", "UBOB", "code", "a deploy renamed customer_id", "UBOB")
    assert [(v.verdict, v.corrected_category) for v in row.feedback] == [("wrong_diagnosis", "code")]
    shown = json.dumps(fake.messages[(OTHER, ts)]["blocks"])
    assert "marked this diagnosis wrong" in shown and "says it was CODE: a deploy renamed customer_id" in shown


def msg_category(msg: dict) -> str:
    button = next(e for b in msg["blocks"] if b.get("type") == "actions" for e in b["elements"]
                  if e["action_id"] == "triage_wrong")
    return json.loads(button["value"])["c"]


async def test_slack_wrong_diagnosis_modal_without_a_category_is_refused(tmp_path, fake):
    w = await SlackWorld.start(tmp_path, fake=fake)
    try:
        resp = await w.submit_view({"callback_id": "triage_wrong_diagnosis", "private_metadata": "{}"},
                                   {"category": {"value": {"type": "static_select", "selected_option": None}}})
        assert resp.status == 200
        await w.idle()
    finally:
        await w.close()
    assert fake.of("chat.update") == []


def _via(url: str, port: int) -> str:
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{port}"))


async def test_slack_database_lost_mid_run_still_answers_alerts_once(tmp_path, fake, pg_url, caplog):
    target = urlsplit(pg_url)
    proxy = await TcpProxy(target.hostname or "127.0.0.1", target.port or 5432).start()
    w = await SlackWorld.start(tmp_path, fake=fake, store_url=_via(pg_url, proxy.port),
                               pacing=Pacing(post_interval_s=0.01, update_interval_s=0))
    w.rt.state.op_timeout_s = 2.0
    try:
        await w.resend(alert_event("1700000700.000100"), retry_num=0)
        await fake.wait_for(answered(ALERTS, "1700000700.000100"))
        await w.idle()
        await proxy.cut()
        with caplog.at_level(logging.WARNING, logger="bot.slack.state"):
            await w.resend(alert_event("1700000701.000100"), retry_num=0)
            await fake.wait_for(answered(ALERTS, "1700000701.000100"), timeout=30)
            await w.resend(alert_event("1700000701.000100"), retry_num=1)   # dedup holds in memory
            await w.idle()
    finally:
        await w.close()
        await proxy.stop()
    assert len(replies(fake, ALERTS, "1700000700.000100")) == 1
    assert len(replies(fake, ALERTS, "1700000701.000100")) == 1
    lines = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(lines) == 1 and "answering alerts without history" in lines[0]


async def test_alerts_answered_while_the_database_was_away_are_written_back_when_it_returns(tmp_path, fake, pg_url):
    """History, memory and the other replicas learn of an alert answered from memory once the store is back:
    the sweep records it with its report and reply, and a replica asked about it later answers nothing."""
    from bot.slack.recovery import resume_expired

    target = urlsplit(pg_url)
    proxy = await TcpProxy(target.hostname or "127.0.0.1", target.port or 5432).start()
    w = await SlackWorld.start(tmp_path, fake=fake, store_url=_via(pg_url, proxy.port),
                               pacing=Pacing(post_interval_s=0.01, update_interval_s=0))
    w.rt.state.op_timeout_s, w.rt.state.retry_s = 2.0, 0.05
    ts = "1700000710.000100"
    try:
        await proxy.cut()
        await w.resend(alert_event(ts), retry_num=0)
        await fake.wait_for(answered(ALERTS, ts), timeout=30)
        await w.idle()
        assert w.rt.state.degraded
        await proxy.restore()
        await asyncio.sleep(0.1)                                     # past the retry pause
        await resume_expired(w.rt)
        store = w.rt.state.store
        assert store is not None
        [row] = [r for r in await store.history() if r.ts == ts]
        second = await store.claim_alert(ALERTS, ts, {}, owner="replica-2", lease_s=30)
    finally:
        await w.close()
        await proxy.stop()
    assert len(replies(fake, ALERTS, ts)) == 1
    assert row.status == "done" and row.category == "data" and row.root_cause and row.fingerprint
    assert second is None                                            # no other replica answers it again


async def test_slack_resumed_triage_whose_reply_was_deleted_answers_with_a_new_one(tmp_path, fake):
    ts = "1700000650.000100"
    fake.stall("chat.update")
    first = await SlackWorld.start(tmp_path, fake=fake, lease_s=3600)
    first.rt.interrupt_note_s = 0.2
    await first.resend(alert_event(ts), retry_num=0)
    await fake.wait_for(lambda f: f.of("chat.postMessage") and [c for c in f.calls if c.method == "chat.update"])
    await first.close(drain_timeout_s=0.1)
    fake.unstall()
    [placeholder] = replies(fake, ALERTS, ts)
    del fake.messages[(ALERTS, placeholder["ts"])]            # someone deleted "Triaging…"
    second = await SlackWorld.start(tmp_path, fake=fake, lease_s=3600, recover_at_start=True)
    try:
        await fake.wait_for(answered(ALERTS, ts))
        await second.idle()
    finally:
        await second.close()
    [reply] = replies(fake, ALERTS, ts)
    assert has_report(reply) and reply["ts"] != placeholder["ts"]


async def test_socket_mode_redelivery_after_restart_gets_no_second_reply_or_reaction(tmp_path, store_url):
    from tests.fakes.slack_socket import FakeSocketMode, SocketWorld

    api, socket = await FakeSlackAPI().start(), await FakeSocketMode().start()
    try:
        first = await SocketWorld.start(tmp_path, api=api, socket=socket, store_url=store_url)
        body = first.event_envelope({"text": AIRFLOW_TEXT, "user": "UHUMAN"})
        ts = body["event"]["ts"]
        try:
            await socket.ack(await socket.send("events_api", body))
            await api.wait_for(answered(ALERTS, ts))
            await first.idle()
        finally:
            await first.close()
        second = await SocketWorld.start(tmp_path, api=api, socket=socket, store_url=store_url)
        try:
            again = await socket.send("events_api", body, retry_attempt=1, retry_reason="timeout")
            assert await socket.ack(again) == {"envelope_id": again}
            await second.idle()
        finally:
            await second.close()
    finally:
        await socket.stop()
        await api.stop()
    assert len(api.of("chat.postMessage")) == 1 and len(api.of("reactions.add", ok_only=False)) == 1


async def test_a_triage_given_up_after_its_attempts_says_so_in_its_thread_once(tmp_path, fake):
    """Three holders stopped before finishing (each left "Triage paused" behind): the next sweep gives it up and
    the paused reply says so instead of promising a report; later sweeps say nothing more."""
    from bot.contract import Alert
    from bot.slack.recovery import resume_expired
    from bot.store import open_store

    ts = "1700000720.000100"
    (tmp_path / "state").mkdir(exist_ok=True)
    store = await open_store(f"sqlite:///{tmp_path / 'state' / 'etl-triage.db'}")
    claim = await store.claim_alert(ALERTS, ts, Alert(job="orders_daily", source="airflow").model_dump(),
                                    owner="dead-1", lease_s=0.01)
    assert claim is not None
    paused = fake.add_message(ALERTS, "Triage paused", thread_ts=ts, bot_id=BOT_ID)
    await store.set_reply(claim, ALERTS, paused)
    for owner in ("dead-2", "dead-3"):
        await asyncio.sleep(0.05)
        assert len(await store.claim_expired(owner=owner, lease_s=0.01)) == 1
    await asyncio.sleep(0.05)
    await store.close()
    w = await SlackWorld.start(tmp_path, fake=fake)
    try:
        assert await resume_expired(w.rt) == 1
        await w.idle()
        assert await resume_expired(w.rt) == 0
        await w.idle()
    finally:
        await w.close()
    [update] = [c for c in fake.of("chat.update") if c.args["ts"] == paused]
    said = json.dumps(update.args)
    assert "Triage given up* after 3 attempts" in said and "/triage orders_daily" in said
    assert fake.of("chat.postMessage") == []                   # the paused reply became the answer, no second one


NO_JOB_ALERT = {"bot_id": "B0AIRFLOW", "subtype": "bot_message", "username": "Airflow",
                "text": ":x: Task load_events failed after 3 attempts"}


async def test_a_slow_no_job_reply_keeps_its_claim_and_gets_no_second_reply(tmp_path, fake, store_url):
    """The 'no job recognised' reply held a lease nobody renewed: a post slower than the lease (a paced storm)
    let the sweep take the claim over and triage an empty alert in the same thread."""
    from bot.slack.recovery import resume_expired

    w = await SlackWorld.start(tmp_path, fake=fake, store_url=store_url, lease_s=0.5)
    fake.slow("chat.postMessage", 1.5, thread_ts="1700000001.000200")
    try:
        await w.event(NO_JOB_ALERT)
        await asyncio.sleep(0.8)              # the reply is still being posted, past the 0.5 s lease
        assert await resume_expired(w.rt) == 0
        await w.idle()
        texts = [m["text"] for m in w.thread_messages(ALERTS, "1700000001.000200")]
    finally:
        await w.close()
    assert len(texts) == 1 and "triage" in texts[0].lower() and "Couldn't" not in texts[0]


async def test_a_no_job_alert_whose_holder_died_gets_the_no_job_reply_not_a_triage(tmp_path, fake, store_url):
    from bot.contract import Alert
    from bot.slack.recovery import resume_expired

    w = await SlackWorld.start(tmp_path, fake=fake, store_url=store_url)
    try:
        ts = fake.add_message(ALERTS, NO_JOB_ALERT["text"])
        claim = await w.rt.state.store.claim_alert(ALERTS, ts, Alert(source="slack").model_dump(), owner="dead",
                                                   lease_s=0.01)
        assert claim is not None
        await asyncio.sleep(0.05)             # the dead holder's lease runs out
        assert await resume_expired(w.rt) == 1
        await w.idle()
        texts = [m["text"] for m in w.thread_messages(ALERTS, ts)]
        rows = await w.rt.state.store.history()
    finally:
        await w.close()
    assert len(texts) == 1 and texts[0].startswith("Which job should I triage?")
    assert [r.status for r in rows] == ["failed"]
