"""Incidents and memory at the wire: the real Bolt app over HTTP, the fake Web API, a SQLite file or a Postgres
schema. Alerts of one failure share one triage; verdicts change what the next identical failure says."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.fakes.slack_api import BOT_ID, FakeSlackAPI
from tests.fakes.slack_world import ALERTS, ORDERS_LOG, SlackWorld

KEYERROR = ORDERS_LOG.replace("2026-11-20", "{day}")
DNS = """\
[{day}, 04:00:01 UTC] ERROR - Task failed with exception
psycopg2.OperationalError: could not translate host name "wh.prod.internal" to address: Temporary failure in \
name resolution
"""


def alert_text(job: str, run: str) -> str:
    return f"Task Failed. *Dag*: {job} *Task*: load *Run ID*: {run}"


def write_log(tmp: Path, job: str, text: str, day: str = "2026-11-20") -> None:
    d = tmp / "logs" / job
    d.mkdir(parents=True, exist_ok=True)
    (d / f"scheduled__{day}T02_00_00.log").write_text(text.format(day=day))


@pytest.fixture
async def fake():
    f = await FakeSlackAPI().start()
    yield f
    await f.stop()


def bot_replies(fake: FakeSlackAPI, ts: str) -> list[dict]:
    return [m for (ch, _), m in fake.messages.items() if ch == ALERTS and m.get("thread_ts") == ts
            and m.get("bot_id") == BOT_ID]


def final(m: dict) -> bool:
    return any(b.get("block_id") == "triage_actions" for b in m.get("blocks") or [])


def all_answered(stamps: list[str]):
    return lambda f: all(any(final(m) for m in bot_replies(f, ts)) for ts in stamps)


def assert_first_leads(fake: FakeSlackAPI, first: str, later: str) -> None:
    """`first`'s thread holds the incident's full report; `later`'s the short "Same cause as" reply."""
    [lead], [repeat] = bot_replies(fake, first), bot_replies(fake, later)
    assert "Root cause" in json.dumps(lead["blocks"])
    assert "Same cause as <https://" in json.dumps(repeat["blocks"])


async def send(w: SlackWorld, job: str, ts: str, run: str = "scheduled__2026-11-20T02:00:00") -> None:
    await w.event({"text": alert_text(job, run), "user": "UHUMAN", "ts": ts})


async def test_incident_repeats_get_a_short_reply_and_the_first_report_the_live_count(tmp_path, fake, store_url):
    for job in ("ing_a", "ing_b", "ing_c"):
        write_log(tmp_path, job, KEYERROR)
    write_log(tmp_path, "ing_d", DNS)
    w = await SlackWorld.start(tmp_path, fake=fake, store_url=store_url)
    try:
        stamps = ["1800000001.000100", "1800000002.000100", "1800000003.000100", "1800000004.000100",
                  "1800000005.000100"]
        for job, ts in zip(("ing_a", "ing_b", "ing_d", "ing_c", "ing_a"), stamps, strict=True):
            await send(w, job, ts)
        await fake.wait_for(all_answered(stamps), timeout=30)
        await w.idle()
        rows = await w.rt.state.store.history()
    finally:
        await w.close()
    replies = {ts: bot_replies(fake, ts) for ts in stamps}
    assert all(len(r) == 1 for r in replies.values()), replies          # one reply per alert, none lost
    full = [ts for ts, [m] in replies.items() if "Root cause" in json.dumps(m["blocks"])]
    assert full == [stamps[0], stamps[2]]                               # one full report per distinct failure
    for ts in (stamps[1], stamps[3], stamps[4]):
        [m] = replies[ts]
        text = json.dumps(m["blocks"])
        assert "Same cause as <https://" in text and "`ing_a`'s report" in text
        assert "job(s) affected so far" in text and final(m)
    [first] = replies[stamps[0]]
    header = next(b for b in first["blocks"] if b["type"] == "header")["text"]["text"]
    assert header.endswith("· 3 jobs affected")                        # ing_a, ing_b, ing_c (ing_a twice)
    incident_ctx = json.dumps([b for b in first["blocks"] if b.get("block_id") == "triage_incident"])
    assert "4 alert(s) from 3 job(s)" in incident_ctx
    assert sorted(r.status for r in rows) == ["done"] * 5
    assert len({r.fingerprint for r in rows}) == 2


async def test_the_first_alert_of_a_storm_leads_even_when_it_is_slower_to_reach_its_incident(tmp_path, fake):
    """Alerts reach their incident in any order (here Slack is slow to take the first alert's reaction); the
    incident is still led by the alert posted first, so its thread holds the full report."""
    write_log(tmp_path, "ing_a", KEYERROR)
    write_log(tmp_path, "ing_b", KEYERROR)
    stamps = ["1800000001.000100", "1800000002.000100"]
    fake.slow("reactions.add", 1.0, timestamp=stamps[0])
    w = await SlackWorld.start(tmp_path, fake=fake)
    try:
        await send(w, "ing_a", stamps[0])
        await send(w, "ing_b", stamps[1])
        await fake.wait_for(all_answered(stamps), timeout=30)
        await w.idle()
    finally:
        await w.close()
    assert_first_leads(fake, *stamps)


async def test_an_alert_that_joins_no_incident_does_not_hold_the_next_one(tmp_path, fake):
    """ing_a has no log, so it joins no incident and is triaged alone (here Slack takes 3 s to accept its reply);
    ing_b, posted after it, must not wait for that whole triage before joining its own incident."""
    write_log(tmp_path, "ing_b", KEYERROR)
    stamps = ["1800000001.000100", "1800000002.000100"]
    fake.slow("chat.postMessage", 3.0, thread_ts=stamps[0])
    w = await SlackWorld.start(tmp_path, fake=fake)
    try:
        await send(w, "ing_a", stamps[0])
        await send(w, "ing_b", stamps[1])
        await fake.wait_for(all_answered([stamps[1]]), timeout=30)
        replied_a = bot_replies(fake, stamps[0])
        await fake.wait_for(lambda f: bot_replies(f, stamps[0]), timeout=30)
        await w.idle()
    finally:
        await w.close()
    assert replied_a == [], "ing_b was answered only after ing_a's whole triage"


async def test_incident_escalate_on_a_repeat_escalates_the_incident_once_listing_jobs(tmp_path, fake):
    for job in ("ing_a", "ing_b"):
        write_log(tmp_path, job, KEYERROR)
    w = await SlackWorld.start(tmp_path, fake=fake)
    try:
        await send(w, "ing_a", "1800000001.000100")
        await send(w, "ing_b", "1800000002.000100")
        await fake.wait_for(all_answered(["1800000001.000100", "1800000002.000100"]), timeout=30)
        await w.idle()
        [repeat] = bot_replies(fake, "1800000002.000100")
        [first] = bot_replies(fake, "1800000001.000100")
        action = next(e["action_id"] for b in repeat["blocks"] if b.get("type") == "actions"
                      for e in b["elements"] if e.get("style") == "primary")
        await w.click(ALERTS, repeat, action)
        await w.idle()
        await w.click(ALERTS, dict(fake.messages[(ALERTS, first["ts"])]), action, user="UCAROL")
        await w.idle()
    finally:
        await w.close()
    to_team = [p for p in fake.of("chat.postMessage") if p.args["channel"] == "CDATAENG"]
    assert len(to_team) == 1
    assert "escalated an incident" in to_team[0].args["text"] and "2 job(s) affected: `ing_a`, `ing_b`" in \
        to_team[0].args["text"]


async def _wrong(w: SlackWorld, fake: FakeSlackAPI, msg: dict, category: str, cause: str, user: str) -> None:
    opened_before = len(fake.of("views.open"))
    await w.click(ALERTS, msg, "triage_wrong", user=user)
    [*_, opened] = await fake.wait_for(lambda f: len(f.of("views.open")) > opened_before and f.of("views.open"))
    await w.idle()
    await w.submit_view(opened.result["view"], {
        "category": {"value": {"type": "static_select", "selected_option": {"value": category}}},
        "cause": {"value": {"type": "plain_text_input", "value": cause}}}, user=user)
    await w.idle()


async def test_feedback_wrong_diagnosis_overrides_the_next_identical_failure_for_that_team_only(
        tmp_path, fake, store_url):
    write_log(tmp_path, "customer_sync", KEYERROR)        # team crm; orders_daily (team orders) has the same log
    write_log(tmp_path, "orders_daily", KEYERROR)
    write_log(tmp_path, "orders_daily", KEYERROR, day="2026-11-21")   # the next day's run: the same failure
    w = await SlackWorld.start(tmp_path, fake=fake, store_url=store_url)
    try:
        await send(w, "orders_daily", "1800000001.000100")
        await fake.wait_for(all_answered(["1800000001.000100"]), timeout=30)
        await w.idle()
        [first] = bot_replies(fake, "1800000001.000100")
        assert "DATA problem" in json.dumps(first["blocks"])
        await _wrong(w, fake, first, "code", "a deploy renamed customer_id", "UBOB")

        await send(w, "orders_daily", "1800000002.000100", run="scheduled__2026-11-21T02:00:00")
        await send(w, "customer_sync", "1800000003.000100")
        await fake.wait_for(all_answered(["1800000002.000100", "1800000003.000100"]), timeout=30)
        await w.idle()
        rows = await w.rt.state.store.history(job="orders_daily")
    finally:
        await w.close()
    [again] = bot_replies(fake, "1800000002.000100")
    shown = json.dumps(again["blocks"])
    header = next(b for b in again["blocks"] if b["type"] == "header")["text"]["text"]
    assert header == "orders_daily: CODE problem"
    assert "a deploy renamed customer_id (the team's correction, by @UBOB on " in shown  # log-derived: never pings
    assert "feedback  @UBOB corrected this failure on " in shown
    assert ": it was code, a deploy renamed customer_id" in shown
    assert "this was marked wrong by <@UBOB>: the team said code, not data" in shown
    assert "Learned from the team: correction by <@UBOB>" in shown
    [other] = bot_replies(fake, "1800000003.000100")           # team crm: nothing of team orders' verdicts
    other_shown = json.dumps(other["blocks"])
    assert "DATA problem" in other_shown and "UBOB" not in other_shown and "marked wrong" not in other_shown
    newest = rows[0]
    assert newest.category == "code" and newest.fingerprint == rows[1].fingerprint


async def test_feedback_export_writes_corrected_triages_as_eval_cases_that_eval_scores(tmp_path, fake, store_url):
    from tests.test_anthropic_cli import _cli, _env

    write_log(tmp_path, "orders_daily", KEYERROR.replace("customer_id", "customer_id password=hunter2"))
    w = await SlackWorld.start(tmp_path, fake=fake, store_url=store_url)
    try:
        await send(w, "orders_daily", "1800000001.000100")
        await fake.wait_for(all_answered(["1800000001.000100"]), timeout=30)
        await w.idle()
        [first] = bot_replies(fake, "1800000001.000100")
        await _wrong(w, fake, first, "code", "a deploy renamed customer_id", "UBOB")
    finally:
        await w.close()
    out = tmp_path / "exported"
    env = _env(ETL_TRIAGE_DATABASE_URL=store_url)
    code, text, err = await _cli("feedback", "export", "--since", "30d", str(out), "--topology",
                                 str(tmp_path / "topology.toml"), "--log-root", str(tmp_path / "logs"), env=env)
    assert code == 0, err
    [case] = list(out.iterdir())
    toml = (case / "case.toml").read_text()
    assert 'category = "code"' in toml and 'job = "orders_daily"' in toml and "UBOB" in toml
    log = (case / "run.log").read_text()
    assert "KeyError" in log and "hunter2" not in log                  # the excerpt, redacted
    code, text, err = await _cli("eval", str(out), "--json", env=env)
    assert code == 0, err
    scored = json.loads(text)
    assert scored["n"] == 1 and scored["per_tag"]["from-feedback"]                # the team's own held-out case
    assert "code" in json.dumps(scored["confusion"])


async def test_feedback_resolved_note_is_offered_as_the_action_next_time(tmp_path, fake):
    write_log(tmp_path, "orders_daily", KEYERROR)
    write_log(tmp_path, "orders_daily", KEYERROR, day="2026-11-21")
    w = await SlackWorld.start(tmp_path, fake=fake)
    try:
        await send(w, "orders_daily", "1800000001.000100")
        await fake.wait_for(all_answered(["1800000001.000100"]), timeout=30)
        await w.idle()
        [first] = bot_replies(fake, "1800000001.000100")
        await w.click(ALERTS, first, "triage_resolved", user="UCAROL")
        [opened] = await fake.wait_for(lambda f: f.of("views.open"))
        await w.idle()
        await w.submit_view(opened.result["view"], {
            "note": {"value": {"type": "plain_text_input", "value": "re-ran the upstream export with the old header"}}},
            user="UCAROL")
        await w.idle()
        await send(w, "orders_daily", "1800000002.000100", run="scheduled__2026-11-21T02:00:00")
        await fake.wait_for(all_answered(["1800000002.000100"]), timeout=30)
        await w.idle()
        [row, _] = await w.rt.state.store.history(job="orders_daily")
    finally:
        await w.close()
    [again] = bot_replies(fake, "1800000002.000100")
    shown = json.dumps(again["blocks"])
    assert "Recommended action*\\nre-ran the upstream export with the old header (how @UCAROL resolved it" in shown
    mem = json.dumps([b for b in again["blocks"] if b.get("block_id") == "triage_memory"], ensure_ascii=False)
    assert "seen 1× in 30 days; last resolved by <@UCAROL> today: re-ran the upstream export" in mem, mem
    assert row.learned_from and row.learned_from.startswith("resolution by @UCAROL")


async def test_a_resumed_alert_keeps_its_place_in_the_storm(tmp_path, fake):
    """The first alert's holder died before it reached its incident; the next process resumes it while a later
    alert of the same failure arrives. The resumed alert was posted first, so it still leads (here Slack is slow
    to take its reaction) and the later one gets the short reply."""
    from bot.slack.recovery import resume_expired

    write_log(tmp_path, "ing_a", KEYERROR)
    write_log(tmp_path, "ing_b", KEYERROR)
    stamps = ["1800000001.000100", "1800000002.000100"]
    fake.stall("reactions.add")                                  # the first holder never gets past its reaction
    first = await SlackWorld.start(tmp_path, fake=fake, lease_s=3600)
    await send(first, "ing_a", stamps[0])
    await fake.wait_for(lambda f: [c for c in f.calls if c.method == "reactions.add"])
    await first.close(drain_timeout_s=0.1)                       # its lease is released for the next process
    fake.unstall()
    fake.slow("reactions.add", 1.0, timestamp=stamps[0])
    second = await SlackWorld.start(tmp_path, fake=fake, lease_s=3600)
    try:
        assert await resume_expired(second.rt) == 1
        await send(second, "ing_b", stamps[1])
        await fake.wait_for(all_answered(stamps), timeout=30)
        await second.idle()
    finally:
        await second.close()
    assert_first_leads(fake, *stamps)



async def _two_of_one_incident(tmp_path: Path, store_url: str) -> tuple[SlackWorld, str, str]:
    """A bot whose two alerts of one cause have been answered: the first's report, the second's short reply."""
    for job in ("ing_a", "ing_b"):
        write_log(tmp_path, job, KEYERROR)
    w = await SlackWorld.start(tmp_path, store_url=store_url)
    a, b = "1800000001.000100", "1800000002.000100"
    try:
        await send(w, "ing_a", a)
        await send(w, "ing_b", b)
        await w.fake.wait_for(all_answered([a, b]), timeout=30)
        await w.idle()
    except BaseException:
        await w.close()
        raise
    return w, a, b


async def test_an_incident_escalated_once_stays_escalated_after_the_click_lease(tmp_path, store_url):
    """The click was claimed under the incident but marked posted under the message: the claim's 60 s lease ran
    out and a later click on the incident's first report escalated it a second time."""
    w, a, b = await _two_of_one_incident(tmp_path, store_url)
    fake = w.fake
    try:
        [repeat], [first] = bot_replies(fake, b), bot_replies(fake, a)
        action = next(e["action_id"] for bl in repeat["blocks"] if bl.get("type") == "actions"
                      for e in bl["elements"] if e.get("style") == "primary")
        await w.click(ALERTS, repeat, action)
        await w.idle()
        async with w.rt.state.store.backend.tx() as tx:
            rows = await tx.fetchall("SELECT status FROM escalations")
        assert [r[0] for r in rows] == ["posted"]
        w.rt.state.store.clock = lambda: time.time() + 61          # a minute later
        await w.click(ALERTS, dict(fake.messages[(ALERTS, first["ts"])]), action, user="UCAROL")
        await w.idle()
        to_team = [p for p in fake.of("chat.postMessage") if p.args["channel"] == "CDATAENG"]
        assert len(to_team) == 1, [p.args["text"][:80] for p in to_team]
    finally:
        await w.close()


async def test_a_report_slack_refuses_to_put_in_the_placeholder_is_posted_as_a_new_reply(tmp_path):
    """One failed final chat.update (ok: false, not message_not_found) marked the triage failed, threw the
    report away and left the thread saying 'Triaging `job`…' for good."""
    write_log(tmp_path, "ing_a", KEYERROR)
    w = await SlackWorld.start(tmp_path)
    fake, answer, failed = w.fake, w.fake._answer, []

    def once(method, args):   # only the final update (the report, with its buttons) fails, once
        if method == "chat.update" and "triage_actions" in str(args.get("blocks")) and not failed:
            failed.append(1)
            return {"ok": False, "error": "internal_error"}
        return answer(method, args)

    fake._answer = once
    try:
        a = "1800000001.000100"
        await send(w, "ing_a", a)
        await fake.wait_for(lambda f: len(bot_replies(f, a)) == 2, timeout=30)
        await w.idle()
        rows = await w.rt.state.store.history()
    finally:
        await w.close()
    placeholder, report = bot_replies(fake, a)
    assert failed and "report is in the next reply" in placeholder["text"]
    assert "triage_actions" in str(report["blocks"])
    assert [r.status for r in rows] == ["done"] and rows[0].root_cause


async def test_a_resumed_repeat_updates_its_same_cause_reply_instead_of_posting_another(tmp_path, store_url):
    """A repeat whose holder died after posting 'Same cause as…' (or whose finish hit a store blip) is resumed
    by the sweep: it posted a second short reply in the same thread."""
    from bot.slack.recovery import resume_expired

    w, _a, b = await _two_of_one_incident(tmp_path, store_url)
    fake = w.fake
    try:
        # b's holder "dies" after its reply, before recording it: the claim is open again, its lease run out
        async with w.rt.state.store.backend.tx() as tx:
            await tx.execute("UPDATE triages SET status = 'running', lease_owner = 'dead', lease_until = 0, "
                             "reply_ts = NULL, finished_at = NULL "
                             "WHERE alert_id = (SELECT id FROM alerts WHERE ts = ?)", (b,))
        assert await resume_expired(w.rt) == 1
        await w.idle()
        assert len(bot_replies(fake, b)) == 1 and final(bot_replies(fake, b)[0])
    finally:
        await w.close()


async def test_the_live_count_after_a_restart_keeps_the_first_reports_status_and_spent_buttons(tmp_path, fake,
                                                                                                 store_url):
    """Bumping the count after a restart (or from another replica) rebuilt the first report from the stored
    one: its 'Escalated to … by …' line vanished and the spent Escalate button came back."""
    for job in ("ing_a", "ing_b", "ing_c"):
        write_log(tmp_path, job, KEYERROR)
    a, b, c = "1800000001.000100", "1800000002.000100", "1800000003.000100"
    w = await SlackWorld.start(tmp_path, fake=fake, store_url=store_url)
    try:
        await send(w, "ing_a", a)
        await send(w, "ing_b", b)
        await fake.wait_for(all_answered([a, b]), timeout=30)
        await w.idle()
        [first] = bot_replies(fake, a)
        action = next(e["action_id"] for bl in first["blocks"] if bl.get("type") == "actions"
                      for e in bl["elements"] if e.get("style") == "primary")
        await w.click(ALERTS, first, action)
        await w.idle()
    finally:
        await w.close()
    assert "Escalated to" in json.dumps(fake.messages[(ALERTS, first["ts"])]["blocks"])
    w2 = await SlackWorld.start(tmp_path, fake=fake, store_url=store_url)   # restart (or a second replica)
    try:
        await send(w2, "ing_c", c)
        await fake.wait_for(all_answered([c]), timeout=30)
        await w2.idle()
        await fake.wait_for(lambda f: "3 jobs" in json.dumps(f.messages[(ALERTS, first["ts"])]["blocks"]), 10)
    finally:
        await w2.close()
    blocks = json.dumps(fake.messages[(ALERTS, first["ts"])]["blocks"])
    assert "Escalated to" in blocks and action not in blocks


async def test_the_permalink_cache_stays_bounded(tmp_path):
    """One entry per incident for the life of the process: a bot up for months grew it without end."""
    from bot.slack.incident_state import MAX_TRACKED
    from bot.slack.incidents import permalink

    w = await SlackWorld.start(tmp_path)
    try:
        cache = w.rt.incidents.permalinks
        cache.update({(ALERTS, f"1600000000.{i:06d}"): "https://x" for i in range(MAX_TRACKED)})
        ts = w.fake.add_message(ALERTS, "a report")
        assert (await permalink(w.rt, ALERTS, ts) or "").startswith("https://")
        assert len(cache) == MAX_TRACKED and (ALERTS, ts) in cache
    finally:
        await w.close()
