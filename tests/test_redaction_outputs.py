"""Every planted secret shape (tests/secrets_world.py, >= 60) stays out of all four outputs: `run`,
`run --json`, the Slack thread (fake Web API) and the Claude request bodies (fake Messages API).

The log reaches a model only through the sandbox, so its lines arrive redacted. To prove the report, the
terminal and Slack redact too, the fake model answers by quoting the *raw* planted lines (as a model that
was handed a secret some other way would): root cause, summaries and evidence all carry them.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.contract import Alert
from bot.engine import run_triage
from bot.providers.anthropic import AnthropicProvider
from bot.settings import Settings
from bot.topology import load_topology
from tests.conftest import ROOT
from tests.fakes.anthropic_api import FakeAnthropic, Reply, stage_of, submit, user_text
from tests.fakes.slack_world import ALERTS, SlackWorld
from tests.secrets_world import SECRETS, secret_log

KINDS = {k for k, _, _ in SECRETS}
ALERT_SECRET = "alert-Pw-31337"


def _echo(lines: list[str]):
    """A responder whose every answer quotes `lines` verbatim, secrets included, in its free text; its evidence
    cites the redacted lines it was shown (cited evidence must be what the stage saw), kept for later stages."""
    text = "\n".join(lines)
    cited: list[dict[str, Any]] = []

    def responder(body: dict[str, Any], n: int) -> Reply:
        kind = stage_of(body)
        shown = [e for e in _shown_lines(body) if "[REDACTED:" in e["text"]]
        evidence = shown or cited
        cited[:] = evidence
        answer = {
            "classification": {"category": "infra", "confidence": 0.9, "summary": text, "evidence": evidence},
            "investigation": {"category": "infra", "confidence": 0.9, "summary": text,
                              "findings": [{"source": "log", "summary": text, "evidence": evidence}]},
            "recommendation": {"category": "infra", "confidence": 0.9, "root_cause": text, "action": text,
                               "evidence": evidence},
            "text": {"text": text},
        }[kind]
        return submit(body, answer)

    return responder


def _shown_lines(body: dict[str, Any]) -> list[dict[str, Any]]:
    m = re.search(r"^## Log excerpt: (\S+) \(", user_text(body), re.MULTILINE)
    if m is None:
        return []
    return [{"path": m[1], "line": int(n), "text": t}
            for n, t in re.findall(r"^(\d+): (.*\S)\s*$", user_text(body)[m.end():], re.MULTILINE)]


def _leaks(text: str) -> list[str]:
    return [f"{kind}: {secret}" for kind, _, secret in SECRETS if secret in text]


def _markers(text: str) -> set[str]:
    return set(re.findall(r"\[REDACTED:([a-z_]+)\]", text))


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _world(tmp_path: Path) -> Path:
    log = tmp_path / "logs" / "orders_daily" / "2026-11-20T02-00-00.log"
    log.parent.mkdir(parents=True)
    log.write_text(secret_log())
    return log


def _provider(fake: FakeAnthropic) -> AnthropicProvider:
    return AnthropicProvider.from_env(None, Settings(anthropic_api_key="test", anthropic_base_url=fake.base_url),
                                      max_retries=0)


async def test_redaction_claude_request_bodies_never_carry_a_planted_secret(tmp_path):
    log = _world(tmp_path)
    topo = load_topology(ROOT / "topology.toml", {"log_root": str(tmp_path / "logs"),
                                                  "data_root": str(tmp_path / "data"),
                                                  "repo_root": str(tmp_path / "repo")})
    alert = Alert(job="orders_daily", source="slack", text=f"orders_daily failed: DSN "
                  f"postgres://etl:{ALERT_SECRET}@db.internal/orders")
    async with FakeAnthropic(_echo([line for _, line, _ in SECRETS])) as fake:
        provider = _provider(fake)
        try:
            report = await run_triage(topo, alert, provider=provider, log_path=log)
        finally:
            await provider.aclose()
    assert len(fake.requests) >= 3 and report.provider == "anthropic"
    sent = fake.bodies_text() + "\n".join(s for body in fake.requests for s in _strings(body))
    assert _leaks(sent) == [] and ALERT_SECRET not in sent
    assert _markers(sent) >= KINDS          # every planted line was sent, redacted


@pytest.mark.parametrize("as_json", [False, True], ids=["run", "run-json"])
async def test_redaction_cli_run_output_never_prints_a_planted_secret(tmp_path, as_json):
    log = _world(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "ETL_TRIAGE_"))}
    async with FakeAnthropic(_echo([line for _, line, _ in SECRETS])) as fake:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", "--provider", "anthropic", "--log", str(log),
            "--log-root", str(tmp_path / "logs"), *(["--json"] if as_json else []), cwd=ROOT,
            env={**env, "ANTHROPIC_BASE_URL": fake.base_url, "ANTHROPIC_API_KEY": "test"},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out_b, err_b = await asyncio.wait_for(proc.communicate(), timeout=120)
    out, err = out_b.decode(), err_b.decode()
    assert proc.returncode == 0, err
    if as_json:
        report = json.loads(out)
        assert report["provider"] == "anthropic" and len(report["evidence"]) >= len(SECRETS)
        out = "\n".join(_strings(report))
    assert _leaks(out + err) == []
    assert _markers(out) >= KINDS           # the root cause quoted every line, and each came out redacted


async def test_redaction_slack_thread_never_shows_a_planted_secret(tmp_path):
    # Slack shows 8 evidence lines and 3000 characters per section: one triage per chunk of 8 shapes.
    chunks = [SECRETS[i:i + 8] for i in range(0, len(SECRETS), 8)]
    current: list[list[str]] = [[]]

    def responder(body: dict[str, Any], n: int) -> Reply:
        return _echo(current[0])(body, n)

    async with FakeAnthropic(responder) as fake:
        # every chunk triages the same log: grouping would answer the repeats with "Same cause as …"
        world = await SlackWorld.start(tmp_path, provider=_provider(fake),
                                       extra_topology="[incidents]\nenabled = false\n")
        try:
            for i, chunk in enumerate(chunks, 1):
                current[0] = [line for _, line, _ in chunk]
                await world.event({"text": f"Job orders_daily failed password={ALERT_SECRET}", "user": "UHUMAN"})
                await world.fake.wait_for(lambda f, i=i: sum(
                    any(b.get("block_id") == "triage_actions" for b in c.args.get("blocks") or [])
                    for c in f.of("chat.update")) >= i, timeout=30)
                await world.idle()
                shown = world.fake.dump()
                assert _leaks(shown) == [] and ALERT_SECRET not in shown
                assert {k for k, _, _ in chunk} <= _markers(shown), f"chunk {i}"
            reports = [m for (ch, _), m in world.fake.messages.items() if ch == ALERTS and m.get("thread_ts")]
            assert len(reports) == len(chunks)
        finally:
            await world.close()
        assert _leaks(fake.bodies_text()) == [] and ALERT_SECRET not in fake.bodies_text()
