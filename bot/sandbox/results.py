"""What the sandbox hands out: excerpts of numbered lines, directory entries, and the audit trail."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.report import AuditEntry


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


@dataclass(frozen=True)
class FileInfo:
    path: str
    size: int
    mtime: float
    is_dir: bool


@dataclass
class Audit:
    """Every file read and every refused attempt, in order."""

    entries: list[AuditEntry] = field(default_factory=list)

    def read(self, stage: str, path: str, n: int) -> None:
        from bot.report import AuditEntry

        self.entries.append(AuditEntry(stage=stage, path=path, allowed=True, bytes_read=n))

    def deny(self, stage: str, path: str, reason: str) -> None:
        from bot.report import AuditEntry

        self.entries.append(AuditEntry(stage=stage, path=path, allowed=False, reason=reason))

    @property
    def files_read(self) -> list[str]:
        return list(dict.fromkeys(e.path for e in self.entries if e.allowed))

    @property
    def denied(self) -> list[AuditEntry]:
        return [e for e in self.entries if not e.allowed]
