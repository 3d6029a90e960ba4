"""JSON log records (Airbyte, Dagster, structlog, Cloud Logging) are read as the plain lines they carry."""

from __future__ import annotations

import json

import pytest

from bot.contract import Alert
from bot.offline.classify import classify
from bot.offline.records import plain_records
from bot.sandbox import Excerpt, Line

TRACEBACK = [
    "Traceback (most recent call last):",
    '  File "/opt/airflow/dags/orders/load.py", line 41, in load',
    '    df["customer_id"] = df["cust_id"].astype(int)',
    "KeyError: 'cust_id'",
]


def _excerpt(texts: list[str]) -> Excerpt:
    return Excerpt("/var/log/etl/orders/run.log", [Line(i, t) for i, t in enumerate(texts, 1)], size=1)


@pytest.mark.parametrize("record", [
    {"level": "error", "message": "\n".join(TRACEBACK)},                                  # structlog / python-json
    {"type": "LOG", "log": {"level": "ERROR", "message": "\n".join(TRACEBACK)}},           # Airbyte
    {"severity": "ERROR", "msg": "load failed", "exc_info": "\n".join(TRACEBACK)},         # exception in its own field
    {"event": "\n".join(TRACEBACK), "level": "error"},                                   # structlog's default key
    {"textPayload": "\n".join(TRACEBACK), "severity": "ERROR"},                          # Cloud Logging export
    {"log": "\x1b[31m" + "\n".join(TRACEBACK) + "\x1b[0m\n", "stream": "stderr"},           # docker json-file, colours
])
def test_a_json_record_classifies_like_the_log_it_carries(record):
    bare = classify(_excerpt(["INFO starting load", *TRACEBACK]), Alert(job="orders"))
    wrapped = classify(_excerpt([json.dumps({"level": "info", "msg": "starting load"}), json.dumps(record)]),
                       Alert(job="orders"))
    assert bare.category == "data" and bare.facts["column"] == "cust_id"
    assert (wrapped.category, wrapped.facts.get("column")) == ("data", "cust_id")
    assert any(e.text == "KeyError: 'cust_id'" and e.line == 2 for e in wrapped.evidence)   # the record's line


def test_a_record_cut_at_the_line_limit_still_gives_its_message():
    cut = json.dumps({"level": "error", "message": "\n".join(TRACEBACK) + "\n" + "x" * 5000})[:4000]
    [*_, last] = plain_records([Line(7, cut)])
    assert [ln.text for ln in plain_records([Line(7, cut)])][:4] == ["ERROR Traceback (most recent call last):",
                                                                     *TRACEBACK[1:]]
    assert last.number == 7 and last.text.startswith("xxx")


@pytest.mark.parametrize("text", [
    '{"error": {"code": 403, "errors": [{"reason": "accessDenied"}]}}',   # a payload: no message field
    'ERROR response {"message": "quota exceeded"}',                        # a payload printed in a text line
    "{orders} loaded 10 rows",                                             # braces, not JSON
])
def test_other_lines_are_left_as_they_are(text):
    assert plain_records([Line(1, text)]) == [Line(1, text)]


def test_an_error_payload_escaped_inside_a_record_is_read_not_dropped():
    # a value that is itself JSON (an API's error body) was skipped, and the record read as just "load failed"
    payload = json.dumps({"error": {"code": 403, "message": "Access Denied: User etl lacks bigquery.tables.create"}})
    record = json.dumps({"level": "error", "msg": "load failed", "error": payload})
    texts = [ln.text for ln in plain_records([Line(3, record)])]
    assert texts[0] == "ERROR load failed"
    assert "Access Denied: User etl lacks bigquery.tables.create" in texts
