"""The static checks, run by the one test command so CI gates them: mypy (strict on bot/, with the pydantic
plugin, as configured in pyproject.toml) and `ruff check` over the repository.

Each runs as a subprocess of this venv's Python from the repository root, so it reads pyproject.toml as it
would by hand (`.venv/bin/mypy`, `.venv/bin/ruff check .`); mypy keeps its cache in `.mypy_cache/` there
(gitignored), so a clean clone checks from scratch and later runs are incremental.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          check=False)


def test_mypy_strict_is_clean() -> None:
    proc = _run("mypy")  # files, strictness and the plugin come from [tool.mypy]
    if proc.returncode != 0:
        pytest.fail(f"mypy found errors (run `.venv/bin/mypy` to see them):\n{proc.stdout}{proc.stderr}",
                    pytrace=False)


def test_ruff_is_clean() -> None:
    proc = _run("ruff", "check", ".")
    if proc.returncode != 0:
        pytest.fail(f"ruff found problems (run `.venv/bin/ruff check .`):\n{proc.stdout}{proc.stderr}",
                    pytrace=False)
