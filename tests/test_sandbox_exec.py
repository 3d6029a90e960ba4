"""The Landlock launcher for external programs (git): the kernel, not our checks, keeps them inside."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from bot.sandbox import Audit, SandboxManager
from bot.sandbox.landlock import abi_version
from bot.sandbox.landlock_exec import launcher_argv

SECRET = "OUTSIDE-SECRET-91c2"
GIT = shutil.which("git")

needs_landlock = pytest.mark.skipif(not abi_version()[0], reason="Landlock not available on this kernel")
needs_git = pytest.mark.skipif(GIT is None, reason="git is not installed")


async def _run(argv: list[str], cwd: Path) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*argv, cwd=cwd, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                env={"PATH": "/usr/bin:/bin", "HOME": "/dev/null",
                                                     "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"})
    async with asyncio.timeout(30):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@needs_landlock
@needs_git
async def test_sandbox_exec_git_cannot_read_outside_roots(tmp_path: Path):
    inside, outside = tmp_path / "inside", tmp_path / "outside"
    inside.mkdir()
    outside.mkdir()
    (inside / "ok.txt").write_text("hello\n")
    (outside / "secret.txt").write_text(SECRET + "\n")
    assert GIT is not None
    rc_in, out_in, err_in = await _run(launcher_argv([GIT, "hash-object", str(inside / "ok.txt")], [str(inside)]),
                                       inside)
    rc_out, out_out, err_out = await _run(
        launcher_argv([GIT, "hash-object", str(outside / "secret.txt")], [str(inside)]), inside)
    plain, _, _ = await _run([GIT, "hash-object", str(outside / "secret.txt")], inside)
    assert plain == 0                                          # without the launcher git reads it
    assert rc_in == 0 and len(out_in.strip()) == 40, err_in
    assert rc_out != 0 and out_out == "" and "Permission denied" in err_out, err_out


@needs_landlock
async def test_sandbox_exec_program_cannot_write_or_read_etc(tmp_path: Path):
    (tmp_path / "in").mkdir()
    rc_w, _, err_w = await _run(launcher_argv(["/bin/sh", "-c", f"echo x > {tmp_path}/in/new"],
                                              [str(tmp_path / "in")]), tmp_path)
    rc_r, out_r, err_r = await _run(launcher_argv(["/bin/cat", "/etc/passwd"], [str(tmp_path / "in")]), tmp_path)
    assert rc_w != 0 and "Permission denied" in err_w and not (tmp_path / "in" / "new").exists()
    assert rc_r != 0 and "root:" not in out_r and "Permission denied" in err_r


def test_sandbox_exec_requires_absolute_program():
    with pytest.raises(ValueError, match="absolute path"):
        launcher_argv(["git", "log"], ["/tmp"])


@needs_landlock
def test_sandbox_confine_wraps_under_landlock_and_not_in_process(tmp_path: Path):
    allow = [f"{tmp_path}/**"]
    confined = SandboxManager(mode="landlock").for_stage("investigate", allow, Audit()).confine(["/usr/bin/git"])
    plain = SandboxManager(mode="in-process").for_stage("investigate", allow, Audit()).confine(["/usr/bin/git"])
    assert confined[-3:] == [str(tmp_path), "--", "/usr/bin/git"]
    assert plain == ["/usr/bin/git"]
