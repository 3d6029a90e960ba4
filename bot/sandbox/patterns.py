"""Regexes we did not write — a model's grep pattern, `[alerts] patterns`, `[redaction] patterns` — run on RE2.

Python's `re` backtracks: one pattern like `(a+)+$` on a line of 30 a's takes minutes, holding the GIL
(in-process mode) or the reader worker, and cannot be interrupted. RE2 compiles every pattern to an automaton
whose matching time is linear in the text, so no pattern can do that. What RE2 cannot compile (lookaround,
backreferences, atomic groups, possessive repeats) is refused here with a message saying what to write
instead: these patterns are written by a model or by a person reading an error, and the message is all they see.
"""

from __future__ import annotations

import re2

TYPE_CHECKING = False  # not `typing`: the restricted reader imports this module and starts faster without it
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any, Protocol

    class LinearPattern(Protocol):
        """What we use of a compiled RE2 pattern (`re2` ships no type hints); the same as `re.Pattern`'s."""

        @property
        def groups(self) -> int: ...
        def search(self, text: Any, pos: int | None = None, endpos: int | None = None) -> Any: ...
        def finditer(self, text: Any, pos: int | None = None, endpos: int | None = None) -> Iterator[Any]: ...
        def sub(self, repl: str | Callable[[Any], str], text: str, count: int = 0) -> str: ...

MAX_PATTERN = 512   # a model's pattern this long is a mistake; RE2's own cap is on the compiled size


class PatternRefused(ValueError):
    """The pattern is invalid or uses what RE2 does not support; the message says what to write instead."""


def compile_linear(pattern: str, *, ignore_case: bool = False, multiline: bool = False,
                   capture: bool = True) -> LinearPattern:
    """`pattern` compiled with RE2 (`multiline`: ^ and $ at line ends; `capture=False`: match only, faster).
    Raises PatternRefused with a hint."""
    if len(pattern) > MAX_PATTERN:
        raise PatternRefused(f"pattern too long ({len(pattern)} > {MAX_PATTERN} characters); search for a "
                             "shorter distinctive word")
    options = re2.Options()
    options.log_errors = False          # RE2 would also print each refusal on stderr
    options.case_sensitive = not ignore_case
    options.never_capture = not capture
    try:
        compiled: LinearPattern = re2.compile(f"(?m){pattern}" if multiline else pattern, options)
        return compiled
    except re2.error as e:
        reason = e.args[0].decode(errors="replace") if e.args and isinstance(e.args[0], bytes) else str(e)
        raise PatternRefused(_hint(reason, pattern)) from None
    except UnicodeEncodeError:          # a lone surrogate (from JSON "\\ud800") is no text RE2 can hold
        raise PatternRefused("the pattern is not valid Unicode text; remove the escaped surrogate") from None


# RE2's error text → what to write instead (RE2 syntax: https://github.com/google/re2/wiki/Syntax).
_HINTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("(?<=", "(?<!"), "lookbehind (?<=…) / (?<!…) is not supported; put the text before it in the pattern "
     "(user=\\w+ instead of (?<=user=)\\w+), or capture the part you want in a group"),
    (("(?=", "(?!"), "lookahead (?=…) / (?!…) is not supported; put the text after it in the pattern "
     "(timeout after instead of timeout(?= after)), or grep again for what must not follow"),
    ((*(f"\\{d}" for d in range(1, 10)), "(?P=", "\\k"), "backreferences (\\1, (?P=name)) are not "
     "supported; write the repeated text out, or grep for its first occurrence and read the lines"),
    (("(?>", "*+", "++", "?+", "}+"), "atomic groups (?>…) and possessive repeats (a*+) are not needed: "
     "matching never backtracks here; drop the ?> or the extra +"),
    (("\\Z",), "\\Z is not supported; use $ (end of line) or \\z (end of text)"),
    (("repetition size",), "a repeat count above 1000 is not supported; use + or a smaller count"),
    (("too large",), "the pattern compiles too large; use a shorter one, without large counted repeats"),
)


def _hint(reason: str, pattern: str) -> str:
    if reason.endswith("(?P") and "(?P=" in pattern:   # RE2 quotes only the "(?P" of a (?P=name) backreference
        reason += "="
    for marks, hint in _HINTS:
        if any(m in reason for m in marks):
            return f"{hint} (patterns run on RE2, which guarantees linear time)"
    return f"not a valid regular expression ({reason}); fix the pattern or search for a plain word"
