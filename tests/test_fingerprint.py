"""Fingerprints: the same failure on another day, run or worker is the same; another column, table or database
is not; the offline and Claude providers agree (the Claude side against the loopback Messages API)."""

from __future__ import annotations

import json
from pathlib import Path

from bot.contract import Alert, TriageReport
from bot.engine import read_fingerprint, run_triage
from bot.fingerprint import template
from bot.providers.anthropic import AnthropicProvider
from bot.providers.offline import OfflineProvider
from bot.sandbox import SandboxManager
from bot.settings import Settings
from bot.topology import load_topology
from tests.conftest import ROOT
from tests.fakes.anthropic_api import FakeAnthropic
from tests.test_anthropic_cli import _cli, _env

KEYERROR = """\
[{day}, 02:00:03 UTC] INFO - Starting attempt 1 of 3 on {host}
[{day}, 02:00:14 UTC] ERROR - Task failed with exception (run {run})
Traceback (most recent call last):
  File "/opt/airflow/dags/orders/load.py", line {line}, in load_orders
    df["{col}"] = df["{col}"].astype("int64")
KeyError: '{col}'
[{day}, 02:00:14 UTC] INFO - Task exited with return code 1
"""
SPARK = """\
{day} 03:41:55 WARN TaskSetManager: Lost task 112.0 in stage 7.0 (TID {tid}) ({ip} executor 4): \
ExecutorLostFailure (executor 4 exited caused by one of the running tasks) Reason: Container killed by YARN for \
exceeding physical memory limits. {used} GB of 9 GB physical memory used. Consider boosting spark.executor.memory
"""
PG_DOWN = """\
[{day}, 04:00:01 UTC] ERROR - Task failed with exception
psycopg2.OperationalError: could not translate host name "{host}" to address: Temporary failure in name resolution
"""
SNOWFLAKE = """\
[{day}, 05:00:01 UTC] ERROR - Task failed with exception
snowflake.connector.errors.ProgrammingError: 002003 (42S02): SQL compilation error:
Object '{table}' does not exist or not authorized.
"""


async def _fp(tmp: Path, text: str, job: str = "orders_daily", name: str = "run.log") -> TriageReport:
    log = tmp / "logs" / job / name
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(text)
    topo = load_topology(ROOT / "topology.toml", {"log_root": str(tmp / "logs"), "data_root": str(tmp / "data"),
                                                  "repo_root": str(tmp / "repo")})
    return await run_triage(topo, Alert(job=job, source="cli"), provider=OfflineProvider(), log_path=log)


def _key(**kw: str) -> str:
    base = {"day": "2026-11-20", "host": "worker-3.prod", "run": "scheduled__2026-11-20T02:00:00", "line": "88",
            "col": "customer_id"}
    return KEYERROR.format(**{**base, **kw})


async def test_fingerprint_same_failure_across_days_runs_and_workers_is_equal(tmp_path):
    a = await _fp(tmp_path / "a", _key())
    b = await _fp(tmp_path / "b", _key(day="2026-12-03", host="worker-17.prod", run="manual__2026-12-03T09:12:44",
                                       line="91"))
    assert a.fingerprint is not None and a.fingerprint == b.fingerprint
    assert a.fingerprint.signature == "python.keyerror_column" and a.fingerprint.category == "data"
    assert "customer_id" in a.fingerprint.template
    s1 = await _fp(tmp_path / "c", SPARK.format(day="26/11/20", tid="3391", ip="10.4.2.17", used="9.1"))
    s2 = await _fp(tmp_path / "d", SPARK.format(day="26/12/01", tid="77", ip="10.9.0.3", used="9.4"))
    assert s1.fingerprint == s2.fingerprint and s1.fingerprint.signature == "spark.yarn_memory_kill"


async def test_fingerprint_different_column_table_or_database_differs(tmp_path):
    a = await _fp(tmp_path / "a", _key())
    b = await _fp(tmp_path / "b", _key(col="order_id"))
    assert a.fingerprint.id != b.fingerprint.id
    t1 = await _fp(tmp_path / "c", SNOWFLAKE.format(day="2026-11-20", table="ANALYTICS.ORDERS"))
    t2 = await _fp(tmp_path / "d", SNOWFLAKE.format(day="2026-11-21", table="ANALYTICS.PAYMENTS"))
    t3 = await _fp(tmp_path / "e", SNOWFLAKE.format(day="2026-11-22", table="ANALYTICS.ORDERS"))
    assert t1.fingerprint.id != t2.fingerprint.id and t1.fingerprint.id == t3.fingerprint.id
    h1 = await _fp(tmp_path / "f", PG_DOWN.format(day="2026-11-20", host="payments-db.prod.internal"))
    h2 = await _fp(tmp_path / "g", PG_DOWN.format(day="2026-11-20", host="orders-db.prod.internal"))
    assert h1.fingerprint.id != h2.fingerprint.id
    assert h1.fingerprint.infra_key == "infra:host=payments-db.prod.internal"


async def test_fingerprint_infra_key_is_shared_by_jobs_naming_the_same_host(tmp_path):
    a = await _fp(tmp_path / "a", PG_DOWN.format(day="2026-11-20", host="wh.prod.internal"), job="orders_daily")
    b = await _fp(tmp_path / "b", PG_DOWN.format(day="2026-11-20", host="wh.prod.internal"), job="payments_load")
    assert a.fingerprint.infra_key == b.fingerprint.infra_key is not None


def test_fingerprint_template_masks_what_changes_between_runs():
    line = ("[2026-11-20, 02:00:14 UTC] {taskinstance.py:2698} ERROR - load of s3://bucket/2026/11/20/part-0001.csv "
            "failed for run 8f14e45fceea167a5a36dedd4bea2543 at 2026-11-20T02:00:14Z: value '2026-11-20' in "
            "/data/in/x.csv, id 123456, host 10.0.0.7:5432, job 9b2c1d4e-0000-4000-8000-1234567890ab")
    assert template(line) == ("load of <url> failed for run <hex> at <ts>: value '<v>' in <path>, id <n>, "
                              "host <ip>, job <uuid>")


async def test_fingerprint_stable_across_offline_and_claude(tmp_path):
    log = tmp_path / "logs" / "orders_daily" / "run.log"
    log.parent.mkdir(parents=True)
    log.write_text(_key())
    topo = load_topology(ROOT / "topology.toml", {"log_root": str(tmp_path / "logs"), "data_root": str(tmp_path / "d"),
                                                  "repo_root": str(tmp_path / "r")})
    offline = await run_triage(topo, Alert(job="orders_daily"), provider=OfflineProvider(), log_path=log)
    async with FakeAnthropic() as fake:  # the fake's answers say nothing about the log: the fingerprint must not care
        provider = AnthropicProvider.from_env(None, Settings(anthropic_api_key="t", anthropic_base_url=fake.base_url))
        try:
            claude = await run_triage(topo, Alert(job="orders_daily"), provider=provider, log_path=log)
        finally:
            await provider.aclose()
        code, out, err = await _cli("run", "--provider", "anthropic", "--log", str(log), "--log-root",
                                    str(tmp_path / "logs"), "--json",
                                    env=_env(ANTHROPIC_BASE_URL=fake.base_url, ANTHROPIC_API_KEY="t"))
    assert {s.provider for s in claude.stages} == {"anthropic"}
    assert claude.fingerprint == offline.fingerprint is not None
    assert code == 0, err
    cli = json.loads(out)["fingerprint"]
    assert cli["id"] == offline.fingerprint.id and cli["template"] == offline.fingerprint.template
    sandboxes = SandboxManager.for_topology(topo)
    try:
        before = await read_fingerprint(topo, Alert(job="orders_daily"), sandboxes=sandboxes, log_path=log)
    finally:
        await sandboxes.aclose()
    assert before == offline.fingerprint
