"""Bounded reads: tail, line ranges, grep with caps and context (RE2: linear whatever the pattern), the excerpt of a
huge log, raw bytes."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from bot.contract import Alert
from bot.sandbox import Audit, SandboxManager
from bot.sandbox.core import InvalidPattern
from bot.sandbox.landlock import abi_version
from bot.sandbox.reader import COUNT_LIMIT, HEAD_SCAN
from bot.toolbox import Toolbox
from bot.topology import load_topology
from bot.triage_context import TriageContext
from tests.conftest import ROOT


@pytest.fixture(params=["landlock", "in-process"])
async def box(request, tmp_path):
    if request.param == "landlock" and not abi_version()[0]:
        pytest.skip("Landlock not available on this kernel")
    manager = SandboxManager(mode=request.param)
    (tmp_path / "logs").mkdir()
    yield tmp_path / "logs", manager.for_stage("classify", [f"{tmp_path}/logs/**"], Audit())
    await manager.aclose()


def _numbered(path: Path, n: int) -> Path:
    path.write_text("".join(f"line {i}\n" for i in range(1, n + 1)))
    return path


async def test_sandbox_tail_numbers_last_lines(box):
    logs, sb = box
    ex = await sb.tail(_numbered(logs / "a.log", 1000), max_lines=3)
    assert [(ln.number, ln.text) for ln in ex.lines] == [(998, "line 998"), (999, "line 999"), (1000, "line 1000")]
    assert ex.truncated


async def test_sandbox_tail_drops_partial_first_line_within_byte_cap(box):
    logs, sb = box
    ex = await sb.tail(_numbered(logs / "a.log", 1000), max_bytes=25)
    assert ex.lines[0].text.startswith("line ") and (ex.lines[-1].number, ex.lines[-1].text) == (1000, "line 1000")
    assert sum(len(ln.text) + 1 for ln in ex.lines) <= 25


async def test_sandbox_read_lines_returns_range(box):
    logs, sb = box
    ex = await sb.read_lines(_numbered(logs / "a.log", 100), start=10, max_lines=2)
    assert [(ln.number, ln.text) for ln in ex.lines] == [(10, "line 10"), (11, "line 11")]


async def test_sandbox_grep_caps_matches_and_adds_context(box):
    logs, sb = box
    ex = await sb.grep(_numbered(logs / "a.log", 100), r"line [57]0$", max_matches=1, context=1)
    assert [ln.number for ln in ex.lines] == [49, 50, 51]
    assert ex.truncated


async def test_sandbox_grep_cannot_probe_a_redacted_secret(box):
    """Matching raw bytes and redacting the output let a pattern test the secret a character at a time."""
    logs, sb = box
    log = logs / "a.log"
    log.write_text("INFO connecting\nERROR login failed: user=etl password=Zq7vK2pw\nINFO retrying\n")
    for probe in ("password=Z", "password=Zq7", "Zq7vK2pw"):
        assert (await sb.grep(log, probe, context=1)).lines == []
    found = await sb.grep(log, "login failed", context=1)
    assert [ln.number for ln in found.lines] == [1, 2, 3] and "Zq7vK2pw" not in found.text()


@pytest.mark.parametrize("hole", [8192, 100_000, 2_000_000])
async def test_sandbox_reads_a_log_whose_start_is_a_copytruncate_hole(box, hole):
    """logrotate's copytruncate, with a writer that keeps its offset, leaves the log's start as NUL bytes, as
    many as the log had: the first line was NULs and text (refused as binary), or, past the excerpt's window,
    a line "that began earlier", its text lost."""
    logs, sb = box
    log = logs / "a.log"
    log.write_bytes(b"\x00" * hole + b"2026-11-20 02:00:03 ERROR load failed\nKeyError: 'cust_id'\n")
    shown = [(ln.number, ln.text) for ln in (await sb.excerpt(log)).lines if ln.number is not None]
    assert shown == [(1, "2026-11-20 02:00:03 ERROR load failed"), (2, "KeyError: 'cust_id'")]
    assert [ln.number for ln in (await sb.grep(log, "^2026-11-20", context=0)).lines] == [1]


async def test_sandbox_grep_finds_the_text_a_coloured_line_shows(box):
    """Lines are shown without their colour codes, so a model greps for what it was shown: `ERROR: relation` was
    not found in `\x1b[31mERROR\x1b[0m: relation …`."""
    logs, sb = box
    log = logs / "a.log"
    log.write_bytes(b"INFO start\n\x1b[31mERROR\x1b[0m: relation \"orders\" does not exist\n[31mFAIL[0m 1 test\n")
    found = await sb.grep(log, "ERROR: relation", context=0)
    assert [(ln.number, ln.text) for ln in found.lines] == [(2, 'ERROR: relation "orders" does not exist')]
    assert [ln.number for ln in (await sb.grep(log, "^FAIL 1", context=0)).lines] == [3]


async def test_sandbox_grep_rejects_bad_pattern_with_hint(box):
    logs, sb = box
    with pytest.raises(InvalidPattern, match="not a valid regular expression"):
        await sb.grep(_numbered(logs / "a.log", 3), "(")


# Nested quantifiers that make Python's `re` backtrack exponentially on a non-matching line (measured: 4x the
# time per 2 more characters, so minutes at 30): (pattern, a matching line, the line that explodes `re`).
NESTED = [(r"(a+)+$", "aaaa", "a" * 40 + "b"), (r"(a|aa)+$", "aaaa", "a" * 40 + "b"),
          (r"(\w+\s?)+$", "foo bar", "a" * 40 + "!"), (r"(x+x+)+y", "xxy", "x" * 40), (r"(a|a?)+c", "aac", "a" * 40)]


def _grep_tool(sb, log: Path) -> Toolbox:
    """The grep_log tool a model calls, on this sandbox (the triage's context only supplies the log's path)."""
    context = TriageContext(load_topology(ROOT / "topology.toml"), Alert(job="j", source="cli"),
                            SandboxManager(), job=None, log_path=log)
    return Toolbox(context=context, sandbox=sb)


@pytest.mark.parametrize(("pattern", "match", "evil"), NESTED, ids=[p for p, _, _ in NESTED])
async def test_sandbox_grep_tool_runs_nested_quantifiers_and_finds_only_the_matching_line(box, pattern, match, evil):
    logs, sb = box
    log = logs / "a.log"
    log.write_text(f"{evil}\n{match}\n{evil}\n")
    async with asyncio.timeout(60):                            # failure bound only: RE2 answers in microseconds
        assert await _grep_tool(sb, log).grep_log(pattern) == f"2: {match}"


@pytest.mark.parametrize(("pattern", "says"), [
    (r"(?<=user=)\w+", ["lookbehind", r"user=\w+"]), (r"(?<!x)y", ["lookbehind"]),
    (r"timeout(?= after)", ["lookahead"]), (r"(\w+) \1", ["backreferences"]),
    (r"(?P<w>\w+) (?P=w)", ["backreferences"]), (r"a*+", ["possessive", "drop"]), ("a" * 600, ["too long"])])
async def test_sandbox_grep_refuses_what_re2_cannot_run_saying_what_to_write(box, pattern, says):
    logs, sb = box
    with pytest.raises(InvalidPattern) as e:
        await sb.grep(_numbered(logs / "a.log", 3), pattern)
    assert all(s in str(e.value) for s in says), str(e.value)


@pytest.mark.parametrize("pattern", [r"ERROR|Exception", r"customer_id", r"(foo|bar) failed", r"\d{4}-\d{2}",
                                     r"(ab)+ end", r"[a-z]+_id", r"(?:ERROR|FATAL):.*timeout"])
async def test_sandbox_grep_accepts_ordinary_patterns(box, pattern):
    logs, sb = box
    ex = await sb.grep(_numbered(logs / "a.log", 3), pattern)
    assert ex.lines == []


async def test_sandbox_excerpt_small_file_is_whole_and_numbered(box):
    logs, sb = box
    ex = await sb.excerpt(_numbered(logs / "a.log", 50), budget=64_000)
    assert len(ex.lines) == 50 and ex.lines[0].number == 1 and not ex.truncated


async def test_sandbox_excerpt_keeps_first_error_and_end_within_budget(box):
    logs, sb = box
    p = logs / "big.log"
    with p.open("w") as f:
        f.write("start\nWARN x\nERROR first failure here\ncontext after\n")
        f.write("filler line of text\n" * 200_000)
        f.write("Traceback (most recent call last):\nKeyError: 'customer_id'\n")
    ex = await sb.excerpt(p, budget=8_000)
    texts = [ln.text for ln in ex.lines]
    assert texts[:4] == ["start", "WARN x", "ERROR first failure here", "context after"]
    assert ex.lines[2].number == 3
    assert texts[-1] == "KeyError: 'customer_id'" and ex.truncated
    assert any("bytes not shown" in t for t in texts)
    assert sum(len(t) for t in texts) <= 8_000


async def test_sandbox_excerpt_huge_file_numbers_unknown_not_blowing_budget(box):
    logs, sb = box
    p = logs / "huge.log"
    with p.open("wb") as f:
        f.truncate(COUNT_LIMIT + HEAD_SCAN + 10)           # sparse: no newlines, nothing to count cheaply
        f.seek(0, os.SEEK_END)
        f.write(b"\nFATAL disk full\n")
    ex = await sb.excerpt(p, budget=4_000)
    assert ex.lines[-1].text == "FATAL disk full" and ex.lines[-1].number is None
    assert sum(len(ln.text) for ln in ex.lines) <= 4_000 + 200


async def test_sandbox_tail_bounds_a_single_endless_line(box):
    logs, sb = box
    p = logs / "one.log"
    p.write_bytes(b"x" * (3 << 20))
    ex = await sb.tail(p, max_bytes=1 << 20)
    assert len(ex.lines) <= 1 and all(len(ln.text) < 5_000 for ln in ex.lines)


async def test_sandbox_head_and_tail_bytes_are_raw(box):
    logs, sb = box
    p = logs / "h.csv"
    p.write_bytes(b"id,password\n1,hunter2\n")
    assert await sb.head_bytes(p, 3) == b"id,"
    assert await sb.tail_bytes(p, 8) == b"hunter2\n"


async def test_sandbox_redacts_every_line_it_returns(box):
    logs, sb = box
    p = logs / "s.log"
    p.write_text("connect postgres://etl:hunter2@db:5432/x\nERROR password=hunter2\n")
    for ex in (await sb.tail(p), await sb.excerpt(p), await sb.grep(p, "ERROR|connect"), await sb.read_lines(p)):
        assert "hunter2" not in ex.text() and "db:5432" in ex.text()


async def test_sandbox_tail_keeps_the_head_of_a_final_line_longer_than_the_window(tmp_path):
    cols = ", ".join(f"col_{i:05d}" for i in range(6000))            # one ~66 KB line
    log = tmp_path / "logs" / "spark.log"
    log.parent.mkdir()
    log.write_text("INFO starting\n" * 50 + "pyspark.sql.utils.AnalysisException: cannot resolve 'customer_id' "
                   f"given input columns: [{cols}]\n")
    manager = SandboxManager(mode="in-process")
    try:
        sb = manager.for_stage("classify", [f"{tmp_path}/logs/**"], Audit())
        ex = await sb.excerpt(log, budget=64_000)
        tail = await sb.tail(log, max_bytes=8_000)
    finally:
        await manager.aclose()
    for got in (ex, tail):
        last = got.lines[-1]
        assert last.number == 51 and last.text.startswith("pyspark.sql.utils.AnalysisException: cannot resolve")
        assert "[line cut, " in last.text and len(last.text) < 4100


async def test_sandbox_long_final_error_line_is_found_by_the_triage(tmp_path):
    from bot.contract import Alert
    from bot.engine import run_triage
    from bot.providers.offline import OfflineProvider
    from bot.topology import load_topology
    from tests.conftest import ROOT

    cols = ", ".join(f"col_{i:05d}" for i in range(6000))
    log = tmp_path / "logs" / "orders_daily" / "run.log"
    log.parent.mkdir(parents=True)
    log.write_text("INFO starting\n" * 50 + "pyspark.sql.utils.AnalysisException: cannot resolve 'customer_id' "
                   f"given input columns: [{cols}]\n")
    topo = load_topology(ROOT / "topology.toml", {"log_root": str(tmp_path / "logs"),
                                                  "data_root": str(tmp_path / "data"),
                                                  "repo_root": str(tmp_path / "repo")})
    report = await run_triage(topo, Alert(job="orders_daily"), provider=OfflineProvider(), log_path=log)
    assert "no error line" not in report.root_cause
    assert any("AnalysisException" in e.text for e in report.evidence)


async def test_reads_by_line_and_grep_stop_at_the_scan_limit_of_a_huge_log(box):
    """A model's read_log(start_line=10**9) or grep_log on a 3 GB log read the whole file; both stop at
    SCAN_LIMIT and say where to look instead (tail_log reads the end at any size)."""
    from bot.sandbox.reader import SCAN_LIMIT

    logs, sb = box
    log = logs / "huge.log"
    with log.open("wb") as f:            # sparse: a few lines, then zeros, then the error at the very end
        f.write(b"INFO start\n" * 10)
        f.truncate(SCAN_LIMIT + (64 << 20))
        f.seek(SCAN_LIMIT + (64 << 20) - 30)
        f.write(b"\nERROR final line of the run\n")
    tools = _grep_tool(sb, log)
    assert "lies beyond the first 256 MB" in await tools.read_log(start_line=10**9)
    grepped = await tools.grep_log("ERROR final")
    assert grepped.startswith("(no match)") and "searched the first 256 MB" in grepped
    assert "ERROR final line of the run" in await tools.tail_log(lines=2)
    assert [ln.number for ln in (await sb.read_lines(log, start=9, max_lines=2)).lines] == [9, 10]


async def test_list_dir_past_its_limit_matches_the_pattern_first_and_keeps_the_newest(box):
    """Past LIST_LIMIT entries the listing stopped in directory order: the file asked for (or the newest) could
    be missing from a flat landing folder of 12,000 files."""
    from bot.sandbox.core import LIST_LIMIT

    logs, sb = box
    for i in range(LIST_LIMIT + 20):
        p = logs / f"orders_{i:05d}.csv"
        p.write_text("x\n")
        os.utime(p, (1_000_000 + i, 1_000_000 + i))
    wanted = logs / "orders_2026-11-19.csv"
    wanted.write_text("x\n")
    os.utime(wanted, (10, 10))                          # the oldest of all, and one name among thousands
    assert [i.path for i in await sb.list_dir(logs, "orders_2026-11-19*")] == [str(wanted)]
    newest = {i.path for i in await sb.list_dir(logs)}
    assert newest == {str(logs / f"orders_{i:05d}.csv") for i in range(20, LIST_LIMIT + 20)}


ANSI_LOG = ("\x1b[0m02:00:01  \x1b[31mFailure in model orders_daily (models/orders_daily.sql)\x1b[0m\n"
            "\x1b]8;;file:///dbt/models/orders_daily.sql\x1b\\orders_daily.sql\x1b]8;;\x1b\\ failed\n"
            "[0m02:00:02  [[31mERROR[0m in 0.76s]\n"                       # ESC lost when pasted: codes stay
            "retry in [5m] then give up\n"                                   # no reset on the line: not a code
            "[0m02:00:03  query done [0ms], retry in [250ms]\n"              # durations are not codes
            "[0m02:00:04  took [1m30s], sleeping [2min] then [5m]\n")


async def test_sandbox_reads_drop_terminal_colour_codes(box):
    # dbt and Airflow write colour codes into task logs: evidence quotes and the classifier see the text
    logs, sb = box
    log = logs / "dbt.log"
    log.write_text(ANSI_LOG)
    want = ["02:00:01  Failure in model orders_daily (models/orders_daily.sql)", "orders_daily.sql failed",
            "02:00:02  [ERROR in 0.76s]", "retry in [5m] then give up", "02:00:03  query done [0ms], retry in [250ms]",
            "02:00:04  took [1m30s], sleeping [2min] then [5m]"]
    assert [ln.text for ln in (await sb.tail(log)).lines] == want
    assert [ln.text for ln in (await sb.read_lines(log, 1, 10)).lines] == want
    assert [ln.text for ln in (await sb.excerpt(log)).lines] == want
    assert [ln.text for ln in (await sb.grep(log, "ERROR")).lines] == ["02:00:02  [ERROR in 0.76s]"]
