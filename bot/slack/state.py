"""What the Slack layer remembers, through the store, with a memory fallback while the database is away.

Every call tries the store; when it fails (server gone, file unwritable, a call slower than `op_timeout_s`)
the bot says so once in the log and carries on in memory — dedup, click filter, local pacing — so an alert
is still answered, just without history. It tries the store again after `retry_s`, and says when it is back;
the alerts answered in the meantime are then written back (`write_back`, from the recovery sweep), so history,
memory and the other replicas know them.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final, TypeVar

from bot.contract import Memory, TriageReport
from bot.slack.dedup import Seen
from bot.slack.pacing import ChannelPacer
from bot.store import Claim, Incident, IncidentJoin, Store

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_UNRECORDED = 10_000   # alerts answered during one outage that are kept for write-back


class _Missing(Enum):
    """What `State._try` returns when the store did not answer (a one-member enum, so `is` narrows it away)."""

    MISSING = "missing"


_MISSING: Final = _Missing.MISSING


@dataclass
class _Unrecorded:
    """An alert claimed in memory while the store was away, until `write_back` records it."""

    alert: dict[str, Any]
    team: str | None
    reply_ts: str | None = None
    report: TriageReport | None = None
    error: str | None = None
    at: float | None = None          # when it was answered (the store's clock), once it is


async def _record_click(store: Store, click: dict[str, Any]) -> int | None:
    return await store.record_feedback(click["channel"], click["message_ts"], click["verdict"], user=click["user"],
                                       job=click.get("job"), run_id=click.get("run_id"),
                                       category=click.get("category"), team=click.get("team"))


def memory_claim(channel: str, ts: str, alert: dict[str, Any]) -> Claim:
    """A claim that lives only in this process (no store, or the store is unreachable)."""
    return Claim(0, channel, ts, alert)


class State:
    def __init__(self, store: Store | None, *, owner: str, lease_s: float = 30.0, retry_s: float = 5.0,
                 op_timeout_s: float = 5.0, owns_store: bool = True) -> None:
        self.store, self.owner, self.lease_s = store, owner, lease_s
        self.retry_s, self.op_timeout_s, self.owns_store = retry_s, op_timeout_s, owns_store
        self.seen_events = Seen()
        self.seen_clicks = Seen(ttl_s=24 * 3600)
        # clicks recorded while the store was away (negative ids), and follow-ups (a correction, a resolution
        # note) to clicks the store has: written back when it returns
        self._feedback: dict[int, dict[str, Any]] = {}
        self._feedback_ids = itertools.count(1)
        self._followups: list[tuple[int, dict[str, Any]]] = []
        self.degraded = False
        self._retry_at = 0.0
        self._held: dict[int, Claim] = {}
        self._unrecorded: dict[tuple[str, str], _Unrecorded] = {}   # answered while the store was away

    @property
    def durable(self) -> bool:
        return self.store is not None

    async def _try(self, what: str, op: Callable[[Store], Awaitable[T]]) -> T | _Missing:
        """`op(store)`, or _MISSING when there is no store or it is unreachable (logged once per outage)."""
        store = self.store
        if store is None or time.monotonic() < self._retry_at:
            return _MISSING
        try:
            async with asyncio.timeout(self.op_timeout_s):
                result = await op(store)
        except Exception as e:
            self._retry_at = time.monotonic() + self.retry_s
            if not self.degraded:
                self.degraded = True
                log.error("state database %s is unreachable (%s while %s: %s); answering alerts without history "
                          "until it is back", store.where, type(e).__name__, what, " ".join(str(e).split()))
            return _MISSING
        if self.degraded:
            self.degraded = False
            log.warning("state database %s is reachable again; history resumes", store.where)
        return result

    # ------------------------------------------------------------------ alerts and triages

    async def claim_alert(self, channel: str, ts: str, alert: dict[str, Any], team: str | None = None) -> Claim | None:
        """The claim for a new alert (or one left behind by a dead process); None when it is taken."""
        if not self.seen_events.first((channel, ts)) or (channel, ts) in self._unrecorded:
            # a redelivery this process has already claimed: in the store (which would say taken), or in memory
            # while the store was away, in which case the store, back now, would hand out a second claim
            return None
        claim = await self._try("claiming an alert", lambda s: s.claim_alert(
            channel, ts, alert, owner=self.owner, lease_s=self.lease_s, team=team))
        if claim is _MISSING:
            if self.store is not None and len(self._unrecorded) < MAX_UNRECORDED:
                self._unrecorded[(channel, ts)] = _Unrecorded(alert, team)
            return memory_claim(channel, ts, alert)
        if claim is not None:
            self._held[claim.triage_id] = claim
        return claim

    async def expired(self, limit: int = 20) -> list[Claim]:
        claims = await self._try("looking for interrupted triages", lambda s: s.claim_expired(
            owner=self.owner, lease_s=self.lease_s, limit=limit))
        if claims is _MISSING:
            return []
        for c in claims:
            self.seen_events.first((c.channel, c.ts))
            if not c.given_up:
                self._held[c.triage_id] = c
        return claims

    @asynccontextmanager
    async def holding(self, claim: Claim) -> AsyncIterator[None]:
        """Keep the claim's lease alive while the triage runs (renewed every third of the lease)."""
        if not claim.triage_id:
            yield
            return

        async def beat() -> None:
            while True:
                await asyncio.sleep(self.lease_s / 3)
                held = await self._try("renewing a lease", lambda s: s.renew(claim, owner=self.owner,
                                                                            lease_s=self.lease_s))
                if held is False:
                    log.warning("lost the lease of %s/%s to another process; finishing anyway (same reply)",
                                claim.channel, claim.ts)
                    return

        task = asyncio.create_task(beat(), name=f"lease {claim.channel}/{claim.ts}")
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def set_reply(self, claim: Claim, channel: str, reply_ts: str) -> None:
        if claim.triage_id:
            await self._try("recording a reply", lambda s: s.set_reply(claim, channel, reply_ts))
        elif (entry := self._unrecorded.get((claim.channel, claim.ts))) is not None and channel == claim.channel:
            entry.reply_ts = reply_ts

    async def finish(self, claim: Claim, report: TriageReport | None, error: str | None = None) -> None:
        self._held.pop(claim.triage_id, None)
        if claim.triage_id:
            await self._try("recording a triage", lambda s: s.finish(claim, report, error=error))
        elif (entry := self._unrecorded.get((claim.channel, claim.ts))) is not None:
            if entry.reply_ts is None:   # nothing in the thread to point at: catch-up finds what was posted
                self._unrecorded.pop((claim.channel, claim.ts), None)
            else:
                entry.report, entry.error = report, error
                entry.at = self.store.clock() if self.store is not None else time.time()

    async def write_back(self) -> int:
        """Record the alerts answered from memory while the store was away, once it answers again, each with
        its report (or the error it failed with), team and time: how many it took now. One the store already
        knew (another replica claimed it meanwhile) is left as it is."""
        taken = 0
        for key, entry in [(k, e) for k, e in self._unrecorded.items() if e.at is not None]:
            assert entry.reply_ts is not None, "finish keeps only entries with a reply"
            new = await self._try("writing back an alert answered without the store", functools.partial(
                Store.record_answered, channel=key[0], ts=key[1], alert=entry.alert, reply_ts=entry.reply_ts,
                report=entry.report, error=entry.error, team=entry.team, at=entry.at,
                note="answered while the store was unreachable"))
            if new is _MISSING:
                return taken
            self._unrecorded.pop(key, None)
            taken += bool(new)
        if self._feedback or self._followups:
            await self._write_back_feedback()
        if taken:
            log.warning("wrote back %d alert(s) answered while the state database was unreachable", taken)
        return taken

    async def release(self, claim: Claim) -> None:
        self._held.pop(claim.triage_id, None)
        if claim.triage_id:
            await self._try("releasing a lease", lambda s: s.release(claim, owner=self.owner))

    async def known(self, channel: str, stamps: list[str]) -> set[str]:
        found = await self._try("reading known alerts", lambda s: s.known_alerts(channel, stamps))
        if found is _MISSING:
            return {ts for ts in stamps if (channel, ts) in self.seen_events}
        return found

    async def record_answered(self, channel: str, ts: str, alert: dict[str, Any], reply_ts: str) -> None:
        self.seen_events.first((channel, ts))
        await self._try("recording an answered alert", lambda s: s.record_answered(channel, ts, alert, reply_ts))

    async def record_report(self, channel: str, reply_ts: str, alert: dict[str, Any], report: TriageReport,
                            team: str | None = None) -> None:
        await self._try("recording a triage", lambda s: s.record_report(channel, reply_ts, alert, report, team))

    # ------------------------------------------------------------------ clicks

    async def first_escalation(self, channel: str, message_ts: str, team_key: str, user: str) -> bool:
        first_here = self.seen_clicks.first((channel, message_ts, "escalate", team_key))
        won = await self._try("claiming an escalation", lambda s: s.claim_escalation(
            channel, message_ts, team_key, user=user, owner=self.owner))
        return first_here if won is _MISSING else bool(won)

    async def escalation_done(self, channel: str, message_ts: str, team_key: str, ok: bool) -> None:
        if ok:
            await self._try("recording an escalation", lambda s: s.escalation_posted(channel, message_ts, team_key))
            return
        self.seen_clicks.forget((channel, message_ts, "escalate", team_key))
        await self._try("releasing an escalation", lambda s: s.escalation_failed(channel, message_ts, team_key))

    async def record_feedback(self, channel: str, message_ts: str, verdict: str, user: str,
                              **facts: str | None) -> int | None:
        """The feedback row id of the first such click (negative: kept in memory until the store is back); None
        for a repeat."""
        first_here = self.seen_clicks.first((channel, message_ts, verdict))
        fid = await self._try("recording feedback", lambda s: s.record_feedback(
            channel, message_ts, verdict, user=user, **facts))
        if fid is _MISSING:
            if not first_here:
                return None
            mid = -next(self._feedback_ids)
            if len(self._feedback) < MAX_UNRECORDED:
                self._feedback[mid] = {"channel": channel, "message_ts": message_ts, "verdict": verdict,
                                       "user": user, **facts}
            return mid
        return fid

    async def correct(self, feedback_id: int, category: str, cause: str | None, user: str) -> None:
        await self._follow_up(feedback_id, {"correct": {"category": category, "cause": cause, "user": user}})

    async def note_resolution(self, feedback_id: int, note: str) -> None:
        await self._follow_up(feedback_id, {"note": note})

    async def _follow_up(self, feedback_id: int, what: dict[str, Any]) -> None:
        if feedback_id < 0:                      # a click kept in memory: goes with it
            if (click := self._feedback.get(feedback_id)) is not None:
                click.update(what)
            return
        if feedback_id and await self._apply(feedback_id, what) is _MISSING and len(self._followups) < MAX_UNRECORDED:
            self._followups.append((feedback_id, what))

    async def _apply(self, feedback_id: int, what: dict[str, Any]) -> object:
        if "correct" in what:
            c = what["correct"]
            return await self._try("recording a correction", lambda s: s.correct(
                feedback_id, category=c["category"], cause=c["cause"], user=c["user"]))
        return await self._try("recording a resolution note", lambda s: s.note_resolution(feedback_id, what["note"]))

    async def _write_back_feedback(self) -> None:
        """The clicks and follow-ups kept in memory, after the alerts they are on; if the store leaves again
        midway, the rest waits for the next sweep."""
        for mid, click in list(self._feedback.items()):
            fid = await self._try("writing back feedback", functools.partial(_record_click, click=click))
            if fid is _MISSING:
                return
            self._feedback.pop(mid, None)
            if isinstance(fid, int):             # None: another replica recorded this click first
                for key in ("correct", "note"):
                    if key in click:
                        self._followups.append((fid, {key: click[key]}))
        while self._followups:
            fid, what = self._followups[0]
            if await self._apply(fid, what) is _MISSING:
                return
            self._followups.pop(0)

    # ------------------------------------------------------------------ incidents and memory (store only: without
    # it every alert is triaged on its own and reports show no history)

    async def join_incident(self, claim: Claim, fingerprint: str, *, infra_key: str | None, category: str,
                            team: str | None, channel: str, window_s: float) -> IncidentJoin | None:
        if not claim.triage_id:
            return None
        got = await self._try("joining an incident", lambda s: s.join_incident(
            claim.triage_id, fingerprint, infra_key=infra_key, category=category, team=team, channel=channel,
            window_s=window_s))
        return None if got is _MISSING else got

    async def incident(self, incident_id: int) -> Incident | None:
        got = await self._try("reading an incident", lambda s: s.incident(incident_id))
        return None if got is _MISSING else got

    async def incident_jobs(self, incident_id: int) -> list[str]:
        got = await self._try("reading an incident's jobs", lambda s: s.incident_jobs(incident_id))
        return [] if got is _MISSING else got

    async def incident_reported(self, incident_id: int, channel: str, report_ts: str, report: TriageReport) -> None:
        await self._try("recording an incident's report", lambda s: s.incident_reported(
            incident_id, channel, report_ts, report))

    async def lead_incident(self, incident_id: int, claim: Claim) -> bool:
        got = await self._try("taking over an incident", lambda s: s.lead_incident(incident_id, claim.triage_id))
        return bool(got) if got is not _MISSING else False

    async def recall(self, fingerprint: str, team: str | None, *, days: float, learn: bool,
                     exclude_incident: int | None = None) -> Memory:
        got = await self._try("recalling a fingerprint", lambda s: s.recall(
            fingerprint, team, days=days, learn=learn, exclude_incident=exclude_incident))
        return Memory() if got is _MISSING else got

    # ------------------------------------------------------------------ pacing

    async def pace(self, channel: str, interval_s: float, local: ChannelPacer) -> None:
        """Wait for the channel's next post slot: shared through the store by every replica, else local."""
        if interval_s <= 0:
            return
        wait = await self._try("reserving a post slot", lambda s: s.reserve_post(channel, interval_s))
        if wait is _MISSING:
            await local.wait(channel)
        elif wait > 0:
            await asyncio.sleep(wait)

    # ------------------------------------------------------------------ lifetime

    async def cleanup(self, retention_days: float) -> int:
        """Drop what is older than the retention window (ETL_TRIAGE_RETENTION_DAYS)."""
        n = await self._try("cleaning up old rows", lambda s: s.cleanup(retention_days))
        if n is _MISSING:
            return 0
        if n:
            log.info("retention: deleted %d row(s) older than %g days", n, retention_days)
        return n

    async def aclose(self) -> None:
        """Release every lease still held (so another replica or the next start resumes at once), then close."""
        for claim in list(self._held.values()):
            await self.release(claim)
        await self.write_back()   # the store may be back: what it missed is not left to a report-less catch-up
        if self.store is not None and self.owns_store:
            store, self.store = self.store, None
            with suppress(Exception):
                await store.close()
