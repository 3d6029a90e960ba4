"""`etl-triage demo`: triage every bundled example job with the offline engine and print the reports."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import tomli

from bot.contract import Alert
from bot.engine import run_triage
from bot.errors import BotError
from bot.providers.offline import OfflineProvider
from bot.render import report_text
from bot.sandbox import SandboxManager
from bot.topology import Topology, load_topology

log = logging.getLogger(__name__)


def build_repo(spec: Path, dest: Path) -> bool:
    """Create the git history described by `spec` (examples/repo.toml) in `dest`. False when git is missing."""
    git = shutil.which("git")
    if git is None or not spec.is_file():
        return False
    commits = tomli.loads(spec.read_text(encoding="utf-8")).get("commits", [])
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(dest), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C"}

    def run(*args: str, **extra: str) -> None:
        subprocess.run([git, *args], cwd=dest, env={**env, **extra}, check=True, capture_output=True, timeout=30)

    run("init", "-q", "-b", "main")
    for c in commits:
        for rel, text in c["files"].items():
            path = dest / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text.lstrip("\n"), encoding="utf-8")
        name, _, email = c["author"].partition(" <")
        who = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email.rstrip(">"), "GIT_AUTHOR_DATE": c["date"],
               "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email.rstrip(">"), "GIT_COMMITTER_DATE": c["date"]}
        run("add", "-A")
        run("commit", "-q", "-m", c["message"], **who)
    return True


def _setup(examples: Path, repo: Path) -> tuple[Topology, list[str]]:
    logs = examples / "logs"
    if not logs.is_dir():
        raise BotError(f"{logs} not found; pass --examples DIR (a directory holding logs/), or leave it out "
                       "for the bundled examples")
    root = examples.resolve()
    if not build_repo(examples / "repo.toml", repo):
        log.warning("git not found: the demo runs without its example repository (no recent deploys)")
    topo = load_topology(examples.parent / "topology.toml", {
        "log_root": str(root / "logs"), "data_root": str(root / "data"), "repo_root": str(repo)})
    return topo, sorted(p.name for p in logs.iterdir() if p.is_dir())


async def demo(examples: Path, as_json: bool = False) -> int:
    with tempfile.TemporaryDirectory(prefix="etl-triage-demo-") as tmp:
        topo, jobs = await asyncio.to_thread(_setup, examples, Path(tmp))
        provider = OfflineProvider()
        sandboxes = SandboxManager.for_topology(topo)
        try:
            for job in jobs:
                report = await run_triage(topo, Alert(job=job, source="cli"), provider=provider, sandboxes=sandboxes)
                print(report.model_dump_json() if as_json else report_text(report) + "\n")
        finally:
            await sandboxes.aclose()
    return 0
