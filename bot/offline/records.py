"""Structured log records read as the plain lines they carry.

Airbyte, Dagster, Prefect, structlog, Cloud Logging exports and most container platforms write one JSON object
per line, the traceback inside it as one string with `\\n` escapes. The readers (signatures, root lines, the
learned words) read lines, so a record is turned into what a plain log would have printed: its level and
message, then its error, stack trace and reason fields, one line per embedded line, each under the record's
own line number (evidence still points at the line of the file). A line that is not a record, or a record
without a message-like field, is left as it is, as is an error payload printed inside a text line.

Values are read with a regex, not `json.loads`: the sandbox cuts lines at 4,000 characters, and a cut record
still carries its message.
"""

from __future__ import annotations

import json
import re

from bot.sandbox import Line
from bot.sandbox.reader import plain

MAX_LINES_PER_RECORD = 400
# string values of the keys that hold what a plain log would print, at any depth (`{"log": {"message": …}}`)
_FIELD = re.compile(r'"(?P<key>message|msg|log|error|err|exception|exc_info|exc_text|stack_trace|stacktrace|stack'
                    r'|traceback|failure_reason|failureReason|reason|detail|details|internalMessage|event|textPayload)"'
                    r'\s*:\s*'
                    r'"(?P<value>(?:[^"\\]|\\.)*)(?:"|$)')
_LEVEL = re.compile(r'"(?:level|severity|levelname|log_level|loglevel|lvl)"\s*:\s*"(?P<level>[A-Za-z]{1,12})"')
_LOUD = {"warn": "WARN", "warning": "WARNING", "error": "ERROR", "err": "ERROR", "fatal": "FATAL",
         "critical": "CRITICAL", "crit": "CRITICAL", "alert": "CRITICAL", "emergency": "CRITICAL", "panic": "PANIC",
         "severe": "SEVERE"}
_MESSAGE_KEYS = frozenset({"message", "msg", "log", "event", "textPayload"})   # event: structlog's


def plain_records(lines: list[Line]) -> list[Line]:
    """The lines with each JSON log record replaced by the lines it carries; the same list when there is none."""
    if not any(ln.text.lstrip().startswith("{") for ln in lines):
        return lines
    out: list[Line] = []
    for ln in lines:
        out += _record(ln) or [ln]
    return out


def _record(ln: Line) -> list[Line] | None:
    text = ln.text.lstrip()
    if not text.startswith("{") or '"' not in text[:3]:
        return None
    fields = [(m["key"], _decode(m["value"])) for m in _FIELD.finditer(text)]
    if not any(key in _MESSAGE_KEYS for key, _ in fields):
        return None
    level = _LEVEL.search(text)
    loud = _LOUD.get(level["level"].lower(), "") if level else ""
    seen: set[str] = set()
    body: list[str] = []
    for _, value in fields:
        if not value or value in seen:
            continue
        seen.add(value)
        if value.lstrip().startswith("{"):   # a record escaped inside a string (an API's error payload)
            inner = _record(Line(ln.number, value))
            body += [i.text for i in inner] if inner else [value]
        else:
            body += value.splitlines() or [value]
    if not body:
        return None
    body[0] = f"{loud} {body[0]}" if loud else body[0]
    return [Line(ln.number, t) for t in body[:MAX_LINES_PER_RECORD]]


def _decode(value: str) -> str:
    """A JSON string's text as a terminal shows it (escaped colour codes dropped); a value cut off mid-escape
    keeps what came before it."""
    for cut in (value, value[:value.rfind("\\")] if "\\" in value[-6:] else value):
        try:
            return plain(str(json.loads(f'"{cut}"')))
        except ValueError:
            continue
    return value
