"""`etl-triage eval`: the corpus, the scoring math (stub provider at the Provider interface), errors, CLI."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from bot.contract import Classification, Investigation, Recommendation, Text
from bot.errors import BotError
from bot.escalation import escalation_for
from bot.eval_output import Progress, render
from bot.evaluate import CaseError, evaluate, load_case, load_corpus, percentile
from bot.jobs import resolve_job
from bot.providers.base import StageOutcome, StageRequest
from bot.topology import load_topology
from tests.conftest import ROOT

CORPUS = ROOT / "eval" / "cases"


# ---------------------------------------------------------------- the corpus


def test_corpus_has_stated_size_mix_and_stratified_split():
    cases = load_corpus(CORPUS)
    n = len(cases)
    assert n >= 80
    share = {c: k / n for c, k in Counter(c.category for c in cases).items()}
    assert 0.40 <= share["data"] <= 0.50
    assert 0.25 <= share["infra"] <= 0.35
    assert 0.15 <= share["code"] <= 0.25
    assert 0.03 <= share["unknown"] <= 0.08
    for cat in share:
        splits = Counter(c.split for c in cases if c.category == cat)
        assert abs(splits["dev"] - splits["test"]) <= 1, (cat, splits)
    assert {c.id for c in load_corpus(CORPUS, "dev")} | {c.id for c in load_corpus(CORPUS, "test")} == {
        c.id for c in cases}


def test_corpus_expected_teams_match_default_topology_escalation():
    topo = load_topology(ROOT / "topology.toml")
    for case in load_corpus(CORPUS):
        assert case.escalation == escalation_for(topo, case.category, resolve_job(topo, case.job)).team, case.id


def test_corpus_jobs_are_not_registered_unless_the_case_brings_their_data():
    """A registered job sends investigate to its upstream under data_root; a case without data/ would then be
    scored on an eval artefact ("upstream directory missing"). Rename the case's job or add <case>/data."""
    topo = load_topology(ROOT / "topology.toml")
    clashes = [c.id for c in load_corpus(CORPUS) if c.job in topo.jobs and not (c.dir / "data").is_dir()]
    assert clashes == []


def test_corpus_cases_are_small_and_decidable_ones_name_facts():
    for case in load_corpus(CORPUS):
        size = case.log.stat().st_size
        assert 200 < size < 32_000, (case.id, size)
        if case.category != "unknown":
            assert case.required_facts, f"{case.id}: a decidable case needs at least one required fact"
        assert case.id.startswith(case.category + "_"), case.id


# ---------------------------------------------------------------- scoring with a stub provider


class VerdictProvider:
    """Answers from `VERDICT:` / `CAUSE:` lines in the log, read through the stage's sandboxed tools."""

    name = "stub"

    async def run_stage(self, request: StageRequest) -> StageOutcome:
        if request.output_model is Classification:
            text = await request.tools.read_log(max_lines=50)
            cat = re.search(r"VERDICT: (\w+)", text).group(1)  # type: ignore[union-attr]
            cause = re.search(r"CAUSE: (.*)", text).group(1)  # type: ignore[union-attr]
            out = Classification(category=cat, confidence=0.9, signature=f"stub.{cat}", summary=cause)
        else:
            cls = request.inputs.classification
            assert cls is not None
            if request.output_model is Investigation:
                out = Investigation(category=cls.category, confidence=0.9, summary=cls.summary)
            elif request.output_model is Recommendation:
                out = Recommendation(category=cls.category, confidence=0.9, root_cause=cls.summary,
                                     action="fix the input and rerun",
                                     escalation=escalation_for(request.topology, cls.category))
            else:
                out = Text(text=cls.summary)
        return StageOutcome(output=out)

    async def aclose(self) -> None:
        return None


def _case(root: Path, cid: str, toml: str, log: str | None = "") -> Path:
    d = root / cid
    d.mkdir(parents=True)
    (d / "case.toml").write_text(toml, encoding="utf-8")
    if log is not None:
        (d / "run.log").write_text(log, encoding="utf-8")
    return d


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    root = tmp_path / "cases"
    _case(root, "a", 'category = "data"\nsplit = "dev"\njob = "j"\nrequired_facts = ["qty", "N/A"]\n',
          "VERDICT: data\nCAUSE: bad value N/A in column qty\n")
    _case(root, "b", 'category = "data"\nsplit = "test"\njob = "j"\nrequired_facts = ["qty"]\ntags = ["hard"]\n'
          'forbidden_facts = ["re:\\\\bOOM\\\\b"]\n',
          "VERDICT: infra\nCAUSE: executor OOM\n")
    _case(root, "c", 'category = "infra"\nsplit = "dev"\njob = "j"\nrequired_facts = ["re:disk (is )?full"]\n'
          'tags = ["hard"]\n',
          "VERDICT: infra\nCAUSE: Disk full on node 3\n")
    _case(root, "d", 'category = "code"\nsplit = "test"\njob = "j"\nrequired_facts = ["int_orders"]\n'
          'escalation = "Analytics owners"\n',
          "VERDICT: code\nCAUSE: syntax error in int_orders\n")
    _case(root, "e", 'category = "unknown"\nsplit = "dev"\njob = "j"\n',
          "VERDICT: data\nCAUSE: something about data\n")
    outside = tmp_path / "outside.log"
    outside.write_text("VERDICT: infra\nCAUSE: x\n")
    f = _case(root, "f", 'category = "infra"\nsplit = "test"\njob = "j"\nrequired_facts = ["disk"]\n', None)
    (f / "run.log").symlink_to(outside)  # resolves outside the case dir: the sandbox refuses it
    return root


async def test_evaluate_scores_accuracy_precision_recall_confusion_and_facts(tiny_corpus: Path):
    m = await evaluate(tiny_corpus, provider=VerdictProvider(), topology=ROOT / "topology.toml")
    assert m.n == 6 and m.provider == "stub"
    assert m.accuracy == pytest.approx(3 / 6)
    assert m.confusion == {
        "data": {"data": 1, "infra": 1, "code": 0, "unknown": 0, "error": 0},
        "infra": {"data": 0, "infra": 1, "code": 0, "unknown": 0, "error": 1},
        "code": {"data": 0, "infra": 0, "code": 1, "unknown": 0, "error": 0},
        "unknown": {"data": 1, "infra": 0, "code": 0, "unknown": 0, "error": 0},
    }
    pc = m.per_category
    assert (pc["data"]["precision"], pc["data"]["recall"]) == (0.5, 0.5)
    assert (pc["infra"]["precision"], pc["infra"]["recall"]) == (0.5, 0.5)
    assert (pc["code"]["precision"], pc["code"]["recall"]) == (1.0, 1.0)
    assert pc["unknown"]["precision"] is None and pc["unknown"]["recall"] == 0.0
    assert (m.facts_found, m.facts_required) == (4, 6)
    assert m.fact_recall == pytest.approx(4 / 6)
    assert (m.forbidden_hits, m.cases_with_forbidden) == (1, 1)
    assert m.escalation_accuracy == pytest.approx(2 / 6)   # a and c; d expects another team, f raised
    assert m.errors == 1
    assert m.per_tag == {"hard": {"n": 2, "correct": 1}}
    assert [x["id"] for x in m.misses] == ["b", "e", "f", "d"]  # category misses first
    reasons = {x["id"]: x["reason"] for x in m.misses}
    assert "expected data, got infra sig=stub.infra: executor OOM" in reasons["b"]
    assert "forbidden" in reasons["b"] and "missing facts 'qty'" in reasons["b"]
    assert "AccessDenied" in reasons["f"]
    assert reasons["d"] == "escalated to 'Job owners', expected 'Analytics owners'"


async def test_evaluate_split_filters_cases(tiny_corpus: Path):
    m = await evaluate(tiny_corpus, provider=VerdictProvider(), topology=ROOT / "topology.toml", split="dev")
    assert sorted(r.id for r in m.results) == ["a", "c", "e"]
    assert m.accuracy == pytest.approx(2 / 3)


async def test_render_prints_table_with_confusion_and_misses(tiny_corpus: Path):
    m = await evaluate(tiny_corpus, provider=VerdictProvider(), topology=ROOT / "topology.toml")
    text = render(m)
    assert "accuracy               50.0%  (3/6; 95% interval 18.8%-81.2%)" in text
    assert re.search(r"^data\s+1\s+1\s+0\s+0\s+0$", text, re.M)
    assert re.search(r"^infra\s+0\s+1\s+0\s+0\s+1$", text, re.M)
    assert "misses (4)" in text
    json.dumps(m.to_dict())  # serialisable


def test_percentile_nearest_rank():
    assert percentile([], 50) == 0.0
    assert percentile([5.0], 95) == 5.0
    values = [float(i) for i in range(1, 21)]
    assert percentile(values, 50) == 10.0
    assert percentile(values, 95) == 19.0


def test_progress_draws_bar_on_tty_and_lines_otherwise(tiny_corpus: Path):
    from bot.evaluate import CaseResult

    r = CaseResult(id="a", expected="data", got="infra", expected_team="x", team="x")
    tty, plain = io.StringIO(), io.StringIO()
    Progress(tty, tty=True)(2, 2, r)
    Progress(plain, tty=False)(1, 2, r)
    assert tty.getvalue().startswith("\r[") and tty.getvalue().endswith("\n")
    assert plain.getvalue() == "eval 1/2 a: MISS data->infra\n"


# ---------------------------------------------------------------- broken cases


@pytest.mark.parametrize(("toml", "field"), [
    ('category = "database"\nsplit = "dev"\njob = "j"\n', "category"),
    ('category = "data"\nsplit = "train"\njob = "j"\n', "split"),
    ('category = "data"\njob = "j"\n', "split"),
    ('category = "data"\nsplit = "dev"\njob = "j"\nrequried_facts = ["x"]\n', "requried_facts"),
    ('category = "data"\nsplit = "dev"\njob = "j"\nrequired_facts = ["re:(unclosed"]\n', "required_facts.0"),
    ('category = "data"\nsplit = "dev"\njob = "j"\nlog = "missing.log"\n', "log"),
])
def test_load_case_error_names_file_and_field(tmp_path: Path, toml: str, field: str):
    d = _case(tmp_path, "broken", toml, "x\n")
    with pytest.raises(CaseError) as e:
        load_case(d)
    assert e.value.field == field
    assert str(d / "case.toml") in str(e.value) and f"field '{field}'" in str(e.value)
    assert "\n" not in str(e.value)


def test_load_case_invalid_toml_names_file(tmp_path: Path):
    d = _case(tmp_path, "broken", 'category = "data\n', "x\n")
    with pytest.raises(CaseError, match=re.escape(str(d / "case.toml")) + ": invalid TOML"):
        load_case(d)


def test_load_corpus_rejects_bad_split_and_missing_dir(tmp_path: Path):
    with pytest.raises(BotError, match="--split 'train'"):
        load_corpus(CORPUS, "train")
    with pytest.raises(BotError, match="not a directory"):
        load_corpus(tmp_path / "nope")


# ---------------------------------------------------------------- CLI


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", "eval", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def _copy_cases(dest: Path, *ids: str) -> Path:
    for cid in ids:
        (dest / cid).mkdir(parents=True)
        for f in (CORPUS / cid).iterdir():
            (dest / cid / f.name).write_bytes(f.read_bytes())
    return dest


def test_cli_eval_prints_table_and_progress_lines(tmp_path: Path):
    corpus = _copy_cases(tmp_path / "c", "data_dbt_not_null_test", "infra_k8s_pod_oomkilled")
    p = _cli(str(corpus), "--provider", "offline")
    assert p.returncode == 0, p.stderr
    for heading in ("eval: 2 cases (split all) via offline", "accuracy", "fact recall", "forbidden-fact hits",
                    "escalation accuracy", "latency", "precision", "confusion (rows expected, columns got)"):
        assert heading in p.stdout
    assert "eval 1/2 data_dbt_not_null_test:" in p.stderr and "eval 2/2 infra_k8s_pod_oomkilled:" in p.stderr


def test_cli_eval_json_is_one_object(tmp_path: Path):
    corpus = _copy_cases(tmp_path / "c", "data_dbt_not_null_test")
    p = _cli(str(corpus), "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["n"] == 1 and out["provider"] == "offline"
    assert set(out) >= {"accuracy", "per_category", "confusion", "fact_recall", "forbidden_hits",
                        "escalation_accuracy", "latency_p50_ms", "latency_p95_ms", "misses", "cases"}
    assert out["cases"][0]["id"] == "data_dbt_not_null_test"


def test_cli_eval_broken_case_is_one_line_and_exit_2(tmp_path: Path):
    corpus = _copy_cases(tmp_path / "c", "data_dbt_not_null_test")
    _case(corpus, "zz_broken", 'category = "data"\nsplit = "dev"\n', "x\n")
    p = _cli(str(corpus))
    assert p.returncode == 2
    assert p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "zz_broken/case.toml" in lines[0] and "field 'job'" in lines[0]


# ---------------------------------------------------------------- the real-failure corpus

REAL = ROOT / "eval" / "real"


def test_real_corpus_is_large_sourced_diverse_and_split():
    cases = load_corpus(REAL)
    assert len(cases) >= 300
    assert len({c.system for c in cases}) >= 25
    assert {c.category for c in cases} == {"data", "infra", "code", "unknown"}
    urls = [c.url for c in cases]
    assert all(u.startswith("https://") for u in urls) and len(set(urls)) == len(urls), "one case per thread"
    assert all(c.rationale and c.system for c in cases)
    for cat in ("data", "infra", "code"):
        splits = Counter(c.split for c in cases if c.category == cat)
        assert min(splits.values()) / max(splits.values()) > 0.7, (cat, splits)


def test_real_corpus_facts_are_quoted_from_the_log():
    """A required fact is what a correct root cause names *from the log*: it must be in the quoted excerpt."""
    from bot.evaluate import fact_found

    missing = [(c.id, f) for c in load_corpus(REAL) for f in c.required_facts
               if not fact_found(f, c.log.read_text(encoding="utf-8", errors="replace"))]
    assert missing == []


# ---------------------------------------------------------------- calibration figures

def _result(expected: str, got: str, confidence: float, system: str = "s"):
    from bot.evaluate import CaseResult

    return CaseResult(id=f"{expected}-{got}-{confidence}", expected=expected, got=got, expected_team="t", team="t",
                      confidence=confidence, system=system)


def test_score_reports_reliability_confident_wrong_and_per_system():
    from bot.evaluate import score

    results = [_result("data", "data", 0.95), _result("data", "code", 0.75, "x"), _result("code", "code", 0.55),
               _result("infra", "code", 0.52), _result("infra", "infra", 0.2, "x")]
    m = score(results)
    assert m.confident_answers == 2 and m.confident_precision == 0.5
    assert m.confident_wrong == pytest.approx(1 / 5)
    bins = {b["bin"]: b for b in m.reliability}
    assert (bins["0.5-0.7"]["n"], bins["0.5-0.7"]["correct"]) == (2, 1)
    assert (bins["0.9-1.0"]["n"], bins["0.9-1.0"]["accuracy"]) == (1, 1.0)
    assert m.per_system == {"s": {"n": 3, "correct": 2}, "x": {"n": 2, "correct": 1}}
    text = render(m)
    assert "wrong at conf >= 0.7" in text and "reliability (confidence bin -> observed accuracy)" in text
    assert "accuracy by system" in text and "s 2/3" in text


def test_cli_eval_reports_several_corpora_side_by_side(tmp_path: Path):
    team = _copy_cases(tmp_path / "team", "data_dbt_not_null_test")
    real = tmp_path / "real"
    real.mkdir()
    src = next(c for c in load_corpus(REAL) if c.category == "infra")
    _copy_cases_from(src.dir, real / src.id)
    p = _cli(str(real), str(team))
    assert p.returncode == 0, p.stderr
    head = p.stdout.splitlines()[0]
    assert head.split()[:3] == ["corpus", "cases", "accuracy"] and "wrong@0.7" in head and "or 2nd" in head
    assert p.stdout.index(str(real)) < p.stdout.index(str(team))
    assert f"== {real}" in p.stdout and f"== {team}" in p.stdout
    out = json.loads(_cli(str(real), str(team), "--json").stdout)
    assert set(out["corpora"]) == {str(real), str(team)}


def _copy_cases_from(src: Path, dest: Path) -> None:
    dest.mkdir(parents=True)
    for f in src.iterdir():
        (dest / f.name).write_bytes(f.read_bytes())


def test_accuracy_carries_its_95_percent_interval():
    """A few hundred cases pin an accuracy down to about ±6 points; the report says how far."""
    from bot.evaluate import score, wilson

    lo, hi = wilson(165, 269)
    assert (round(lo, 3), round(hi, 3)) == (0.554, 0.670)
    assert wilson(0, 0) == (0.0, 1.0) and wilson(10, 10)[1] == pytest.approx(1.0) and wilson(10, 10)[0] < 0.75
    m = score([_result("data", "data", 0.9)] * 3 + [_result("data", "code", 0.6)])
    assert m.accuracy_interval == wilson(3, 4)
    assert "95% interval 30.1%-95.4%" in render(m)


def test_score_counts_an_answer_whose_named_runner_up_is_right():
    """'Unsure, two readings' is useful when the second reading is the right one; the report counts it apart."""
    from bot.evaluate import score

    second = _result("data", "code", 0.45)
    second.alternatives = ["data"]
    m = score([_result("code", "code", 0.6), second, _result("infra", "code", 0.5)])
    assert m.accuracy == pytest.approx(1 / 3) and m.first_or_runner_up == pytest.approx(2 / 3)
    assert "first or runner-up     66.7%" in render(m)
