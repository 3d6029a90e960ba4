"""Prometheus metrics for `serve`, in a registry per bot (not prometheus-client's global one), so two bots in
one process (tests, an embedding app) never mix their counts. Exposed on /metrics by bot/slack/health.py.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.contract import TriageReport

# Offline stages take milliseconds, model stages seconds: the buckets cover both.
STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)


class Metrics:
    """Every metric the bot exports. Names are prefixed `etl_triage_`; counters get `_total` on export."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.triages = Counter("etl_triage_triages", "Finished triages by category, provider and outcome "
                               "(ok, partial, log_not_found, access_denied, error, interrupted)",
                               ["category", "provider", "outcome"], registry=r)
        self.triage_seconds = Histogram("etl_triage_triage_duration_seconds", "Whole-triage latency",
                                        buckets=STAGE_BUCKETS, registry=r)
        self.stage_seconds = Histogram("etl_triage_stage_duration_seconds", "Stage latency by stage and status",
                                       ["stage", "status"], buckets=STAGE_BUCKETS, registry=r)
        self.fallbacks = Counter("etl_triage_fallbacks", "Stages the offline engine produced because the model "
                                 "provider failed or timed out", ["stage"], registry=r)
        self.tokens = Counter("etl_triage_model_tokens", "Model tokens used, by model and direction (input/output)",
                              ["model", "direction"], registry=r)
        self.slack_errors = Counter("etl_triage_slack_api_errors", "Slack Web API responses that failed "
                                    "(ok=false, HTTP errors, connection errors), each attempt counted",
                                    ["method", "error"], registry=r)
        self.slack_rate_limited = Counter("etl_triage_slack_rate_limited", "HTTP 429 answers from Slack's Web API",
                                          ["method"], registry=r)
        self.in_flight = Gauge("etl_triage_triages_in_flight", "Triages running now", registry=r)
        self.queued = Gauge("etl_triage_triages_queued", "Triages waiting for a concurrency slot", registry=r)
        self.dedup_hits = Counter("etl_triage_dedup_hits", "Redelivered alerts and repeated clicks that were "
                                  "ignored", ["kind"], registry=r)

    def observe_report(self, report: TriageReport) -> None:
        """Count a finished triage: outcome, stage latencies, fallbacks and tokens."""
        self.triages.labels(report.category, report.provider, "ok" if report.complete else "partial").inc()
        self.triage_seconds.observe(report.duration_ms / 1000)
        for s in report.stages:
            self.stage_seconds.labels(s.name, s.status).observe(s.duration_ms / 1000)
            if s.fallback:
                self.fallbacks.labels(s.name).inc()
            if s.input_tokens or s.output_tokens:
                model = s.model or s.provider
                self.tokens.labels(model, "input").inc(s.input_tokens)
                self.tokens.labels(model, "output").inc(s.output_tokens)

    def observe_failure(self, provider: str, outcome: str) -> None:
        """A triage that produced no report (no log, denied, crashed, interrupted)."""
        self.triages.labels("none", provider, outcome).inc()

    def exposition(self) -> tuple[bytes, str]:
        """The registry in Prometheus text format, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class SlackCallObserver(AsyncRetryHandler):
    """Counts failed Slack Web API responses and 429s as slack-sdk receives them; never asks for a retry.

    slack-sdk shows every response (and connection error) to its retry handlers before anything else, so
    this sees what came over the wire, retried or not. Put it first in `retry_handlers`."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__(max_retry_count=1_000_000)
        self.metrics = metrics

    async def _can_retry_async(self, *, state: RetryState, request: HttpRequest,
                               response: HttpResponse | None = None, error: Exception | None = None) -> bool:
        method = request.url.rstrip("/").rsplit("/", 1)[-1]
        if error is not None:
            self.metrics.slack_errors.labels(method, type(error).__name__).inc()
        elif response is not None:
            body: Any = response.body
            if response.status_code == 429:
                self.metrics.slack_rate_limited.labels(method).inc()
                self.metrics.slack_errors.labels(method, "ratelimited").inc()
            elif response.status_code >= 400:
                self.metrics.slack_errors.labels(method, f"http_{response.status_code}").inc()
            elif isinstance(body, dict) and body.get("ok") is False:
                self.metrics.slack_errors.labels(method, str(body.get("error") or "unknown")).inc()
        return False
