"""Every file the program reads goes through a stage's Sandbox: allowlist, bounded reads, redaction.

Public API (stable; other modules import only these names):
    SandboxManager(mode="auto"|"landlock"|"in-process", redactor=Redactor(...))
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
"""

from bot.sandbox.core import Audit, Excerpt, FileInfo, Line, Sandbox, SandboxManager
from bot.sandbox.redact import Redactor

__all__ = ["Audit", "Excerpt", "FileInfo", "Line", "Redactor", "Sandbox", "SandboxManager"]
