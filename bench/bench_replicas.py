"""An alert storm answered by two `etl-triage serve` replicas on one Postgres (loopback, fake Web API).

    .venv/bin/python bench/bench_replicas.py [--storm 200] [--window 10] [--channels 1] [--post-interval 1.0]

Every alert is sent to one replica and redelivered to the other (as a load balancer and Slack's retries
would). Prints answered / lost / duplicated, triages recorded, the most posts in any
1 s window per channel (the pace is shared through the database, so two replicas post no faster than one),
and the time to answer them all. Postgres: ETL_TRIAGE_TEST_DATABASE_URL, else
postgresql://postgres@127.0.0.1:5432/test; a scratch schema is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import PG_DEFAULT, with_schema
from tests.fakes.serve_process import ServeProcess, serve_env
from tests.fakes.slack_api import BOT_ID, FakeSlackAPI
from tests.fakes.slack_world import make_topology

TEXT = "Job orders_daily failed"


def _answered(fake: FakeSlackAPI, channel: str, ts: str) -> list[dict]:
    return [m for (ch, _), m in fake.messages.items() if ch == channel and m.get("thread_ts") == ts
            and m.get("bot_id") == BOT_ID and any(b.get("block_id") == "triage_actions" for b in m.get("blocks") or [])]


async def storm(pg_url: str, count: int, window_s: float, n_channels: int, interval: float) -> None:
    import psycopg

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        make_topology(tmp_path)
        fake = await FakeSlackAPI().start()
        channels = [f"CSTORM{i}" for i in range(n_channels)]
        env = serve_env(fake, channels, ETL_TRIAGE_DATABASE_URL=pg_url, ETL_TRIAGE_POST_INTERVAL_S=str(interval))
        a, b = await asyncio.gather(ServeProcess.start(tmp_path, env), ServeProcess.start(tmp_path, env))
        alerts = [(channels[i % n_channels], f"{1_800_000_000 + i}.000100") for i in range(count)]
        try:
            t0 = time.monotonic()
            sends = []
            for i, (channel, ts) in enumerate(alerts):
                event = {"type": "message", "channel": channel, "ts": ts, "text": TEXT, "user": "UHUMAN"}
                first, second = (a, b) if i % 2 else (b, a)
                sends.append(asyncio.create_task(first.event(event)))
                sends.append(asyncio.create_task(second.event(event, retry_num=1)))
                delay = t0 + (i + 1) * window_s / count - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)  # the storm's own posting pace, not synchronisation
            await asyncio.gather(*sends)
            posted = time.monotonic() - t0
            await fake.wait_for(lambda f: all(_answered(f, ch, ts) for ch, ts in alerts),
                                timeout=count * interval * 2 / max(1, n_channels) + 120)
            total = time.monotonic() - t0
        finally:
            await asyncio.gather(a.stop(), b.stop())
            await fake.stop()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            owners = Counter(r[0].split(":")[1] for r in conn.execute(
                "SELECT lease_owner FROM triages WHERE lease_owner IS NOT NULL").fetchall())
            done = conn.execute("SELECT count(*) FROM triages WHERE status = 'done'").fetchone()[0]
        posts = fake.of("chat.postMessage")
        replies = Counter((c.args["channel"], c.args.get("thread_ts")) for c in posts)
        lost = sum(1 for key in alerts if not replies.get(key))
        dups = sum(n - 1 for n in replies.values() if n > 1)
        peak = 0
        for channel in channels:
            at = sorted(c.at for c in posts if c.args["channel"] == channel)
            peak = max([peak, *[sum(1 for t in at if s <= t < s + 1.0) for s in at]])
        print(f"replicas storm: {count} alerts in {posted:.1f}s over {n_channels} channel(s), each sent to both "
              f"replicas → answered {count - lost}/{count}, lost {lost}, duplicates {dups}, triages recorded done "
              f"{done}, max {peak} posts in any 1s window per channel (post interval {interval:g}s), 429s "
              f"{sum(1 for c in fake.calls if c.status == 429)}, total {total:.1f}s"
              + (f", still-held leases {dict(owners)}" if owners else ""))


async def main() -> None:
    import psycopg

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--storm", type=int, default=200)
    p.add_argument("--window", type=float, default=10.0, help="seconds over which the storm is posted")
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--post-interval", type=float, default=1.0, help="per-channel post pacing, seconds")
    p.add_argument("--pg", default=os.environ.get("ETL_TRIAGE_TEST_DATABASE_URL") or PG_DEFAULT)
    a = p.parse_args()
    schema = f"etl_triage_bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(a.pg, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except Exception as e:
        raise SystemExit(f"bench_replicas: needs Postgres ({' '.join(str(e).split())[:160]}); pass --pg URL") from None
    try:
        await storm(with_schema(a.pg, schema), a.storm, a.window, a.channels, a.post_interval)
    finally:
        with psycopg.connect(a.pg, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    asyncio.run(main())
