"""What a served triage leaves behind for operators: log lines (one per stage, one per triage, carrying the
triage id, channel, job, stage and duration) and the Prometheus counts. Called by the listeners."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

from bot.contract import TriageReport
from bot.logsetup import log_context
from bot.slack.runtime import Runtime

log = logging.getLogger("bot.triage")
T = TypeVar("T")


def new_triage_id() -> str:
    """Short and unique enough to grep one triage's lines out of a day of logs."""
    return uuid.uuid4().hex[:12]


async def in_context(coro: Coroutine[Any, Any, T], **fields: Any) -> T:
    """Run `coro` with every log record it produces tagged with `fields` (see bot.logsetup.log_context)."""
    with log_context(**fields):
        return await coro


def finished(rt: Runtime, report: TriageReport) -> None:
    rt.tracker.metrics.observe_report(report)
    for s in report.stages:
        log.info("stage %s %s in %.0f ms", s.name, s.status, s.duration_ms,
                 extra={"stage": s.name, "status": s.status, "duration_ms": round(s.duration_ms, 1),
                        "provider": s.provider})
        if s.fallback:
            log.warning("stage %s fell back to the offline engine: %s", s.name, s.fallback, extra={"stage": s.name})
    outcome = "ok" if report.complete else "partial"
    log.info("triage %s: %s (%d%%) in %.0f ms", outcome, report.category, round(report.confidence * 100),
             report.duration_ms, extra={"category": report.category, "provider": report.provider,
                                        "outcome": outcome, "duration_ms": round(report.duration_ms, 1)})


def failed(rt: Runtime, outcome: str) -> None:
    """A triage that ended without a report: log_not_found, access_denied, error or interrupted."""
    provider = str(getattr(rt.provider, "name", "unknown"))
    rt.tracker.metrics.observe_failure(provider, outcome)
    log.info("triage %s", outcome, extra={"outcome": outcome, "provider": provider})


def dedup_hit(rt: Runtime, kind: str) -> None:
    """A redelivered alert ('event') or a repeated click ('click') that was ignored."""
    rt.tracker.metrics.dedup_hits.labels(kind).inc()
