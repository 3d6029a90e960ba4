"""Who may raise an alert and how a person asks, at the wire (signed events to the real app, fake Web API)."""

from __future__ import annotations

import json

import pytest

from bot.errors import TopologyError
from bot.topology import load_topology
from tests.fakes.slack_api import BOT_USER_ID
from tests.fakes.slack_world import ALERTS, TOPOLOGY, SlackWorld

AIRFLOW_BOT = {"bot_id": "B0AIRFLOW", "subtype": "bot_message", "username": "Airflow"}


@pytest.fixture
async def world(tmp_path):
    w = await SlackWorld.start(tmp_path)
    yield w
    await w.close()


def _posts(world: SlackWorld, thread_ts: str) -> list[str]:
    return [c.args["text"] for c in world.fake.of("chat.postMessage") if c.args.get("thread_ts") == thread_ts]


async def _settled(world: SlackWorld) -> None:
    """Bolt runs listeners after the ack: a bot alert sent last and answered means all earlier were handled."""
    await world.event({"bot_id": "B0SENTINEL", "text": "Job customer_sync failed"})
    ts = f"1700000{world._n:03d}.000200"
    await world.fake.wait_for(lambda fake: any(c.args.get("thread_ts") == ts for c in fake.of("chat.postMessage")))
    await world.idle()


async def test_intake_a_person_saying_a_job_failed_gets_no_reply(world):
    await world.event({"user": "U0ALICE", "text": "Task Failed. Dag: orders_daily Task: load_orders"})
    await _settled(world)
    assert _posts(world, "1700000001.000200") == []
    assert [c.args["timestamp"] for c in world.fake.of("reactions.add")] == ["1700000002.000200"]   # the sentinel


async def test_intake_mention_in_an_alerts_thread_triages_the_alert(world):
    alert_ts = "1600000000.000100"
    world.fake.history[(ALERTS, alert_ts)] = {"type": "message", "ts": alert_ts, "user": "U0BOB",
                                              "text": "Task Failed. Dag: orders_daily Run ID: manual__1"}
    await world.event({"user": "U0ALICE", "text": f"<@{BOT_USER_ID}> can you look at this?", "thread_ts": alert_ts})
    await world.fake.wait_for(lambda fake: _posts(world, alert_ts))
    await world.idle()
    replies = world.fake.of("conversations.replies")
    assert replies and replies[0].args["ts"] == alert_ts
    assert _posts(world, alert_ts)[0].startswith("Triaging `orders_daily`")
    assert [c.args["timestamp"] for c in world.fake.of("reactions.add")] == [alert_ts]


async def test_intake_mention_naming_a_job_triages_it(world):
    await world.event({"user": "U0ALICE", "text": f"<@{BOT_USER_ID}> customer_sync please"})
    await _settled(world)
    assert _posts(world, "1700000001.000200")[0].startswith("Triaging `customer_sync`")


async def test_intake_mention_without_a_job_asks_which(world):
    await world.event({"user": "U0ALICE", "text": f"<@{BOT_USER_ID}> hello?"})
    await _settled(world)
    (text,) = _posts(world, "1700000001.000200")
    assert "Which job" in text and "/triage JOB_NAME" in text


async def test_intake_failure_without_a_job_says_what_it_saw(world):
    await world.event({**AIRFLOW_BOT, "text": ":x: Task load_events failed after 3 attempts"})
    await _settled(world)
    (text,) = _posts(world, "1700000001.000200")
    assert "failure alert from *airflow* (task `load_events`)" in text and "/triage JOB_NAME" in text
    assert "1700000001.000200" not in [c.args["timestamp"] for c in world.fake.of("reactions.add")]


async def test_intake_a_guessed_job_is_stated_in_the_thread(world):
    await world.event({**AIRFLOW_BOT, "username": "argo", "text": "Workflow etl-orders-daily-7x2kp Failed"})
    await _settled(world)
    msg = world.thread_messages(ALERTS, "1700000001.000200")[0]
    body = json.dumps(msg["blocks"])
    assert "The alert names `etl-orders-daily-7x2kp`" in body and "closest registered job" in body
    assert msg["text"].startswith("orders_daily")


async def test_intake_allowed_senders_are_per_channel(world):
    from bot.topology import AlertSender

    world.rt.topology.alerts.senders = [AlertSender(id="U0ELSEWHERE", channels=["COTHER"]), AlertSender(id="U0ANY")]
    await world.event({"user": "U0ELSEWHERE", "text": "Task Failed. Dag: orders_daily"})
    await world.event({"user": "U0ANY", "text": "Task Failed. Dag: customer_sync"})
    await _settled(world)
    assert _posts(world, "1700000001.000200") == []                 # allowed in COTHER only
    assert _posts(world, "1700000002.000200")[0].startswith("Triaging `customer_sync`")


@pytest.mark.parametrize(("alerts", "says"), [
    ('senders = ["alice"]', "'alice' is not a Slack user or bot id"),
    ('senders = [{ id = "U0ALERTS", channel = ["C0A"] }]', "unknown key 'channel' (did you mean 'channels'?)"),
    ('senders = [{ id = "U0ALERTS", channels = ["#etl-ops"] }]', "'#etl-ops' is not a channel id"),
    ('late_is_failure = "yes"', "field 'late_is_failure': Input should be a valid boolean"),
    ("patterns = ['(?<=dag=)(?P<job>\\w+)']", "lookbehind (?<=…) / (?<!…) is not supported"),
])
def test_intake_alerts_config_is_validated_strictly(tmp_path, alerts, says):
    (tmp_path / "p.md").write_text("p")
    body = TOPOLOGY.replace('[alerts]\nsenders = ["UHUMAN"]\n', "")
    (tmp_path / "topology.toml").write_text(body % {"escalation": "", "extra": f"[alerts]\n{alerts}\n"})
    with pytest.raises(TopologyError) as e:
        load_topology(tmp_path / "topology.toml", {"log_root": str(tmp_path)})
    assert says in str(e.value) and "[alerts]" in str(e.value)
