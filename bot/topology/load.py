"""`topology.toml` → a validated `Topology`: read (bounded, regular files only), parsed, validated by the models
(bot/topology/spec.py), then checked for what pydantic cannot see (bot/topology/checks.py). Every error names the
file, the stage and the field."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import tomli
from pydantic import BaseModel, ValidationError

from bot.errors import TopologyError
from bot.topology.checks import check_semantics
from bot.topology.spec import (
    MAX_TOPOLOGY_BYTES,
    VAR_RE,
    AlertSender,
    AlertsSpec,
    BranchSpec,
    EscalationSpec,
    IncidentsSpec,
    JobSpec,
    PipelineSpec,
    RedactionPattern,
    RedactionSpec,
    StageSpec,
    Topology,
    _Document,
    read_regular,
)


def load_topology(path: str | Path, overrides: dict[str, str] | None = None) -> Topology:
    """Read, parse and validate a topology file. Raises `TopologyError` with a located message."""
    path = Path(path)
    file = str(path)
    try:
        raw_bytes = read_regular(path, MAX_TOPOLOGY_BYTES)
    except FileNotFoundError:
        raise TopologyError(file, "", "file not found", "pass --topology PATH, run from the jobs repo's root, "
                            "or create one with `etl-triage init`") from None
    except OSError as e:
        raise TopologyError(file, "", f"cannot read: {e.strerror}") from None
    except ValueError as e:
        raise TopologyError(file, "", str(e), "point --topology at the topology.toml file itself") from None
    try:
        raw = tomli.loads(raw_bytes.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise TopologyError(file, "", f"not UTF-8 text (byte {e.start})") from None
    except tomli.TOMLDecodeError as e:
        raise TopologyError(file, "", f"invalid TOML: {e}", "fix the syntax at that line and column") from None
    except RecursionError:
        raise TopologyError(file, "", "invalid TOML: arrays or tables nested too deeply",
                            "a topology needs a few levels; flatten the value") from None
    try:
        doc = _Document.model_validate(raw)
    except ValidationError as e:
        raise _located(file, raw, e) from None
    except RecursionError:
        raise TopologyError(file, "", "values nested too deeply", "a topology needs a few levels") from None
    topo = Topology(
        path=path.resolve(),
        pipeline=doc.pipeline,
        vars={**doc.vars, **(overrides or {})},
        jobs=doc.jobs,
        escalation=doc.escalation,
        alerts=doc.alerts,
        redaction=doc.redaction,
        incidents=doc.incidents,
    )
    topo._declared = frozenset(doc.vars) | (frozenset(VAR_RE.findall(raw_bytes.decode("utf-8"))) - {"job"})
    check_semantics(file, topo)
    _load_prompts(file, topo)
    return topo


def _load_prompts(file: str, topo: Topology) -> None:
    """Every prompt read now, so a triage never touches the disk for them (and a prompt edited or removed after
    start-up cannot break a running bot); a missing or undecodable one named by its stage, field and path."""
    for s in topo.stages:
        wanted = [("prompt_file", s.prompt_file)]
        wanted += [(f"branches.{b}.prompt_file", br.prompt_file) for b, br in s.branches.items() if br.prompt_file]
        for field_name, rel in wanted:
            try:
                topo.prompt_file_text(rel)
            except UnicodeDecodeError as e:
                raise TopologyError(file, f"stage '{s.name}'", f"field '{field_name}': {rel} is not UTF-8 text "
                                    f"(byte {e.start})", "save the prompt as UTF-8") from None
            except (OSError, ValueError) as e:
                raise TopologyError(file, f"stage '{s.name}'", f"field '{field_name}': cannot read {rel}: {e}",
                                    "check the prompts/ files") from None


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
    ("alerts", "senders", "*"): AlertSender,
    ("redaction",): RedactionSpec,
    ("redaction", "patterns", "*"): RedactionPattern,
    ("incidents",): IncidentsSpec,
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
    if loc and loc[0] in ("pipeline", "alerts", "redaction", "vars", "incidents"):
        return f"[{loc[0]}]", ".".join(str(p) for p in loc[1:])
    return "top level", ".".join(str(p) for p in loc)


def _located(file: str, raw: dict[str, Any], err: ValidationError) -> TopologyError:
    # An unknown key first: a misspelt `prompt_flie` is why `prompt_file` is missing.
    errors = err.errors()
    e = next((x for x in errors if x["type"] == "extra_forbidden"), errors[0])
    loc = tuple(e["loc"])
    where, field = _describe(raw, loc)
    kind = e["type"]
    if kind == "extra_forbidden":
        parent = tuple("*" if isinstance(p, int) or (i and loc[i - 1] in ("jobs", "escalation", "branches"))
                       else p for i, p in enumerate(loc[:-1]))
        model = _MODEL_AT.get(parent)
        key = str(loc[-1])
        missing = [str(x["loc"][-1]) for x in errors if x["type"] == "missing" and tuple(x["loc"][:-1]) == loc[:-1]]
        near = difflib.get_close_matches(key, missing, n=1) or (
            difflib.get_close_matches(key, _fields(model), n=1) if model else [])
        hint = f"did you mean '{near[0]}'?" if near else (
            f"allowed: {', '.join(_fields(model))}" if model else None)
        field_where = ".".join(str(p) for p in loc[3:-1]) if where.startswith("stage") else ""
        prefix = f"{where}" + (f", {field_where}" if field_where else "")
        return TopologyError(file, prefix, f"unknown key '{key}'", hint)
    if kind == "missing" and not field:
        return TopologyError(file, "", f"missing required table {where}",
                             'start with [pipeline] and at least one [[pipeline.stages]] (name, prompt_file)')
    if kind == "missing":
        return TopologyError(file, where, f"missing required field '{field}'")
    msg = str(e["msg"]).removeprefix("Value error, ")
    return TopologyError(file, where, f"field '{field}': {msg}" if field else msg)
