"""Regression gate: the offline engine's accuracy on the fixed corpus splits must not drop.

Thresholds are set from the measured figures (2026-11-23: dev 44/44 = 100%, test 38/43 = 88.4%, fact recall
dev 92.3% / test 82.3%, 0 forbidden facts), one or two cases below them. They are a floor against
regressions, not a target: the dev split was used to write signatures; the test split was not.
"""

from __future__ import annotations

import pytest

from bot.evaluate import evaluate
from tests.conftest import ROOT

GATES = {  # split: (min accuracy, min fact recall)
    "dev": (0.95, 0.85),
    "test": (0.86, 0.75),
}


@pytest.mark.parametrize("split", sorted(GATES))
async def test_eval_gate_offline_accuracy(split):
    m = await evaluate(ROOT / "eval" / "cases", provider="offline", topology=ROOT / "topology.toml", split=split)
    min_accuracy, min_facts = GATES[split]
    misses = "\n".join(f"{x['id']}: {x['reason']}" for x in m.misses)
    assert m.errors == 0, misses
    assert m.accuracy >= min_accuracy, f"{split} accuracy {m.accuracy:.1%} < {min_accuracy:.0%}\n{misses}"
    assert m.fact_recall is not None and m.fact_recall >= min_facts, f"{split} fact recall {m.fact_recall:.1%}"
    assert m.forbidden_hits == 0, misses
