"""Parent side of a restricted worker: start it lazily, send requests over its pipe, restart it if it dies."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from typing import Any

from bot.errors import BotError
from bot.sandbox.worker import FRAME_LEN, MAX_FRAME, TEST_SEAMS_ENV, decode, encode

REQUEST_TIMEOUT_S = 60.0
# argv: the directory holding `bot` (first on the path), the roots, the one holding `re2` (last: never before
# the stdlib). The worker runs with -I -S, so no site-packages of its own.
# The re2 entry is dropped again once the worker is imported (re2 with it), so no other installed package
# can be imported by the reader afterwards.
_BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); sys.path.append(sys.argv[3]); "
         "from bot.sandbox.worker import main; sys.path.remove(sys.argv[3]); main(sys.argv[2])")


class WorkerUnavailable(BotError):
    """The Landlock worker could not start or restrict itself."""


class WorkerClient:
    """One long-lived worker restricted to `roots`. Requests are serialised; a cancelled or timed-out
    request kills the worker (the pipe would be out of step), and the next request starts a fresh one."""

    def __init__(self, roots: list[str], test_seams: bool = False) -> None:
        self.roots = list(roots)
        self.test_seams = test_seams     # tests only: enables the worker's unchecked `raw_open` op
        self.abi = 0
        self.pid: int | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    async def _start(self) -> asyncio.subprocess.Process:
        pkg_parent = _package_parent()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-I", "-S", "-c", _BOOT, pkg_parent, json.dumps(self.roots), _re2_parent(),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=self._env())
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                hello = await self._read(proc)
        except BaseException:
            await _kill(proc)
            raise
        if not hello.get("ok"):
            await _kill(proc)
            raise WorkerUnavailable(f"the Landlock reader could not restrict itself: {hello.get('error')}")
        self.abi, self.pid = int(hello["abi"]), int(hello["pid"])
        return proc

    def _env(self) -> dict[str, str]:
        """The bot's environment without the test-seam flag, which only `test_seams=True` sets."""
        env = {k: v for k, v in os.environ.items() if k != TEST_SEAMS_ENV}
        if self.test_seams:
            env[TEST_SEAMS_ENV] = "1"
        return env

    @staticmethod
    async def _read(proc: asyncio.subprocess.Process) -> dict[str, Any]:
        assert proc.stdout is not None
        try:
            (n,) = FRAME_LEN.unpack(await proc.stdout.readexactly(4))
            if n > MAX_FRAME:
                raise WorkerUnavailable(f"the sandbox reader sent an oversized frame ({n} bytes)")
            return decode(await proc.stdout.readexactly(n))
        except asyncio.IncompleteReadError:
            raise WorkerUnavailable("the sandbox reader exited unexpectedly; the next read restarts it") from None

    async def ensure_started(self) -> None:
        async with self._lock:
            if self._proc is None or self._proc.returncode is not None:
                self._proc = await self._start()

    async def request(self, req: dict[str, Any]) -> dict[str, Any]:
        async with self._lock:
            if self._proc is None or self._proc.returncode is not None:
                self._proc = await self._start()
            proc = self._proc
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT_S):
                    assert proc.stdin is not None
                    proc.stdin.write(encode(req))
                    await proc.stdin.drain()
                    return await self._read(proc)
            except BaseException:
                self._proc = None
                await _kill(proc)
                raise

    async def aclose(self) -> None:
        async with self._lock:
            proc, self._proc = self._proc, None
            if proc is None:
                return
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                async with asyncio.timeout(2):
                    await proc.wait()
            except TimeoutError:
                await _kill(proc)


def _package_parent() -> str:
    """The directory holding the `bot` package, put on the worker's sys.path (it runs with -I)."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _re2_parent() -> str:
    """The directory holding the `re2` package (grep runs on RE2 inside the worker)."""
    import re2

    where: str = re2.__file__
    return os.path.dirname(os.path.dirname(os.path.abspath(where)))


async def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    await proc.wait()
