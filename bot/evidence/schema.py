"""Headers and schemas of data files, read from their first or last bytes only, and compared.

CSV/TSV: the header row. JSON lines: the first record's keys and value types. Parquet: the footer
(last 8 bytes give its length; only the footer is read and parsed, never the column data).
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from bot.sandbox import Sandbox

HEAD_BYTES = 64 * 1024
MAX_FOOTER = 16 * 1024 * 1024
DATA_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".parquet", ".pq")


@dataclass(frozen=True)
class Schema:
    path: str
    format: str                                   # csv | jsonl | parquet
    columns: list[tuple[str, str | None]]         # (name, type or None when the format has no types)
    rows: int | None = None                       # parquet footers know their row count
    error: str | None = None                      # why the schema could not be read

    @property
    def names(self) -> list[str]:
        return [c for c, _ in self.columns]

    def header(self) -> str:
        if self.error:
            return f"(unreadable: {self.error})"
        return ", ".join(f"{n}:{t}" if t else n for n, t in self.columns)


@dataclass
class SchemaDiff:
    old: Schema
    new: Schema
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)      # (old name, new name)
    retyped: list[tuple[str, str, str]] = field(default_factory=list)  # (name, old type, new type)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.renamed or self.retyped)

    def lost(self, column: str) -> str | None:
        """How `column` disappeared ('removed' or 'renamed to x'), or None if it did not."""
        key = column.lower()
        for old, new in self.renamed:
            if old.lower() == key:
                return f"renamed to '{new}'"
        if any(c.lower() == key for c in self.removed):
            return "removed"
        return None

    def describe(self) -> str:
        parts = [f"renamed {o} → {n}" for o, n in self.renamed]
        parts += [f"removed {c}" for c in self.removed]
        parts += [f"added {c}" for c in self.added]
        parts += [f"{c} {a} → {b}" for c, a, b in self.retyped]
        return "; ".join(parts) or "no change"


def format_of(path: str) -> str | None:
    name = path.lower().removesuffix(".gz")
    if name.endswith((".csv", ".tsv")):
        return "csv"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    return None


async def read_schema(sandbox: Sandbox, path: str, size: int) -> Schema | None:
    """The file's header or schema, or None when the format is not one we read."""
    fmt = format_of(path)
    if fmt is None:
        return None
    if size == 0:
        return Schema(path, fmt, [], error="zero-byte file")
    try:
        if fmt == "parquet":
            return await _parquet(sandbox, path, size)
        head = await sandbox.head_bytes(path, HEAD_BYTES)
        if path.lower().endswith(".gz"):
            head = zlib.decompressobj(wbits=31).decompress(head, HEAD_BYTES)
        first = head.split(b"\n", 1)[0].decode("utf-8", "replace").lstrip("\ufeff").rstrip("\r")
        if fmt == "csv":
            delim = "\t" if path.lower().removesuffix(".gz").endswith(".tsv") else ","
            cols = next(csv.reader(io.StringIO(first), delimiter=delim), [])
            return Schema(path, fmt, [(c.strip(), None) for c in cols])
        rec = json.loads(first)
        if not isinstance(rec, dict):
            return Schema(path, fmt, [], error="first line is not a JSON object")
        return Schema(path, fmt, list(_json_keys(rec, head).items()))
    except (ValueError, zlib.error, OSError) as e:
        return Schema(path, fmt, [], error=str(e)[:200])


JSON_RECORDS = 200   # records of the head read for their keys


def _json_keys(first: dict[str, object], head: bytes) -> dict[str, str | None]:
    """The keys of the head's first JSON_RECORDS records, in order of first appearance, each with the type of
    its first non-null value: writers that leave out null fields (Spark's default) drop a key from one record,
    not from the schema. A cut or malformed line is skipped."""
    keys: dict[str, str | None] = {}
    lines = head.split(b"\n")[:JSON_RECORDS]
    for i, raw in enumerate(lines):
        if i == 0:
            rec: object = first
        elif i == len(lines) - 1 and not head.endswith(b"\n"):
            break                                  # the head's last line may be cut mid-record
        else:
            try:
                rec = json.loads(raw)
            except ValueError:
                continue
        if isinstance(rec, dict):
            for k, v in rec.items():
                if keys.get(k) in (None, "null"):
                    keys[k] = _json_type(v)
    return keys


def _json_type(v: object) -> str:
    return {bool: "bool", int: "int", float: "float", str: "string", list: "list", dict: "object"}.get(
        type(v), "null")


async def _parquet(sandbox: Sandbox, path: str, size: int) -> Schema:
    tail = await sandbox.tail_bytes(path, 8)
    if len(tail) < 8 or tail[4:] != b"PAR1":
        return Schema(path, "parquet", [], error="no Parquet footer (truncated or still being written?)")
    n = struct.unpack("<I", tail[:4])[0]
    if n + 12 > size or n > MAX_FOOTER:
        return Schema(path, "parquet", [], error=f"footer length {n} does not fit a {size}-byte file")
    footer = await sandbox.tail_bytes(path, n + 8)
    return parse_parquet_footer(path, footer)


def parse_parquet_footer(path: str, footer: bytes) -> Schema:
    """Schema from a Parquet footer (metadata + 4-byte length + PAR1). Needs pyarrow (optional)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return Schema(path, "parquet", [], error="pyarrow is not installed; pip install pyarrow to read "
                      "Parquet schemas")
    try:
        md = pq.read_metadata(pa.BufferReader(b"PAR1" + footer))
        schema = md.schema.to_arrow_schema()
    except (pa.ArrowException, OSError, ValueError) as e:
        return Schema(path, "parquet", [], error=f"unreadable footer: {e}"[:200])
    return Schema(path, "parquet", [(f.name, str(f.type)) for f in schema], rows=md.num_rows)


def compare(old: Schema, new: Schema) -> SchemaDiff:
    """Added / removed / renamed columns and type changes from `old` to `new`.

    A removed and an added column are a rename when they sit at the same position, or their names are
    similar and their types agree.
    """
    diff = SchemaDiff(old, new)
    if old.error or new.error:
        return diff
    o, n = dict(old.columns), dict(new.columns)
    removed = [c for c in old.names if c not in n]
    added = [c for c in new.names if c not in o]
    for r in list(removed):
        pos = old.names.index(r)
        same_pos = new.names[pos] if pos < len(new.names) and new.names[pos] in added else None
        similar = difflib.get_close_matches(r, added, n=1, cutoff=0.5)
        cand = same_pos or (similar[0] if similar else None)
        if cand and (o[r] is None or n[cand] is None or o[r] == n[cand]):
            diff.renamed.append((r, cand))
            removed.remove(r)
            added.remove(cand)
    diff.removed, diff.added = removed, added
    # a type change needs both types known (CSV headers have none)
    diff.retyped = [(c, was, now) for c in old.names
                    if c in n and (was := o[c]) and (now := n[c]) and was != now]
    return diff


def is_data_file(name: str) -> bool:
    base = Path(name).name
    return not base.startswith((".", "_"))
