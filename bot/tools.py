"""What a stage may call. Thin wrappers over the stage's Sandbox, shared by the offline engine and Claude.

Each tool is registered with a JSON schema so a model can call it; every result is text that has already
been through the sandbox's redaction. A denied path raises AccessDenied (audited by the sandbox).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.jobs import Job
from bot.report import Alert
from bot.sandbox import Excerpt, Sandbox

if TYPE_CHECKING:
    from bot.topology import StageSpec
    from bot.triage_context import TriageContext


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    input_schema: dict[str, Any]
    handler: Callable[..., Awaitable[str]]


@dataclass
class Toolbox:
    """One stage's tools, bound to its sandbox and the triage's context (the failed run's log, the job)."""

    context: TriageContext
    sandbox: Sandbox
    extra: dict[str, ToolSpec] = field(default_factory=dict)

    @property
    def stage(self) -> str:
        return self.sandbox.stage

    @property
    def alert(self) -> Alert:
        return self.context.alert

    @property
    def log_path(self) -> Path | None:
        return self.context.log_path

    @property
    def job(self) -> Job | None:
        return self.context.job

    # ------------------------------------------------------------------ log tools

    async def log_excerpt(self, budget: int | None = None) -> Excerpt | None:
        """The part of the failed run's log that matters (error region + first error), or None: the triage's
        one excerpt, cut to `budget` characters when given."""
        ex = await self.context.excerpt(self.sandbox)
        return ex.within(budget) if ex is not None and budget is not None else ex

    async def read_log(self, path: str | None = None, start_line: int = 1, max_lines: int = 200) -> str:
        ex = await self.sandbox.read_lines(self._path(path), start=start_line, max_lines=min(max_lines, 500))
        return ex.text()

    async def tail_log(self, path: str | None = None, lines: int = 200) -> str:
        ex = await self.sandbox.tail(self._path(path), max_lines=min(lines, 500))
        return ex.text()

    async def grep_log(self, pattern: str, path: str | None = None, max_matches: int = 50,
                       context: int = 0) -> str:
        ex = await self.sandbox.grep(self._path(path), pattern, max_matches=min(max_matches, 200),
                                     context=min(context, 5))
        return ex.text() or "(no match)"

    async def list_files(self, path: str) -> str:
        infos = await self.sandbox.list_dir(path)
        return "\n".join(f"{'d' if i.is_dir else '-'} {i.size:>12} {i.path}" for i in infos) or "(empty)"

    def _path(self, path: str | None) -> Path:
        if path is None:
            if self.log_path is None:
                raise ValueError("no log for this run; pass a path")
            return self.log_path
        return Path(path)

    # ------------------------------------------------------------------ registry

    def specs(self) -> list[ToolSpec]:
        """Tool definitions for a model: the log tools plus any investigation tools registered."""
        path_prop = {"type": "string", "description": "absolute path; defaults to the failed run's log"}
        base = [
            ToolSpec("read_log", "Read lines of a log file by 1-based line number (max 500 lines).",
                     {"type": "object", "properties": {
                         "path": path_prop,
                         "start_line": {"type": "integer", "minimum": 1},
                         "max_lines": {"type": "integer", "minimum": 1, "maximum": 500}}},
                     self.read_log),
            ToolSpec("tail_log", "Read the last lines of a log file (max 500).",
                     {"type": "object", "properties": {
                         "path": path_prop, "lines": {"type": "integer", "minimum": 1, "maximum": 500}}},
                     self.tail_log),
            ToolSpec("grep_log", "Find lines matching a regular expression in a log file.",
                     {"type": "object", "required": ["pattern"], "properties": {
                         "pattern": {"type": "string"}, "path": path_prop,
                         "max_matches": {"type": "integer", "minimum": 1, "maximum": 200},
                         "context": {"type": "integer", "minimum": 0, "maximum": 5}}},
                     self.grep_log),
            ToolSpec("list_files", "List a directory the stage may read.",
                     {"type": "object", "required": ["path"], "properties": {"path": {"type": "string"}}},
                     self.list_files),
        ]
        return [*base, *self.extra.values()]


def build_toolbox(context: TriageContext, stage: StageSpec, branch: str | None = None) -> Toolbox:
    """The stage's toolbox: log tools always; an investigating stage also gets the investigation tools."""
    tb = Toolbox(context=context, sandbox=context.sandbox(stage, branch))
    if stage.output_kind == "investigation":
        from bot.investigate.tools import investigation_tools

        tb.extra.update(investigation_tools(tb))
    return tb
