"""A stage's toolbox: the log tools (thin wrappers over the stage's Sandbox) and the tool definitions a model sees.

Each tool a model may call is a `ToolSpec`: a pydantic model of its arguments (`ToolArgs`) is the one
definition, giving both the JSON schema the model sees and the validation of what it sends (invalid
arguments raise ValidationError before the tool runs; the Claude provider answers them as a tool error).
Every result is text that has already been through the sandbox's redaction. A denied path raises AccessDenied
(audited by the sandbox).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from bot.contract import Alert
from bot.jobs import Job
from bot.sandbox import Excerpt, Sandbox
from bot.sandbox.reader import SCAN_LIMIT

if TYPE_CHECKING:
    from bot.triage_context import TriageContext


class ToolArgs(BaseModel):
    """A tool's arguments. Unknown ones are errors; the defaults are the tool's."""

    model_config = ConfigDict(extra="forbid")


class NoArgs(ToolArgs):
    pass


class Within:
    """A number the schema bounds to [lo, hi] (`minimum`/`maximum` for the model); one outside is brought
    within, as the tools always did (`Annotated[int, Within(1, 500)]`). Its type is still validated."""

    def __init__(self, lo: float, hi: float | None = None) -> None:
        self.lo, self.hi = lo, hi

    def _clamp(self, v: float) -> float:
        v = max(v, self.lo)
        return type(v)(min(v, self.hi)) if self.hi is not None else v

    def __get_pydantic_json_schema__(self, core: Any, handler: Any) -> dict[str, Any]:
        bounds = {"minimum": self.lo} | ({"maximum": self.hi} if self.hi is not None else {})
        return {**handler(core), **bounds}

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        return handler(Annotated[source, AfterValidator(self._clamp)])


def tool_schema(args: type[ToolArgs]) -> dict[str, Any]:
    """The JSON schema a model sees for `args`: plain properties (no titles; an optional value is its type,
    not `anyOf [type, null]`), required ones listed, nothing else accepted."""
    schema = args.model_json_schema()
    props: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        prop = {k: v for k, v in prop.items() if k != "title"}
        options = [o for o in prop.pop("anyOf", []) if o.get("type") != "null"]
        if len(options) == 1:
            prop = {**options[0], **prop}
        if prop.get("default", 0) is None:
            del prop["default"]
        props[name] = prop
    out: dict[str, Any] = {"type": "object", "properties": props}
    if schema.get("required"):
        out["required"] = list(schema["required"])
    out["additionalProperties"] = False
    return out


@dataclass(frozen=True)
class ToolSpec:
    """A model-callable tool: `run` is called with the validated arguments as keywords."""

    name: str
    description: str
    args: type[ToolArgs]
    run: Callable[..., Awaitable[str]]

    @property
    def input_schema(self) -> dict[str, Any]:
        return tool_schema(self.args)

    async def handler(self, **arguments: Any) -> str:
        """Validate `arguments` (pydantic ValidationError when they do not fit the schema), then run the tool."""
        return await self.run(**self.args.model_validate(arguments).model_dump())


_PATH = "absolute path; defaults to the failed run's log"


class ReadLogArgs(ToolArgs):
    path: str | None = Field(None, description=_PATH)
    start_line: Annotated[int, Within(1)] = 1
    max_lines: Annotated[int, Within(1, 500)] = 200


class TailLogArgs(ToolArgs):
    path: str | None = Field(None, description=_PATH)
    lines: Annotated[int, Within(1, 500)] = 200


class GrepLogArgs(ToolArgs):
    pattern: str
    path: str | None = Field(None, description=_PATH)
    max_matches: Annotated[int, Within(1, 200)] = 50
    context: Annotated[int, Within(0, 5)] = 0


class ListFilesArgs(ToolArgs):
    path: str


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
        if not ex.lines and ex.truncated:
            return (f"(line {start_line} lies beyond the first {SCAN_LIMIT >> 20} MB of this {ex.size >> 20} MB log, "
                    "further than a read goes: tail_log shows its end)")
        return ex.text()

    async def tail_log(self, path: str | None = None, lines: int = 200) -> str:
        ex = await self.sandbox.tail(self._path(path), max_lines=min(lines, 500))
        return ex.text()

    async def grep_log(self, pattern: str, path: str | None = None, max_matches: int = 50,
                       context: int = 0) -> str:
        ex = await self.sandbox.grep(self._path(path), pattern, max_matches=min(max_matches, 200),
                                     context=min(context, 5))
        note = (f"\n(searched the first {SCAN_LIMIT >> 20} MB of this {ex.size >> 20} MB log only: tail_log shows "
                "its end)" if ex.truncated and ex.size > SCAN_LIMIT else "")
        return (ex.text() or "(no match)") + note

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
        base = [
            ToolSpec("read_log", "Read lines of a log file by 1-based line number (max 500 lines).", ReadLogArgs,
                     self.read_log),
            ToolSpec("tail_log", "Read the last lines of a log file (max 500).", TailLogArgs, self.tail_log),
            ToolSpec("grep_log", "Find lines matching a regular expression in a log file.", GrepLogArgs,
                     self.grep_log),
            ToolSpec("list_files", "List a directory the stage may read.", ListFilesArgs, self.list_files),
        ]
        return [*base, *self.extra.values()]
