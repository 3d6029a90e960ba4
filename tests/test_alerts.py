"""Alert parsing for the senders ops channels see: Airflow, Dagster, dbt Cloud, Datadog, PagerDuty, webhooks."""

from __future__ import annotations

import pytest

from bot.alerts import message_text, parse_alert, recognise
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


# Shapes beyond the reference set (other wordings of the same tools), so recognition is not tuned to it alone.
VARIANTS = [
 ("Airflow alert: <TaskInstance: orders_daily.load_orders manual__2026-11-20T02:00:00+00:00 [failed]>", True,
  "orders_daily"),
 ("Airflow alert: &lt;TaskInstance: payments_load.charge scheduled__2026-11-20T01:30:00+00:00 [up_for_retry]&gt;",
  False, None),
 (":red_circle: *DAG* `orders_daily` *task* `load_orders` failed\n*Run*: `manual__2026`", True, "orders_daily"),
 ("🚨 ML Pipeline Failure: fx_rates", True, "fx_rates"),
 ("dbt Cloud: Job 'Nightly revenue rollup' (ID 123) Run #456 Errored", True, "revenue_rollup"),
 ("[P1] [Triggered] Airflow DAG orders_daily has failed", True, "orders_daily"),
 ("❌ inventory_snapshot failed", True, "inventory_snapshot"),
 ("❌ nightly_ghost failed", True, "nightly_ghost"),
 ("dbt test: 12 passed, 0 failed", False, None),
 ("Pipeline returns_daily completed with errors", True, "returns_daily"),
 ("✅ orders_daily recovered after retry", False, None),
 ("Task load_orders in orders_daily failed, will retry in 5 minutes", False, None),
 ("⏰ orders_daily is late: expected by 06:00 UTC", False, None),
 ("orders_daily v1.4 deployed to production", False, None),
 ("Task instance failed: dag_id=orders_daily, task_id=load_orders, run_id=scheduled__2026-11-20", True, "orders_daily"),
 ("Dagster Cloud: Run 3f2a9c1e for job customer_sync failed", True, "customer_sync"),
 ("Flow run orders_daily/able-moose entered state `Failed` at 2026", True, "orders_daily"),
 ("Glue job fx_rates run jr_123 FAILED", True, "fx_rates"),
 ("The pipeline web-sessions has crashed", True, "web_sessions"),
 ("ETL FAILURE | job=user_signups | env=prod", True, "user_signups"),
 ("Data quality check failed for table analytics.finance_ledger", True, "finance_ledger"),
 ("Sync of connector ad_spend_daily failed: rate limited", True, "ad_spend_daily"),
 ("Job 'Shipments ETL' failed with exit code 1", True, "shipments_etl"),
 ("Scheduled run of Orders Daily failed", True, "orders_daily"),
 ("Pipeline *product-catalog* FAILED in 3m", True, "product_catalog"),
 ("SUCCESS: orders_daily finished in 4m (0 errors)", False, None),
 ("Workflow run failed for marketing_spend on main", True, "marketing_spend"),
 ("[Resolved] orders_daily failed", False, None),
 ("orders_daily: run 2026-11-20 timed out after 2h", True, "orders_daily"),
 ("Incident #12 acknowledged: orders_daily failed", True, "orders_daily"),
]


@pytest.fixture(scope="module")
def ref_topo(tmp_path_factory):
    from tests.alert_fixtures import JOBS_TOML

    return make_topology(tmp_path_factory.mktemp("variants"), extra=JOBS_TOML)


@pytest.mark.parametrize(("text", "failure", "job"), VARIANTS, ids=[v[0][:40] for v in VARIANTS])
def test_alerts_variant_wordings(ref_topo, text, failure, job):
    rec = recognise({"bot_id": "B0X", "subtype": "bot_message", "text": text}, ref_topo)
    assert rec.failure is failure, rec.reason
    if failure:
        assert rec.job == job, (rec.job, rec.job_how)


@pytest.mark.parametrize(("text", "failure"), [
    # words inside names state nothing (an independent review: real failures ignored, successes triaged)
    ('Job "cancelled_orders" failed.', True),                                   # Dagster's default
    ("Flow run cancelled_orders/crimson-fox entered state Failed", True),        # Prefect
    ("Workflow shipped-orders-7xk2p failed", True),                              # Argo
    ("Flow run failed_charges_sync/brave-otter entered state Completed", False),
    ('Job "error_events_load" succeeded.', False),
    # a tally is a count, not a statement, and its zero negates nothing after it
    ("dbt build for revenue_rollup finished. Done. PASS=10 WARN=0 ERROR=2 SKIP=0 TOTAL=12", True),
    ("Elementary: revenue_rollup tests finished. Warnings: 0, Errors: 3", True),
    ("dbt build for revenue_rollup finished. Done. PASS=12 WARN=0 ERROR=0 SKIP=0 TOTAL=12", False),
    ("orders_daily timed-out after 2h", True),                                  # a hyphenated word is words
    # a process's exit states a failure only with a code that is not 0
    ("orders_daily: exit status 137", True), ("load.py returned non-zero exit status 2", True),
    ("orders_daily backfill: exit code 0, 1200 rows", False), ("rerun orders_daily? exit code was fine", False),
    ("CONTROL-M: job orders_daily Ended Not OK, completion code 8", True),      # Control-M's failed status
    # the "not" of "Ended Not OK" negates nothing after it; exits, "killed" and "fired" decide only when nothing
    # stronger is said (an independent review: each read as a final failure)
    ("Job orders_daily Ended Not OK, retrying (rerun 1 of 3)", False),
    ("Task orders_daily.load: Not OK - up for retry", False),
    ("orders_daily retried; exit code 1 on attempt 1, then succeeded", False),
    ("orders_daily completed with warnings (exit code 2)", False),
    ("orders_daily: query killed by admin jdoe", False), ("Cleanup: killed 3 zombie processes for orders_daily", False),
    ("orders_daily's worker was killed by signal 9", True),
    ("Schedule orders_daily_schedule fired, run 8f2c queued", False),
    ("Azure Monitor alert 'adf-failed-runs' was Fired. Monitor condition: Fired", True),
    ("Silence 3f2a created for `[FIRING:1] KubeJobFailed orders_daily`, expires in 2h", False),   # quoted: a name
    (":rotating_light: [P1] [Triggered] orders_daily failures", True),          # tags after tags still open it
    ("[FIRING:1] KubeJobFailed (orders_daily etl warning)", True),             # Alertmanager: the state leads
    ("[RESOLVED] KubeJobFailed (orders_daily etl warning)", False),
])
def test_alerts_state_words_inside_names_and_counts(topo, text, failure):
    assert recognise({"text": text, "bot_id": "B1", "subtype": "bot_message"}, topo).failure is failure


@pytest.mark.parametrize(("text", "job"), [
    # the alert's own job, unregistered, beats a registered name elsewhere in it (a task, a downstream job)
    (":red_circle: Task Failed.\n*Dag*: warehouse_nightly\n*Task*: customer_sync\n", "warehouse_nightly"),
    ("DAG billing_daily failed. Downstream revenue_rollup will be stale.", "billing_daily"),
    ("Workflow run failed for marketing_spend on main", "marketing_spend"),   # a bare word is no job name
    ('Dagster run `8a1c` failed for job "nightly_batch". Steps failed: ["orders_daily"]', "nightly_batch"),
])
def test_alerts_the_job_the_alert_names_wins_over_a_registered_name_it_mentions(ref_topo, text, job):
    rec = recognise({"bot_id": "B0X", "subtype": "bot_message", "text": text}, ref_topo)
    assert rec.failure and rec.job == job, (rec.job, rec.job_how)


@pytest.mark.parametrize("text", [
    "[FIRING:1] KubeJobFailed (etl warning)\nJob etl/payments-load-28911320 failed to complete.",   # CronJob's Job
    "Pod etl/payments-load-28911320-x7k2p was OOMKilled",                                           # … and its pod
])
def test_alerts_a_kubernetes_generated_name_names_its_job(ref_topo, text):
    # a CronJob's Jobs are `<cronjob>-<scheduled minute>`, their pods add 5 characters of k8s's alphabet; a
    # registered `payments_load` (Kubernetes names cannot hold `_`) was not found in them
    rec = recognise({"bot_id": "B0X", "subtype": "bot_message", "text": text}, ref_topo)
    assert rec.failure and (rec.job, rec.job_how) == ("payments_load", "guess")   # the reply says it was guessed


@pytest.mark.parametrize("text", [
    "job etl/payments-load-final failed",            # `-final` has vowels, which k8s's random suffixes never have
    "job etl/payments-load-pgsql failed",            # … and a 5-letter word without a digit is a word
    "load failed: partition payments-load-20241120 missing from s3",   # a yyyymmdd date, not a CronJob minute
])
def test_alerts_a_word_or_a_date_is_not_cut_like_a_kubernetes_suffix(ref_topo, text):
    rec = recognise({"bot_id": "B0X", "subtype": "bot_message", "text": text}, ref_topo)
    assert rec.job != "payments_load", (rec.job, rec.job_how)


def test_alerts_airflow_3_run_url_keeps_its_percent_encoded_run_id_and_task(topo):
    """`[\\w-]` stopped at '%': the run id became `scheduled__2026-11-20T02`, a prefix of every run that day."""
    url = ("http://af:8080/dags/orders_daily/runs/scheduled__2026-11-20T02%3A00%3A00%2B00%3A00/tasks/load_orders"
           "?try_number=1")
    rec = recognise({"bot_id": "B1", "text": f":red_circle: Task failed. <{url}|View log>"}, topo)
    assert (rec.job, rec.run_id, rec.task) == ("orders_daily", "scheduled__2026-11-20T02:00:00+00:00", "load_orders")
