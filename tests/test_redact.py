"""Redaction: every built-in kind is replaced by [REDACTED:<kind>], evidence around it survives."""

from __future__ import annotations

import pytest

from bot.sandbox import Redactor
from tests.secrets_world import PEM_BODY, SECRETS


@pytest.mark.parametrize(("kind", "line", "secret"), SECRETS, ids=[f"{k}-{i}" for i, (k, _, _) in
                                                                   enumerate(SECRETS)])
def test_redact_replaces_secret_kind(kind, line, secret):
    out = Redactor().redact(line)
    assert secret not in out and f"[REDACTED:{kind}]" in out


def test_redact_covers_at_least_sixty_shapes():
    # one planted line per secret shape (a DSN with `/` in the password and one without are two shapes)
    assert len({line for _, line, _ in SECRETS}) == len(SECRETS) >= 60
    assert len({k for k, _, _ in SECRETS}) >= 40


@pytest.mark.parametrize("text", [
    "05:00:41  Done. PASS=41 WARN=0 ERROR=1 SKIP=0 TOTAL=42",
    "[2026-11-20, 06:20:02 UTC] {credentials.py:1123} INFO - Found credentials from IAM Role: airflow-worker",
    "deploy 3f2c1e9a7b6d5c4e3f2a1b0c9d8e7f6a5b4c3d2e image sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822c"
    "d15d6c15b0f00a08 run 123e4567-e89b-12d3-a456-426614174000",
    "3 tests passed: 42; bypass=1; compass=7; token_count=3; session_id=42; --token 7",
    "docker login --username etl --password-stdin < /run/secrets/registry",
    "GET https://api.internal:8443/v1/users/a@b.com 404",
    "application_1700000000000_0001 scheduled__2026-11-19T02_00_00 org.apache.spark.sql.AnalysisException",
    "the row identified by id 42 was missing; login failed with password authentication",
    "AbstractS3ACommitterFactoryV2Impl at /opt/airflow/dags/Orders2026/LoadCustomersV2/Step3Final/run.py",
    "s3://acme-landing/orders/dt=2026-11-19/part-00000-c000.snappy.parquet git@github.com:acme/etl.git",
], ids=["dbt-summary", "file-line", "hashes-uuid", "counters", "password-stdin", "port-and-email", "ids",
        "prose", "identifier-and-path", "paths"])
def test_redact_leaves_evidence_that_merely_looks_secret(text):
    assert Redactor().redact(text) == text


def test_redact_keeps_host_port_user_and_error_text():
    out = Redactor().redact("ERROR could not connect postgres://etl:pw-x1@db.internal:5432/orders: timeout")
    assert out == "ERROR could not connect postgres://etl:[REDACTED:dsn_password]@db.internal:5432/orders: timeout"


def test_redact_leaves_plain_evidence_alone():
    text = ('ERROR relation "analytics.orders" does not exist; max_tokens=4096; retries=3; '
            "FATAL: password authentication failed for user \"etl\"")
    assert Redactor().redact(text) == text


def test_redact_keeps_numeric_token_counters_and_cli_evidence():
    text = ("ERROR mysql -u etl -h db.internal -P 3306 -p orders: Access denied for user 'etl'; token=3; "
            "prompt_tokens: 1500; Authorization: Bearer")
    assert Redactor().redact(text) == text


def test_redact_cli_password_keeps_user_host_port_and_database():
    out = Redactor().redact("mysql -u etl -pS3cr3tPass -h db.internal -P3306 orders")
    assert out == "mysql -u etl -p[REDACTED:cli_password] -h db.internal -P3306 orders"


def test_redact_cli_password_needs_the_program_and_an_attached_value():
    text = "ERROR mysql://db.internal/sales down; tar -pxf dump.tar; redis-cli -h cache ping"
    assert Redactor().redact(text) == text
    assert Redactor().redact("sshpass -p hunter22 ssh etl@h") == "sshpass -p [REDACTED:cli_password] ssh etl@h"


def test_redact_all_digit_password_and_authorization_scheme():
    assert Redactor().redact("password=123456 user=etl") == "password=[REDACTED:password] user=etl"
    assert Redactor().redact("Authorization: Token abcdef0123456789") == \
        "Authorization: Token [REDACTED:authorization]"


def test_redact_lines_redacts_pem_block_spanning_lines():
    lines = ["key: -----BEGIN PRIVATE KEY-----", PEM_BODY, PEM_BODY, "-----END PRIVATE KEY----- loaded", "next"]
    out = Redactor().redact_lines(lines)
    assert out == ["key: [REDACTED:private_key]", "[REDACTED:private_key]", "[REDACTED:private_key]",
                   "[REDACTED:private_key] loaded", "next"]


def test_redact_lines_redacts_pem_block_whose_begin_was_cut_off():
    out = Redactor().redact_lines(["INFO ok", PEM_BODY, PEM_BODY, "-----END EC PRIVATE KEY-----"])
    assert out[0] == "INFO ok" and all(PEM_BODY not in x for x in out)


def test_redact_lines_redacts_unterminated_pem_block_to_the_end():
    out = Redactor().redact_lines(["-----BEGIN OPENSSH PRIVATE KEY-----", PEM_BODY])
    assert PEM_BODY not in "".join(out)


def test_redact_applies_topology_patterns_to_group_or_whole_match():
    r = Redactor(extra=[("customer_id", r"cust-(\d{6})"), ("internal_host", r"secret-host-\w+")])
    assert r.redact("for cust-123456 on secret-host-a1") == \
        "for cust-[REDACTED:customer_id] on [REDACTED:internal_host]"


def test_redact_topology_pattern_with_nested_repeats_is_accepted_and_runs_on_re2(tmp_path):
    from bot.sandbox import SandboxManager
    from tests.fakes.slack_world import make_topology

    topo = make_topology(tmp_path, extra="[[redaction.patterns]]\nname = 'ticket'\npattern = 'TKT-((\\w+)+)!'\n")
    r = SandboxManager.for_topology(topo).redactor
    assert r.redact("see TKT-abc123! now") == "see TKT-[REDACTED:ticket]! now"
    # no `!`: nothing to redact; Python's re would backtrack for minutes on one of these lines, RE2 answers at once
    # (bench/bench_logsize.py measures how RE2's time grows with the text)
    text = "\n".join(["TKT-" + "a" * 1_000] * 200)
    assert r.redact(text) == text


def test_redact_disabled_returns_text_unchanged():
    line = SECRETS[0][1]
    assert Redactor(enabled=False).redact(line) == line
    assert Redactor(enabled=False).redact_lines([line]) == [line]


def test_redact_twice_keeps_the_first_kind():
    # the Claude provider redacts its whole user turn again; a marker must not be re-redacted as another kind
    r = Redactor()
    for _, line, _ in SECRETS:
        once = r.redact(line)
        assert r.redact(once) == once


@pytest.mark.parametrize(("line", "secret"), [
    ("ERROR login as etl failed: the password is hunter2secret", "hunter2secret"),
    ("WARN the new password is: S3cr3t-Pass! (rotate it)", "S3cr3t-Pass!"),
    ("ERROR Invalid password 'Tr0ub4dor&3' for user etl", "Tr0ub4dor&3"),
    ('ERROR connect failed for user "etl", password "pa ss w0rd"', "pa ss w0rd"),
    # inside a JSON log record the quotes are escaped, and records.py decodes them after redaction
    ('{"level":"error","msg":"connection failed: invalid password \\"Hunter2!x\\" for user etl"}', "Hunter2!x"),
    # a value that merely starts with yes / no / true / a number is a password, not the word
    ("password=Yes!Secret2024", "Yes!Secret2024"), ("DB_PASSWORD=no-way-Jose7", "no-way-Jose7"),
    ("PGPASSWORD=yes-i-am-42", "yes-i-am-42"), ("password=true.Bl00d", "true.Bl00d"),
])
def test_redact_prose_and_quoted_passwords(line, secret):
    out = Redactor().redact(line)
    assert secret not in out and "[REDACTED:password]" in out, out


@pytest.mark.parametrize("text", [
    "ERROR 1045 (28000): Access denied for user 'etl'@'10.0.0.1' (using password: YES)",
    "ERROR 1045 (28000): Access denied for user 'etl'@'localhost' (using password: NO)",
    "the password is incorrect for user etl", "password is required", "the token is expired; password was reset",
    # numbers and words that end at a dot, colon, slash or bracket are still evidence
    "pass_rate=0.95", "prompt_tokens=1500.0 completion_tokens=3.5", "dbt: PASS=41. WARN=0",
    "retry token=3: giving up", "tokens: 1500/4096 used", "[using password: NO]",
])
def test_redact_keeps_what_a_password_message_says(text):
    # MySQL's `using password: NO` says the job sent none: the evidence that decides a config bug
    assert Redactor().redact(text) == text
