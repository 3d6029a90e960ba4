"""Finding the failed run's log through the registry."""

from __future__ import annotations

import re
from pathlib import Path

from bot.errors import AccessDenied
from bot.sandbox import FileInfo, Sandbox

MAX_DEPTH = 4        # Airflow: <logs>/dag_id=…/run_id=…/task_id=…/attempt=1.log
MAX_ENTRIES = 5000   # a bound on how much of a log tree one lookup lists
_TS = re.compile(r"(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?")


async def newest_log(sandbox: Sandbox, logs_dir: str, run_id: str | None = None) -> Path | None:
    """The newest `*.log` under the job's log directory (a few levels deep, as Airflow nests them), or, with
    a run id, the newest whose path mentions it — as written, slugged, or as its timestamp with `-` for `:`."""
    files = await logs_under(sandbox, logs_dir)
    if run_id:
        keys = _run_keys(run_id)
        files = [i for i in files if any(k in _tail(i.path) for k in keys)]
    if not files:
        return None
    return sandbox.check(max(files, key=lambda i: (i.mtime, i.path)).path)


async def logs_under(sandbox: Sandbox, root: str) -> list[FileInfo]:
    """Every `*.log` up to MAX_DEPTH levels below `root` (bounded by MAX_ENTRIES listed entries)."""
    found: list[FileInfo] = []
    level, seen = [root], 0
    for _ in range(MAX_DEPTH):
        below: list[str] = []
        for d in level:
            try:
                infos = await sandbox.list_dir(d)
            except (AccessDenied, FileNotFoundError, NotADirectoryError):
                continue
            seen += len(infos)
            found += [i for i in infos if not i.is_dir and i.path.endswith(".log")]
            below += [i.path for i in infos if i.is_dir]
            if seen > MAX_ENTRIES:
                return found
        if not below:
            break
        level = below
    return found


def _tail(path: str) -> str:
    """The part of a log's path below the job directory (at most MAX_DEPTH components)."""
    return "/".join(Path(path).parts[-MAX_DEPTH:])


def _run_keys(run_id: str) -> list[str]:
    keys = [run_id, _slug(run_id)]
    if m := _TS.search(run_id):
        date, hh, mm, ss = m.groups()
        keys += [f"{date}T{hh}-{mm}-{ss or '00'}", f"{date}T{hh}_{mm}_{ss or '00'}"]
    return list(dict.fromkeys(keys))


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)
