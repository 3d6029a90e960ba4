"""Secrets planted in a failed run's log never reach `etl-triage run --json` or `run` output."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bot.sandbox import Audit, SandboxManager
from tests.conftest import ROOT
from tests.secrets_world import SECRETS, secret_log


def _world(tmp_path):
    log = tmp_path / "logs" / "orders_daily" / "2026-11-20T02-00-00.log"
    log.parent.mkdir(parents=True)
    log.write_text(secret_log())
    return log


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
def test_sandbox_cli_run_never_prints_planted_secrets(tmp_path, as_json):
    log = _world(tmp_path)
    args = [sys.executable, "-m", "bot", "run", "--log", str(log), "--log-root", str(tmp_path / "logs")]
    p = subprocess.run([*args, "--json"] if as_json else args, cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    out = p.stdout + p.stderr
    if as_json:
        report = json.loads(p.stdout)
        assert report["files_read"] == [str(log)]
        assert report["sandbox"]["enforcement"] in ("landlock", "in-process")
    leaked = [kind for kind, _, secret in SECRETS if secret in out]
    assert leaked == []
    assert "[REDACTED:" in out


@pytest.mark.parametrize("mode", ["auto", "in-process"])
async def test_sandbox_excerpt_of_secret_log_redacts_every_kind(tmp_path, mode):
    log = _world(tmp_path)
    manager = SandboxManager(mode=mode)
    try:
        sb = manager.for_stage("classify", [f"{tmp_path}/logs/**"], Audit())
        text = (await sb.excerpt(log)).text()
    finally:
        await manager.aclose()
    assert [k for k, _, s in SECRETS if s in text] == []
    assert {f"[REDACTED:{k}]" for k, _, _ in SECRETS} <= {t for t in _markers(text)}
    assert "db.internal:5432" in text and "Connection refused" in text


def _markers(text: str) -> set[str]:
    import re

    return set(re.findall(r"\[REDACTED:[a-z_]+\]", text))
