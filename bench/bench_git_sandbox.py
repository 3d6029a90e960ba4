"""Added cost of running git under the Landlock launcher. Prints numbers; asserts nothing.

    .venv/bin/python bench/bench_git_sandbox.py

recent_deploys on a small repository (50 commits, 1 mention → 2 git runs per call), per call, with the
sandbox in Landlock mode (git under bot/sandbox/landlock_exec.py) vs in-process mode (plain git child;
the repository checks run in both). Median and best of N calls.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.evidence.deploys import recent_deploys
from bot.sandbox import Audit, SandboxManager
from bot.sandbox.landlock import abi_version

N = 40


def make_repo(root: Path) -> Path:
    repo = root / "repos" / "jobs"
    repo.mkdir(parents=True)
    env = {"PATH": os.environ["PATH"], "HOME": str(root), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@x"}
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True, env=env)
    for i in range(50):
        (repo / "dags").mkdir(exist_ok=True)
        (repo / "dags" / "load.py").write_text(f"x = {i}\ncustomer_id\n" if i % 7 == 0 else f"x = {i}\n")
        when = f"2026-11-{1 + i // 3:02d}T{i % 24:02d}:00:00+00:00"
        subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True, env=env)
        subprocess.run(["git", "-C", str(repo), "commit", "-q", "-m", f"c{i}"], check=True,
                       env={**env, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when})
    return repo


async def per_call(mode: str, root: Path, repo: Path) -> list[float]:
    mgr = SandboxManager(mode=mode)
    sandbox = mgr.for_stage("investigate", [f"{root}/repos/**"], Audit())
    failed = datetime(2026, 11, 18, tzinfo=UTC)
    times = []
    try:
        for _ in range(N):
            t = time.perf_counter()
            d = await recent_deploys(sandbox, str(repo), ["dags"], failed, mentions=["customer_id"])
            times.append((time.perf_counter() - t) * 1000)
            assert d.error is None, d.error
    finally:
        await mgr.aclose()
    return times


async def main() -> None:
    if not abi_version()[0]:
        print("Landlock not available: nothing to compare")
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        repo = make_repo(root)
        plain = await per_call("in-process", root, repo)
        confined = await per_call("landlock", root, repo)
    for name, ts in (("in-process (plain git)", plain), ("landlock (launcher + git)", confined)):
        print(f"{name:28s} median {statistics.median(ts):6.1f} ms  best {min(ts):6.1f} ms  per recent_deploys call")
    added = statistics.median(confined) - statistics.median(plain)
    print(f"added by the launcher: {added:.1f} ms per call (2 git runs), {added / 2:.1f} ms per git run")


if __name__ == "__main__":
    asyncio.run(main())
