"""End to end: fixture worlds → run_triage with the offline provider → category, evidence, finding action."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.contract import Alert, Investigation, TriageReport
from bot.engine import run_triage
from bot.providers.offline import OfflineProvider
from tests.investigate_world import ORDERS, RUN_ID, World, airflow_log

KEYERROR = ["KeyError: 'customer_id'"]
HEADER = "order_id,customer_id,amount\n1,42,9.5\n"


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


async def triage(world: World, job: str = "orders_daily", log: Path | None = None,
                 jobs: str = ORDERS, run_id: str | None = RUN_ID) -> tuple[TriageReport, Investigation]:
    report = await run_triage(world.topology(jobs), Alert(job=job, run_id=run_id), provider=OfflineProvider(),
                              log_path=log)
    stage = next(s for s in report.stages if s.name == "investigate")
    assert stage.status == "ok", stage.reason
    return report, Investigation.model_validate(stage.output)


def usual_partitions(world: World, new_header: str = HEADER) -> None:
    world.partition("dt=2026-11-18", {"part-0000.csv": HEADER}, "2026-11-19 01:10:00")
    world.partition("dt=2026-11-19", {"part-0000.csv": new_header}, "2026-11-20 01:12:00")


async def test_investigate_keyerror_after_deploy_is_code_citing_the_commit(world: World):
    world.base_repo()
    sha = world.commit({"dags/orders/load.py": 'df["customer_id"] = df["customer_id"].astype("int64")\n'},
                       "Cast customer_id to int64", when="2026-11-19 22:30:00", author="Bo Coder")
    usual_partitions(world)
    log = world.log("orders_daily", "2026-11-20T02-00-00.log", airflow_log(KEYERROR), "2026-11-20 02:00:15")

    report, inv = await triage(world, log=log)

    assert inv.category == "code" and report.category == "code"
    top = inv.findings[0]
    assert top.source == "deploys" and sha[:7] in top.summary and "Bo Coder" in top.summary
    assert top.action and f"Revert or fix commit {sha[:7]}" in top.action
    assert any(sha[:7] in e.path for e in top.evidence)
    assert "3.5 h before the failure" in top.summary          # 22:30 → 02:00:14


async def test_investigate_keyerror_with_renamed_upstream_column_is_schema_drift(world: World):
    world.base_repo()                                          # last code change 7 weeks before: no deploy
    usual_partitions(world, new_header="order_id,cust_id,amount\n1,42,9.5\n")
    log = world.log("orders_daily", "2026-11-20T02-00-00.log", airflow_log(KEYERROR), "2026-11-20 02:00:15")

    report, inv = await triage(world, log=log)

    assert inv.category == "data" and report.category == "data"
    top = inv.findings[0]
    assert top.source == "upstream" and "customer_id" in top.summary and "renamed to 'cust_id'" in top.summary
    assert "No deploy touched" in top.summary
    headers = {e.path: e.text for e in top.evidence}
    new = str(world.data / "landing/orders/dt=2026-11-19/part-0000.csv")
    old = str(world.data / "landing/orders/dt=2026-11-18/part-0000.csv")
    assert headers[new] == "header now: order_id, cust_id, amount"
    assert headers[old] == "header before: order_id, customer_id, amount"
    assert top.action and "renamed column customer_id → cust_id" in top.action


async def test_investigate_parquet_schema_drift_reads_the_footer(world: World):
    world.base_repo()
    world.partition("dt=2026-11-18", {"part-0.parquet": world.parquet(
        {"order_id": [1], "customer_id": [42], "amount": [9.5]})}, "2026-11-19 01:10:00")
    world.partition("dt=2026-11-19", {"part-0.parquet": world.parquet(
        {"order_id": [1], "amount": ["9.5"]})}, "2026-11-20 01:10:00")
    log = world.log("orders_daily", "2026-11-20T02-00-00.log", airflow_log(KEYERROR), "2026-11-20 02:00:15")

    _, inv = await triage(world, log=log)

    top = inv.findings[0]
    assert inv.category == "data" and "'customer_id' was removed" in top.summary
    assert "amount double → string" in top.summary
    assert any(e.text == "header now: order_id:int64, amount:string" for e in top.evidence)


async def test_investigate_missing_partition_is_data_naming_partition_and_last_arrival(world: World):
    world.base_repo()
    world.partition("dt=2026-11-17", {"part-0000.csv": HEADER}, "2026-11-18 01:00:00")
    world.partition("dt=2026-11-18", {"part-0000.csv": HEADER}, "2026-11-19 01:10:00")
    log = world.log("orders_daily", "2026-11-20T02-00-00.log",
                    airflow_log(["FileNotFoundError: [Errno 2] No such file or directory: "
                                 "'/landing/orders/dt=2026-11-19/'"]), "2026-11-20 02:00:15")

    report, inv = await triage(world, log=log)

    assert inv.category == "data" and report.category == "data"
    top = inv.findings[0]
    assert "dt=2026-11-19" in top.summary and "missing" in top.summary
    assert "newest is dt=2026-11-18, which landed 2026-11-19 01:10 UTC (24.8 h before the failure)" in top.summary
    assert top.action and "rerun orders_daily after the partition lands" in top.action


async def test_investigate_partition_landed_after_failure_is_late_data(world: World):
    world.base_repo()
    world.partition("dt=2026-11-18", {"part-0000.csv": HEADER}, "2026-11-19 01:10:00")
    world.partition("dt=2026-11-19", {"part-0000.csv": HEADER}, "2026-11-20 02:40:00")
    log = world.log("orders_daily", "2026-11-20T02-00-00.log",
              airflow_log(["FileNotFoundError: /landing/orders/dt=2026-11-19/"]), "2026-11-20 02:00:15")

    _, inv = await triage(world, log=log)

    top = inv.findings[0]
    assert inv.category == "data" and "landed late" in top.summary and "40 min after the run failed" in top.summary
    assert top.action and top.action.startswith("The partition dt=2026-11-19 has landed now: rerun orders_daily")


async def test_investigate_zero_byte_file_is_data_citing_the_file(world: World):
    world.base_repo()
    world.partition("dt=2026-11-18", {"part-0000.csv": HEADER}, "2026-11-19 01:10:00")
    world.partition("dt=2026-11-19", {"part-0000.csv": HEADER, "part-0001.csv": ""}, "2026-11-20 01:10:00")
    log = world.log("orders_daily", "2026-11-20T02-00-00.log",
              airflow_log(["pandas.errors.EmptyDataError: No columns to parse from file"]), "2026-11-20 02:00:15")

    _, inv = await triage(world, log=log)

    top = inv.findings[0]
    empty = str(world.data / "landing/orders/dt=2026-11-19/part-0001.csv")
    assert inv.category == "data" and "1 zero-byte file(s)" in top.summary
    assert [e.path for e in top.evidence] == [empty]
    assert top.action and f"re-deliver {empty}" in top.action


async def test_investigate_all_empty_partition_is_data(world: World):
    world.partition("dt=2026-11-18", {"part-0000.csv": HEADER}, "2026-11-19 01:10:00")
    world.partition("dt=2026-11-19", {"part-0000.csv": ""}, "2026-11-20 01:10:00")
    log = world.log("orders_daily", "2026-11-20T02-00-00.log", airflow_log(["ValueError: no rows"]),
              "2026-11-20 02:00:15")

    _, inv = await triage(world, log=log, jobs=ORDERS.replace('repo = "{repo_root}/etl-jobs"\n', ""))

    assert inv.category == "data"
    assert "dt=2026-11-19" in inv.summary and "all zero bytes" in inv.summary


async def test_investigate_previous_run_divergence_names_first_new_error_line(world: World):
    world.base_repo()
    usual_partitions(world)
    world.log("orders_daily", "2026-11-19T02-00-00.log",
              airflow_log(["ConnectionResetError: [Errno 104] Connection reset by peer"], when="2026-11-19 02:00:09"),
              "2026-11-19 02:00:10")
    log = world.log("orders_daily", "2026-11-20T02-00-00.log",
                    airflow_log(["psycopg2.errors.DiskFull: could not extend file: No space left on device"]),
                    "2026-11-20 02:00:15")

    _, inv = await triage(world, log=log)

    prev = next(f for f in inv.findings if f.source == "previous_run")
    assert "2026-11-19T02-00-00.log" in prev.summary and "failed differently" in prev.summary
    assert "DiskFull" in prev.summary
    assert prev.evidence[0].path == str(log) and prev.evidence[0].line == 7


async def test_investigate_recurring_failure_says_rerun_will_not_help(world: World):
    usual_partitions(world)
    err = ["RuntimeError: quota exceeded for project 1234"]
    world.log("orders_daily", "2026-11-19T02-00-00.log", airflow_log(err, when="2026-11-19 02:00:09"),
              "2026-11-19 02:00:10")
    log = world.log("orders_daily", "2026-11-20T02-00-00.log", airflow_log(err), "2026-11-20 02:00:15")

    _, inv = await triage(world, log=log, jobs=ORDERS.replace('repo = "{repo_root}/etl-jobs"\n', ""))

    prev = next(f for f in inv.findings if f.source == "previous_run")
    assert "Recurring failure" in prev.summary
    assert prev.action == "A rerun alone will not fix it; fix the cause before rerunning."


async def test_investigate_unknown_job_works_from_the_log_alone(world: World):
    log = world.log("mystery_job", "run1.log", "2026-11-20 03:00:00 ERROR KeyError: 'customer_id'\n",
                    "2026-11-20 03:00:01")

    report, inv = await triage(world, job="mystery_job", run_id=None)

    note = next(f for f in inv.findings if f.source == "registry")
    assert "'mystery_job' is not in the registry" in note.summary and "from the log alone" in note.summary
    assert "Add [jobs.mystery_job]" in note.summary and note.action is None     # never the lead action
    assert not any(f.source in ("upstream", "deploys", "config") for f in inv.findings)
    assert report.log_path == str(log)
    assert all(str(world.data) not in p and str(world.repos) not in p for p in report.files_read)


async def test_investigate_guessed_run_date_does_not_override_an_infra_failure(world: World):
    world.partition("dt=2026-11-19", {"part-0000.csv": HEADER}, "2026-11-20 01:10:00")
    log = world.log("orders_daily", "2026-11-21T03-15-00.log",
                    "26/11/21 03:43:10 ERROR YarnScheduler: Lost executor 4: Container killed by YARN for "
                    "exceeding physical memory limits. 9.1 GB of 9 GB physical memory used.\n",
                    "2026-11-21 03:43:11")

    _, inv = await triage(world, log=log, run_id=None, jobs=ORDERS.replace('repo = "{repo_root}/etl-jobs"\n', ""))

    assert inv.category != "data"
    note = next(f for f in inv.findings if f.source == "upstream")
    assert "No partition dt=2026-11-21" in note.summary and "from log file name" in note.summary
    assert note.action is None


async def test_investigate_dependency_pin_bump_before_an_ambiguous_failure_leans_code(world: World):
    # the log reads as bad data with a code runner-up; a lockfile bump 2 h earlier decides it for code
    world.base_repo()
    sha = world.commit({"requirements.txt": "pandas==2.2.0\npyarrow==16.0.0\n"}, "Bump pandas and pyarrow",
                       when="2026-11-20 00:00:00", author="Bo Coder")
    usual_partitions(world)
    error = ["ValueError: Invalid isoformat string: '0000000000004651'"]
    log = world.log("orders_daily", "2026-11-20T02-00-00.log", airflow_log(error), "2026-11-20 02:00:15")

    report, inv = await triage(world, log=log)

    assert inv.category == "code" and report.category == "code"
    top = inv.findings[0]
    assert top.source == "deploys" and sha[:7] in top.summary and "requirements.txt" in top.summary
    assert "Dependency pins or images changed" in top.summary and "2.0 h before the failure" in top.summary
    assert top.action and "pin back" in top.action
    assert any(a.category == "data" for a in report.alternatives)  # the log's own reading stays visible


async def test_investigate_pin_bump_does_not_overrule_a_confident_platform_failure(world: World):
    world.base_repo()
    world.commit({"requirements.txt": "pandas==2.2.0\n"}, "Bump pandas", when="2026-11-20 00:00:00")
    usual_partitions(world)
    error = ["OSError: [Errno 28] No space left on device: '/tmp/spill-0001'"]
    log = world.log("orders_daily", "2026-11-20T02-00-00.log", airflow_log(error), "2026-11-20 02:00:15")

    report, inv = await triage(world, log=log)

    assert report.category == "infra"
    assert any("Dependency pins" in f.summary for f in inv.findings)   # still shown, as context


@pytest.mark.parametrize("content", ["", "\n\n", "[2026-11-20, 02:00:14 UTC] INFO - Starting attempt 1 of 3\n"],
                         ids=["empty", "blank-lines", "no-error-lines"])
async def test_investigate_empty_current_log_never_borrows_the_previous_runs_errors(world: World, content: str):
    world.base_repo()
    usual_partitions(world)
    previous = world.log("orders_daily", "2026-11-19T02-00-00.log", airflow_log(KEYERROR, when="2026-11-19 02:00:14"),
                         "2026-11-19 02:00:15")
    log = world.log("orders_daily", "2026-11-20T02-00-00.log", content, "2026-11-20 02:00:15")

    report, inv = await triage(world, log=log)

    shown = report.model_dump_json()
    assert "rerun alone will not fix" not in shown.lower() and "Recurring failure" not in shown
    assert str(previous) not in {e.path for e in report.evidence}
    assert all(str(previous) not in {e.path for e in f.evidence} for f in inv.findings)
    assert "no error line" in report.root_cause or "no root-cause error" in report.root_cause


async def test_investigate_previous_run_tool_says_the_current_log_has_no_errors(world: World):
    from bot.evidence.previous_run import previous_run
    from bot.sandbox import Audit, SandboxManager

    world.log("orders_daily", "2026-11-19T02-00-00.log", airflow_log(KEYERROR, when="2026-11-19 02:00:14"),
              "2026-11-19 02:00:15")
    log = world.log("orders_daily", "2026-11-20T02-00-00.log", "", "2026-11-20 02:00:15")
    manager = SandboxManager(mode="in-process")
    try:
        prev = await previous_run(manager.for_stage("investigate", [f"{world.logs}/**"], Audit()), str(log))
    finally:
        await manager.aclose()
    assert not prev.same_error and "has no error lines" in prev.text() and "KeyError" not in prev.text()


@pytest.mark.parametrize(("files", "when"), [
    ({"dags/orders/README.md": "docs\n"}, "2026-11-19 22:30:00"),            # docs only, the night before
    ({"dags/orders/util.py": "x = 1\n"}, "2026-11-17 04:30:00"),             # code, but 2.9 days before
])
async def test_investigate_a_docs_only_or_old_commit_is_not_the_deploy_that_broke_the_job(world: World, files, when):
    """The newest commit in the 72 h window was 'the deploy': a README typo three days earlier made a KeyError
    'code 0.9 … right after a deploy'."""
    world.base_repo()
    world.commit(files, "docs: typo", when=when)
    usual_partitions(world)
    log = world.log("orders_daily", "2026-11-20T02-00-00.log", airflow_log(KEYERROR), "2026-11-20 02:00:15")
    report, inv = await triage(world, log=log)
    assert inv.category != "code" and report.category != "code", inv.summary


async def test_investigate_a_column_dropped_in_one_file_of_a_partition_is_schema_drift(world: World):
    """Only the partition's newest file was read: with the drop in an older file of two, upstream 'looked
    normal'."""
    world.base_repo()
    world.partition("dt=2026-11-18", {"part-0000.csv": HEADER}, "2026-11-19 01:10:00")
    world.partition("dt=2026-11-19", {"part-0000.csv": "order_id,amount\n1,9.5\n"}, "2026-11-20 01:10:00")
    world.partition("dt=2026-11-19", {"part-0001.csv": HEADER}, "2026-11-20 01:12:00")
    log = world.log("orders_daily", "2026-11-20T02-00-00.log", airflow_log(KEYERROR), "2026-11-20 02:00:15")
    report, inv = await triage(world, log=log)
    assert report.category == "data"
    assert inv.category == "data" and "customer_id' was removed" in inv.summary
