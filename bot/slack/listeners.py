"""Bolt listeners: alerts in watched channels, `/triage`, and the report's buttons.

Every listener acks at once and hands the slow part to `Runtime.tracker` (bounded, drained on shutdown).
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot.alerts import parse_alert, unescape
from bot.engine import run_triage
from bot.errors import AccessDenied, BotError, LogNotFound
from bot.escalation import escalation_for, report_teams
from bot.jobs import closest_jobs, known_jobs, resolve_job
from bot.report import CATEGORIES, Alert, TriageReport
from bot.slack import blocks as B
from bot.slack import messages as M
from bot.slack import observe
from bot.slack.pacing import LiveMessage
from bot.slack.runtime import Runtime

log = logging.getLogger(__name__)
ACCEPTED_SUBTYPES = (None, "bot_message")
JOB_ARG_RE = re.compile(r"^[\w.\-]{1,200}$")


def register(app: AsyncApp, rt: Runtime) -> None:
    async def on_message(event: dict[str, Any], context: dict[str, Any]) -> None:
        await handle_message_event(rt, event, context)

    async def on_triage(ack, command: dict[str, Any], respond) -> None:
        await handle_command(rt, ack, command, respond)

    async def on_escalate(ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        rt.tracker.spawn(escalate(rt, body, action), name="escalate")

    async def on_feedback(ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        rt.tracker.spawn(feedback(rt, body, action), name="feedback")

    app.event("message")(on_message)
    app.command("/triage")(on_triage)
    app.action(re.compile("^" + re.escape(B.ESCALATE_PREFIX)))(on_escalate)
    app.action(B.RESOLVED_ACTION)(on_feedback)
    app.action(B.WRONG_ACTION)(on_feedback)


def _api_error(e: SlackApiError) -> str:
    data = getattr(e.response, "data", None)
    return str(data.get("error")) if isinstance(data, dict) else str(e)


# ------------------------------------------------------------------ alerts


async def handle_message_event(rt: Runtime, event: dict[str, Any], context: dict[str, Any]) -> Alert | None:
    """Start a triage for a new failure alert in a watched channel; ignore everything else."""
    channel, ts = event.get("channel"), event.get("ts")
    if not ts or not rt.watched(channel):
        return None
    if event.get("subtype") not in ACCEPTED_SUBTYPES or event.get("hidden"):
        return None
    if event.get("thread_ts") and event.get("thread_ts") != ts:
        return None
    if (event.get("bot_id") and event.get("bot_id") == context.get("bot_id")) or (
            event.get("user") and event.get("user") == context.get("bot_user_id")):
        return None
    alert = parse_alert(event, rt.topology)
    if alert is None:
        return None
    if not rt.seen_events.first((channel, ts)):
        log.info("ignoring redelivered alert %s/%s", channel, ts)
        observe.dedup_hit(rt, "event")
        return None
    work = observe.in_context(triage_alert(rt, str(channel), str(ts), alert), triage_id=observe.new_triage_id(),
                              channel=channel, ts=ts, job=alert.job, run_id=alert.run_id)
    rt.tracker.spawn(work, name=f"triage {channel}/{ts}")
    return alert


async def triage_alert(rt: Runtime, channel: str, ts: str, alert: Alert) -> None:
    """Reaction, placeholder with live progress, then the report (or a plain failure) in the alert's thread."""
    try:
        await rt.client.reactions_add(channel=channel, timestamp=ts, name=M.SIGN_OF_LIFE_REACTION)
    except SlackApiError as e:
        log.warning("reactions.add failed: %s", _api_error(e))
    stages = {s.name: "pending" for s in rt.topology.order()}
    placeholder = await rt.post(channel, B.progress_payload(alert.job, list(stages.items())), thread_ts=ts)
    live = LiveMessage(lambda p: rt.update(channel, placeholder, p), rt.pacing.update_interval_s)

    def progress(stage: str, status: str) -> None:
        stages[stage] = status
        live.show(B.progress_payload(alert.job, list(stages.items())))

    try:
        payload = await _triage_payload(rt, alert, progress)
    except asyncio.CancelledError:
        observe.failed(rt, "interrupted")
        try:
            async with asyncio.timeout(5):
                await live.finish(B.failure_payload(alert.job, M.INTERRUPTED.format(job_arg=_job_arg(alert))))
        finally:
            raise
    await live.finish(payload)


async def _triage_payload(rt: Runtime, alert: Alert, progress) -> dict[str, Any]:
    job_arg = _job_arg(alert)
    try:
        async with rt.tracker.slot():
            report = await run_triage(rt.topology, alert, provider=rt.provider, sandboxes=rt.sandboxes,
                                      on_progress=progress)
        observe.finished(rt, report)
        return B.report_payload(report, teams_for(rt, report))
    except LogNotFound as e:
        observe.failed(rt, "log_not_found")
        run = M.RUN_TRIED.format(run_id=B.escape(alert.run_id)) if alert.run_id else ""
        return B.failure_payload(alert.job, M.LOG_NOT_FOUND.format(detail=B.escape(e), run=run, job_arg=job_arg))
    except AccessDenied as e:
        observe.failed(rt, "access_denied")
        return B.failure_payload(alert.job, M.ACCESS_DENIED.format(detail=B.escape(e), job_arg=job_arg))
    except Exception as e:  # the thread must say so; the placeholder never stays "Triaging…"
        observe.failed(rt, "error")
        if not isinstance(e, BotError):
            log.exception("triage of %s failed", alert.job)
        detail = B.escape(f"{type(e).__name__}: {e}" if not isinstance(e, BotError) else e)
        return B.failure_payload(alert.job, M.TRIAGE_ERROR.format(detail=detail, job_arg=job_arg))


def _job_arg(alert: Alert) -> str:
    return B.escape(" ".join(x for x in (alert.job or "JOB_NAME", alert.run_id) if x))


def teams_for(rt: Runtime, report: TriageReport) -> list[tuple[str, str]]:
    """(category, team) for the escalate buttons: the classified category first, one button per team."""
    return report_teams(rt.topology, report)


# ------------------------------------------------------------------ /triage


async def handle_command(rt: Runtime, ack, command: dict[str, Any], respond) -> None:
    args = (command.get("text") or "").split()
    if not args or args[0] in ("help", "-h", "--help"):
        await ack(text=M.CMD_USAGE)
        return
    if args[0] == "list":
        names = known_jobs(rt.topology)
        text = M.CMD_LIST.format(n=len(names), names=B.escape(", ".join(names))) if names else M.CMD_LIST_EMPTY
        await ack(text=B.fit(text, B.MAX_SECTION))
        return
    job, run_id = args[0], (args[1] if len(args) > 1 else None)
    if not JOB_ARG_RE.match(job) or (run_id and not JOB_ARG_RE.match(run_id)):
        await ack(text=M.CMD_USAGE)
        return
    run = f" run `{B.escape(run_id)}`" if run_id else ""
    await ack(text=M.CMD_ACK.format(job=B.escape(job), run=run))
    alert = Alert(job=job, run_id=run_id, source="slack", text=command.get("text") or "")
    work = observe.in_context(command_triage(rt, command, alert, respond), triage_id=observe.new_triage_id(),
                              channel=command.get("channel_id"), job=job, run_id=run_id)
    rt.tracker.spawn(work, name=f"/triage {job}")


async def command_triage(rt: Runtime, command: dict[str, Any], alert: Alert, respond) -> None:
    job = alert.job or ""
    run = f" run `{B.escape(alert.run_id)}`" if alert.run_id else ""
    try:
        async with rt.tracker.slot():
            report = await run_triage(rt.topology, alert, provider=rt.provider, sandboxes=rt.sandboxes)
        observe.finished(rt, report)
    except LogNotFound as e:
        observe.failed(rt, "log_not_found")
        if job not in known_jobs(rt.topology):
            near = closest_jobs(rt.topology, job)
            suggest = M.CMD_SUGGEST.format(names=", ".join(f"`{B.escape(n)}`" for n in near)) if near else ""
            text = M.CMD_UNKNOWN_JOB.format(job=B.escape(job), suggest=suggest)
        else:
            text = M.CMD_NO_LOG.format(job=B.escape(job), run=run, detail=B.escape(e))
        await respond(text=text, response_type="ephemeral")
        return
    except Exception as e:
        observe.failed(rt, "error")
        if not isinstance(e, BotError):
            log.exception("/triage %s failed", job)
        await respond(text=M.CMD_FAILED.format(job=B.escape(job), detail=B.escape(e)), response_type="ephemeral")
        return
    try:
        await rt.post(command["channel_id"], B.report_payload(report, teams_for(rt, report)))
    except SlackApiError as e:
        if _api_error(e) not in ("not_in_channel", "channel_not_found"):
            raise
        await respond(text=M.CMD_NOT_IN_CHANNEL.format(job_arg=_job_arg(alert)), response_type="ephemeral")


# ------------------------------------------------------------------ buttons


def _where(body: dict[str, Any]) -> tuple[str, str, str, list[dict[str, Any]]]:
    """(channel, message ts, thread ts, blocks) of the message whose button was clicked."""
    container = body.get("container") or {}
    msg = body.get("message") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
    ts = msg.get("ts") or container.get("message_ts")
    thread = msg.get("thread_ts") or container.get("thread_ts") or ts
    return str(channel), str(ts), str(thread), list(msg.get("blocks") or [])


def format_mention(mention: str | None) -> str:
    """`S…` user group → `<!subteam^S…>`, `U…`/`W…` user → `<@U…>`; anything else is shown, not pinged."""
    if not mention:
        return ""
    m = mention.strip()
    if re.fullmatch(r"S[A-Z0-9]+", m):
        return f"<!subteam^{m}>"
    if re.fullmatch(r"[UW][A-Z0-9]+", m):
        return f"<@{m}>"
    if re.fullmatch(r"<(!subteam\^|@)[A-Z0-9]+(\|[^>]*)?>", m):
        return m
    return B.escape(m)


async def escalate(rt: Runtime, body: dict[str, Any], action: dict[str, Any]) -> None:
    channel, ts, thread, msg_blocks = _where(body)
    user = (body.get("user") or {}).get("id", "")
    action_id = str(action.get("action_id", ""))
    key = action_id.removeprefix(B.ESCALATE_PREFIX)
    if not rt.seen_clicks.first((channel, ts, action_id)):
        observe.dedup_hit(rt, "click")
        return  # a repeated click: already escalated to this team from this report
    try:
        await _escalate(rt, body, action, channel, ts, thread, msg_blocks, user, action_id, key)
    except SlackApiError as e:  # e.g. not_in_channel: say so, and let the next click try again
        rt.seen_clicks.forget((channel, ts, action_id))
        log.warning("escalation failed: %s", _api_error(e))
        await rt.post(channel, {"text": M.ESCALATION_FAILED.format(user=user, error=B.escape(_api_error(e)))},
                      thread_ts=thread)


async def _escalate(rt: Runtime, body: dict[str, Any], action: dict[str, Any], channel: str, ts: str, thread: str,
                    msg_blocks: list[dict[str, Any]], user: str, action_id: str, key: str) -> None:
    value = B.parse_button_value(action.get("value"))
    job = resolve_job(rt.topology, value["j"]) if value.get("j") else None
    esc = escalation_for(rt.topology, key if key in CATEGORIES else "unknown", job)
    team = B.escape(esc.team)
    mention = format_mention(esc.mention)
    text = M.ESCALATED_THREAD.format(user=user, team=team, mention=f" {mention}" if mention else "")
    if not esc.channel:
        text += M.ESCALATED_NO_CHANNEL.format(team=team, key=B.escape(key))
    await rt.post(channel, {"text": text}, thread_ts=thread)
    if esc.channel:
        permalink = None
        try:
            permalink = (await rt.client.chat_getPermalink(channel=channel, message_ts=ts)).get("permalink")
        except SlackApiError as e:
            log.warning("chat.getPermalink failed: %s", _api_error(e))
        fields = {"mention": "", "user": user, "job": B.escape(value.get("j", "?")), "team": team,
                  "label": M.CATEGORY_LABEL.get(value.get("c", ""), "UNKNOWN"),
                  "root_cause": B.escape(unescape(value.get("s", "")))}
        summary = (M.ESCALATION_POST.format(permalink=permalink, **fields) if permalink
                   else M.ESCALATION_POST_NO_LINK.format(**fields))
        await rt.post(esc.channel, {"text": B.fit(summary, B.MAX_FALLBACK)})
    status = M.STATUS_ESCALATED.format(team=team, user=user, when=B.when(rt.clock()))
    await _restatus(rt, channel, ts, msg_blocks, body, status, drop_actions=[action_id])


async def feedback(rt: Runtime, body: dict[str, Any], action: dict[str, Any]) -> None:
    channel, ts, _, msg_blocks = _where(body)
    user = (body.get("user") or {}).get("id", "")
    action_id = str(action.get("action_id", ""))
    if not rt.seen_clicks.first((channel, ts, action_id)):
        observe.dedup_hit(rt, "click")
        return
    value = B.parse_button_value(action.get("value"))
    kind = "resolved" if action_id == B.RESOLVED_ACTION else "wrong_diagnosis"
    record = {"kind": kind, "user": user, "channel": channel, "ts": ts, "job": value.get("j"),
              "run_id": value.get("r"), "category": value.get("c"), "at": rt.clock()}
    rt.feedback.append(record)
    log.info("feedback %s", record)
    when = B.when(rt.clock())
    if kind == "resolved":
        await _restatus(rt, channel, ts, msg_blocks, body, M.STATUS_RESOLVED.format(user=user, when=when),
                        drop_all=True)
    else:
        await _restatus(rt, channel, ts, msg_blocks, body, M.STATUS_WRONG.format(user=user, when=when),
                        drop_actions=[action_id])


async def _restatus(rt: Runtime, channel: str, ts: str, msg_blocks: list[dict[str, Any]], body: dict[str, Any],
                    line: str, *, drop_actions: list[str] | None = None, drop_all: bool = False) -> None:
    async with rt.lock(channel, ts):
        current = rt.blocks_of(channel, ts, msg_blocks)
        blocks = B.with_status(current, line, drop_actions=drop_actions or [], drop_all_actions=drop_all)
        text = (body.get("message") or {}).get("text") or line
        await rt.update(channel, ts, {"text": text, "blocks": blocks})
