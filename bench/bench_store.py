"""What the durable store adds to each triage, on SQLite and on Postgres (goal: ≤ 5 ms median).

    .venv/bin/python bench/bench_store.py [--n 500] [--alerts 30] [--pg URL]

1. The store calls one triage makes — claim the alert (alert + triage rows), record the reply ts, reserve a
   post slot in the channel's shared pace, record the report — timed together, per triage.
2. At the wire: alert → final report in the thread through the real Bolt app and the fake Web API, with no
   store (memory only), a SQLite file, and Postgres; the difference is the store's cost as a user sees it.

Postgres: --pg, else ETL_TRIAGE_TEST_DATABASE_URL, else postgresql://postgres@127.0.0.1:5432/test; a scratch
schema is created and dropped. Without a server the Postgres lines say so and are skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.contract import Alert, TriageReport
from bot.engine import run_triage
from bot.providers import get_provider
from bot.store import open_store, redact_url
from tests.conftest import PG_DEFAULT, with_schema
from tests.fakes.slack_world import ALERTS, SlackWorld, make_topology


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _report(tmp: Path) -> TriageReport:
    topo = make_topology(tmp)
    provider = get_provider("offline")
    try:
        return await run_triage(topo, Alert(job="orders_daily", source="slack"), provider=provider)
    finally:
        await provider.aclose()


async def store_calls(url: str, n: int, report: TriageReport) -> list[float]:
    store = await open_store(url)
    try:
        alert = {"job": "orders_daily", "run_id": "scheduled__2026-11-19T02:00:00", "source": "slack", "text": "x"}
        times = []
        for i in range(n):
            t0 = time.perf_counter()
            claim = await store.claim_alert(ALERTS, f"1800000{i:05d}.000100", alert, owner="bench", lease_s=30)
            assert claim is not None
            await store.set_reply(claim, ALERTS, f"1900000{i:05d}.000100")
            await store.reserve_post(ALERTS, 0.0)
            await store.finish(claim, report)
            times.append((time.perf_counter() - t0) * 1000)
        return times
    finally:
        await store.close()


def _done(world: SlackWorld, ts: str) -> bool:
    return any(any(b.get("block_id") == "triage_actions" for b in m.get("blocks") or [])
               for m in world.thread_messages(ALERTS, ts))


async def at_the_wire(tmp: Path, url: str | None, n: int) -> list[float]:
    world = await SlackWorld.start(tmp, store_url=url, durable=url is not None)
    try:
        times = []
        for i in range(n + 3):
            ts = f"17000{i:05d}.000100"
            t0 = time.perf_counter()
            await world.resend({"type": "message", "channel": ALERTS, "ts": ts, "text": "Job orders_daily failed",
                                "user": "UHUMAN"}, retry_num=0)
            await world.fake.wait_for(lambda f, ts=ts: _done(world, ts), timeout=30)
            await world.idle()
            if i >= 3:  # warm-up: imports, the sandbox reader, prepared statements
                times.append((time.perf_counter() - t0) * 1000)
        return times
    finally:
        await world.close()


async def _pg_schema(admin: str) -> tuple[str | None, str]:
    import psycopg

    schema = f"etl_triage_bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except Exception as e:
        return None, " ".join(str(e).split())[:160]
    return with_schema(admin, schema), schema


def _drop(admin: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=500, help="triages for the store-call timing")
    p.add_argument("--alerts", type=int, default=30, help="alerts for the at-the-wire timing")
    p.add_argument("--pg", default=os.environ.get("ETL_TRIAGE_TEST_DATABASE_URL") or PG_DEFAULT)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = await _report(Path(tmp))
        engines: list[tuple[str, str | None, str | None]] = [("sqlite", f"sqlite:///{tmp}/a/etl-triage.db", None)]
        pg_url, schema = await _pg_schema(a.pg)
        if pg_url is None:
            print(f"postgres: skipped, no server at {redact_url(a.pg)} ({schema}); pass --pg URL")
        else:
            engines.append(("postgres", pg_url, schema))
        try:
            for name, url, _ in engines:
                assert url is not None
                t = await store_calls(url, a.n, report)
                print(f"store calls per triage ({name}): median {statistics.median(t):.2f} ms, "
                      f"p95 {_pct(t, .95):.2f} ms (claim + reply ts + post slot + report, n={a.n}; goal ≤ 5 ms median)")
            wire: dict[str, float] = {}
            for name, url in [("memory", None), *[(n, u) for n, u, _ in engines]]:
                sub = Path(tmp) / f"wire-{name}"
                sub.mkdir()
                store_url = url.replace("/a/", f"/wire-{name}/") if url and name == "sqlite" else url
                t = await at_the_wire(sub, store_url, a.alerts)
                wire[name] = statistics.median(t)
                extra = f", +{wire[name] - wire['memory']:.1f} ms vs memory" if name != "memory" else ""
                print(f"alert → final report at the wire ({name}): median {wire[name]:.1f} ms, "
                      f"p95 {_pct(t, .95):.1f} ms (n={a.alerts}{extra})")
        finally:
            for _, _, schema_name in engines:
                if schema_name:
                    _drop(a.pg, schema_name)


if __name__ == "__main__":
    asyncio.run(main())
