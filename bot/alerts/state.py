"""Is this message a final failure? One token pass over every part of the message, no backtracking.

A message is a failure alert when it states a failure *state* (failed, errored, crashed, timed out, entered state
Failed, Ended Not OK, `[FIRING]`, `ALARM: "…"`, ❌ / :x: / :red_circle: / :rotating_light:, a
`danger`/red attachment) and no non-final or non-failure state: a recovery (recovered, resolved, back to normal),
a retry (retrying, up for retry), a late / SLA warning (unless `[alerts] late_is_failure`), or — when it comes
first — a success, deploy, cancel or warning notice.
Words inside error excerpts (code blocks, preformatted text, fields such as "Error" or "Message") count only as
failure evidence: a log line saying "Retrying…" inside a final failure does not make it a retry notice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.alerts.text import Message

WORD_RE = re.compile(r"[a-z0-9]+")
# a message's tokens: words, and names joined by _ . / or - (a job `cancelled_orders`, a run `shipped-orders-7xk2p`)
TOKEN_RE = re.compile(r"[a-z0-9]+(?:[_./\-][a-z0-9]+)*")
COUNT_RE = re.compile(r"[ \t]*[=:][ \t]*(\d+)\b")   # `ERROR=2`, `Errors: 3`: a count, not a statement
_NAME = "\x00"   # a name: part of no phrase, negates nothing
SHORTCODE_RE = re.compile(r":([a-z0-9_+\-]{1,40}):")
# `[Triggered]` (Datadog), `[FIRING:2]` / `[RESOLVED]` (Alertmanager's default title), `[Warn]`
BRACKET_RE = re.compile(r"\[\s?(re-?triggered|triggered|recovered|resolved|ok|warn|warning|no data|firing)"
                        r"(?::\d+)?\s?\]")
# CloudWatch's alarm notification opens with the alarm's new state: `ALARM: "<name>" in <region>`, `OK: "<name>" …`
LEAD_STATE_RE = re.compile(r'^\s*(alarm|ok|insufficient[_ ]data):[ \t]*"')

FAILURE = "failure"
SUCCESS = "success"
RECOVERED = "recovered"
RETRY = "retry"
LATE = "late"
DEPLOY = "deploy"
CANCELLED = "cancelled"
WARNING = "warning"
WEAK_SUCCESS = "weak-success"
WEAK_FAILURE = "weak-failure"

_PHRASES: dict[str, tuple[str, ...]] = {
    FAILURE: ("failed", "failure", "failures", "fail", "fails", "failing", "errored", "error", "errors", "crashed",
              "timed out", "timedout", "timeout", "oomkilled", "unsuccessful", "exception",
              # Control-M's "Ended Not OK", Azure Monitor's "Monitor condition: Fired", a killed process
              "notok", "ended not ok", "condition fired", "was fired", "was killed", "were killed", "got killed",
              "been killed", "killed by signal"),
    SUCCESS: ("succeeded", "success", "successful", "successfully", "succeed", "succeeds"),
    WEAK_SUCCESS: ("completed", "finished", "passed", "healthy"),
    RECOVERED: ("recovered", "resolved", "back to normal", "alert closed", "incident closed", "is ok again"),
    RETRY: ("retrying", "up for retry", "will retry", "will be retried", "awaitingretry", "awaiting retry",
            "retry in", "retry scheduled", "rescheduled for retry"),
    LATE: ("sla miss", "sla missed", "missed sla", "missed its sla", "missed the sla", "sla breach", "sla breached",
           "sla was missed", "running late", "is late", "minutes late", "hours late", "state late", "overdue"),
    DEPLOY: ("deployed", "deploying", "released", "rolled out", "rolling out", "shipped", "is live", "now live"),
    CANCELLED: ("cancelled", "canceled", "aborted by"),
    WARNING: ("warning", "warn", "warns"),
    # a process's exit with a code (`exit status 137`; `… 0` or no code says nothing): a later success outranks it
    WEAK_FAILURE: ("triggered", "critical", "alerting", "down", "exit status", "exit code", "non zero exit",
                   "nonzero exit"),
}
FAILURE_EMOJI = frozenset({"x", "red_circle", "rotating_light", "no_entry", "no_entry_sign", "boom", "fire",
                           "heavy_multiplication_x", "bangbang", "sos", "skull", "alert", "siren", "red_siren",
                           "small_red_triangle", "octagonal_sign", "broken_heart", "this-is-fine-fire"})
SUCCESS_EMOJI = frozenset({"white_check_mark", "heavy_check_mark", "large_green_circle", "green_circle", "tada",
                           "check", "ballot_box_with_check"})
FAILURE_CHARS = frozenset("❌🔴🚨⛔💥🛑✖❗🆘")
SUCCESS_CHARS = frozenset("✅✔🟢🎉")
_MARKER_CHARS = FAILURE_CHARS | SUCCESS_CHARS
MAX_MARKERS = 50            # emoji shortcodes read per part: a wall of :x: says no more than the first few
_NEGATORS = frozenset({"not", "no", "never", "without", "0", "zero", "cannot", "couldn", "didn", "wasn", "isn", "t",
                       "won", "nothing"})
_EXIT = frozenset({("exit", "status"), ("exit", "code")})
_LEAD_KIND = {"alarm": FAILURE, "ok": RECOVERED}   # INSUFFICIENT_DATA: a warning
_BRACKET_KIND = {"firing": FAILURE, "triggered": FAILURE, "re-triggered": FAILURE, "retriggered": FAILURE,
                 "recovered": RECOVERED, "resolved": RECOVERED, "ok": RECOVERED, "warn": WARNING, "warning": WARNING,
                 "no data": WARNING}
RED_COLORS = frozenset({"danger", "red", "#ff0000", "#f00", "#d00000", "#e01e5a", "#eb0000", "#dc3545", "#cc0000",
                        "#a30200", "#e74c3c", "#d9534f", "#ff0033", "#b22222", "#c0392b", "#ea4335"})
GREEN_COLORS = frozenset({"good", "green", "#36a64f", "#2eb886", "#008000", "#00ff00", "#2ecc71", "#28a745",
                          "#5cb85c", "#2eb67d", "#00c853"})


@dataclass(frozen=True)
class Hit:
    kind: str
    phrase: str
    order: int
    where: str
    quoted: bool


@dataclass(frozen=True)
class Verdict:
    failure: bool
    reason: str
    hits: tuple[Hit, ...] = ()


def _index(phrases: Mapping[str, Iterable[str]]) -> dict[str, list[tuple[tuple[str, ...], str]]]:
    idx: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for kind, items in phrases.items():
        for p in items:
            words = tuple(WORD_RE.findall(p.lower()))
            if words:
                idx.setdefault(words[0], []).append((words, kind))
    for entries in idx.values():
        entries.sort(key=lambda e: -len(e[0]))     # longest phrase first at each position
    return idx


_DEFAULT_INDEX = _index(_PHRASES)


def scan(msg: Message, failure_words: Sequence[str] | None = None) -> list[Hit]:
    """Every state phrase, marker and bracket tag in reading order."""
    index = _DEFAULT_INDEX
    if failure_words:   # the team's own vocabulary replaces the built-in failure words (docs/slack.md)
        index = _index({**_PHRASES, FAILURE: tuple(failure_words), WEAK_FAILURE: ()})
    hits: list[Hit] = []
    order = 0
    for part in msg.parts:
        low = part.text.lower()
        for m in BRACKET_RE.finditer(low) if not part.quoted else ():
            if _opens_line(low, m.start()):
                hits.append(Hit(_BRACKET_KIND[m.group(1)], m.group(0), order + m.start(), part.where, part.quoted))
        if (lead := LEAD_STATE_RE.match(low)) is not None:
            state = _LEAD_KIND.get(lead.group(1), WARNING)
            hits.append(Hit(state, lead.group(0).rstrip(' \t"'), order + lead.start(1), part.where, part.quoted))
        for i, m in enumerate(SHORTCODE_RE.finditer(low)):
            if i >= MAX_MARKERS:
                break
            name = m.group(1)
            kind = FAILURE if name in FAILURE_EMOJI else SUCCESS if name in SUCCESS_EMOJI else None
            if kind:
                hits.append(Hit(kind, m.group(0), order + m.start(), part.where, part.quoted))
        if not _MARKER_CHARS.isdisjoint(part.text):
            for pos, ch in enumerate(part.text):
                if ch in _MARKER_CHARS:
                    hits.append(Hit(FAILURE if ch in FAILURE_CHARS else SUCCESS, ch, order + pos, part.where,
                                    part.quoted))
        words = _words(low)
        spent = 0          # words of phrases already read: their "not" (`Ended Not OK`) negates nothing after them
        for i, (w, pos, _end) in enumerate(words):
            for phrase, kind in index.get(w, ()):
                if tuple(x for x, _, _ in words[i:i + len(phrase)]) != phrase:
                    continue
                last_end = words[i + len(phrase) - 1][2]
                count = COUNT_RE.match(low, last_end) if len(phrase) == 1 else None
                if count is not None:      # a tally: only failures counted above zero say anything
                    if kind == FAILURE and int(count.group(1)) > 0:
                        hits.append(Hit(kind, " ".join(phrase), order + pos, part.where, part.quoted))
                    break
                before = {x for x, _, _ in words[max(0, i - 2, spent):i]}
                after = words[i + len(phrase)][0] if i + len(phrase) < len(words) else ""
                if phrase in _EXIT and not (after.isdigit() and int(after) != 0):
                    break                  # `exit code was fine`: an exit states a failure only with its code
                if not (before & _NEGATORS or (kind == FAILURE and after in ("0", "none"))):
                    hits.append(Hit(kind, " ".join(phrase), order + pos, part.where, part.quoted))
                    spent = i + len(phrase)
                break
        order += len(part.text) + 1
    hits.sort(key=lambda h: h.order)
    return hits


_LEAD_NOISE = re.compile(r"\[[^\]\n]{0,40}\]|:[a-z0-9_+\-]{1,40}:")


def _opens_line(low: str, start: int) -> bool:
    """A state tag opens its line (after emoji or other tags such as Datadog's `[P1]`): `[FIRING:1] …` is the
    alert's state, while one quoted later in a sentence ("Silence created for [FIRING:1] …") names it."""
    lead = _LEAD_NOISE.sub("", low[low.rfind("\n", 0, start) + 1:start])
    return "`" not in lead and not any(ch.isalnum() for ch in lead)


def _words(low: str) -> list[tuple[str, int, int]]:
    """(word, start, end) in reading order. A name (`cancelled_orders`, `etl.failed_jobs`, a k8s-style
    `shipped-orders-7xk2p`) is one opaque token, so the words inside it state nothing; a plain hyphenated word
    (`timed-out`) is its words. A count's number (`WARN=0`) is opaque too: it does not negate what follows."""
    out: list[tuple[str, int, int]] = []
    for m in TOKEN_RE.finditer(low):
        tok, start = m.group(0), m.start()
        parts = tok.split("-")
        if any(c in tok for c in "_./") or len(parts) > 2 or (len(parts) == 2 and any(ch.isdigit() for ch in tok)):
            out.append((_NAME, start, m.end()))
            continue
        offset = start
        for part in parts:
            counted = part.isdigit() and out and COUNT_RE.fullmatch(low[out[-1][2]:offset + len(part)]) is not None
            out.append((_NAME if counted else part, offset, offset + len(part)))
            offset += len(part) + 1
    return out


def decide(msg: Message, *, failure_words: Sequence[str] | None = None, late_is_failure: bool = False) -> Verdict:
    hits = scan(msg, failure_words)
    prose = [h for h in hits if not h.quoted]

    def said(h: Hit) -> str:
        return f"'{h.phrase}' in {h.where}"

    for h in prose:
        if h.kind == RECOVERED:
            return Verdict(False, f"a recovery, not a failure ({said(h)})", tuple(hits))
        if h.kind == RETRY:
            return Verdict(False, f"a retry notice, not a final failure ({said(h)})", tuple(hits))
    late = next((h for h in prose if h.kind == LATE), None)
    if late and not late_is_failure:
        return Verdict(False, f"a late / SLA warning, not a failure ({said(late)}); set [alerts] late_is_failure = "
                              "true to triage these", tuple(hits))
    decisive = [h for h in prose if h.kind in (FAILURE, SUCCESS, DEPLOY, CANCELLED, WARNING)
                or (h.kind == LATE and late_is_failure)]
    if decisive:
        first = decisive[0]
        if first.kind in (FAILURE, LATE):
            return Verdict(True, f"failure state {said(first)}", tuple(hits))
        label = {SUCCESS: "a success notice", DEPLOY: "a deploy announcement", CANCELLED: "a cancelled run",
                 WARNING: "a warning"}[first.kind]
        return Verdict(False, f"{label} ({said(first)} comes before any failure word)", tuple(hits))
    quoted_fail = next((h for h in hits if h.kind == FAILURE), None)
    weak_ok = next((h for h in prose if h.kind == WEAK_SUCCESS), None)
    if quoted_fail and not weak_ok:
        return Verdict(True, f"failure state {said(quoted_fail)}", tuple(hits))
    colors = [c.strip().lower() for c in msg.colors]
    if any(c in RED_COLORS or _reddish(c) for c in colors) and not weak_ok:
        return Verdict(True, f"attachment colour {next(c for c in colors if c in RED_COLORS or _reddish(c))}",
                       tuple(hits))
    if weak_ok:
        return Verdict(False, f"a success notice ({said(weak_ok)})", tuple(hits))
    weak = next((h for h in prose if h.kind == WEAK_FAILURE), None)
    if weak:
        return Verdict(True, f"alert state {said(weak)}", tuple(hits))
    return Verdict(False, "no failure state found (failed, error, crashed, timed out, :x:, a red attachment…)",
                   tuple(hits))


def _reddish(color: str) -> bool:
    """#rrggbb with a strong red and weak green/blue."""
    c = color.lstrip("#")
    if len(c) != 6 or any(ch not in "0123456789abcdef" for ch in c):
        return False
    r, g, b = int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)
    return r >= 0xB0 and g <= 0x60 and b <= 0x70
