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
# Words that mark whose problem an error usually is, written from how these systems fail rather than read off the
# corpus: an error line in words the corpus never saw ("Bad UTF8 hex sequence", "HIVE_BAD_DATA") still carries one
# of these features, and their weights are learned from hundreds of cases instead of one. Real dev, out of fold:
# model alone 64.4% -> 66.1%, rules + model 60.7% -> 62.0%. Changing a list means retraining (eval/train_model.py).
_LEXICON = {label: re.compile("|".join(alts), re.IGNORECASE) for label, alts in {
    "data": (r"malformed", r"invalid (?:value|character|date|timestamp|time|number|literal)",
             r"invalid (?:input|byte|utf-?8|json|row|record|data|format)",
             r"pars(?:e|ing) (?:error|exception|fail)",
             r"(?:could not|cannot|can't|unable to|failed to) (?:parse|cast|convert|decode)",
             r"unexpected (?:character|token|end|value|eof|type)", r"null value", r"not[- ]null", r"nullable",
             r"\bnull\b", r"duplicate", r"unterminated", r"encoding", r"codepoint", r"decode", r"bad data",
             r"out of (?:range|bounds)", r"overflow", r"truncat", r"schema (?:change|mismatch|differ)",
             r"(?:extra|unknown|missing|unexpected) (?:column|field|key)s?", r"header",
             r"empty (?:file|input|string|response|result)", r"\bnan\b", r"infinity", r"not recognized",
             r"does not match", r"mismatch", r"expected \d+ (?:columns|fields)", r"corrupt", r"magic bytes",
             r"delimiter", r"quote", r"row \d+", r"line \d+ column"),
    "infra": (r"time[d ]?out", r"connection (?:refused|reset|closed|lost|error|abort)", r"unreachable",
              r"unavailable", r"throttl", r"quota", r"rate.?limit", r"too many (?:requests|connections)",
              r"out of memory", r"\boom", r"memory", r"disk", r"no space", r"permission", r"denied",
              r"unauthori[sz]ed", r"forbidden", r"credential", r"expired", r"\bdns\b", r"name or service",
              r"resolve host", r"network", r"ssl", r"certificate", r"killed", r"evicted", r"preempt",
              r"node (?:lost|not ready)", r"heartbeat", r"broken pipe", r"\b50[234]\b", r"\b429\b"),
    "code": (r"undefined", r"not defined", r"no attribute", r"import", r"module", r"syntax", r"compil",
             r"nosuchmethod", r"classnotfound", r"deprecat", r"version", r"incompatible", r"unsupported",
             r"not ?implemented", r"\bbug\b", r"assert", r"regression", r"config",
             r"invalid (?:argument|option|parameter|setting|identifier)", r"unknown (?:option|argument|parameter)",
             r"missing (?:required )?(?:argument|parameter)", r"typeerror", r"attributeerror", r"nameerror",
             r"nullpointer", r"recursion"),
}.items()}


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
        if rank == 0:
            out.update(f"lex:{label}" for label, words in _LEXICON.items() if words.search(r.message[:600]))
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
