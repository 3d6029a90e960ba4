"""The offline provider: rules over the sandboxed log and investigation tools. Deterministic."""

from __future__ import annotations

from bot.contract import Classification, Investigation, Recommendation, Text
from bot.offline.investigate import investigate
from bot.offline.recommend import recommend
from bot.providers.base import StageOutcome, StageRequest, Usage


class OfflineProvider:
    name = "offline"

    async def run_stage(self, request: StageRequest) -> StageOutcome:
        model, ctx, inputs, sandbox = request.output_model, request.context, request.inputs, request.tools.sandbox
        out: Classification | Investigation | Recommendation | Text
        if model is Classification:
            out = await ctx.reading(sandbox)   # the triage's deterministic reading: computed once, shared
        elif model is Investigation:
            cls = inputs.classification or Classification(category="unknown", confidence=0.0,
                                                           summary="nothing classified")
            facts = await ctx.facts(sandbox, cls.facts.get("partition"))
            out = await investigate(cls, sandbox, ctx.job, facts)
        elif model is Recommendation:
            out = recommend(inputs.classification, inputs.investigation)
        else:
            parts = [getattr(v, "summary", None) or getattr(v, "root_cause", "") for v in inputs.values()]
            out = Text(text=" ".join(p for p in parts if p) or "(no input)")
        return StageOutcome(output=out, usage=Usage(model="rules"))

    async def aclose(self) -> None:
        return None
