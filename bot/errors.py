"""One exception tree. Every message says what went wrong, where, and what to do next."""

from __future__ import annotations


class BotError(Exception):
    """A user or configuration error: the CLI prints it as one line and exits 2."""

    exit_code = 2


class TopologyError(BotError):
    """The topology file is broken. The message names the file, the stage and the field."""

    def __init__(self, file: str, where: str, message: str, hint: str | None = None) -> None:
        self.file, self.where, self.detail, self.hint = file, where, message, hint
        text = f"{file}: {where}: {message}" if where else f"{file}: {message}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)


class AccessDenied(BotError):
    """A path is outside the stage's read allowlist, or is not a regular file."""

    def __init__(self, path: str, stage: str, reason: str) -> None:
        self.path, self.stage, self.reason = path, stage, reason
        super().__init__(f"read denied for stage '{stage}': {path!r}: {reason}")


class LogNotFound(BotError):
    """No log could be found for the failed run."""


class LogNotText(BotError):
    """The run's log is compressed or binary: triaging its bytes would quote garbage as a root cause."""


class SettingsError(BotError):
    """A required setting (environment variable or flag) is missing or invalid."""


class ProviderError(Exception):
    """A model provider failed (timeout, HTTP error, garbage answer). The engine falls back to offline."""

    def __init__(self, message: str = "", *, usage: object | None = None) -> None:
        super().__init__(message)
        self.usage = usage  # what the failed attempt spent (a providers.base.Usage), for the report


class StoreError(BotError):
    """The state database is misconfigured, unreachable at start, or has a schema this version can't use."""


def brief(e: BaseException) -> str:
    """`Type: first line of the message` (at most 300 characters), for a report's reason fields."""
    text = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {text}"[:300] if text else type(e).__name__
