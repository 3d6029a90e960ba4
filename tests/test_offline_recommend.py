"""The offline recommend stage: specific actions, findings first, investigation overrides, evidence order."""

from __future__ import annotations

from bot.contract import Classification, Evidence, Finding, Investigation, Recommendation
from bot.escalation import EscalationPolicy
from bot.offline import recommend as offline
from bot.topology import load_topology
from tests.conftest import ROOT

LOG = "/var/log/etl/orders_daily/run.log"


def recommend(cls: Classification | None, inv: Investigation | None) -> Recommendation:
    """The offline recommend stage's answer, with the escalation the engine attaches to it (from the policy)."""
    topo = load_topology(ROOT / "topology.toml", {"log_root": str(ROOT / "tests/fixtures/logs")})
    return EscalationPolicy(topo, None).attach(offline.recommend(cls, inv))


def yarn_cls() -> Classification:
    return Classification(
        category="infra", confidence=0.93, signature="spark.yarn_memory_kill",
        summary="Spark executor killed by YARN for exceeding physical memory (9.2 GB of 9 GB)",
        facts={"kind": "physical", "used": "9.2 GB", "limit": "9 GB"},
        evidence=[Evidence(path=LOG, line=4, text="Container killed by YARN ... 9.2 GB of 9 GB"),
                  Evidence(path=LOG, line=9, text="Job aborted due to stage failure")])


def keyerror_cls() -> Classification:
    return Classification(
        category="data", confidence=0.6, signature="python.keyerror_column",
        summary="Column customer_id is missing from the input DataFrame (header changed upstream?)",
        facts={"column": "customer_id"}, evidence=[Evidence(path=LOG, line=13, text="KeyError: 'customer_id'")])


def test_recommend_fills_signature_action_template_with_facts():
    rec = recommend(yarn_cls(), None)
    assert rec.category == "infra" and rec.confidence == 0.93
    assert "above 9 GB" in rec.action and "memoryOverhead" in rec.action
    assert "9.2 GB of 9 GB" in rec.root_cause and "log line 4" in rec.root_cause
    assert rec.escalation.team == "Platform / Infra"
    assert [e.line for e in rec.evidence] == [4, 9]


def test_recommend_puts_finding_actions_first_and_dedups_evidence():
    upstream = Evidence(path="/data/landing/orders/dt=2026-11-19/orders.csv", line=1, text="order_id,cust_id,amount")
    inv = Investigation(category="data", confidence=0.88, summary="Column customer_id was renamed to cust_id upstream.",
                        findings=[Finding(source="log", summary="log", evidence=[keyerror_cls().evidence[0]]),
                                  Finding(source="upstream", summary="header changed",
                                          action="Ask the orders producer to restore customer_id.",
                                          evidence=[upstream])])
    rec = recommend(keyerror_cls(), inv)
    assert rec.action.startswith("1. Ask the orders producer to restore customer_id.")
    assert "2. Compare this run's input header" in rec.action
    assert rec.confidence == 0.88
    assert [e.line for e in rec.evidence] == [13, 1]  # the log line once, then the finding's evidence


def test_recommend_investigation_category_wins_and_root_cause_says_why():
    inv = Investigation(category="code", confidence=0.8,
                        summary="Deploy a1b2c3 renamed the column in load.py 20 minutes before the run.",
                        findings=[Finding(source="deploys", summary="deploy a1b2c3",
                                          action="Roll back deploy a1b2c3 or fix load.py.")])
    rec = recommend(keyerror_cls(), inv)
    assert rec.category == "code" and rec.confidence == 0.8
    assert rec.root_cause.startswith("Deploy a1b2c3 renamed the column")
    assert "suggested data" in rec.root_cause and "points to code" in rec.root_cause
    assert rec.action == "Roll back deploy a1b2c3 or fix load.py."  # the data-side template no longer applies
    assert rec.escalation.team == "Job owners"


def test_recommend_unknown_gets_generic_next_step_and_default_escalation():
    cls = Classification(category="unknown", confidence=0.2, summary="Task failed without a recognised error")
    rec = recommend(cls, Investigation(category="unknown", confidence=0.2, summary="nothing found"))
    assert rec.category == "unknown" and rec.confidence == 0.2
    assert "signatures.toml" in rec.action
    assert rec.escalation.team == "Data on-call"


def test_recommend_without_inputs_says_no_conclusion():
    rec = recommend(None, None)
    assert rec.category == "unknown" and rec.confidence == 0.0 and rec.evidence == []


def test_root_cause_quotes_the_two_deciding_lines_and_keeps_a_long_lines_head_and_tail():
    """The specifics a correct root cause names sit in the lines: the class opens one, the field ends it."""
    long = ("google.api_core.exceptions.BadRequest: 400 Error while reading data, error message: JSON table "
            "encountered too many errors, giving up. Rows: 1; errors: 1. " + "Please look into the errors[] "
            "collection for more details. " * 6 + "No such field: resource.data.error.details.detail")
    cls = Classification(
        category="data", confidence=0.6, signature="bigquery.bad_rows", summary="JSON load failed: too many bad rows",
        evidence=[Evidence(path=LOG, line=7, text=long),
                  Evidence(path=LOG, line=3, text='  File "/app/load.py", line 12, in load'),
                  Evidence(path=LOG, line=5, text="[2026-11-20] ERROR - Job load_assets failed: invalid schema")])
    said = offline.recommend(cls, None).root_cause
    assert "google.api_core.exceptions.BadRequest" in said and "resource.data.error.details.detail" in said
    assert " … " in said and len(said) < len(long) + 200
    assert '/app/load.py' not in said                      # a stack frame is where, not what
    assert "Job load_assets failed: invalid schema" in said  # the second deciding line


def test_root_cause_does_not_repeat_a_line_the_summary_already_carries():
    cls = yarn_cls().model_copy(update={"summary": "Container killed by YARN ... 9.2 GB of 9 GB",
                                        "evidence": yarn_cls().evidence[:1]})
    assert "The log says" not in offline.recommend(cls, None).root_cause


def test_root_cause_quotes_a_line_once_and_never_the_orchestrators_task_failed_line():
    """A Caused-by chain repeats its line, and 'Marking task as FAILED' names no cause: neither is worth a quote."""
    value = "ERROR: value too long for type character varying(600)"
    cls = Classification(
        category="data", confidence=0.6, signature=None, summary="A value exceeds its column's length",
        evidence=[Evidence(path=LOG, line=9, text="Caused by: " + value), Evidence(path=LOG, line=12, text=value),
                  Evidence(path=LOG, line=14, text="[2026-11-20] {taskinstance.py:1400} INFO - Marking task as "
                                                   "FAILED. dag_id=orders, task_id=load")])
    said = offline.recommend(cls, None).root_cause
    assert said.count("character varying(600)") == 1 and "Marking task" not in said


def test_root_cause_skips_an_exit_code_of_1_but_quotes_a_kill_signal():
    """'Task exited with return code 1' only says it failed; 'return code -9' says the kernel killed it."""
    ev = [Evidence(path=LOG, line=3, text="[2026-11-20] {standard_task_runner.py:104} ERROR - Failed to execute job "
                                          "9911 for task load_orders (Task exited with return code 1)"),
          Evidence(path=LOG, line=4, text="[2026-11-20] {local_task_job_runner.py:228} INFO - Task exited with "
                                          "return code -9")]
    cls = Classification(category="infra", confidence=0.6, signature=None, summary="The task was killed", evidence=ev)
    said = offline.recommend(cls, None).root_cause
    assert "job 9911" not in said and '"Task exited with return code -9"' in said


def test_root_cause_skips_dbts_run_summary_but_quotes_its_error_header():
    ev = [Evidence(path=LOG, line=9, text="04:00:12  Completed with 1 error and 0 warnings:"),
          Evidence(path=LOG, line=10, text="04:00:12  Database Error in model revenue_rollup (models/rollup.sql)")]
    cls = Classification(category="code", confidence=0.6, signature=None, summary="A column does not exist",
                         evidence=ev)
    said = offline.recommend(cls, None).root_cause
    assert "Completed with" not in said and "Database Error in model revenue_rollup" in said
