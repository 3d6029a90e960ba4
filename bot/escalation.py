"""Who gets a problem of each category: `[escalation.<category>]`, a job's override, or a sane default."""

from __future__ import annotations

from bot.jobs import Job
from bot.report import Escalation
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
