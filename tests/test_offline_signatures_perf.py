"""The signature library's fast paths: lazy regex compilation (still located errors, still all compiled by
the suite), the keyword gate over overlapping keywords, and the early stop among a signature's patterns."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.offline import signatures
from bot.offline.signatures import SignatureError, library, scan
from bot.sandbox import Line


def lines_of(*texts: str) -> list[Line]:
    return [Line(i, t) for i, t in enumerate(texts, 1)]


def write_library(path: Path, *entries: str) -> Path:
    path.write_text("\n".join(f"[[signature]]\n{e}" for e in entries))
    return path


def test_signatures_every_shipped_pattern_compiles():
    lib = library()
    lib.compile_all()
    for sig in lib.signatures:
        c = sig.compiled
        assert [p.pattern for p in c.patterns] == list(sig.sources), sig.id
        assert [p.pattern for p in c.near] == list(sig.near_sources), sig.id
        assert [p.pattern for p in c.context] == list(sig.context_sources), sig.id


@pytest.mark.parametrize("fld", ["patterns", "near", "context"])
def test_signatures_custom_library_bad_regex_fails_on_load_located(tmp_path: Path, fld: str):
    regexes = {"patterns": '["ok"]', "near": "[]", "context": "[]"} | {fld: '["(unclosed"]'}
    bad = write_library(tmp_path / f"sigs_{fld}.toml",
                        f'id = "x.broken"\ncategory = "data"\nkeywords = ["ok"]\nsummary = "s"\n'
                        f'patterns = {regexes["patterns"]}\nnear = {regexes["near"]}\ncontext = {regexes["context"]}')
    with pytest.raises(SignatureError) as e:
        library(bad)
    assert str(bad) in str(e.value) and "'x.broken'" in str(e.value) and f": {fld}: bad regex" in str(e.value)


def test_signatures_shipped_library_bad_regex_fails_on_first_hit_located(tmp_path: Path, monkeypatch):
    shipped = write_library(tmp_path / "shipped.toml",
                            'id = "x.fine"\ncategory = "infra"\nkeywords = ["fine"]\n'
                            'patterns = ["fine"]\nsummary = "s"',
                            'id = "x.broken"\ncategory = "data"\nkeywords = ["broken"]\npatterns = ["broken"]\n'
                            'context = ["(?P<x>unclosed"]\nsummary = "s"')
    monkeypatch.setattr(signatures, "LIBRARY", shipped)
    lib = library(shipped)  # compiles lazily: a signature that never fires costs nothing
    assert [h.sig.id for h in scan(lines_of("all fine here"), lib)] == ["x.fine"]
    with pytest.raises(SignatureError, match=r"shipped\.toml: signature 'x\.broken': context: bad regex"):
        scan(lines_of("something broken"), lib)
    with pytest.raises(SignatureError, match=r"'x\.broken': context"):
        lib.compile_all()


def test_scan_gate_finds_keywords_that_overlap_or_nest(tmp_path: Path):
    # "error rate" starts inside "timeout error"; "exception" and "ion" sit inside "ioexception"
    lib = library(write_library(
        tmp_path / "sigs.toml",
        'id = "a.timeout"\ncategory = "infra"\nkeywords = ["timeout error"]\npatterns = ["[Tt]imeout"]\nsummary = "s"',
        'id = "b.rate"\ncategory = "infra"\nkeywords = ["error rate"]\npatterns = ["rate"]\nsummary = "s"',
        'id = "c.ioexc"\ncategory = "infra"\nkeywords = ["ioexception"]\npatterns = ["IOException"]\nsummary = "s"',
        'id = "d.exc"\ncategory = "code"\nkeywords = ["exception"]\npatterns = ["Exception"]\nsummary = "s"',
        'id = "e.ion"\ncategory = "code"\nkeywords = ["ion"]\npatterns = ["ion"]\nsummary = "s"',
    ))
    hits = scan(lines_of("Timeout error rate too high", "java.io.IOException: x", "nothing here"), lib)
    assert {(h.sig.id, h.index) for h in hits} == {("a.timeout", 0), ("b.rate", 0), ("c.ioexc", 1),
                                                   ("d.exc", 1), ("e.ion", 1)}


def test_scan_most_informative_pattern_wins_then_first_listed(tmp_path: Path):
    lib = library(write_library(
        tmp_path / "sigs.toml",
        'id = "a.more"\ncategory = "data"\nkeywords = ["boom"]\nsummary = "s"\n'
        'patterns = ["boom", "(?P<what>boom) (?P<where>\\\\w+)", "(?P<only>boom)"]',
        'id = "b.first"\ncategory = "data"\nkeywords = ["bang"]\nsummary = "s"\n'
        'patterns = ["(?P<first>bang)", "(?P<second>bang)", "bang"]',
    ))
    facts = {h.sig.id: h.facts for h in scan(lines_of("boom here, bang"), lib)}
    assert facts == {"a.more": {"what": "boom", "where": "here"}, "b.first": {"first": "bang"}}
