"""File names are bytes: a name that is not UTF-8 is carried (surrogateescape) through the sandbox reader,
the investigation and every output, and a check that still fails makes the report say it is incomplete."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bot.contract import CHECK_NOT_DONE, Alert, Finding, Investigation
from bot.engine import run_triage
from bot.providers.base import StageOutcome, StageRequest
from bot.providers.offline import OfflineProvider
from bot.render import report_text
from bot.sandbox import SandboxManager
from bot.slack.blocks import report_payload
from tests.conftest import ROOT
from tests.investigate_world import ORDERS, RUN_ID, World, airflow_log
from tests.test_investigate_worlds import HEADER, KEYERROR

BAD = os.fsdecode(b"caf\xe9-\xff.csv")        # Latin-1 bytes: not UTF-8


@pytest.mark.parametrize("mode", ["auto", "in-process"])
async def test_nonutf8_name_in_upstream_folder_keeps_the_schema_drift_diagnosis(tmp_path, mode):
    world = World(tmp_path)
    world.base_repo()
    world.partition("dt=2026-11-18", {"part-0000.csv": HEADER}, "2026-11-19 01:10:00")
    new = world.partition("dt=2026-11-19", {"part-0000.csv": "order_id,cust_id,amount\n1,42,9.5\n"},
                          "2026-11-20 01:12:00")
    world.write(new / BAD, "order_id,cust_id,amount\n", "2026-11-20 01:11:00")
    log = world.log("orders_daily", "2026-11-20T02-00-00.log", airflow_log(KEYERROR), "2026-11-20 02:00:15")
    manager = SandboxManager(mode=mode)
    try:
        report = await run_triage(world.topology(ORDERS), Alert(job="orders_daily", run_id=RUN_ID),
                                  provider=OfflineProvider(), log_path=log, sandboxes=manager)
    finally:
        await manager.aclose()
    assert report.complete, report.incomplete
    assert report.category == "data" and "renamed to 'cust_id'" in report.root_cause + json.dumps(
        [s.output for s in report.stages])
    report.model_dump_json()                                   # every string in it can be encoded


def test_nonutf8_log_name_runs_end_to_end_in_the_cli(tmp_path):
    logs = tmp_path / "logs" / "orders_daily"
    logs.mkdir(parents=True)
    log = logs / os.fsdecode(b"run-\xff.log")
    log.write_text("ERROR Task failed\npsycopg2.OperationalError: could not connect to server: Connection refused\n")
    (logs / os.fsdecode(b"older-\xfe.log")).write_text("INFO ok\n")
    os.utime(logs / os.fsdecode(b"older-\xfe.log"), (1000, 1000))
    for extra in ([], ["--json"]):
        p = subprocess.run([sys.executable, "-m", "bot", "run", "--job", "orders_daily", "--log-root",
                            str(tmp_path / "logs"), *extra], cwd=ROOT, capture_output=True, timeout=60)
        assert p.returncode == 0, p.stderr.decode(errors="replace")
        out = p.stdout.decode("utf-8")                          # valid UTF-8, whatever the names were
        assert "Traceback" not in p.stderr.decode(errors="replace")
        if extra:
            assert json.loads(out)["log_path"].endswith("run-\\xff.log")
        else:
            assert "run-\\xff.log" in out


class _CheckFails(OfflineProvider):
    """The offline engine, except that one investigation check could not be done (as a reader that died)."""

    async def run_stage(self, request: StageRequest) -> StageOutcome:
        out = await super().run_stage(request)
        if isinstance(out.output, Investigation):
            out.output.findings.append(Finding(source=CHECK_NOT_DONE, summary="Check not done: upstream_status: "
                                               "WorkerUnavailable: the sandbox reader exited unexpectedly"))
        return out


async def test_nonutf8_failed_check_marks_the_report_incomplete(tmp_path):
    world = World(tmp_path)
    world.base_repo()
    log = world.log("orders_daily", "2026-11-20T02-00-00.log", airflow_log(KEYERROR), "2026-11-20 02:00:15")
    report = await run_triage(world.topology(ORDERS), Alert(job="orders_daily", run_id=RUN_ID),
                              provider=_CheckFails(), log_path=log)
    assert all(s.status == "ok" for s in report.stages)
    assert not report.complete
    assert report.incomplete == ["Check not done: upstream_status: WorkerUnavailable: the sandbox reader exited "
                                 "unexpectedly"]
    assert "incomplete  Check not done: upstream_status" in report_text(report)
    blocks = json.dumps(report_payload(report, [("data", "Data")])["blocks"])
    assert "partial: Check not done: upstream_status" in blocks
