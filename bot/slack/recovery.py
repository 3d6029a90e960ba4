"""Restart safety: resume triages whose holder died or shut down, answer alerts posted while the bot was down,
and keep the retention window.

At start, `recover` takes over every expired lease (one reply: the placeholder already in the thread is
updated), then reads each watched channel's recent history (`conversations.history`, bounded look-back) and
triages any alert nobody claimed, unless its thread already holds our reply (`conversations.replies`).
`sweep_forever` repeats the lease check every third of a lease, so work a dead replica held is picked up
while the others keep running.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.alerts import parse_alert
from bot.contract import Alert
from bot.slack import blocks as B
from bot.slack import messages as M
from bot.slack.listeners import NO_JOB_ERROR, handle_message_event, job_arg, triage_alert
from bot.slack.runtime import Runtime
from bot.slack.threads import our_reply, resumed_reply
from bot.store import Claim
from bot.store.store import MAX_ATTEMPTS

log = logging.getLogger(__name__)
MAX_HISTORY_MESSAGES = 1000
CLEANUP_EVERY_S = 3600.0


async def resume_expired(rt: Runtime) -> int:
    """Take over expired or released triages (as many as can run at once) and finish them; first, record the
    alerts answered while the store was away, if it is back."""
    await rt.state.write_back()
    claims = await rt.state.expired(limit=max(1, rt.settings.max_concurrent_triages * 2))
    for claim in claims:
        if claim.given_up:
            rt.tracker.spawn(_say_given_up(rt, claim), name=f"given up {claim.channel}/{claim.ts}")
            continue
        try:
            alert = Alert.model_validate(claim.alert)
        except ValueError:
            log.warning("stored alert %s/%s is unreadable; marking it failed", claim.channel, claim.ts)
            await rt.state.finish(claim, None, error="stored alert unreadable")
            continue
        if not alert.job and not alert.log_hint:   # a "no job recognised" reply whose holder died
            rt.tracker.spawn(_resume_no_job(rt, claim), name=f"no job {claim.channel}/{claim.ts}")
            continue
        log.info("resuming the triage of %s/%s (attempt %d)", claim.channel, claim.ts, claim.attempts)
        rt.incidents.arrive(claim.channel, claim.ts)   # it keeps its place: later alerts join after it
        if rt.tracker.spawn(triage_alert(rt, claim.channel, claim.ts, alert, claim),
                            name=f"resume {claim.channel}/{claim.ts}") is None:
            rt.incidents.joined(claim.channel, claim.ts)
            await rt.state.release(claim)
    return len(claims)


async def _say_given_up(rt: Runtime, claim: Claim) -> None:
    """A triage given up after MAX_ATTEMPTS: its "paused" or progress reply says so, or a new reply does, so the
    thread never promises a report that will not come."""
    try:
        alert = Alert.model_validate(claim.alert)
    except ValueError:
        alert = Alert()
    payload = B.failure_payload(alert.job, M.GAVE_UP.format(attempts=MAX_ATTEMPTS, job_arg=job_arg(alert)))
    log.warning("gave up the triage of %s/%s after %d attempts", claim.channel, claim.ts, MAX_ATTEMPTS)
    try:
        reply = await resumed_reply(rt, claim)
        if reply:
            try:
                await rt.update(claim.channel, reply, payload)
                return
            except SlackApiError as e:
                if e.response.get("error") != "message_not_found":
                    raise
        await rt.post(claim.channel, payload, thread_ts=claim.ts)
    except SlackApiError as e:
        log.warning("could not say in %s/%s that its triage was given up: %s", claim.channel, claim.ts,
                    e.response.get("error"))


async def _resume_no_job(rt: Runtime, claim: Claim) -> None:
    """There is nothing to triage: the thread gets the 'no job' reply unless it has ours already."""
    try:
        if await resumed_reply(rt, claim) is None:
            await rt.post(claim.channel, {"text": M.NO_JOB_ASKED}, thread_ts=claim.ts)
    except SlackApiError as e:
        log.warning("could not say in %s/%s that no job was found: %s", claim.channel, claim.ts,
                    e.response.get("error"))
    finally:
        await rt.state.finish(claim, None, error=NO_JOB_ERROR)


async def _history(rt: Runtime, channel: str, oldest: float) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(out) < MAX_HISTORY_MESSAGES:
        resp = await rt.client.conversations_history(channel=channel, oldest=f"{oldest:.6f}", limit=200,
                                                     cursor=cursor)
        out.extend(resp.get("messages") or [])
        cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor or not resp.get("has_more", True):
            break
    return out[:MAX_HISTORY_MESSAGES]


async def catch_up(rt: Runtime, lookback_s: float) -> int:
    """Triage the alerts posted in watched channels in the last `lookback_s` that nobody answered."""
    if lookback_s <= 0:
        return 0
    me = await rt.identity()
    context = {"bot_id": me["bot_id"], "bot_user_id": me["user_id"]}
    started = 0
    for channel in sorted(rt.settings.alert_channels):
        try:
            messages = await _history(rt, channel, rt.clock() - lookback_s)
        except SlackApiError as e:
            log.warning("can't read %s's history to catch up (%s); invite the bot and check the "
                        "channels:history scope", channel, e.response.get("error"))
            continue
        known = await rt.state.known(channel, [str(m.get("ts")) for m in messages if m.get("ts")])
        for m in sorted(messages, key=lambda m: float(m.get("ts") or 0)):  # oldest first
            ts = str(m.get("ts") or "")
            if not ts or ts in known:
                continue
            event = {**m, "channel": channel}
            if m.get("reply_count"):
                alert = parse_alert(event, rt.topology)
                if alert is None:
                    continue
                try:
                    reply = await our_reply(rt, channel, ts)
                except SlackApiError as e:
                    log.warning("conversations.replies failed for %s/%s: %s", channel, ts, e.response.get("error"))
                    reply = None
                if reply:
                    await rt.state.record_answered(channel, ts, alert.model_dump(), reply)
                    continue
            if await handle_message_event(rt, event, context) is not None:
                started += 1
    if started:
        log.warning("caught up: %d alert(s) posted while the bot was away are being triaged", started)
    return started


async def recover(rt: Runtime) -> tuple[int, int]:
    """One pass at start: (resumed, caught up)."""
    resumed = await resume_expired(rt)
    caught = await catch_up(rt, rt.settings.lookback_h * 3600)
    return resumed, caught


async def sweep_forever(rt: Runtime, *, first: bool = True) -> None:
    """`recover` once, then resume expired leases every third of a lease and clean up hourly. Cancel to stop."""
    if first:
        try:
            await recover(rt)
        except Exception:
            log.exception("recovery at start failed; the periodic sweep keeps trying")
    last_cleanup = 0.0
    while True:
        await asyncio.sleep(max(0.2, rt.state.lease_s / 3))
        try:
            await resume_expired(rt)
            if time.monotonic() - last_cleanup >= CLEANUP_EVERY_S:
                last_cleanup = time.monotonic()
                await rt.state.cleanup(rt.settings.retention_days)
        except Exception:
            log.exception("sweep failed; retrying")
