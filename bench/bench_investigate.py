"""Figures for the investigation tools. Prints numbers; asserts nothing.

    .venv/bin/python bench/bench_investigate.py

1. Parquet schema: footer only (tail_bytes through the sandbox + pyarrow.parquet.read_metadata on the
   footer) vs reading the whole file into pyarrow.ParquetFile.
2. upstream_status over a landing directory with N daily partitions (listing cost).
3. recent_deploys over a repo with many commits (git log with a window and paths).
Times are the best of a few runs; the "whole file" Parquet figure reads outside the sandbox, for scale.
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.evidence.deploys import recent_deploys
from bot.evidence.schema import read_schema
from bot.evidence.upstream import upstream_status
from bot.sandbox import Audit, SandboxManager

FAILED = datetime(2026, 11, 20, 2, 0, 14, tzinfo=UTC)


def best(fn, n: int = 5) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times) * 1000


async def abest(fn, n: int = 5) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - t0)
    return min(times) * 1000


def make_repo(root: Path) -> Path:
    """2000 commits, one every 4.8 h, every fifth touching dags/orders."""
    repo = root / "repo"
    repo.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(root), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@x"}
    subprocess.run(["git", "init", "-q", "-b", "master", str(repo)], check=True, env=env)
    script = io.StringIO()
    start = FAILED - timedelta(days=400)
    for k in range(2000):
        t = int((start + timedelta(hours=k * 4.8)).timestamp())
        script.write(f"commit refs/heads/master\ncommitter b <b@x> {t} +0000\ndata 6\nc{k:04d}\n"
                     + f"M 100644 inline dags/{'orders' if k % 5 == 0 else 'other'}/f{k % 7}.py\ndata 5\n{k:04d}\n\n")
    subprocess.run(["git", "-C", str(repo), "fast-import", "--quiet"], input=script.getvalue().encode(), check=True,
                   env=env)
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", "master"], check=True, env=env)
    return repo


async def main() -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = Path(tempfile.mkdtemp(prefix="bench-inv-"))
    mgr = SandboxManager()
    sb = mgr.for_stage("investigate", [f"{root}/**"], Audit())
    print(f"sandbox enforcement: {mgr.enforcement}")

    # 1. parquet
    for rows in (10_000, 1_000_000):
        path = root / f"t{rows}.parquet"
        pq.write_table(pa.table({"order_id": range(rows), "customer_id": [str(i) for i in range(rows)],
                                 "amount": [i * 0.5 for i in range(rows)]}), path)
        size = path.stat().st_size
        footer = await abest(lambda p=path, s=size: read_schema(sb, str(p), s))
        whole = best(lambda p=path: pq.ParquetFile(pa.BufferReader(p.read_bytes())).schema_arrow)
        sb.audit.entries.clear()
        await read_schema(sb, str(path), size)
        read = sum(e.bytes_read for e in sb.audit.entries)
        print(f"parquet {rows:>9} rows, {size / 1e6:7.2f} MB: footer-only {footer:6.2f} ms ({read} bytes read) | "
              f"whole file {whole:7.2f} ms ({size} bytes)")

    # 2. partitions
    for n in (30, 365, 2000):
        src = root / f"landing{n}"
        for k in range(n):
            d = src / f"dt={date(2020, 1, 1) + timedelta(days=k):%Y-%m-%d}"
            d.mkdir(parents=True)
            (d / "part-0.csv").write_text("order_id,customer_id\n1,2\n")
        run_day = date(2020, 1, 1) + timedelta(days=n - 1)
        ms = await abest(lambda s=src, d=run_day: upstream_status(sb, [str(s)], d, "bench", FAILED), n=3)
        print(f"upstream_status, {n:>5} daily partitions: {ms:7.2f} ms")

    # 3. git
    repo = await asyncio.to_thread(make_repo, root)
    ms = await abest(lambda: recent_deploys(sb, str(repo), ["dags/orders"], FAILED, mentions=["customer_id"]), n=3)
    d = await recent_deploys(sb, str(repo), ["dags/orders"], FAILED)
    print(f"recent_deploys over 2000 commits (72 h window, 1 path, 1 pickaxe): {ms:7.2f} ms, {len(d.commits)} commits")
    await mgr.aclose()


if __name__ == "__main__":
    asyncio.run(main())
