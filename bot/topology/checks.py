"""Semantic checks of a parsed topology. Each failure is a TopologyError naming file, stage and field."""

from __future__ import annotations

import difflib
import fnmatch
import posixpath
import re
from graphlib import CycleError, TopologicalSorter

from bot.contract import CATEGORIES
from bot.errors import TopologyError
from bot.sandbox.patterns import PatternRefused, compile_linear
from bot.sandbox.policy import fixed_root
from bot.topology.spec import VAR_RE, JobSpec, StageSpec, Topology


def check_semantics(file: str, topo: Topology) -> None:
    """Everything pydantic cannot see: names, dependencies, cycles, prompts, branches, paths, regexes."""
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
        _check_prompt(file, topo, where, "prompt_file", s.prompt_file)
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
            if br.prompt_file:
                _check_prompt(file, topo, where, f"branches.{cat}.prompt_file", br.prompt_file)
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
        _check_regex(file, "[alerts]", f"patterns[{i}]", pat, ignore_case=True)
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
            cfg = job.config if job.config.startswith(("/", "{")) else f"{(job.repo or '').rstrip('/')}/{job.config}"
            checks.append(("config", cfg, inv, inv_globs))
        for field, raw, stage, globs in checks:
            if stage is None:
                continue
            path = topo.expand(raw, job="JOB" if name == "*" else name)
            if unknown := VAR_RE.findall(path):
                raise _unknown_var(file, topo, where, field, unknown[0], raw)
            allowed = ", ".join(dict.fromkeys(globs))
            if not _within(path, globs):
                raise TopologyError(file, where, f"field '{field}': {path!r} is outside the read allowlist of "
                                    f"stage '{stage.name}'", f"it may read {allowed or 'nothing'}; "
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


def _check_prompt(file: str, topo: Topology, where: str, field: str, rel: str) -> None:
    """A prompt is a file inside the topology's directory: it is sent to a model, so nothing else may be."""
    base = topo.base_dir.resolve()
    path = (base / rel).resolve()
    if not path.is_relative_to(base):
        raise TopologyError(file, where, f"field '{field}': {rel} is outside {base}",
                            "prompts must live in the repository, e.g. prompts/classify-failure.md")
    if not path.exists():
        raise TopologyError(file, where, f"field '{field}': {rel} does not exist", f"paths are relative to {base}")
    if not path.is_file():
        kind = "a directory" if path.is_dir() else "a FIFO" if path.is_fifo() else "not a regular file"
        raise TopologyError(file, where, f"field '{field}': {rel} is {kind}", "a prompt is a Markdown file")


def _check_regex(file: str, where: str, field: str, pattern: str, ignore_case: bool = False) -> None:
    """Compiles as it will run, on RE2 (linear time on every Slack message or log line, whatever the pattern)."""
    try:
        compile_linear(pattern, ignore_case=ignore_case)
    except PatternRefused as e:
        raise TopologyError(file, where, f"field {field}: regex refused: {e}") from None


def _unknown_var(file: str, topo: Topology, where: str, field: str, name: str, raw: str) -> TopologyError:
    if name in topo.vars:
        return TopologyError(file, where, f"field '{field}': variable '{{{name}}}' in {raw!r} refers to itself or "
                             "to another variable", "[vars] values are used as written; give it a literal path")
    return TopologyError(file, where, f"field '{field}': unknown variable '{{{name}}}' in {raw!r}",
                         f"define it under [vars] or pass --var {name}=VALUE")


def _check_globs(file: str, topo: Topology, where: str, field: str, globs: list[str]) -> None:
    for g in globs:
        if not g.strip():
            raise TopologyError(file, where, f"field '{field}': empty path", "remove it or name a directory")
        expanded = topo.expand(g)
        unknown = VAR_RE.findall(expanded)
        if unknown:
            raise _unknown_var(file, topo, where, field, unknown[0], g)
        if not expanded.startswith("/"):
            raise TopologyError(file, where, f"field '{field}': {g!r} is relative",
                                "read allowlists must be absolute, e.g. \"{log_root}/**\"")
        if fixed_root(expanded) == "/":
            shown = g if g == expanded else f"{g!r} (= {expanded!r})"
            raise TopologyError(file, where, f"field '{field}': {shown} would allow the whole filesystem",
                                "its fixed prefix resolves to /; name the log directory instead")


def _find_cycle(stages: list[StageSpec]) -> list[str] | None:
    """A dependency cycle as `a, b, …, a` where each stage depends on the next, or None. graphlib finds it;
    its edges point from a stage to the stages it depends on here, so the cycle reads along depends_on."""
    needed_by: dict[str, list[str]] = {s.name: [] for s in stages}
    for s in stages:
        for d in s.depends_on:
            needed_by.setdefault(d, []).append(s.name)
    try:
        TopologicalSorter(needed_by).prepare()
    except CycleError as e:
        return list(e.args[1])
    return None
