"""A hard link inside the log root can name a file outside it (Landlock and path checks see only the
inside name): regular files with more than one link are refused unless the topology sets allow_hardlinks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from bot.errors import AccessDenied
from bot.sandbox import Audit, SandboxManager
from bot.sandbox.landlock import abi_version
from tests.conftest import ROOT
from tests.fakes.slack_world import ALERTS, SlackWorld

SECRET = "TOPSECRET-hardlink-9c1"


def _world(tmp_path):
    logs = tmp_path / "logs" / "orders_daily"
    logs.mkdir(parents=True)
    outside = tmp_path / "private" / "creds.txt"
    outside.parent.mkdir()
    outside.write_text(f"ERROR {SECRET}\n")
    link = logs / "2026-11-20T02-00-00.log"
    os.link(outside, link)
    return logs, link


@pytest.mark.parametrize("mode", ["landlock", "in-process"])
async def test_hardlink_refused_by_default_and_read_when_allowed(tmp_path, mode):
    if mode == "landlock" and not abi_version()[0]:
        pytest.skip("Landlock not available on this kernel")
    _, link = _world(tmp_path)
    for allow in (False, True):
        manager = SandboxManager(mode=mode, allow_hardlinks=allow)
        audit = Audit()
        try:
            sb = manager.for_stage("classify", [f"{tmp_path}/logs/**"], audit)
            if allow:
                assert SECRET in (await sb.tail(link)).text()
            else:
                with pytest.raises(AccessDenied, match=r"hard link.*allow_hardlinks = true"):
                    await sb.tail(link)
                assert audit.denied and "hard link" in (audit.denied[0].reason or "")
        finally:
            await manager.aclose()


def test_hardlink_cli_run_is_denied_with_the_opt_in_named(tmp_path):
    _, link = _world(tmp_path)
    p = subprocess.run([sys.executable, "-m", "bot", "run", "--log", str(link), "--log-root", str(tmp_path / "logs"),
                        "--json"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and SECRET not in p.stdout + p.stderr
    assert "hard link" in p.stderr and "allow_hardlinks = true" in p.stderr and p.stderr.count("\n") == 1
    topo = (ROOT / "topology.toml").read_text().replace("[pipeline]\n", "[pipeline]\nallow_hardlinks = true\n", 1)
    (tmp_path / "topology.toml").write_text(topo)
    shutil.copytree(ROOT / "prompts", tmp_path / "prompts")
    p = subprocess.run([sys.executable, "-m", "bot", "run", "--topology", str(tmp_path / "topology.toml"), "--log",
                        str(link), "--log-root", str(tmp_path / "logs"), "--json"], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["files_read"] == [str(link)]


async def test_hardlink_slack_thread_says_denied_and_shows_nothing(tmp_path):
    world = await SlackWorld.start(tmp_path)
    try:
        newest = tmp_path / "logs" / "orders_daily" / "zz-newest.log"
        secret = tmp_path / "creds.txt"
        secret.write_text(f"ERROR {SECRET}\n")
        os.link(secret, newest)
        os.utime(newest, (2_000_000_000, 2_000_000_000))
        await world.event({"text": "Job orders_daily failed", "user": "UHUMAN"})
        await world.fake.wait_for(lambda f: any("allowed to read" in json.dumps(c.args) for c in f.of("chat.update")))
        await world.idle()
        shown = world.fake.dump()
        assert SECRET not in shown and "hard link" in shown
        assert world.thread_messages(ALERTS, "1700000001.000200")
    finally:
        await world.close()
