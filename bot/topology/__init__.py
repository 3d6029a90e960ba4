"""The topology: `topology.toml`, loaded and validated. `load_topology(path)` → `Topology`.

Modules: `spec` (the pydantic models, `Topology`), `checks` (semantic checks: names, cycles, branches, prompts,
globs, variables, job paths), `load` (read, parse, validate, locate errors). The names below are the API.
"""

from bot.topology.load import load_topology
from bot.topology.spec import (
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
    read_regular,
)

__all__ = ["VAR_RE", "AlertSender", "AlertsSpec", "BranchSpec", "EscalationSpec", "IncidentsSpec", "JobSpec",
           "PipelineSpec", "RedactionPattern", "RedactionSpec", "StageSpec", "Topology", "load_topology",
           "read_regular"]
