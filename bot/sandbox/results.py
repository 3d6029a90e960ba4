"""What the sandbox hands out: excerpts of numbered lines, directory entries, and the audit trail."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Line:
    number: int | None
    text: str


@dataclass
class Excerpt:
    path: str
    lines: list[Line]
    size: int
    truncated: bool = False

    def text(self) -> str:
        return "\n".join(f"{ln.number or '?'}: {ln.text}" for ln in self.lines)

    def within(self, budget: int) -> Excerpt:
        """This excerpt cut to about `budget` characters the way the reader cuts a log (`reader.excerpt`): the
        end (three quarters of the budget), plus the first error and the lines after it when that is earlier
        (the rest), with a marker where lines are left out. A triage reads its log's excerpt once; a stage
        that wants less (a model's prompt) cuts it here instead of reading again."""
        def cost(ln: Line) -> int:
            return len(ln.text) + 1

        if sum(cost(ln) for ln in self.lines) <= budget:
            return self
        tail: list[Line] = []
        room = budget * 3 // 4
        for ln in reversed(self.lines):
            if tail and cost(ln) > room:
                break
            tail.insert(0, ln)
            room -= cost(ln)
        rest = self.lines[:len(self.lines) - len(tail)]
        gap = next((i for i, ln in enumerate(rest) if ln.number is None), None)
        if gap is not None:      # the reader already put the first error region first: keep its start
            region = rest[:gap]
        else:
            from bot.sandbox.reader import ERROR_MARKERS

            markers = [m.decode() for m in ERROR_MARKERS]
            first = next((i for i, ln in enumerate(rest) if any(m in ln.text for m in markers)), None)
            region = rest[max(0, first - 2):] if first is not None else []
        head: list[Line] = []
        room = budget - budget * 3 // 4
        for ln in region[:40]:
            if cost(ln) > room:
                break
            head.append(ln)
            room -= cost(ln)
        after = rest[rest.index(head[-1]) + 1:] if head else rest   # between the head and the tail
        left_out = 0
        for ln in after:
            if ln.number is not None:
                left_out += cost(ln)
            elif m := re.fullmatch(r"\[… ([\d,]+) bytes not shown …\]", ln.text):   # the reader's own gap
                left_out += int(m.group(1).replace(",", ""))
        note = [Line(None, f"[… {left_out:,} bytes not shown …]")] if left_out > 0 else []
        return Excerpt(self.path, [*head, *note, *tail], self.size, truncated=True)


@dataclass(frozen=True)
class FileInfo:
    path: str
    size: int
    mtime: float
    is_dir: bool


@dataclass(frozen=True)
class AuditRecord:
    """One file access: read (`bytes_read`) or refused (`reason`). The report shows it as an `AuditEntry`."""

    stage: str
    path: str
    allowed: bool
    reason: str | None = None
    bytes_read: int = 0


@dataclass
class Audit:
    """Every file read and every refused attempt, in order."""

    entries: list[AuditRecord] = field(default_factory=list)

    def read(self, stage: str, path: str, n: int) -> None:
        self.entries.append(AuditRecord(stage=stage, path=path, allowed=True, bytes_read=n))

    def deny(self, stage: str, path: str, reason: str) -> None:
        self.entries.append(AuditRecord(stage=stage, path=path, allowed=False, reason=reason))

    @property
    def files_read(self) -> list[str]:
        return list(dict.fromkeys(e.path for e in self.entries if e.allowed))

    @property
    def denied(self) -> list[AuditRecord]:
        return [e for e in self.entries if not e.allowed]
