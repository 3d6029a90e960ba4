"""Alert parsing is linear in the message's size and bounded on any input (issue 13, item 2): time grows with
the size, never with its square, and a 1 MB message costs what the read cap costs. Relative timings only."""

from __future__ import annotations

import time

import pytest

from bot.alerts import recognise
from bot.alerts.text import MAX_TOTAL
from tests.adversarial_alerts import UNITS, adversarial
from tests.fakes.slack_world import make_topology


@pytest.fixture(scope="module")
def topo(tmp_path_factory):
    return make_topology(tmp_path_factory.mktemp("lin"))


def _best(event, topo, runs: int = 5) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        recognise(event, topo)
        best = min(best, time.perf_counter() - t0)
    return best


@pytest.mark.parametrize("unit", list(UNITS.values()), ids=list(UNITS))
def test_alerts_linear_growth_within_one_part(topo, unit):
    small, large = _best(adversarial(unit, 1_500), topo), _best(adversarial(unit, 6_000), topo)
    assert large < 8 * small + 0.002, f"4x the text took {large / small:.1f}x the time (quadratic would be 16x)"


@pytest.mark.parametrize("unit", list(UNITS.values()), ids=list(UNITS))
def test_alerts_linear_growth_across_parts(topo, unit):
    small, large = _best(adversarial(unit, 12_000, 6), topo), _best(adversarial(unit, 48_000, 24), topo)
    assert large < 8 * small + 0.002, f"4x the parts took {large / small:.1f}x the time (quadratic would be 16x)"


@pytest.mark.parametrize("unit", ["failed <http:", "failed ./", "your connection "])
def test_alerts_a_megabyte_costs_what_the_cap_costs(topo, unit):
    capped, huge = adversarial(unit, MAX_TOTAL, 32), adversarial(unit, 1_000_000, 50)
    assert recognise(huge, topo).truncated
    assert _best(huge, topo, 3) < 3 * _best(capped, topo, 3) + 0.01
