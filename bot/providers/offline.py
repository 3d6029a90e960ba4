"""The offline provider: rules over the sandboxed log and investigation tools. Deterministic."""

from __future__ import annotations

from bot.offline.classify import classify
from bot.offline.investigate import investigate
from bot.offline.recommend import recommend
from bot.providers.base import StageOutcome, StageRequest, Usage
from bot.report import Classification, Investigation, Recommendation, Text


class OfflineProvider:
    name = "offline"

    async def run_stage(self, request: StageRequest) -> StageOutcome:
        model = request.output_model
        if model is Classification:
            out = classify(await request.tools.log_excerpt(), request.alert)
        elif model is Investigation:
            out = await investigate(request)
        elif model is Recommendation:
            out = recommend(request)
        else:
            parts = [getattr(v, "summary", None) or getattr(v, "root_cause", "") for v in request.inputs.values()]
            out = Text(text=" ".join(p for p in parts if p) or "(no input)")
        return StageOutcome(output=out, usage=Usage(model="rules"))

    async def aclose(self) -> None:
        return None
