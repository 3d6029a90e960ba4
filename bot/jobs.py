"""The job registry: `[jobs."*"]` defaults merged with `[jobs.<name>]`, variables expanded."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from bot.topology import JobSpec, Topology


@dataclass(frozen=True)
class Job:
    name: str
    known: bool                       # has its own [jobs.<name>] entry
    logs: str | None = None
    team: str | None = None
    description: str | None = None
    owners: list[str] = field(default_factory=list)
    upstream: list[str] = field(default_factory=list)
    repo: str | None = None
    code: list[str] = field(default_factory=list)
    config: str | None = None
    spec: JobSpec | None = None


def resolve_job(topo: Topology, name: str) -> Job:
    """Merge defaults and the job's own entry; expand `{vars}` and `{job}` in paths."""
    base = topo.jobs.get("*", JobSpec())
    own = topo.jobs.get(name)
    merged = base.model_copy(update=own.model_dump(exclude_none=True)) if own else base

    def ex(v: str | None) -> str | None:
        return topo.expand(v, job=name) if v else None

    return Job(
        name=name,
        known=own is not None,
        logs=ex(merged.logs),
        team=merged.team,
        description=merged.description,
        owners=list(merged.owners or []),
        upstream=[topo.expand(u, job=name) for u in merged.upstream or []],
        repo=ex(merged.repo),
        code=list(merged.code or []),
        config=ex(merged.config),
        spec=merged,
    )


def known_jobs(topo: Topology) -> list[str]:
    return sorted(j for j in topo.jobs if j != "*")


def closest_jobs(topo: Topology, name: str, n: int = 3) -> list[str]:
    return difflib.get_close_matches(name, known_jobs(topo), n=n, cutoff=0.4)
