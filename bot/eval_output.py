"""`etl-triage eval`: the command, the metrics table and a progress display."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from bot.contract import CONFIDENT
from bot.evaluate import CaseResult, Metrics, evaluate


def _pct(v: float | None) -> str:
    return "   -  " if v is None else f"{v * 100:5.1f}%"


def render(m: Metrics) -> str:
    """The metrics as a terminal table."""
    out = [f"eval: {m.n} cases (split {m.split}) via {m.provider}", ""]
    lo, hi = m.accuracy_interval
    out.append(f"accuracy              {_pct(m.accuracy)}  ({sum(r.correct for r in m.results)}/{m.n}; "
               f"95% interval {lo:.1%}-{hi:.1%})")
    out.append(f"first or runner-up    {_pct(m.first_or_runner_up)}  (the reply names the other reading)")
    fr = f"{_pct(m.fact_recall)}  ({m.facts_found}/{m.facts_required} required facts)"
    out.append(f"fact recall           {fr}")
    out.append(f"forbidden-fact hits   {m.forbidden_hits:>6}  (in {m.cases_with_forbidden} cases)")
    out.append(f"escalation accuracy   {_pct(m.escalation_accuracy)}")
    out.append(f"latency               p50 {m.latency_p50_ms:.1f} ms   p95 {m.latency_p95_ms:.1f} ms")
    cp = f"{_pct(m.confident_precision)} right" if m.confident_precision is not None else "none"
    out.append(f"wrong at conf >= {CONFIDENT:.1f}  {_pct(m.confident_wrong)}  "
               f"(of all cases; {m.confident_answers} answers at >= {CONFIDENT:.1f}, {cp})")
    out.append(f"'no error line found'  {m.blind:>6}")
    if m.errors:
        out.append(f"errors                {m.errors:>6}")
    out += ["", f"{'category':<10}{'precision':>10}{'recall':>9}{'f1':>9}{'support':>9}"]
    for c, s in m.per_category.items():
        out.append(f"{c:<10}{_pct(s['precision']):>10}{_pct(s['recall']):>9}{_pct(s['f1']):>9}{s['support']:>9}")
    cols = list(next(iter(m.confusion.values())))
    out += ["", "confusion (rows expected, columns got)", f"{'':<10}" + "".join(f"{c:>9}" for c in cols)]
    for e, row in m.confusion.items():
        out.append(f"{e:<10}" + "".join(f"{row[c]:>9}" for c in cols))
    out += ["", "reliability (confidence bin -> observed accuracy)",
            f"  {'bin':<9}{'answers':>8}{'right':>7}{'accuracy':>10}"]
    out += [f"  {b['bin']:<9}{b['n']:>8}{b['correct']:>7}{_pct(b['accuracy']):>10}" for b in m.reliability]
    if m.per_system:
        out += ["", "accuracy by system"]
        systems = [f"{name} {v['correct']}/{v['n']}" for name, v in m.per_system.items()]
        out += ["  " + "   ".join(systems[i:i + 6]) for i in range(0, len(systems), 6)]
    if m.per_tag:
        out += ["", "category accuracy by tag"]
        out += [f"  {t:<22}{v['correct']:>3}/{v['n']:<3}" for t, v in m.per_tag.items()]
    out += ["", f"misses ({len(m.misses)})" if m.misses else "misses: none"]
    width = max((len(x["id"]) for x in m.misses), default=0)
    out += [f"  {x['id']:<{width}}  {x['reason']}" for x in m.misses]
    return "\n".join(out)


class Progress:
    """A bar on a TTY, one plain line per case otherwise. Writes to `stream` (stderr)."""

    def __init__(self, stream: TextIO, tty: bool | None = None) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty

    def __call__(self, i: int, n: int, r: CaseResult) -> None:
        mark = "ok" if r.correct else f"MISS {r.expected}->{r.got}"
        if self.tty:
            width = 30
            done = width * i // n
            self.stream.write(f"\r[{'#' * done}{'.' * (width - done)}] {i}/{n} {r.id[:40]:<40}")
            if i == n:
                self.stream.write("\n")
        else:
            self.stream.write(f"eval {i}/{n} {r.id}: {mark}\n")
        self.stream.flush()


def side_by_side(results: dict[str, Metrics]) -> str:
    """One row per corpus: the figures to compare first."""
    head = (f"{'corpus':<14}{'cases':>6}{'accuracy':>10}{'or 2nd':>9}{'wrong@0.7':>11}{'right@0.7':>11}"
            f"{'code rec':>10}{'facts':>8}")
    rows = [head]
    for name, m in results.items():
        code = m.per_category["code"]["recall"]
        rows.append(f"{name:<14}{m.n:>6}{_pct(m.accuracy):>10}{_pct(m.first_or_runner_up):>9}"
                    f"{_pct(m.confident_wrong):>11}{_pct(m.confident_precision):>11}{_pct(code):>10}"
                    f"{_pct(m.fact_recall):>8}")
    return "\n".join(rows)


async def main(args: Any, overrides: dict[str, str], *, out: TextIO | None = None,
               err: TextIO | None = None) -> int:
    """`etl-triage eval [CORPUS ...] [--split dev|test|all] [--json] [--provider P]`. Exit 0 whatever the score.

    With several corpora (the default: the real-failure corpus and the team corpus) each gets its table,
    after a side-by-side summary; `--json` then maps each corpus path to its metrics.
    """
    out, err = out or sys.stdout, err or sys.stderr
    overrides = {k: v for k, v in overrides.items() if k != "log_root"}  # the corpus is the log root
    corpora = [args.corpus] if isinstance(args.corpus, str) else list(args.corpus)
    results: dict[str, Metrics] = {}
    for corpus in corpora:
        results[corpus] = await evaluate(corpus, provider=args.provider, topology=args.topology, split=args.split,
                                         overrides=overrides, on_result=Progress(err))
    if len(results) == 1:
        m = next(iter(results.values()))
        out.write((json.dumps(m.to_dict()) if args.json else render(m)) + "\n")
    elif args.json:
        out.write(json.dumps({"corpora": {k: m.to_dict() for k, m in results.items()}}) + "\n")
    else:
        out.write(side_by_side(results) + "\n\n" + "\n\n".join(f"== {k}\n{render(m)}" for k, m in results.items())
                  + "\n")
    return 0
