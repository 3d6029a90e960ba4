"""Slack bot latency and alert-storm figures on loopback (fake Web API, real Bolt app over HTTP, offline provider).

    .venv/bin/python bench/bench_slack.py [--n 10] [--storm 200] [--post-interval 1.0]

Prints one line per figure. The storm respects the per-channel post pacing (default 1 post/s/channel, as Slack
allows), so 200 alerts in one channel take about 200 s to answer.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.slack.runtime import Pacing
from tests.fakes.slack_world import ALERTS, SlackWorld

TEXT = "Job orders_daily failed"


def _first_sign(world: SlackWorld, ts: str) -> float | None:
    times = [c.at for c in world.fake.calls if c.method == "reactions.add" and c.args.get("timestamp") == ts]
    times += [c.at for c in world.fake.calls if c.method == "chat.postMessage" and c.args.get("thread_ts") == ts]
    return min(times) if times else None


def _final(blocks: list[dict[str, Any]]) -> bool:
    return any(b.get("block_id") == "triage_actions" or "Couldn't triage" in str(b) for b in blocks)


def _done(world: SlackWorld, ts: str) -> float | None:
    """When the alert's thread got its answer: the placeholder updated to the report, or, for an alert that
    joined an open incident, the 'same cause as …' reply posted straight away (both carry the buttons)."""
    posts = [c for c in world.fake.calls if c.method == "chat.postMessage" and c.args.get("thread_ts") == ts]
    if not posts:
        return None
    grouped = [c.at for c in posts if _final(c.args.get("blocks", []))]
    placeholder = posts[0].result.get("ts")
    ends = [c.at for c in world.fake.calls if c.method == "chat.update" and c.args.get("ts") == placeholder
            and _final(c.args.get("blocks", []))]
    return (ends or grouped or [None])[-1]


def _joined(world: SlackWorld, ts: str) -> bool:
    """The alert's first reply was already the answer: it joined an incident instead of a triage of its own."""
    first = next((c for c in world.fake.calls if c.method == "chat.postMessage" and c.args.get("thread_ts") == ts),
                 None)
    return first is not None and _final(first.args.get("blocks", []))


async def latency(n: int, pacing: Pacing) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # every alert gets a whole triage here: the same job failing again would join the first one's incident
        w = await SlackWorld.start(Path(tmp), pacing=pacing, extra_topology="[incidents]\nenabled = false\n")
        try:
            firsts, finals = [], []
            for i in range(n):
                ts = f"16000{i:05d}.000300"   # apart from the ts the fake Slack gives the bot's own posts
                t0 = time.monotonic()
                await w.event({"text": TEXT, "user": "UHUMAN", "ts": ts})
                await w.fake.wait_for(lambda f, ts=ts: _done(w, ts), timeout=60)
                firsts.append(_first_sign(w, ts) - t0)
                finals.append(_done(w, ts) - t0)
                await w.idle()
                await asyncio.sleep(pacing.post_interval_s)  # alerts spaced as in real life, not queued
                #                                               behind the previous one's channel pacing
            print(f"alert → first sign in thread: median {statistics.median(firsts) * 1000:.0f} ms "
                  f"(max {max(firsts) * 1000:.0f} ms, n={n})")
            print(f"alert → final report: median {statistics.median(finals) * 1000:.0f} ms "
                  f"(max {max(finals) * 1000:.0f} ms, n={n}, update interval {pacing.update_interval_s:g}s)")
        finally:
            await w.close()


async def storm(count: int, window_s: float, pacing: Pacing) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        w = await SlackWorld.start(Path(tmp), pacing=pacing)
        try:
            stamps = [f"18000{i:05d}.000300" for i in range(count)]
            t0 = time.monotonic()
            for i, ts in enumerate(stamps):
                await w.event({"text": TEXT, "user": "UHUMAN", "ts": ts})
                delay = t0 + (i + 1) * window_s / count - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)   # posting pace of the storm itself, not synchronisation
            posted = time.monotonic() - t0
            await w.fake.wait_for(lambda f: all(_done(w, ts) for ts in stamps), timeout=count * 3 + 60)
            await w.idle()
            total = time.monotonic() - t0
            posts = sorted(c.at for c in w.fake.calls if c.method == "chat.postMessage"
                           and c.args.get("channel") == ALERTS)
            peak = max(sum(1 for t in posts if s <= t < s + 1.0) for s in posts)
            gap = min((b - a for a, b in itertools.pairwise(posts)), default=0.0)
            replies = {c.args.get("thread_ts") for c in w.fake.calls if c.method == "chat.postMessage"}
            lost = sum(1 for ts in stamps if ts not in replies)
            retried = sum(1 for c in w.fake.calls if c.status == 429)
            joined = sum(1 for ts in stamps if _joined(w, ts))
            print(f"storm: {count} alerts posted in {posted:.1f}s into one channel → answered "
                  f"{count - lost}/{count} ({joined} joined an open incident), lost {lost}, duplicates "
                  f"{len([c for c in w.fake.calls if c.method == 'chat.postMessage']) - count}, "
                  f"max {peak} posts in any 1s window (min gap {gap * 1000:.0f} ms), 429s {retried}, "
                  f"total {total:.1f}s "
                  f"(post interval {pacing.post_interval_s:g}s)")
        finally:
            await w.close()


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10, help="alerts for the latency median")
    p.add_argument("--storm", type=int, default=200, help="alerts in the storm (0 to skip)")
    p.add_argument("--window", type=float, default=10.0, help="seconds over which the storm is posted")
    p.add_argument("--post-interval", type=float, default=1.0, help="per-channel post pacing, seconds")
    p.add_argument("--update-interval", type=float, default=1.0, help="per-message update pacing, seconds")
    a = p.parse_args()
    pacing = Pacing(a.post_interval, a.update_interval)
    await latency(a.n, pacing)
    if a.storm:
        await storm(a.storm, a.window, pacing)


if __name__ == "__main__":
    asyncio.run(main())
