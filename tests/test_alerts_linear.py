"""Alert parsing is bounded on any input (issue 13, item 2): a 1 MB message is read up to the cap, and `[alerts]
patterns` run on RE2, so a pattern with nested repeats answers at once where Python's re would backtrack for
minutes. How the time grows with the text is measured, not asserted: `bench/bench_alerts.py` prints it."""

from __future__ import annotations

import pytest

from bot.alerts import parse_alert, recognise
from bot.alerts.text import MAX_TOTAL
from bot.errors import TopologyError
from bot.topology import load_topology
from tests.adversarial_alerts import adversarial
from tests.fakes.slack_world import make_topology


@pytest.fixture(scope="module")
def topo(tmp_path_factory):
    return make_topology(tmp_path_factory.mktemp("lin"))


@pytest.mark.parametrize("unit", ["failed <http:", "failed ./", "your connection "])
def test_alerts_a_megabyte_is_read_up_to_the_cap(topo, unit):
    huge = recognise(adversarial(unit, 1_000_000, 50), topo)
    assert huge.truncated
    assert recognise(adversarial(unit, MAX_TOTAL // 2, 8), topo).truncated is False


NESTED = r"PIPE<(?P<job>(\w+)+)>"     # nested repeats: Python's re takes minutes on `PIPE<aaa…a ` (no `>`)


def _with_pattern(tmp_path, pattern: str):
    make_topology(tmp_path)              # writes the prompt, the logs and topology.toml; the pattern goes in below
    path = tmp_path / "topology.toml"
    text = path.read_text().replace('senders = ["UHUMAN"]', f"senders = [\"UHUMAN\"]\npatterns = ['{pattern}']")
    path.write_text(text)
    return load_topology(path, {"log_root": str(tmp_path / "logs")})


def test_alerts_configured_pattern_with_nested_repeats_answers_without_backtracking(tmp_path):
    topo = _with_pattern(tmp_path, NESTED)
    alert = parse_alert({"text": "PIPE<customer_sync> failed", "bot_id": "B1"}, topo)
    assert alert is not None and alert.job == "customer_sync"
    part = {"text": "\n".join(["PIPE<" + "a" * 1_900 + " failed"] * 4)}    # bounded lines (fields.MAX_LINE), no `>`
    small, large = ({"bot_id": "B1", "text": "", "attachments": [part] * n} for n in (2, 8))  # 4x, under the cap
    # Python's re would backtrack for minutes on each of these lines; RE2 answers at once
    assert recognise(small, topo).job is None and recognise(large, topo).job is None
    assert not recognise(large, topo).truncated


def test_alerts_configured_pattern_with_lookbehind_is_refused_saying_what_to_write(tmp_path):
    with pytest.raises(TopologyError) as e:
        _with_pattern(tmp_path, r"(?<=PIPE<)(?P<job>\w+)")
    assert "[alerts]" in str(e.value) and "patterns[0]" in str(e.value) and "lookbehind" in str(e.value)
