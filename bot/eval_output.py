"""`etl-triage eval`: the command, the metrics table and a progress display."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from bot.evaluate import CaseResult, Metrics, evaluate


def _pct(v: float | None) -> str:
    return "   -  " if v is None else f"{v * 100:5.1f}%"


def render(m: Metrics) -> str:
    """The metrics as a terminal table."""
    out = [f"eval: {m.n} cases (split {m.split}) via {m.provider}", ""]
    out.append(f"accuracy              {_pct(m.accuracy)}  ({sum(r.correct for r in m.results)}/{m.n})")
    fr = f"{_pct(m.fact_recall)}  ({m.facts_found}/{m.facts_required} required facts)"
    out.append(f"fact recall           {fr}")
    out.append(f"forbidden-fact hits   {m.forbidden_hits:>6}  (in {m.cases_with_forbidden} cases)")
    out.append(f"escalation accuracy   {_pct(m.escalation_accuracy)}")
    out.append(f"latency               p50 {m.latency_p50_ms:.1f} ms   p95 {m.latency_p95_ms:.1f} ms")
    if m.errors:
        out.append(f"errors                {m.errors:>6}")
    out += ["", f"{'category':<10}{'precision':>10}{'recall':>9}{'f1':>9}{'support':>9}"]
    for c, s in m.per_category.items():
        out.append(f"{c:<10}{_pct(s['precision']):>10}{_pct(s['recall']):>9}{_pct(s['f1']):>9}{s['support']:>9}")
    cols = list(next(iter(m.confusion.values())))
    out += ["", "confusion (rows expected, columns got)", f"{'':<10}" + "".join(f"{c:>9}" for c in cols)]
    for e, row in m.confusion.items():
        out.append(f"{e:<10}" + "".join(f"{row[c]:>9}" for c in cols))
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


async def main(args: Any, overrides: dict[str, str], *, out: TextIO | None = None,
               err: TextIO | None = None) -> int:
    """`etl-triage eval [CORPUS] [--split dev|test|all] [--json] [--provider P]`. Exit 0 whatever the score."""
    out, err = out or sys.stdout, err or sys.stderr
    overrides = {k: v for k, v in overrides.items() if k != "log_root"}  # the corpus is the log root
    metrics = await evaluate(args.corpus, provider=args.provider, topology=args.topology, split=args.split,
                             overrides=overrides, on_result=Progress(err))
    out.write((json.dumps(metrics.to_dict()) if args.json else render(metrics)) + "\n")
    return 0
