"""`job_config`: the job's config file, redacted, read through the stage's Sandbox."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from bot.errors import AccessDenied
from bot.jobs import Job
from bot.sandbox import Line, Sandbox

MAX_LINES = 300


@dataclass
class JobConfig:
    path: str | None
    lines: list[Line] = field(default_factory=list)   # redacted
    truncated: bool = False
    error: str | None = None

    def mentions(self, word: str) -> list[Line]:
        rx = re.compile(rf"\b{re.escape(word)}\b", re.IGNORECASE)
        return [ln for ln in self.lines if rx.search(ln.text)]

    def text(self) -> str:
        if self.error:
            return f"{self.path or '(no config)'}: {self.error}"
        body = "\n".join(f"{ln.number}: {ln.text}" for ln in self.lines)
        return f"{self.path}:\n{body}" + ("\n… (truncated)" if self.truncated else "")


def config_path(job: Job) -> str | None:
    """The config file; a relative path is relative to the job's repo."""
    if not job.config:
        return None
    p = Path(job.config)
    if not p.is_absolute():
        if not job.repo:
            return None
        p = Path(job.repo) / p
    return str(p)


async def job_config(sandbox: Sandbox, job: Job) -> JobConfig:
    path = config_path(job)
    if path is None:
        why = "no config registered" if not job.config else "config is relative but the job has no repo"
        return JobConfig(None, error=f"{why}; set [jobs.{job.name}] config")
    try:
        ex = await sandbox.read_lines(path, start=1, max_lines=MAX_LINES + 1)
    except AccessDenied as e:
        return JobConfig(path, error=f"not readable: {e.reason}")
    except OSError as e:
        return JobConfig(path, error=f"not readable: {e.strerror or e}")
    return JobConfig(path, ex.lines[:MAX_LINES], truncated=len(ex.lines) > MAX_LINES)
