"""Facts about the failed run every investigation tool needs: its log, when it failed, which date it processed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.errors import AccessDenied
from bot.investigate.when import failure_time, run_date
from bot.sandbox import Excerpt

if TYPE_CHECKING:
    from bot.tools import Toolbox

_COLUMN = [
    re.compile(r"KeyError: \[?['\"]([\w.$]+)['\"]"),
    re.compile(r"(?i)column[s]? ['\"`\[]*([\w.$]+)['\"`\]]* (?:was |were |is |are )?(?:not found|does not exist|"
               r"is missing|missing|cannot be resolved|not in)"),
    re.compile(r"(?i)(?:not found|missing|unknown|no such)[^'\"`\n]{0,20}column[s]?:? ['\"`\[]*([\w.$]+)"),
    re.compile(r"(?i)invalid identifier ['\"]([\w.$]+)['\"]"),
    re.compile(r"(?i)cannot resolve ['\"`]?([\w.$]+)"),
    re.compile(r"(?i)UndefinedColumn.*column \"?([\w.$]+)"),
]


@dataclass
class RunFacts:
    log_path: str | None
    excerpt: Excerpt | None
    failed_at: datetime | None
    failed_at_source: str
    run_date: date | None
    run_date_source: str


async def run_facts(tb: Toolbox, partition: str | None = None) -> RunFacts:
    excerpt = None
    mtime = None
    if tb.log_path is not None:
        try:
            excerpt = await tb.log_excerpt()
            infos = await tb.sandbox.list_dir(str(tb.log_path.parent), tb.log_path.name)
            mtime = next((i.mtime for i in infos if Path(i.path).name == tb.log_path.name), None)
        except (AccessDenied, OSError):
            pass
    failed_at, how = failure_time(excerpt, mtime)
    d, src = run_date(partition=partition, run_id=tb.alert.run_id, alert_text=tb.alert.text, excerpt=excerpt,
                      log_name=tb.log_path.name if tb.log_path else None, failed_at=failed_at)
    return RunFacts(str(tb.log_path) if tb.log_path else None, excerpt, failed_at, how, d, src)


def column_in(*texts: str) -> str | None:
    """The column an error names (KeyError: 'x', column x not found, invalid identifier 'T.X', …)."""
    for rx in _COLUMN:
        for t in texts:
            if m := rx.search(t):
                return m.group(1).split(".")[-1].strip("$")
    return None
