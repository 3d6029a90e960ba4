import json
import subprocess
import sys

from tests.conftest import ROOT


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def test_cli_run_json_has_contract_fields():
    log = ROOT / "examples/logs/orders_daily/2026-11-20T02-00-00.log"
    p = _cli("run", "--log", str(log), "--log-root", str(ROOT / "examples/logs"), "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    for key in ("category", "confidence", "root_cause", "action", "escalation", "evidence", "stages",
                "files_read", "provider", "duration_ms"):
        assert key in out
    assert out["escalation"]["team"]
    assert [s["name"] for s in out["stages"]] == ["classify", "investigate", "recommend"]
    assert out["files_read"] == [str(log)]


def test_cli_run_refuses_log_outside_allowlist_with_exit_2():
    p = _cli("run", "--log", "/etc/passwd", "--log-root", str(ROOT / "examples/logs"), "--json")
    assert p.returncode == 2
    assert p.stdout == ""
    assert "read denied for stage 'classify'" in p.stderr and "root:" not in p.stderr
