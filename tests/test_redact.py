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


def test_redact_covers_at_least_twenty_kinds():
    assert len({k for k, _, _ in SECRETS}) >= 20


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


def test_redact_disabled_returns_text_unchanged():
    line = SECRETS[0][1]
    assert Redactor(enabled=False).redact(line) == line
    assert Redactor(enabled=False).redact_lines([line]) == [line]
