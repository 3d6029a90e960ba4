"""Who gets a problem of each category: `[escalation.<category>]`, a job's override, or a sane default.

`EscalationPolicy` is the one place that answers it for a job. A triage builds one (`TriageContext.escalation`)
and the engine attaches the answer to the report once, after the last stage; stages and models never choose
the team. The Slack buttons and an escalate click ask the same policy.
"""

from __future__ import annotations

from bot.contract import CATEGORIES, Escalation, Recommendation, TriageReport
from bot.jobs import Job, resolve_job
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


class EscalationPolicy:
    """Who acts on each category of failure of one job (or of no registered job)."""

    def __init__(self, topology: Topology, job: Job | None) -> None:
        self.topology, self.job = topology, job

    @classmethod
    def for_job(cls, topology: Topology, name: str | None) -> EscalationPolicy:
        return cls(topology, resolve_job(topology, name) if name else None)

    def for_category(self, category: str) -> Escalation:
        return escalation_for(self.topology, category if category in CATEGORIES else "unknown", self.job)

    def attach(self, rec: Recommendation) -> Recommendation:
        """The recommendation with the escalation of its category."""
        return rec.model_copy(update={"escalation": self.for_category(rec.category)})

    def routes(self) -> dict[str, str]:
        """category → team, as a model is told (it picks the category; the bot fills the team)."""
        return {c: self.for_category(c).team for c in CATEGORIES}

    def buttons(self, report: TriageReport) -> list[tuple[str, str]]:
        """(category, team) for a report's escalate buttons: the report's category first, one per team."""
        out: list[tuple[str, str]] = []
        for cat in (report.category, *[c for c in CATEGORIES if c != report.category]):
            team = report.escalation.team if cat == report.category else self.for_category(cat).team
            if team not in (t for _, t in out):
                out.append((cat, team))
        return out


def report_teams(topo: Topology, report: TriageReport) -> list[tuple[str, str]]:
    """(category, team) for a report's escalate buttons (its job's policy)."""
    return EscalationPolicy.for_job(topo, report.job).buttons(report)
