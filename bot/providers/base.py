"""The one interface every provider implements, and what it is given."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel

from bot.contract import Alert, Classification, Investigation

if TYPE_CHECKING:
    from bot.toolbox import Toolbox
    from bot.topology import StageSpec, Topology
    from bot.triage_context import TriageContext


class StageInputs(Mapping[str, BaseModel]):
    """The typed outputs of the stages this one depends on, by stage name, with the usual ones by type."""

    def __init__(self, outputs: Mapping[str, BaseModel] | None = None) -> None:
        self._outputs = dict(outputs or {})

    def __getitem__(self, name: str) -> BaseModel:
        return self._outputs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._outputs)

    def __len__(self) -> int:
        return len(self._outputs)

    def __repr__(self) -> str:
        return f"StageInputs({self._outputs!r})"

    @property
    def classification(self) -> Classification | None:
        return next((v for v in self._outputs.values() if isinstance(v, Classification)), None)

    @property
    def investigation(self) -> Investigation | None:
        return next((v for v in self._outputs.values() if isinstance(v, Investigation)), None)


@dataclass
class StageRequest:
    """Everything a provider may use to run one stage. Files are reachable only through `tools`; what the
    whole triage knows (alert, job, the log's excerpt and facts, escalation, token ledger) is `context`."""

    context: TriageContext
    stage: StageSpec
    branch: str | None            # the category `investigate` branches on, if it branches
    prompt: str                   # stage prompt (+ branch prompt), from prompts/*.md
    inputs: StageInputs           # typed outputs of the stages this one depends on
    tools: Toolbox                # the stage's sandboxed tools
    output_model: type[BaseModel]
    # what the stage has spent so far, kept here so a stage cut off by its timeout still reports its cost
    spent: Usage = field(default_factory=lambda: Usage())

    @property
    def topology(self) -> Topology:
        return self.context.topology

    @property
    def alert(self) -> Alert:
        return self.context.alert


@dataclass
class Usage:
    model: str | None = None
    round_trips: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class StageOutcome:
    output: BaseModel
    usage: Usage = field(default_factory=Usage)
    fallback: str | None = None   # why another provider produced the stage (set by WithFallback)
    provider: str | None = None   # who produced it, when not the provider asked (set by WithFallback)


class Provider(Protocol):
    name: str

    async def run_stage(self, request: StageRequest) -> StageOutcome:
        """Produce `request.output_model` for the stage, or raise ProviderError."""
        ...

    async def aclose(self) -> None: ...
