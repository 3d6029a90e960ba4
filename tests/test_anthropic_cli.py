"""`etl-triage run --provider anthropic --json` as a user runs it, against the loopback Messages API fake."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.fakes.anthropic_api import FakeAnthropic

LOG = "ERROR - Task failed with exception\nKeyError: 'customer_id'\npassword=s3cr3t-in-log\n"


async def _cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode or 0, out.decode(), err.decode()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "ETL_TRIAGE_"))}
    return {**env, **extra}


def _log(tmp_path: Path) -> Path:
    log = tmp_path / "logs" / "orders_daily" / "run.log"
    log.parent.mkdir(parents=True)
    log.write_text(LOG)
    return log


async def test_anthropic_cli_run_json_against_the_fake(tmp_path):
    log = _log(tmp_path)
    async with FakeAnthropic() as fake:
        code, out, err = await _cli("run", "--provider", "anthropic", "--log", str(log),
                                    "--log-root", str(tmp_path / "logs"), "--json",
                                    env=_env(ANTHROPIC_BASE_URL=fake.base_url, ANTHROPIC_API_KEY="test"))
    assert code == 0, err
    report = json.loads(out)
    assert report["provider"] == "anthropic" and report["complete"] is True
    assert [s["provider"] for s in report["stages"]] == ["anthropic"] * len(report["stages"])
    assert len(fake.requests) == len(report["stages"]) == sum(s["round_trips"] for s in report["stages"])
    assert all("test" in (h.get("x-api-key"), h.get("authorization", "").removeprefix("Bearer "))
               for h in fake.headers)
    assert "s3cr3t-in-log" not in fake.bodies_text()


async def test_anthropic_cli_provider_from_env_with_model(tmp_path):
    log = _log(tmp_path)
    async with FakeAnthropic() as fake:
        code, out, err = await _cli("run", "--log", str(log), "--log-root", str(tmp_path / "logs"), "--json",
                                    env=_env(ANTHROPIC_BASE_URL=fake.base_url, ANTHROPIC_API_KEY="test",
                                             ETL_TRIAGE_PROVIDER="anthropic:claude-test-model"))
    assert code == 0, err
    assert {b["model"] for b in fake.requests} == {"claude-test-model"}
    assert {s["model"] for s in json.loads(out)["stages"]} == {"claude-test-model"}


async def test_anthropic_cli_missing_key_is_one_line_exit_2(tmp_path):
    log = _log(tmp_path)
    code, out, err = await _cli("run", "--provider", "anthropic", "--log", str(log),
                                "--log-root", str(tmp_path / "logs"), env=_env())
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0
    assert "ANTHROPIC_API_KEY is not set" in err and "--provider offline" in err
