"""Alert recognition: the time for a 1 MB adversarial message of each shape, a typical alert, and the scores on
the reference set (recognised / right job / false positives). Prints figures; asserts nothing.

    .venv/bin/python bench/bench_alerts.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.alerts import recognise  # noqa: E402
from tests.adversarial_alerts import UNITS, adversarial  # noqa: E402
from tests.alert_fixtures import JOBS_TOML, load_fixtures  # noqa: E402
from tests.fakes.slack_world import make_topology  # noqa: E402


def timed(event, topo, n: int) -> float:
    runs = []
    for _ in range(n):
        t0 = time.perf_counter()
        recognise(event, topo)
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs) * 1000


def main() -> None:
    topo = make_topology(Path(tempfile.mkdtemp()), extra=JOBS_TOML)
    print("1 MB adversarial message (median of 5), by shape:")
    worst = 0.0
    for name, unit in UNITS.items():
        ms = timed(adversarial(unit, 1_000_000, 50), topo, 5)
        worst = max(worst, ms)
        print(f"  {name:<17} {ms:7.1f} ms")
    print(f"  worst              {worst:7.1f} ms")
    fixtures = load_fixtures()
    typical = statistics.median(timed(f.event, topo, 20) for f in fixtures)
    print(f"typical alert (median over the {len(fixtures)} reference cases): {typical:.2f} ms")
    fails = [f for f in fixtures if f.failure]
    recs = [(f, recognise(f.event, topo)) for f in fixtures]
    recognised = sum(r.failure for f, r in recs if f.failure)
    right = sum(r.failure and r.job == f.job for f, r in recs if f.failure)
    false_pos = sum(r.failure for f, r in recs if not f.failure)
    print(f"reference set: recognised {recognised}/{len(fails)}, right job {right}/{len(fails)}, "
          f"false positives {false_pos}/{len(fixtures) - len(fails)}")


if __name__ == "__main__":
    main()
