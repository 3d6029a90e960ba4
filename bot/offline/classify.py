"""Classify a failed run from its log excerpt. (Placeholder; the signature library replaces it.)"""

from __future__ import annotations

from bot.report import Alert, Classification, Evidence
from bot.sandbox import Excerpt


def classify(excerpt: Excerpt | None, alert: Alert) -> Classification:
    if excerpt is None:
        return Classification(category="unknown", confidence=0.0, summary="no log to read")
    for ln in reversed(excerpt.lines):
        if "Error" in ln.text or "Exception" in ln.text:
            return Classification(category="unknown", confidence=0.2, summary=ln.text.strip()[:200],
                                  evidence=[Evidence(path=excerpt.path, line=ln.number, text=ln.text)])
    return Classification(category="unknown", confidence=0.0, summary="no error line found")
