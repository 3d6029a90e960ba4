"""Print what Slack receives for a grouped storm and a memory line (the fake Web API's recorded payloads):
the source of the renderings in README.md and docs/slack.md.

    .venv/bin/python bench/show_incidents.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_world import SlackWorld
from tests.test_slack_incidents import KEYERROR, _wrong, all_answered, bot_replies, send, write_log


def texts(blocks: list[dict]) -> list[str]:
    out = []
    for b in blocks:
        if b["type"] in ("header", "section"):
            out.append(b["text"]["text"])
        elif b["type"] == "context":
            out += [e["text"] for e in b["elements"]]
        elif b["type"] == "actions":
            out.append("[" + "] [".join(e["text"]["text"] for e in b["elements"]) + "]")
    return out


async def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    fake = await FakeSlackAPI().start()
    for job in ("orders_eu", "orders_hourly", "orders_backfill"):
        write_log(tmp, job, KEYERROR)
        write_log(tmp, job, KEYERROR, day="2026-11-21")
    w = await SlackWorld.start(tmp, fake=fake)
    try:
        stamps = [f"18000000{i:02d}.000100" for i in range(1, 5)]
        for job, ts in zip(("orders_eu", "orders_hourly", "orders_backfill", "orders_hourly"), stamps, strict=True):
            await send(w, job, ts)
        await fake.wait_for(all_answered(stamps), timeout=30)
        await w.idle()
        [first] = bot_replies(fake, stamps[0])
        print("--- the first alert's thread: the full report (header and incident line)")
        print("\n".join(texts(first["blocks"])[:3]))
        [repeat] = bot_replies(fake, stamps[1])
        print("--- a later alert's thread")
        print("\n".join(texts(repeat["blocks"])))
        await _wrong(w, fake, first, "code", "the 11-18 deploy renamed customer_id to customer_key", "U0BOB")
        await send(w, "orders_eu", "1800000010.000100", run="scheduled__2026-11-21T02:00:00")
        await fake.wait_for(all_answered(["1800000010.000100"]), timeout=30)
        await w.idle()
        [again] = bot_replies(fake, "1800000010.000100")
        print("--- the same failure the next day, after the Wrong diagnosis form said CODE")
        print("\n".join(texts(again["blocks"])[:7]))
    finally:
        await w.close()
        await fake.stop()


if __name__ == "__main__":
    asyncio.run(main())
