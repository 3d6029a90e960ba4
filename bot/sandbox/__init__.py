"""Every file the program reads goes through a stage's Sandbox: allowlist, bounded reads, redaction.

Public API (stable; other modules import only these names):
    SandboxManager(mode="auto"|"landlock"|"in-process", redactor=Redactor(...))
        SandboxManager.for_topology(topology, redactor=)   mode from [pipeline] require_os_enforcement
        .for_stage(stage, allow_globs, audit) -> Sandbox
        .enforcement -> "landlock" | "in-process"
        await .aclose()
    Sandbox.check(path) -> Path                 raises AccessDenied, audited
    await Sandbox.tail(path, max_bytes=, max_lines=) -> Excerpt
    await Sandbox.read_lines(path, start=1, max_lines=, max_bytes=) -> Excerpt
    await Sandbox.grep(path, pattern, max_matches=, context=) -> Excerpt
    await Sandbox.excerpt(path, budget=) -> Excerpt       the part of a log that matters
    await Sandbox.head_bytes(path, n) / tail_bytes(path, n) -> bytes   raw, for headers/footers; not redacted,
                                                                       never shown to a model or Slack
    await Sandbox.list_dir(path, pattern="*") -> list[FileInfo]
    Audit: entries, files_read, denied

Modules: policy (allowlist + verified open), reader (bounded reads), landlock (kernel rules via ctypes),
worker / client (the restricted reader process and its pipe), redact, results, core.
Names are imported lazily so the restricted worker loads only the stdlib modules it needs.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `typing`: the worker process starts faster without it
if TYPE_CHECKING:
    from bot.sandbox.core import Sandbox, SandboxManager
    from bot.sandbox.redact import Redactor
    from bot.sandbox.results import Audit, Excerpt, FileInfo, Line

__all__ = ["Audit", "Excerpt", "FileInfo", "Line", "Redactor", "Sandbox", "SandboxManager"]
_WHERE = {"Sandbox": "core", "SandboxManager": "core", "Redactor": "redact", "Audit": "results",
          "Excerpt": "results", "FileInfo": "results", "Line": "results"}


def __getattr__(name: str) -> object:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"bot.sandbox.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'bot.sandbox' has no attribute {name!r}")
