"""Offline triage latency, in process, over the eval corpus: median and p95 of `run_triage` per case.

    .venv/bin/python bench/bench_offline_latency.py [ROUNDS]

Each case runs through the real engine exactly as `etl-triage eval` does (topology loaded per case, the
engine's own sandbox per triage); a warm-up round is not counted. Prints one figure line.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


async def main(rounds: int) -> None:
    from bot.evaluate import evaluate, percentile

    corpus, topology = ROOT / "eval" / "cases", ROOT / "topology.toml"
    await evaluate(corpus, provider="offline", topology=topology)  # warm-up: imports, caches
    latencies: list[float] = []
    n = 0
    for _ in range(rounds):
        m = await evaluate(corpus, provider="offline", topology=topology)
        latencies += [r.latency_ms for r in m.results]
        n = m.n
    print(f"offline triage latency: median {statistics.median(latencies):.1f} ms, "
          f"p95 {percentile(latencies, 95):.1f} ms, max {max(latencies):.1f} ms "
          f"({n} cases x {rounds} rounds, in process)")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3))
