"""`etl-triage history` and `etl-triage db upgrade` as a person runs them, on a store a bot wrote."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

import pytest

from bot.contract import Escalation, TriageReport
from bot.errors import BotError
from bot.history import parse_since
from bot.store import open_store
from tests.conftest import ROOT


def _env(**kw: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ETL_TRIAGE_"))}
    return {**env, **kw}


async def _cli(*args: str, **env: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", *args, cwd=ROOT, env=_env(**env),
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def _seed(url: str) -> None:
    at = [time.time()]
    s = await open_store(url, clock=lambda: at[0])
    try:
        for ago, ts, job, cat, cause in ((10 * 86400, "1.0", "orders_daily", "data", "upstream file lost customer_id"),
                                         (3600, "2.0", "customer_sync", "infra", "warehouse connection refused")):
            at[0] = time.time() - ago
            c = await s.claim_alert("C1", ts, {"job": job}, owner="p", lease_s=30)
            await s.set_reply(c, "C1", ts + "5")
            await s.finish(c, TriageReport(job=job, category=cat, confidence=0.87, root_cause=cause, action="x",
                                           escalation=Escalation(team="t"), provider="offline", duration_ms=9))
        fid = await s.record_feedback("C1", "2.05", "wrong_diagnosis", user="UBOB", job="customer_sync")
        await s.correct(fid, category="code", cause="bad retry config", user="UBOB")
    finally:
        await s.close()


async def test_cli_history_lists_triages_with_feedback_and_filters(tmp_path):
    state = tmp_path / "state"
    await _seed(f"sqlite:///{state / 'etl-triage.db'}")
    code, out, err = await _cli("history", ETL_TRIAGE_STATE_DIR=str(state))
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 2 and "customer_sync  INFRA 87%  warehouse connection refused" in lines[0]
    assert "[wrong diagnosis by UBOB → code: bad retry config]" in lines[0]
    assert "orders_daily  DATA 87%" in lines[1]

    code, out, _ = await _cli("history", "--job", "orders_daily", "--json", ETL_TRIAGE_STATE_DIR=str(state))
    [row] = json.loads(out)
    assert (row["job"], row["category"], row["root_cause"], row["feedback"]) == \
        ("orders_daily", "data", "upstream file lost customer_id", [])

    code, out, _ = await _cli("history", "--since", "7d", ETL_TRIAGE_STATE_DIR=str(state))
    assert [line.split("  ")[1] for line in out.strip().splitlines()] == ["customer_sync"]


async def test_cli_history_on_postgres(pg_url, tmp_path):
    await _seed(pg_url)
    code, out, err = await _cli("history", "--json", ETL_TRIAGE_DATABASE_URL=pg_url)
    assert code == 0, err
    assert [r["job"] for r in json.loads(out)] == ["customer_sync", "orders_daily"]


async def test_cli_history_empty_store_says_so(tmp_path):
    await (await open_store(f"sqlite:///{tmp_path / 'etl-triage.db'}")).close()
    code, out, _ = await _cli("history", "--job", "nope", ETL_TRIAGE_STATE_DIR=str(tmp_path))
    assert code == 0 and out.startswith("no triages for job 'nope' in ")


async def test_cli_history_without_a_database_creates_none(tmp_path):
    """A read-only command wrote an empty state database (and its folder) where none was."""
    state = tmp_path / "state"
    code, out, _ = await _cli("history", ETL_TRIAGE_STATE_DIR=str(state))
    assert code == 0 and out.startswith("no triages yet:") and not state.exists()


async def test_cli_db_upgrade_applies_then_reports_up_to_date(store_url):
    env = {"ETL_TRIAGE_DATABASE_URL": store_url}
    code, out, err = await _cli("db", "upgrade", **env)
    assert code == 0 and "schema version 2 (applied 1, 2)" in out, err
    code, out, _ = await _cli("db", "upgrade", **env)
    assert code == 0 and "(up to date)" in out


async def test_cli_history_unreachable_database_is_one_line_exit_2():
    code, out, err = await _cli("history", ETL_TRIAGE_DATABASE_URL="postgresql://postgres@127.0.0.1:1/x")
    assert code == 2 and out == ""
    [line] = err.strip().splitlines()
    assert line.startswith("etl-triage: error: state database postgresql://postgres@127.0.0.1:1/x is unreachable")


@pytest.mark.parametrize(("text", "seconds"), [("7d", 7 * 86400), ("12h", 43200), ("30m", 1800), ("2w", 1209600)])
def test_history_since_units(text, seconds):
    assert parse_since(text) == seconds


def test_history_since_rejects_garbage_with_an_example():
    with pytest.raises(BotError) as e:
        parse_since("last week")
    assert "e.g. 7d" in str(e.value)
