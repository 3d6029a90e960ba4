"""`etl-triage init`: a scaffold that validates, never clobbers, and says what to do next."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.cli import main
from tests.conftest import ROOT


def test_init_writes_topology_and_prompts_that_validate(tmp_path, capsys):
    dest = tmp_path / "jobs-repo"
    assert main(["init", str(dest)]) == 0
    out = capsys.readouterr().out
    assert (dest / "topology.toml").is_file() and (dest / "prompts" / "classify-failure.md").is_file()
    assert "1. Edit" in out and "2. Check it: etl-triage validate" in out and "3. Triage a real failure" in out
    assert main(["validate", str(dest / "topology.toml")]) == 0
    assert "ok (3 stages)" in capsys.readouterr().out


def test_init_example_job_validates_once_uncommented(tmp_path, capsys):
    dest = tmp_path / "repo"
    assert main(["init", str(dest)]) == 0
    topo = dest / "topology.toml"
    text = topo.read_text()
    start = text.index("# [jobs.orders_daily]")
    block = text[start:text.index("\n\n", start)]
    topo.write_text(text.replace(block, "\n".join(line.removeprefix("# ") for line in block.splitlines())))
    assert "[jobs.orders_daily]\n" in topo.read_text()
    capsys.readouterr()
    assert main(["validate", str(topo)]) == 0, capsys.readouterr().err


def test_init_refuses_to_overwrite_and_force_does(tmp_path, capsys):
    (tmp_path / "topology.toml").write_text("# mine\n")
    assert main(["init", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already exists" in err[0] and "--force" in err[0]
    assert (tmp_path / "topology.toml").read_text() == "# mine\n"
    assert not (tmp_path / "prompts").exists()  # nothing half-written
    assert main(["init", str(tmp_path), "--force"]) == 0
    assert (tmp_path / "topology.toml").read_text() != "# mine\n"


def test_pre_commit_hook_runs_validate_on_topology_changes():
    [hook] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "etl-triage-validate" and hook["entry"] == "etl-triage validate"
    assert hook["language"] == "python" and hook["pass_filenames"] is False
    import re

    files = re.compile(hook["files"])
    assert files.search("topology.toml") and files.search("prompts/recommend.md")
    assert not files.search("dags/orders/load.py")


def test_cli_version_is_the_package_version(capsys):
    import bot

    try:
        main(["--version"])
    except SystemExit as e:
        assert e.code == 0
    assert capsys.readouterr().out.strip() == f"etl-triage {bot.__version__}"
    import tomllib

    meta = tomllib.loads(Path(ROOT / "pyproject.toml").read_text())
    assert "version" not in meta["project"] and meta["project"]["dynamic"] == ["version"]  # one source
    assert meta["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "bot.__version__"}
