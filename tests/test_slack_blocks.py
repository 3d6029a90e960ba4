"""Block Kit rendering stays inside Slack's limits and escapes everything it inserts."""

from __future__ import annotations

import json

from bot.contract import Escalation, Evidence, StageResult, TriageReport
from bot.slack import blocks as B


def _report(**kw) -> TriageReport:
    base = dict(job="orders_daily", category="data", confidence=0.8, root_cause="Column dropped upstream.",
                action="Ask the source team.", escalation=Escalation(team="Data Eng"), provider="offline",
                duration_ms=12.0, log_path="/l/orders_daily/a.log",
                stages=[StageResult(name="classify", status="ok", output_kind="classification",
                                    provider="offline", duration_ms=3)])
    base.update(kw)
    return TriageReport(**base)


TEAMS = [("data", "Data Eng"), ("infra", "Platform")]


def test_slack_blocks_escape_alert_and_log_text():
    r = _report(root_cause="<!channel> & <@U1>", evidence=[Evidence(path="/l/a.log", line=3, text="<!here> ```x")])
    payload = B.report_payload(r, TEAMS)
    dumped = json.dumps(payload)
    assert "<!channel>" not in dumped and "<!here>" not in dumped and "<@U1>" not in dumped
    assert "&lt;!channel&gt; &amp; &lt;@U1&gt;" in dumped
    assert "/l/a.log:3" in dumped


def test_memory_pings_the_resolver_but_not_an_id_quoted_from_a_log():
    """A past root cause quotes log text; its `@U0CEO42` became a real mention in the next report's memory."""
    r = _report(memory=["last resolved by @U0BOB 2 days ago: notify @U0CEO42 and @W0ALLHANDS when the feed is late"],
                learned_from="correction by @U0ANN on 2026-11-30")
    dumped = json.dumps(B.memory_block(r))
    assert "<@U0BOB>" in dumped and "<@U0ANN>" in dumped
    assert "<@U0CEO42>" not in dumped and "<@W0ALLHANDS>" not in dumped and "@U0CEO42" in dumped


def test_slack_blocks_truncate_to_limits_with_visible_note():
    huge = "x" * 10_000
    r = _report(job="j" * 400, root_cause=huge, action=huge,
                evidence=[Evidence(path="/l/a.log", line=i, text=huge) for i in range(1, 40)],
                escalation=Escalation(team="T" * 200))
    payload = B.report_payload(r, [("data", "T" * 200)])
    blocks = payload["blocks"]
    assert len(blocks) <= 50
    for b in blocks:
        if b["type"] == "header":
            assert len(b["text"]["text"]) <= 150
        if b["type"] == "section":
            assert len(b["text"]["text"]) <= 3000
        if b["type"] == "context":
            assert all(len(e["text"]) <= 2000 for e in b["elements"])
        if b["type"] == "actions":
            assert all(len(e["text"]["text"]) <= 75 and len(e["value"]) <= 2000 for e in b["elements"])
    root = next(b for b in blocks if b["type"] == "section" and "Root cause" in b["text"]["text"])
    assert root["text"]["text"].endswith("(truncated)")
    assert "more evidence line" in json.dumps(blocks)
    assert len(payload["text"]) <= 3000


def test_slack_blocks_fit_never_splits_an_entity():
    text = B.escape("a" * 10 + "<" * 10)
    out = B.fit(text, 16, "…")
    assert out.endswith("…") and "&l…" not in out and "&lt…" not in out


def test_slack_blocks_button_value_is_bounded_and_round_trips():
    value = B.button_value(k="data", j="orders_daily", s="é" * 5000)
    assert len(value) <= 2000
    data = B.parse_button_value(value)
    assert data["k"] == "data" and data["j"] == "orders_daily"
    assert B.parse_button_value("not json") == {}


def test_slack_blocks_progress_line_shows_stage_states():
    p = B.progress_payload("orders_daily", [("classify", "ok"), ("investigate", "running"), ("recommend", "pending")])
    assert "classify ✓ · investigate … · recommend" in json.dumps(p, ensure_ascii=False)
    assert p["text"] == "Triaging `orders_daily`…"


def test_slack_blocks_with_status_adds_line_once_and_drops_buttons():
    blocks = B.report_payload(_report(), TEAMS)["blocks"]
    once = B.with_status(blocks, "done", drop_actions=["triage_escalate:data"])
    twice = B.with_status(once, "done")
    status = [b for b in twice if b.get("block_id") == B.STATUS_BLOCK]
    assert len(status) == 1 and [e["text"] for e in status[0]["elements"]] == ["done"]
    ids = [e["action_id"] for b in twice if b["type"] == "actions" for e in b["elements"]]
    assert "triage_escalate:data" not in ids and "triage_escalate:infra" in ids


def test_slack_report_words_follow_the_confidence_and_show_the_runner_up():
    from bot.contract import Alternative

    sure = json.dumps(B.report_payload(_report(confidence=0.82), TEAMS))
    assert "confident (82%)" in sure and "Or perhaps" not in sure
    unsure = _report(category="code", confidence=0.42, alternatives=[Alternative(
        category="data", why="the column may have been renamed <upstream>",
        decide="compare the input's schema with the last good run")])
    text = json.dumps(B.report_payload(unsure, TEAMS))
    assert "unsure, two readings (42%)" in text
    assert "*Or perhaps*" in text and "the column may have been renamed &lt;upstream&gt;" in text
    assert "_To decide:_ compare the input" in text


def test_cli_report_text_says_the_certainty_and_the_alternative():
    from bot.contract import Alternative
    from bot.render import report_text

    text = report_text(_report(confidence=0.55, alternatives=[Alternative(category="infra", why="quota", decide="x")]))
    assert "DATA (likely, confidence 0.55)" in text
    assert "or perhaps  INFRA: quota — to decide: x" in text
