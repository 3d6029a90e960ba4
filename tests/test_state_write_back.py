"""Alerts answered from memory while the state database was away are recorded once it is back: with their
report or the error they failed with, the owning team (team memory filters on it) and the time they were
answered, not the time of the write-back. A real Postgres behind a loopback proxy that is cut and restored."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from bot.contract import Escalation, TriageReport
from bot.slack.state import State
from bot.store import open_store
from tests.fakes.tcp_proxy import TcpProxy


def _via(url: str, port: int) -> str:
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{port}"))


@pytest.fixture
async def outage(pg_url):
    """(State on the proxied store, the proxy, the direct url); the proxy starts cut: the database is away."""
    target = urlsplit(pg_url)
    proxy = await TcpProxy(target.hostname or "127.0.0.1", target.port or 5432).start()
    state = State(await open_store(_via(pg_url, proxy.port)), owner="p1", retry_s=0.05, op_timeout_s=2.0)
    await proxy.cut()
    yield state, proxy, pg_url
    await state.aclose()
    await proxy.stop()


def _rows(url: str, ts: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT t.status, t.error, t.category, a.team, a.received_at, t.finished_at "
                            "FROM triages t JOIN alerts a ON a.id = t.alert_id WHERE a.ts = %s", (ts,)).fetchall()


async def _answered_in_memory(state: State, ts: str, report: TriageReport | None, error: str | None) -> float:
    claim = await state.claim_alert("CALERTS", ts, {"job": "orders_daily"}, team="DE")
    assert claim is not None and claim.triage_id == 0 and state.degraded        # a memory claim
    await state.set_reply(claim, "CALERTS", "1700000999.000200")
    await state.finish(claim, report, error=error)
    return time.time()


async def _back(state: State, proxy: TcpProxy) -> None:
    await proxy.restore()
    await asyncio.sleep(0.3)                                                     # past the retry pause


async def test_a_failed_triage_is_written_back_failed_with_its_error_and_team(outage):
    state, proxy, url = outage
    answered = await _answered_in_memory(state, "1700000990.000100", None, "LogNotFound: no log for orders_daily")
    await _back(state, proxy)
    assert await state.write_back() == 1
    [(status, error, category, team, received_at, finished_at)] = _rows(url, "1700000990.000100")
    assert (status, error, category, team) == ("failed", "LogNotFound: no log for orders_daily", None, "DE")
    assert received_at <= answered and finished_at <= answered                 # when it happened, not now
    assert await state.write_back() == 0                                         # once


async def test_a_report_is_written_back_with_it_and_shutdown_writes_back_too(outage):
    state, proxy, url = outage
    report = TriageReport(job="orders_daily", category="data", confidence=0.8, root_cause="column dropped",
                          action="ask upstream", escalation=Escalation(team="DE"), provider="offline",
                          duration_ms=12.0)
    await _answered_in_memory(state, "1700000991.000100", report, None)
    await _back(state, proxy)
    await state.aclose()                                                         # no sweep ran: shutdown does it
    [(status, error, category, team, _, _)] = _rows(url, "1700000991.000100")
    assert (status, error, category, team) == ("done", None, "data", "DE")


def _feedback(url: str, message_ts: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT f.verdict, f.user_id, f.team, f.corrected_category, f.corrected_cause, f.note, "
                            "f.triage_id IS NOT NULL FROM feedback f WHERE f.message_ts = %s ORDER BY f.id",
                            (message_ts,)).fetchall()


async def test_clicks_and_their_follow_ups_during_the_outage_are_written_back_after_their_alert(outage):
    """A "Wrong diagnosis" with its correction and a "Resolved" with its note, clicked on a reply answered from
    memory: both reach the store, linked to the triage written back before them (team memory learns from them)."""
    state, proxy, url = outage
    await _answered_in_memory(state, "1700000992.000100", None, "LogNotFound: no log")
    reply = "1700000999.000200"
    wrong = await state.record_feedback("CALERTS", reply, "wrong_diagnosis", "U1", job="orders_daily", team="DE")
    resolved = await state.record_feedback("CALERTS", reply, "resolved", "U2", job="orders_daily", team="DE")
    assert wrong is not None and wrong < 0 and resolved is not None and resolved < 0 and wrong != resolved
    assert await state.record_feedback("CALERTS", reply, "resolved", "U3") is None        # a repeat click
    await state.correct(wrong, "code", "bad deploy", "U1")
    await state.note_resolution(resolved, "re-ran after the upstream fix")
    await _back(state, proxy)
    assert await state.write_back() == 1
    assert _feedback(url, reply) == [("wrong_diagnosis", "U1", "DE", "code", "bad deploy", None, True),
                                     ("resolved", "U2", "DE", None, None, "re-ran after the upstream fix", True)]
    await state.write_back()
    assert len(_feedback(url, reply)) == 2                                                # once


async def test_a_correction_made_while_the_store_is_away_reaches_a_click_it_has(pg_url):
    target = urlsplit(pg_url)
    proxy = await TcpProxy(target.hostname or "127.0.0.1", target.port or 5432).start()
    state = State(await open_store(_via(pg_url, proxy.port)), owner="p1", retry_s=0.05, op_timeout_s=2.0)
    try:
        fid = await state.record_feedback("CALERTS", "1700000993.000200", "wrong_diagnosis", "U1", team="DE")
        assert fid is not None and fid > 0
        await proxy.cut()
        await state.correct(fid, "infra", "the warehouse was down", "U1")
        await _back(state, proxy)
        await state.write_back()
    finally:
        await state.aclose()
        await proxy.stop()
    assert _feedback(pg_url, "1700000993.000200") == [("wrong_diagnosis", "U1", "DE", "infra",
                                                       "the warehouse was down", None, False)]


async def test_a_redelivery_after_the_store_is_back_is_not_claimed_a_second_time(outage):
    """Claimed in memory while the store was away, then redelivered by Slack once it is back but before the
    write-back: the store, knowing nothing of it, handed out a second claim and the alert got two replies."""
    state, proxy, _url = outage
    first = await state.claim_alert("CALERTS", "1700000995.000100", {"job": "orders_daily"}, team="DE")
    assert first is not None and first.triage_id == 0                           # a memory claim
    await _back(state, proxy)
    assert await state.claim_alert("CALERTS", "1700000995.000100", {"job": "orders_daily"}, team="DE") is None
