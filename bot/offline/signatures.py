"""The failure-signature library (`signatures.toml`): loading, validation and matching over log lines.

A signature names one way a job fails: a category, regexes with named groups for the specifics, whether a
matching line is a *root cause* or a *symptom*, a priority (which root cause wins when several match) and
summary/action templates. The library is parsed once, on first use, and cached.

Matching is prefiltered: every signature lists lowercase `keywords`, one of which must occur in a line
before its regexes are tried on it, so a 64 KB excerpt costs a few substring scans, not thousands of
regex searches. A signature's regexes are compiled on its first keyword hit: most signatures never fire
in a process, and compiling all ~700 regexes up front dominated a one-shot CLI run. The shipped library
is proven to compile by the test suite (`Library.compile_all`); any other library file is compiled in
full on load, so a typo in it fails at once, naming the file, the signature and the field.
"""

from __future__ import annotations

import bisect
import re
import string
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any, Literal

import ahocorasick
import tomli
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError, ValidationInfo, field_validator

from bot.contract import CATEGORIES, Category
from bot.errors import BotError
from bot.sandbox import Line

LIBRARY = Path(__file__).with_name("signatures.toml")
Role = Literal["root", "symptom"]


class SignatureError(BotError):
    """The signature library is malformed. The message names the file, the signature and the field."""


@dataclass(frozen=True)
class Compiled:
    """A signature's regexes, compiled on first use."""

    patterns: tuple[re.Pattern[str], ...]
    near: tuple[re.Pattern[str], ...]
    context: tuple[re.Pattern[str], ...]
    rest_groups: tuple[int, ...]  # most named groups among patterns[j:]: a later pattern cannot beat that

    @property
    def plain(self) -> bool:
        """No named groups, `near` cues or `context`: a match yields no facts and needs no other line."""
        return not (self.rest_groups and self.rest_groups[0]) and not self.near and not self.context


@dataclass(frozen=True)
class Signature:
    id: str
    name: str
    category: Category            # unknown: recognised but not decisive
    role: Role
    priority: int                 # higher wins among root causes; ties go to the earliest line
    confidence: float
    keywords: tuple[str, ...]
    sources: tuple[str, ...]                    # the `patterns` regexes, as written
    near_sources: tuple[str, ...] = ()          # at least one must match within NEAR_LINES above the line
    context_sources: tuple[str, ...] = ()       # extra facts from nearby lines (nearest first)
    flags: int = 0
    summary: tuple[str, ...] = ()               # first template whose fields are all known is used
    action: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    spans: bool = False                         # a pattern names `\n`: also match over continuation lines
    alt: Category | None = None                 # the other honest reading of this shape (the runner-up)
    alt_why: str = ""                           # why that reading is possible
    decide: str = ""                            # what evidence tells the two apart
    origin: str = field(default="", compare=False)  # the library file, for error messages

    def render(self, templates: tuple[str, ...], facts: dict[str, str]) -> str:
        return render(templates, facts)

    @cached_property
    def compiled(self) -> Compiled:
        """Compile the regexes (once); a bad one raises SignatureError naming file, signature and field."""
        def compile_all(fld: str, sources: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
            out = []
            for p in sources:
                try:
                    out.append(re.compile(p, self.flags))
                except re.error as e:
                    raise SignatureError(f"{self.origin}: signature '{self.id}': {fld}: bad regex {p!r}: {e}") from e
            return tuple(out)

        patterns = compile_all("patterns", self.sources)
        groups = [len(p.groupindex) for p in patterns]
        rest = tuple(max(groups[j:]) for j in range(len(groups)))
        return Compiled(patterns, compile_all("near", self.near_sources),
                        compile_all("context", self.context_sources), rest)

    @property
    def patterns(self) -> tuple[re.Pattern[str], ...]:
        return self.compiled.patterns

    @property
    def near(self) -> tuple[re.Pattern[str], ...]:
        return self.compiled.near

    @property
    def context(self) -> tuple[re.Pattern[str], ...]:
        return self.compiled.context


@dataclass(frozen=True)
class Hit:
    """One signature matched on one line of the excerpt."""

    sig: Signature
    index: int                    # position in the excerpt's line list
    line: Line
    facts: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Library:
    signatures: tuple[Signature, ...]
    keywords: tuple[str, ...]                       # every distinct keyword, in first-seen order
    by_keyword: dict[str, tuple[Signature, ...]]
    gate: Any                                       # an Aho-Corasick automaton over the keywords (pyahocorasick)

    def get(self, sig_id: str) -> Signature | None:
        return next((s for s in self.signatures if s.id == sig_id), None)

    def compile_all(self) -> None:
        """Compile every signature's regexes now; a bad one raises SignatureError with its location."""
        for s in self.signatures:
            s.compiled  # noqa: B018  (the cached compile is the point)


NEAR_LINES = 40
CONTEXT_BEFORE = 30
CONTEXT_AFTER = 6


def _fact(value: str) -> str:
    """A matched value as a person writes it: one line, without the backticks that quote identifiers in Spark,
    MySQL and BigQuery (`analytics`.`orders` is analytics.orders)."""
    return value.strip().replace("\n", " ").replace("`", "")


def render(templates: tuple[str, ...], facts: dict[str, str]) -> str:
    """The first template whose `{fields}` are all in `facts`, filled in; '' when none fits."""
    for t in templates:
        names = {f for _, f, _, _ in string.Formatter().parse(t) if f}
        if names <= facts.keys():
            return t.format_map(facts)
    return ""


@cache
def library(path: Path = LIBRARY) -> Library:
    """Parse the signature library once per process; regexes compile on first use (all at once if not shipped)."""
    try:
        data = tomli.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomli.TOMLDecodeError) as e:
        raise SignatureError(f"{path}: cannot read the signature library: {e}; fix the TOML syntax") from e
    sigs = tuple(_signature(path, i, raw) for i, raw in enumerate(data.get("signature", [])))
    seen: set[str] = set()
    for s in sigs:
        if s.id in seen:
            raise SignatureError(f"{path}: signature '{s.id}': duplicate id; give each entry a unique id")
        seen.add(s.id)
    by_kw: dict[str, list[Signature]] = {}
    for s in sigs:
        for k in s.keywords:
            by_kw.setdefault(k, []).append(s)
    gate = ahocorasick.Automaton()
    for n, k in enumerate(by_kw):
        gate.add_word(k, (n, k))
    gate.make_automaton()
    lib = Library(sigs, tuple(by_kw), {k: tuple(v) for k, v in by_kw.items()}, gate)
    if path != LIBRARY:
        lib.compile_all()
    return lib


class SignatureEntry(BaseModel):
    """One `[[signature]]` table as written in the library file, validated (see signatures.toml's header)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    name: str | None = None
    category: Category
    role: Role = "root"
    priority: int = 50
    confidence: float = 0.8
    keywords: list[str] = Field(min_length=1)
    patterns: list[StrictStr] = Field(min_length=1)
    near: list[StrictStr] = Field(default_factory=list)
    context: list[StrictStr] = Field(default_factory=list)
    summary: str | list[str] = Field(min_length=1)
    action: str | list[str] = Field(default_factory=list)
    examples: str | list[str] = Field(default_factory=list)
    flags: str = ""
    alt: Category | None = None
    alt_why: str = Field(default="", validate_default=True)
    decide: str = ""

    @field_validator("keywords")
    @classmethod
    def _lowercase(cls, v: list[str]) -> list[str]:
        if any(k != k.lower() or not k for k in v):
            raise ValueError("keywords are matched against the lowercased line: write them in lowercase")
        return v

    @field_validator("confidence")
    @classmethod
    def _unit(cls, v: float) -> float:
        if not 0 <= v <= 1:
            raise ValueError("must be within [0, 1]")
        return v

    @field_validator("alt")
    @classmethod
    def _another_reading(cls, v: Category | None, info: ValidationInfo) -> Category | None:
        if v is not None and v in (info.data.get("category"), "unknown"):
            raise ValueError("must name another category than `category` (data, infra or code)")
        return v

    @field_validator("alt_why")
    @classmethod
    def _why_the_other(cls, v: str, info: ValidationInfo) -> str:
        if info.data.get("alt") is not None and not v.strip():
            raise ValueError("required with `alt`: say why the other reading is possible")
        return v

    def signature(self, origin: Path) -> Signature:
        return Signature(
            id=self.id, name=self.name or self.id, category=self.category, role=self.role, priority=self.priority,
            confidence=self.confidence, keywords=tuple(self.keywords), sources=tuple(self.patterns),
            near_sources=tuple(self.near), context_sources=tuple(self.context),
            flags=re.IGNORECASE if "i" in self.flags else 0, summary=_as_tuple(self.summary),
            action=_as_tuple(self.action), examples=_as_tuple(self.examples),
            spans=any("\\n" in p or "\n" in p for p in self.patterns), origin=str(origin),
            alt=self.alt, alt_why=self.alt_why, decide=self.decide,
        )


def _signature(path: Path, i: int, raw: object) -> Signature:
    """The entry as a Signature; a bad one raises SignatureError naming the file, the signature and the field."""
    given = raw.get("id") if isinstance(raw, dict) else None
    sid = given if isinstance(given, str) and given else f"#{i + 1}"
    try:
        return SignatureEntry.model_validate(raw).signature(path)
    except ValidationError as e:
        err = next((x for x in e.errors() if x["type"] == "extra_forbidden"), e.errors()[0])
        fld = str(err["loc"][0]) if err["loc"] else "(entry)"
        kind = err["type"]
        if kind == "extra_forbidden":
            msg = f"unknown field; allowed: {', '.join(sorted(SignatureEntry.model_fields))}"
        elif kind == "literal_error" and fld == "category":
            msg = f"{err.get('input')!r} is not one of {', '.join(CATEGORIES)}"
        elif kind == "literal_error" and fld == "role":
            msg = "must be 'root' or 'symptom'"
        elif fld in ("patterns", "near", "context") and kind == "string_type":
            msg = "write each regex as a TOML string"
        elif kind in ("missing", "too_short"):
            msg = "required"
        else:
            msg = str(err["msg"]).removeprefix("Value error, ")
        raise SignatureError(f"{path}: signature '{sid}': {fld}: {msg}") from None


def _as_tuple(v: str | list[str]) -> tuple[str, ...]:
    return (v,) if isinstance(v, str) else tuple(v)


def scan(lines: list[Line], lib: Library | None = None) -> list[Hit]:
    """Every (signature, line) match in the lines, in line order; at most one hit per signature per line."""
    lib = lib or library()
    if not lines:
        return []
    texts = [ln.text for ln in lines]
    starts, pos = [], 0
    for t in texts:
        starts.append(pos)
        pos += len(t) + 1
    low = "\n".join(texts).lower()
    # signature id -> the lines where one of its keywords occurs; first-seen order decides the order of
    # hits on the same line with the same priority, so it is kept
    # every occurrence of every keyword (overlapping ones too), in text order and, at one position, in the
    # library's order: that order decides the order of hits on the same line with the same priority
    found = sorted((end - len(kw) + 1, n, kw) for end, (n, kw) in lib.gate.iter(low))
    cand: dict[str, tuple[Signature, set[int]]] = {}
    seen: set[tuple[int, int]] = set()
    for start, n, kw in found:
        line = bisect.bisect_right(starts, start) - 1
        if (n, line) in seen:
            continue
        seen.add((n, line))
        for s in lib.by_keyword[kw]:
            if (entry := cand.get(s.id)) is None:
                cand[s.id] = (s, {line})
            else:
                entry[1].add(line)
    hits: list[Hit] = []
    for s, idxs in cand.values():
        c = s.compiled
        if c.plain and not s.spans:  # no named groups, cues or context: the first pattern that matches decides
            hits += [Hit(s, i, lines[i], {}) for i in sorted(idxs) if any(p.search(texts[i]) for p in c.patterns)]
            continue
        for i in sorted(idxs):
            facts = _matched(s, c, texts, i)
            if facts is not None:
                hits.append(Hit(s, i, lines[i], facts))
    hits.sort(key=lambda h: (h.index, -h.sig.priority))
    return hits


_LOG_PREFIX = re.compile(r"^\[[^\]]{6,40}\] \{[^}]{1,60}\} [A-Z]+ - |^\d{4}-\d\d-\d\d[ T][\d:.,]+\s+(?:[A-Z]+\s+)?")
_NEW_RECORD = re.compile(r"^\s*(?:\[\d{4}-|\d{4}-\d\d-\d\d[ T]\d|Traceback \(|File \""
                         r"|During handling|The above exception)")
CONTINUATION_LINES = 2
CONTINUATION_CHARS = 400


def continued(texts: list[str], i: int) -> str:
    """Line `i` joined (with newlines) to up to CONTINUATION_LINES following lines that continue its message.

    A wrapped warehouse error puts its specifics (the column, the table, the pydantic field) on the next
    line or two. A following line continues the message unless it starts a new record (a timestamp, a
    traceback frame); an orchestrator prefix on it (Airflow's `[ts] {file.py:n} INFO - `) is stripped.
    """
    parts = [texts[i]]
    for j in range(i + 1, min(len(texts), i + 1 + CONTINUATION_LINES)):
        t = texts[j]
        stripped = _LOG_PREFIX.sub("", t, count=1)
        if not stripped.strip() or (stripped is t and _NEW_RECORD.match(t)) or _NEW_RECORD.match(stripped):
            break
        parts.append(stripped[:CONTINUATION_CHARS])
    return "\n".join(parts)


def _informative(m: re.Match[str]) -> int:
    return sum(1 for v in m.groupdict().values() if v)


def _match(s: Signature, texts: list[str], i: int) -> dict[str, str] | None:
    return _matched(s, s.compiled, texts, i)


def _matched(s: Signature, c: Compiled, texts: list[str], i: int) -> dict[str, str] | None:
    text = texts[i]
    # the most informative pattern wins (most named groups filled), then the first listed; for a signature
    # whose patterns span lines, a match over the line and its continuation lines that fills more groups wins.
    # Patterns after a match that no later pattern can beat (fewer named groups) are not tried.
    m, best = None, -1
    for p, most in zip(c.patterns, c.rest_groups, strict=True):
        if best >= most:
            break
        if (found := p.search(text)) is not None and (n := _informative(found) if most else 0) > best:
            m, best = found, n
    if m is None:
        return None
    if s.spans and i + 1 < len(texts):
        joined = continued(texts, i)
        if joined != text:
            more = [jm for p in c.patterns if (jm := p.search(joined)) and jm.start() < len(text)]
            if more and _informative(wider := max(more, key=_informative)) > _informative(m):
                m = wider
    if c.near and not any(p.search(t) for t in texts[max(0, i - NEAR_LINES):i + 1] for p in c.near):
        return None
    facts = {k: _fact(v) for k, v in m.groupdict().items() if v}
    if c.context:
        above = range(i, max(-1, i - CONTEXT_BEFORE - 1), -1)
        window = [*above, *range(i + 1, min(len(texts), i + CONTEXT_AFTER + 1))]
        for p in c.context:
            for j in window:
                cm = p.search(texts[j])
                if cm:
                    for k, v in cm.groupdict().items():
                        if v and k not in facts:
                            facts[k] = _fact(v)
                    break
    return facts
