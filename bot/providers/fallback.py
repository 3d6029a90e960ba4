"""Running one stage on a provider: held to the stage's timeout, the answer checked, and a fallback.

`Bounded(provider)` runs a stage on `provider` within the stage's `timeout_s` and checks that the answer is
the stage's output model; anything that goes wrong is a `StageFailed` with the status and reason the report
shows. `WithFallback(primary, fallback)` runs `primary` like that and, when it fails or times out, hands the
stage to `fallback` (the offline engine) within FALLBACK_TIMEOUT_S; the outcome says who produced it and why.
The engine wraps the provider it is given in one of the two; neither knows any concrete provider.
"""

from __future__ import annotations

import asyncio
import logging

from bot.contract import StageStatus
from bot.errors import BotError, brief
from bot.providers.base import Provider, StageOutcome, StageRequest, Usage

log = logging.getLogger(__name__)
FALLBACK_TIMEOUT_S = 10.0


class StageFailed(Exception):
    """A stage produced nothing: `status` is `failed` or `timeout`, `reason` what the report says."""

    def __init__(self, status: StageStatus, reason: str, usage: Usage | None = None) -> None:
        super().__init__(reason)
        self.status: StageStatus = status
        self.reason = reason
        self.usage = usage


class Bounded:
    """`provider`, held to each stage's timeout (or `timeout_s` for every stage), its answers checked against
    the stage's output model."""

    def __init__(self, provider: Provider, *, quiet: bool = False, timeout_s: float | None = None) -> None:
        self.inner, self.name, self.quiet, self.timeout_s = provider, provider.name, quiet, timeout_s

    async def run_stage(self, request: StageRequest) -> StageOutcome:
        timeout = self.timeout_s if self.timeout_s is not None else request.stage.timeout_s
        try:
            async with asyncio.timeout(timeout):
                outcome = await self.inner.run_stage(request)
            if not isinstance(outcome.output, request.output_model):
                raise TypeError(f"provider returned {type(outcome.output).__name__}, "
                                f"stage needs {request.output_model.__name__}")
        except TimeoutError as e:   # the provider was cut off: what it had spent is on the request
            spent = request.spent if request.spent.round_trips else None
            raise StageFailed("timeout", f"timed out after {timeout:g}s", spent) from e
        except Exception as e:
            if not self.quiet and not isinstance(e, BotError):
                log.exception("stage %s failed", request.stage.name)
            spent = getattr(e, "usage", None)
            raise StageFailed("failed", brief(e), spent if isinstance(spent, Usage) else None) from e
        outcome.provider = outcome.provider or self.name
        return outcome

    async def aclose(self) -> None:
        await self.inner.aclose()


class WithFallback:
    """`primary` for every stage; a stage it fails (error, timeout, wrong answer type) goes to `fallback`, which
    is held to the same checks: a fallback that hangs or answers the wrong type fails the stage, it never
    reaches the report."""

    def __init__(self, primary: Provider, fallback: Provider, *, fallback_timeout_s: float = FALLBACK_TIMEOUT_S
                 ) -> None:
        self.primary, self.fallback, self.name = primary, fallback, primary.name
        self._primary = Bounded(primary, quiet=True)
        self._fallback = Bounded(fallback, timeout_s=fallback_timeout_s)

    async def run_stage(self, request: StageRequest) -> StageOutcome:
        try:
            return await self._primary.run_stage(request)
        except StageFailed as e:
            why, spent = e.reason, e.usage
        try:
            outcome = await self._fallback.run_stage(request)
        except StageFailed as e2:
            raise StageFailed(e2.status, f"{why}; {self.fallback.name} fallback: {e2.reason}", spent) from e2
        outcome.fallback = f"{self.primary.name}: {why}"
        outcome.provider = self.fallback.name
        if spent is not None:  # what the failed attempt cost still belongs in the report
            outcome.usage = Usage(model=spent.model, round_trips=spent.round_trips,
                                  input_tokens=spent.input_tokens, output_tokens=spent.output_tokens)
        return outcome

    async def aclose(self) -> None:
        await asyncio.gather(self.primary.aclose(), self.fallback.aclose())
