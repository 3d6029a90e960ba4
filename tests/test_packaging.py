"""The built wheel works installed: a fresh venv outside the checkout, only the wheel (its dependencies are
borrowed from the test venv's site-packages, so no network and no second resolve), runs the commands."""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

SOURCES = ("pyproject.toml", "README.md", "LICENSE", "topology.toml")
TREES = ("bot", "prompts", "examples")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bin/ of a venv holding only the wheel built from a copy of this checkout."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        shutil.copy2(ROOT / name, src / name)
    for name in TREES:  # bot/assets/ links into prompts/ and examples/: copy the links as links
        shutil.copytree(ROOT / name, src / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist),
                    str(src)], check=True, capture_output=True, timeout=300)
    [wheel] = dist.glob("etl_triage-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    purelib = Path(subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()"
                                   "['purelib'])"], check=True, capture_output=True, text=True).stdout.strip())
    # the dependencies (pydantic, slack-bolt, …) from this venv; its editable etl-triage is not on that path
    deps = {*site.getsitepackages(), sysconfig.get_paths()["purelib"]}
    (purelib / "_test_deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True, timeout=300)
    return venv / "bin"


def _run(bin_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(cwd), "LC_ALL": "C.UTF-8"}
    return subprocess.run([str(bin_dir / "etl-triage"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def test_wheel_carries_topology_prompts_examples_license_and_py_typed(installed: Path):
    [wheel] = (installed.parent.parent / "dist").glob("etl_triage-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"bot/py.typed", "bot/assets/topology.toml", "bot/assets/prompts/classify-failure.md",
            "bot/assets/init/topology.toml", "bot/assets/examples/repo.toml",
            "bot/assets/examples/logs/orders_daily/2026-11-20T02-00-00.log"} <= names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not any(n.startswith(("tests/", "eval/", "bench/")) for n in names)


def test_installed_wheel_runs_outside_the_checkout(installed: Path, tmp_path: Path):
    where = _run(installed, "--version", cwd=tmp_path)
    assert where.returncode == 0 and where.stdout.startswith("etl-triage ")
    py = installed / "python"
    origin = subprocess.run([str(py), "-c", "import bot, pathlib; print(pathlib.Path(bot.__file__).resolve())"],
                            cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()
    assert str(installed.parent) in origin and str(ROOT) not in origin  # the wheel's copy, not the checkout
    assert (Path(origin).parent / "py.typed").is_file()
    assert list((installed.parent / "lib").glob("python*/site-packages/etl_triage-*.dist-info/licenses/LICENSE"))

    demo = _run(installed, "demo", cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert "== orders_daily" in demo.stdout and "category" in demo.stdout

    logs = tmp_path / "logs" / "orders_daily"
    logs.mkdir(parents=True)
    shutil.copy(ROOT / "examples/logs/orders_daily/2026-11-20T02-00-00.log", logs / "failed.log")
    run = _run(installed, "run", "--log", str(logs / "failed.log"), "--log-root", str(tmp_path / "logs"),
               "--json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert '"job": "orders_daily"' in run.stdout and '"category"' in run.stdout

    init = _run(installed, "init", "jobs-repo", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    valid = _run(installed, "validate", "jobs-repo/topology.toml", cwd=tmp_path)
    assert valid.returncode == 0 and "ok (3 stages)" in valid.stdout, valid.stderr

    preview = _run(installed, "preview", "--log", str(logs / "failed.log"), "--log-root", str(tmp_path / "logs"),
                   "--out", "reply.html", cwd=tmp_path)
    assert preview.returncode == 0, preview.stderr
    assert "Escalate to Data Engineering" in (tmp_path / "reply.html").read_text()
