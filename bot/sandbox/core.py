"""In-process sandbox (placeholder for the hardened one of the sandbox issue; API is stable)."""

from __future__ import annotations

import asyncio
import fnmatch
import os
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from bot.errors import AccessDenied
from bot.report import AuditEntry
from bot.sandbox.redact import Redactor


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
    entries: list[AuditEntry] = field(default_factory=list)

    def read(self, stage: str, path: str, n: int) -> None:
        self.entries.append(AuditEntry(stage=stage, path=path, allowed=True, bytes_read=n))

    def deny(self, stage: str, path: str, reason: str) -> None:
        self.entries.append(AuditEntry(stage=stage, path=path, allowed=False, reason=reason))

    @property
    def files_read(self) -> list[str]:
        return list(dict.fromkeys(e.path for e in self.entries if e.allowed))

    @property
    def denied(self) -> list[AuditEntry]:
        return [e for e in self.entries if not e.allowed]


class Sandbox:
    def __init__(self, stage: str, allow: list[str], audit: Audit, redactor: Redactor) -> None:
        self.stage, self.allow, self.audit, self.redactor = stage, allow, audit, redactor

    def check(self, path: str | Path) -> Path:
        real = Path(os.path.realpath(str(path)))
        for g in self.allow:
            root = g.split("*", 1)[0].rstrip("/")
            if fnmatch.fnmatch(str(real), g) or str(real).startswith(root + "/"):
                if not real.is_file() and not real.is_dir():
                    break
                return real
        self.audit.deny(self.stage, str(path), "outside the read allowlist")
        raise AccessDenied(str(path), self.stage, "outside the read allowlist")

    async def tail(self, path: str | Path, max_bytes: int = 65536, max_lines: int | None = None) -> Excerpt:
        return await asyncio.to_thread(self._tail, self.check(path), max_bytes, max_lines)

    def _tail(self, p: Path, max_bytes: int, max_lines: int | None) -> Excerpt:
        with open(p, "rb") as f:
            size = f.seek(0, 2)
            start = max(0, size - max_bytes)
            f.seek(start)
            data = f.read(max_bytes)
        self.audit.read(self.stage, str(p), len(data))
        first = 1 if start == 0 else None
        raw = data.decode("utf-8", "replace").splitlines()
        if start:
            raw = raw[1:]
        if first is None and size < 64 * 1024 * 1024:
            with open(p, "rb") as f:
                f.seek(0)
                first = f.read(start).count(b"\n") + 2
        keep = deque(raw, maxlen=max_lines) if max_lines else raw
        offset = len(raw) - len(keep)
        lines = [Line((first + offset + i) if first else None, self.redactor.redact(t)) for i, t in enumerate(keep)]
        return Excerpt(str(p), lines, size, truncated=start > 0)

    async def excerpt(self, path: str | Path, budget: int = 64_000) -> Excerpt:
        return await self.tail(path, max_bytes=budget)

    async def read_lines(self, path: str | Path, start: int = 1, max_lines: int = 200,
                         max_bytes: int = 65536) -> Excerpt:
        ex = await self.tail(path, max_bytes=1 << 30)
        return Excerpt(ex.path, ex.lines[start - 1:start - 1 + max_lines], ex.size)

    async def grep(self, path: str | Path, pattern: str, max_matches: int = 50, context: int = 0) -> Excerpt:
        ex = await self.tail(path, max_bytes=1 << 30)
        rx = re.compile(pattern)
        return Excerpt(ex.path, [ln for ln in ex.lines if rx.search(ln.text)][:max_matches], ex.size)

    async def head_bytes(self, path: str | Path, n: int) -> bytes:
        p = self.check(path)
        with open(p, "rb") as f:
            return f.read(n)

    async def tail_bytes(self, path: str | Path, n: int) -> bytes:
        p = self.check(path)
        with open(p, "rb") as f:
            f.seek(max(0, f.seek(0, 2) - n))
            return f.read(n)

    async def list_dir(self, path: str | Path, pattern: str = "*") -> list[FileInfo]:
        p = self.check(path)
        out = []
        for c in sorted(p.iterdir()):
            if fnmatch.fnmatch(c.name, pattern):
                st = c.stat()
                out.append(FileInfo(str(c), st.st_size, st.st_mtime, c.is_dir()))
        return out


class SandboxManager:
    def __init__(self, mode: str = "auto", redactor: Redactor | None = None) -> None:
        self.mode = mode
        self.redactor = redactor or Redactor()

    @property
    def enforcement(self) -> str:
        return "in-process"

    def for_stage(self, stage: str, allow: list[str], audit: Audit) -> Sandbox:
        return Sandbox(stage, allow, audit, self.redactor)

    async def aclose(self) -> None:
        return None
