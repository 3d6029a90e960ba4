"""Who gets a problem of each category: `[escalation.<category>]`, a job's override, or a sane default."""

from __future__ import annotations

from bot.jobs import Job, resolve_job
from bot.report import CATEGORIES, Escalation, TriageReport
from bot.topology import Topology

DEFAULT_TEAMS = {
    "data": "Data Engineering",
    "infra": "Platform / Infra",
    "code": "Job owners",
    "unknown": "Data on-call",
}


def escalation_for(topo: Topology, category: str, job: Job | None = None) -> Escalation:
    spec = topo.escalation_for(category, job.spec if job else None)
    owners = list(job.owners) if job else []
    if spec:
        return Escalation(team=spec.team, channel=spec.channel, mention=spec.mention, owners=owners)
    team = job.team if (job and job.team and category in ("code", "unknown")) else DEFAULT_TEAMS[category]
    return Escalation(team=team, owners=owners)


def report_teams(topo: Topology, report: TriageReport) -> list[tuple[str, str]]:
    """(category, team) for a report's escalate buttons: the classified category first, one per team."""
    job = resolve_job(topo, report.job) if report.job else None
    out: list[tuple[str, str]] = []
    for cat in (report.category, *[c for c in CATEGORIES if c != report.category]):
        team = report.escalation.team if cat == report.category else escalation_for(topo, cat, job).team
        if team not in (t for _, t in out):
            out.append((cat, team))
    return out
