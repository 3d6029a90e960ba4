"""Bolt listeners: alerts in watched channels, `/triage`, and the report's buttons.

Every listener acks at once and hands the slow part to `Runtime.tracker` (bounded, drained on shutdown).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError

from bot.alerts import unescape
from bot.contract import Alert, TriageReport
from bot.engine import run_triage
from bot.errors import AccessDenied, BotError, LogNotFound
from bot.escalation import EscalationPolicy, report_teams
from bot.jobs import closest_jobs, known_jobs, resolve_job
from bot.slack import blocks as B
from bot.slack import incidents, intake, observe
from bot.slack import messages as M
from bot.slack.corrections import ask_correction, ask_note
from bot.slack.pacing import LiveMessage
from bot.slack.runtime import Runtime
from bot.slack.threads import resumed_reply
from bot.store import Claim

log = logging.getLogger(__name__)
JOB_ARG_RE = re.compile(r"^[\w.\-]{1,200}$")


def register(app: AsyncApp, rt: Runtime) -> None:
    async def on_message(event: dict[str, Any], context: dict[str, Any]) -> None:
        # tracked from the start: claiming the alert awaits the store, and shutdown must wait for it
        rt.tracker.spawn(handle_message_event(rt, event, context), name="message")

    async def on_triage(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        await handle_command(rt, ack, command, respond)

    async def on_escalate(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], context: dict[str, Any]) -> None:
        await ack()
        if (why := click_refused(body, action, context)) is None:
            rt.tracker.spawn(escalate(rt, body, action), name="escalate")
        else:
            log.warning("ignoring escalate click: %s", why)

    async def on_feedback(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], context: dict[str, Any]) -> None:
        await ack()
        if (why := click_refused(body, action, context)) is None:
            rt.tracker.spawn(feedback(rt, body, action), name="feedback")
        else:
            log.warning("ignoring feedback click: %s", why)

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
    """Start a triage for a new failure alert in a watched channel (or for a person who asked); when a failure
    names no job, say what was recognised; ignore everything else (see bot/slack/intake.py)."""
    decision = await intake.decide(rt, event, context)
    if decision.action == "ignore" or decision.thread_ts is None:
        return None
    channel, ts = str(event.get("channel")), str(event.get("ts"))
    alert = decision.alert if decision.action != "no_job" else None
    claim = await rt.state.claim_alert(channel, ts, (alert or Alert(source="slack")).model_dump(),
                                       team=_team(rt, alert.job if alert else None))
    if claim is None:  # the claim is the dedup: redeliveries, other replicas, alerts answered before a restart
        log.info("ignoring redelivered alert %s/%s", channel, ts)
        observe.dedup_hit(rt, "event")
        return None
    if alert is None:
        rt.tracker.spawn(_no_job(rt, channel, decision, claim), name=f"no job {channel}/{ts}")
        return None
    note = intake.guess_note(decision.recognition, alert)
    rt.incidents.arrive(channel, claim.ts)
    work = observe.in_context(triage_alert(rt, channel, decision.thread_ts, alert, claim, note=note),
                              triage_id=observe.new_triage_id(), channel=channel, ts=ts, job=alert.job,
                              run_id=alert.run_id)
    rt.tracker.spawn(work, name=f"triage {channel}/{ts}")
    return alert


NO_JOB_ERROR = "no job recognised; offered /triage"


async def _no_job(rt: Runtime, channel: str, decision: intake.Decision, claim: Claim) -> None:
    """A failure that names no job: say what was recognised, and close the claim so nobody resumes it (its lease
    is renewed meanwhile: a post slowed by a storm's pacing can outlast it)."""
    try:
        async with rt.state.holding(claim):
            await intake.reply_no_job(rt, channel, decision)
    finally:
        await rt.state.finish(claim, None, error=NO_JOB_ERROR)


async def triage_alert(rt: Runtime, channel: str, ts: str, alert: Alert, claim: Claim,
                       note: str | None = None) -> None:
    """Reaction, placeholder with live progress, then the report (or a plain failure) in the alert's thread.

    A resumed claim (its first holder died or shut down) updates the reply already in the thread instead of
    posting another, so the alert keeps exactly one reply. `note` (a guessed job) stays on every version."""
    try:
        await _triage_alert(rt, channel, ts, alert, claim, note)
    finally:
        rt.incidents.joined(channel, claim.ts)   # an error before grouping: later alerts need not wait


async def _triage_alert(rt: Runtime, channel: str, ts: str, alert: Alert, claim: Claim, note: str | None) -> None:
    async with rt.state.holding(claim):
        placeholder = await resumed_reply(rt, claim) if claim.resumed else None
        stages = {s.name: "pending" for s in rt.topology.order()}
        if placeholder is None:
            try:
                await rt.client.reactions_add(channel=channel, timestamp=ts, name=M.SIGN_OF_LIFE_REACTION)
            except SlackApiError as e:
                log.warning("reactions.add failed: %s", _api_error(e))
        group = await incidents.group(rt, channel, alert, claim)
        if group.incident_id is not None and not group.leader:
            inc = await incidents.wait_for_report(rt, group, claim)
            if inc is not None and inc.report is not None:
                teams = teams_for(rt, inc.report)
                await rt.state.finish(claim, await incidents.answer_repeat(rt, channel, ts, alert, claim, inc, teams))
                return
            group.leader = True  # the first triage of this failure failed: this one leads now
            assert group.fingerprint is not None, "an incident is joined by fingerprint"
            group.memory = await rt.state.recall(group.fingerprint.id, _team(rt, alert.job),
                                                 days=rt.topology.incidents.memory_days,
                                                 learn=rt.topology.incidents.learn, exclude_incident=group.incident_id)
        if placeholder is None:
            async with rt.incidents.first_report(channel):
                placeholder = await rt.post(channel, B.progress_payload(alert.job, list(stages.items()), note),
                                            thread_ts=ts)
            await rt.state.set_reply(claim, channel, placeholder)
        first_reply = placeholder
        live = LiveMessage(lambda p: rt.update(channel, first_reply, p), rt.pacing.update_interval_s)

        def progress(stage: str, status: str) -> None:
            stages[stage] = status
            live.show(B.progress_payload(alert.job, list(stages.items()), note))

        try:
            payload, report = await _triage_payload(rt, alert, progress, group)
            payload = B.with_note(payload, note)
            try:
                await live.finish(payload)
            except SlackApiError as e:  # the placeholder was deleted, or Slack refused the update
                placeholder = await _report_anew(rt, claim, channel, ts, placeholder, payload, _api_error(e))
        except asyncio.CancelledError:
            observe.failed(rt, "interrupted")
            await _interrupted(rt, claim, alert, live)
            raise
        except Exception as e:  # recorded as failed, so no other process retries it forever
            await rt.state.finish(claim, None, error=f"{type(e).__name__}: {e}")
            _wake(rt, group)
            raise
        await rt.state.finish(claim, report, error=None if report else str(payload.get("text", "")))
        if group.incident_id is not None and report is not None:
            await rt.state.incident_reported(group.incident_id, channel, placeholder, report)
        _wake(rt, group)


async def _report_anew(rt: Runtime, claim: Claim, channel: str, ts: str, placeholder: str,
                       payload: dict[str, Any], error: str) -> str:
    """The report could not replace its placeholder: post it as a new reply (the thread must not say
    "Triaging…" forever), point the placeholder at it where it still exists, and return the new ts."""
    log.warning("replacing the placeholder with the report failed (%s): posting the report as a new reply", error)
    reply = await rt.post(channel, payload, thread_ts=ts)
    await rt.state.set_reply(claim, channel, reply)
    if error != "message_not_found":
        try:
            await rt.update(channel, placeholder, {"text": M.REPORT_BELOW})
        except SlackApiError as e:
            log.warning("the placeholder still says 'Triaging': %s", _api_error(e))
    return reply


def _wake(rt: Runtime, group: incidents.Group) -> None:
    """Repeats of this failure waiting in this process: the first report is there (or it failed)."""
    if group.incident_id is not None:
        rt.incidents.reported(group.incident_id).set()


async def _interrupted(rt: Runtime, claim: Claim, alert: Alert, live: LiveMessage) -> None:
    """Shutdown cut the triage short: give a durable claim back (another replica or the next start finishes
    it in this same reply), and say so in the thread."""
    try:
        async with asyncio.timeout(rt.interrupt_note_s):
            if claim.triage_id:
                await rt.state.release(claim)
                await live.finish(B.failure_payload(alert.job, M.PAUSED))
            else:
                await live.finish(B.failure_payload(alert.job, M.INTERRUPTED.format(job_arg=job_arg(alert))))
    except Exception as e:  # best effort: the lease is what matters, and it was released first
        log.warning("could not mark %s/%s as interrupted: %s", claim.channel, claim.ts, e)


async def _triage_payload(rt: Runtime, alert: Alert, progress: Callable[[str, str], None],
                          group: incidents.Group | None = None) -> tuple[dict[str, Any], TriageReport | None]:
    arg = job_arg(alert)
    group = group or incidents.Group()
    try:
        async with rt.tracker.slot():
            report = await run_triage(rt.topology, alert, provider=rt.provider, sandboxes=rt.sandboxes,
                                      on_progress=progress, memory=group.memory, context=group.context)
        observe.finished(rt, report)
        return B.report_payload(report, teams_for(rt, report), group.incident_id), report
    except LogNotFound as e:
        observe.failed(rt, "log_not_found")
        run = M.RUN_TRIED.format(run_id=B.escape(alert.run_id)) if alert.run_id else ""
        return B.failure_payload(alert.job, M.LOG_NOT_FOUND.format(detail=B.escape(e), run=run,
                                                                   job_arg=arg)), None
    except AccessDenied as e:
        observe.failed(rt, "access_denied")
        return B.failure_payload(alert.job, M.ACCESS_DENIED.format(detail=B.escape(e), job_arg=arg)), None
    except Exception as e:  # the thread must say so; the placeholder never stays "Triaging…"
        observe.failed(rt, "error")
        if not isinstance(e, BotError):
            log.exception("triage of %s failed", alert.job)
        detail = B.escape(f"{type(e).__name__}: {e}" if not isinstance(e, BotError) else e)
        return B.failure_payload(alert.job, M.TRIAGE_ERROR.format(detail=detail, job_arg=arg)), None


def _team(rt: Runtime, job: str | None) -> str | None:
    return resolve_job(rt.topology, job).team if job else None


def job_arg(alert: Alert) -> str:
    """The alert's job and run id as `/triage` takes them (escaped for mrkdwn), for the messages that offer it."""
    return B.escape(" ".join(x for x in (alert.job or "JOB_NAME", alert.run_id) if x))


def teams_for(rt: Runtime, report: TriageReport) -> list[tuple[str, str]]:
    """(category, team) for the escalate buttons: the classified category first, one button per team."""
    return report_teams(rt.topology, report)


# ------------------------------------------------------------------ /triage


async def handle_command(rt: Runtime, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
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


async def command_triage(rt: Runtime, command: dict[str, Any], alert: Alert, respond: AsyncRespond) -> None:
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
        posted = await rt.post(command["channel_id"], B.report_payload(report, teams_for(rt, report)))
        await rt.state.record_report(command["channel_id"], posted, alert.model_dump(), report, _team(rt, job))
    except SlackApiError as e:
        if _api_error(e) not in ("not_in_channel", "channel_not_found"):
            raise
        await respond(text=M.CMD_NOT_IN_CHANNEL.format(job_arg=job_arg(alert)), response_type="ephemeral")


# ------------------------------------------------------------------ buttons


def click_refused(body: dict[str, Any], action: dict[str, Any], context: dict[str, Any]) -> str | None:
    """Why a button click must be ignored, or None. The click's claims (job, category, team in `value`) are
    trusted only when they match the message Slack says it came from: a message our bot posted, in a
    channel, carrying this very button with this very value."""
    container = body.get("container") or {}
    msg = body.get("message")
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
    if not channel or not isinstance(msg, dict) or not msg.get("ts"):
        return "no channel or message in the payload"
    if container.get("message_ts") and container.get("message_ts") != msg.get("ts"):
        return "the container and the message disagree"
    ours = {context.get("bot_id"), context.get("bot_user_id")} - {None, ""}
    if not ours or not ({msg.get("bot_id"), msg.get("user")} & ours):
        return f"message {msg.get('ts')} in {channel} was not posted by this bot"
    action_id, value = action.get("action_id"), action.get("value")
    buttons = [e for b in msg.get("blocks") or [] if isinstance(b, dict) and b.get("type") == "actions"
               for e in b.get("elements") or [] if isinstance(e, dict) and e.get("action_id") == action_id]
    if not any(e.get("value") == value for e in buttons):
        return f"the value of {action_id!r} does not match the button on message {msg.get('ts')}"
    return None


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
    incident = B.parse_button_value(action.get("value")).get("i", "")
    # an incident is escalated once, whichever of its reports is clicked
    once = ("incident", incident) if incident.isdigit() else (channel, ts)
    if not await rt.state.first_escalation(*once, key, user):
        observe.dedup_hit(rt, "click")
        return  # a repeated click (on any replica): already escalated to this team from this report
    try:
        status = await _escalate(rt, action, channel, ts, thread, user, key)
    except SlackApiError as e:  # e.g. not_in_channel: say so, and let the next click try again
        await rt.state.escalation_done(*once, key, ok=False)
        log.warning("escalation failed: %s", _api_error(e))
        await rt.post(channel, {"text": M.ESCALATION_FAILED.format(user=user, error=B.escape(_api_error(e)))},
                      thread_ts=thread)
        return
    # Posted: the escalation is done, and the click stays claimed whatever happens to the status line.
    await rt.state.escalation_done(*once, key, ok=True)
    try:
        await _restatus(rt, channel, ts, msg_blocks, body, status, drop_actions=[action_id])
    except SlackApiError as e:
        log.warning("escalation posted, but updating the report's status failed: %s", _api_error(e))


async def _escalate(rt: Runtime, action: dict[str, Any], channel: str, ts: str, thread: str, user: str,
                    key: str) -> str:
    """Post the escalation (thread note, then the team channel); returns the report's new status line."""
    value = B.parse_button_value(action.get("value"))
    incident = int(value["i"]) if value.get("i", "").isdigit() else None
    esc = EscalationPolicy.for_job(rt.topology, value.get("j") or None).for_category(key)
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
        if incident is not None:
            summary = await _incident_summary(rt, incident, permalink, fields)
        else:
            summary = (M.ESCALATION_POST.format(permalink=permalink, **fields) if permalink
                       else M.ESCALATION_POST_NO_LINK.format(**fields))
        await rt.post(esc.channel, {"text": B.fit(summary, B.MAX_FALLBACK)})
    return M.STATUS_ESCALATED.format(team=team, user=user, when=B.when(rt.clock()))


async def _incident_summary(rt: Runtime, incident: int, clicked_link: str | None, fields: dict[str, str]) -> str:
    """The escalation post for an incident: the affected jobs, and a link to its first report."""
    jobs = await rt.state.incident_jobs(incident)
    inc = await rt.state.incident(incident)
    link = clicked_link
    if inc is not None and inc.report_channel and inc.report_ts:
        link = await incidents.permalink(rt, inc.report_channel, inc.report_ts) or clicked_link
    more = f" and {len(jobs) - 30} more" if len(jobs) > 30 else ""
    listed = ", ".join(f"`{B.escape(j)}`" for j in jobs[:30]) + more
    f = {**fields, "n": max(1, len(jobs)), "jobs": listed or fields["job"]}
    f.pop("mention", None)
    f.pop("job", None)
    return (M.ESCALATION_POST_INCIDENT.format(permalink=link, **f) if link
            else M.ESCALATION_POST_INCIDENT_NO_LINK.format(**f))


async def feedback(rt: Runtime, body: dict[str, Any], action: dict[str, Any]) -> None:
    channel, ts, _, msg_blocks = _where(body)
    user = (body.get("user") or {}).get("id", "")
    action_id = str(action.get("action_id", ""))
    value = B.parse_button_value(action.get("value"))
    kind = "resolved" if action_id == B.RESOLVED_ACTION else "wrong_diagnosis"
    facts = {"job": value.get("j"), "run_id": value.get("r"), "category": value.get("c"),
             "team": _team(rt, value.get("j"))}
    feedback_id = await rt.state.record_feedback(channel, ts, kind, user, **facts)
    if feedback_id is None:
        return  # a repeated click (on any replica)
    log.info("feedback %s by %s on %s/%s %s", kind, user, channel, ts, facts)
    if kind == "wrong_diagnosis":
        await ask_correction(rt, body, feedback_id, channel, ts, value)
    else:
        await ask_note(rt, body, feedback_id, channel, ts, value)
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
