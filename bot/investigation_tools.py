"""The evidence functions (bot/evidence/) as model-callable ToolSpecs for an investigating stage, text out.

Every result passes through the sandbox's redactor before a model sees it (file headers, commit subjects
and config lines can carry secrets).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import Field

from bot.evidence.deploys import DEFAULT_WINDOW_H, recent_deploys
from bot.evidence.job_config import job_config
from bot.evidence.previous_run import previous_run
from bot.evidence.upstream import upstream_status
from bot.toolbox import NoArgs, ToolArgs, Toolbox, ToolSpec, Within

_NO_JOB = "no registered job for this run, so there is nothing to check; investigate from the log"


class UpstreamArgs(ToolArgs):
    run_date: str | None = Field(None, description="YYYY-MM-DD; default: from the run id, alert or log")


class DeploysArgs(ToolArgs):
    hours: Annotated[float, Within(1, 24 * 30)] = Field(DEFAULT_WINDOW_H, description="window, default 72")


def investigation_tools(tb: Toolbox) -> dict[str, ToolSpec]:
    job = tb.job
    known = job if job is not None and job.known else None   # the checks need a registry entry

    def out(text: str) -> str:
        return tb.sandbox.redactor.redact(text)

    async def upstream(run_date: str | None = None) -> str:
        if known is None or not known.upstream:
            return _NO_JOB if known is None else f"[jobs.{known.name}] lists no upstream paths"
        f = await tb.context.facts(tb.sandbox)
        d, src = f.run_date, f.run_date_source
        if run_date:
            try:
                d, src = date.fromisoformat(run_date), "the caller"
            except ValueError:
                return f"run_date {run_date!r} is not YYYY-MM-DD"
        return out((await upstream_status(tb.sandbox, known.upstream, d, src, f.failed_at)).text())

    async def deploys(hours: float = DEFAULT_WINDOW_H) -> str:
        if known is None or not known.repo:
            return _NO_JOB if known is None else f"[jobs.{known.name}] has no repo"
        f = await tb.context.facts(tb.sandbox)
        if f.failed_at is None:
            return "the failure time is unknown (no timestamps in the log and no log file)"
        hours = min(max(float(hours), 1.0), 24.0 * 30)
        return out((await recent_deploys(tb.sandbox, known.repo, known.code, f.failed_at, hours)).text())

    async def config() -> str:
        if known is None:
            return _NO_JOB
        return out((await job_config(tb.sandbox, known)).text())

    async def previous() -> str:
        if tb.log_path is None:
            return "no log for this run"
        return out((await previous_run(tb.sandbox, str(tb.log_path), job.logs if job else None)).text())

    specs = [
        ToolSpec("upstream_status",
                 "For each upstream path of the job: whether the partition for the run's date exists, the "
                 "newest partition and its age, file counts and zero-byte files, and the newest file's header "
                 "or Parquet schema compared with the previous partition's (added/removed/renamed/retyped).",
                 UpstreamArgs, upstream),
        ToolSpec("recent_deploys",
                 "Commits in the job's repository touching its code paths in the hours before the failure: "
                 "sha, author, time, subject and files changed.", DeploysArgs, deploys),
        ToolSpec("job_config", "The job's config file (secrets redacted).", NoArgs, config),
        ToolSpec("previous_run",
                 "The job's previous log: whether it failed, and the first error line of this run that the "
                 "previous run did not have.", NoArgs, previous),
    ]
    return {s.name: s for s in specs}
