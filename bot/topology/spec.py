"""What `topology.toml` says, as pydantic models: the pipeline and its stages, jobs, escalation, alerts, redaction,
incidents, and the loaded `Topology`. Unknown keys are errors and values are not coerced."""

from __future__ import annotations

import os
import re
import stat
from graphlib import TopologicalSorter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StrictBool, field_validator

from bot.contract import OutputKind

if TYPE_CHECKING:
    from bot.sandbox.patterns import LinearPattern

VAR_RE = re.compile(r"\{(\w+)\}")
DEFAULT_OUTPUTS: dict[str, OutputKind] = {
    "classify": "classification",
    "investigate": "investigation",
    "recommend": "recommendation",
}


class _Strict(BaseModel):
    """Unknown keys are errors, and values are not coerced: `timeout_s = true` or
    `require_os_enforcement = "yes"` is a type error, not a 1 s budget or a silent True."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)


class BranchSpec(_Strict):
    """What `investigate` does differently for one category."""

    prompt_file: str | None = None
    read: list[str] = Field(default_factory=list)


class StageSpec(_Strict):
    name: str
    prompt_file: str
    depends_on: list[str] = Field(default_factory=list)
    read: list[str] = Field(default_factory=list)
    timeout_s: float = Field(30.0, gt=0, allow_inf_nan=False)   # inf: a stage that may hang for good
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
    timeout_s: float = Field(120.0, gt=0, allow_inf_nan=False)
    require_os_enforcement: bool = False
    allow_hardlinks: bool = Field(False, description="read regular files with more than one link")
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


SLACK_SENDER_RE = re.compile(r"[UWB][A-Z0-9]{2,30}")
SLACK_CHANNEL_RE = re.compile(r"[CGD][A-Z0-9]{2,30}")


class AlertSender(_Strict):
    """A sender whose messages are read as alerts although Slack reports a person (alerts posted with a user
    token). `channels` limits it to those channel ids; empty means every watched channel."""

    id: str
    channels: list[str] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not SLACK_SENDER_RE.fullmatch(v):
            raise ValueError(f"{v!r} is not a Slack user or bot id; use the U…/W…/B… id (profile → ⋮ → Copy "
                             "member ID), not a name")
        return v

    @field_validator("channels")
    @classmethod
    def _channels(cls, v: list[str]) -> list[str]:
        bad = [c for c in v if not SLACK_CHANNEL_RE.fullmatch(c)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a channel id; use the C…/G… id from the channel's About tab")
        return v


class AlertsSpec(_Strict):
    """How to read alerts posted to Slack. Patterns are regexes (RE2 syntax, case-insensitive) with named groups
    job, run_id, task, log."""

    patterns: list[str] = Field(default_factory=list)
    failure_words: list[str] = Field(default_factory=list)
    late_is_failure: StrictBool = False
    senders: list[AlertSender] = Field(
        default_factory=list, description="user/bot ids whose messages count as alerts, optionally per channel")
    _compiled: list[Any] | None = PrivateAttr(None)   # LinearPattern (RE2)

    @field_validator("senders", mode="before")
    @classmethod
    def _sender_strings(cls, v: Any) -> Any:
        """`senders = ["U0123", { id = "U0456", channels = ["C0ALERTS"] }]`: a bare id is every channel."""
        return [{"id": x} if isinstance(x, str) else x for x in v] if isinstance(v, list) else v

    def allowed_senders(self, channel: str | None) -> tuple[str, ...]:
        return tuple(s.id for s in self.senders if not s.channels or (channel is not None and channel in s.channels))

    def compiled_patterns(self) -> list[LinearPattern]:
        """On RE2: they run on every message in a watched channel, in time linear in it whatever they say."""
        if self._compiled is None:
            from bot.sandbox.patterns import compile_linear

            self._compiled = [compile_linear(p, ignore_case=True) for p in self.patterns]
        return self._compiled


class RedactionPattern(_Strict):
    name: str
    pattern: str


class RedactionSpec(_Strict):
    enabled: bool = True
    patterns: list[RedactionPattern] = Field(default_factory=list)


class IncidentsSpec(_Strict):
    """Incident memory: alerts with the same fingerprint (or naming the same infra host/warehouse/bucket) within
    `window_m` minutes share one triage; the history of `memory_days` is shown on each report; `learn` lets a
    team's confirmed corrections override the category next time."""

    enabled: StrictBool = True
    window_m: float = Field(30.0, gt=0, le=24 * 60, strict=True,
                            description="minutes an incident stays open after its last alert")
    memory_days: int = Field(30, ge=0, le=365, strict=True, description="how far back 'seen N× in D days' looks")
    learn: StrictBool = True

    @property
    def window_s(self) -> float:
        return self.window_m * 60


class _Document(_Strict):
    pipeline: PipelineSpec
    vars: dict[str, str] = Field(default_factory=dict)
    jobs: dict[str, JobSpec] = Field(default_factory=dict)
    escalation: dict[str, EscalationSpec] = Field(default_factory=dict)
    alerts: AlertsSpec = Field(default_factory=AlertsSpec)
    redaction: RedactionSpec = Field(default_factory=RedactionSpec)
    incidents: IncidentsSpec = Field(default_factory=IncidentsSpec)


class Topology(BaseModel):
    """A loaded, validated topology plus where it came from."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    _prompts: dict[str, str] = PrivateAttr(default_factory=dict)
    _declared: frozenset[str] = PrivateAttr(default_factory=frozenset)

    path: Path
    pipeline: PipelineSpec
    vars: dict[str, str]
    jobs: dict[str, JobSpec]
    escalation: dict[str, EscalationSpec]
    alerts: AlertsSpec
    redaction: RedactionSpec
    incidents: IncidentsSpec = Field(default_factory=IncidentsSpec)

    @property
    def declared_vars(self) -> frozenset[str]:
        """The names under [vars] and the `{name}`s the file uses: what an override may set."""
        return self._declared

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
        text = self.prompt_file_text(stage.prompt_file)
        if branch and branch in stage.branches and (extra := stage.branches[branch].prompt_file):
            text += "\n\n" + self.prompt_file_text(extra)
        return text

    def prompt_file_text(self, rel: str) -> str:
        """A prompt file's text (read once, then from memory)."""
        if rel not in self._prompts:
            self._prompts[rel] = read_regular(self.base_dir / rel, MAX_PROMPT_BYTES).decode("utf-8")
        return self._prompts[rel]

    def order(self) -> list[StageSpec]:
        """Stages in a dependency-respecting order (stable: of the stages whose dependencies are placed, the
        first in the file comes next). Raises graphlib.CycleError on a cycle (`validate` refuses those)."""
        index = {s.name: i for i, s in enumerate(self.pipeline.stages)}
        sorter = TopologicalSorter({s.name: [d for d in s.depends_on if d in index] for s in self.pipeline.stages})
        sorter.prepare()
        ready: set[str] = set()
        out: list[StageSpec] = []
        while sorter.is_active():
            ready.update(sorter.get_ready())
            name = min(ready, key=index.__getitem__)
            ready.remove(name)
            out.append(self.pipeline.stages[index[name]])
            sorter.done(name)
        return out

    def escalation_for(self, category: str, job: JobSpec | None = None) -> EscalationSpec | None:
        key = (job.escalation or {}).get(category, category) if job else category
        return self.escalation.get(key)


MAX_TOPOLOGY_BYTES = 1 << 20
MAX_PROMPT_BYTES = 256 << 10


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes. A FIFO, a device (`/dev/zero` behind a symlink)
    or an oversized file raises ValueError with the reason, without blocking or reading it whole."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a directory" if stat.S_ISDIR(st.st_mode)
                    else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "a socket")
            raise ValueError(f"not a regular file ({kind})")
        if st.st_size > limit:
            raise ValueError(f"too large ({st.st_size:,} bytes; at most {limit:,})")
        data = os.read(fd, limit + 1)
        if len(data) > limit:
            raise ValueError(f"too large (more than {limit:,} bytes)")
        return data
    finally:
        os.close(fd)
