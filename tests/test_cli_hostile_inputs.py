"""Inputs that used to crash or hang the CLI: each is one line on stderr and exit 2, promptly."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def _cli(*args: str, cwd=ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ETL_TRIAGE_"))}
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=30, env={**env, "SLACK_BOT_TOKEN": "xoxb-x", "SLACK_SIGNING_SECRET": "s"})


def _one_line_exit_2(p: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert p.returncode == 2, (p.returncode, p.stderr[-500:])
    assert "Traceback" not in p.stderr and p.stderr.count("\n") == 1, p.stderr[-500:]
    for n in needles:
        assert n in p.stderr, p.stderr


def test_cli_deeply_nested_toml_is_one_line(tmp_path):
    f = tmp_path / "topology.toml"
    f.write_text("x = " + "[" * 50_000 + "]" * 50_000 + "\n")
    _one_line_exit_2(_cli("validate", str(f)), "nested too deeply")


def test_cli_port_out_of_range_is_one_line():
    _one_line_exit_2(_cli("serve", "--http", "--port", "99999"), "--port '99999'", "0 to 65535")


def test_cli_topology_symlink_to_dev_zero_is_refused(tmp_path):
    (tmp_path / "topology.toml").symlink_to("/dev/zero")
    _one_line_exit_2(_cli("validate", str(tmp_path / "topology.toml")), "not a regular file (a device)")


def test_cli_topology_fifo_does_not_hang(tmp_path):
    os.mkfifo(tmp_path / "topology.toml")
    _one_line_exit_2(_cli("validate", str(tmp_path / "topology.toml")), "not a regular file (a FIFO)")


def test_cli_topology_too_large_is_refused(tmp_path):
    f = tmp_path / "topology.toml"
    f.write_text("# padding\n" * 200_000)
    _one_line_exit_2(_cli("validate", str(f)), "too large")


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_cli_prompt_that_is_not_a_regular_file_says_so(tmp_path, kind):
    shutil.copy(ROOT / "topology.toml", tmp_path / "topology.toml")
    shutil.copytree(ROOT / "prompts", tmp_path / "prompts")
    (tmp_path / "prompts" / "recommend.md").unlink()
    if kind == "fifo":
        os.mkfifo(tmp_path / "prompts" / "recommend.md")
        _one_line_exit_2(_cli("validate", str(tmp_path / "topology.toml")), "prompts/recommend.md is a FIFO")
    else:
        (tmp_path / "prompts" / "recommend.md").symlink_to("/dev/zero")
        _one_line_exit_2(_cli("validate", str(tmp_path / "topology.toml")), "recommend.md")
