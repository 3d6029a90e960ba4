"""Taxonomies as validated data, the learned fallback's file, and confidence that follows its calibration."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from bot.contract import CONFIDENT, LIKELY, certainty
from bot.offline import calibration, model
from bot.offline.taxonomy import TaxonomyError, taxonomy

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_taxonomy_covers_every_family_the_issue_names():
    t = taxonomy()
    assert len(t) > 600
    for kind, key in [("exception", "KeyError"), ("exception", "java.lang.NullPointerException"),
                      ("exception", "FetchFailedException"), ("exception", "SafeModeException"),
                      ("exception", "ArrowInvalid"), ("exception", "NoCredentialsError"),
                      ("sqlstate", "23"), ("sqlstate", "53"), ("sqlstate", "42501"),
                      ("vendor", "ora:01652"), ("vendor", "snowflake:100038"), ("vendor", "mysql:1062"),
                      ("vendor", "mssql:18456"), ("vendor", "bigquery:rateLimitExceeded"),
                      ("vendor", "spark:CAST_INVALID_INPUT"), ("http", "429"), ("errno", "ENOSPC"),
                      ("signal", "SIGKILL"), ("exit", "137"), ("cloud", "ExpiredToken")]:
        assert t.get(kind, key) is not None or (kind == "sqlstate" and t.sqlstate(key)), (kind, key)


def test_exception_lookup_walks_dotted_suffixes_then_name_parts():
    t = taxonomy()
    assert t.exception("org.apache.spark.shuffle.FetchFailedException").cat == "infra"
    assert t.exception("psycopg2.errors.UniqueViolation").cat == "data"
    hit = t.exception("com.acme.WarehouseConnectionTimeoutException")
    assert hit is not None and hit.kind == "name_parts" and hit.cat == "infra"
    assert t.exception("com.acme.Frobnicated") is None


def test_sqlstate_falls_back_to_its_class():
    t = taxonomy()
    assert t.sqlstate("22P02").key == "22" and t.sqlstate("42703").key == "42703"


@pytest.mark.parametrize(("line", "kind", "key", "cat"), [
    ("terminated with exit code (137). Reason [Error]. Message:", "exit", "137", "infra"),
    ("io.debezium.DebeziumException: Could not execute heartbeat action (Error: 57P01)", "sqlstate", "57P01", "infra"),
    ("ServerOperationError: [INSUFFICIENT_PERMISSIONS] Insufficient privileges:", "vendor",
     "spark:INSUFFICIENT_PERMISSIONS", "infra"),
    ('"message": "Error code: PublicIPCountLimitReached, error message: Cannot create more than 10 public IP',
     "cloud", "PublicIPCountLimitReached", "infra"),
    # Snowflake's Python connector prints its number without the SQLSTATE the JDBC form carries
    ("snowflake.connector.errors.OperationalError: 250003: Failed to get the response. Hanging? method: post",
     "vendor", "snowflake:250003", "infra"),
])
def test_codes_no_table_lists_are_read_by_their_shape_and_name(line: str, kind: str, key: str, cat: str):
    """Real forms that were missed: a parenthesised exit code (Kubernetes/Flyte), a JDBC driver's SQLSTATE,
    and Spark classes or cloud codes not listed one by one, which the name parts judge."""
    from bot.offline.rootline import Ident, identifiers, lookup

    ident = Ident(kind, key)
    assert ident in identifiers(line)
    entry = lookup(ident)
    assert entry is not None and entry.cat == cat


@pytest.mark.parametrize("line", [
    "INFO [KAFKA_CONNECT] connector started", "INFO [SCHEMA_REGISTRY] registered subject orders-value",
    "INFO [CONFIG_LOADER] loaded 12 keys", '{"code": "ImportStarted", "status": "ok"}',
    "reason: scheduledImport", "ERROR [TOKEN_SERVICE] request rejected",
])
def test_a_tag_or_status_word_is_not_judged_as_an_error_code(line: str):
    """Name parts judge codes that say they failed (INSUFFICIENT_PERMISSIONS, ...LimitReached), not a bracketed
    component tag or a status word: `[TOKEN_SERVICE]` must not make a log infra (review finding)."""
    from bot.offline.rootline import identifiers, lookup

    assert [lookup(i) for i in identifiers(line) if i.kind in ("vendor", "cloud")] in ([], [None])


def test_a_numbered_vendor_code_is_never_judged_by_its_name():
    from bot.offline.rootline import Ident, lookup

    assert lookup(Ident("vendor", "snowflake:999999")) is None


@pytest.mark.parametrize(("text", "message"), [
    ('[exception]\nKeyError = { cat = "dat", conf = 0.5, why = "x" }\n', "[exception] 'KeyError': cat:"),
    ('[exception]\nKeyError = { cat = "data", conf = 1.5, why = "x" }\n', "[exception] 'KeyError': conf:"),
    ('[exception]\nKeyError = { cat = "data", conf = 0.5, why = "x", reson = "y" }\n', "reson"),
    ('[excepton]\nKeyError = { cat = "data", conf = 0.5, why = "x" }\n', "unknown table [excepton]"),
    ('[exception\n', "cannot read the taxonomy"),
])
def test_a_broken_taxonomy_names_the_file_table_and_entry(tmp_path: Path, text, message):
    f = tmp_path / "taxonomy.toml"
    f.write_text(text)
    with pytest.raises(TaxonomyError) as e:
        taxonomy(f)
    assert str(f) in str(e.value) and message in str(e.value)


def test_shipped_model_is_reviewable_data_trained_on_dev_only():
    raw = json.loads(model.WEIGHTS.read_text())
    assert "dev splits only" in raw["about"] and set(raw["weights"]) == set(model.LABELS)
    assert all("_bias" in w for w in raw["weights"].values())


def test_model_predicts_from_weights_and_is_silent_without_them():
    w = {"data": {"_bias": 0.0, "t:parse": 2.0}, "infra": {"_bias": 0.0}, "code": {"_bias": 0.5}}
    p = model.predict(["t:parse"], w)
    assert p is not None and p.category == "data" and p.runner_up == "code" and p.probability > 0.6
    assert model.predict(["t:parse"], {}) is None
    assert model.weights(Path("/nonexistent/model.json")) == {}


@pytest.mark.parametrize(("words", "label"), [
    ("Bad UTF8 hex sequence in row 12", "data"), ("cannot cast the value", "data"),
    ("the endpoint is unreachable", "infra"), ("token expired", "infra"),
    ("the option is deprecated", "code"), ("module has no attribute frob", "code"),
])
def test_an_error_in_words_the_corpus_never_saw_still_leans_by_the_lexicon(words: str, label: str):
    # an error line of unseen tokens gave the model nothing but its bias (CODE); the lexicon's words say whose
    # problem such an error usually is, with weights learned across the whole corpus
    from bot.offline.rootline import candidates
    from bot.sandbox import Line

    def p_of(text: str) -> float:
        lines = [Line(1, f"ERROR Zorblax halted: {text}")]
        feats = model.features(lines, candidates(lines, 0))
        p = model.predict(feats)
        assert p is not None
        probs = {p.category: p.probability, p.runner_up: p.runner_up_probability}
        return probs.get(label, 0.0)

    lines = [Line(1, f"ERROR Zorblax halted: {words}")]
    assert f"lex:{label}" in model.features(lines, candidates(lines, 0))
    assert p_of(words) > p_of("quux")


PARAMS = {"offset": {"signature": 0.0, "default": 0.0}, "slope": 1.0, "agree": 0.5, "dispute": -0.5, "knee": 0.8}


def test_calibration_is_monotone_and_agreement_raises_it():
    values = [calibration.calibrate("signature", r / 20, agrees=False, disputed=False, params=PARAMS)
              for r in range(1, 20)]
    assert values == sorted(values)
    base = calibration.calibrate("signature", 0.7, agrees=False, disputed=False, params=PARAMS)
    assert calibration.calibrate("signature", 0.7, agrees=True, disputed=False, params=PARAMS) > base
    assert calibration.calibrate("signature", 0.7, agrees=False, disputed=True, params=PARAMS) < base


def test_confident_starts_at_the_knee():
    below = calibration.calibrate("model", 0.79, agrees=False, disputed=False, params=PARAMS)
    above = calibration.calibrate("model", 0.81, agrees=False, disputed=False, params=PARAMS)
    assert LIKELY <= below < CONFIDENT <= above


def test_a_rule_answer_is_never_confident_on_its_own_once_calibrated():
    """The knee is set by out-of-fold model answers; a rule's in-sample dev record cannot earn 'confident'."""
    rule = calibration.calibrate("signature", 0.97, agrees=True, disputed=False, params=PARAMS)
    assert LIKELY <= rule < CONFIDENT


def _train_model_script():  # eval/train_model.py is a script, not a package module
    spec = importlib.util.spec_from_file_location("train_model", ROOT / "eval" / "train_model.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def test_only_out_of_fold_answers_can_make_the_engine_confident():
    """Rules were written while reading dev: 40 right dev answers of a signature prove nothing about new logs,
    40 right out-of-fold answers of the model do."""
    script = _train_model_script()
    params = {**PARAMS, "offset": {"default": 0.0}}

    def rows(source: str) -> list[tuple]:
        return [(source, 0.9, True, False, True, "code", "code", "code")] * 40

    assert script.knee(rows("signature-platform"), params) == 0.99
    assert script.knee(rows("model"), params) < 0.99


def test_without_a_calibration_file_the_raw_score_passes_lowered_when_disputed():
    assert calibration.calibrate("x", 0.8, agrees=False, disputed=False, params={}) == 0.8
    assert calibration.calibrate("x", 0.8, agrees=False, disputed=True, params={}) == 0.65


def test_the_words_follow_the_number():
    assert certainty(0.92) == "confident" and certainty(0.55) == "likely"
    assert certainty(0.4) == "unsure" and certainty(0.4, True) == "unsure, two readings"


def test_the_lexicon_reads_status_codes_as_words_not_digits_inside_numbers():
    # `429` / `50x` matched inside a query id or a position and leaned the line towards infra
    from bot.offline.rootline import candidates
    from bot.sandbox import Line

    def lex(text: str) -> set[str]:
        lines = [Line(1, f"ERROR {text}")]
        return {f for f in model.features(lines, candidates(lines, 0)) if f.startswith("lex:")}

    assert "lex:infra" not in lex("value 15029 rejected at position 4300504")
    assert "lex:infra" in lex("HTTP 503 from the API") and "lex:infra" in lex("status 429: slow down")
