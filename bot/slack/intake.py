"""What to do with a message in a watched channel: triage it, say what was recognised when no job could be
named, or stay silent. People are not alerts; a person asks by mentioning the bot (in an alert's thread, or
with a job name) or with /triage."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.alerts import Recognition, recognise
from bot.contract import Alert
from bot.slack import blocks as B
from bot.slack import messages as M
from bot.slack.runtime import Runtime

log = logging.getLogger(__name__)
ACCEPTED_SUBTYPES = (None, "bot_message")
JOB_ARG_RE = re.compile(r"[\w.\-]{1,200}")
MENTION_RE = re.compile(r"<@([UW][A-Z0-9]{2,30})(?:\|[^>]{0,80})?>")


@dataclass(frozen=True)
class Decision:
    action: str                        # triage | no_job | ignore
    thread_ts: str | None = None       # the message whose thread gets the reply
    alert: Alert | None = None
    recognition: Recognition | None = None
    why: str = ""


IGNORE = Decision("ignore")


async def decide(rt: Runtime, event: dict[str, Any], context: dict[str, Any]) -> Decision:
    channel, ts = event.get("channel"), event.get("ts")
    if not ts or not rt.watched(channel):
        return IGNORE
    if event.get("subtype") not in ACCEPTED_SUBTYPES or event.get("hidden"):
        return IGNORE
    if (event.get("bot_id") and event.get("bot_id") == context.get("bot_id")) or (
            event.get("user") and event.get("user") == context.get("bot_user_id")):
        return IGNORE
    thread = event.get("thread_ts")
    if _mentions(event, context.get("bot_user_id")):
        return await _asked(rt, event, str(channel), str(ts), thread)
    if thread and thread != ts:
        return IGNORE
    rec = recognise(event, rt.topology, channel=str(channel))
    return _act(rec, str(ts))


def _act(rec: Recognition, thread_ts: str) -> Decision:
    if rec.triageable:
        return Decision("triage", thread_ts, rec.alert(), rec, rec.reason)
    if rec.failure:
        return Decision("no_job", thread_ts, None, rec, rec.reason)
    return Decision("ignore", None, None, rec, rec.reason)


def _mentions(event: dict[str, Any], bot_user: str | None) -> bool:
    text = str(event.get("text", ""))[:4000]
    return bool(bot_user) and any(m.group(1) == bot_user for m in MENTION_RE.finditer(text))


async def _asked(rt: Runtime, event: dict[str, Any], channel: str, ts: str, thread: str | None) -> Decision:
    """Someone mentioned the bot. In an alert's thread the thread's first message is read as the alert (a
    person asked, so whoever posted it); a registered job named in the mention wins over the alert's. Outside
    a thread, the mention names the job: `@etl-triage orders_daily [RUN_ID]`."""
    mention = {**event, "text": MENTION_RE.sub(" ", str(event.get("text", ""))[:4000])}
    asked = recognise(mention, rt.topology, channel=channel, trust_person=True)
    named = asked.job if asked.job_how in ("exact", "normalised", "mentioned") else None
    if thread and thread != ts:
        parent = await _thread_parent(rt, channel, thread)
        if parent is not None:
            rec = recognise(parent, rt.topology, channel=channel, trust_person=True)
            alert = rec.alert().model_copy(update={"job": named}) if named else rec.alert()
            if alert.job or alert.log_hint:
                return Decision("triage", thread, alert, rec, "asked in the alert's thread")
            return Decision("no_job", thread, None, rec, "asked in the thread; no job found")
    words = mention["text"].split()
    if not named and words and JOB_ARG_RE.fullmatch(words[0]) and any(c in words[0] for c in "_-."):
        named = words[0]
    if named:
        run_id = words[1] if len(words) > 1 and JOB_ARG_RE.fullmatch(words[1]) and words[0] == named else None
        alert = Alert(job=named, run_id=run_id or asked.run_id, source="slack", text=mention["text"][:4000])
        return Decision("triage", thread or ts, alert, asked, "asked by mention")
    return Decision("no_job", thread or ts, None, asked, "asked by mention; no job named")


async def _thread_parent(rt: Runtime, channel: str, thread_ts: str) -> dict[str, Any] | None:
    try:
        resp = await rt.client.conversations_replies(channel=channel, ts=thread_ts, limit=1, inclusive=True)
    except SlackApiError as e:
        log.warning("conversations.replies failed: %s", e.response.get("error") if e.response else e)
        return None
    msgs = resp.get("messages") or []
    return msgs[0] if msgs and isinstance(msgs[0], dict) else None


def guess_note(rec: Recognition | None, alert: Alert) -> str | None:
    """The stated guess, when the job was matched by similarity rather than by name."""
    if rec is None or rec.job_how != "guess" or rec.job != alert.job or not rec.job_raw:
        return None
    return M.JOB_GUESSED.format(raw=B.escape(rec.job_raw), job=B.escape(rec.job))


async def reply_no_job(rt: Runtime, channel: str, decision: Decision) -> None:
    """A failure we recognised but cannot name a job for: say what we saw and how to ask."""
    rec = decision.recognition
    if rec is None or not rec.failure:
        text = M.NO_JOB_ASKED
    else:
        source = rec.sender.source if rec.sender.source not in ("webhook", "slack") else ""
        seen = [M.NO_JOB_DETAIL.format(name=n, value=B.escape(v)) for n, v in
                (("run", rec.run_id), ("task", rec.task)) if v]
        text = M.NO_JOB.format(source=M.NO_JOB_SOURCE.format(source=B.escape(source)) if source else "",
                               details=f" ({', '.join(seen)})" if seen else "")
    try:
        await rt.post(channel, {"text": B.fit(text, B.MAX_FALLBACK)}, thread_ts=decision.thread_ts)
    except SlackApiError as e:
        log.warning("could not say that no job was found: %s", e.response.get("error") if e.response else e)
