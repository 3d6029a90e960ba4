"""When did the run fail, and which data date was it processing? Parsed from run ids, alerts and logs."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from bot.sandbox import Excerpt

# Timestamps a log line may start with (Airflow, ISO, Spark/log4j short year). Naive times are UTC.
_TS = [
    (re.compile(r"(\d{4})-(\d{2})-(\d{2})[ ,T]+(\d{2}):(\d{2}):(\d{2})"), "ymd"),
    (re.compile(r"^(\d{2})/(\d{2})/(\d{2}) (\d{2}):(\d{2}):(\d{2})"), "yy"),
]
# A data date named by a run id, an alert or a log line, best first.
_DATE_HINTS = [
    re.compile(r"\b(?:dt|date|ds|day|partition_date|run_date)=(\d{4})-?(\d{2})-?(\d{2})\b"),
    re.compile(r"scheduled__(\d{4})-(\d{2})-(\d{2})"),
    re.compile(r"\b(?:execution_date|logical_date|data_interval_start)[=: ]+(\d{4})-?(\d{2})-?(\d{2})"),
    re.compile(r"\b(\d{4})/(\d{2})/(\d{2})/"),
]
_ANY_DATE = re.compile(r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})(?!\d)")


def _date(y: str, m: str, d: str) -> date | None:
    try:
        return date(int(y), int(m), int(d))
    except ValueError:
        return None


def date_in(text: str, loose: bool = False) -> date | None:
    """The first data date a text names (dt=…, scheduled__…, execution_date=…, YYYY/MM/DD/)."""
    for rx in _DATE_HINTS:
        for m in rx.finditer(text):
            if (d := _date(*m.groups())) is not None:
                return d
    if loose:
        for m in _ANY_DATE.finditer(text):
            if (d := _date(*m.groups())) is not None and 1990 < d.year < 2200:
                return d
    return None


def line_time(text: str) -> datetime | None:
    """The timestamp a log line carries, as an aware UTC datetime, or None."""
    for rx, kind in _TS:
        m = rx.search(text)
        if not m:
            continue
        y, mo, d, h, mi, s = (int(g) for g in m.groups())
        if kind == "yy":
            y += 2000
        try:
            return datetime(y, mo, d, h, mi, s, tzinfo=UTC)
        except ValueError:
            continue
    return None


def failure_time(excerpt: Excerpt | None, mtime: float | None = None) -> tuple[datetime | None, str]:
    """The last timestamp in the log's tail, else the log file's mtime. Returns (time, how it was found)."""
    if excerpt is not None:
        for ln in reversed(excerpt.lines):
            if (t := line_time(ln.text)) is not None:
                return t, f"last log timestamp ({excerpt.path}:{ln.number or '?'})"
    if mtime is not None:
        return datetime.fromtimestamp(mtime, UTC), "log file modification time"
    return None, "unknown"


def run_date(*, partition: str | None, run_id: str | None, alert_text: str, excerpt: Excerpt | None,
             log_name: str | None, failed_at: datetime | None) -> tuple[date | None, str]:
    """The data date the run processed, and where it came from (best source first)."""
    if partition and (d := date_in(partition, loose=True)):
        return d, f"partition {partition!r} named in the error"
    if run_id and (d := date_in(run_id, loose=True)):
        return d, f"run id {run_id!r}"
    if alert_text and (d := date_in(alert_text)):
        return d, "the alert"
    if excerpt is not None:
        for ln in excerpt.lines:
            if (d := date_in(ln.text)) is not None:
                return d, f"log line {ln.number or '?'}"
    if log_name and (d := date_in(log_name, loose=True)):
        return d, f"log file name {log_name}"
    if failed_at is not None:
        return failed_at.date(), "the failure date"
    return None, "unknown"


def ago(delta_s: float) -> str:
    """3 min, 5.2 h, 2.1 d."""
    s = abs(delta_s)
    if s < 3600:
        return f"{s / 60:.0f} min"
    if s < 86400 * 2:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


def iso(t: datetime | float | None) -> str:
    if t is None:
        return "?"
    if isinstance(t, (int, float)):
        t = datetime.fromtimestamp(t, UTC)
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
