"""Shared fixtures. Fixture worlds are built in tmp_path; nothing here touches the network.

Store tests run on both engines: a SQLite file in tmp_path, and a real PostgreSQL server from
ETL_TRIAGE_TEST_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test), one fresh schema per test.
Without a server the Postgres cases skip, with one line saying how to provide one (CI=true: they fail).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parent.parent
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
_pg_problem: list[str] = []


@pytest.fixture
def repo_root() -> Path:
    return ROOT


def _pg_admin_url() -> str:
    return os.environ.get("ETL_TRIAGE_TEST_DATABASE_URL") or PG_DEFAULT


@pytest.fixture(scope="session")
def pg_admin() -> str:
    """A reachable Postgres (URL) to create test schemas in, else skip (fail under CI)."""
    import psycopg

    from bot.store import redact_url

    url = _pg_admin_url()
    try:
        psycopg.connect(url, connect_timeout=3, autocommit=True).close()
    except Exception as e:
        why = " ".join(str(e).split())[:200]
        msg = (f"Postgres tests skipped: no server at {redact_url(url)} ({why}); set ETL_TRIAGE_TEST_DATABASE_URL="
               "postgresql://USER@HOST:PORT/DB to a database where you may create schemas")
        if os.environ.get("CI"):
            pytest.fail(msg.replace("skipped", "cannot run under CI"))
        _pg_problem[:] = [msg]
        pytest.skip(msg)
    return url


def with_schema(url: str, schema: str) -> str:
    """`url` whose sessions use `schema` first (libpq's options=-csearch_path=…)."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture
def pg_url(pg_admin: str):
    """A fresh, empty schema on the test server for one test; dropped afterwards."""
    import psycopg

    schema = f"etl_triage_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield with_schema(pg_admin, schema)
    with psycopg.connect(pg_admin, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path: Path) -> str:
    """Each engine in turn: a SQLite file, then a Postgres schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'etl-triage.db'}"
    return request.getfixturevalue("pg_url")


def pytest_terminal_summary(terminalreporter) -> None:
    if _pg_problem:
        terminalreporter.write_line(_pg_problem[0])


@pytest.fixture(autouse=True)
def _private_state_home(tmp_path_factory, monkeypatch):
    """Every test (and every `serve` it starts) gets its own default state database: a claim left in
    ~/.local/state by an earlier run must never make a later run's alert look like a redelivery."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state-home")))
