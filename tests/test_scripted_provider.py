"""`--provider scripted:FILE` (a team tests its topology in CI without a key) and the provider registry (a third
party adds a provider through the `etl_triage.providers` entry point group)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.errors import SettingsError
from bot.providers import get_provider
from bot.providers.registry import installed
from tests.conftest import ROOT

LOG = """\
[2026-11-20, 02:00:14 UTC] ERROR - Task failed with exception
Traceback (most recent call last):
  File "/opt/airflow/dags/orders/load.py", line 88, in load_orders
KeyError: 'customer_id'
"""
SCRIPT = """\
[classify]
category = "infra"
confidence = 0.9
summary = "scripted: the warehouse is down for {job}"
evidence = [{ path = "x.log", line = 4, text = "KeyError: 'customer_id'" }]

[investigate]
category = "data"
confidence = 0.5
summary = "not the answer for this branch"

[investigate.branch.infra]
category = "infra"
confidence = 0.85
summary = "investigated as {branch}"
"""


def run(tmp_path: Path, script: str, name: str = "script.toml") -> subprocess.CompletedProcess[str]:
    log = tmp_path / "logs" / "orders_daily" / "run.log"
    log.parent.mkdir(parents=True)
    log.write_text(LOG)
    (tmp_path / name).write_text(script)
    return subprocess.run([sys.executable, "-m", "bot", "run", "--provider", f"scripted:{tmp_path / name}",
                           "--log", str(log), "--log-root", str(tmp_path / "logs"), "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_scripted_provider_answers_each_stage_from_the_script_at_the_cli(tmp_path):
    p = run(tmp_path, SCRIPT)
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    stages = {s["name"]: s for s in report["stages"]}
    assert stages["classify"]["provider"] == "scripted" and stages["classify"]["model"] == "script"
    assert stages["classify"]["output"]["summary"] == "scripted: the warehouse is down for orders_daily"
    assert stages["investigate"]["branch"] == "infra"
    assert stages["investigate"]["output"]["summary"] == "investigated as infra"
    # a stage the script does not answer goes to the offline engine, and the report says why
    assert stages["recommend"]["provider"] == "offline"
    assert "has no answer for stage 'recommend'" in stages["recommend"]["fallback"]
    assert report["category"] == "infra" and report["escalation"]["team"] == "Platform / Infra"  # the topology's
    assert report["fingerprint"]["signature"].startswith("python.keyerror")   # the log's, not the script's


def test_scripted_provider_error_and_invalid_answer_fail_the_stage_as_a_model_would(tmp_path):
    script = ('[classify]\nerror = "529 overloaded"\n\n[investigate]\ncategory = "sideways"\nconfidence = 1\n'
              'summary = "x"\n\n[recommend]\ncategory = "data"\nconfidence = 0.7\nroot_cause = "r"\naction = "a"\n')
    p = run(tmp_path, script)
    assert p.returncode == 0, p.stderr
    stages = {s["name"]: s for s in json.loads(p.stdout)["stages"]}
    assert stages["classify"]["fallback"] == "scripted: ProviderError: 529 overloaded"
    assert "not a valid Investigation" in stages["investigate"]["fallback"]
    assert stages["recommend"]["provider"] == "scripted" and stages["recommend"]["output"]["root_cause"] == "r"


def test_scripted_provider_bad_script_is_one_line_and_exit_2(tmp_path):
    p = run(tmp_path, "[classify\n")
    assert p.returncode == 2 and "not a valid TOML script" in p.stderr and len(p.stderr.strip().splitlines()) == 1
    with pytest.raises(SettingsError, match="needs its script"):
        get_provider("scripted")
    with pytest.raises(SettingsError, match=r"cannot read the provider script .*nope\.json"):
        get_provider(f"scripted:{tmp_path / 'nope.json'}")


def test_registry_finds_a_provider_installed_through_an_entry_point(tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "acme_provider-1.0.dist-info").mkdir(parents=True)
    (site / "acme_provider-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-provider\n"
                                                                   "Version: 1.0\n")
    (site / "acme_provider-1.0.dist-info" / "entry_points.txt").write_text(
        "[etl_triage.providers]\nacme = acme_provider:provider\n")
    (site / "acme_provider.py").write_text(
        "from bot.providers.offline import OfflineProvider\n\n"
        "class Acme(OfflineProvider):\n    def __init__(self, arg):\n        self.name = f'acme[{arg}]'\n\n"
        "def provider(arg):\n    return Acme(arg)\n")
    monkeypatch.syspath_prepend(str(site))
    assert "acme" in installed() and installed()[:3] == ["offline", "anthropic", "scripted"]
    assert get_provider("acme:big-model").name == "acme[big-model]"
    with pytest.raises(SettingsError, match=r"unknown provider 'gpt'.*installed: acme"):
        get_provider("gpt")
