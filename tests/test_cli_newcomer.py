"""What a newcomer runs into first: hints instead of dead ends."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

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


