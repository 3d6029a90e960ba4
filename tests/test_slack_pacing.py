"""LiveMessage pacing: progress is coalesced to Slack's pace, the final report is never held back needlessly."""

from __future__ import annotations

import asyncio

from bot.slack.pacing import LiveMessage


class Recorder:
    def __init__(self) -> None:
        self.sent: list[dict] = []

    async def __call__(self, payload: dict) -> None:
        self.sent.append(payload)


async def test_slack_pacing_fast_triage_replaces_placeholder_at_once():
    send = Recorder()
    live = LiveMessage(send, interval_s=3600)  # the placeholder was just posted: the next slot is an hour away
    live.show({"text": "classify …"})          # waits for its slot, so it is superseded by the final report
    await asyncio.wait_for(live.finish({"text": "report"}), timeout=5)
    assert send.sent == [{"text": "report"}]


async def test_slack_pacing_progress_sent_then_final_after_it():
    send = Recorder()
    live = LiveMessage(send, interval_s=0)
    live.show({"text": "classify ✓"})
    await asyncio.sleep(0)  # let the update task send
    await live.finish({"text": "report"})
    assert send.sent == [{"text": "classify ✓"}, {"text": "report"}]
    live.show({"text": "late progress"})  # after finish: ignored
    await asyncio.sleep(0)
    assert send.sent[-1] == {"text": "report"}
