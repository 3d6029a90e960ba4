"""Escape attempts against the sandbox, each run with Landlock on and with it forced off: every one is
refused with AccessDenied naming path, stage and reason, audited, and nothing of the secret leaks."""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.errors import AccessDenied, BotError
from bot.sandbox import Audit, SandboxManager
from bot.sandbox.client import WorkerClient
from bot.sandbox.landlock import abi_version
from bot.sandbox.worker import TEST_SEAMS_ENV

SECRET = "TOPSECRET-7f3a"
MODES = ["landlock", "in-process"]


class World:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.logs = tmp / "logs"
        (self.logs / "job").mkdir(parents=True)
        self.log = self.logs / "job" / "run.log"
        self.log.write_text("line one\nERROR boom\n")
        self.secret = tmp / "secret.txt"
        self.secret.write_text(SECRET + "\n")
        (tmp / "logs_evil").mkdir()
        (tmp / "logs_evil" / "secret.log").write_text(SECRET + "\n")
        (tmp / "outside").mkdir()
        (tmp / "outside" / "run.log").write_text(SECRET + "\n")


@pytest.fixture(params=MODES)
async def env(request, tmp_path):
    if request.param == "landlock" and not abi_version()[0]:
        pytest.skip("Landlock not available on this kernel")
    world = World(tmp_path)
    manager = SandboxManager(mode=request.param)
    audit = Audit()
    sandbox = manager.for_stage("classify", [f"{world.logs}/**"], audit)
    yield world, sandbox, audit, manager
    await manager.aclose()


def _sym(link: Path, target: str | Path) -> Path:
    link.symlink_to(target)
    return link


# Each case builds the attempted path inside the world (creating links, FIFOs, ... as needed).
CASES: dict[str, Callable[[World], object]] = {
    "absolute_outside": lambda w: w.secret,
    "etc_passwd": lambda w: "/etc/passwd",
    "dotdot": lambda w: f"{w.logs}/../secret.txt",
    "dotdot_deep": lambda w: f"{w.logs}/job/../../secret.txt",
    "double_slash_dotdot": lambda w: f"{w.logs}//job//..//..//secret.txt",
    "prefix_lookalike_root": lambda w: w.tmp / "logs_evil" / "secret.log",
    "absolute_symlink": lambda w: _sym(w.logs / "abs.log", w.secret),
    "relative_symlink": lambda w: _sym(w.logs / "rel.log", "../secret.txt"),
    "symlink_chain": lambda w: _sym(w.logs / "a.log", _sym(w.logs / "b.log", _sym(w.logs / "c.log", "../secret.txt"))),
    "symlinked_directory": lambda w: _sym(w.logs / "linkdir", w.tmp / "outside") / "run.log",
    "symlink_to_etc": lambda w: _sym(w.logs / "passwd.log", "/etc/passwd"),
    "proc_self_root": lambda w: f"/proc/self/root{w.secret}",
    "proc_self_root_dotdot": lambda w: f"/proc/self/root{w.logs}/../secret.txt",
    "nul_byte": lambda w: f"{w.log}\x00/../../secret.txt",
    "overlong_path": lambda w: f"{w.logs}/" + "a/" * 2100 + "x.log",
    "overlong_component": lambda w: f"{w.logs}/" + "a" * 300 + ".log",
    "fifo_inside": lambda w: (os.mkfifo(w.logs / "pipe.log"), w.logs / "pipe.log")[1],
    "dev_zero": lambda w: "/dev/zero",
    "dev_zero_symlink": lambda w: _sym(w.logs / "zero.log", "/dev/zero"),
    "directory_as_file": lambda w: w.logs / "job",
    "unicode_cyrillic_o": lambda w: _lookalike(w),
    "unicode_division_slash": lambda w: f"{w.logs}\u2215..\u2215secret.txt",
    "unicode_fullwidth_dots": lambda w: f"{w.logs}/\uff0e\uff0e/secret.txt",
    "dangling_symlink": lambda w: _sym(w.logs / "dangling.log", w.tmp / "nope.log"),
    "symlink_loop": lambda w: (_sym(w.logs / "x.log", w.logs / "y.log"), _sym(w.logs / "y.log", w.logs / "x.log"))[0],
    "bytes_path": lambda w: bytes(w.secret),
    "not_a_path": lambda w: 12345,
    "empty_path": lambda w: "",
}


def _lookalike(w: World) -> Path:
    evil = w.tmp / "l\u043egs"            # Cyrillic o
    evil.mkdir()
    (evil / "run.log").write_text(SECRET)
    return evil / "run.log"


def _assert_refused(e: AccessDenied, sandbox_audit: Audit) -> None:
    text = str(e)
    assert SECRET not in text and "\n" not in text
    assert "stage 'classify'" in text and e.reason
    if e.reason == "no such file or directory":      # inside the allowlist and absent: refused, not a denial
        assert not sandbox_audit.denied
    else:
        assert sandbox_audit.denied and sandbox_audit.denied[-1].stage == "classify"
    assert not sandbox_audit.files_read


@pytest.mark.parametrize("case", sorted(CASES))
async def test_sandbox_refuses_escape(env, case):
    world, sandbox, audit, _ = env
    path = CASES[case](world)
    with pytest.raises(AccessDenied) as info:
        await sandbox.tail(path)
    _assert_refused(info.value, audit)


@pytest.mark.parametrize("op", ["excerpt", "grep", "read_lines", "head_bytes", "tail_bytes"])
async def test_sandbox_refuses_outside_for_every_read(env, op):
    world, sandbox, audit, _ = env
    args = {"grep": ("TOP",), "head_bytes": (10,), "tail_bytes": (10,)}.get(op, ())
    with pytest.raises(AccessDenied) as info:
        await getattr(sandbox, op)(world.secret, *args)
    _assert_refused(info.value, audit)


async def test_sandbox_refuses_unix_socket_inside(env, monkeypatch):
    world, sandbox, audit, _ = env
    monkeypatch.chdir(world.logs)
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind("s.sock")
        with pytest.raises(AccessDenied) as info:
            await sandbox.tail(world.logs / "s.sock")
    finally:
        s.close()
    assert "socket" in info.value.reason
    _assert_refused(info.value, audit)


async def test_sandbox_refuses_relative_path_out_of_cwd(env, monkeypatch):
    world, sandbox, audit, _ = env
    monkeypatch.chdir(world.logs)
    with pytest.raises(AccessDenied) as info:
        await sandbox.tail("../secret.txt")
    _assert_refused(info.value, audit)


async def test_sandbox_refuses_proc_self_cwd(env, monkeypatch):
    world, sandbox, audit, _ = env
    monkeypatch.chdir(world.tmp)
    with pytest.raises(AccessDenied) as info:
        await sandbox.tail("/proc/self/cwd/secret.txt")
    _assert_refused(info.value, audit)


# ---------------------------------------------------------------- check-then-open races (deterministic)

def _swap_file_for_symlink(w: World) -> Callable[[str], None]:
    def hook(real: str) -> None:
        os.unlink(real)
        os.symlink(w.secret, real)
    return hook


def _swap_dir_for_symlink(w: World) -> Callable[[str], None]:
    def hook(real: str) -> None:
        os.rename(w.logs / "job", w.tmp / "job.orig")
        os.symlink(w.tmp / "outside", w.logs / "job")
    return hook


def _swap_file_for_fifo(w: World) -> Callable[[str], None]:
    def hook(real: str) -> None:
        os.unlink(real)
        os.mkfifo(real)
    return hook


def _swap_file_for_other_file(w: World) -> Callable[[str], None]:
    def hook(real: str) -> None:
        os.rename(w.tmp / "outside" / "run.log", real)   # a different inode with secret content
    return hook


RACES = {"file_to_symlink": _swap_file_for_symlink, "parent_dir_to_symlink": _swap_dir_for_symlink,
         "file_to_fifo": _swap_file_for_fifo, "file_to_other_inode": _swap_file_for_other_file}


@pytest.mark.parametrize("race", sorted(RACES))
async def test_sandbox_refuses_swap_between_check_and_open(env, race):
    world, sandbox, audit, _ = env
    sandbox.before_open = RACES[race](world)
    with pytest.raises(AccessDenied) as info:
        await sandbox.tail(world.log)
    reason = info.value.reason            # our descriptor check, or the kernel (Landlock) got there first
    assert "between check and open" in reason or "symlink" in reason or "EACCES" in reason
    _assert_refused(info.value, audit)


# ---------------------------------------------------------------- what is allowed stays allowed

async def test_sandbox_reads_allowed_file(env):
    world, sandbox, audit, manager = env
    ex = await sandbox.tail(world.log)
    assert [(ln.number, ln.text) for ln in ex.lines] == [(1, "line one"), (2, "ERROR boom")]
    assert audit.files_read == [str(world.log)] and not audit.denied
    assert manager.enforcement in ("landlock", "in-process")


async def test_sandbox_list_dir_root_and_hides_symlinks(env):
    world, sandbox, audit, _ = env
    _sym(world.logs / "abs.log", world.secret)
    (world.logs / "top.log").write_text("x\n")
    names = [Path(i.path).name for i in await sandbox.list_dir(world.logs)]
    assert names == ["job", "top.log"]
    with pytest.raises(AccessDenied):
        await sandbox.list_dir(world.tmp)
    with pytest.raises(AccessDenied):
        await sandbox.list_dir(world.tmp / "logs_evil")
    with pytest.raises(AccessDenied):
        await sandbox.list_dir(_sym(world.logs / "dirlink", world.tmp / "outside"))
    assert len(audit.denied) == 3


# ---------------------------------------------------------------- the kernel really enforces

async def test_sandbox_landlock_blocks_read_outside_roots_even_without_checks(tmp_path):
    if not abi_version()[0]:
        pytest.skip("Landlock not available on this kernel")
    world = World(tmp_path)
    worker = WorkerClient([str(world.logs)], test_seams=True)  # the worker a manager starts, plus raw_open
    try:
        inside = await worker.request({"op": "raw_open", "path": str(world.log)})
        outside = await worker.request({"op": "raw_open", "path": str(world.secret)})
        st = os.stat(world.secret)                             # a perfectly "checked" request, bypassing Sandbox
        bypass = await worker.request({"op": "tail", "path": str(world.secret), "dev": st.st_dev,
                                       "ino": st.st_ino, "args": {"max_bytes": 100, "max_lines": None}})
    finally:
        await worker.aclose()
    assert inside["ok"] and inside["data"].startswith(b"line one")
    assert outside == {"ok": False, "errno": errno.EACCES, "denied": os.strerror(errno.EACCES)}
    assert not bypass["ok"] and "EACCES" in bypass["denied"] and SECRET not in str(bypass)


async def test_sandbox_worker_refuses_raw_open_without_test_flag(tmp_path, monkeypatch):
    if not abi_version()[0]:
        pytest.skip("Landlock not available on this kernel")
    world = World(tmp_path)
    monkeypatch.setenv(TEST_SEAMS_ENV, "1")                  # even set in the bot's own environment
    manager = SandboxManager(mode="landlock")
    try:
        sandbox = manager.for_stage("classify", [f"{world.logs}/**"], Audit())
        await sandbox.tail(world.log)                          # starts the production worker
        (worker,) = manager.workers
        resp = await worker.request({"op": "raw_open", "path": str(world.log)})
    finally:
        await manager.aclose()
    assert resp["ok"] is False and "raw_open" in resp["denied"] and "data" not in resp


def test_sandbox_manager_rejects_unknown_mode():
    with pytest.raises(BotError, match="not one of"):
        SandboxManager(mode="chroot")


def test_sandbox_manager_in_process_mode_reports_in_process():
    assert SandboxManager(mode="in-process").enforcement == "in-process"
