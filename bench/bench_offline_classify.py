"""Time the offline classifier on realistic excerpts (prints figures; asserts nothing).

    .venv/bin/python bench/bench_offline_classify.py
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from bot.contract import Alert
from bot.evaluate import percentile
from bot.offline import calibration, model
from bot.offline.classify import classify
from bot.offline.signatures import library
from bot.offline.taxonomy import taxonomy
from bot.sandbox import Excerpt, Line

ROOT = Path(__file__).resolve().parent.parent
NOISE = "[2026-11-20, 02:00:09 UTC] {logging_mixin.py:151} INFO - Reading s3://acme-landing/orders/ rows=12345 n={i}"


def excerpt_of(text: str, budget: int = 64_000) -> Excerpt:
    text = text[-budget:]
    return Excerpt("bench.log", [Line(i, t) for i, t in enumerate(text.splitlines(), 1)], len(text))


def timed(ex: Excerpt, n: int = 50) -> tuple[float, float]:
    """(median, p95) in ms."""
    runs = []
    for _ in range(n):
        t0 = time.perf_counter()
        classify(ex, Alert())
        runs.append((time.perf_counter() - t0) * 1000)
    return statistics.median(runs), percentile(runs, 95)


def real_excerpts() -> list[Excerpt]:
    """The real-failure corpus's logs, each padded to a 64 KB excerpt with INFO noise in front (as a run's
    tail would be): the shapes the taxonomies and root-line ranking meet in the world."""
    out = []
    for p in sorted((ROOT / "eval/real").glob("*/run.log")):
        text = p.read_text(encoding="utf-8", errors="replace")
        pad = max(0, 64_000 - len(text)) // 110 + 1
        out.append(excerpt_of("\n".join(NOISE.replace("{i}", str(i)) for i in range(pad)) + "\n" + text))
    return out


def main() -> None:
    t0 = time.perf_counter()
    lib = library()
    print(f"library load (once per process, regexes compile lazily): {(time.perf_counter() - t0) * 1000:.1f} ms, "
          f"{len(lib.signatures)} signatures, {len(lib.keywords)} keywords")
    t0 = time.perf_counter()
    tax, weights, params = taxonomy(), model.weights(), calibration.parameters()
    print(f"taxonomies + learned weights + calibration load: {(time.perf_counter() - t0) * 1000:.1f} ms, "
          f"{len(tax)} identifiers, {sum(len(w) for w in weights.values())} weights, knee {params.get('knee')}")
    runs = []
    for ex in real_excerpts():
        t0 = time.perf_counter()
        classify(ex, Alert())
        runs.append((time.perf_counter() - t0) * 1000)
    print(f"{'real corpus, 64 KB':18s} {len(runs):>5d} logs  median {statistics.median(runs):6.2f} ms  "
          f"p95 {percentile(runs, 95):6.2f} ms  (goal: median <= 10, p95 <= 25)")
    feats = model.features(real_excerpts()[0].lines, [])
    t0 = time.perf_counter()
    for _ in range(1000):
        model.predict(feats)
    print(f"learned fallback inference: {(time.perf_counter() - t0):.3f} ms per prediction (goal < 1 ms)")
    t0 = time.perf_counter()
    lib.compile_all()
    print(f"compiling every signature's regexes (what the lazy load saves): {(time.perf_counter() - t0) * 1000:.1f} ms")
    logs = sorted((ROOT / "tests/fixtures/logs").glob("*/*.log")) + sorted((ROOT / "examples/logs").glob("*/*.log"))
    for p in logs:
        med, worst = timed(excerpt_of(p.read_text()))
        print(f"{p.parent.name:18s} {p.stat().st_size:>7d} B  median {med:6.2f} ms  p95 {worst:6.2f} ms")
    tail = (ROOT / "examples/logs/orders_daily/2026-11-20T02-00-00.log").read_text()
    noise = "\n".join(NOISE.replace("{i}", str(i)) for i in range(2000)) + "\n"
    med, worst = timed(excerpt_of(noise + tail))
    print(f"{'64 KB INFO + tail':18s} {64000:>7d} B  median {med:6.2f} ms  p95 {worst:6.2f} ms")
    errors = "\n".join(f"ERROR - retry {i}: java.io.IOException: Connection reset by peer" for i in range(1200)) + "\n"
    med, worst = timed(excerpt_of(errors + tail))
    print(f"{'64 KB error spam':18s} {64000:>7d} B  median {med:6.2f} ms  p95 {worst:6.2f} ms")


if __name__ == "__main__":
    main()
