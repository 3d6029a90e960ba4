"""Calibrated confidence: turn a reader's raw score into how often answers like it were right.

A signature's or taxonomy entry's confidence is an author's estimate; on real failures some families are
right far less often than their authors thought. `eval/train_model.py` fits, on the dev split only, a
Platt scaling per deciding source — `sigmoid(offset[source] + slope * logit(raw) + agree * [the learned
model agrees] + dispute * [another reader disagrees])` — then bends it at a `knee` so that "confident"
(>= 0.7) starts where at least 30 out-of-fold dev answers of the learned model were right >= 85% of the time
(the lower end of a 90% interval; the rules were written reading dev, so their dev answers do not count), and
writes both to `calibration.json`. On real failures no such group exists yet, so the offline
engine says "likely" at most: honest, where a confident wrong answer would page the wrong team.
Without that file the raw score passes through, lowered when disputed.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

from bot.contract import CONFIDENT, LIKELY

CALIBRATION = Path(__file__).with_name("calibration.json")
CEILING = 0.97
DISPUTE_PENALTY = 0.15
CONFIDENT_PRECISION = 0.85  # "confident" must mean right at least this often: the 90% lower bound on dev
# The deciding sources whose dev answers are out-of-sample (the model's, out-of-fold) and so may set the knee and
# be "confident"; the rules were written while reading dev, so on their own they stay "likely" at most.
OUT_OF_FOLD = frozenset({"model", "model-over-taxonomy"})


def logit(p: float) -> float:
    p = min(0.999, max(0.001, p))
    return math.log(p / (1 - p))


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


@cache
def parameters(path: Path = CALIBRATION) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return {}


def calibrate(source: str, raw: float, *, agrees: bool, disputed: bool,
              params: dict[str, Any] | None = None) -> float:
    """The calibrated probability that an answer from `source` with this raw score is right (2 decimals)."""
    p = parameters() if params is None else params
    if not p:
        out = raw - (DISPUTE_PENALTY if disputed else 0.0)
    else:
        x = (p["offset"].get(source, p["offset"].get("default", 0.0)) + p["slope"] * logit(raw)
             + (p["agree"] if agrees else 0.0) + (p["dispute"] if disputed else 0.0))
        out = _bend(sigmoid(x), float(p.get("knee", CONFIDENT)))
        if source not in OUT_OF_FOLD:
            out = min(out, CONFIDENT - 0.01)
    return round(min(CEILING, max(0.05, out)), 2)


def _bend(q: float, knee: float) -> float:
    """Map the fitted probability so that CONFIDENT starts at `knee`: the lowest fitted value above which
    the dev answers were right at least CONFIDENT_PRECISION of the time. Below LIKELY nothing changes."""
    if q < LIKELY or knee <= LIKELY:
        return q
    if q < knee:
        return LIKELY + (q - LIKELY) * (CONFIDENT - LIKELY) / (knee - LIKELY)
    return CONFIDENT + (q - knee) * (CEILING - CONFIDENT) / max(1e-6, 1 - knee)

