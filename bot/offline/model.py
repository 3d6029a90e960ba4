"""The learned fallback: a linear model over the root lines' tokens, for logs no rule decides.

Signatures and taxonomies are reviewed rules; this model carries what the labelled corpus says about the
words around errors that no rule names (`insufficient quota`, `satisfactory version`, a frame inside the
tool's own package). It is trained by `eval/train_model.py` on the corpora's dev splits only; its weights
are a reviewable JSON file beside this module. Inference is a dictionary sum and a softmax: well under 1 ms.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from bot.contract import CATEGORIES, Category
from bot.offline.rootline import RootLine
from bot.sandbox import Line

WEIGHTS = Path(__file__).with_name("model.json")
LABELS: tuple[Category, ...] = tuple(c for c in CATEGORIES if c != "unknown")
_WORD = re.compile(r"[A-Za-z][a-z]{2,24}|[A-Z]{2,}(?![a-z])")
_FRAME_LIB = re.compile(r'File "[^"]*(?:site-packages|dist-packages)/(\w+)|^\s*at (?:org\.apache\.|com\.|io\.)(\w+)')
_STOP = frozenset({
    "the", "and", "for", "with", "from", "that", "this", "was", "were", "are", "not", "into", "has", "have",
    "had", "been", "its", "their", "there", "then", "than", "line", "file", "error", "errors", "exception",
    "info", "warning", "warn", "debug", "trace",
})
TOP_ROOTS = 3


@dataclass(frozen=True)
class Prediction:
    category: Category
    probability: float
    runner_up: Category
    runner_up_probability: float
    features: tuple[str, ...]


def _tokens(text: str) -> Iterable[str]:
    for w in _WORD.findall(text[:600]):
        low = w.lower()
        if low not in _STOP:
            yield low


def features(lines: list[Line], roots: list[RootLine], extra: Iterable[str] = ()) -> list[str]:
    """Feature names for one log: root-line words, identifiers, where the frames are, rule verdicts."""
    out: set[str] = set(extra)
    for rank, r in enumerate(roots[:TOP_ROOTS]):
        tag = "t" if rank == 0 else "a"
        out.update(f"{tag}:{w}" for w in _tokens(r.message))
        for ident in r.ids:
            out.add(f"id:{ident.kind}:{ident.key.rsplit('.', 1)[-1]}")
    for ln in lines[-400:]:
        m = _FRAME_LIB.search(ln.text)
        if m:
            out.add(f"frame:{(m[1] or m[2]).lower()}")
    if not roots:
        out.add("noroot")
    return sorted(out)


@cache
def weights(path: Path = WEIGHTS) -> dict[str, dict[str, float]]:
    """{label: {feature: weight}} with a `_bias` feature; empty when no model file is shipped."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return {label: dict(raw["weights"].get(label, {})) for label in LABELS}


def predict(feats: list[str], w: dict[str, dict[str, float]] | None = None) -> Prediction | None:
    """The softmax over the labels of the summed feature weights; None without a model."""
    w = weights() if w is None else w
    if not w:
        return None
    scores = {label: w[label].get("_bias", 0.0) + sum(w[label].get(f, 0.0) for f in feats) for label in LABELS}
    top = max(scores.values())
    exp = {k: math.exp(v - top) for k, v in scores.items()}
    total = sum(exp.values())
    ranked = sorted(((v / total, k) for k, v in exp.items()), reverse=True)
    known = tuple(f for f in feats if any(f in w[label] for label in LABELS))
    return Prediction(ranked[0][1], round(ranked[0][0], 3), ranked[1][1], round(ranked[1][0], 3), known)
