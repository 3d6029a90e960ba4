"""What a model was shown in one stage, so the evidence it cites can be checked against it.

A model's answer validates against its schema even when it cites `/etc/shadow:9999` or a line the log never
had; the reply would then quote invented evidence as if the bot had read it. Every cited line must be text
the stage was shown (the excerpt, a tool's result, an earlier stage's evidence); a numbered log line must be
that line. The check is on normalised text (whitespace collapsed) and on the cited text's first characters,
so a model that trims a long line or its timestamp prefix is not refused.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from pydantic import BaseModel

from bot.contract import Evidence
from bot.sandbox import Excerpt

_NUMBERED = re.compile(r"^(\d+): (.*)$", re.MULTILINE)
COMPARED_CHARS = 80   # a cited line's start that must appear in what was shown
LOG_TOOLS = frozenset({"read_log", "tail_log", "grep_log"})


def _norm(text: str) -> str:
    return " ".join(text.split())


class Seen:
    """Paths are kept normalised (`os.path.normpath`), so a cited `./logs/x.log` is the shown `logs/x.log`."""

    def __init__(self) -> None:
        self.lines: dict[tuple[str, int], str] = {}
        self.paths: set[str] = set()
        self._numbered: set[str] = set()      # paths of which numbered lines were shown
        self._blobs: list[str] = []

    def add_excerpt(self, ex: Excerpt) -> None:
        self._numbered_lines(ex.path, ((ln.number, ln.text) for ln in ex.lines if ln.number is not None))
        self._blobs.append(_norm(ex.text()))

    def add_tool_result(self, tool: str, path: str | None, text: str) -> None:
        """A tool's redacted result; a log tool's `N: text` lines are numbered lines of `path`."""
        if path:
            self.paths.add(os.path.normpath(path))
        if tool in LOG_TOOLS and path:
            self._numbered_lines(path, ((int(m[1]), m[2]) for m in _NUMBERED.finditer(text)))
        self._blobs.append(_norm(text))

    def add_output(self, out: BaseModel) -> None:
        """An earlier stage's output: its evidence was checked (or produced by the bot) when it was made."""
        for e in _evidence_of(out):
            path = os.path.normpath(e.path)
            self.paths.add(path)
            if e.line is not None:
                self._numbered.add(path)
                self.lines.setdefault((path, e.line), _norm(e.text))
            self._blobs.append(_norm(e.text))

    def unseen(self, out: BaseModel) -> str | None:
        """What in `out`'s evidence the stage was never shown, as a repair request; None when all was seen."""
        problems = []
        for e in _evidence_of(out):
            cited = _norm(e.text)[:COMPARED_CHARS]
            path = os.path.normpath(e.path)
            known = self.lines.get((path, e.line)) if e.line is not None else None
            if known is not None:
                ok = cited in known or known in _norm(e.text)
            elif e.line is not None and path in self._numbered:
                ok = False        # a line number of a log shown line by line, but not one of the lines shown
            else:
                shown = path in self.paths or any(e.path in b for b in self._blobs)
                ok = shown and bool(cited) and any(cited in b for b in self._blobs)
            if not ok:
                problems.append(f"- evidence {e.where()}: {e.text[:120]!r} is not a line you were shown")
        if not problems:
            return None
        return "\n".join(problems[:5]) + "\nCite only lines from the excerpt or from your tools' results."

    def _numbered_lines(self, path: str, lines: Iterable[tuple[int, str]]) -> None:
        key = os.path.normpath(path)
        self.paths.add(key)
        for number, text in lines:
            self._numbered.add(key)
            self.lines[(key, number)] = _norm(text)


def _evidence_of(out: BaseModel) -> list[Evidence]:
    found = list(getattr(out, "evidence", None) or [])
    for f in getattr(out, "findings", None) or []:
        found += list(getattr(f, "evidence", None) or [])
    return [e for e in found if isinstance(e, Evidence)]
