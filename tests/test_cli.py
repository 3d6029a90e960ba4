"""The CLI as users run it: a subprocess, exit codes, one-line errors, the JSON contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

EXAMPLES = ROOT / "examples" / "logs"


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def _log_world(tmp_path: Path) -> Path:
    logs = tmp_path / "logs" / "orders_daily"
    logs.mkdir(parents=True)
    log = logs / "run.log"
    log.write_text("ERROR - Task failed with exception\nKeyError: 'customer_id'\n")
    return log


def test_cli_run_json_honours_the_contract(tmp_path):
    log = _log_world(tmp_path)
    p = cli("run", "--log", str(log), "--log-root", str(tmp_path / "logs"), "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["category"] in ("data", "infra", "code", "unknown")
    assert 0 <= out["confidence"] <= 1
    assert out["root_cause"] and out["action"] and out["escalation"]["team"]
    assert all(set(e) >= {"path", "line", "text"} for e in out["evidence"])
    assert [s["name"] for s in out["stages"]] == ["classify", "investigate", "recommend"]
    assert all(set(s) >= {"name", "status", "duration_ms", "provider"} for s in out["stages"])
    assert out["files_read"] == [str(log)]
    assert out["provider"] == "offline" and out["duration_ms"] > 0
    assert out["sandbox"]["enforcement"] in ("landlock", "in-process")


def test_cli_run_finds_newest_log_for_job(tmp_path):
    log = _log_world(tmp_path)
    p = cli("run", "--job", "orders_daily", "--log-root", str(tmp_path / "logs"), "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["log_path"] == str(log)


def test_cli_run_human_output_is_compact(tmp_path):
    log = _log_world(tmp_path)
    p = cli("run", "--log", str(log), "--log-root", str(tmp_path / "logs"))
    assert p.returncode == 0, p.stderr
    for label in ("category", "root cause", "action", "escalate", "evidence", "stages"):
        assert any(line.startswith(label) for line in p.stdout.splitlines()), label
    assert f"{log}:2" in p.stdout


@pytest.mark.parametrize("escape", ["absolute", "dotdot", "symlink", "prefix"])
def test_cli_run_refuses_log_outside_allowlist(tmp_path, escape):
    _log_world(tmp_path)
    secret = tmp_path / "logs_evil" / "s.log"
    secret.parent.mkdir()
    secret.write_text("SECRET-CONTENT\n")
    path = {
        "absolute": str(secret),
        "dotdot": str(tmp_path / "logs" / "orders_daily" / ".." / ".." / "logs_evil" / "s.log"),
        "symlink": str(tmp_path / "logs" / "orders_daily" / "link.log"),
        "prefix": str(tmp_path / "logs_evil" / "s.log"),
    }[escape]
    (tmp_path / "logs" / "orders_daily" / "link.log").symlink_to(secret)
    p = cli("run", "--log", path, "--log-root", str(tmp_path / "logs"), "--json")
    assert p.returncode == 2
    assert p.stdout == "" and "SECRET-CONTENT" not in p.stderr
    assert p.stderr.startswith("etl-triage: error: read denied for stage 'classify'")
    assert p.stderr.count("\n") == 1


@pytest.mark.parametrize(("args", "message"), [
    (["run", "--log", "{tmp}/logs/orders_daily/missing.log"], "missing.log"),
    (["run", "--job", "nope"], "no *.log for job 'nope'"),
    (["run"], "give --log PATH or --job NAME"),
    (["run", "--job", "x", "--var", "novalue"], "--var 'novalue': expected NAME=VALUE"),
    (["run", "--job", "x", "--topology", "{tmp}/none.toml"], "none.toml: file not found"),
    (["run", "--job", "x", "--provider", "gpt"], "unknown provider 'gpt'"),
])
def test_cli_user_errors_exit_2_with_one_line(tmp_path, args, message):
    _log_world(tmp_path)
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    p = cli(*args, "--log-root", str(tmp_path / "logs"))
    assert p.returncode == 2, p.stderr
    assert message in p.stderr and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr


def test_cli_explain_reads_like_the_pipeline():
    p = cli("explain")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert out.index("1. classify") < out.index("2. investigate") < out.index("3. recommend")
    assert "branches on the category from 'classify'" in out
    assert "may read: /var/log/etl/**" in out
    assert "file access enforcement:" in out


def test_cli_demo_prints_a_report_per_example_job():
    p = cli("demo")
    assert p.returncode == 0, p.stderr
    jobs = sorted(d.name for d in EXAMPLES.iterdir() if d.is_dir())
    assert [line[3:].split()[0] for line in p.stdout.splitlines() if line.startswith("== ")] == jobs


def test_cli_demo_shows_data_infra_and_code_with_their_evidence():
    p = cli("demo", "--json")
    assert p.returncode == 0, p.stderr
    reports = {r["job"]: r for r in map(json.loads, p.stdout.splitlines())}
    assert reports["orders_daily"]["category"] == "data"                # upstream header renamed the column
    assert "customer_id → cust_id" in reports["orders_daily"]["root_cause"]
    assert reports["customer_sync"]["category"] == "infra"              # YARN killed the executor
    code = reports["revenue_rollup"]
    assert code["category"] == "code"                                   # the deploy built from examples/repo.toml
    assert "Revert or fix commit" in code["action"] and "Bo Coder" in code["root_cause"]


def test_cli_demo_outside_repo_uses_the_bundled_examples(tmp_path):
    p = cli("demo", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "== orders_daily" in p.stdout


def test_cli_demo_with_a_missing_examples_dir_says_what_to_pass(tmp_path):
    p = cli("demo", "--examples", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert p.returncode == 2 and "pass --examples DIR" in p.stderr


def test_cli_human_output_neutralises_terminal_escapes(tmp_path):
    logs = tmp_path / "logs" / "job"
    logs.mkdir(parents=True)
    log = logs / "run.log"
    # the reader drops whole terminal sequences (a title-setting OSC, a screen clear); a stray ESC that starts
    # none is neutralised by the human output
    log.write_text("Traceback (most recent call last):\nKeyError: 'x\x1b]0;PWNED\x07\x1b[2J' at \x1b\n")
    p = cli("run", "--log", str(log), "--log-root", str(tmp_path / "logs"))
    assert p.returncode == 0, p.stderr
    assert "\x1b" not in p.stdout and "\x07" not in p.stdout and "PWNED" not in p.stdout
    assert "KeyError: 'x' at \ufffd" in p.stdout


def test_cli_run_names_the_job_from_airflows_nested_layout(tmp_path):
    log = tmp_path / "logs" / "orders_daily" / "dag_id=orders_daily" / "run_id=manual__1" / "task_id=load"
    log.mkdir(parents=True)
    (log / "attempt=1.log").write_text("KeyError: 'customer_id'\n")
    p = cli("run", "--log", str(log / "attempt=1.log"), "--log-root", str(tmp_path / "logs"), "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["job"] == "orders_daily" and out["escalation"]["owners"] == ["U0123ABC"]  # registry entry found
