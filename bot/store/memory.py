"""Incident memory in the store: incidents (alerts of one failure grouped), and what the team said of a fingerprint.

An incident is one failure seen by several alerts: the first alert's triage (the leader) runs and posts the full
report; later alerts with the same fingerprint — or, for infra failures, naming the same host, warehouse or
bucket — join it while it is open (its last alert is younger than the window). Joining is one transaction:
on Postgres under an advisory lock per fingerprint/infra key, with a unique index that allows one open incident
per fingerprint and team, so replicas agree on the leader. Memory is scoped by team: one team's verdicts are
never shown to or learned by another.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.contract import Correction, Memory, Resolution, TriageReport
from bot.store.backend import Backend, Tx


@dataclass(frozen=True)
class IncidentJoin:
    incident_id: int
    leader: bool       # this triage runs the full triage and posts the report the others point at
    alerts: int
    jobs: int


@dataclass(frozen=True)
class Incident:
    id: int
    fingerprint: str
    category: str
    root_cause: str | None
    report_channel: str | None
    report_ts: str | None
    alerts: int
    status: str
    leader_triage_id: int | None
    leader_status: str | None     # the leader triage's status: running | queued | done | failed
    report: TriageReport | None   # the leader's report, once done


def _lock_key(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:7], "big")


def _day(epoch: float, now: float) -> str:
    """'today', 'yesterday', '3 days ago', 'last week', else 'on 11-28'."""
    days = int((now - epoch) // 86400)
    if days <= 0:
        return "today"
    if days == 1:
        return "yesterday"
    if days < 7:
        return f"{days} days ago"
    if days < 14:
        return "last week"
    return "on " + dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%m-%d")


def _short(text: str | None, n: int = 160) -> str:
    one = " ".join((text or "").split())
    return one if len(one) <= n else one[: n - 1] + "…"


class MemoryMixin:
    """Store methods for incidents and fingerprint memory (mixed into `Store`)."""

    backend: Backend
    clock: Callable[[], float]

    async def join_incident(self, triage_id: int, fingerprint: str, *, infra_key: str | None, category: str,
                            team: str | None, channel: str, window_s: float) -> IncidentJoin:
        """Put the triage into the open incident of its failure, or open one with it as the leader. Idempotent:
        a resumed triage gets the incident it joined before (without counting twice)."""
        now, team_ = self.clock(), team or ""
        async with self.backend.tx() as tx:
            if self.backend.dialect.name == "postgres":
                await tx.execute("SELECT pg_advisory_xact_lock(?)", (_lock_key(infra_key or fingerprint),))
            had = await tx.fetchone("SELECT incident_id FROM triages WHERE id = ?", (triage_id,))
            if had and had[0] is not None:
                inc = int(had[0])
                row = await tx.fetchone("SELECT leader_triage_id, alert_count FROM incidents WHERE id = ?", (inc,))
                jobs = await self._jobs(tx, inc)
                return IncidentJoin(inc, bool(row and row[0] == triage_id), int(row[1]) if row else 1, len(jobs))
            await tx.execute(
                "UPDATE incidents SET status = 'closed', closed_at = ? WHERE status = 'open' AND team = ? AND "
                "last_seen_at < ? AND (fingerprint = ? OR infra_key = ?)",
                (now, team_, now - window_s, fingerprint, infra_key))
            found = await tx.fetchone(
                "SELECT id FROM incidents WHERE status = 'open' AND team = ? AND (fingerprint = ? OR "
                "(infra_key IS NOT NULL AND infra_key = ?)) ORDER BY opened_at, id LIMIT 1",
                (team_, fingerprint, infra_key))
            leader = False
            if found is None:
                found = await tx.fetchone(
                    "INSERT INTO incidents (fingerprint, infra_key, category, team, channel, alert_count, status, "
                    "opened_at, last_seen_at, leader_triage_id) VALUES (?, ?, ?, ?, ?, 1, 'open', ?, ?, ?) "
                    "ON CONFLICT (fingerprint, team) WHERE status = 'open' DO NOTHING RETURNING id",
                    (fingerprint, infra_key, category, team_, channel, now, now, triage_id))
                leader = found is not None
                if found is None:  # opened meanwhile by another replica (SQLite: another process on the file)
                    found = await tx.fetchone("SELECT id FROM incidents WHERE status = 'open' AND team = ? AND "
                                              "fingerprint = ?", (team_, fingerprint))
            assert found is not None
            inc = int(found[0])
            if not leader:
                await tx.execute("UPDATE incidents SET alert_count = alert_count + 1, last_seen_at = ? WHERE id = ?",
                                 (now, inc))
            await tx.execute("UPDATE triages SET incident_id = ?, fingerprint = ? WHERE id = ?",
                             (inc, fingerprint, triage_id))
            count = await tx.fetchone("SELECT alert_count FROM incidents WHERE id = ?", (inc,))
            jobs = await self._jobs(tx, inc)
        return IncidentJoin(inc, leader, int(count[0]) if count else 1, len(jobs))

    @staticmethod
    async def _jobs(tx: Tx, incident_id: int) -> list[str]:
        rows = await tx.fetchall(
            "SELECT a.job, MIN(a.received_at) FROM triages t JOIN alerts a ON a.id = t.alert_id WHERE "
            "t.incident_id = ? AND a.job IS NOT NULL GROUP BY a.job ORDER BY MIN(a.received_at), a.job",
            (incident_id,))
        return [r[0] for r in rows]

    async def incident_jobs(self, incident_id: int) -> list[str]:
        """The jobs of an incident, in the order their first alert arrived."""
        async with self.backend.tx() as tx:
            return await self._jobs(tx, incident_id)

    async def incident_reported(self, incident_id: int, channel: str, report_ts: str, report: TriageReport) -> None:
        """The leader's report is posted: later alerts point at it."""
        async with self.backend.tx() as tx:
            await tx.execute("UPDATE incidents SET report_channel = ?, report_ts = ?, root_cause = ?, category = ? "
                             "WHERE id = ?", (channel, report_ts, report.root_cause, report.category, incident_id))

    async def lead_incident(self, incident_id: int, triage_id: int) -> bool:
        """Take over as the leader of an incident whose leader failed without a report."""
        async with self.backend.tx() as tx:
            n = await tx.execute(
                "UPDATE incidents SET leader_triage_id = ? WHERE id = ? AND report_ts IS NULL AND "
                "leader_triage_id IN (SELECT id FROM triages WHERE status = 'failed')", (triage_id, incident_id))
        return n == 1

    async def incident(self, incident_id: int) -> Incident | None:
        async with self.backend.tx() as tx:
            r = await tx.fetchone(
                "SELECT i.id, i.fingerprint, i.category, i.root_cause, i.report_channel, i.report_ts, i.alert_count, "
                "i.status, i.leader_triage_id, t.status, t.report_json FROM incidents i LEFT JOIN triages t ON "
                "t.id = i.leader_triage_id WHERE i.id = ?", (incident_id,))
        if r is None:
            return None
        report = TriageReport.model_validate_json(r[10]) if r[10] else None
        return Incident(int(r[0]), r[1], r[2], r[3], r[4], r[5], int(r[6]), r[7],
                        int(r[8]) if r[8] is not None else None, r[9], report)

    # ------------------------------------------------------------------ what the team said of a fingerprint

    async def note_resolution(self, feedback_id: int, note: str) -> bool:
        """The note of a "Resolved" click (how it was fixed), offered as the action next time."""
        async with self.backend.tx() as tx:
            n = await tx.execute("UPDATE feedback SET note = ? WHERE id = ? AND verdict = 'resolved'",
                                 (note, feedback_id))
        return n == 1

    async def recall(self, fingerprint: str, team: str | None, *, days: float, learn: bool = True,
                     exclude_incident: int | None = None) -> Memory:
        """What this team's history says of a fingerprint: how often it was seen, how it was last resolved,
        whether it was marked wrong (and, with `learn`, the correction to apply)."""
        now, team_ = self.clock(), team or ""
        since = now - days * 86400
        async with self.backend.tx() as tx:
            seen = await tx.fetchone(
                "SELECT COUNT(DISTINCT COALESCE('i' || t.incident_id, 't' || t.id)) FROM triages t JOIN alerts a "
                "ON a.id = t.alert_id WHERE t.fingerprint = ? AND t.status = 'done' AND COALESCE(a.team, '') = ? "
                "AND t.finished_at >= ? AND (t.incident_id IS NULL OR t.incident_id <> ?)",
                (fingerprint, team_, since, exclude_incident if exclude_incident is not None else -1))
            resolved = await tx.fetchone(
                "SELECT f.user_id, f.created_at, f.note, t.root_cause FROM feedback f LEFT JOIN triages t ON "
                "t.id = f.triage_id WHERE f.fingerprint = ? AND f.verdict = 'resolved' AND COALESCE(f.team, '') = ?"
                " AND f.created_at >= ? ORDER BY f.created_at DESC, f.id DESC LIMIT 1", (fingerprint, team_, since))
            wrong = await tx.fetchone(
                "SELECT f.user_id, f.created_at, f.category, f.corrected_category, f.corrected_cause, "
                "f.corrected_by, f.corrected_at FROM feedback f WHERE f.fingerprint = ? AND f.verdict = "
                "'wrong_diagnosis' AND COALESCE(f.team, '') = ? AND f.created_at >= ? "
                "ORDER BY f.created_at DESC, f.id DESC LIMIT 1", (fingerprint, team_, since))
        lines: list[str] = []
        n = int(seen[0]) if seen else 0
        head = f"seen {n}× in {days:g} days" if n else ""
        resolution = None
        if resolved is not None:
            user, at, note, cause = resolved[0], float(resolved[1]), resolved[2], resolved[3]
            how = _short(note or cause)
            head += ("; " if head else "") + f"last resolved by @{user} {_day(at, now)}" + (f": {how}" if how else "")
            if note:
                resolution = Resolution(note=_short(note, 600), user=user, at=at)
        if head:
            lines.append(head)
        correction = None
        if wrong is not None:
            user, at, said, cat, cause, by, when = wrong
            who = by or user
            if cat:
                not_ = f", not {said}" if said and said != cat else ""
                why = f" ({_short(cause)})" if cause else ""
                lines.append(f"{_day(float(at), now)} this was marked wrong by @{who}: the team said {cat}{not_}{why}")
                correction = Correction(category=cat, cause=_short(cause, 600) if cause else None, user=who,
                                        at=float(when or at))
            else:
                lines.append(f"{_day(float(at), now)} this was marked wrong by @{who} (no correction given)")
        return Memory(lines=lines, correction=correction if learn else None, resolution=resolution)


    async def corrections(self, since: float | None = None) -> list[dict[str, Any]]:
        """Every "Wrong diagnosis" with a corrected category (oldest first), with its triage's report."""
        async with self.backend.tx() as tx:
            rows = await tx.fetchall(
                "SELECT f.id, f.user_id, f.corrected_by, f.created_at, f.category, f.corrected_category, "
                "f.corrected_cause, f.job, f.run_id, f.team, f.fingerprint, t.report_json, a.source, a.alert_json "
                "FROM feedback f LEFT JOIN triages t ON t.id = f.triage_id LEFT JOIN alerts a ON a.id = t.alert_id "
                "WHERE f.verdict = 'wrong_diagnosis' AND f.corrected_category IS NOT NULL AND f.created_at >= ? "
                "ORDER BY f.created_at, f.id", (since or 0.0,))
        keys = ("id", "user", "corrected_by", "at", "category", "corrected_category", "corrected_cause", "job",
                "run_id", "team", "fingerprint", "report_json", "source", "alert_json")
        return [dict(zip(keys, r, strict=True)) for r in rows]
