"""`topology.toml` → a validated `Topology`. Every error names the file, the stage and the field."""

from __future__ import annotations

import difflib
import fnmatch
import posixpath
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.errors import TopologyError
from bot.report import CATEGORIES, OutputKind

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
        """The stage prompt, followed by the branch prompt when the stage branches."""
        text = (self.base_dir / stage.prompt_file).read_text(encoding="utf-8")
        if branch and branch in stage.branches and stage.branches[branch].prompt_file:
            text += "\n\n" + self.prompt_path(stage, branch).read_text(encoding="utf-8")
        return text

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
        raise TopologyError(file, "", "file not found", "pass --topology PATH or run from the repo root") from None
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
    _check(file, topo)
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


# ---------------------------------------------------------------- semantic checks


def _check(file: str, topo: Topology) -> None:
    names: set[str] = set()
    for s in topo.stages:
        where = f"stage '{s.name}'"
        if not s.name.strip():
            raise TopologyError(file, where, "field 'name' is empty", "give every stage a name")
        if s.name in names:
            raise TopologyError(file, where, "duplicate stage name", "stage names must be unique")
        names.add(s.name)
    for s in topo.stages:
        where = f"stage '{s.name}'"
        for dep in s.depends_on:
            if dep == s.name:
                raise TopologyError(file, where, "field 'depends_on': a stage cannot depend on itself")
            if dep not in names:
                near = difflib.get_close_matches(dep, sorted(names), n=1)
                hint = f"did you mean '{near[0]}'?" if near else f"stages are: {', '.join(sorted(names))}"
                raise TopologyError(file, where, f"field 'depends_on': unknown stage '{dep}'", hint)
        if not (topo.base_dir / s.prompt_file).is_file():
            raise TopologyError(file, where, f"field 'prompt_file': {s.prompt_file} does not exist",
                                f"paths are relative to {topo.base_dir}")
        if s.branch_on is not None:
            if s.branch_on not in s.depends_on:
                raise TopologyError(file, where, f"field 'branch_on': '{s.branch_on}' is not in depends_on",
                                    f"add \"{s.branch_on}\" to depends_on")
            if topo.stage(s.branch_on).output_kind != "classification":
                raise TopologyError(file, where, f"field 'branch_on': stage '{s.branch_on}' does not output "
                                    "a classification", "branch on the classify stage")
        elif s.branches:
            raise TopologyError(file, where, "field 'branches' needs 'branch_on'",
                                'add branch_on = "classify"')
        for cat, br in s.branches.items():
            if cat not in CATEGORIES:
                near = difflib.get_close_matches(cat, CATEGORIES, n=1)
                hint = f"did you mean '{near[0]}'?" if near else f"categories are: {', '.join(CATEGORIES)}"
                raise TopologyError(file, where, f"field 'branches': unknown category '{cat}'", hint)
            if br.prompt_file and not (topo.base_dir / br.prompt_file).is_file():
                raise TopologyError(file, where, f"field 'branches.{cat}.prompt_file': {br.prompt_file} "
                                    "does not exist", f"paths are relative to {topo.base_dir}")
            _check_globs(file, topo, where, f"branches.{cat}.read", br.read)
        _check_globs(file, topo, where, "read", s.read)
    cycle = _find_cycle(topo.stages)
    if cycle:
        raise TopologyError(file, f"stage '{cycle[0]}'", "field 'depends_on': dependency cycle "
                            + " -> ".join(cycle), "remove one of these dependencies")
    for key in topo.escalation:
        if key not in CATEGORIES and not any(key in (j.escalation or {}).values() for j in topo.jobs.values()):
            near = difflib.get_close_matches(key, CATEGORIES, n=1)
            raise TopologyError(file, f"[escalation.{key}]", "not a category and no job refers to it",
                                f"did you mean '{near[0]}'?" if near else
                                f"use one of {', '.join(CATEGORIES)} or refer to it from a job's escalation")
    for name, job in topo.jobs.items():
        for cat, key in (job.escalation or {}).items():
            if cat not in CATEGORIES:
                raise TopologyError(file, f"[jobs.{name}]", f"field 'escalation': unknown category '{cat}'",
                                    f"categories are: {', '.join(CATEGORIES)}")
            if key not in topo.escalation:
                raise TopologyError(file, f"[jobs.{name}]", f"field 'escalation.{cat}': no [escalation.{key}] "
                                    "table", f"add [escalation.{key}] with team, channel and mention")
    _check_job_paths(file, topo)
    for i, pat in enumerate(topo.alerts.patterns):
        _check_regex(file, "[alerts]", f"patterns[{i}]", pat)
    for p in topo.redaction.patterns:
        _check_regex(file, "[redaction]", f"patterns '{p.name}'", p.pattern)


def _check_job_paths(file: str, topo: Topology) -> None:
    """Job paths must be readable by the stages that use them: logs by the first reading stage, the rest
    (upstream, repo, config) by the investigating stage. Code paths are relative to the repo."""
    reader = next((s for s in topo.order() if s.read), None)
    inv = next((s for s in topo.stages if s.output_kind == "investigation"), None)
    inv_globs = ([*topo.read_globs(inv), *(g for b in inv.branches for g in topo.read_globs(inv, b))]
                 if inv else [])
    base = topo.jobs.get("*", JobSpec())
    for name, own in topo.jobs.items():
        job = base.model_copy(update=own.model_dump(exclude_none=True))
        where = '[jobs."*"]' if name == "*" else f"[jobs.{name}]"
        mine = own.model_fields_set
        checks: list[tuple[str, str, StageSpec | None, list[str]]] = []
        if job.logs and "logs" in mine:
            checks.append(("logs", job.logs, reader, topo.read_globs(reader) if reader else []))
        if "upstream" in mine:
            checks += [("upstream", u, inv, inv_globs) for u in job.upstream or []]
        if job.repo and "repo" in mine:
            checks.append(("repo", job.repo, inv, inv_globs))
        if job.config and {"config", "repo"} & mine and (job.config.startswith(("/", "{")) or job.repo):
            cfg = job.config if job.config.startswith(("/", "{")) else f"{job.repo.rstrip('/')}/{job.config}"
            checks.append(("config", cfg, inv, inv_globs))
        for field, raw, stage, globs in checks:
            if stage is None:
                continue
            path = topo.expand(raw, job="JOB" if name == "*" else name)
            if unknown := VAR_RE.findall(path):
                raise TopologyError(file, where, f"field '{field}': unknown variable '{{{unknown[0]}}}' in "
                                    f"{raw!r}", f"define it under [vars] or pass --var {unknown[0]}=VALUE")
            if not _within(path, globs):
                raise TopologyError(file, where, f"field '{field}': {path!r} is outside the read allowlist of "
                                    f"stage '{stage.name}'", f"it may read {', '.join(globs) or 'nothing'}; "
                                    "move the path under one of them or add it to that stage's read list")
        for c in job.code or []:
            if c.startswith("/") or ".." in c.split("/"):
                raise TopologyError(file, where, f"field 'code': {c!r} must be relative to the job's repo",
                                    'e.g. code = ["dags/orders"]')


def _within(path: str, globs: list[str]) -> bool:
    p = posixpath.normpath(re.split(r"[*?\[]", path, maxsplit=1)[0]) if re.search(r"[*?\[]", path) else \
        posixpath.normpath(path)
    for g in globs:
        root = posixpath.normpath(re.split(r"[*?\[]", g, maxsplit=1)[0].rstrip("/") or "/")
        if fnmatch.fnmatch(p, g) or p == root or p.startswith(root.rstrip("/") + "/"):
            return True
    return False


def _check_regex(file: str, where: str, field: str, pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error as e:
        raise TopologyError(file, where, f"field {field}: invalid regex: {e}") from None


def _check_globs(file: str, topo: Topology, where: str, field: str, globs: list[str]) -> None:
    for g in globs:
        if not g.strip():
            raise TopologyError(file, where, f"field '{field}': empty path", "remove it or name a directory")
        expanded = topo.expand(g)
        unknown = VAR_RE.findall(expanded)
        if unknown:
            raise TopologyError(file, where, f"field '{field}': unknown variable '{{{unknown[0]}}}' in {g!r}",
                                f"define it under [vars] or pass --var {unknown[0]}=VALUE")
        if not expanded.startswith("/"):
            raise TopologyError(file, where, f"field '{field}': {g!r} is relative",
                                "read allowlists must be absolute, e.g. \"{log_root}/**\"")
        if expanded.rstrip("/*") == "":
            raise TopologyError(file, where, f"field '{field}': {g!r} would allow the whole filesystem",
                                "name the log directory instead")


def _find_cycle(stages: list[StageSpec]) -> list[str] | None:
    deps = {s.name: s.depends_on for s in stages}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for d in deps.get(n, []):
            if state.get(d) == 1:
                return [*stack[stack.index(d):], d]
            if d not in state and (c := visit(d)):
                return c
        stack.pop()
        state[n] = 2
        return None

    for s in stages:
        if s.name not in state and (c := visit(s.name)):
            return c
    return None
