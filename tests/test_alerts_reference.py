"""The reference set, as Slack delivers it: signed events to the real Bolt app, replies read from the fake Web
API. Every failure gets a thread reply naming the right job (or saying no job was found and offering
/triage); no negative gets any reply or reaction."""

from __future__ import annotations

import json

import pytest

from bot.cli import main
from tests.alert_fixtures import JOBS_TOML, load_fixtures
from tests.fakes.slack_world import ALERTS, SlackWorld, make_topology

FIXTURES = load_fixtures()


def test_reference_set_covers_the_tools_and_shapes():
    tools = {f.id.split("/")[0] for f in FIXTURES}
    assert {"airflow", "dagster", "prefect", "dbt_cloud", "elementary", "great_expectations", "airbyte", "fivetran",
            "meltano", "kestra", "mage", "argo", "aws_glue", "github_actions", "jenkins", "datadog", "pagerduty",
            "opsgenie", "people", "deploys"} <= tools
    assert sum(f.failure for f in FIXTURES) >= 50 and sum(not f.failure for f in FIXTURES) >= 15
    assert all(f.source for f in FIXTURES)                      # every case cites where its shape comes from


async def test_reference_set_at_the_wire(tmp_path):
    # recognition, not grouping: with incidents on, repeats of one job's failure get a "Same cause as" reply
    world = await SlackWorld.start(tmp_path, extra_topology=JOBS_TOML + "\n[incidents]\nenabled = false\n")
    try:
        sent = []
        for f in FIXTURES:
            resp = await world.event(f.event)
            assert resp.status == 200
            sent.append((f, f"1700000{world._n:03d}.000200"))
        # Bolt runs listeners after the ack: a last alert's reply means every earlier message was handled.
        await world.event({"bot_id": "B0SENTINEL", "text": "Job customer_sync failed"})
        sentinel = f"1700000{world._n:03d}.000200"
        await world.fake.wait_for(lambda fake: any(c.args.get("thread_ts") == sentinel
                                                   for c in fake.of("chat.postMessage")))
        await world.idle()
        recognised = right_job = false_positive = 0
        misses: list[str] = []
        for f, ts in sent:
            replies = sorted((m for m in world.thread_messages(ALERTS, ts)), key=lambda m: m["ts"])
            posts = [c.args for c in world.fake.of("chat.postMessage") if c.args.get("thread_ts") == ts]
            reacted = any(c.args.get("timestamp") == ts for c in world.fake.of("reactions.add"))
            if not f.failure:
                if posts or reacted:
                    false_positive += 1
                    misses.append(f"{f.id}: answered a non-alert: {posts[0]['text'] if posts else 'reaction'}")
                continue
            if not posts:
                misses.append(f"{f.id}: no reply")
                continue
            recognised += 1
            first = posts[0]["text"]
            if f.job is None:
                ok = "/triage JOB_NAME" in first and "Triaging" not in first
            else:
                ok = first.startswith(f"Triaging `{f.job}`")
            right_job += ok
            if not ok:
                misses.append(f"{f.id}: expected job {f.job!r}, replied {first!r}")
            assert len(replies) == 1, f"{f.id}: one reply per alert, got {len(replies)}"
        failures = sum(f.failure for f in FIXTURES)
        print(f"\nreference set at the wire: recognised {recognised}/{failures}, right job {right_job}/{failures}, "
              f"false positives {false_positive}/{len(FIXTURES) - failures}")
        assert not misses, "\n".join(misses)
    finally:
        await world.close()


@pytest.fixture(scope="module")
def topology_file(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ref")
    make_topology(tmp, extra=JOBS_TOML)
    return tmp / "topology.toml"


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.id for f in FIXTURES])
def test_reference_set_through_the_alert_command(fixture, topology_file, capsys):
    assert main(["alert", str(fixture.path), "--topology", str(topology_file), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["failure"] is fixture.failure, got["reason"]
    if fixture.failure:
        assert (got["job"], got["run_id"], got["task"]) == (fixture.job, fixture.run_id, fixture.task)


def test_alert_command_explains_in_words(topology_file, capsys):
    path = next(f.path for f in FIXTURES if f.id == "argo/exit_handler_slack")
    assert main(["alert", str(path), "--topology", str(topology_file)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("FAILURE: failure state 'failed'")
    assert "job:      orders_daily  [guess, from 'etl-orders-daily-7x2kp']" in out
    assert "sender:   bot argo-workflows (argo)" in out


@pytest.mark.parametrize(("content", "says"), [
    ("not json", "not JSON"), ('{"foo": 1}', "no Slack message found"), ("[1, 2]", "no Slack message found"),
])
def test_alert_command_refuses_what_is_not_a_message(tmp_path, capsys, content, says):
    bad = tmp_path / "m.json"
    bad.write_text(content)
    assert main(["alert", str(bad)]) == 2
    assert says in capsys.readouterr().err


def test_alert_command_reads_an_events_api_envelope(tmp_path, topology_file, capsys):
    f = next(f for f in FIXTURES if f.id == "jenkins/build_failure")
    env = tmp_path / "envelope.json"
    env.write_text(json.dumps({"type": "event_callback", "event": {"type": "message", **f.event}}))
    assert main(["alert", str(env), "--topology", str(topology_file), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["job"] == "orders_daily"
