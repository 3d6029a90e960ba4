"""The one interface every provider implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel

from bot.report import Alert, Classification

if TYPE_CHECKING:
    from bot.tools import Toolbox
    from bot.topology import StageSpec, Topology


@dataclass
class StageRequest:
    """Everything a provider may use to run one stage. Files are reachable only through `tools`."""

    topology: Topology
    stage: StageSpec
    branch: str | None            # the category `investigate` branches on, if it branches
    prompt: str                   # stage prompt (+ branch prompt), from prompts/*.md
    alert: Alert
    inputs: dict[str, BaseModel]  # typed outputs of the stages this one depends on, by stage name
    tools: Toolbox                # the stage's sandboxed tools
    output_model: type[BaseModel]

    def input_of(self, kind: type[BaseModel]) -> BaseModel | None:
        """The first dependency output of this type (e.g. the Classification), or None."""
        return next((v for v in self.inputs.values() if isinstance(v, kind)), None)

    @property
    def classification(self) -> Classification | None:
        return self.input_of(Classification)  # type: ignore[return-value]


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
    fallback: str | None = None   # set when a provider had to hand the stage to the offline engine


class Provider(Protocol):
    name: str

    async def run_stage(self, request: StageRequest) -> StageOutcome:
        """Produce `request.output_model` for the stage, or raise ProviderError."""
        ...

    async def aclose(self) -> None: ...
