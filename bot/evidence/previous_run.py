"""`previous_run`: the job's newest earlier log, and what is new in the failed run's error region."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from bot.errors import AccessDenied
from bot.evidence.when import iso
from bot.log_files import logs_under
from bot.sandbox import Line, Sandbox

TAIL_BYTES = 64_000
_ERROR = re.compile(r"\b(ERROR|FATAL|CRITICAL|Traceback|Exception|Error|FAILED|Failed|failed|Killed|"
                    r"panic|refused|denied|timed? ?out)\b|^\s+File \"|^\w+(\.\w+)*(Error|Exception):")
_BENIGN = re.compile(r"\b(ERROR|FAILED|failed|errors?|failures?)\s*[=:]\s*0\b|"
                     r"(?<![=:])\b0 (errors?|failed|failures?)\b", re.IGNORECASE)
_ROUTINE = re.compile(r"\b(INFO|DEBUG|TRACE)\b")
# Parts of a line that differ between runs without meaning anything: times, dates, ids, numbers.
_NOISE = [
    (re.compile(r"\d{2,4}[-/]\d{2}[-/]\d{2}[ ,T]*(\d{2}:\d{2}:\d{2}(\.\d+)?)?( ?UTC|Z|[+-]\d{2}:?\d{2})?"), "<t>"),
    (re.compile(r"\b\d{2}:\d{2}:\d{2}(\.\d+)?\b"), "<t>"),
    (re.compile(r"\b[0-9a-f]{8,}\b|\b[0-9a-f]{8}-[0-9a-f-]{27}\b", re.IGNORECASE), "<id>"),
    (re.compile(r"\d+(\.\d+)?"), "<n>"),
]


@dataclass
class PreviousRun:
    failed_log: str
    previous_log: str | None = None
    previous_mtime: float | None = None
    previous_failed: bool = False
    previous_errors: list[Line] = field(default_factory=list)
    first_new: Line | None = None          # first error line of the failed run not seen in the previous run
    current_failed: bool = False           # the failed run's own log has error lines to compare
    error: str | None = None

    @property
    def same_error(self) -> bool:
        """A recurring failure: both runs have error lines and none of this run's is new. An empty or
        unreadable current log is never "the same" as a failed previous one."""
        return self.current_failed and self.previous_failed and self.first_new is None

    def text(self) -> str:
        if self.error:
            return f"previous run: {self.error}"
        if self.previous_log is None:
            return f"no earlier log next to {self.failed_log}"
        state = "failed" if self.previous_failed else "had no error lines (it likely succeeded)"
        out = [f"previous run {self.previous_log} ({iso(self.previous_mtime)}) {state}"]
        if self.first_new:
            out.append(f"first error line new in this run: {self.failed_log}:{self.first_new.number}: "
                       f"{self.first_new.text.strip()}")
        elif self.previous_failed:
            out.append("the failed run's error lines all appeared in the previous run too (a recurring failure)")
        for ln in self.previous_errors[:5]:
            out.append(f"  previous {ln.number}: {ln.text.strip()}")
        return "\n".join(out)


def normalise(text: str) -> str:
    for rx, sub in _NOISE:
        text = rx.sub(sub, text)
    return " ".join(text.split())


def error_lines(lines: list[Line]) -> list[Line]:
    return [ln for ln in lines if _ERROR.search(ln.text) and not _BENIGN.search(ln.text)]


def error_region(lines: list[Line]) -> list[Line]:
    """From the first error line to the end, without routine INFO/DEBUG lines (exception text included)."""
    first = next((k for k, ln in enumerate(lines) if _ERROR.search(ln.text) and not _BENIGN.search(ln.text)), None)
    if first is None:
        return []
    return [ln for ln in lines[first:] if ln.text.strip() and (not _ROUTINE.search(ln.text) or _ERROR.search(ln.text))]


async def previous_run(sandbox: Sandbox, failed_log: str, logs_dir: str | None = None) -> PreviousRun:
    res = PreviousRun(failed_log=failed_log)
    folder = logs_dir or str(Path(failed_log).parent)
    infos = await logs_under(sandbox, folder)   # nested layouts too (Airflow: run_id=…/task_id=…/attempt=N)
    task = next((p for p in Path(failed_log).parts if p.startswith("task_id=")), None)
    if task:  # the same task's earlier runs and attempts, not its neighbours'
        infos = [i for i in infos if task in Path(i.path).parts]
    me = next((i for i in infos if Path(i.path) == Path(failed_log)), None)
    key = (me.mtime, me.path) if me else (float("inf"), failed_log)
    earlier = [i for i in infos if Path(i.path) != Path(failed_log) and (i.mtime, i.path) < key]
    if not earlier:
        return res
    prev = max(earlier, key=lambda i: (i.mtime, i.path))
    res.previous_log, res.previous_mtime = prev.path, prev.mtime
    try:
        new = error_region((await sandbox.tail(failed_log, max_bytes=TAIL_BYTES)).lines)
        old = error_region((await sandbox.tail(prev.path, max_bytes=TAIL_BYTES)).lines)
    except (AccessDenied, OSError) as e:
        res.error = f"cannot read: {getattr(e, 'reason', e)}"
        return res
    res.previous_failed, res.previous_errors, res.current_failed = bool(old), old, bool(new)
    if not new:
        res.error = (f"this run's log {failed_log} has no error lines (empty, or none in its last "
                     f"{TAIL_BYTES // 1000} KB), so it was not compared with the previous run {prev.path}")
        return res
    seen = {normalise(ln.text) for ln in old}
    res.first_new = next((ln for ln in new if normalise(ln.text) not in seen), None)
    return res
