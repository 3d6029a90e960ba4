"""Model-supplied grep patterns are checked before they run: Python's regex engine backtracks, holds the
GIL while it does, and cannot be interrupted, so one pattern like `(a|aa)*c` would freeze the event loop
(in-process mode) or the reader worker until it is killed.

Refused: patterns longer than MAX_PATTERN, and the shapes that backtrack exponentially — a repeated group
whose body can itself match in more than one way (a nested unbounded repeat `(a+)+`, `(?:a*)*`, or an
alternation `(a|aa)*`). Single-character alternations (`(a|b)*`) are a character class to the parser and
pass, as do bounded repeats of a fixed-length group. A heuristic over the parsed pattern, not a proof.
"""

from __future__ import annotations

from typing import Any

MAX_PATTERN = 512
_BIG = 16                         # a repeat allowing more than this many iterations counts as unbounded


class UnsafePattern(ValueError):
    """The pattern is too long or can backtrack catastrophically; the message says how to rewrite it."""


def check_pattern(pattern: str) -> None:
    """Raise UnsafePattern (or re.error for invalid syntax) for a pattern grep must not run."""
    if len(pattern) > MAX_PATTERN:
        raise UnsafePattern(f"pattern too long ({len(pattern)} > {MAX_PATTERN} characters); search for a "
                            "shorter distinctive word")
    try:
        # re's private parser (sre_parse's home since 3.11), which typeshed does not declare
        from re import _parser as parser  # type: ignore[attr-defined]
    except ImportError:                   # pragma: no cover - only the length cap then
        return
    tree = parser.parse(pattern)
    if (why := _walk(tree.data if hasattr(tree, "data") else list(tree), parser)) is not None:
        raise UnsafePattern(f"pattern can backtrack catastrophically ({why}); use a plain word or a "
                            "pattern without a repeated group that contains a repeat or an alternation")


def _walk(items: list[Any], p: Any) -> str | None:
    for op, av in items:
        if op in (p.MAX_REPEAT, p.MIN_REPEAT, getattr(p, "POSSESSIVE_REPEAT", None)):
            _, hi, body = av
            unbounded = op != getattr(p, "POSSESSIVE_REPEAT", None) and (hi == p.MAXREPEAT or hi > _BIG)
            if unbounded and (inner := _ambiguous(list(body), p)) is not None:
                return f"a repeated group containing {inner}"
            if (why := _walk(list(body), p)) is not None:
                return why
        elif op == p.SUBPATTERN:
            if (why := _walk(list(av[-1]), p)) is not None:
                return why
        elif op == p.BRANCH:
            for alt in av[1]:
                if (why := _walk(list(alt), p)) is not None:
                    return why
        elif op in (p.ASSERT, p.ASSERT_NOT) and (why := _walk(list(av[1]), p)) is not None:
            return why
    return None


def _ambiguous(items: list[Any], p: Any) -> str | None:
    """What in a repeated body lets it match the same text in more than one way, or None."""
    for op, av in items:
        if op in (p.MAX_REPEAT, p.MIN_REPEAT) and av[0] != av[1]:     # a fixed count like \d{4} is fine
            return "a variable-length repeat" if av[1] > 1 else "an optional part"
        if op == p.BRANCH:
            return "an alternation"
        if op == p.SUBPATTERN and (inner := _ambiguous(list(av[-1]), p)) is not None:
            return inner
    return None


