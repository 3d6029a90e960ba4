"""Alert parsing for the senders ops channels see: Airflow, Dagster, dbt Cloud, Datadog, PagerDuty, webhooks."""

from __future__ import annotations

import pytest

from bot.alerts import message_text, parse_alert
from tests.fakes.slack_world import make_topology


@pytest.fixture
def topo(tmp_path):
    return make_topology(tmp_path)


AIRFLOW_ATTACHMENT = {
    "subtype": "bot_message", "bot_id": "B1", "username": "Airflow", "text": "",
    "attachments": [{"color": "danger", "fallback": "Task failed", "title": "Task Failed",
                     "text": "<http://airflow:8080/log?dag_id=orders_daily&amp;task_id=load_orders"
                             "&amp;run_id=scheduled__2026-11-19T02%3A00%3A00|View log>"}],
}


@pytest.mark.parametrize(("event", "job", "run_id", "task", "source"), [
    pytest.param(AIRFLOW_ATTACHMENT, "orders_daily", "scheduled__2026-11-19T02:00:00", "load_orders",
                 "airflow", id="airflow-attachment-log-url"),
    pytest.param({"text": ":red_circle: Task Failed.\n*Dag*: orders_daily\n*Task*: load_orders\n"
                          "*Run ID*: manual__2026-11-20", "bot_id": "B1", "subtype": "bot_message"},
                 "orders_daily", "manual__2026-11-20", "load_orders", "webhook", id="airflow-notifier-text"),
    pytest.param({"text": "", "bot_profile": {"name": "Dagster"}, "bot_id": "B2", "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Job `customer_sync` run `3f2a9c1e` failed"}}]},
        "customer_sync", "3f2a9c1e", None, "dagster", id="dagster-blocks"),
    pytest.param({"text": "dbt Cloud job revenue_rollup (#812) failed. Run #40233", "bot_id": "B3"},
                 "revenue_rollup", "40233", None, "dbt", id="dbt-cloud"),
    pytest.param({"text": "", "attachments": [{"title": "[Triggered] ETL failure rate high",
                                                "text": "job:orders_daily run_id:r-77 @ops", "fallback": "x"}],
                   "username": "Datadog", "subtype": "bot_message"},
                 "orders_daily", "r-77", None, "datadog", id="datadog-tags"),
    pytest.param({"text": "Triggered #4412: ETL job customer_sync failed", "username": "PagerDuty",
                  "subtype": "bot_message"}, "customer_sync", None, None, "pagerduty", id="pagerduty"),
    pytest.param({"text": "the orders_daily load failed again, exit 1", "user": "UHUMAN"},
                 "orders_daily", None, None, "slack", id="allowed-user-token-sender"),
])
def test_alerts_parse_sender_shapes(topo, event, job, run_id, task, source):
    alert = parse_alert(event, topo)
    assert alert is not None
    assert (alert.job, alert.run_id, alert.task, alert.source) == (job, run_id, task, source)


def test_alerts_log_path_hint_is_extracted(topo):
    alert = parse_alert({"text": "orders_daily failed, log: /var/log/etl/orders_daily/run-9.log", "bot_id": "B1"},
                        topo)
    assert alert is not None and alert.log_hint == "/var/log/etl/orders_daily/run-9.log"


@pytest.mark.parametrize("text", [
    "orders_daily succeeded in 4m", "[Recovered] job:orders_daily failed earlier", "lunch?", "",
    "something failed somewhere",  # a failure, but no job or log we could triage
])
def test_alerts_non_alerts_are_ignored(topo, text):
    assert parse_alert({"text": text, "bot_id": "B1"}, topo) is None


@pytest.mark.parametrize("user", ["U0ALICE", "W0BOB"])
def test_alerts_a_persons_words_are_not_an_alert(topo, user):
    event = {"text": "Task Failed. Dag: orders_daily Task: load_orders", "user": user}
    assert parse_alert(event, topo) is None
    assert parse_alert({**event, "bot_id": "B1"}, topo) is not None     # the same words from a bot are


def test_alerts_configured_pattern_and_failure_words_win(tmp_path):
    topo = make_topology(tmp_path)
    topo.alerts.patterns.append(r"PIPE<(?P<job>\w+)>#(?P<run_id>\d+)")
    topo.alerts.failure_words.append("went red")
    alert = parse_alert({"text": "PIPE<customer_sync>#12 went red", "bot_id": "B1"}, topo)
    assert alert is not None and (alert.job, alert.run_id) == ("customer_sync", "12")
    assert parse_alert({"text": "PIPE<customer_sync>#12 failed", "bot_id": "B1"}, topo) is None  # words replaced


def test_alerts_message_text_reads_rich_text_and_fields():
    text = message_text({"text": "", "attachments": [{"fields": [{"title": "DAG", "value": "x"}]}],
                         "blocks": [{"type": "rich_text", "elements": [{"type": "rich_text_preformatted",
                                     "elements": [{"type": "text", "text": "boom"}]}]}]})
    assert "dag: x" in text and "boom" in text
