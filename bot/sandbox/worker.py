"""The restricted reader process and the request handler it shares with the in-process mode.

Protocol on the worker's stdin/stdout: frames of a 4-byte big-endian length then UTF-8 JSON. The first
frame the worker sends is its handshake ({"ok": true, "abi": N} once Landlock is in force, or
{"ok": false, "error": ...}). Then one response per request, in order. Bytes travel base64-encoded.
Stdlib plus RE2 (grep), and everything is imported before `restrict_self`, so nothing needs the filesystem later.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import sys

from bot.sandbox import landlock, reader
from bot.sandbox.policy import Denied, open_verified

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

MAX_FRAME = 32 << 20
TEST_SEAMS_ENV = "ETL_TRIAGE_SANDBOX_TEST_SEAMS"   # "1" in the worker's environment enables op raw_open (tests only)
FRAME_LEN = struct.Struct(">I")


def perform(req: dict[str, Any]) -> dict[str, Any]:
    """Run one bounded operation on a checked path. Returns {"ok": True, ...} or {"ok": False, "denied": why}."""
    op, args = req["op"], req.get("args", {})
    try:
        fd = open_verified(req["path"], req["dev"], req["ino"], directory=op in ("list_dir", "scan_dir"),
                           hardlinks=bool(req.get("hardlinks")))
    except Denied as e:
        return {"ok": False, "denied": e.reason}
    try:
        if op == "list_dir":
            entries, truncated = reader.list_dir(fd, args["limit"], str(args.get("pattern") or "*"))
            return {"ok": True, "entries": entries, "truncated": truncated}
        if op == "scan_dir":
            entries, seen = reader.scan_dir(fd, args["suffix"], args["keep"], list(args.get("prefer") or []))
            return {"ok": True, "entries": entries, "seen": seen}
        if op in ("head_bytes", "tail_bytes"):
            return {"ok": True, "data": getattr(reader, op)(fd, args["n"])}
        readers: dict[str, Callable[..., tuple[reader.Lines, int, bool]]] = {
            "tail": reader.tail, "read_lines": reader.read_lines, "grep": reader.grep, "excerpt": reader.excerpt}
        lines, size, truncated = readers[op](fd, **args)
        return {"ok": True, "lines": lines, "size": size, "truncated": truncated}
    except OSError as e:
        return {"ok": False, "denied": f"read failed: {e.strerror or e}"}
    finally:
        os.close(fd)


def encode(msg: dict[str, Any]) -> bytes:
    if isinstance(msg.get("data"), bytes):
        msg = {**msg, "data": base64.b64encode(msg["data"]).decode()}
    # ASCII JSON: a file name that is not UTF-8 is a str with lone surrogates (surrogateescape); \\udcXX
    # escapes carry it to the parent unchanged, where ensure_ascii=False would fail to encode it.
    body = json.dumps(msg, ensure_ascii=True, separators=(",", ":")).encode()
    return FRAME_LEN.pack(len(body)) + body


def decode(body: bytes) -> dict[str, Any]:
    msg = json.loads(body)
    if not isinstance(msg, dict):
        raise ValueError("worker sent a non-object frame")
    if isinstance(msg.get("data"), str):
        msg["data"] = base64.b64decode(msg["data"])
    return msg


def _read_exact(fd: int, n: int) -> bytes | None:
    parts, got = [], 0
    while got < n:
        b = os.read(fd, n - got)
        if not b:
            return None
        parts.append(b)
        got += len(b)
    return b"".join(parts)


def _raw_open(req: dict[str, Any], enabled: bool) -> dict[str, Any]:
    """Test seam: open a path with no in-code check at all, to prove the kernel refuses it. Only when the
    worker was started with TEST_SEAMS_ENV=1 (WorkerClient(test_seams=True)); the client strips the
    variable from every other worker's environment."""
    if not enabled:
        return {"ok": False, "denied": "op raw_open is a test seam and is disabled in this worker"}
    try:
        fd = os.open(req["path"], os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        return {"ok": False, "errno": e.errno, "denied": e.strerror}
    try:
        return {"ok": True, "data": os.read(fd, 64)}
    finally:
        os.close(fd)


def main(roots_json: str) -> None:
    """Worker entry point: move the protocol off fds 0/1, restrict, then serve until stdin closes."""
    seams = os.environ.get(TEST_SEAMS_ENV) == "1"
    rfd, wfd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    os.close(devnull)
    try:
        abi = landlock.restrict_self(json.loads(roots_json))
        hello: dict[str, Any] = {"ok": True, "abi": abi, "pid": os.getpid()}
    except OSError as e:
        hello = {"ok": False, "error": str(e)}
    os.write(wfd, encode(hello))
    if not hello["ok"]:
        return
    while True:
        head = _read_exact(rfd, 4)
        if head is None:
            return
        (n,) = FRAME_LEN.unpack(head)
        body = _read_exact(rfd, n) if n <= MAX_FRAME else None
        if body is None:
            return
        req = json.loads(body)
        try:
            resp = _raw_open(req, seams) if req.get("op") == "raw_open" else perform(req)
        except Exception as e:  # a bug here must answer, not desynchronise the pipe
            resp = {"ok": False, "denied": f"worker error: {type(e).__name__}"}
        out = encode(resp)
        view = memoryview(out)
        while view:
            view = view[os.write(wfd, view):]


if __name__ == "__main__":
    main(sys.argv[1])
