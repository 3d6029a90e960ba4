"""`etl-triage eval`: run a labeled corpus of failed runs through the real engine and score the reports.

A corpus is a directory of cases, one directory each: `<case_id>/case.toml` (labels) and the log it
names (`run.log` by default). See eval/README.md for the format. `evaluate()` returns the metrics, so a
test or CI gate can assert on them; `main()` is the CLI.
"""

from __future__ import annotations

import itertools
import math
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import tomli
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.contract import CATEGORIES, CONFIDENT, Alert, Category, Classification
from bot.errors import BotError
from bot.escalation import DEFAULT_TEAMS
from bot.providers.base import Provider
from bot.sandbox import SandboxManager

CASE_FILE = "case.toml"
SPLITS = ("dev", "test", "all")


class CaseError(BotError):
    """A case file is broken. The message names the file and the field."""

    def __init__(self, file: Path | str, field: str, message: str) -> None:
        self.file, self.field = str(file), field
        super().__init__(f"{file}: field '{field}': {message}" if field else f"{file}: {message}")


class _CaseSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: Category
    split: Literal["dev", "test"]
    job: str = Field(min_length=1)
    log: str = "run.log"
    alert: str = ""
    run_id: str | None = None
    source: str = "airflow"
    escalation: str | None = None
    required_facts: list[str] = Field(default_factory=list)
    forbidden_facts: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    notes: str = ""
    system: str = ""          # the real-failure corpus: the system that failed,
    url: str = ""             # the public thread the log is quoted from,
    rationale: str = ""       # and why the thread's diagnosis is this category


@dataclass(frozen=True)
class Case:
    """One labeled failed run."""

    id: str
    dir: Path
    log: Path
    category: Category
    split: str
    job: str
    alert: str = ""
    run_id: str | None = None
    source: str = "airflow"
    escalation: str = ""
    required_facts: tuple[str, ...] = ()
    forbidden_facts: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    notes: str = ""
    system: str = ""
    url: str = ""
    rationale: str = ""


# ---------------------------------------------------------------- loading


def load_case(case_dir: Path) -> Case:
    """Read and validate `<case_dir>/case.toml`. Raises CaseError naming the file and field."""
    file = case_dir / CASE_FILE
    try:
        raw = tomli.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CaseError(file, "", "not found; every case directory needs a case.toml") from None
    except (UnicodeDecodeError, tomli.TOMLDecodeError) as e:
        raise CaseError(file, "", f"invalid TOML: {e}") from None
    try:
        spec = _CaseSpec.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        if err["type"] == "extra_forbidden":
            msg += f"; allowed: {', '.join(_CaseSpec.model_fields)}"
        raise CaseError(file, loc, msg) from None
    log = case_dir / spec.log
    if not log.is_file():
        raise CaseError(file, "log", f"{spec.log!r} is not a file in {case_dir}")
    for name in ("required_facts", "forbidden_facts"):
        for i, fact in enumerate(getattr(spec, name)):
            if fact.startswith("re:"):
                try:
                    re.compile(fact[3:])
                except re.error as e:
                    raise CaseError(file, f"{name}.{i}", f"bad regex {fact[3:]!r}: {e}") from None
            elif not fact.strip():
                raise CaseError(file, f"{name}.{i}", "empty fact")
    return Case(
        id=case_dir.name, dir=case_dir.resolve(), log=log.resolve(), category=spec.category, split=spec.split,
        job=spec.job, alert=spec.alert, run_id=spec.run_id, source=spec.source,
        escalation=spec.escalation or DEFAULT_TEAMS[spec.category],
        required_facts=tuple(spec.required_facts), forbidden_facts=tuple(spec.forbidden_facts),
        tags=tuple(spec.tags), notes=spec.notes, system=spec.system, url=spec.url, rationale=spec.rationale,
    )


def load_corpus(corpus: str | Path, split: str = "all") -> list[Case]:
    """Every case under `corpus` (sorted by id), filtered to a split: dev | test | all."""
    root = Path(corpus)
    if split not in SPLITS:
        raise BotError(f"--split {split!r}: use one of {', '.join(SPLITS)}")
    if not root.is_dir():
        raise BotError(f"corpus {root} is not a directory; pass the path to eval/cases")
    dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not dirs:
        raise BotError(f"corpus {root} has no case directories; see eval/README.md for the layout")
    cases = [load_case(d) for d in dirs]
    return [c for c in cases if split == "all" or c.split == split]


# ---------------------------------------------------------------- running


@dataclass
class CaseResult:
    """What the engine said about one case, and how it compares with the labels."""

    id: str
    expected: str
    got: str                      # a category, or "error" when the triage raised
    expected_team: str
    team: str | None
    root_cause: str = ""
    action: str = ""
    signature: str | None = None
    summary: str = ""
    facts_found: list[str] = field(default_factory=list)
    facts_missing: list[str] = field(default_factory=list)
    forbidden_hits: list[str] = field(default_factory=list)
    latency_ms: float = 0.0
    error: str | None = None
    split: str = ""
    tags: list[str] = field(default_factory=list)
    confidence: float = 0.0
    system: str = ""
    alternatives: list[str] = field(default_factory=list)

    @property
    def blind(self) -> bool:
        """The answer says it found no error line at all (never acceptable for a log that shows one)."""
        return "no error line found" in self.root_cause

    @property
    def correct(self) -> bool:
        return self.got == self.expected

    @property
    def perfect(self) -> bool:
        return (self.correct and not self.facts_missing and not self.forbidden_hits
                and self.team == self.expected_team)

    def reason(self) -> str:
        """One line: why this case is not perfect."""
        if self.error:
            return f"expected {self.expected}, triage raised {self.error}"
        parts = []
        if not self.correct:
            sig = f" sig={self.signature}" if self.signature else ""
            parts.append(f"expected {self.expected}, got {self.got}{sig}: {_clip(self.summary or self.root_cause)}")
        if self.facts_missing:
            parts.append("missing facts " + ", ".join(repr(f) for f in self.facts_missing))
        if self.forbidden_hits:
            parts.append("forbidden " + ", ".join(repr(f) for f in self.forbidden_hits))
        if self.team != self.expected_team:
            parts.append(f"escalated to {self.team!r}, expected {self.expected_team!r}")
        return "; ".join(parts)


def fact_found(fact: str, text: str) -> bool:
    """A fact is a case-insensitive substring, or a regex when written `re:<pattern>`."""
    if fact.startswith("re:"):
        return re.search(fact[3:], text, re.IGNORECASE) is not None
    return fact.lower() in text.lower()


def _case_vars(case: Case, overrides: dict[str, str] | None) -> dict[str, str]:
    """The corpus directory is log_root (and data/repo root unless the case brings its own), so cases share
    one set of sandbox roots and the eval measures triage, not sandbox start-up."""
    corpus = str(case.dir.parent)
    roots = {name: str(case.dir / sub) if (case.dir / sub).is_dir() else corpus
             for name, sub in (("data_root", "data"), ("repo_root", "repo"))}
    return {**roots, **(overrides or {}), "log_root": corpus}


async def run_case(case: Case, *, provider: Provider, topology: str | Path,
                   overrides: dict[str, str] | None = None, sandboxes: SandboxManager | None = None,
                   clock: Callable[[], float] = time.perf_counter) -> CaseResult:
    """Triage one case with the real engine."""
    from bot.engine import run_triage
    from bot.topology import load_topology

    topo = load_topology(topology, _case_vars(case, overrides))
    alert = Alert(job=case.job, run_id=case.run_id, source=case.source, text=case.alert)
    res = CaseResult(id=case.id, expected=case.category, got="error", expected_team=case.escalation, team=None,
                     split=case.split, tags=list(case.tags), system=case.system)
    t0 = clock()
    try:
        report = await run_triage(topo, alert, provider=provider, log_path=case.log, sandboxes=sandboxes)
    except Exception as e:  # one broken case must not end the run; it is scored as a miss
        res.latency_ms = (clock() - t0) * 1000
        res.error = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:200]
        res.facts_missing = list(case.required_facts)
        return res
    res.latency_ms = (clock() - t0) * 1000
    res.got, res.team, res.confidence = report.category, report.escalation.team, report.confidence
    res.alternatives = [a.category for a in report.alternatives]
    res.root_cause, res.action = report.root_cause, report.action
    cls = next((s.output for s in report.stages if s.output_kind == "classification" and s.output), None)
    if cls:
        c = Classification.model_validate(cls)
        res.signature, res.summary = c.signature, c.summary
    text = f"{report.root_cause}\n{report.action}"
    res.facts_found = [f for f in case.required_facts if fact_found(f, text)]
    res.facts_missing = [f for f in case.required_facts if not fact_found(f, text)]
    res.forbidden_hits = [f for f in case.forbidden_facts if fact_found(f, text)]
    return res


# ---------------------------------------------------------------- scoring


@dataclass
class Metrics:
    """The scores of one eval run. `to_dict()` is the `--json` output."""

    n: int
    split: str
    provider: str
    accuracy: float
    first_or_runner_up: float             # right first, or the runner-up the reply names
    per_category: dict[str, dict[str, float | int | None]]
    confusion: dict[str, dict[str, int]]
    fact_recall: float | None
    facts_required: int
    facts_found: int
    forbidden_hits: int
    cases_with_forbidden: int
    escalation_accuracy: float
    latency_p50_ms: float
    latency_p95_ms: float
    errors: int
    per_tag: dict[str, dict[str, int]]
    misses: list[dict[str, str]]
    confident_wrong: float = 0.0          # share of all cases answered wrong at confidence >= CONFIDENT
    confident_answers: int = 0
    confident_precision: float | None = None   # of the answers at >= CONFIDENT, the share that is right
    reliability: list[dict[str, Any]] = field(default_factory=list)
    per_system: dict[str, dict[str, int]] = field(default_factory=dict)
    blind: int = 0                        # answers that say "no error line found"
    accuracy_interval: tuple[float, float] = (0.0, 1.0)   # 95% Wilson interval: how far n cases pin it down
    results: list[CaseResult] = field(default_factory=list, repr=False)

    def to_dict(self, with_cases: bool = True) -> dict[str, Any]:
        d = asdict(self)
        d.pop("results")
        if with_cases:
            d["cases"] = [{**asdict(r), "correct": r.correct} for r in self.results]
        return d


def wilson(right: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a success share (z=1.96: two-sided 95%). A few hundred cases pin an
    accuracy down to about ±6 points; the interval says so beside the figure."""
    if n == 0:
        return (0.0, 1.0)
    p = right / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return ((centre - spread) / (1 + z * z / n), (centre + spread) / (1 + z * z / n))


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(-(-q * len(s) // 100)) - 1))
    return s[k]


def score(results: list[CaseResult], *, split: str = "all", provider: str = "") -> Metrics:
    """Accuracy, per-category precision/recall, confusion, facts, escalation and latency for `results`."""
    n = len(results)
    cols = [*CATEGORIES, *(["error"] if any(r.got == "error" for r in results) else [])]
    confusion: dict[str, dict[str, int]] = {e: dict.fromkeys(cols, 0) for e in CATEGORIES}
    for r in results:
        confusion[r.expected][r.got] += 1
    per: dict[str, dict[str, float | int | None]] = {}
    for c in CATEGORIES:
        tp = confusion[c][c]
        predicted = sum(confusion[e][c] for e in CATEGORIES)
        actual = sum(confusion[c].values())
        p = tp / predicted if predicted else None
        rc = tp / actual if actual else None
        f1 = 2 * p * rc / (p + rc) if p and rc else (0.0 if p is not None and rc is not None else None)
        per[c] = {"precision": p, "recall": rc, "f1": f1, "support": actual, "predicted": predicted}
    required = sum(len(r.facts_found) + len(r.facts_missing) for r in results)
    found = sum(len(r.facts_found) for r in results)
    lat = [r.latency_ms for r in results]
    misses = sorted((r for r in results if not r.perfect), key=lambda r: (r.correct, r.id))
    per_tag: dict[str, dict[str, int]] = {}
    for r in results:
        for t in r.tags:
            tally = per_tag.setdefault(t, {"n": 0, "correct": 0})
            tally["n"] += 1
            tally["correct"] += r.correct
    confident = [r for r in results if r.confidence >= CONFIDENT and r.got != "error"]
    per_system: dict[str, dict[str, int]] = {}
    for r in results:
        if r.system:
            tally = per_system.setdefault(r.system, {"n": 0, "correct": 0})
            tally["n"] += 1
            tally["correct"] += r.correct
    return Metrics(
        confident_wrong=sum(not r.correct for r in confident) / n if n else 0.0,
        confident_answers=len(confident),
        confident_precision=sum(r.correct for r in confident) / len(confident) if confident else None,
        reliability=reliability(results),
        per_system=dict(sorted(per_system.items(), key=lambda kv: (-kv[1]["n"], kv[0]))),
        blind=sum(r.blind for r in results),
        n=n, split=split, provider=provider,
        accuracy=sum(r.correct for r in results) / n if n else 0.0,
        first_or_runner_up=sum(r.correct or r.expected in r.alternatives for r in results) / n if n else 0.0,
        accuracy_interval=wilson(sum(r.correct for r in results), n),
        per_category=per, confusion=confusion,
        fact_recall=found / required if required else None, facts_required=required, facts_found=found,
        forbidden_hits=sum(len(r.forbidden_hits) for r in results),
        cases_with_forbidden=sum(bool(r.forbidden_hits) for r in results),
        escalation_accuracy=sum(r.team == r.expected_team for r in results) / n if n else 0.0,
        latency_p50_ms=round(percentile(lat, 50), 2), latency_p95_ms=round(percentile(lat, 95), 2),
        errors=sum(r.got == "error" for r in results),
        per_tag=dict(sorted(per_tag.items())),
        misses=[{"id": r.id, "expected": r.expected, "got": r.got, "reason": r.reason()} for r in misses],
        results=results,
    )


BINS = (0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 1.01)


def reliability(results: list[CaseResult]) -> list[dict[str, Any]]:
    """Confidence bins → how many answers fell in each and how many of them were right."""
    out = []
    for lo, hi in itertools.pairwise(BINS):
        inside = [r for r in results if lo <= r.confidence < hi and r.got != "error"]
        out.append({"bin": f"{lo:.1f}-{min(hi, 1.0):.1f}", "n": len(inside), "correct": sum(r.correct for r in inside),
                    "accuracy": sum(r.correct for r in inside) / len(inside) if inside else None,
                    "mean_confidence": sum(r.confidence for r in inside) / len(inside) if inside else None})
    return out


ResultFn = Callable[[int, int, CaseResult], None]


async def evaluate(corpus: str | Path = "eval/cases", *, provider: str | Provider = "offline",
                   topology: str | Path = "topology.toml", split: str = "all",
                   overrides: dict[str, str] | None = None, on_result: ResultFn | None = None) -> Metrics:
    """Run every case of `split` through the engine and return the metrics (the function a gate asserts on)."""
    from bot.providers import get_provider
    from bot.topology import load_topology

    cases = load_corpus(corpus, split)
    prov = get_provider(provider) if isinstance(provider, str) else provider
    sandboxes = SandboxManager.for_topology(load_topology(topology, overrides))  # reused: workers stay warm
    results: list[CaseResult] = []
    try:
        for i, case in enumerate(cases, 1):
            results.append(await run_case(case, provider=prov, topology=topology, overrides=overrides,
                                          sandboxes=sandboxes))
            if on_result:
                on_result(i, len(cases), results[-1])
    finally:
        await sandboxes.aclose()
        if isinstance(provider, str):
            await prov.aclose()
    return score(results, split=split, provider=prov.name)


def _clip(text: str, n: int = 110) -> str:
    one = " ".join(text.split())
    return one if len(one) <= n else one[: n - 1] + "…"
