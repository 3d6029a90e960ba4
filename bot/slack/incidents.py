"""Alerts of one failure share one triage: the first gets the full report, later ones a short reply pointing at it.

Before anything expensive runs, the alert's log is read deterministically (`TriageContext.fingerprint`: the
offline classifier, a few ms, never a model call; the triage that follows goes on from that context, so the log
is read once) and the fingerprint joins the open incident of the same failure in the store (or opens one).
Grouping on that fingerprint rather than after a cached triage means a repeat costs no investigate/recommend and
no model call at all, and replicas agree through the store on who leads. The leader runs the triage with what
the team's history says of the fingerprint (`Store.recall`); repeats wait for the leader's report (woken
in-process, polling the store for other replicas), reply "Same cause as …" with the buttons, and bump the live
count in the first report's header. A leader that fails hands the lead to a repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.contract import Alert, Fingerprint, Memory, TriageReport
from bot.engine import prepare
from bot.errors import BotError
from bot.jobs import resolve_job
from bot.slack import blocks as B
from bot.slack.incident_state import MAX_TRACKED
from bot.slack.pacing import LiveMessage
from bot.slack.runtime import Runtime
from bot.slack.threads import resumed_reply
from bot.store import Claim, Incident
from bot.triage_context import TriageContext

log = logging.getLogger(__name__)
POLL_S = 0.5


@dataclass
class Group:
    """Where one alert stands: its fingerprint, its incident (None: triaged alone), what memory says, and the
    triage context the fingerprint was read in (the triage goes on from it: the log is read once)."""

    fingerprint: Fingerprint | None = None
    incident_id: int | None = None
    leader: bool = True
    memory: Memory = field(default_factory=Memory)
    context: TriageContext | None = None


def team_of(rt: Runtime, job: str | None) -> str | None:
    return resolve_job(rt.topology, job).team if job else None


async def group(rt: Runtime, channel: str, alert: Alert, claim: Claim) -> Group:
    """Fingerprint the alert and put it into its incident. Any trouble (no log, no store) → triaged alone;
    the full triage then reports the problem as before. Whichever way it leaves, later alerts of the
    channel may then take their turn to join."""
    try:
        return await _group(rt, channel, alert, claim)
    finally:
        rt.incidents.joined(channel, claim.ts)


async def _group(rt: Runtime, channel: str, alert: Alert, claim: Claim) -> Group:
    spec = rt.topology.incidents
    try:
        async with rt.incidents.fingerprint_slots:
            ctx = await prepare(rt.topology, alert, sandboxes=rt.sandboxes)
            fp = await ctx.fingerprint()
    except BotError:
        return Group()
    except Exception:
        log.exception("fingerprinting %s failed; triaging it alone", alert.job)
        return Group()
    if fp is None:
        return Group(context=ctx)
    team = team_of(rt, alert.job)
    joined = None
    if spec.enabled:
        await rt.incidents.turn(channel, claim.ts)
        joined = await rt.state.join_incident(claim, fp.id, infra_key=fp.infra_key, category=fp.category,
                                              team=team, channel=channel, window_s=spec.window_s)
    g = Group(fingerprint=fp, incident_id=joined.incident_id if joined else None,
              leader=joined.leader if joined else True, context=ctx)
    if g.leader:
        g.memory = await rt.state.recall(fp.id, team, days=spec.memory_days, learn=spec.learn,
                                         exclude_incident=g.incident_id)
    return g


async def wait_for_report(rt: Runtime, g: Group, claim: Claim) -> Incident | None:
    """The incident once its first report is posted; None when this alert must lead instead (the leader
    failed, or took longer than a whole triage may)."""
    assert g.incident_id is not None
    deadline = time.monotonic() + rt.topology.pipeline.timeout_s + 2 * rt.state.lease_s
    woken = rt.incidents.reported(g.incident_id)
    while time.monotonic() < deadline:
        inc = await rt.state.incident(g.incident_id)
        if inc is None:
            return None
        if inc.report_ts and inc.report is not None:
            return inc
        if inc.leader_status == "failed" and await rt.state.lead_incident(g.incident_id, claim):
            return None
        if woken.is_set():  # the first triage ended here but its report is not readable yet, or another took the lead
            await asyncio.sleep(POLL_S)
            continue
        with contextlib.suppress(TimeoutError):  # woken at once in this process; other replicas: the next poll
            await asyncio.wait_for(woken.wait(), POLL_S)
    return None


async def permalink(rt: Runtime, channel: str, ts: str) -> str | None:
    key = (channel, ts)
    if key not in rt.incidents.permalinks:
        try:
            link = (await rt.client.chat_getPermalink(channel=channel, message_ts=ts)).get("permalink")
        except SlackApiError as e:
            log.warning("chat.getPermalink failed: %s", e.response.get("error"))
            return None
        if not link:
            return None
        cache = rt.incidents.permalinks
        if len(cache) >= MAX_TRACKED:   # one entry per incident for the life of the process: keep the newest
            del cache[next(iter(cache))]
        cache[key] = str(link)
    return rt.incidents.permalinks[key]


def as_member(first: TriageReport, alert: Alert) -> TriageReport:
    """The first report, as this alert's triage (its job and run), for history and feedback."""
    return first.model_copy(update={"job": alert.job, "run_id": alert.run_id, "duration_ms": 0.0})


async def answer_repeat(rt: Runtime, channel: str, ts: str, alert: Alert, claim: Claim, inc: Incident,
                        teams: list[tuple[str, str]]) -> TriageReport:
    """Post the short reply in the alert's thread (a resumed claim updates the one already there) and bump the
    first report's live count."""
    assert inc.report is not None and inc.report_channel and inc.report_ts
    report = as_member(inc.report, alert)
    jobs = await rt.state.incident_jobs(inc.id)
    link = await permalink(rt, inc.report_channel, inc.report_ts)
    payload = B.member_payload(report, teams, incident_id=inc.id, first_job=inc.report.job or "the first job",
                               permalink=link, jobs=max(1, len(jobs)))
    reply = await resumed_reply(rt, claim) if claim.resumed else None
    if reply is not None:   # resumed after the short reply went out (a store blip, a crash): update it
        try:
            await rt.update(channel, reply, payload)
        except SlackApiError as e:
            if e.response.get("error") != "message_not_found":
                raise
            reply = None
    if reply is None:
        async with rt.incidents.repeat(channel):
            reply = await rt.post(channel, payload, thread_ts=ts)
        await rt.state.set_reply(claim, channel, reply)
    show_count(rt, inc, jobs, teams)
    return report


def show_count(rt: Runtime, inc: Incident, jobs: list[str], teams: list[tuple[str, str]]) -> None:
    """Update the first report's header with the live count (paced per message; only the newest is sent)."""
    if not inc.report_channel or not inc.report_ts or inc.report is None:
        return
    channel, ts, first = inc.report_channel, inc.report_ts, inc.report

    async def send(payload: dict[str, Any]) -> None:
        async with rt.lock(channel, ts):
            current = await rt.current_blocks(channel, ts, payload["blocks"])
            blocks = B.with_incident(current, job=first.job or "(unknown job)", category=first.category,
                                     alerts=payload["alerts"], jobs=payload["jobs"])
            await rt.update(channel, ts, {"text": payload["text"], "blocks": blocks})

    live = rt.incidents.header(inc.id, lambda: LiveMessage(send, rt.pacing.update_interval_s))
    base = B.report_payload(first, teams, inc.id)  # what another replica's first report looks like to us
    live.show({"text": base["text"], "blocks": base["blocks"], "alerts": inc.alerts, "jobs": jobs})
