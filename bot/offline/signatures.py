"""The failure-signature library (`signatures.toml`): loading, validation and matching over log lines.

A signature names one way a job fails: a category, regexes with named groups for the specifics, whether a
matching line is a *root cause* or a *symptom*, a priority (which root cause wins when several match) and
summary/action templates. The library is parsed and compiled once, on first use, and cached.

Matching is prefiltered: every signature lists lowercase `keywords`, one of which must occur in a line
before its regexes are tried on it, so a 64 KB excerpt costs a few substring scans, not thousands of
regex searches.
"""

from __future__ import annotations

import bisect
import re
import string
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

from bot.errors import BotError
from bot.report import CATEGORIES
from bot.sandbox import Line

LIBRARY = Path(__file__).with_name("signatures.toml")
Role = Literal["root", "symptom"]
_FIELDS = {"id", "name", "category", "role", "priority", "confidence", "keywords", "patterns", "near",
           "context", "summary", "action", "examples", "flags"}


class SignatureError(BotError):
    """The signature library is malformed. The message names the file, the signature and the field."""


@dataclass(frozen=True)
class Signature:
    id: str
    name: str
    category: str                 # data | infra | code | unknown (unknown: recognised but not decisive)
    role: Role
    priority: int                 # higher wins among root causes; ties go to the earliest line
    confidence: float
    keywords: tuple[str, ...]
    patterns: tuple[re.Pattern[str], ...]
    near: tuple[re.Pattern[str], ...] = ()      # at least one must match within NEAR_LINES above the line
    context: tuple[re.Pattern[str], ...] = ()   # extra facts from nearby lines (nearest first)
    summary: tuple[str, ...] = ()               # first template whose fields are all known is used
    action: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    spans: bool = False                         # a pattern names `\n`: also match over continuation lines

    def render(self, templates: tuple[str, ...], facts: dict[str, str]) -> str:
        return render(templates, facts)


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
    keywords: tuple[str, ...]                       # every distinct keyword
    by_keyword: dict[str, tuple[Signature, ...]]
    gate: re.Pattern[str]                           # finds the longest keyword starting at every position
    prefixes: dict[str, tuple[str, ...]]            # keyword -> the keywords it starts with (itself included)

    def get(self, sig_id: str) -> Signature | None:
        return next((s for s in self.signatures if s.id == sig_id), None)


NEAR_LINES = 40
CONTEXT_BEFORE = 30
CONTEXT_AFTER = 6


def render(templates: tuple[str, ...], facts: dict[str, str]) -> str:
    """The first template whose `{fields}` are all in `facts`, filled in; '' when none fits."""
    for t in templates:
        names = {f for _, f, _, _ in string.Formatter().parse(t) if f}
        if names <= facts.keys():
            return t.format_map(facts)
    return ""


@cache
def library(path: Path = LIBRARY) -> Library:
    """Parse and compile the signature library once per process."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
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
    kws = tuple(by_kw)
    return Library(sigs, kws, {k: tuple(v) for k, v in by_kw.items()},
                   gate=re.compile("(?=(" + _trie_regex(kws) + "))"),
                   prefixes={k: tuple(j for j in kws if k.startswith(j)) for k in kws})


def _trie_regex(words: tuple[str, ...]) -> str:
    """One regex for many literals, factored as a trie: per position it costs the keyword depth, not the count."""
    trie: dict = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict) -> str:
        alts = [re.escape(ch) + build(sub) for ch, sub in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if "" in node else body  # greedy: the longest keyword at a position

    return build(trie)


def _signature(path: Path, i: int, raw: dict) -> Signature:
    sid = raw.get("id") or f"#{i + 1}"

    def bad(fld: str, msg: str) -> SignatureError:
        return SignatureError(f"{path}: signature '{sid}': {fld}: {msg}")

    unknown = set(raw) - _FIELDS
    if unknown:
        raise bad(sorted(unknown)[0], f"unknown field; allowed: {', '.join(sorted(_FIELDS))}")
    for req in ("id", "category", "keywords", "patterns", "summary"):
        if not raw.get(req):
            raise bad(req, "required")
    if raw["category"] not in CATEGORIES:
        raise bad("category", f"{raw['category']!r} is not one of {', '.join(CATEGORIES)}")
    role = raw.get("role", "root")
    if role not in ("root", "symptom"):
        raise bad("role", "must be 'root' or 'symptom'")
    kws = tuple(raw["keywords"])
    if any(k != k.lower() or not k for k in kws):
        raise bad("keywords", "keywords are matched against the lowercased line: write them in lowercase")
    flags = re.IGNORECASE if "i" in raw.get("flags", "") else 0

    def compile_all(fld: str) -> tuple[re.Pattern[str], ...]:
        out = []
        for p in raw.get(fld, []):
            try:
                out.append(re.compile(p, flags))
            except re.error as e:
                raise bad(fld, f"bad regex {p!r}: {e}") from e
        return tuple(out)

    conf = float(raw.get("confidence", 0.8))
    if not 0 <= conf <= 1:
        raise bad("confidence", "must be within [0, 1]")
    return Signature(
        id=sid, name=raw.get("name", sid), category=raw["category"], role=role,  # type: ignore[arg-type]
        priority=int(raw.get("priority", 50)), confidence=conf, keywords=kws,
        patterns=compile_all("patterns"), near=compile_all("near"), context=compile_all("context"),
        summary=_as_tuple(raw["summary"]), action=_as_tuple(raw.get("action", ())),
        examples=_as_tuple(raw.get("examples", ())),
        spans=any("\\n" in p or "\n" in p for p in raw.get("patterns", [])),
    )


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
    cand: dict[str, set[int]] = {}
    sig_of: dict[str, Signature] = {}
    seen: set[tuple[str, int]] = set()
    for m in lib.gate.finditer(low):
        line = bisect.bisect_right(starts, m.start()) - 1
        if (m[1], line) in seen:
            continue
        seen.add((m[1], line))
        for k in lib.prefixes[m[1]]:
            for s in lib.by_keyword[k]:
                cand.setdefault(s.id, set()).add(line)
                sig_of[s.id] = s
    hits: list[Hit] = []
    for sid, idxs in cand.items():
        s = sig_of[sid]
        for i in sorted(idxs):
            facts = _match(s, texts, i)
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
    text = texts[i]
    found = [m for p in s.patterns if (m := p.search(text))]
    if not found:
        return None
    # the most informative pattern wins (most named groups filled), then the first listed; for a signature
    # whose patterns span lines, a match over the line and its continuation lines that fills more groups wins
    m = max(found, key=_informative)
    if s.spans and i + 1 < len(texts):
        joined = continued(texts, i)
        if joined != text:
            more = [jm for p in s.patterns if (jm := p.search(joined)) and jm.start() < len(text)]
            if more and _informative(best := max(more, key=_informative)) > _informative(m):
                m = best
    if s.near and not any(p.search(t) for t in texts[max(0, i - NEAR_LINES):i + 1] for p in s.near):
        return None
    facts = {k: v.strip().replace("\n", " ") for k, v in m.groupdict().items() if v}
    if s.context:
        above = range(i, max(-1, i - CONTEXT_BEFORE - 1), -1)
        window = [*above, *range(i + 1, min(len(texts), i + CONTEXT_AFTER + 1))]
        for p in s.context:
            for j in window:
                cm = p.search(texts[j])
                if cm:
                    for k, v in cm.groupdict().items():
                        if v and k not in facts:
                            facts[k] = v.strip()
                    break
    return facts
