"""Planted secrets (kind, line of log holding it, the secret value that must never be shown)."""

from __future__ import annotations

PEM_BODY = "MIIEowIBAAKCAQEAvX2k9Qm1Y0s4Lr7pZpQXo3kVYz8Jm2b1r2Zc0fJYp6o4NfTq"

SECRETS: list[tuple[str, str, str]] = [
    ("aws_access_key", "ERROR S3 AccessDenied for key AKIAQ3EGRSTUVWXYZ234 on bucket raw-events",
     "AKIAQ3EGRSTUVWXYZ234"),
    ("aws_secret_key", "ERROR env aws_secret_access_key=wJalrXUtnFEMIK7MDENGbPxRfiCYzEXAMPLEKEY1 rejected",
     "wJalrXUtnFEMIK7MDENGbPxRfiCYzEXAMPLEKEY1"),
    ("dsn_password", "ERROR could not connect postgres://etl:pg-Sup3rSecret@db.internal:5432/orders", "pg-Sup3rSecret"),
    ("dsn_password", "ERROR mysql://loader:my-Hidd3nPw@mysql.internal:3306/sales refused", "my-Hidd3nPw"),
    ("dsn_password", "ERROR redis://:rd-Passw0rdX@cache.internal:6379/0 timeout", "rd-Passw0rdX"),
    ("dsn_password", "ERROR GET https://svc:http-B4sicPw@api.internal/v1/export 401", "http-B4sicPw"),
    ("password", "ERROR login failed password=kv-Pa55word99 user=etl", "kv-Pa55word99"),
    ("password", 'ERROR payload {"user": "etl", "password": "json-Pw 77x"}', "json-Pw 77x"),
    ("secret", "ERROR oauth client_secret=cs-9f8e7d6c5b4a rejected", "cs-9f8e7d6c5b4a"),
    ("token", "ERROR refresh failed access_token=tk-a1b2c3d4e5f6", "tk-a1b2c3d4e5f6"),
    ("api_key", "ERROR vendor api_key: ak-0011223344556677 invalid", "ak-0011223344556677"),
    ("bearer_token", "ERROR 401 Authorization: Bearer brr-opaqueTokenValue12345", "brr-opaqueTokenValue12345"),
    ("jwt", "ERROR token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJldGwtYm90In0.c2lnbmF0dXJlLXNlY3JldA expired",
     "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJldGwtYm90In0.c2lnbmF0dXJlLXNlY3JldA"),
    ("slack_token", "ERROR slack xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp invalid_auth",
     "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp"),
    ("slack_webhook", "ERROR POST https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/XyZsecretHookPath123 failed",
     "T0AAAAAAA/B0BBBBBBB/XyZsecretHookPath123"),
    ("github_token", "ERROR git clone with ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8 failed",
     "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"),
    ("openai_key", "ERROR openai key sk-proj-Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2 quota", "sk-proj-Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2"),
    ("anthropic_key", "ERROR anthropic sk-ant-api03-Qq1Ww2Ee3Rr4Tt5Yy6Uu7Ii8 overloaded",
     "sk-ant-api03-Qq1Ww2Ee3Rr4Tt5Yy6Uu7Ii8"),
    ("stripe_key", "ERROR stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc declined", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    ("google_api_key", "ERROR bigquery key AIzaSyD-1234567890abcdefghijklmnopqrstu quota",
     "AIzaSyD-1234567890abcdefghijklmnopqrstu"),
    ("databricks_token", "ERROR databricks dapi0123456789abcdef0123456789abcdef 403",
     "dapi0123456789abcdef0123456789abcdef"),
    ("datadog_key", "ERROR metrics DD_API_KEY=abcdef0123456789abcdef0123456789 forbidden",
     "abcdef0123456789abcdef0123456789"),
    ("azure_storage_key", "ERROR blob DefaultEndpointsProtocol=https;AccountName=lake;"
     "AccountKey=QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk=;EndpointSuffix=core.windows.net",
     "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="),
    ("gitlab_token", "ERROR gitlab glpat-xYz0123456789AbCdEfGh push failed", "glpat-xYz0123456789AbCdEfGh"),
    ("password", "ERROR login failed password=94817263 for user etl", "94817263"),
    ("api_key", "ERROR vendor rejected api_key=12345678901234567890 (HTTP 403)", "12345678901234567890"),
    ("secret", "ERROR vault client_secret: 5550172839 expired", "5550172839"),
    ("authorization", "ERROR GET /v2/export 401 Authorization: Token 9f8e7d6c5b4a39281706f5e4d3c2b1a0",
     "9f8e7d6c5b4a39281706f5e4d3c2b1a0"),
    ("cli_password", "ERROR command failed: mysql -u etl -pS3cr3tPass -h db.internal -P 3306 orders", "S3cr3tPass"),
    ("cli_password", "ERROR mysqldump --single-transaction -u loader -p'Dump-Pw_42' sales exited 2", "Dump-Pw_42"),
    ("private_key", f"ERROR bad key -----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n{PEM_BODY[::-1]}\n"
     "-----END RSA PRIVATE KEY-----", PEM_BODY),
]


def secret_log() -> str:
    lines = ["2026-11-20 02:00:00 INFO starting orders_daily"]
    lines += [line for _, line, _ in SECRETS]
    lines.append("ERROR Task failed: could not connect to server db.internal:5432 (Connection refused)")
    return "\n".join(lines) + "\n"
