"""Alert parsing is linear in the message's size and bounded on any input (issue 13, item 2): time grows with
the size, never with its square, and a 1 MB message costs what the read cap costs; `[alerts] patterns` run on RE2,
so a pattern with nested repeats stays linear. Relative timings only."""

from __future__ import annotations

import time

import pytest

from bot.alerts import parse_alert, recognise
from bot.alerts.text import MAX_TOTAL
from bot.errors import TopologyError
from bot.topology import load_topology
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


NESTED = r"PIPE<(?P<job>(\w+)+)>"     # nested repeats: Python's re takes minutes on `PIPE<aaa…a ` (no `>`)


def _with_pattern(tmp_path, pattern: str):
    make_topology(tmp_path)              # writes the prompt, the logs and topology.toml; the pattern goes in below
    path = tmp_path / "topology.toml"
    text = path.read_text().replace('senders = ["UHUMAN"]', f"senders = [\"UHUMAN\"]\npatterns = ['{pattern}']")
    path.write_text(text)
    return load_topology(path, {"log_root": str(tmp_path / "logs")})


def test_alerts_configured_pattern_with_nested_repeats_runs_in_linear_time(tmp_path):
    topo = _with_pattern(tmp_path, NESTED)
    alert = parse_alert({"text": "PIPE<customer_sync> failed", "bot_id": "B1"}, topo)
    assert alert is not None and alert.job == "customer_sync"
    part = {"text": "\n".join(["PIPE<" + "a" * 1_900 + " failed"] * 4)}    # bounded lines (fields.MAX_LINE), no `>`
    small, large = ({"bot_id": "B1", "text": "", "attachments": [part] * n} for n in (2, 8))  # 4x, under the cap
    assert recognise(large, topo).job is None and not recognise(large, topo).truncated
    t_small, t_large = _best(small, topo), _best(large, topo)
    assert t_large < 8 * t_small + 0.002, f"4x the text took {t_large / t_small:.1f}x the time (quadratic: 16x)"


def test_alerts_configured_pattern_with_lookbehind_is_refused_saying_what_to_write(tmp_path):
    with pytest.raises(TopologyError) as e:
        _with_pattern(tmp_path, r"(?<=PIPE<)(?P<job>\w+)")
    assert "[alerts]" in str(e.value) and "patterns[0]" in str(e.value) and "lookbehind" in str(e.value)
