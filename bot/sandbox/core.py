"""Sandbox (one per stage) and SandboxManager (one per bot / CLI command, owns the Landlock workers)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.errors import AccessDenied, BotError
from bot.sandbox import landlock
from bot.sandbox.client import WorkerClient, WorkerUnavailable
from bot.sandbox.patterns import PatternRefused, compile_linear
from bot.sandbox.policy import Checked, Denied, Policy
from bot.sandbox.redact import Redactor
from bot.sandbox.results import Audit, Excerpt, FileInfo, Line
from bot.sandbox.worker import perform

if TYPE_CHECKING:
    from bot.sandbox.patterns import LinearPattern

log = logging.getLogger(__name__)
MODES = ("auto", "landlock", "in-process")
LIST_LIMIT = 10_000


class InvalidPattern(BotError):
    """A grep pattern that RE2 cannot compile (invalid, too long, or lookaround / backreferences), with what to
    write instead (bot/sandbox/patterns.py)."""


class Sandbox:
    """A stage's only way to the filesystem: allowlist checks, bounded reads, redaction, audit."""

    def __init__(self, stage: str, allow: list[str], audit: Audit, redactor: Redactor,
                 worker: Callable[[], Any] | None = None, allow_hardlinks: bool = False) -> None:
        self.stage, self.allow, self.audit, self.redactor = stage, list(allow), audit, redactor
        self.policy = Policy(self.allow, allow_hardlinks=allow_hardlinks)
        self._worker = worker            # async () -> WorkerClient, or None for in-process reads
        self._landlock_abi: Callable[[], int] = lambda: 0   # set by the manager: > 0 when Landlock is in force
        self.before_open: Callable[[str], None] | None = None   # test seam: runs between check and open

    # ------------------------------------------------------------------ checks

    def check(self, path: str | Path) -> Path:
        """The real path of an allowed regular file. Raises AccessDenied (audited)."""
        return Path(self._check(path, directory=False).real)

    def reuse(self, path: str | Path) -> Path:
        """`check`, for a file this triage already read through another stage and serves from memory: audited
        as this stage's read of 0 bytes, so the audit shows every stage that used the file, not only the first."""
        real = self.check(path)
        self.audit.read(self.stage, str(real), 0)
        return real

    def check_dir(self, path: str | Path) -> Path:
        """The real path of an allowed directory. Raises AccessDenied (audited)."""
        return Path(self._check(path, directory=True).real)

    def confine(self, argv: list[str]) -> list[str]:
        """`argv` (absolute program path) wrapped so the kernel lets the program read only beneath this
        stage's allowlist roots (plus the system files it needs to run), or `argv` unchanged where Landlock
        is not in force (the manager has warned once, or refused to start when enforcement is required):
        callers keep their in-code checks either way."""
        if not self._landlock_abi():
            return list(argv)
        from bot.sandbox.landlock_exec import launcher_argv

        return launcher_argv(argv, self.policy.roots)

    def _check(self, path: object, directory: bool) -> Checked:
        try:
            return self.policy.check_dir(path) if directory else self.policy.check_file(path)
        except Denied as e:
            raise self._deny(path, e.reason) from None

    def _deny(self, path: object, reason: str) -> AccessDenied:
        shown = _show(path)
        if reason != "no such file or directory":   # a path that does not exist was not denied
            self.audit.deny(self.stage, shown, reason)
        return AccessDenied(shown, self.stage, reason)

    # ------------------------------------------------------------------ reads

    async def _op(self, op: str, path: object, args: dict[str, Any],
                  directory: bool = False) -> tuple[Checked, dict[str, Any]]:
        c = self._check(path, directory)
        if self.before_open is not None:
            self.before_open(c.real)
        req = {"op": op, "path": c.real, "dev": c.dev, "ino": c.ino, "args": args,
               "hardlinks": self.policy.allow_hardlinks}
        worker = await self._worker() if self._worker is not None else None
        if worker is None:
            resp = await asyncio.to_thread(perform, req)
        else:
            resp = await worker.request(req)
        if not resp.get("ok"):
            raise self._deny(path, str(resp.get("denied", "refused")))
        if not directory:
            n = len(resp["data"]) if "data" in resp else sum(len(t) for _, t in resp["lines"])
            self.audit.read(self.stage, c.real, n)
        return c, resp

    async def _excerpt(self, op: str, path: object, args: dict[str, Any]) -> Excerpt:
        c, resp = await self._op(op, path, args)
        raw = resp["lines"]
        texts = self.redactor.redact_lines([t for _, t in raw])
        lines = [Line(n, t) for (n, _), t in zip(raw, texts, strict=True)]
        return Excerpt(c.real, lines, int(resp["size"]), bool(resp["truncated"]))

    async def tail(self, path: str | Path, max_bytes: int = 65536, max_lines: int | None = None) -> Excerpt:
        return await self._excerpt("tail", path, {"max_bytes": max_bytes, "max_lines": max_lines})

    async def read_lines(self, path: str | Path, start: int = 1, max_lines: int = 200,
                         max_bytes: int = 65536) -> Excerpt:
        return await self._excerpt("read_lines", path, {"start": max(1, start), "max_lines": max_lines,
                                                        "max_bytes": max_bytes})

    async def grep(self, path: str | Path, pattern: str, max_matches: int = 50, context: int = 0,
                   max_bytes: int = 65536) -> Excerpt:
        """Matching lines (RE2 syntax, linear time whatever the pattern); a pattern RE2 cannot run raises
        InvalidPattern saying what to write instead, before anything is read."""
        try:
            rx = compile_linear(pattern, multiline=True, capture=False)
        except PatternRefused as e:
            raise InvalidPattern(f"grep pattern {pattern[:80]!r}: {e}") from None
        ex = await self._excerpt("grep", path, {"pattern": pattern, "max_matches": max_matches,
                                                "context": max(0, context), "max_bytes": max_bytes})
        return _matching_after_redaction(ex, rx, max(0, context))

    async def excerpt(self, path: str | Path, budget: int = 64_000) -> Excerpt:
        """The part of a log that matters: the end (error region) plus the first error if earlier."""
        return await self._excerpt("excerpt", path, {"budget": budget})

    async def head_bytes(self, path: str | Path, n: int) -> bytes:
        """Raw leading bytes, for parsing headers. Not redacted: never show them to a model or Slack."""
        data: bytes = (await self._op("head_bytes", path, {"n": n}))[1]["data"]
        return data

    async def tail_bytes(self, path: str | Path, n: int) -> bytes:
        """Raw trailing bytes, for parsing footers. Not redacted: never show them to a model or Slack."""
        data: bytes = (await self._op("tail_bytes", path, {"n": n}))[1]["data"]
        return data

    async def newest_entries(self, path: str | Path, suffix: str, keep: int,
                             prefer: list[str] | None = None) -> list[FileInfo]:
        """The `keep` newest files ending in `suffix` (and the newest whose names hold a `prefer` key) and
        the `keep` newest directories of an allowed directory, chosen over all of its entries with memory
        bounded by `keep` (list_dir keeps the LIST_LIMIT newest of the entries its pattern matches)."""
        c, resp = await self._op("scan_dir", path, {"suffix": suffix, "keep": keep, "prefer": list(prefer or [])},
                                 directory=True)
        out = []
        for name, kind, size, mtime in resp["entries"]:
            full = os.path.join(c.real, name)
            if self.policy.allows_entry(full, kind == "d"):
                out.append(FileInfo(full, int(size), float(mtime), kind == "d"))
        return sorted(out, key=lambda i: i.path)

    async def list_dir(self, path: str | Path, pattern: str = "*") -> list[FileInfo]:
        """Regular files and directories in an allowed directory that the allowlist lets this stage see.
        Symlinks and special files are left out; the reader matched `pattern` already."""
        c, resp = await self._op("list_dir", path, {"limit": LIST_LIMIT, "pattern": pattern}, directory=True)
        base = c.real
        out = []
        for name, kind, size, mtime in resp["entries"]:
            if kind not in ("f", "d"):
                continue
            full = os.path.join(base, name)
            if self.policy.allows_entry(full, kind == "d"):
                out.append(FileInfo(full, int(size), float(mtime), kind == "d"))
        return sorted(out, key=lambda i: i.path)


def _show(path: object) -> str:
    try:
        if not isinstance(path, str | bytes | os.PathLike):
            raise TypeError(type(path).__name__)
        text = os.fspath(path)  # TypeError too when __fspath__ returns neither str nor bytes
    except TypeError:
        return repr(path)[:200]
    text = text if isinstance(text, str) else os.fsdecode(text)
    return text if len(text) <= 300 else text[:300] + "…"


class SandboxManager:
    """Builds each stage's Sandbox and owns the restricted reader processes (one per distinct set of
    roots, started on first read, reused across triages, stopped by `aclose`)."""

    _warned = False

    def __init__(self, mode: str = "auto", redactor: Redactor | None = None, allow_hardlinks: bool = False) -> None:
        """`allow_hardlinks`: read regular files with more than one link (refused by default: a hard link
        inside the allowlist can name a file outside it, and no path check can tell)."""
        self.allow_hardlinks = allow_hardlinks
        if mode not in MODES:
            raise BotError(f"sandbox mode {mode!r} is not one of {', '.join(MODES)}")
        self.mode = mode
        self.redactor = redactor or Redactor()
        self.abi, self.unavailable = 0, ""
        if mode != "in-process":
            self.abi, self.unavailable = landlock.abi_version()
            if not self.abi and mode == "landlock":
                raise BotError(f"kernel file-access enforcement is required but Landlock is not available: "
                               f"{self.unavailable}; run on Linux >= 5.13 with Landlock enabled, or set "
                               "[pipeline] require_os_enforcement = false")
            if not self.abi:
                self._warn(self.unavailable)
        self._workers: dict[tuple[str, ...], WorkerClient] = {}
        self._lock = asyncio.Lock()

    @classmethod
    def for_topology(cls, topology: Any, redactor: Redactor | None = None) -> SandboxManager:
        """A manager with the topology's redaction patterns; `require_os_enforcement = true` makes missing
        Landlock a startup error."""
        required = bool(getattr(getattr(topology, "pipeline", None), "require_os_enforcement", False))
        if redactor is None and (spec := getattr(topology, "redaction", None)) is not None:
            redactor = Redactor([(p.name, p.pattern) for p in spec.patterns], enabled=spec.enabled)
        hardlinks = bool(getattr(getattr(topology, "pipeline", None), "allow_hardlinks", False))
        return cls(mode="landlock" if required else "auto", redactor=redactor, allow_hardlinks=hardlinks)

    @classmethod
    def _warn(cls, why: str) -> None:
        if not cls._warned:
            cls._warned = True
            log.warning("Landlock is not available (%s); file reads are guarded by in-code checks only. "
                        "Set [pipeline] require_os_enforcement = true to refuse to run like this.", why)

    @property
    def enforcement(self) -> str:
        return "landlock" if self.abi else "in-process"

    def for_stage(self, stage: str, allow_globs: list[str], audit: Audit) -> Sandbox:
        try:
            sandbox = Sandbox(stage, allow_globs, audit, self.redactor, allow_hardlinks=self.allow_hardlinks)
        except ValueError as e:
            raise BotError(f"stage '{stage}': {e}") from None
        if self.abi:
            roots = tuple(sandbox.policy.roots)
            sandbox._worker = lambda: self._worker(roots)
        sandbox._landlock_abi = lambda: self.abi
        return sandbox

    async def _worker(self, roots: tuple[str, ...]) -> WorkerClient | None:
        """The running worker for these roots; None (read in-process) if Landlock failed in auto mode."""
        async with self._lock:
            if not self.abi:
                return None
            w = self._workers.get(roots)
            if w is None:
                w = self._workers[roots] = WorkerClient(list(roots))
            try:
                await w.ensure_started()
            except WorkerUnavailable as e:
                del self._workers[roots]
                if self.mode == "landlock":
                    raise
                self.abi, self.unavailable = 0, str(e)
                self._warn(str(e))
                return None
            return w

    @property
    def workers(self) -> list[WorkerClient]:
        return list(self._workers.values())

    async def aclose(self) -> None:
        workers, self._workers = list(self._workers.values()), {}
        await asyncio.gather(*(w.aclose() for w in workers), return_exceptions=True)


def _matching_after_redaction(ex: Excerpt, rx: LinearPattern, context: int) -> Excerpt:
    """The grep's lines whose match survives redaction, with their context. The reader matches the lines as
    shown, before redaction: a line that matched only through a secret (`password=Zq…`, probed a character at a
    time at a log line's bidding) would tell a model the secret it never sees, so it goes, with its context."""
    hits = [ln.number for ln in ex.lines if ln.number is not None and rx.search(ln.text)]
    keep = [ln for ln in ex.lines
            if ln.number is not None and any(abs(ln.number - h) <= context for h in hits)]
    return Excerpt(ex.path, keep, ex.size, ex.truncated)
