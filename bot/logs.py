"""Finding the failed run's log through the registry."""

from __future__ import annotations

from pathlib import Path

from bot.errors import AccessDenied
from bot.sandbox import Sandbox


async def newest_log(sandbox: Sandbox, logs_dir: str, run_id: str | None = None) -> Path | None:
    """The newest `*.log` in the job's log directory, or the newest whose name contains the run id."""
    try:
        infos = await sandbox.list_dir(logs_dir, "*.log")
    except (AccessDenied, FileNotFoundError, NotADirectoryError):
        return None
    files = [i for i in infos if not i.is_dir]
    if run_id:
        safe = _slug(run_id)
        matching = [i for i in files if run_id in Path(i.path).name or safe in Path(i.path).name]
        files = matching or []
    if not files:
        return None
    return sandbox.check(max(files, key=lambda i: (i.mtime, i.path)).path)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)
