"""Offline recommendation from classification + investigation. (Placeholder.)"""

from __future__ import annotations

from bot.escalation import escalation_for
from bot.providers.base import StageRequest
from bot.report import Investigation, Recommendation


def recommend(req: StageRequest) -> Recommendation:
    cls = req.classification
    inv = req.input_of(Investigation)
    decided = inv or cls
    category = decided.category if decided else "unknown"
    return Recommendation(
        category=category, confidence=decided.confidence if decided else 0.0,
        root_cause=decided.summary if decided else "no conclusion",
        action="Read the evidence lines and the log.",
        escalation=escalation_for(req.topology, category, req.tools.job),
        evidence=cls.evidence if cls else [],
    )
