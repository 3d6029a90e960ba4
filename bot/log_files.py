"""Finding log files through the job registry: the failed run's newest `*.log` (Airflow's nested layout, run ids),
and a job's earlier logs for `previous_run`."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from bot.errors import AccessDenied
from bot.sandbox import FileInfo, Sandbox
from bot.sandbox.reader import preference

MAX_DEPTH = 4        # Airflow: <logs>/dag_id=…/run_id=…/task_id=…/attempt=1.log
FANOUT = 32         # directories descended into per level: the newest (or the run id's) ones
KEEP_FILES = 64     # log files kept per directory: the newest, and the newest whose names hold a run key
_TS = re.compile(r"(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?")


async def newest_log(sandbox: Sandbox, logs_dir: str, run_id: str | None = None, *, task: str | None = None,
                     try_number: int | None = None) -> Path | None:
    """The newest `*.log` under the job's log directory (a few levels deep, as Airflow nests them), or, with
    a run id, the newest whose path mentions it — as written, slugged, or as its timestamp with `-` for `:`.

    The alert's task and try number narrow further when some log matches them (`task_id=load/attempt=2.log`,
    Airflow 1's `load/<date>/2.log`): the newest log of a run is often another task's, or the retry that
    started after the alert. When none matches, they are ignored rather than losing the log."""
    keys = _run_keys(run_id) if run_id else []
    task_keys = [f"task_id={task}", task] if task else []
    files = await logs_under(sandbox, logs_dir, prefer=keys + task_keys)   # run keys first: they rank higher
    if not files:
        return None
    base = str(sandbox.check_dir(logs_dir))   # the sandbox reports resolved paths; listing it just succeeded
    if keys:
        files = [i for i in files if any(k in _below(i.path, base) for k in keys)]
    if task:
        files = _narrow(files, base, lambda parts: f"task_id={task}" in parts or task in parts[:-1])
    if try_number is not None:
        files = _narrow(files, base, lambda parts: parts[-1] in (f"attempt={try_number}.log", f"{try_number}.log"))
    if not files:
        return None
    return sandbox.check(max(files, key=lambda i: (i.mtime, i.path)).path)


def _narrow(files: list[FileInfo], base: str, keep: Callable[[tuple[str, ...]], bool]) -> list[FileInfo]:
    """The files whose path below the job directory passes `keep`, or all of them when none does."""
    hits = [i for i in files if keep(Path(_below(i.path, base)).parts)]
    return hits or files


async def logs_under(sandbox: Sandbox, root: str, prefer: list[str] | None = None) -> list[FileInfo]:
    """`*.log` files up to MAX_DEPTH levels below `root`: per directory the KEEP_FILES newest (and the newest
    whose names hold a `prefer` key), chosen over every entry however many there are. Each level descends
    only into the FANOUT newest directories (those whose names contain a `prefer` key first), so a DAG with
    years of run folders costs a few scans, not thousands. Raises AccessDenied for `root` itself; deeper
    denials are skipped."""
    found: list[FileInfo] = []
    level = [root]
    for depth in range(MAX_DEPTH):
        below: list[FileInfo] = []
        for d in level:
            try:
                infos = await sandbox.newest_entries(d, ".log", max(KEEP_FILES, FANOUT), prefer or [])
            except (FileNotFoundError, NotADirectoryError):
                continue
            except AccessDenied as e:
                if depth == 0 and e.reason != "no such file or directory":  # a missing dir is just no log
                    raise
                continue
            found += [i for i in infos if not i.is_dir and i.path.endswith(".log")]
            below += [i for i in infos if i.is_dir]
        if not below:
            break
        below.sort(key=lambda i: (preference(Path(i.path).name, prefer or []), i.mtime), reverse=True)
        level = [i.path for i in below[:FANOUT]]
    return found


def _below(path: str, base: str) -> str:
    """The part of a log's path below the job directory (the sandbox reports resolved paths), so that a job
    folder named like one of its tasks does not make every log match that task."""
    if path.startswith(base.rstrip("/") + "/"):
        return path[len(base.rstrip("/")) + 1:]
    return "/".join(Path(path).parts[-MAX_DEPTH:])


def _run_keys(run_id: str) -> list[str]:
    keys = [run_id, _slug(run_id)]
    if m := _TS.search(run_id):
        date, hh, mm, ss = m.groups()
        keys += [f"{date}T{hh}-{mm}-{ss or '00'}", f"{date}T{hh}_{mm}_{ss or '00'}"]
    return list(dict.fromkeys(keys))


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)
