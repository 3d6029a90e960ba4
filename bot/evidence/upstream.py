"""`upstream_status`: is the run's partition there, when did the last one land, did the schema change?

Partition layouts: `key=YYYY-MM-DD` (dt=, date=, ds=, …, also YYYYMMDD), `YYYY-MM-DD`, nested `YYYY/MM/DD`,
and flat directories whose file names carry the date. Cheap: directory listings, then the header or
Parquet footer of two files. Every access goes through the stage's Sandbox.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from bot.errors import AccessDenied
from bot.evidence.schema import Schema, SchemaDiff, compare, is_data_file, read_schema
from bot.evidence.when import ago, date_in, iso
from bot.sandbox import FileInfo, Sandbox

_KEYED = re.compile(r"^(\w+)=(\d{4})-?(\d{2})-?(\d{2})$")
_PLAIN = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_GLOB = re.compile(r"[*?\[]")
MAX_LIST = 20  # directories listed per partition (sub-partitions such as hour=)


@dataclass
class Partition:
    label: str                 # dt=2026-11-19, 2026/11/19, or a file name for flat layouts
    path: str
    date: date | None
    files: list[FileInfo] = field(default_factory=list)   # data files (no _SUCCESS, no dot files)
    markers: list[str] = field(default_factory=list)      # _SUCCESS and friends
    mtime: float = 0.0         # when it last changed: newest of the directory and its files

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def zero_byte(self) -> list[FileInfo]:
        return [f for f in self.files if f.size == 0]

    @property
    def empty(self) -> bool:
        return not self.files or all(f.size == 0 for f in self.files)

    def describe(self) -> str:
        z = len(self.zero_byte)
        return (f"{self.label}: {len(self.files)} file(s), {self.total_bytes:,} bytes"
                + (f", {z} zero-byte" if z else "") + f", last change {iso(self.mtime)}")


@dataclass
class UpstreamSource:
    spec: str                              # as configured
    path: str                              # the directory examined
    layout: str = "partitioned"            # partitioned | flat | missing | denied | empty
    expected: str | None = None            # label of the run's partition, e.g. dt=2026-11-19
    run_partition: Partition | None = None
    newest: Partition | None = None
    previous: Partition | None = None      # the partition before the one compared (run's or newest)
    new_schema: Schema | None = None
    old_schema: Schema | None = None
    diff: SchemaDiff | None = None
    error: str | None = None

    @property
    def missing(self) -> bool:
        return self.layout == "partitioned" and self.expected is not None and self.run_partition is None

    def late(self, failed_at: datetime | None) -> bool:
        """The run's partition exists now but changed after the run failed."""
        return bool(self.run_partition and failed_at and self.run_partition.mtime > failed_at.timestamp())


@dataclass
class UpstreamStatus:
    run_date: date | None
    run_date_source: str
    failed_at: datetime | None
    sources: list[UpstreamSource] = field(default_factory=list)

    def text(self) -> str:
        out = [f"run date {self.run_date or '?'} (from {self.run_date_source}); failure at {iso(self.failed_at)}"]
        for s in self.sources:
            out.append(f"- {s.path} [{s.layout}]" + (f": {s.error}" if s.error else ""))
            if s.expected:
                if s.run_partition:
                    late = " — LANDED AFTER THE FAILURE" if s.late(self.failed_at) else ""
                    out.append(f"  run partition {s.run_partition.describe()}{late}")
                else:
                    out.append(f"  run partition {s.expected}: MISSING")
            if s.newest:
                age = (f", {ago(self.failed_at.timestamp() - s.newest.mtime)} before the failure"
                       if self.failed_at and s.newest.mtime <= self.failed_at.timestamp() else "")
                out.append(f"  newest {s.newest.describe()}{age}")
            if s.previous:
                out.append(f"  previous {s.previous.describe()}")
            for f in (s.run_partition or s.newest or Partition("", "", None)).zero_byte[:10]:
                out.append(f"  zero-byte file {f.path}")
            if s.new_schema:
                out.append(f"  header now   {s.new_schema.path}: {s.new_schema.header()}")
            if s.old_schema:
                out.append(f"  header before {s.old_schema.path}: {s.old_schema.header()}")
            if s.diff and s.diff.changed:
                out.append(f"  schema change: {s.diff.describe()}")
        return "\n".join(out)


async def upstream_status(sandbox: Sandbox, paths: list[str], run_date: date | None, run_date_source: str,
                          failed_at: datetime | None) -> UpstreamStatus:
    status = UpstreamStatus(run_date, run_date_source, failed_at)
    for spec in paths:
        for root, pattern in await _expand(sandbox, spec):
            status.sources.append(await _source(sandbox, spec, root, pattern, run_date))
    return status


async def _expand(sandbox: Sandbox, spec: str) -> list[tuple[str, str]]:
    """(directory, file pattern) pairs for a configured upstream path, expanding globs through the sandbox."""
    parts = Path(spec).parts
    i = next((k for k, p in enumerate(parts) if _GLOB.search(p)), None)
    if i is None:
        return [(spec, "*")]
    roots = [str(Path(*parts[:i]))]
    for k in range(i, len(parts)):
        last = k == len(parts) - 1
        nxt: list[str] = []
        for r in roots:
            try:
                infos = await sandbox.list_dir(r, parts[k])
            except (AccessDenied, OSError):
                continue
            if last and any(not x.is_dir for x in infos):
                return [(r, parts[k])]
            nxt += [x.path for x in infos if x.is_dir]
        roots = nxt[:10]
    return [(r, "*") for r in roots] or [(spec, "*")]


async def _source(sandbox: Sandbox, spec: str, root: str, pattern: str, run_date: date | None) -> UpstreamSource:
    src = UpstreamSource(spec=spec, path=root)
    try:
        infos = await sandbox.list_dir(root, pattern)
    except (AccessDenied, FileNotFoundError, NotADirectoryError) as e:
        src.layout, src.error = await _why_unlistable(sandbox, root, e)
        return src
    parts = await _partitions(sandbox, root, infos, run_date)
    if parts is None:                      # flat: files directly in the directory
        src.layout = "flat"
        parts = _by_file(root, infos)
    if not parts:
        src.layout, src.error = "empty", "no data files"
        return src
    ordered = sorted(parts, key=lambda p: (p.date or date.min, p.mtime, p.label))
    src.newest = ordered[-1]
    if run_date is not None and any(p.date for p in ordered):
        src.expected = _label_like(src.newest, run_date)
        src.run_partition = next((p for p in ordered if p.date == run_date), None)
    subject = src.run_partition or src.newest
    before = [p for p in ordered if (p.date or date.min, p.mtime, p.label)
              < (subject.date or date.min, subject.mtime, subject.label)]
    src.previous = before[-1] if before else None
    src.old_schema = await _schema(sandbox, src.previous) if src.previous else None
    src.new_schema = await _schema(sandbox, subject, unlike=src.old_schema)
    if src.new_schema and src.old_schema:
        src.diff = compare(src.old_schema, src.new_schema)
    return src


async def _why_unlistable(sandbox: Sandbox, root: str, e: Exception) -> tuple[str, str]:
    """Missing or denied? A sandbox may deny a path that does not exist, so ask the parent's listing."""
    if not isinstance(e, AccessDenied) or "no such file" in e.reason:
        return "missing", "directory does not exist"
    try:
        siblings = await sandbox.list_dir(str(Path(root).parent))
    except (AccessDenied, OSError):
        return "denied", f"{e} (or it does not exist)"
    if any(Path(i.path).name == Path(root).name for i in siblings):
        return "denied", str(e)
    return "missing", "directory does not exist"


async def _partitions(sandbox: Sandbox, root: str, infos: list[FileInfo],
                      run_date: date | None) -> list[Partition] | None:
    dirs = [i for i in infos if i.is_dir]
    named = [(i, _keyed_date(Path(i.path).name)) for i in dirs]
    keyed = [(i, d) for i, d in named if d is not None]
    if keyed:
        return [await _partition(sandbox, Path(i.path).name, i, d) for i, d in _pick(keyed, run_date)]
    years = [i for i in dirs if re.fullmatch(r"\d{4}", Path(i.path).name)]
    if years:
        return await _nested(sandbox, years, run_date)
    return None


def _keyed_date(name: str) -> date | None:
    m = _KEYED.match(name) or _PLAIN.match(name)
    if not m:
        return None
    g = m.groups()[-3:]
    try:
        return date(int(g[0]), int(g[1]), int(g[2]))
    except ValueError:
        return None


def _pick(items: list[tuple[FileInfo, date]], run_date: date | None) -> list[tuple[FileInfo, date]]:
    """Only the partitions we need: the run's, the one before it, and the newest two."""
    items = sorted(items, key=lambda x: (x[1], x[0].path))
    keep = set(range(max(0, len(items) - 2), len(items)))
    for k, (_, d) in enumerate(items):
        if d == run_date:
            keep |= {k, k - 1} if k else {k}
    return [items[k] for k in sorted(keep)]


async def _nested(sandbox: Sandbox, years: list[FileInfo], run_date: date | None) -> list[Partition]:
    """YYYY/MM/DD: walk newest-first for the newest two days, and straight to the run's day."""
    found: dict[date, FileInfo] = {}

    async def days_of(year: FileInfo, month_filter: str | None = None) -> list[tuple[date, FileInfo]]:
        out = []
        for m in reversed(await sandbox.list_dir(year.path, month_filter or "[0-9][0-9]")):
            for d in reversed(await sandbox.list_dir(m.path, "[0-9][0-9]")):
                dd = _keyed_date(f"{Path(year.path).name}-{Path(m.path).name}-{Path(d.path).name}")
                if dd and d.is_dir:
                    out.append((dd, d))
            if len(out) >= 2 and month_filter is None:
                break
        return out

    for y in sorted(years, key=lambda i: i.path, reverse=True):
        for dd, info in await days_of(y):
            found.setdefault(dd, info)
        if len(found) >= 2:
            break
    if run_date is not None:
        run_year = next((i for i in years if Path(i.path).name == f"{run_date.year:04d}"), None)
        if run_year is not None:
            for dd, info in await days_of(run_year, f"{run_date.month:02d}"):
                found.setdefault(dd, info)
    picked = _pick([(i, d) for d, i in found.items()], run_date)
    return [await _partition(sandbox, f"{d:%Y/%m/%d}", i, d) for i, d in picked]


async def _partition(sandbox: Sandbox, label: str, info: FileInfo, d: date | None) -> Partition:
    p = Partition(label=label, path=info.path, date=d, mtime=info.mtime)
    queue, listed = [info.path], 0
    while queue and listed < MAX_LIST:
        for c in await sandbox.list_dir(queue.pop(0)):
            if c.is_dir:
                queue.append(c.path)
            elif is_data_file(c.path):
                p.files.append(c)
            else:
                p.markers.append(Path(c.path).name)
            p.mtime = max(p.mtime, c.mtime)
        listed += 1
    return p


def _by_file(root: str, infos: list[FileInfo]) -> list[Partition]:
    """A flat directory: one pseudo-partition per data file, dated from its name when it has a date."""
    out = []
    for f in infos:
        if not f.is_dir and is_data_file(f.path):
            name = Path(f.path).name
            out.append(Partition(label=name, path=f.path, date=date_in(name, loose=True), files=[f],
                                 mtime=f.mtime))
    return out


def _label_like(example: Partition, d: date) -> str:
    """The run's partition named the way this source names them."""
    m = _KEYED.match(example.label)
    if m:
        compact = "-" not in example.label.split("=", 1)[1]
        return f"{m.group(1)}={d:%Y%m%d}" if compact else f"{m.group(1)}={d:%Y-%m-%d}"
    if "/" in example.label:
        return f"{d:%Y/%m/%d}"
    return f"{d:%Y-%m-%d}"


SCHEMA_FILES = 8   # files of a partition whose schema is read, newest first


async def _schema(sandbox: Sandbox, part: Partition, unlike: Schema | None = None) -> Schema | None:
    """The schema of the partition's newest non-empty data file we can read; with `unlike` (the previous
    partition's), the first of its SCHEMA_FILES newest files whose columns differ from it, if one does: a
    partition where one file of several dropped a column is not a partition that looks normal."""
    first: Schema | None = None
    read, limit = 0, SCHEMA_FILES if unlike is not None else 1
    for f in sorted(part.files, key=lambda f: (f.mtime, f.path), reverse=True):
        if read >= limit:
            break
        if f.size <= 0:
            continue
        s = await read_schema(sandbox, f.path, f.size)
        if s is None:
            continue
        read += 1
        first = first or s
        if unlike is None or (not s.error and not unlike.error and s.names != unlike.names):
            return s
    return first
