"""`Store`: the bot's durable facts, one interface over SQLite and Postgres.

One writer per fact: a row in `alerts` (unique channel + ts) is the claim, so an alert is triaged once across
restarts and replicas; a triage's lease (owner + expiry) says who is working on it, and an expired lease is
work anyone may take over; an escalation's row is claimed before it is posted and marked when the post
succeeded; feedback is one row per (message, verdict). Times are epoch seconds from the store's clock.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bot.contract import TriageReport
from bot.store import migrations
from bot.store.backend import Backend, Row
from bot.store.memory import MemoryMixin

MAX_ATTEMPTS = 3  # a triage whose holder stopped this often is given up: it may be what kills the process


@dataclass(frozen=True)
class Claim:
    """A triage this process holds the lease of: run it, then `finish` (or `release`) it."""

    triage_id: int
    channel: str
    ts: str
    alert: dict[str, Any]
    reply_ts: str | None = None
    attempts: int = 1
    given_up: bool = False   # from claim_expired: stopped MAX_ATTEMPTS times, now failed; only its thread is left

    @property
    def resumed(self) -> bool:
        return self.attempts > 1


@dataclass(frozen=True)
class Verdict:
    verdict: str
    user: str
    at: float
    corrected_category: str | None = None
    corrected_cause: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class HistoryRow:
    triage_id: int
    received_at: float
    channel: str
    ts: str
    job: str | None
    run_id: str | None
    status: str
    category: str | None
    confidence: float | None
    root_cause: str | None
    provider: str | None
    duration_ms: float | None
    fingerprint: str | None
    feedback: list[Verdict] = field(default_factory=list)
    incident_id: int | None = None
    learned_from: str | None = None   # the team's verdict that overrode the engine's answer on this triage


async def _finish_in(tx: Any, triage_id: int, report: TriageReport | None, error: str | None, now: float) -> None:
    """The triage's outcome, inside the caller's transaction: done with its report, or failed with `error`."""
    if report is None:
        await tx.execute("UPDATE triages SET status = 'failed', lease_owner = NULL, lease_until = 0, "
                         "error = ?, finished_at = ? WHERE id = ?", (error, now, triage_id))
        return
    timings = {s.name: round(s.duration_ms, 1) for s in report.stages}
    await tx.execute(
        "UPDATE triages SET status = 'done', lease_owner = NULL, lease_until = 0, report_json = ?, "
        "category = ?, confidence = ?, root_cause = ?, signature = ?, fingerprint = ?, provider = ?, "
        "usage_json = ?, timings_json = ?, duration_ms = ?, error = NULL, finished_at = ? WHERE id = ?",
        (report.model_dump_json(), report.category, report.confidence, report.root_cause,
         _signature(report), report.fingerprint.id if report.fingerprint else None, report.provider,
         json.dumps(_usage(report)), json.dumps(timings), report.duration_ms, now, triage_id))


def _usage(report: TriageReport) -> dict[str, Any]:
    models = sorted({s.model for s in report.stages if s.model})
    return {"input_tokens": sum(s.input_tokens for s in report.stages),
            "output_tokens": sum(s.output_tokens for s in report.stages),
            "round_trips": sum(s.round_trips for s in report.stages), "models": models}


def _signature(report: TriageReport) -> str | None:
    for s in report.stages:
        if s.output_kind == "classification" and s.output:
            sig = s.output.get("signature")
            return str(sig) if sig else None
    return None


class Store(MemoryMixin):
    def __init__(self, backend: Backend, clock: Callable[[], float] = time.time) -> None:
        self.backend, self.clock = backend, clock

    @property
    def where(self) -> str:
        return self.backend.where

    @property
    def dialect(self) -> str:
        return self.backend.dialect.name

    async def upgrade(self) -> list[int]:
        return await migrations.upgrade(self.backend, self.clock())

    async def schema_version(self) -> int:
        return await migrations.current_version(self.backend)

    async def close(self) -> None:
        await self.backend.close()

    # ------------------------------------------------------------------ alerts and triages

    async def claim_alert(self, channel: str, ts: str, alert: dict[str, Any], *, owner: str, lease_s: float,
                          team: str | None = None) -> Claim | None:
        """Record the alert and take its triage; None when it was claimed before (a redelivery) and that
        triage is done or its holder's lease is still running."""
        now = self.clock()
        async with self.backend.tx() as tx:
            row = await tx.fetchone(
                "INSERT INTO alerts (channel, ts, job, run_id, source, team, alert_json, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (channel, ts) DO NOTHING RETURNING id",
                (channel, ts, alert.get("job"), alert.get("run_id"), alert.get("source") or "slack", team,
                 json.dumps(alert, ensure_ascii=False), now))
            if row is not None:
                tid = await tx.fetchone(
                    "INSERT INTO triages (alert_id, status, lease_owner, lease_until, attempts, created_at, "
                    "started_at) VALUES (?, 'running', ?, ?, 1, ?, ?) RETURNING id",
                    (row[0], owner, now + lease_s, now, now))
                assert tid is not None
                return Claim(int(tid[0]), channel, ts, alert)
        return await self._take_over(channel, ts, owner=owner, lease_s=lease_s)

    async def _take_over(self, channel: str, ts: str, *, owner: str, lease_s: float) -> Claim | None:
        """A redelivered alert whose triage was left behind (its holder died, or shut down and released it)."""
        now = self.clock()
        async with self.backend.tx() as tx:
            row = await tx.fetchone(
                "UPDATE triages SET status = 'running', lease_owner = ?, lease_until = ?, attempts = attempts + 1,"
                " started_at = ? WHERE alert_id = (SELECT id FROM alerts WHERE channel = ? AND ts = ?) "
                "AND status IN ('queued', 'running') AND lease_until < ? AND attempts < ? RETURNING id",
                (owner, now + lease_s, now, channel, ts, now, MAX_ATTEMPTS))
            if row is None:
                return None
            claims = await self._claims(tx, [int(row[0])])
        return claims[0] if claims else None

    async def claim_expired(self, *, owner: str, lease_s: float, limit: int = 50) -> list[Claim]:
        """Take over triages whose lease expired (a dead process) or was released (a graceful shutdown). Those
        stopped MAX_ATTEMPTS times are marked failed instead and come back with `given_up` set, once, to the one
        caller whose update failed them: its thread must say so."""
        now = self.clock()
        lock = self.backend.dialect.skip_locked
        async with self.backend.tx() as tx:
            gone = await tx.fetchall(
                "UPDATE triages SET status = 'failed', lease_owner = NULL, lease_until = 0, error = ?, finished_at = ?"
                " WHERE status IN ('queued', 'running') AND lease_until < ? AND attempts >= ? RETURNING id",
                (f"gave up after {MAX_ATTEMPTS} attempts: each holder stopped before finishing", now, now,
                 MAX_ATTEMPTS))
            given_up = [replace(c, given_up=True) for c in await self._claims(tx, [int(r[0]) for r in gone])]
            rows = await tx.fetchall(
                "UPDATE triages SET status = 'running', lease_owner = ?, lease_until = ?, "
                "attempts = attempts + 1, started_at = ? WHERE id IN (SELECT id FROM triages WHERE status IN "
                f"('queued', 'running') AND lease_until < ? ORDER BY id LIMIT ? {lock}) "
                "AND status IN ('queued', 'running') AND lease_until < ? RETURNING id",
                (owner, now + lease_s, now, now, limit, now))
            return given_up + await self._claims(tx, [int(r[0]) for r in rows])

    async def _claims(self, tx: Any, ids: Sequence[int]) -> list[Claim]:
        if not ids:
            return []
        marks = ", ".join("?" for _ in ids)
        rows = await tx.fetchall(
            "SELECT t.id, a.channel, a.ts, a.alert_json, t.reply_ts, t.attempts FROM triages t "
            f"JOIN alerts a ON a.id = t.alert_id WHERE t.id IN ({marks}) ORDER BY t.id", tuple(ids))
        return [Claim(int(r[0]), r[1], r[2], json.loads(r[3]), r[4], int(r[5])) for r in rows]

    async def renew(self, claim: Claim, *, owner: str, lease_s: float) -> bool:
        """Extend our lease; False when we no longer hold it (another process took the triage over)."""
        async with self.backend.tx() as tx:
            n = await tx.execute("UPDATE triages SET lease_until = ? WHERE id = ? AND lease_owner = ? "
                                 "AND status = 'running'", (self.clock() + lease_s, claim.triage_id, owner))
        return n == 1

    async def set_reply(self, claim: Claim, channel: str, reply_ts: str) -> None:
        """The thread reply (placeholder, then report) a resumed triage must update instead of re-posting."""
        async with self.backend.tx() as tx:
            await tx.execute("UPDATE triages SET reply_channel = ?, reply_ts = ? WHERE id = ?",
                             (channel, reply_ts, claim.triage_id))

    async def finish(self, claim: Claim, report: TriageReport | None, *, error: str | None = None) -> None:
        """Done (a report) or failed (no report: the thread says why); the lease ends."""
        async with self.backend.tx() as tx:
            await _finish_in(tx, claim.triage_id, report, error, self.clock())

    async def release(self, claim: Claim, *, owner: str) -> None:
        """Give the triage back (graceful shutdown): the next process to look takes it over at once."""
        async with self.backend.tx() as tx:
            await tx.execute("UPDATE triages SET status = 'queued', lease_owner = NULL, lease_until = 0 "
                             "WHERE id = ? AND lease_owner = ? AND status = 'running'", (claim.triage_id, owner))

    async def known_alerts(self, channel: str, stamps: Sequence[str]) -> set[str]:
        """Which of these message ts in `channel` were claimed before."""
        out: set[str] = set()
        for i in range(0, len(stamps), 500):
            chunk = list(stamps[i:i + 500])
            marks = ", ".join("?" for _ in chunk)
            async with self.backend.tx() as tx:
                rows = await tx.fetchall(f"SELECT ts FROM alerts WHERE channel = ? AND ts IN ({marks})",
                                         (channel, *chunk))
            out.update(r[0] for r in rows)
        return out

    async def record_answered(self, channel: str, ts: str, alert: dict[str, Any], reply_ts: str,
                              report: TriageReport | None = None, *, error: str | None = None,
                              team: str | None = None, at: float | None = None,
                              note: str = "answered before the store knew it") -> bool:
        """An alert already answered in its thread without the store (found while catching up, or answered while
        the store was unreachable, `at` that time): remember it, with its report or the error it failed with,
        in one transaction, and triage nothing. False when the store knew the alert already (another replica
        claimed it): nothing is changed then."""
        when = self.clock() if at is None else at
        async with self.backend.tx() as tx:
            row = await tx.fetchone(
                "INSERT INTO alerts (channel, ts, job, run_id, source, team, alert_json, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (channel, ts) DO NOTHING RETURNING id",
                (channel, ts, alert.get("job"), alert.get("run_id"), alert.get("source") or "slack", team,
                 json.dumps(alert, ensure_ascii=False), when))
            if row is None:
                return False
            tid = await tx.fetchone("INSERT INTO triages (alert_id, status, reply_channel, reply_ts, created_at, "
                                    "finished_at, error) VALUES (?, 'done', ?, ?, ?, ?, ?) RETURNING id",
                                    (row[0], channel, reply_ts, when, when, note))
            assert tid is not None
            if report is not None or error is not None:
                await _finish_in(tx, int(tid[0]), report, error, when)
        return True

    async def record_report(self, channel: str, reply_ts: str, alert: dict[str, Any], report: TriageReport,
                            team: str | None = None) -> None:
        """A triage asked for on demand (`/triage`), posted as `reply_ts`: history and feedback find it."""
        now = self.clock()
        async with self.backend.tx() as tx:
            row = await tx.fetchone(
                "INSERT INTO alerts (channel, ts, job, run_id, source, team, alert_json, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (channel, ts) DO NOTHING RETURNING id",
                (channel, reply_ts, alert.get("job"), alert.get("run_id"), alert.get("source") or "command", team,
                 json.dumps(alert, ensure_ascii=False), now))
            if row is None:
                return
            tid = await tx.fetchone("INSERT INTO triages (alert_id, status, reply_channel, reply_ts, attempts, "
                                    "created_at, started_at) VALUES (?, 'running', ?, ?, 1, ?, ?) RETURNING id",
                                    (row[0], channel, reply_ts, now, now))
            assert tid is not None
            await _finish_in(tx, int(tid[0]), report, None, self.clock())

    # ------------------------------------------------------------------ escalations

    async def claim_escalation(self, channel: str, message_ts: str, team_key: str, *, user: str, owner: str,
                               lease_s: float = 60.0) -> bool:
        """True for the one click (across replicas) that should post this escalation; a claim whose holder
        died without posting expires after `lease_s`."""
        now = self.clock()
        async with self.backend.tx() as tx:
            row = await tx.fetchone(
                "INSERT INTO escalations (channel, message_ts, team_key, triage_id, user_id, status, lease_owner, "
                "lease_until, created_at) VALUES (?, ?, ?, (SELECT id FROM triages WHERE reply_channel = ? AND "
                "reply_ts = ? LIMIT 1), ?, 'claimed', ?, ?, ?) ON CONFLICT (channel, message_ts, team_key) DO "
                "UPDATE SET user_id = excluded.user_id, lease_owner = excluded.lease_owner, lease_until = "
                "excluded.lease_until WHERE escalations.status = 'claimed' AND escalations.lease_until < ? "
                "RETURNING id",
                (channel, message_ts, team_key, channel, message_ts, user, owner, now + lease_s, now, now))
        return row is not None

    async def escalation_posted(self, channel: str, message_ts: str, team_key: str) -> None:
        async with self.backend.tx() as tx:
            await tx.execute("UPDATE escalations SET status = 'posted', lease_owner = NULL, posted_at = ? "
                             "WHERE channel = ? AND message_ts = ? AND team_key = ?",
                             (self.clock(), channel, message_ts, team_key))

    async def escalation_failed(self, channel: str, message_ts: str, team_key: str) -> None:
        """The post failed: forget the claim so the next click tries again."""
        async with self.backend.tx() as tx:
            await tx.execute("DELETE FROM escalations WHERE channel = ? AND message_ts = ? AND team_key = ? "
                             "AND status = 'claimed'", (channel, message_ts, team_key))

    # ------------------------------------------------------------------ feedback

    async def record_feedback(self, channel: str, message_ts: str, verdict: str, *, user: str,
                              job: str | None = None, run_id: str | None = None, category: str | None = None,
                              team: str | None = None) -> int | None:
        """The first click of `verdict` on a report: its row id; None for a repeat (any replica)."""
        async with self.backend.tx() as tx:
            t = await tx.fetchone("SELECT id, fingerprint FROM triages WHERE reply_channel = ? AND reply_ts = ? "
                                  "ORDER BY id LIMIT 1", (channel, message_ts))
            row = await tx.fetchone(
                "INSERT INTO feedback (channel, message_ts, verdict, triage_id, user_id, job, run_id, team, "
                "category, fingerprint, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (channel, message_ts, verdict) DO NOTHING RETURNING id",
                (channel, message_ts, verdict, t[0] if t else None, user, job, run_id, team, category,
                 t[1] if t else None, self.clock()))
            if row is not None and t is not None:
                # a verdict ends the incident: the next alert of this failure is a new occurrence, triaged with
                # what the team just said (a correction, a resolution)
                await tx.execute("UPDATE incidents SET status = 'closed', closed_at = ? WHERE status = 'open' AND "
                                 "id = (SELECT incident_id FROM triages WHERE id = ?)", (self.clock(), t[0]))
        return int(row[0]) if row else None

    async def feedback_on(self, channel: str, message_ts: str) -> list[dict[str, Any]]:
        """Every verdict recorded on one report message, oldest first."""
        async with self.backend.tx() as tx:
            rows = await tx.fetchall(
                "SELECT id, verdict, user_id, job, run_id, team, category, fingerprint, corrected_category, "
                "corrected_cause, corrected_by, created_at, triage_id FROM feedback WHERE channel = ? AND "
                "message_ts = ? ORDER BY created_at, id", (channel, message_ts))
        keys = ("id", "verdict", "user", "job", "run_id", "team", "category", "fingerprint", "corrected_category",
                "corrected_cause", "corrected_by", "at", "triage_id")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    async def correct(self, feedback_id: int, *, category: str, cause: str | None, user: str) -> bool:
        """The corrected category and cause of a "Wrong diagnosis" (from its modal)."""
        async with self.backend.tx() as tx:
            n = await tx.execute("UPDATE feedback SET corrected_category = ?, corrected_cause = ?, corrected_by = ?,"
                                 " corrected_at = ? WHERE id = ?", (category, cause, user, self.clock(), feedback_id))
        return n == 1

    # ------------------------------------------------------------------ pacing

    async def reserve_post(self, channel: str, interval_s: float) -> float:
        """Reserve `channel`'s next post slot, shared by every process on this database; returns how many
        seconds to wait for it (0 when it is now)."""
        now = self.clock()
        greatest = self.backend.dialect.greatest
        async with self.backend.tx() as tx:
            row = await tx.fetchone(
                "INSERT INTO channel_pace (channel, next_at) VALUES (?, ?) ON CONFLICT (channel) DO UPDATE SET "
                f"next_at = {greatest}(excluded.next_at, channel_pace.next_at + ?) RETURNING next_at",
                (channel, now + interval_s, interval_s))
        assert row is not None
        return max(0.0, float(row[0]) - interval_s - now)

    # ------------------------------------------------------------------ history and retention

    async def history(self, *, job: str | None = None, since: float | None = None,
                      limit: int = 200) -> list[HistoryRow]:
        """Past triages, newest first, with their feedback."""
        where: list[str] = ["1 = 1"]
        params: list[object] = []  # job names and epoch seconds
        if job:
            where.append("a.job = ?")
            params.append(job)
        if since is not None:
            where.append("a.received_at >= ?")
            params.append(since)
        async with self.backend.tx() as tx:
            rows = await tx.fetchall(
                "SELECT t.id, a.received_at, a.channel, a.ts, a.job, a.run_id, t.status, t.category, t.confidence,"
                " t.root_cause, t.provider, t.duration_ms, t.fingerprint, t.incident_id, t.report_json FROM triages t "
                "JOIN alerts a ON "
                f"a.id = t.alert_id WHERE {' AND '.join(where)} ORDER BY a.received_at DESC, t.id DESC LIMIT ?",
                (*params, limit))
            out = [_history_row(r) for r in rows]
            if out:
                marks = ", ".join("?" for _ in out)
                fb = await tx.fetchall(
                    "SELECT triage_id, verdict, user_id, created_at, corrected_category, corrected_cause, note FROM "
                    f"feedback WHERE triage_id IN ({marks}) ORDER BY created_at", tuple(r.triage_id for r in out))
                by_id = {r.triage_id: r for r in out}
                for f in fb:
                    by_id[int(f[0])].feedback.append(Verdict(f[1], f[2], float(f[3]), f[4], f[5], f[6]))
        return out

    async def cleanup(self, retention_days: float) -> int:
        """Delete what is older than the retention window (triages go with their alert); returns rows deleted."""
        cutoff = self.clock() - retention_days * 86400
        total = 0
        async with self.backend.tx() as tx:
            total += await tx.execute("DELETE FROM feedback WHERE created_at < ?", (cutoff,))
            total += await tx.execute("DELETE FROM escalations WHERE created_at < ?", (cutoff,))
            total += await tx.execute("DELETE FROM alerts WHERE received_at < ? AND id NOT IN (SELECT alert_id "
                                      "FROM triages WHERE status IN ('queued', 'running'))", (cutoff,))
            total += await tx.execute("DELETE FROM incidents WHERE last_seen_at < ?", (cutoff,))
        return total


def _learned(report_json: str | None) -> str | None:
    if not report_json:
        return None
    try:
        value = json.loads(report_json).get("learned_from")
    except ValueError:
        return None
    return str(value) if value else None


def _history_row(r: Row) -> HistoryRow:
    """A row of `history`'s SELECT (feedback is added after)."""
    return HistoryRow(int(r[0]), float(r[1]), r[2], r[3], r[4], r[5], r[6], r[7],
                      float(r[8]) if r[8] is not None else None, r[9], r[10],
                      float(r[11]) if r[11] is not None else None, r[12],
                      incident_id=int(r[13]) if r[13] is not None else None, learned_from=_learned(r[14]))
