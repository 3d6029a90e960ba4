"""One TriageContext per triage: the failed run's log excerpt is read once, whoever asks for it (the classify
stage, the investigation's run facts, every Claude tool call, the fingerprint read for incident grouping); the
audit shows it. A stage whose allowlist does not cover the log is still refused the shared excerpt."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.contract import Alert
from bot.engine import prepare, run_triage
from bot.errors import AccessDenied
from bot.providers.anthropic import AnthropicProvider
from bot.providers.offline import OfflineProvider
from bot.sandbox import Audit, SandboxManager
from bot.settings import Settings
from bot.triage_context import TriageContext
from tests.fakes.anthropic_api import FakeAnthropic, Reply, message, stage_of, submit, tool_use, valid_answer
from tests.investigate_world import ORDERS, RUN_ID, World, airflow_log

HEADER = "order_id,customer_id,amount\n1,42,9.5\n"


def reads_of(ctx: TriageContext, path: Path) -> list[str]:
    """The stages that read bytes of `path` from disk, one entry per read, in order (served-from-memory uses
    are audited as 0-byte reads)."""
    return [e.stage for e in ctx.audit.entries if e.allowed and e.bytes_read and e.path == str(path.resolve())]


@pytest.fixture
def world(tmp_path: Path) -> tuple[World, Path]:
    w = World(tmp_path)
    w.base_repo()
    w.partition("dt=2026-11-19", {"part-0000.csv": HEADER}, "2026-11-20 01:12:00")
    log = w.log("orders_daily", "2026-11-20T02-00-00.log", airflow_log(["KeyError: 'customer_id'"]),
                "2026-11-20 02:00:15")   # no earlier log: previous_run does not tail this one
    return w, log


async def test_context_offline_triage_reads_the_excerpt_once(world):
    w, log = world
    topo = w.topology(ORDERS)
    sandboxes = SandboxManager.for_topology(topo)
    try:
        ctx = await prepare(topo, Alert(job="orders_daily", run_id=RUN_ID), sandboxes=sandboxes, log_path=log)
        report = await run_triage(topo, ctx.alert, provider=OfflineProvider(), context=ctx)
    finally:
        await sandboxes.aclose()
    assert report.complete and [s.status for s in report.stages] == ["ok", "ok", "ok"]
    assert reads_of(ctx, log) == ["classify"]          # investigate's run facts came from the context
    assert str(log.resolve()) in report.files_read


async def test_context_fingerprint_for_grouping_is_the_triage_reading(world):
    """Incident grouping reads the fingerprint first; the triage goes on from that context, so the leader's log
    is classified and read once, and the report's fingerprint is the one the alert was grouped by."""
    w, log = world
    topo = w.topology(ORDERS)
    sandboxes = SandboxManager.for_topology(topo)
    try:
        ctx = await prepare(topo, Alert(job="orders_daily", run_id=RUN_ID), sandboxes=sandboxes, log_path=log)
        fp = await ctx.fingerprint()
        reading = await ctx.reading(ctx.sandbox(topo.stage("classify")))
        report = await run_triage(topo, ctx.alert, provider=OfflineProvider(), context=ctx)
    finally:
        await sandboxes.aclose()
    assert fp is not None and report.fingerprint == fp
    assert await ctx.reading(ctx.sandbox(topo.stage("classify"))) is reading
    assert reads_of(ctx, log) == ["classify"]


async def test_context_claude_stages_and_tool_calls_share_one_excerpt(world):
    """Claude's classify prompt, the fingerprint's reading, investigate's prompt and its upstream_status and
    recent_deploys calls (each needs the run facts) all use the one excerpt."""
    w, log = world
    topo = w.topology(ORDERS)

    def responder(body: dict, n: int) -> Reply:
        kind = stage_of(body)
        called = [b for m in body["messages"] if m["role"] == "user" and isinstance(m["content"], list)
                  for b in m["content"] if b.get("type") == "tool_result"]
        if kind == "investigation" and not called:
            return message([tool_use("upstream_status", {}), tool_use("recent_deploys", {"hours": 48})])
        return submit(body, valid_answer(kind))

    sandboxes = SandboxManager.for_topology(topo)
    async with FakeAnthropic(responder) as fake:
        provider = AnthropicProvider.from_env(None, Settings(anthropic_api_key="t", anthropic_base_url=fake.base_url))
        try:
            ctx = await prepare(topo, Alert(job="orders_daily", run_id=RUN_ID), sandboxes=sandboxes, log_path=log)
            report = await run_triage(topo, ctx.alert, provider=provider, context=ctx)
        finally:
            await provider.aclose()
            await sandboxes.aclose()
    assert {s.provider for s in report.stages} == {"anthropic"} and report.complete
    results = [b for body in fake.requests for m in body["messages"] if isinstance(m["content"], list)
               for b in m["content"] if b.get("type") == "tool_result"]
    assert len(results) == 2 and not any(r.get("is_error") for r in results)
    assert "dt=2026-11-19" in results[0]["content"]
    assert "KeyError: 'customer_id'" in fake.requests[-2]["messages"][0]["content"]   # investigate's prompt
    assert reads_of(ctx, log) == ["classify"]
    assert report.fingerprint is not None and report.fingerprint.signature == "python.keyerror_column"


async def test_context_stage_that_may_not_read_the_log_is_refused_the_shared_excerpt(world):
    w, log = world
    topo = w.topology(ORDERS)
    sandboxes = SandboxManager.for_topology(topo)
    try:
        ctx = await prepare(topo, Alert(job="orders_daily"), sandboxes=sandboxes, log_path=log)
        assert await ctx.excerpt(ctx.sandbox(topo.stage("classify"))) is not None
        recommend = ctx.sandbox(topo.stage("recommend"))   # reads nothing
        with pytest.raises(AccessDenied):
            await ctx.excerpt(recommend)
        facts = await ctx.facts(recommend)
    finally:
        await sandboxes.aclose()
    assert facts.excerpt is None and facts.run_date is not None   # from the log's name, without reading it
    assert [(d.stage, d.path) for d in ctx.audit.denied][:1] == [("recommend", str(log.resolve()))]
    assert reads_of(ctx, log) == ["classify"]


async def test_context_later_stages_are_audited_and_a_denied_one_gets_no_cached_mtime(world):
    """The shared excerpt is read once, and each allowed stage that uses it is audited (0 bytes). A stage
    refused the log learns nothing of it, not even the mtime an earlier stage cached: its failure time is
    unknown rather than the log's."""
    w, log = world
    topo = w.topology(ORDERS)
    sandboxes = SandboxManager.for_topology(topo)
    try:
        ctx = await prepare(topo, Alert(job="orders_daily"), sandboxes=sandboxes, log_path=log)
        allowed = await ctx.facts(ctx.sandbox(topo.stage("classify")))
        again = await ctx.facts(ctx.sandbox(topo.stage("investigate"), "data"))
        denied = await ctx.facts(ctx.sandbox(topo.stage("recommend")))
    finally:
        await sandboxes.aclose()
    uses = [(e.stage, e.bytes_read > 0) for e in ctx.audit.entries if e.allowed and e.path == str(log.resolve())]
    assert uses[0] == ("classify", True) and ("investigate", False) in uses
    assert not any(stage == "recommend" for stage, _ in uses)
    assert allowed.failed_at is not None and again.failed_at == allowed.failed_at
    assert denied.excerpt is None and denied.failed_at is None, denied


def test_context_excerpt_within_a_smaller_budget_keeps_the_end_and_the_first_error():
    from bot.sandbox.results import Excerpt, Line

    lines = [Line(1, "INFO start"), Line(2, "INFO reading"), Line(3, "ERROR first failure here"),
             Line(4, "  detail of it"), *[Line(n, f"INFO noise line {n:04d}") for n in range(5, 200)],
             Line(200, "KeyError: 'customer_id'")]
    ex = Excerpt("/x.log", lines, size=sum(len(ln.text) + 1 for ln in lines))
    assert ex.within(100_000) is ex
    cut = ex.within(1_000)
    assert sum(len(ln.text) + 1 for ln in cut.lines) <= 1_100 and cut.truncated
    assert cut.lines[-1].text == "KeyError: 'customer_id'"
    assert [ln.number for ln in cut.lines[:4]] == [1, 2, 3, 4]     # two lines before the first error, and it
    gap = next(ln for ln in cut.lines if ln.number is None)
    assert "bytes not shown" in gap.text


async def test_context_excerpt_within_matches_what_the_reader_gives_for_that_budget(tmp_path):
    """Cutting the triage's one 64 KB excerpt to a prompt's 16 KB shows the same lines as reading 16 KB would
    have (the first error region and the end); only the size named in the gap marker is approximate."""
    body = [f"[2026-11-20 02:00:{i % 60:02d}] INFO step {i} processing batch of rows" for i in range(4000)]
    body.insert(100, "[2026-11-20 02:00:01] ERROR first failure: connection reset by peer")
    log = tmp_path / "big.log"
    log.write_text("\n".join([*body, "Traceback (most recent call last):", "KeyError: 'customer_id'"]) + "\n")
    sandboxes = SandboxManager(mode="in-process")
    sandbox = sandboxes.for_stage("classify", [f"{tmp_path}/**"], Audit())
    read = await sandbox.excerpt(log, budget=16_000)
    cut = (await sandbox.excerpt(log, budget=64_000)).within(16_000)
    assert [ln.number for ln in cut.lines] == [ln.number for ln in read.lines]
    assert [ln.text for ln in cut.lines if ln.number] == [ln.text for ln in read.lines if ln.number]
    assert cut.lines[0].number == 99 and cut.lines[-1].text == "KeyError: 'customer_id'"
