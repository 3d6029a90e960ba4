"""What a newcomer runs into first: hints instead of dead ends."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import pytest

from bot.errors import SettingsError
from bot.settings import Settings
from bot.slack.serve import serve
from tests.conftest import ROOT
from tests.fakes.slack_world import make_topology

EXAMPLE = "examples/logs/orders_daily/2026-11-20T02-00-00.log"


def _cli(*args: str, cwd=ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETL_TRIAGE_")}
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env=env)


def test_cli_run_log_without_log_root_hints_at_log_root():
    p = _cli("run", "--log", EXAMPLE)
    assert p.returncode == 2 and p.stderr.count("\n") == 1
    assert "outside the read allowlist" in p.stderr and f"--log-root {ROOT / 'examples' / 'logs'}" in p.stderr


def test_cli_relative_var_is_resolved_against_the_working_directory():
    p = _cli("run", "--log", EXAMPLE, "--log-root", "examples/logs", "--var", "data_root=examples/data", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["complete"] is True
    p = _cli("explain", "--var", "data_root=examples/data")
    assert f"data_root={ROOT / 'examples' / 'data'}" in p.stdout


def test_cli_unknown_var_is_refused_with_a_suggestion():
    p = _cli("validate", "--var", "data_rot=/data")
    assert p.returncode == 2 and p.stderr.count("\n") == 1
    assert "--var data_rot" in p.stderr and "did you mean 'data_root'?" in p.stderr


def test_cli_no_arguments_prints_help_and_version_works():
    p = _cli()
    assert p.returncode == 2 and "usage: etl-triage" in p.stdout and "validate" in p.stdout
    v = _cli("--version")
    assert v.returncode == 0 and v.stdout.startswith("etl-triage ")


def test_cli_denied_does_not_list_paths_that_merely_do_not_exist():
    p = _cli("run", "--log", EXAMPLE, "--log-root", "examples/logs", "--var", "data_root=/nonexistent-data",
             "--var", "repo_root=/nonexistent-repos", "--json")
    assert p.returncode == 0, p.stderr
    denied = json.loads(p.stdout)["denied"]
    assert [d for d in denied if d["reason"] == "no such file or directory"] == []


@pytest.mark.parametrize("channels", [frozenset({"#etl-ops"}), frozenset({"C0ALERTS1", "etl-ops"})])
async def test_slack_serve_refuses_channel_names_in_alert_channels(tmp_path, channels):
    settings = Settings(slack_bot_token="xoxb-1", slack_app_token="xapp-1", alert_channels=channels)
    with pytest.raises(SettingsError) as e:
        await serve(argparse.Namespace(http=False, port=0), settings, make_topology(tmp_path))
    assert "not a channel id" in str(e.value) and "C0123ABCD" in str(e.value)
