"""`topology.toml` → a validated `Topology`. Every error names the file, the stage and the field."""

from __future__ import annotations

import difflib
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from bot.errors import TopologyError
from bot.report import OutputKind

VAR_RE = re.compile(r"\{(\w+)\}")
DEFAULT_OUTPUTS: dict[str, OutputKind] = {
    "classify": "classification",
    "investigate": "investigation",
    "recommend": "recommendation",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class BranchSpec(_Strict):
    """What `investigate` does differently for one category."""

    prompt_file: str | None = None
    read: list[str] = Field(default_factory=list)


class StageSpec(_Strict):
    name: str
    prompt_file: str
    depends_on: list[str] = Field(default_factory=list)
    read: list[str] = Field(default_factory=list)
    timeout_s: float = Field(30.0, gt=0)
    output: OutputKind | None = None
    model: str | None = None
    branch_on: str | None = None
    branches: dict[str, BranchSpec] = Field(default_factory=dict)
    max_tool_calls: int | None = Field(None, ge=0)
    max_tokens: int | None = Field(None, gt=0)

    @property
    def output_kind(self) -> OutputKind:
        return self.output or DEFAULT_OUTPUTS.get(self.name, "text")


class PipelineSpec(_Strict):
    name: str = "etl-triage"
    description: str = ""
    timeout_s: float = Field(120.0, gt=0)
    require_os_enforcement: bool = False
    max_tool_calls: int = Field(8, ge=0)
    max_tokens: int = Field(60_000, gt=0, description="total model tokens (in + out) per triage")
    stages: list[StageSpec] = Field(min_length=1)


class JobSpec(_Strict):
    """A job's facts. `[jobs."*"]` gives defaults; `{job}` in a path is the job's name."""

    description: str | None = None
    logs: str | None = None
    team: str | None = None
    owners: list[str] | None = None
    upstream: list[str] | None = None
    repo: str | None = None
    code: list[str] | None = None
    config: str | None = None
    escalation: dict[str, str] | None = Field(
        None, description="category → key of an [escalation.<key>] table, overriding the category default"
    )


class EscalationSpec(_Strict):
    team: str
    channel: str | None = None
    mention: str | None = None


class AlertsSpec(_Strict):
    """How to read alerts posted to Slack. Patterns are regexes with named groups job, run_id, task, log."""

    patterns: list[str] = Field(default_factory=list)
    failure_words: list[str] = Field(default_factory=list)


class RedactionPattern(_Strict):
    name: str
    pattern: str


class RedactionSpec(_Strict):
    enabled: bool = True
    patterns: list[RedactionPattern] = Field(default_factory=list)


class _Document(_Strict):
    pipeline: PipelineSpec
    vars: dict[str, str] = Field(default_factory=dict)
    jobs: dict[str, JobSpec] = Field(default_factory=dict)
    escalation: dict[str, EscalationSpec] = Field(default_factory=dict)
    alerts: AlertsSpec = Field(default_factory=AlertsSpec)
    redaction: RedactionSpec = Field(default_factory=RedactionSpec)


class Topology(BaseModel):
    """A loaded, validated topology plus where it came from."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    _prompts: dict[str, str] = PrivateAttr(default_factory=dict)

    path: Path
    pipeline: PipelineSpec
    vars: dict[str, str]
    jobs: dict[str, JobSpec]
    escalation: dict[str, EscalationSpec]
    alerts: AlertsSpec
    redaction: RedactionSpec

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def stages(self) -> list[StageSpec]:
        return self.pipeline.stages

    def stage(self, name: str) -> StageSpec:
        for s in self.pipeline.stages:
            if s.name == name:
                return s
        raise KeyError(name)

    def expand(self, text: str, **extra: str) -> str:
        """Replace `{name}` with a variable; unknown names are left as they are."""
        values = {**self.vars, **extra}
        return VAR_RE.sub(lambda m: values.get(m.group(1), m.group(0)), text)

    def read_globs(self, stage: StageSpec, branch: str | None = None) -> list[str]:
        globs = list(stage.read)
        if branch and branch in stage.branches:
            globs += stage.branches[branch].read
        return [self.expand(g) for g in globs]

    def prompt_path(self, stage: StageSpec, branch: str | None = None) -> Path:
        if branch and branch in stage.branches and stage.branches[branch].prompt_file:
            return self.base_dir / stage.branches[branch].prompt_file  # type: ignore[operator]
        return self.base_dir / stage.prompt_file

    def prompt_text(self, stage: StageSpec, branch: str | None = None) -> str:
        """The stage prompt, followed by the branch prompt when the stage branches (read once, at load)."""
        text = self._prompt(stage.prompt_file)
        if branch and branch in stage.branches and (extra := stage.branches[branch].prompt_file):
            text += "\n\n" + self._prompt(extra)
        return text

    def _prompt(self, rel: str) -> str:
        if rel not in self._prompts:
            self._prompts[rel] = (self.base_dir / rel).read_text(encoding="utf-8")
        return self._prompts[rel]

    def load_prompts(self) -> None:
        """Read every prompt file now, so a triage never touches the disk for them (and a prompt edited or
        removed after start-up cannot break a running bot)."""
        for s in self.stages:
            self._prompt(s.prompt_file)
            for br in s.branches.values():
                if br.prompt_file:
                    self._prompt(br.prompt_file)

    def order(self) -> list[StageSpec]:
        """Stages in a dependency-respecting order (stable: file order among equals)."""
        done: set[str] = set()
        out: list[StageSpec] = []
        pending = list(self.pipeline.stages)
        while pending:
            for s in pending:
                if all(d in done for d in s.depends_on):
                    out.append(s)
                    done.add(s.name)
                    pending.remove(s)
                    break
        return out

    def escalation_for(self, category: str, job: JobSpec | None = None) -> EscalationSpec | None:
        key = (job.escalation or {}).get(category, category) if job else category
        return self.escalation.get(key)


def load_topology(path: str | Path, overrides: dict[str, str] | None = None) -> Topology:
    """Read, parse and validate a topology file. Raises `TopologyError` with a located message."""
    path = Path(path)
    file = str(path)
    try:
        raw_bytes = path.read_bytes()
    except FileNotFoundError:
        raise TopologyError(file, "", "file not found", "pass --topology PATH, run from the jobs repo's root, "
                            "or create one with `etl-triage init`") from None
    except OSError as e:
        raise TopologyError(file, "", f"cannot read: {e.strerror}") from None
    try:
        raw = tomllib.loads(raw_bytes.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise TopologyError(file, "", f"not UTF-8 text (byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise TopologyError(file, "", f"invalid TOML: {e}", "fix the syntax at that line and column") from None
    try:
        doc = _Document.model_validate(raw)
    except ValidationError as e:
        raise _located(file, raw, e) from None
    topo = Topology(
        path=path.resolve(),
        pipeline=doc.pipeline,
        vars={**doc.vars, **(overrides or {})},
        jobs=doc.jobs,
        escalation=doc.escalation,
        alerts=doc.alerts,
        redaction=doc.redaction,
    )
    from bot.topology_checks import check_semantics

    check_semantics(file, topo)
    try:
        topo.load_prompts()
    except (OSError, UnicodeDecodeError) as e:
        raise TopologyError(file, "", f"cannot read a prompt file: {e}", "check the prompts/ files") from None
    return topo


# ---------------------------------------------------------------- error location


def _fields(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


_MODEL_AT: dict[tuple[str, ...], type[BaseModel]] = {
    (): _Document,
    ("pipeline",): PipelineSpec,
    ("pipeline", "stages", "*"): StageSpec,
    ("pipeline", "stages", "*", "branches", "*"): BranchSpec,
    ("jobs", "*"): JobSpec,
    ("escalation", "*"): EscalationSpec,
    ("alerts",): AlertsSpec,
    ("redaction",): RedactionSpec,
    ("redaction", "patterns", "*"): RedactionPattern,
}


def _describe(raw: dict[str, Any], loc: tuple[Any, ...]) -> tuple[str, str]:
    """('stage 'investigate'', 'field 'depends_on'') for a pydantic location."""
    if len(loc) >= 3 and loc[0] == "pipeline" and loc[1] == "stages" and isinstance(loc[2], int):
        stages = raw.get("pipeline", {}).get("stages", [])
        st = stages[loc[2]] if loc[2] < len(stages) else {}
        name = st.get("name") if isinstance(st, dict) else None
        where = f"stage '{name}'" if isinstance(name, str) else f"stage #{loc[2] + 1}"
        rest = [str(p) for p in loc[3:]]
        return where, ".".join(rest)
    if len(loc) >= 2 and loc[0] in ("jobs", "escalation"):
        return f"[{loc[0]}.{loc[1]}]", ".".join(str(p) for p in loc[2:])
    if loc and loc[0] in ("pipeline", "alerts", "redaction", "vars"):
        return f"[{loc[0]}]", ".".join(str(p) for p in loc[1:])
    return "top level", ".".join(str(p) for p in loc)


def _located(file: str, raw: dict[str, Any], err: ValidationError) -> TopologyError:
    e = err.errors()[0]
    loc = tuple(e["loc"])
    where, field = _describe(raw, loc)
    kind = e["type"]
    if kind == "extra_forbidden":
        parent = tuple("*" if isinstance(p, int) or (i and loc[i - 1] in ("jobs", "escalation", "branches"))
                       else p for i, p in enumerate(loc[:-1]))
        model = _MODEL_AT.get(parent)
        key = str(loc[-1])
        near = difflib.get_close_matches(key, _fields(model), n=1) if model else []
        hint = f"did you mean '{near[0]}'?" if near else (
            f"allowed: {', '.join(_fields(model))}" if model else None)
        field_where = ".".join(str(p) for p in loc[3:-1]) if where.startswith("stage") else ""
        prefix = f"{where}" + (f", {field_where}" if field_where else "")
        return TopologyError(file, prefix, f"unknown key '{key}'", hint)
    if kind == "missing":
        return TopologyError(file, where, f"missing required field '{field}'")
    msg = e["msg"]
    return TopologyError(file, where, f"field '{field}': {msg}" if field else msg)
