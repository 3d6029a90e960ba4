"""Alert recognition: the time for a 1 MB adversarial message of each shape, how the time grows with the text (4x
the text: linear is 4x, quadratic 16x), a typical alert, the same with an `[alerts] patterns` entry that has nested
repeats (RE2), and the scores on the reference set (recognised / right job / false positives). Prints figures;
asserts nothing.

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
from bot.topology import load_topology  # noqa: E402
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
    growth(topo)
    fixtures = load_fixtures()
    typical = statistics.median(timed(f.event, topo, 20) for f in fixtures)
    print(f"typical alert (median over the {len(fixtures)} reference cases): {typical:.2f} ms")
    nested_pattern(topo, fixtures)
    fails = [f for f in fixtures if f.failure]
    recs = [(f, recognise(f.event, topo)) for f in fixtures]
    recognised = sum(r.failure for f, r in recs if f.failure)
    right = sum(r.failure and r.job == f.job for f, r in recs if f.failure)
    false_pos = sum(r.failure for f, r in recs if not f.failure)
    print(f"reference set: recognised {recognised}/{len(fails)}, right job {right}/{len(fails)}, "
          f"false positives {false_pos}/{len(fixtures) - len(fails)}")


def growth(topo) -> None:
    """4x the text of one part (1.5k -> 6k chars) and 4x the parts (6 -> 24, under the 64 KB read cap)."""
    print("growth with 4x the text (best of 5; linear is 4x, quadratic 16x):  in one part / across parts")
    worst = 0.0
    for name, unit in UNITS.items():
        ratios = []
        for small, large in ((adversarial(unit, 1_500), adversarial(unit, 6_000)),
                             (adversarial(unit, 12_000, 6), adversarial(unit, 48_000, 24))):
            ratios.append(best(large, topo) / best(small, topo))
        worst = max(worst, *ratios)
        print(f"  {name:<17} {ratios[0]:5.1f}x / {ratios[1]:5.1f}x")
    print(f"  worst             {worst:5.1f}x")


def best(event, topo, n: int = 5) -> float:
    runs = []
    for _ in range(n):
        t0 = time.perf_counter()
        recognise(event, topo)
        runs.append(time.perf_counter() - t0)
    return min(runs)


def nested_pattern(plain, fixtures) -> None:
    """`[alerts] patterns = ['PIPE<(?P<job>(\\w+)+)>']`: Python's re takes minutes on one `PIPE<aaa…a ` line."""
    tmp = Path(tempfile.mkdtemp())
    make_topology(tmp, extra=JOBS_TOML)
    path = tmp / "topology.toml"
    path.write_text(path.read_text().replace('senders = ["UHUMAN"]', "senders = [\"UHUMAN\"]\n"
                                             "patterns = ['PIPE<(?P<job>(\\\\w+)+)>']"))
    topo = load_topology(path, {"log_root": str(tmp / "logs")})
    line = "PIPE<" + "a" * 1_900 + " failed"
    sizes = {"16 KB": 2, "64 KB (read cap)": 8}
    print("[alerts] patterns with nested repeats (RE2), lines of `PIPE<a…a failed` (median of 5), with / without it:")
    for label, parts in sizes.items():
        event = {"bot_id": "B1", "text": "", "attachments": [{"text": "\n".join([line] * 4)}] * parts}
        print(f"  {label:<17} {timed(event, topo, 5):7.1f} ms / {timed(event, plain, 5):7.1f} ms")
    typical = statistics.median(timed(f.event, topo, 20) for f in fixtures)
    print(f"  typical alert     {typical:7.2f} ms")


if __name__ == "__main__":
    main()
