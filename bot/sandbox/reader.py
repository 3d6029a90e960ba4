"""Bounded reads on an opened, verified descriptor: tail, line range, grep, excerpt, raw head/tail bytes.

Nothing here reads a whole file: every operation reads in chunks with `os.pread` and keeps at most its
byte budget (plus one chunk) in memory. Results are plain lists of `(line_number | None, text)`, so the
same code serves the in-process thread and the restricted worker (which sends them over a pipe as JSON).
Stdlib, plus RE2 for grep (bot/sandbox/patterns.py).
"""

from __future__ import annotations

import fnmatch
import heapq
import os
import re
from collections import deque

from bot.sandbox.patterns import compile_linear

TYPE_CHECKING = False  # as in worker.py: the reader process imports no more than it needs
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any, TypeVar

    _Item = TypeVar("_Item", bound=tuple[Any, ...])  # a heap entry: compared as a tuple

CHUNK = 1 << 20
MAX_LINE_CHARS = 4000          # a longer line is cut, with a marker
COUNT_LIMIT = 32 << 20         # count newlines (exact line numbers) only up to this offset
HEAD_SCAN = 1 << 20            # excerpt: look for the first error in this many leading bytes
HARD_CAP = 4 << 20             # no single result carries more than this many bytes of text
SCAN_LIMIT = 256 << 20         # read_lines and grep read at most this far into a log: a 3 GB log is not read whole
ERROR_MARKERS = (b"Traceback (most recent call last)", b"ERROR", b"Exception", b"FATAL", b"Caused by", b"Error",
                 b"error:")

Lines = list[tuple[int | None, str]]


# Terminal codes that dbt, Airflow and docker write into task logs: colours (CSI), hyperlinks (OSC 8), and the same
# colour codes with their ESC lost in a copy-paste (`[31mERROR[0m`), taken only on a line holding a reset `[0m`
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b\n]*(?:\x07|\x1b\\)|[@-Z\\-_])")
# not a duration in brackets: `[0ms]`, `[1m30s]`, `[2min]`, `[5m]`
_BARE_SGR = re.compile(r"\[(?:\d{1,3};)*\d{0,3}m(?!(?:\d+[hms])*(?:s|in)?\])")


def plain(text: str) -> str:
    """The text a terminal would show: what an on-call engineer reads, and what evidence must quote."""
    if "\x1b" in text:
        text = _ESCAPES.sub("", text)
    if "[0m" in text:
        text = _BARE_SGR.sub("", text)
    return text


def _text(raw: bytes) -> str:
    """The line as a terminal shows it: terminal codes dropped, and a run of NULs opening it (the hole logrotate's
    copytruncate leaves where a writer kept its offset)."""
    return plain(raw.lstrip(b"\x00").decode("utf-8", "replace"))


def _shown(raw: bytes) -> bytes:
    """The bytes of the line as it is shown, for matching."""
    if b"\x1b" not in raw and b"[0m" not in raw and not raw.startswith(b"\x00"):
        return raw
    return _text(raw).encode()


def _decode(raw: bytes) -> str:
    text = _text(raw.rstrip(b"\r"))
    if len(text) > MAX_LINE_CHARS:
        text = text[:MAX_LINE_CHARS] + f" …[line cut, {len(raw)} bytes]"
    return text


def _pread(fd: int, n: int, offset: int) -> bytes:
    """Read up to n bytes at offset (loops over short reads)."""
    parts, got = [], 0
    while got < n:
        b = os.pread(fd, min(n - got, CHUNK), offset + got)
        if not b:
            break
        parts.append(b)
        got += len(b)
    return b"".join(parts)


def size_of(fd: int) -> int:
    return os.fstat(fd).st_size


def count_newlines(fd: int, end: int) -> int | None:
    """Newlines in [0, end), or None when that would cost more than COUNT_LIMIT bytes of reading."""
    return None if end > COUNT_LIMIT else _pread_count(fd, 0, end)


def _split(data: bytes, starts_mid_line: bool) -> list[bytes]:
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    if starts_mid_line and parts:
        parts = parts[1:]
    return parts


def head_bytes(fd: int, n: int) -> bytes:
    return _pread(fd, max(0, min(n, HARD_CAP)), 0)


def tail_bytes(fd: int, n: int) -> bytes:
    size = size_of(fd)
    n = max(0, min(n, HARD_CAP, size))
    return _pread(fd, n, size - n)


def tail(fd: int, max_bytes: int, max_lines: int | None) -> tuple[Lines, int, bool]:
    """The last lines within max_bytes. A long line that began before the window is shown by its head (read
    from where it starts, with a marker): a 66 KB final error line keeps its error text instead of vanishing;
    a short partial first line is dropped.
    → (lines, size, truncated)."""
    size = size_of(fd)
    max_bytes = max(1, min(max_bytes, HARD_CAP))
    start = max(0, size - max_bytes)
    before = os.pread(fd, 1, start - 1) if start > 0 else b"\n"
    raw = _split(_pread(fd, size - start, start), False)
    # inside a run of NULs (copytruncate's hole) the text after it is the line: nothing of it lies before
    mid = before != b"\n" and not (before == b"\x00" and raw and raw[0].startswith(b"\x00"))
    if mid and raw and len(raw[0]) < MAX_LINE_CHARS:
        raw = raw[1:]                    # a short partial line: dropped (a larger window would show it whole)
    texts: list[str | None] = [None] * len(raw)
    if mid and raw and texts and len(raw[0]) >= MAX_LINE_CHARS:
        texts[0] = _head_of_line(fd, start, len(raw[0]))
    dropped = max_lines is not None and len(raw) > max_lines
    if max_lines is not None and dropped:
        raw, texts = raw[len(raw) - max_lines:], texts[len(texts) - max_lines:]
    first = _first_number(fd, size, start, raw, False)
    lines = [(None if first is None else first + i, t if t is not None else _decode(b))
             for i, (b, t) in enumerate(zip(raw, texts, strict=True))]
    return lines, size, start > 0 or dropped


def _head_of_line(fd: int, offset: int, rest: int) -> str:
    """The head of the line that runs through `offset` (of which `rest` bytes lie at and after it), with a
    marker giving its length; found by scanning back at most HEAD_SCAN bytes for its start."""
    pos, begin = offset, None
    while pos > 0 and offset - pos < HEAD_SCAN:
        n = min(1 << 16, pos)
        chunk = os.pread(fd, n, pos - n)
        nl = chunk.rfind(b"\n")
        if nl != -1:
            begin = pos - n + nl + 1
            break
        pos -= n
    if begin is None and pos == 0:
        begin = 0
    if begin is None:
        return f"[line began more than {HEAD_SCAN:,} bytes earlier …] " + _decode(os.pread(fd, MAX_LINE_CHARS, offset))
    total = offset - begin + rest
    head = _pread(fd, min(total, MAX_LINE_CHARS * 4), begin).rstrip(b"\r")
    text = head.decode("utf-8", "replace")[:MAX_LINE_CHARS]
    return text + f" …[line cut, {total:,} bytes]" if total > len(text.encode()) else text


def _first_number(fd: int, size: int, start: int, kept: list[bytes], mid: bool) -> int | None:
    """1-based number of the first kept line, counting from the end of the file."""
    before = count_newlines(fd, start)
    if before is None:
        return None
    total = before + _pread_count(fd, start, size)
    ends_with_nl = size > 0 and os.pread(fd, 1, size - 1) == b"\n"
    last_number = total if ends_with_nl else total + 1
    return last_number - len(kept) + 1


def _pread_count(fd: int, start: int, end: int) -> int:
    n, off = 0, start
    while off < end:
        b = os.pread(fd, min(CHUNK, end - off), off)
        if not b:
            break
        n += b.count(b"\n")
        off += len(b)
    return n


def iter_lines(fd: int, start_offset: int = 0, max_line: int = MAX_LINE_CHARS * 4,
               until: int | None = None) -> Iterator[bytes]:
    """Yield each raw line (without its newline) from `start_offset` on, streaming in chunks; over-long lines
    are cut. With `until`, reading stops at that offset (the line running through it is yielded cut)."""
    off, carry, cut = start_offset, b"", False
    while True:
        b = os.pread(fd, CHUNK, off) if until is None or off < until else b""
        if not b:
            break
        off += len(b)
        buf = carry + b
        pos = 0
        while True:
            nl = buf.find(b"\n", pos)
            if nl == -1:
                break
            if not cut:
                yield buf[pos:nl]
            cut = False
            pos = nl + 1
        carry = buf[pos:]
        if len(carry) > max_line:
            if not cut:
                yield carry[:max_line]
            carry, cut = b"", True
    if carry and not cut:
        yield carry


def read_lines(fd: int, start: int, max_lines: int, max_bytes: int) -> tuple[Lines, int, bool]:
    """Lines start .. start+max_lines-1 (1-based), within max_bytes and the first SCAN_LIMIT bytes of the log.
    → (lines, size, truncated)."""
    size = size_of(fd)
    max_bytes = max(1, min(max_bytes, HARD_CAP))
    out: Lines = []
    used = 0
    for number, raw in enumerate(iter_lines(fd, until=SCAN_LIMIT), 1):
        if number < start:
            continue
        if len(out) >= max_lines or (used + len(raw) > max_bytes and out):
            return out, size, True
        out.append((number, _decode(raw)))
        used += len(raw) + 1
    return out, size, size > SCAN_LIMIT   # past SCAN_LIMIT nothing was read: tail or grep instead


def grep(fd: int, pattern: str, max_matches: int, context: int, max_bytes: int) -> tuple[Lines, int, bool]:
    """Matching lines with `context` lines either side, at most max_matches matches and max_bytes of text,
    within the first SCAN_LIMIT bytes. Chunks with no match anywhere are skipped without splitting them into
    lines."""
    size = size_of(fd)
    rx = compile_linear(pattern, multiline=True, capture=False)   # linear in the block, whatever the pattern
    max_bytes = max(1, min(max_bytes, HARD_CAP))
    before: deque[tuple[int, bytes]] = deque(maxlen=max(context, 0))
    out: Lines = []
    emitted = 0                    # highest line number already in `out`
    after = 0                      # context lines still owed after the last match
    matches, used, number, off, carry = 0, 0, 0, 0, b""
    while True:
        b = os.pread(fd, CHUNK, off) if off < SCAN_LIMIT else b""
        if not b and off >= SCAN_LIMIT and off < size:
            return out, size, True         # searched the first SCAN_LIMIT bytes only
        if not b:
            block, carry = carry, b""
            if not block:
                break
        else:
            off += len(b)
            buf = carry + b
            cut = buf.rfind(b"\n")
            if cut == -1:
                if len(buf) > HARD_CAP:
                    buf = buf[:HARD_CAP] + b"\n"
                    cut = len(buf) - 1
                else:
                    carry = buf
                    continue
            block, carry = buf[:cut + 1], buf[cut + 1:]
        # a coloured (or NUL-opened) line is matched as it is shown: the block is searched as shown, line by line
        coloured = b"\x1b" in block or b"[0m" in block or block.startswith(b"\x00") or b"\n\x00" in block
        shown = b"\n".join(_shown(r) for r in block.split(b"\n")) if coloured else block
        if after == 0 and rx.search(shown) is None:
            lines_in = block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
            if context:
                tail_lines = block.rstrip(b"\n").split(b"\n")[-context:]
                for i, raw in enumerate(tail_lines):
                    before.append((number + lines_in - len(tail_lines) + i + 1, raw))
            number += lines_in
            continue
        for raw in _split(block, False):
            number += 1
            if rx.search(_shown(raw) if coloured else raw):
                if matches >= max_matches:
                    return out, size, True
                matches += 1
                for n, r in before:
                    if n > emitted:
                        out.append((n, _decode(r)))
                        used += len(r) + 1
                before.clear()
                out.append((number, _decode(raw)))
                used += len(raw) + 1
                emitted, after = number, context
            elif after:
                out.append((number, _decode(raw)))
                used += len(raw) + 1
                emitted, after = number, after - 1
            else:
                before.append((number, raw))
            if used > max_bytes:
                return out, size, True
        if not b:
            break
    return out, size, False


def excerpt(fd: int, budget: int) -> tuple[Lines, int, bool]:
    """What matters in a log within `budget` bytes: the end of the file (where the failure is), plus the
    first error line and a few lines after it when that is earlier than the end region."""
    size = size_of(fd)
    budget = max(256, min(budget, HARD_CAP))
    if size <= budget:
        lines, _, _ = tail(fd, budget, None)
        return lines, size, False
    tail_budget = budget * 3 // 4
    tail_start = size - tail_budget
    tail_lines, _, _ = tail(fd, tail_budget, None)
    head: Lines = []
    scan_end = min(tail_start, HEAD_SCAN)
    data = _pread(fd, scan_end, 0)
    first = _first_marker(data)
    if first is not None:
        line_start = data.rfind(b"\n", 0, first) + 1
        number = data.count(b"\n", 0, line_start) + 1
        ctx_start = line_start
        for _ in range(2):                                   # two lines of context before it
            if ctx_start == 0:
                break
            ctx_start = data.rfind(b"\n", 0, ctx_start - 1) + 1
        number -= data.count(b"\n", ctx_start, line_start)
        head_budget = budget - tail_budget
        chunk = _pread(fd, min(head_budget, tail_start - ctx_start), ctx_start)
        parts = chunk.split(b"\n")
        if ctx_start + len(chunk) < tail_start and len(parts) > 1:
            parts = parts[:-1]                               # drop the partial last line
        head = [(number + i, _decode(p)) for i, p in enumerate(parts[:40])]
        omitted = tail_start - (ctx_start + sum(len(p) + 1 for p in parts[:40]))
        if omitted > 0:
            head.append((None, f"[… {omitted:,} bytes not shown …]"))
    elif tail_lines:
        head = [(None, f"[… {tail_start:,} bytes not shown …]")]
    return head + tail_lines, size, True


def _first_marker(data: bytes) -> int | None:
    """Offset of the earliest error marker: one bytes.find per marker (memchr speed, unlike a regex scan)."""
    hits = [i for i in (data.find(m) for m in ERROR_MARKERS) if i != -1]
    return min(hits) if hits else None


def list_dir(fd: int, limit: int, pattern: str = "*") -> tuple[list[tuple[str, str, int, float]], bool]:
    """Entries of an opened directory whose names match `pattern`: (name, kind f|d|l|o, size, mtime). Past
    `limit` the newest `limit` are kept (streamed, bounded memory), not the first in directory order: the
    newest is what the checks look for. → (entries, truncated)."""
    newest: list[tuple[float, str, tuple[str, str, int, float]]] = []
    truncated = False
    with os.scandir(fd) as it:
        for entry in it:
            if pattern != "*" and not fnmatch.fnmatchcase(entry.name, pattern):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            kind = "d" if entry.is_dir(follow_symlinks=False) else "f" if entry.is_file(follow_symlinks=False) \
                else "l" if entry.is_symlink() else "o"
            truncated = truncated or len(newest) >= limit
            _push(newest, (st.st_mtime, entry.name, (entry.name, kind, st.st_size, st.st_mtime)), max(1, limit))
    return [row for _, _, row in newest], truncated


def scan_dir(fd: int, suffix: str, keep: int, prefer: list[str]) -> tuple[list[tuple[str, str, int, float]], int]:
    """Every entry of an opened directory, streamed, keeping in memory only the `keep` newest files ending
    in `suffix`, the `keep` newest of those whose name holds a `prefer` key, and the `keep` newest
    directories (those whose name holds a key first, an earlier key before a later one): a folder of 100,000
    logs costs one pass, not a list. → (kept entries as in list_dir, number of entries seen)."""
    keep = max(1, keep)
    files: list[tuple[float, str, tuple[str, str, int, float]]] = []
    preferred: list[tuple[float, str, tuple[str, str, int, float]]] = []
    dirs: list[tuple[int, float, str, tuple[str, str, int, float]]] = []
    seen = 0
    with os.scandir(fd) as it:
        for entry in it:
            seen += 1
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                is_file = not is_dir and entry.is_file(follow_symlinks=False)
                if not (is_dir or (is_file and entry.name.endswith(suffix))):
                    continue
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            row = (entry.name, "d" if is_dir else "f", st.st_size, st.st_mtime)
            hit = preference(entry.name, prefer)
            if is_dir:
                _push(dirs, (hit, st.st_mtime, entry.name, row), keep)
            else:
                _push(files, (st.st_mtime, entry.name, row), keep)
                if hit:
                    _push(preferred, (st.st_mtime, entry.name, row), keep)
    kept = [f[-1] for f in files] + [p[-1] for p in preferred] + [d[-1] for d in dirs]
    rows = {r[0]: r for r in kept}
    return list(rows.values()), seen


def preference(name: str, prefer: list[str]) -> int:
    """How strongly `name` is preferred: the first key it holds ranks it (earlier keys rank higher), 0 for none.
    A run id outranks a task name, so a task called `run` cannot crowd the failed run's folder out."""
    return next((len(prefer) - i for i, k in enumerate(prefer) if k and k in name), 0)


def _push(heap: list[_Item], item: _Item, keep: int) -> None:
    """Keep the `keep` largest items (a min-heap whose smallest is evicted first)."""
    if len(heap) < keep:
        heapq.heappush(heap, item)
    elif item > heap[0]:
        heapq.heapreplace(heap, item)
