"""Finding the failed run's log: nested Airflow layouts, run ids written in several ways, bounds."""

from __future__ import annotations

import os
from pathlib import Path

from bot.log_files import newest_log
from bot.sandbox import Audit, SandboxManager


def _touch(path: Path, mtime: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("ERROR boom\n")
    os.utime(path, (mtime, mtime))
    return path


async def test_logs_airflow_nested_layout_found_by_run_id(tmp_path):
    job = tmp_path / "orders_daily"
    a = _touch(job / "run_id=scheduled__2026-11-19T02:00:00+00:00" / "task_id=load" / "attempt=1.log", 100)
    b = _touch(job / "run_id=scheduled__2026-11-18T02:00:00+00:00" / "task_id=load" / "attempt=1.log", 200)
    manager = SandboxManager(mode="in-process")
    sb = manager.for_stage("classify", [f"{tmp_path}/**"], Audit())
    try:
        assert await newest_log(sb, str(job)) == b
        assert await newest_log(sb, str(job), "scheduled__2026-11-19T02:00:00+00:00") == a
    finally:
        await manager.aclose()


async def test_logs_run_id_timestamp_matches_dashed_file_name(tmp_path):
    job = tmp_path / "orders_daily"
    a = _touch(job / "2026-11-19T02-00-00.log", 100)
    _touch(job / "2026-11-20T02-00-00.log", 200)
    manager = SandboxManager(mode="in-process")
    sb = manager.for_stage("classify", [f"{tmp_path}/**"], Audit())
    try:
        assert await newest_log(sb, str(job), "manual__2026-11-19T02:00:00") == a
        assert await newest_log(sb, str(job), "manual__2026-11-17T02:00:00") is None
    finally:
        await manager.aclose()


async def test_logs_too_deep_is_not_searched(tmp_path):
    job = tmp_path / "j"
    _touch(job / "a" / "b" / "c" / "d" / "e" / "deep.log", 100)
    manager = SandboxManager(mode="in-process")
    sb = manager.for_stage("classify", [f"{tmp_path}/**"], Audit())
    try:
        assert await newest_log(sb, str(job)) is None
    finally:
        await manager.aclose()


async def test_logs_previous_run_in_airflows_nested_layout(tmp_path):
    from bot.evidence.previous_run import previous_run

    job = tmp_path / "orders_daily"
    old = _touch(job / "run_id=scheduled__2026-11-18" / "task_id=load" / "attempt=1.log", 100)
    _touch(job / "run_id=scheduled__2026-11-18" / "task_id=other" / "attempt=1.log", 150)
    new = _touch(job / "run_id=scheduled__2026-11-19" / "task_id=load" / "attempt=1.log", 200)
    new.write_text("ERROR boom\nKeyError: 'customer_id'\n")
    os.utime(new, (200, 200))
    manager = SandboxManager(mode="in-process")
    sb = manager.for_stage("investigate", [f"{tmp_path}/**"], Audit())
    try:
        prev = await previous_run(sb, str(new), str(job))
    finally:
        await manager.aclose()
    assert prev.previous_log == str(old)            # same task, earlier run; not the other task's log
    assert prev.first_new is not None and "customer_id" in prev.first_new.text


async def test_logs_many_run_folders_descend_into_the_newest_and_the_run_ids(tmp_path):
    job = tmp_path / "dag"
    for k in range(300):                      # years of daily runs: more folders than one level descends into
        _touch(job / f"run_id=scheduled__{k:04d}" / "task_id=load" / "attempt=1.log", 1000 + k)
        os.utime(job / f"run_id=scheduled__{k:04d}", (1000 + k, 1000 + k))
    manager = SandboxManager(mode="in-process")
    sb = manager.for_stage("classify", [f"{tmp_path}/**"], Audit())
    try:
        newest = await newest_log(sb, str(job))
        old = await newest_log(sb, str(job), "scheduled__0003")
    finally:
        await manager.aclose()
    assert newest == job / "run_id=scheduled__0299" / "task_id=load" / "attempt=1.log"
    assert old == job / "run_id=scheduled__0003" / "task_id=load" / "attempt=1.log"


async def test_logs_denied_log_dir_is_a_denial_not_a_missing_log(tmp_path):
    import pytest

    from bot.errors import AccessDenied

    (tmp_path / "allowed").mkdir()
    (tmp_path / "other").mkdir()
    manager = SandboxManager(mode="in-process")
    sb = manager.for_stage("classify", [f"{tmp_path}/allowed/**"], Audit())
    try:
        with pytest.raises(AccessDenied):
            await newest_log(sb, str(tmp_path / "other"))
    finally:
        await manager.aclose()


def _flat_folder(job: Path, n: int) -> list[str]:
    """n old logs in one folder, and their names in the order the filesystem lists them."""
    job.mkdir(parents=True)
    for k in range(n):
        (job / f"2025-01-01T00-00-00_{k:06d}.log").write_text("INFO ok\n")
        os.utime(job / f"2025-01-01T00-00-00_{k:06d}.log", (1000 + k % 500, 1000 + k % 500))
    with os.scandir(job) as it:
        return [e.name for e in it]


async def test_logs_newest_is_chosen_over_the_whole_folder_not_the_first_entries(tmp_path):
    # More entries than one listing returns (10,000): the newest is the one the filesystem lists last.
    job = tmp_path / "orders_daily"
    order = _flat_folder(job, 10_050)
    newest, wanted = job / order[-1], job / order[-2]
    os.utime(newest, (9_000, 9_000))
    os.utime(wanted, (5_000, 5_000))
    wanted.rename(wanted := job / "scheduled__2026-11-19T02_00_00.log")
    manager = SandboxManager(mode="in-process")
    sb = manager.for_stage("classify", [f"{tmp_path}/**"], Audit())
    try:
        assert await newest_log(sb, str(job)) == newest
        assert await newest_log(sb, str(job), "scheduled__2026-11-19T02:00:00") == wanted
    finally:
        await manager.aclose()


async def test_logs_the_alerts_task_and_try_pick_the_log_not_the_newest(tmp_path):
    """A run's newest log is often another task's, or the retry that started after the alert was posted."""
    run = tmp_path / "orders_daily" / "run_id=scheduled__2026-11-19"
    load_try2 = _touch(run / "task_id=load" / "attempt=2.log", 200)
    _touch(run / "task_id=load" / "attempt=3.log", 300)           # the retry, still running
    _touch(run / "task_id=publish" / "attempt=1.log", 400)        # a parallel task
    old_style = _touch(tmp_path / "legacy" / "load" / "2026-11-19T02:00:00+00:00" / "1.log", 100)
    _touch(tmp_path / "legacy" / "load" / "2026-11-19T02:00:00+00:00" / "2.log", 150)
    manager = SandboxManager(mode="in-process")
    sb = manager.for_stage("classify", [f"{tmp_path}/**"], Audit())
    job = str(tmp_path / "orders_daily")
    try:
        assert await newest_log(sb, job, "scheduled__2026-11-19", task="load", try_number=2) == load_try2
        assert (await newest_log(sb, job, task="load")).name == "attempt=3.log"
        assert await newest_log(sb, str(tmp_path / "legacy"), task="load", try_number=1) == old_style
        # a task or try no log matches narrows nothing: the newest log is still read, never lost
        assert (await newest_log(sb, job, task="no_such_task", try_number=9)).parts[-2:] == (
            "task_id=publish", "attempt=1.log")
    finally:
        await manager.aclose()


async def test_logs_a_task_name_never_crowds_out_the_failed_runs_folder(tmp_path):
    """A task called `run` is a substring of every `run_id=` folder: the run id must still outrank it, or the
    failed run drops out of the FANOUT newest folders searched."""
    job = tmp_path / "orders_daily"
    failed = _touch(job / "run_id=scheduled__2026-10-01T02:00:00+00:00" / "task_id=run" / "attempt=1.log", 10)
    for i in range(40):
        _touch(job / f"run_id=scheduled__2026-11-{i % 28 + 1:02d}T{i % 24:02d}:00:00+00:00" / "task_id=run"
               / "attempt=1.log", 100 + i)
    manager = SandboxManager(mode="in-process")
    sb = manager.for_stage("classify", [f"{tmp_path}/**"], Audit())
    try:
        for task in ("run", "2026"):
            assert await newest_log(sb, str(job), "scheduled__2026-10-01T02:00:00+00:00", task=task) == failed
    finally:
        await manager.aclose()


async def test_logs_a_job_folder_named_like_its_task_does_not_match_every_log(tmp_path):
    """Airflow 1 nests <dag>/<task>/…: with dag and task both `load`, only the path below the job folder counts."""
    job = tmp_path / "load"
    _touch(job / "run_id=r1" / "task_id=extract" / "attempt=1.log", 300)
    load = _touch(job / "run_id=r1" / "task_id=load" / "attempt=1.log", 200)
    manager = SandboxManager(mode="in-process")
    sb = manager.for_stage("classify", [f"{tmp_path}/**"], Audit())
    try:
        assert await newest_log(sb, str(job), "r1", task="load") == load
    finally:
        await manager.aclose()


async def test_an_airflow_alert_naming_task_and_try_triages_that_attempts_log(tmp_path):
    from bot.alerts import recognise
    from bot.engine import prepare
    from tests.fakes.slack_world import make_topology

    topo = make_topology(tmp_path)
    run = topo.expand("{log_root}/{job}", job="orders_daily") + "/run_id=manual__2026-11-20"
    first = _touch(Path(run) / "task_id=load_orders" / "attempt=1.log", 100)
    _touch(Path(run) / "task_id=load_orders" / "attempt=2.log", 200)
    _touch(Path(run) / "task_id=notify" / "attempt=1.log", 300)
    event = {"text": ":red_circle: Task Failed.\n*Dag*: orders_daily\n*Task*: load_orders\n*Try*: 1\n"
                     "*Run ID*: manual__2026-11-20", "bot_id": "B1", "subtype": "bot_message"}
    alert = recognise(event, topo).alert()
    assert (alert.task, alert.try_number) == ("load_orders", 1)
    manager = SandboxManager(mode="in-process")
    try:
        ctx = await prepare(topo, alert, sandboxes=manager)
    finally:
        await manager.aclose()
    assert ctx.log_path == first


def test_a_try_number_that_is_not_an_ascii_number_is_ignored_not_a_crash(tmp_path):
    from bot.alerts import recognise
    from tests.fakes.slack_world import make_topology

    topo = make_topology(tmp_path)
    for shown in ("²", "٣", "two"):
        event = {"text": f":red_circle: Task Failed.\n*Dag*: orders_daily\n*Task*: load\n*Try*: {shown}\n",
                 "bot_id": "B1", "subtype": "bot_message"}
        alert = recognise(event, topo).alert()
        assert (alert.job, alert.task, alert.try_number) == ("orders_daily", "load", None)


async def test_a_compressed_or_binary_log_is_refused_with_what_to_do(tmp_path):
    """A rotated .gz handed over as the log was triaged as CODE with its bytes quoted as the root cause."""
    import gzip

    import pytest

    from bot.contract import Alert
    from bot.engine import prepare
    from bot.errors import LogNotText
    from tests.fakes.slack_world import make_topology

    topo = make_topology(tmp_path)
    logs = Path(topo.expand("{log_root}/{job}", job="orders_daily"))
    (logs / "gz.log").write_bytes(gzip.compress(b"ERROR boom\n" * 50))
    (logs / "bin.log").write_bytes(b"ELF\x00\x01\x02 ERROR" * 20)
    manager = SandboxManager(mode="in-process")
    try:
        with pytest.raises(LogNotText, match="gzip-compressed: decompress it"):
            await prepare(topo, Alert(job="orders_daily"), sandboxes=manager, log_path=logs / "gz.log")
        with pytest.raises(LogNotText, match="binary"):
            await prepare(topo, Alert(job="orders_daily"), sandboxes=manager, log_path=logs / "bin.log")
    finally:
        await manager.aclose()


async def test_a_utf16_log_is_refused_naming_its_encoding_and_the_conversion(tmp_path):
    """Windows PowerShell writes `>` and Out-File as UTF-16: such a log was refused as "binary", which sends the
    on-call engineer looking for a corrupt file instead of a one-line conversion."""
    import pytest

    from bot.contract import Alert
    from bot.engine import prepare
    from bot.errors import LogNotText
    from tests.fakes.slack_world import make_topology

    topo = make_topology(tmp_path)
    logs = Path(topo.expand("{log_root}/{job}", job="orders_daily"))
    text = "2026-11-20 02:00:03 ERROR load failed\r\nSqlException: Login failed for user 'etl'.\r\n" * 20
    russian = "2026-11-20 02:00:03 ОШИБКА: отношение \"orders\" не существует\r\n" * 40
    greek = "2026-11-20 02:00:03 ΣΦΑΛΜΑ: η σχέση \"orders\" δεν υπάρχει\r\n" * 40
    (logs / "le.log").write_bytes(text.encode("utf-16"))          # with its byte-order mark, as PowerShell writes
    (logs / "be.log").write_bytes(text.encode("utf-16-be"))
    (logs / "ru.log").write_bytes(russian.encode("utf-16-le"))     # no mark, and not ASCII
    (logs / "el.log").write_bytes(greek.encode("utf-16-be"))
    # not UTF-16: a log whose start logrotate's copytruncate left as NULs (a text log: read), a compressed file
    (logs / "nul.log").write_bytes(b"\x00" * 8192 + b"2026-11-20 ERROR load failed\n" * 5)
    (logs / "zst.log").write_bytes(bytes((i * 151 + 7) % 255 + 1 for i in range(16384)))   # no NUL
    manager = SandboxManager(mode="in-process")
    try:
        ctx = await prepare(topo, Alert(job="orders_daily"), sandboxes=manager, log_path=logs / "nul.log")
        assert ctx.log_path == logs / "nul.log"
        for name in ("zst.log",):
            with pytest.raises(LogNotText, match="binary") as refused:
                await prepare(topo, Alert(job="orders_daily"), sandboxes=manager, log_path=logs / name)
            assert "UTF-16" not in str(refused.value)
        for name in ("le.log", "be.log", "ru.log", "el.log"):
            with pytest.raises(LogNotText, match=r"UTF-16 text.*iconv -f UTF-16 -t UTF-8"):
                await prepare(topo, Alert(job="orders_daily"), sandboxes=manager, log_path=logs / name)
    finally:
        await manager.aclose()
