"""The job registry and finding a failed run's log through it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.contract import Alert
from bot.engine import run_triage
from bot.errors import LogNotFound
from bot.jobs import closest_jobs, known_jobs, resolve_job
from bot.log_files import newest_log
from bot.providers.offline import OfflineProvider
from bot.sandbox import Audit, SandboxManager
from tests.investigate_world import ORDERS, World


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = World(tmp_path)
    w.log("orders_daily", "2026-11-18T02-00-00.log", "ERROR old\n", "2026-11-18 02:00:00")
    w.log("orders_daily", "run_manual__2026-11-19.log", "ERROR manual\n", "2026-11-19 02:00:00")
    w.log("orders_daily", "2026-11-20T02-00-00.log", "ERROR newest\n", "2026-11-20 02:00:00")
    w.write(w.logs / "orders_daily/notes.txt", "not a log", "2026-11-21 00:00:00")
    return w


def test_jobs_resolve_merges_defaults_and_expands_vars(world: World):
    topo = world.topology(ORDERS)
    job = resolve_job(topo, "orders_daily")
    assert job.known and job.logs == str(world.logs / "orders_daily") and job.team == "data-platform"
    assert job.owners == ["U0123ABC"] and job.repo == str(world.repos / "etl-jobs")
    other = resolve_job(topo, "ad_hoc")
    assert not other.known and other.logs == str(world.logs / "ad_hoc") and other.upstream == []
    assert known_jobs(topo) == ["orders_daily"] and closest_jobs(topo, "order_daily") == ["orders_daily"]


async def test_logs_newest_log_and_run_id_selection(world: World):
    mgr = SandboxManager()
    try:
        sb = mgr.for_stage("classify", [f"{world.logs}/**"], Audit())
        d = world.logs / "orders_daily"
        folder = str(d)
        assert await newest_log(sb, folder) == d / "2026-11-20T02-00-00.log"
        assert await newest_log(sb, folder, "manual__2026-11-19") == d / "run_manual__2026-11-19.log"
        assert await newest_log(sb, folder, "2026-11-18T02-00-00") == d / "2026-11-18T02-00-00.log"
        assert await newest_log(sb, folder, "no-such-run") is None
        assert await newest_log(sb, str(world.logs / "missing_job")) is None
    finally:
        await mgr.aclose()


async def test_engine_finds_newest_log_through_registry(world: World):
    report = await run_triage(world.topology(ORDERS), Alert(job="orders_daily"), provider=OfflineProvider())
    assert report.log_path == str(world.logs / "orders_daily/2026-11-20T02-00-00.log")


async def test_engine_without_log_for_run_id_says_what_to_do(world: World):
    with pytest.raises(LogNotFound, match=r"matching run 'nope'.*pass --log PATH"):
        await run_triage(world.topology(ORDERS), Alert(job="orders_daily", run_id="nope"),
                         provider=OfflineProvider())


def test_cli_run_job_without_log_uses_newest_or_run_id(world: World, capsys: pytest.CaptureFixture[str]):
    world.topology(ORDERS)
    args = ["run", "--topology", str(world.root / "topology.toml"), "--var", f"log_root={world.logs}",
            "--var", f"data_root={world.data}", "--var", f"repo_root={world.repos}", "--job", "orders_daily"]
    assert main(args) == 0
    assert str(world.logs / "orders_daily/2026-11-20T02-00-00.log") in capsys.readouterr().out
    assert main([*args, "--run-id", "manual__2026-11-19"]) == 0
    assert str(world.logs / "orders_daily/run_manual__2026-11-19.log") in capsys.readouterr().out
    assert main([*args, "--run-id", "nope"]) == 2
    assert "no *.log for job 'orders_daily'" in capsys.readouterr().err
