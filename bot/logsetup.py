"""Logging for the CLI and the bot: the level from -v/--log-level, readable text or one JSON object per line.

Triage fields (`triage_id`, `channel`, `job`, `stage`, `duration_ms`, …) come from `extra=` on a record or
from `log_context(...)`, which tags every record logged inside a triage (the engine's and the providers'
warnings too) without them knowing about Slack.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any, Literal, TextIO

from bot.errors import BotError

LogFormat = Literal["text", "json"]
LEVELS = ("debug", "info", "warning", "error")
# Fields a record may carry, in the order they are shown.
FIELDS = ("triage_id", "channel", "ts", "job", "run_id", "stage", "status", "category", "provider", "outcome",
          "duration_ms", "port", "url", "mode")
# Libraries that log at INFO about every request or connection; shown only at DEBUG.
CHATTY = ("slack_sdk", "slack_bolt", "aiohttp.access", "anthropic", "httpx")

_context: ContextVar[Mapping[str, Any]] = ContextVar("etl_triage_log_context",
                                                   default=MappingProxyType({}))


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Tag every record logged in this block (and in tasks it starts) with `fields`."""
    token = _context.set(MappingProxyType({**_context.get(), **{k: v for k, v in fields.items() if v is not None}}))
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Copies the current `log_context` onto the record (explicit `extra=` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: getattr(record, k) for k in FIELDS if getattr(record, k, None) is not None}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the triage fields, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": _dt.datetime.fromtimestamp(record.created, _dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`[time] LEVEL logger: message  key=value …` for a person reading a terminal or the journal."""

    def __init__(self, timestamps: bool) -> None:
        super().__init__(("%(asctime)s " if timestamps else "") + "%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        if not extra:
            return text
        head, nl, tail = text.partition("\n")  # the fields go on the message line, before any traceback
        return f"{head}  {extra}{nl}{tail}"


def parse_level(name: str) -> int:
    if name.lower() not in LEVELS:
        raise BotError(f"log level {name!r} is not one of {', '.join(LEVELS)}; pass e.g. --log-level info")
    return int(logging.getLevelName(name.upper()))


def choose_level(log_level: str | None, verbose: int, env_level: str | None, default: int) -> int:
    """--log-level, else -v (INFO) / -vv (DEBUG), else ETL_TRIAGE_LOG_LEVEL, else the command's default."""
    if log_level:
        return parse_level(log_level)
    if verbose:
        return logging.DEBUG if verbose > 1 else logging.INFO
    if env_level:
        return parse_level(env_level)
    return default


def configure(level: int, fmt: LogFormat = "text", *, timestamps: bool = False, stream: TextIO | None = None) -> None:
    """Install our one stderr handler on the root logger (replacing the one a previous call installed)."""
    root = logging.getLogger()
    for h in [h for h in root.handlers if getattr(h, "_etl_triage", False)]:
        root.removeHandler(h)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._etl_triage = True  # type: ignore[attr-defined]
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter(timestamps))
    root.addHandler(handler)
    root.setLevel(level)
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.NOTSET if level <= logging.DEBUG else logging.WARNING)
