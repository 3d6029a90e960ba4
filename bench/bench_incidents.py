"""Alert storm with incident grouping, on loopback: 200 alerts in 10 s across 40 jobs in one channel, from 5
distinct causes (fake Web API, real Bolt app over HTTP, a real SQLite store, Claude against the fake Messages API).

    .venv/bin/python bench/bench_incidents.py [--alerts 200] [--jobs 40] [--window 10] [--post-interval 1.0]
                                              [--provider anthropic|offline] [--model-latency 0.2]

Prints the figures beside the storm before grouping (bench/bench_slack.py: 199 s, 200 triages).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.providers.anthropic import AnthropicProvider
from bot.settings import Settings
from bot.slack.runtime import Pacing
from tests.fakes.anthropic_api import FakeAnthropic
from tests.fakes.slack_api import BOT_ID
from tests.fakes.slack_world import ALERTS, SlackWorld

CAUSES = {   # five distinct failures; {day}, {n}, {ip} change per run and must not split a cause
    "keyerror": """[{day}, 02:00:03 UTC] INFO - Starting attempt 1 of 3
[{day}, 02:00:14 UTC] ERROR - Task failed with exception (try {n})
Traceback (most recent call last):
  File "/opt/airflow/dags/common/load.py", line 88, in load
    df["customer_id"] = df["customer_id"].astype("int64")
KeyError: 'customer_id'
[{day}, 02:00:14 UTC] INFO - Task exited with return code 1
""",
    "dns": """[{day}, 04:00:01 UTC] ERROR - Task failed with exception
psycopg2.OperationalError: could not translate host name "warehouse.prod.internal" to address: Temporary failure in \
name resolution
""",
    "yarn": """{sday} 03:41:55 WARN TaskSetManager: Lost task 1{n}.0 in stage 7.0 (TID 33{n}) ({ip} executor 4): \
ExecutorLostFailure (executor 4 exited caused by one of the running tasks) Reason: Container killed by YARN for \
exceeding physical memory limits. 9.{n} GB of 9 GB physical memory used. Consider boosting spark.executor.memory
""",
    "dbt": """06:00:08  2 of 5 FAIL {n}7 unique_dim_customers_customer_id ........... [FAIL {n}7 in 0.52s]
06:00:09  Done. PASS=4 WARN=0 ERROR=1 SKIP=0 TOTAL=5
""",
    "disk": """[{day}, 05:10:00 UTC] ERROR - Task failed with exception
OSError: [Errno 28] No space left on device: '/tmp/spill/part-{n}.parquet'
""",
}


def write_world(tmp: Path, jobs: int, runs: int) -> list[tuple[str, str, str]]:
    """(job, run_id, cause) per alert: job i gets cause i % 5, alerts interleave jobs (run r of every job, then r+1)."""
    names = list(CAUSES)
    plan = []
    for r in range(runs):
        for j in range(jobs):
            job, cause = f"etl_job_{j:02d}", names[j % len(names)]
            day = f"2026-11-{10 + r:02d}"
            d = tmp / "logs" / job
            d.mkdir(parents=True, exist_ok=True)
            text = CAUSES[cause].format(day=day, sday=f"26/11/{10 + r:02d}", n=r + j, ip=f"10.4.{j}.{r + 7}")
            (d / f"scheduled__{day}T02_00_00.log").write_text(text)
            plan.append((job, f"scheduled__{day}T02:00:00", cause))
    return plan


def replies(w: SlackWorld, ts: str) -> list[dict]:
    return [m for (ch, _), m in w.fake.messages.items() if ch == ALERTS and m.get("thread_ts") == ts
            and m.get("bot_id") == BOT_ID]


def final(m: dict) -> bool:
    return any(b.get("block_id") == "triage_actions" for b in m.get("blocks") or [])


async def storm(a: argparse.Namespace) -> None:
    pacing = Pacing(a.post_interval, a.update_interval)
    runs = a.alerts // a.jobs
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        plan = write_world(tmp, a.jobs, runs)
        async with FakeAnthropic(latency=a.model_latency) as claude:
            provider = None
            if a.provider == "anthropic":
                provider = AnthropicProvider.from_env(
                    None, Settings(anthropic_api_key="bench", anthropic_base_url=claude.base_url))
            w = await SlackWorld.start(tmp, pacing=pacing, provider=provider)
            try:
                stamps = [f"18{i:08d}.000100" for i in range(len(plan))]
                sent_at: dict[str, float] = {}
                t0 = time.monotonic()
                for i, ((job, run, _), ts) in enumerate(zip(plan, stamps, strict=True)):
                    sent_at[ts] = time.monotonic()
                    await w.event({"text": f"Task Failed. *Dag*: {job} *Task*: load *Run ID*: {run}",
                                   "user": "UHUMAN", "ts": ts})
                    delay = t0 + (i + 1) * a.window / len(plan) - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)   # the storm's own pace, not synchronisation
                posted = time.monotonic() - t0
                await w.fake.wait_for(lambda f: all(any(final(m) for m in replies(w, ts)) for ts in stamps),
                                      timeout=len(plan) * max(a.post_interval, 0.05) * 3 + 120)
                await w.idle()
                total = time.monotonic() - t0
                rows = await w.rt.state.store.history(limit=10_000)
            finally:
                await w.close()
                if provider is not None:
                    await provider.aclose()
        calls = w.fake.calls
        lost = sum(1 for ts in stamps if not replies(w, ts))
        dup = sum(max(0, len(replies(w, ts)) - 1) for ts in stamps)
        full = [ts for ts in stamps if any("Root cause" in json.dumps(m.get("blocks")) for m in replies(w, ts))]
        # when each distinct cause's full report landed, from the first alert of that cause
        first_of: dict[str, str] = {}
        for (_, _, cause), ts in zip(plan, stamps, strict=True):
            first_of.setdefault(cause, ts)
        landed = []
        for cause, ts in first_of.items():
            placeholder = next((c.result.get("ts") for c in calls if c.method == "chat.postMessage"
                                and c.args.get("thread_ts") == ts), None)
            done = [c.at for c in calls if c.method == "chat.update" and c.args.get("ts") == placeholder
                    and any(b.get("block_id") == "triage_actions" for b in c.args.get("blocks", []))]
            landed.append((cause, (min(done) - sent_at[ts]) if done else float("nan")))
        retried = sum(1 for c in calls if c.status == 429)
        triaged = sum(1 for r in rows if (r.duration_ms or 0) > 0)
        print(f"storm with incidents: {len(plan)} alerts posted in {posted:.1f}s across {a.jobs} jobs, "
              f"{len(CAUSES)} causes, provider {a.provider}")
        print(f"  answered {len(plan) - lost}/{len(plan)} in their threads, lost {lost}, duplicated {dup}, "
              f"429s {retried}")
        print(f"  full triages {triaged} (full reports {len(full)}), model calls {len(claude.requests)}")
        print("  each cause's full report after its first alert: "
              + ", ".join(f"{c} {s:.1f}s" for c, s in landed) + f" (max {max(s for _, s in landed):.1f}s)")
        print(f"  all answered after {total:.1f}s (post interval {a.post_interval:g}s: one post per alert)")
        print("  before grouping (bench/bench_slack.py, README): 199 s, 200 triages, 200 full reports, "
              "with Claude 600 model calls")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--alerts", type=int, default=200)
    p.add_argument("--jobs", type=int, default=40)
    p.add_argument("--window", type=float, default=10.0, help="seconds over which the storm is posted")
    p.add_argument("--post-interval", type=float, default=1.0)
    p.add_argument("--update-interval", type=float, default=1.0)
    p.add_argument("--provider", choices=["anthropic", "offline"], default="anthropic")
    p.add_argument("--model-latency", type=float, default=0.2, help="seconds per fake Messages API call")
    asyncio.run(storm(p.parse_args()))


if __name__ == "__main__":
    main()
