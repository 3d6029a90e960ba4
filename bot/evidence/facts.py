"""Facts about the failed run every investigation tool needs: its log, when it failed, which date it processed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from bot.contract import Alert
from bot.evidence.when import failure_time, run_date
from bot.sandbox import Excerpt

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


def run_facts(log_path: Path | None, excerpt: Excerpt | None, mtime: float | None, alert: Alert,
              partition: str | None = None) -> RunFacts:
    """When the run failed (the log's last timestamp, else its mtime) and which date it processed (a partition
    the error names, the run id, the alert, the log). Pure: the triage context reads the log once."""
    failed_at, how = failure_time(excerpt, mtime)
    d, src = run_date(partition=partition, run_id=alert.run_id, alert_text=alert.text, excerpt=excerpt,
                      log_name=log_path.name if log_path else None, failed_at=failed_at)
    return RunFacts(str(log_path) if log_path else None, excerpt, failed_at, how, d, src)


def column_in(*texts: str) -> str | None:
    """The column an error names (KeyError: 'x', column x not found, invalid identifier 'T.X', …)."""
    for rx in _COLUMN:
        for t in texts:
            if m := rx.search(t):
                return m.group(1).split(".")[-1].strip("$")
    return None
