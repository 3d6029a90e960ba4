"""What is already in an alert's thread: our reply, found with conversations.replies.

Used where memory can't tell: a resumed triage whose holder died between posting its placeholder and
recording it, and alerts found while catching up that were answered before the store knew them.
"""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError

from bot.slack.runtime import Runtime
from bot.store import Claim

log = logging.getLogger(__name__)
MAX_PAGES = 10


async def our_reply(rt: Runtime, channel: str, thread_ts: str) -> str | None:
    """The ts of our first reply in the thread of `thread_ts`, or None."""
    me = await rt.identity()
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        resp = await rt.client.conversations_replies(channel=channel, ts=thread_ts, limit=200, cursor=cursor)
        for m in resp.get("messages") or []:
            if m.get("ts") == thread_ts:
                continue
            if (me["bot_id"] and m.get("bot_id") == me["bot_id"]) or (me["user_id"] and m.get("user") == me["user_id"]):
                return str(m["ts"])
        cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            break
    return None


async def resumed_reply(rt: Runtime, claim: Claim) -> str | None:
    """The reply a resumed triage must update: the one recorded, else one found in the thread."""
    if claim.reply_ts:
        return claim.reply_ts
    try:
        ts = await our_reply(rt, claim.channel, claim.ts)
    except SlackApiError as e:
        log.warning("conversations.replies failed for %s/%s: %s", claim.channel, claim.ts, e.response.get("error"))
        return None
    if ts:
        await rt.state.set_reply(claim, claim.channel, ts)
    return ts
