"""Claude provider round trips and wall time per triage, against the loopback Messages API fake.

The fake answers every call after `--latency` seconds (default 0.2, a fast real call), so wall time is
dominated by round trips on the critical path. Figures: round trips per triage, wall time per triage,
the sum of per-call latencies (what a fully serial run would cost) and the critical path (calls in
stages that must wait on each other). `--tool-calls N` makes classify call grep_log N times first.

Run: .venv/bin/python bench/bench_claude.py [--latency 0.2] [--rounds 3] [--tool-calls 0]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.contract import Alert, TriageReport  # noqa: E402
from bot.engine import run_triage  # noqa: E402
from bot.providers.anthropic import AnthropicProvider  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.topology import Topology, load_topology  # noqa: E402
from tests.fakes.anthropic_api import (  # noqa: E402
    FakeAnthropic,
    Reply,
    message,
    stage_of,
    submit,
    tool_use,
    valid_answer,
)


def _critical_path(topo: Topology, report: TriageReport) -> int:
    """Round trips on the longest dependency chain (stages run concurrently when independent)."""
    trips = {s.name: s.round_trips for s in report.stages}
    memo: dict[str, int] = {}

    def longest(name: str) -> int:
        if name not in memo:
            deps = topo.stage(name).depends_on
            memo[name] = trips.get(name, 0) + max((longest(d) for d in deps), default=0)
        return memo[name]

    return max(longest(s.name) for s in topo.stages)


async def main(latency: float, rounds: int, tool_calls: int) -> None:
    examples = ROOT / "examples"
    topo = load_topology(ROOT / "topology.toml", {"log_root": str(examples / "logs"),
                                                  "data_root": str(examples / "data"),
                                                  "repo_root": str(examples / "repo")})
    jobs = sorted(p.name for p in (examples / "logs").iterdir() if p.is_dir())

    def responder(body: dict, n: int) -> Reply:
        kind = stage_of(body)
        calls = sum(1 for m in body["messages"] if m["role"] == "assistant")
        if kind == "classification" and calls < tool_calls:
            return message([tool_use("grep_log", {"pattern": "ERROR|Error|Exception"})])
        return submit(body, valid_answer(kind))

    walls: list[float] = []
    trips: list[int] = []
    critical: list[int] = []
    async with FakeAnthropic(responder, latency=latency) as fake:
        settings = Settings(anthropic_api_key="bench", anthropic_base_url=fake.base_url)
        for _ in range(rounds):
            for job in jobs:
                provider = AnthropicProvider.from_env(None, settings, max_retries=0)
                t0 = time.perf_counter()
                report = await run_triage(topo, Alert(job=job, source="cli"), provider=provider)
                walls.append(time.perf_counter() - t0)
                await provider.aclose()
                if any(s.provider != "anthropic" for s in report.stages):
                    raise SystemExit(f"{job}: a stage fell back: {[s.fallback for s in report.stages]}")
                trips.append(sum(s.round_trips for s in report.stages))
                critical.append(_critical_path(topo, report))
    n = len(walls)
    wall = statistics.median(walls)
    serial = statistics.median(trips) * latency
    print(f"claude triage vs fake ({latency * 1000:.0f} ms/call, {n} triages, {len(topo.stages)} stages, "
          f"{tool_calls} tool call(s) in classify): round trips/triage median {statistics.median(trips):g} "
          f"(critical path {statistics.median(critical):g}), wall median {wall * 1000:.0f} ms "
          f"(max {max(walls) * 1000:.0f} ms), sum of call latencies {serial * 1000:.0f} ms, "
          f"overhead {max(0.0, wall - statistics.median(critical) * latency) * 1000:.0f} ms")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tool-calls", type=int, default=0)
    a = ap.parse_args()
    asyncio.run(main(a.latency, a.rounds, a.tool_calls))
