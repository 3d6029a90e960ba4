"""Offline triage speed over the bundled examples: in-process median/p95 per triage, and whole-process CLI time.

Run: .venv/bin/python bench/bench_triage.py [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.contract import Alert  # noqa: E402
from bot.engine import run_triage  # noqa: E402
from bot.evaluate import percentile  # noqa: E402
from bot.providers.offline import OfflineProvider  # noqa: E402
from bot.sandbox import SandboxManager  # noqa: E402
from bot.topology import load_topology  # noqa: E402


async def in_process(rounds: int) -> list[float]:
    ex = ROOT / "examples"
    topo = load_topology(ROOT / "topology.toml", {"log_root": str(ex / "logs"), "data_root": str(ex / "data"),
                                     "repo_root": str(ex / "repo")})
    jobs = sorted(p.name for p in (ex / "logs").iterdir() if p.is_dir())
    provider = OfflineProvider()
    sandboxes = SandboxManager.for_topology(topo)
    times: list[float] = []
    try:
        for job in jobs:  # warm-up: caches, sandbox workers
            await run_triage(topo, Alert(job=job), provider=provider, sandboxes=sandboxes)
        for _ in range(rounds):
            for job in jobs:
                t0 = time.perf_counter()
                await run_triage(topo, Alert(job=job), provider=provider, sandboxes=sandboxes)
                times.append((time.perf_counter() - t0) * 1000)
    finally:
        await sandboxes.aclose()
    return times


def whole_process(runs: int) -> list[float]:
    log = next((ROOT / "examples" / "logs").glob("*/*.log"))
    cmd = [sys.executable, "-m", "bot", "run", "--log", str(log), "--log-root", str(ROOT / "examples" / "logs")]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--cli-runs", type=int, default=5)
    args = ap.parse_args()
    t = asyncio.run(in_process(args.rounds))
    print(f"offline triage in-process: median {statistics.median(t):.2f} ms, p95 {percentile(t, 95):.2f} ms "
          f"over {len(t)} triages of the bundled examples (goal <= 20 ms)")
    c = whole_process(args.cli_runs)
    print(f"offline triage whole CLI process: median {statistics.median(c):.0f} ms over {len(c)} runs")


if __name__ == "__main__":
    main()
