"""Secrets out before text leaves the sandbox. (Minimal placeholder; hardened in the sandbox issue.)"""

from __future__ import annotations

import re
from collections.abc import Iterable

_BUILTIN: list[tuple[str, str]] = [
    ("aws_access_key", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    ("password", r"(?i)(?<=password=)[^\s&;,'\"]+"),
    ("dsn_password", r"(?<=://)([^:/@\s]+):[^@\s/]+(?=@)"),
]


class Redactor:
    """Replaces secrets with `[REDACTED:<kind>]`."""

    def __init__(self, extra: Iterable[tuple[str, str]] = (), enabled: bool = True) -> None:
        self.enabled = enabled
        self._patterns = [(k, re.compile(p)) for k, p in [*_BUILTIN, *extra]]

    def redact(self, text: str) -> str:
        if not self.enabled:
            return text
        for kind, rx in self._patterns:
            text = rx.sub(f"[REDACTED:{kind}]", text)
        return text
