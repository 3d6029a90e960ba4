"""`etl-triage demo`: triage every bundled example job with the offline engine and print the reports."""

from __future__ import annotations

from pathlib import Path

from bot.engine import run_triage
from bot.errors import BotError
from bot.providers.offline import OfflineProvider
from bot.render import report_text
from bot.report import Alert
from bot.sandbox import SandboxManager
from bot.topology import Topology, load_topology


def _setup(examples: Path) -> tuple[Topology, list[str]]:
    logs = examples / "logs"
    if not logs.is_dir():
        raise BotError(f"{logs} not found; run from the repository root or pass --examples DIR")
    root = examples.resolve()
    topo = load_topology(examples.parent / "topology.toml", {
        "log_root": str(root / "logs"), "data_root": str(root / "data"), "repo_root": str(root / "repo")})
    return topo, sorted(p.name for p in logs.iterdir() if p.is_dir())


async def demo(examples: Path, as_json: bool = False) -> int:
    topo, jobs = _setup(examples)
    provider = OfflineProvider()
    sandboxes = SandboxManager.for_topology(topo)
    try:
        for job in jobs:
            report = await run_triage(topo, Alert(job=job, source="cli"), provider=provider, sandboxes=sandboxes)
            print(report.model_dump_json() if as_json else report_text(report) + "\n")
    finally:
        await sandboxes.aclose()
    return 0
