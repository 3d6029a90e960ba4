"""The investigation tools one by one: partitions and schemas, deploys, config, previous run, tool text."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.contract import Alert
from bot.engine import build_toolbox
from bot.errors import TopologyError
from bot.evidence.deploys import git_env, recent_deploys
from bot.evidence.job_config import job_config
from bot.evidence.previous_run import previous_run
from bot.evidence.schema import Schema, compare, parse_parquet_footer
from bot.evidence.upstream import upstream_status
from bot.evidence.when import date_in, failure_time, line_time
from bot.jobs import resolve_job
from bot.sandbox import Audit, Sandbox, SandboxManager
from bot.triage_context import TriageContext
from tests.investigate_world import HEADER_CSV, ORDERS, World

FAILED = datetime(2026, 11, 20, 2, 0, 14, tzinfo=UTC)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


@pytest.fixture
async def sandbox(world: World) -> AsyncIterator[Sandbox]:
    mgr = SandboxManager()
    yield mgr.for_stage("investigate", [f"{world.logs}/**", f"{world.data}/**", f"{world.repos}/**"], Audit())
    await mgr.aclose()


# ---------------------------------------------------------------- dates and times


def test_when_date_in_reads_partition_run_id_and_execution_date():
    assert date_in("Reading s3://b/orders/dt=2026-11-19/") == date(2026, 11, 19)
    assert date_in("scheduled__2026-11-18T02:00:00+00:00") == date(2026, 11, 18)
    assert date_in("execution_date=20261117T020000") == date(2026, 11, 17)
    assert date_in("landing/2026/11/16/part.csv") == date(2026, 11, 16)
    assert date_in("no date here") is None


def test_when_line_time_parses_airflow_iso_and_spark_short_year():
    assert line_time("[2026-11-20, 02:00:14 UTC] {x} ERROR") == FAILED
    assert line_time("2026-11-20T02:00:14Z ERROR boom") == FAILED
    assert line_time("26/11/20 02:00:14 ERROR YarnScheduler") == FAILED
    assert line_time("04:00:12  Done.") is None


def test_when_failure_time_falls_back_to_mtime():
    t, how = failure_time(None, FAILED.timestamp())
    assert t == FAILED and how == "log file modification time"


# ---------------------------------------------------------------- schemas


def test_schema_compare_detects_rename_removal_addition_and_type_change():
    old = Schema("a", "parquet", [("id", "int64"), ("customer_id", "int64"), ("amount", "double"),
                                  ("note", "string")])
    new = Schema("b", "parquet", [("id", "int64"), ("cust_id", "int64"), ("amount", "string"),
                                  ("channel", "string")])
    d = compare(old, new)
    assert d.renamed == [("customer_id", "cust_id"), ("note", "channel")]
    assert d.retyped == [("amount", "double", "string")]
    assert d.lost("customer_id") == "renamed to 'cust_id'" and d.lost("id") is None


def test_schema_compare_rename_needs_matching_types():
    d = compare(Schema("a", "jsonl", [("a", "int"), ("customer_id", "int")]),
                Schema("b", "jsonl", [("a", "int"), ("zzz", "string")]))
    assert d.renamed == [] and d.removed == ["customer_id"] and d.added == ["zzz"]


def test_schema_parquet_footer_alone_gives_the_schema(world: World):
    data = world.parquet({"order_id": [1, 2], "customer_id": ["a", "b"]})
    n = int.from_bytes(data[-8:-4], "little")
    s = parse_parquet_footer("x.parquet", data[-(n + 8):])
    assert s.columns == [("order_id", "int64"), ("customer_id", "string")] and s.rows == 2


async def test_upstream_reads_only_parquet_footer_bytes(world: World, sandbox: Sandbox):
    big = world.parquet({"order_id": list(range(200_000)), "customer_id": [str(i) for i in range(200_000)]})
    world.partition("dt=2026-11-19", {"p.parquet": big}, "2026-11-20 01:00:00")
    st = await upstream_status(sandbox, [str(world.data / "landing/orders")], date(2026, 11, 19), "test", FAILED)
    src = st.sources[0]
    assert src.new_schema is not None and src.new_schema.names == ["order_id", "customer_id"]
    read = sum(e.bytes_read for e in sandbox.audit.entries if e.path.endswith("p.parquet"))
    assert 0 < read < 20_000 < len(big)


async def test_upstream_jsonl_and_gzip_csv_headers(world: World, sandbox: Sandbox):
    import gzip

    world.partition("dt=2026-11-18", {"a.jsonl": '{"id": 1, "customer_id": 2}\n'}, "2026-11-19 01:00:00")
    world.partition("dt=2026-11-19", {"a.jsonl": '{"id": 1, "customer_id": "2"}\n'}, "2026-11-20 01:00:00")
    world.partition("dt=2026-11-19", {"b.csv.gz": gzip.compress(b"id,customer\n1,2\n")}, "2026-11-20 01:00:00",
                    source="gz")
    st = await upstream_status(sandbox, [str(world.data / "landing/orders"), str(world.data / "gz")],
                               date(2026, 11, 19), "test", FAILED)
    assert st.sources[0].diff is not None and st.sources[0].diff.retyped == [("customer_id", "int", "string")]
    assert st.sources[1].new_schema is not None and st.sources[1].new_schema.names == ["id", "customer"]


async def test_upstream_nested_year_month_day_partitions(world: World, sandbox: Sandbox):
    for d in ("2026/10/31", "2026/11/17", "2026/11/18"):
        world.partition(d, {"x.csv": HEADER_CSV}, f"{d.replace('/', '-')} 23:00:00", source="events")
    st = await upstream_status(sandbox, [str(world.data / "events")], date(2026, 11, 19), "test", FAILED)
    s = st.sources[0]
    assert s.missing and s.expected == "2026/11/19" and s.newest is not None and s.newest.label == "2026/11/18"
    st = await upstream_status(sandbox, [str(world.data / "events")], date(2026, 10, 31), "test", FAILED)
    assert st.sources[0].run_partition is not None and st.sources[0].run_partition.label == "2026/10/31"


async def test_upstream_compact_keys_glob_paths_and_missing_directory(world: World, sandbox: Sandbox):
    world.partition("ds=20261118", {"x.csv": HEADER_CSV}, "2026-11-19 01:00:00", source="eu/orders")
    world.partition("ds=20261119", {"x.csv": HEADER_CSV}, "2026-11-20 01:00:00", source="us/orders")
    st = await upstream_status(sandbox, [str(world.data / "*/orders"), str(world.data / "gone")],
                               date(2026, 11, 19), "test", FAILED)
    by_path = {s.path: s for s in st.sources}
    eu, us, gone = (by_path[str(world.data / p)] for p in ("eu/orders", "us/orders", "gone"))
    assert eu.missing and eu.expected == "ds=20261119"
    assert us.run_partition is not None and not us.missing
    assert gone.layout == "missing" and gone.error == "directory does not exist"
    assert "run partition ds=20261119: MISSING" in st.text()


async def test_upstream_flat_directory_uses_dates_in_file_names(world: World, sandbox: Sandbox):
    world.write(world.data / "flat/orders_2026-11-18.csv", HEADER_CSV, "2026-11-19 01:00:00")
    world.write(world.data / "flat/orders_2026-11-19.csv", "order_id,amount\n", "2026-11-20 01:00:00")
    st = await upstream_status(sandbox, [str(world.data / "flat")], date(2026, 11, 19), "test", FAILED)
    s = st.sources[0]
    assert s.layout == "flat" and s.diff is not None and s.diff.lost("customer_id") == "removed"


# ---------------------------------------------------------------- deploys


async def test_deploys_window_paths_and_mentions(world: World, sandbox: Sandbox):
    world.base_repo()
    inside = world.commit({"dags/orders/load.py": "x = row['customer_id']\n"}, "Use customer_id",
                          when="2026-11-19 20:00:00")
    world.commit({"dags/other/job.py": "y = 1\n"}, "Other job", when="2026-11-19 21:00:00")
    world.commit({"dags/orders/load.py": "x = 2\n"}, "After the failure", when="2026-11-20 03:00:00")
    d = await recent_deploys(sandbox, str(world.repo), ["dags/orders"], FAILED, mentions=["customer_id"])
    assert d.error is None
    assert [c.sha for c in d.commits] == [inside]
    c = d.commits[0]
    assert c.author == "Ana Dev" and c.files == ["dags/orders/load.py"] and c.mentions == ["customer_id"]
    assert c.time == datetime(2026, 11, 19, 20, 0, tzinfo=UTC)
    assert "Use customer_id" in d.text()
    assert sandbox.audit.denied == []                  # probing for alternates/commondir is not a denial


async def test_deploys_outside_allowlist_or_not_a_repo_is_an_explained_error(world: World, sandbox: Sandbox,
                                                                              tmp_path: Path):
    (world.repos / "plain").mkdir()
    d = await recent_deploys(sandbox, str(world.repos / "plain"), [], FAILED)
    assert d.commits == [] and "not a readable git repository" in (d.error or "")
    d = await recent_deploys(sandbox, "/etc", [], FAILED)
    assert "outside the read allowlist" in (d.error or "")
    world.base_repo()
    d = await recent_deploys(sandbox, str(world.repo), ["../escape"], FAILED)
    assert "must be relative" in (d.error or "")


def test_deploys_git_env_has_no_user_config_pager_or_prompt(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GIT_EXTERNAL_DIFF", "/bin/evil")
    monkeypatch.setenv("GIT_DIR", "/elsewhere")
    env = git_env()
    assert "GIT_EXTERNAL_DIFF" not in env and "GIT_DIR" not in env
    assert env["GIT_CONFIG_NOSYSTEM"] == "1" and env["GIT_PAGER"] == "cat" and env["GIT_TERMINAL_PROMPT"] == "0"


# ---------------------------------------------------------------- config and previous run


async def test_job_config_is_redacted_and_relative_to_repo(world: World, sandbox: Sandbox):
    world.base_repo()
    topo = world.topology()
    cfg = await job_config(sandbox, resolve_job(topo, "orders_daily"))
    assert cfg.path == str(world.repo / "dags/orders/config.yaml")
    assert "hunter2" not in cfg.text() and "source: /landing/orders" in cfg.text()


async def test_previous_run_skips_newer_logs_and_ignores_timestamps(world: World, sandbox: Sandbox):
    world.log("j", "a.log", "2026-11-18 02:00:00 ERROR boom 1\n", "2026-11-18 02:00:01")
    failed = world.log("j", "b.log", "2026-11-19 02:00:00 ERROR boom 2\nValueError: new thing\n",
                       "2026-11-19 02:00:01")
    world.log("j", "c.log", "2026-11-20 02:00:00 INFO ok\n", "2026-11-20 02:00:01")
    p = await previous_run(sandbox, str(failed))
    assert p.previous_log == str(world.logs / "j/a.log") and p.previous_failed
    assert p.first_new is not None and p.first_new.number == 2 and "new thing" in p.first_new.text


async def test_previous_run_successful_previous_run_has_no_errors(world: World, sandbox: Sandbox):
    world.log("j", "a.log", "04:00:12  Done. PASS=3 WARN=0 ERROR=0 SKIP=0 TOTAL=3\n", "2026-11-18 02:00:01")
    failed = world.log("j", "b.log", "04:00:12  Done. PASS=2 WARN=0 ERROR=1 SKIP=0 TOTAL=3\n",
                       "2026-11-19 02:00:01")
    p = await previous_run(sandbox, str(failed))
    assert not p.previous_failed and p.first_new is not None and "had no error lines" in p.text()


# ---------------------------------------------------------------- tools for a model


async def test_tools_investigating_stage_gets_redacted_investigation_tools(world: World):
    world.base_repo()
    world.partition("dt=2026-11-19", {"x.csv": "id,password=hunter2\n"}, "2026-11-20 01:00:00")
    log = world.log("orders_daily", "r.log", "[2026-11-20, 02:00:14 UTC] ERROR x\n", "2026-11-20 02:00:15")
    topo = world.topology()
    mgr = SandboxManager()
    try:
        audit = Audit()
        inv = build_toolbox(TriageContext(topo, Alert(job="orders_daily"), mgr, job=resolve_job(topo, "orders_daily"),
                                          log_path=log, audit=audit), topo.stage("investigate"))
        cls = build_toolbox(TriageContext(topo, Alert(), mgr, job=None, log_path=log, audit=audit),
                            topo.stage("classify"))
        names = [s.name for s in inv.specs()]
        assert {"upstream_status", "recent_deploys", "job_config", "previous_run"} <= set(names)
        assert not {"upstream_status", "recent_deploys"} & {s.name for s in cls.specs()}
        up = await inv.extra["upstream_status"].handler(run_date="2026-11-19")
        assert "dt=2026-11-19: 1 file(s)" in up and "hunter2" not in up and "[REDACTED" in up
        assert "hunter2" not in await inv.extra["job_config"].handler()
        assert "none" in await inv.extra["recent_deploys"].handler(hours=24)
        world.commit({"dags/orders/load.py": "z = 3\n"}, "Recent change", when="2026-11-01 00:00:00")
        assert "Recent change" in await inv.extra["recent_deploys"].handler(hours=24 * 60)
        assert "no earlier log" in await inv.extra["previous_run"].handler()
        assert "not YYYY-MM-DD" in await inv.extra["upstream_status"].handler(run_date="yesterday")
    finally:
        await mgr.aclose()


# ---------------------------------------------------------------- registry validation


@pytest.mark.parametrize(("entry", "field", "path"), [
    ('upstream = ["/elsewhere/orders"]', "upstream", "/elsewhere/orders"),
    ('repo = "/opt/code"', "repo", "/opt/code"),
    ('config = "/etc/orders.yaml"', "config", "/etc/orders.yaml"),
    ('logs = "{data_root}/logs"', "logs", "{data_root}/logs"),
])
def test_topology_job_path_outside_allowlist_is_located(world: World, entry: str, field: str, path: str):
    with pytest.raises(TopologyError) as e:
        world.topology(f"[jobs.orders_daily]\n{entry}\n")
    expanded = path.replace("{data_root}", str(world.data))
    assert e.value.where == "[jobs.orders_daily]"
    assert e.value.detail.startswith(f"field '{field}': '{expanded}' is outside the read allowlist of stage")
    assert e.value.hint and "add it to that stage's read list" in e.value.hint


def test_topology_job_code_must_be_relative_and_vars_known(world: World):
    with pytest.raises(TopologyError, match=r"field 'code': '/abs' must be relative"):
        world.topology('[jobs.x]\ncode = ["/abs"]\n')
    with pytest.raises(TopologyError, match=r"unknown variable '\{lake\}'"):
        world.topology('[jobs.x]\nupstream = ["{lake}/x"]\n')


def test_topology_registry_example_loads(world: World):
    topo = world.topology(ORDERS)
    job = resolve_job(topo, "orders_daily")
    assert job.upstream == [str(world.data / "landing/orders")] and job.code == ["dags/orders"]


# ---------------------------------------------------------------- deploys: git stays inside the allowlist

OUTSIDE_SUBJECT = "OUTSIDE-REPO-SUBJECT-5b1e"


def _outside_repo(tmp_path: Path) -> World:
    """A repository with one commit inside the failure window, outside the stage's allowlist."""
    outside = World(tmp_path / "elsewhere")
    outside.commit({"dags/orders/load.py": "x = 1\n"}, OUTSIDE_SUBJECT, when="2026-11-19 20:00:00")
    return outside


def _shared_clone(src: Path, dst: Path) -> None:
    """A clone that borrows `src`'s objects through objects/info/alternates."""
    subprocess.run(["git", "clone", "-q", "--shared", str(src), str(dst)], check=True, capture_output=True,
                   env={"PATH": os.environ["PATH"], "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(dst.parent)})


def _append(path: Path, text: str) -> None:
    with path.open("a") as f:
        f.write(text)


def _assert_refused(d, why: str) -> None:
    assert d.commits == [] and why in (d.error or ""), d.error
    assert OUTSIDE_SUBJECT not in d.text()


async def test_deploys_refuses_gitdir_pointer_file(world: World, sandbox: Sandbox, tmp_path: Path):
    outside = _outside_repo(tmp_path)
    evil = world.repos / "evil"
    world.write(evil / ".git", f"gitdir: {outside.repo / '.git'}\n")
    _assert_refused(await recent_deploys(sandbox, str(evil), [], FAILED), "not a directory")


async def test_deploys_refuses_alternates_outside_allowlist(world: World, sandbox: Sandbox, tmp_path: Path):
    outside = _outside_repo(tmp_path)
    _shared_clone(outside.repo, world.repos / "alt")
    assert (world.repos / "alt" / ".git" / "objects" / "info" / "alternates").is_file()
    _assert_refused(await recent_deploys(sandbox, str(world.repos / "alt"), [], FAILED), "alternates")


async def test_deploys_refuses_commondir_outside_allowlist(world: World, sandbox: Sandbox, tmp_path: Path):
    outside = _outside_repo(tmp_path)
    world.base_repo()
    world.write(world.repo / ".git" / "commondir", f"{outside.repo / '.git'}\n")
    _assert_refused(await recent_deploys(sandbox, str(world.repo), [], FAILED), "commondir")


@pytest.mark.parametrize("header", ["[include]\n\tpath", "[core] [include] path", '[ IncludeIf "gitdir:/"] path'])
async def test_deploys_refuses_config_include(world: World, sandbox: Sandbox, tmp_path: Path, header: str):
    # git reads a section header anywhere on a line: `[core] [include] path = …` includes as well
    outside = _outside_repo(tmp_path)
    world.base_repo()
    world.write(outside.root / "inc.cfg", "[core]\n\trepositoryformatversion = 0\n")
    _append(world.repo / ".git" / "config", f"{header} = {outside.root / 'inc.cfg'}\n")
    _assert_refused(await recent_deploys(sandbox, str(world.repo), [], FAILED), "include")


def test_tools_arguments_are_validated_and_bounded_from_one_model():
    """A tool's pydantic argument model gives the schema a model sees and checks what it sends: wrong types,
    missing and unknown arguments are errors; a number out of range is brought within, as the tools always did."""
    from pydantic import ValidationError

    from bot.investigation_tools import DeploysArgs
    from bot.toolbox import GrepLogArgs, ReadLogArgs, tool_schema

    schema = tool_schema(GrepLogArgs)
    assert schema["required"] == ["pattern"] and schema["additionalProperties"] is False
    assert schema["properties"]["path"]["type"] == "string"                 # optional, not anyOf [string, null]
    assert schema["properties"]["context"] | {} == {"type": "integer", "default": 0, "minimum": 0, "maximum": 5}
    assert ReadLogArgs.model_validate({"max_lines": 9999, "start_line": -3}).model_dump() == \
        {"path": None, "start_line": 1, "max_lines": 500}
    assert DeploysArgs.model_validate({"hours": 1440}).hours == 720.0
    for bad in ({"max_lines": "all"}, {"follow": True}):
        with pytest.raises(ValidationError):
            ReadLogArgs.model_validate(bad)
    with pytest.raises(ValidationError):
        GrepLogArgs.model_validate({})


async def test_deploys_a_partial_clone_config_cannot_make_git_run_a_command(world: World):
    """A repository may declare itself a partial clone whose promisor remote's `uploadpack` is a shell command:
    `git log --name-only` meeting a missing tree lazily fetched, running it (where Landlock is absent)."""
    import os

    world.base_repo()
    world.commit({"dags/orders/load.py": 'df["customer_id"]\n'}, "touch load", when="2026-11-19 22:00:00")
    tree = world.git("rev-parse", "HEAD:dags/orders").strip()
    os.remove(world.repo / ".git" / "objects" / tree[:2] / tree[2:])
    marker = world.root / "RAN"
    for key, value in (("core.repositoryformatversion", "1"), ("extensions.partialClone", "origin"),
                       ("remote.origin.url", str(world.repos / "other")), ("remote.origin.promisor", "true"),
                       ("remote.origin.uploadpack", f"sh -c 'touch {marker}; exit 1' #")):
        world.git("config", key, value)
    (world.repos / "other").mkdir()
    mgr = SandboxManager(mode="in-process")              # the host without Landlock: no kernel net under git
    try:
        sb = mgr.for_stage("investigate", [f"{world.repos}/**"], Audit())
        d = await recent_deploys(sb, str(world.repo), ["dags/orders"], FAILED)
    finally:
        await mgr.aclose()
    assert not marker.exists() and d.error is not None and "git failed" in d.error


async def test_deploys_pins_count_at_the_root_and_in_the_jobs_code_not_in_another_jobs(world: World,
                                                                                         sandbox: Sandbox):
    """In a monorepo, another job's requirements bump made this job's failure read as a dependency change."""
    world.base_repo()
    world.commit({"other_job/requirements.txt": "pandas==2.2\n"}, "Bump other job", when="2026-11-19 20:00:00")
    d = await recent_deploys(sandbox, str(world.repo), ["dags/orders"], FAILED)
    assert d.error is None and d.pins == []
    root = world.commit({"requirements.txt": "pandas==2.2\n"}, "Bump the image", when="2026-11-19 21:00:00")
    own = world.commit({"dags/orders/requirements.txt": "pyarrow==17\n"}, "Bump orders", when="2026-11-19 22:00:00")
    d = await recent_deploys(sandbox, str(world.repo), ["dags/orders/load.py"], FAILED)
    assert {c.sha for c in d.pins} == {root, own}


async def test_a_jsonl_schema_is_the_keys_of_its_first_records_not_of_its_first_record(world: World,
                                                                                        sandbox: Sandbox):
    """Writers leave out null fields (Spark's default): a first record without customer_id read as the column
    removed upstream, 'schema drift', while 1,000 of the 1,001 rows had it."""
    from bot.evidence.schema import read_schema

    f = world.data / "landing" / "events.jsonl"
    f.parent.mkdir(parents=True, exist_ok=True)
    rows = "".join(f'{{"order_id": {i}, "customer_id": {i * 7}}}\n' for i in range(2, 1002))
    f.write_text('{"order_id": 1}\n' + rows)
    schema = await read_schema(sandbox, str(f), f.stat().st_size)
    assert schema is not None and schema.error is None
    assert schema.names == ["order_id", "customer_id"] and dict(schema.columns)["customer_id"] == "int"
