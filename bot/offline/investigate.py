"""Offline investigation. (Placeholder; the investigation-context issue fills it in.)"""

from __future__ import annotations

from bot.providers.base import StageRequest
from bot.report import Finding, Investigation


async def investigate(req: StageRequest) -> Investigation:
    cls = req.classification
    if cls is None:
        return Investigation(category="unknown", confidence=0.0, summary="nothing classified")
    return Investigation(category=cls.category, confidence=cls.confidence, summary=cls.summary,
                         findings=[Finding(source="log", summary=cls.summary, evidence=cls.evidence)])
