"""The error taxonomies (`taxonomy.toml`): stable error identifiers → category, confidence and a reason.

Signatures recognise phrasings; identifiers (exception classes, SQLSTATE, vendor codes, HTTP statuses,
errno, signals, exit and cloud codes) are printed the same way by every job that hits them, so a table of
them generalises to logs no signature was written for. Loaded once per process, validated by pydantic.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Literal

import tomli
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.contract import Category
from bot.errors import BotError

TAXONOMY = Path(__file__).with_name("taxonomy.toml")
Kind = Literal["exception", "name_parts", "sqlstate", "vendor", "http", "errno", "signal", "exit", "cloud"]
KINDS: tuple[Kind, ...] = ("exception", "name_parts", "sqlstate", "vendor", "http", "errno", "signal", "exit",
                           "cloud")


class TaxonomyError(BotError):
    """The taxonomy file is malformed; the message names the file, the table and the entry."""


class Entry(BaseModel):
    """One identifier's usual meaning."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cat: Category
    conf: float = Field(ge=0, le=1)
    why: str = Field(min_length=1)
    alt: Category | None = None
    decide: str = ""
    role: Literal["cause", "wrapper", "noise"] = "cause"
    kind: str = ""   # filled in on load: which table it came from
    key: str = ""    # filled in on load: the identifier as written

    @property
    def decisive(self) -> bool:
        return self.role == "cause" and self.cat != "unknown"


_FAILED = re.compile(r"Error|Exception|Fail|Denied|Exceeded|Reached|Exhausted|Insufficient|Invalid|Missing|NotFound"
                     r"|Unavailable|Forbidden|Unauthori[sz]ed|Timeout|TimedOut|Refused|Rejected|Violat|Mismatch|Overflow")


class Taxonomy:
    """Lookups by kind; exception classes also by their dotted suffixes and name parts."""

    def __init__(self, tables: dict[str, dict[str, Entry]]) -> None:
        self.tables = tables
        self._parts = tuple(tables.get("name_parts", {}).items())

    def get(self, kind: str, key: str) -> Entry | None:
        return self.tables.get(kind, {}).get(key)

    def exception(self, name: str) -> Entry | None:
        """`a.b.C` → the entry for `a.b.C`, `b.C` or `C`, else the first name part `C` contains."""
        table = self.tables.get("exception", {})
        parts = name.split(".")
        for i in range(len(parts)):
            hit = table.get(".".join(parts[i:]))
            if hit is not None:
                return hit
        return self.by_name(parts[-1])

    def by_name(self, name: str, *, codes: bool = False) -> Entry | None:
        """The first name part `name` contains: `FooTimeoutError`, or a code such as `INSUFFICIENT_PERMISSIONS`
        or `PublicIPCountLimitReached` that no table lists by itself — names say what failed. A code (`codes`)
        must also say it failed (`_FAILED`): `[KAFKA_CONNECT]` or `ImportStarted` is a tag, not an error."""
        if "_" in name or name.isupper():
            name = "".join(w.capitalize() for w in name.split("_"))
        if codes and _FAILED.search(name) is None:
            return None
        for part, entry in self._parts:
            if part in name:
                return entry
        return None

    def sqlstate(self, code: str) -> Entry | None:
        table = self.tables.get("sqlstate", {})
        return table.get(code) or table.get(code[:2])

    def __len__(self) -> int:
        return sum(len(t) for t in self.tables.values())


@cache
def taxonomy(path: Path = TAXONOMY) -> Taxonomy:
    """Parse and validate the taxonomy once per process."""
    try:
        raw = tomli.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomli.TOMLDecodeError) as e:
        raise TaxonomyError(f"{path}: cannot read the taxonomy: {e}; fix the TOML syntax") from e
    unknown = set(raw) - set(KINDS)
    if unknown:
        raise TaxonomyError(f"{path}: unknown table [{sorted(unknown)[0]}]; allowed: {', '.join(KINDS)}")
    tables: dict[str, dict[str, Entry]] = {}
    for kind, entries in raw.items():
        table = tables[kind] = {}
        for key, value in entries.items():
            try:
                table[key] = Entry.model_validate({**value, "kind": kind, "key": key})
            except (ValidationError, TypeError) as e:
                first = e.errors()[0] if isinstance(e, ValidationError) else {"loc": (), "msg": str(e)}
                where = ".".join(str(p) for p in first["loc"])
                field = f"{where}: " if where else ""
                raise TaxonomyError(f"{path}: [{kind}] {key!r}: {field}{first['msg']}") from None
    return Taxonomy(tables)
