"""Classify a failed run from its log excerpt with the signature library (`signatures.toml`).

The root error wins over follow-on noise: only *root* signatures can decide; the highest priority band
wins and, inside a band, the earliest line (causal order). Symptoms (wrappers, retries, exit codes) only
add context. With no decisive root in the log, the alert's text is tried as weak evidence; failing that
the answer is `unknown` with a confidence below 0.4.
"""

from __future__ import annotations

import re

from bot.offline.signatures import Hit, scan
from bot.report import Alert, Classification, Evidence
from bot.sandbox import Excerpt, Line

MAX_EVIDENCE = 5
MAX_FACT = 160
ALERT_PATH = "(alert text)"
ALERT_DISCOUNT = 0.7
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line_no>\d+)(?:, in (?P<function>\S+))?')
_LIBRARY_FRAME = re.compile(r"site-packages|dist-packages|/lib/python\d|<frozen|/usr/lib/")


def classify(excerpt: Excerpt | None, alert: Alert) -> Classification:
    """Decide data | infra | code | unknown from the excerpt (and, weakly, the alert's text)."""
    lines = excerpt.lines if excerpt else []
    path = excerpt.path if excerpt else ALERT_PATH
    hits = scan(lines)
    winner = _decide(hits, lines)
    if winner is not None:
        return _decided(winner, hits, lines, path)
    from_alert = _from_alert(alert)
    if from_alert is not None:
        return from_alert
    return _undecided(hits, path, has_log=excerpt is not None)


_RETRY_NOTICE = re.compile(r"\b(?:Retrying|retrying|Will retry|will retry|Retry attempt|retry in \d)\b"
                           r"(?!.*\b(?:giving up|exhausted|gave up)\b)")
_ATTEMPT = re.compile(r"Starting attempt \d+ of \d+|Marking task as UP_FOR_RETRY"
                      r"|\b(?:[Aa]ttempt|[Rr]etry) #?\d+ of \d+\b(?! (?:failed|error))")
# literals every match of the regex above contains: a line without them is not searched (error spam is long)
_RETRY_WORDS = ("etrying", "ill retry", "Retry attempt", "retry in ")


def _retry_notice(text: str) -> bool:
    return any(w in text for w in _RETRY_WORDS) and _RETRY_NOTICE.search(text) is not None


def _last_attempt_start(lines: list[Line]) -> int | None:
    """Index where the last attempt of a retried task starts, or None when the excerpt shows one attempt."""
    start = None
    for i, ln in enumerate(lines):
        t = ln.text
        if ("UP_FOR_RETRY" in t or (" of " in t and ("ttempt" in t or "etry " in t))) and (m := _ATTEMPT.search(t)):
            start = i + 1 if "UP_FOR_RETRY" in m[0] else i
    return start


def band(hit: Hit) -> int:
    return hit.sig.priority // 10


def _decide(hits: list[Hit], lines: list[Line] | None = None) -> Hit | None:
    decisive = [h for h in hits if h.sig.role == "root" and h.sig.category != "unknown"]
    if not decisive:
        return None
    # a retry notice ("Retrying ... after ReadTimeoutError") reports an error the client recovered from
    final = [h for h in decisive if not _retry_notice(h.line.text)]
    decisive = final or decisive
    # after retries the last attempt's error is the one that failed the run
    start = _last_attempt_start(lines) if lines else None
    if start:
        decisive = [h for h in decisive if h.index >= start] or decisive
    top = max(band(h) for h in decisive)
    return min((h for h in decisive if band(h) == top), key=lambda h: (h.index, -h.sig.priority))


def _decided(winner: Hit, hits: list[Hit], lines: list[Line], path: str) -> Classification:
    sig = winner.sig
    roots = [h for h in hits if h.sig.role == "root" and h.sig.category != "unknown" and h is not winner]
    agree = {h.sig.id for h in roots if h.sig.category == sig.category and h.sig.id != sig.id}
    rivals = [h for h in roots if h.sig.category != sig.category and band(h) >= band(winner) - 1
              and h.index != winner.index]  # a rival reading of the same line is already priced in
    confidence = sig.confidence + min(0.05, 0.025 * len(agree)) - (0.1 if rivals else 0.0)
    confidence = round(min(0.95, max(0.45, confidence)), 2)

    facts = {k: v[:MAX_FACT] for k, v in winner.facts.items()}
    frame = _our_frame(lines, winner.index)
    if frame is not None:
        facts.setdefault("file", frame[1]["file"])
        facts.setdefault("line_no", frame[1]["line_no"])
        facts["code_location"] = f"{frame[1]['file']}:{frame[1]['line_no']}"

    evidence = [_ev(path, winner.line)]
    if frame is not None:
        evidence.append(_ev(path, frame[0]))
    same = [h for h in roots if h.sig.category == sig.category and h.index != winner.index]
    evidence += [_ev(path, h.line) for h in same[:2]]
    symptoms = [h for h in hits if h.sig.role == "symptom" and h.index != winner.index]
    evidence += [_ev(path, h.line) for h in symptoms[-2:]]
    return Classification(
        category=sig.category,  # type: ignore[arg-type]
        confidence=confidence,
        signature=sig.id,
        summary=sig.render(sig.summary, facts) or sig.name,
        evidence=_dedup(evidence)[:MAX_EVIDENCE],
        facts=facts,
    )


def _from_alert(alert: Alert) -> Classification | None:
    """The alert's own text, when the log decides nothing: weaker evidence, discounted confidence."""
    if not alert.text.strip():
        return None
    alert_lines = [Line(None, t) for t in alert.text.splitlines() if t.strip()]
    hits = scan(alert_lines)
    winner = _decide(hits)
    if winner is None:
        return None
    sig = winner.sig
    facts = {k: v[:MAX_FACT] for k, v in winner.facts.items()}
    confidence = round(max(0.4, sig.confidence * ALERT_DISCOUNT), 2)
    return Classification(
        category=sig.category,  # type: ignore[arg-type]
        confidence=confidence, signature=sig.id,
        summary=(sig.render(sig.summary, facts) or sig.name) + " (from the alert; the log shows no decisive error)",
        evidence=[Evidence(path=ALERT_PATH, line=None, text=winner.line.text)], facts=facts,
    )


def _undecided(hits: list[Hit], path: str, has_log: bool) -> Classification:
    if not has_log:
        return Classification(category="unknown", confidence=0.0, summary="no log to read")
    generic = [h for h in hits if h.sig.role == "root"]
    symptoms = [h for h in hits if h.sig.role == "symptom"]
    if generic:
        h = generic[-1]
        facts = {k: v[:MAX_FACT] for k, v in h.facts.items()}
        text = h.sig.render(h.sig.summary, facts) or h.line.text.strip()[:200]
        ev = [_ev(path, h.line)] + [_ev(path, s.line) for s in symptoms[-2:]]
        return Classification(category="unknown", confidence=0.3, signature=h.sig.id,
                              summary=f"Unrecognised error: {text}", evidence=_dedup(ev)[:MAX_EVIDENCE], facts=facts)
    if symptoms:
        h = symptoms[-1]
        facts = {k: v[:MAX_FACT] for k, v in h.facts.items()}
        return Classification(category="unknown", confidence=0.2, signature=h.sig.id,
                              summary=(h.sig.render(h.sig.summary, facts) or h.sig.name)
                              + "; no root-cause error found in the log",
                              evidence=_dedup([_ev(path, s.line) for s in symptoms[-3:]]), facts=facts)
    return Classification(category="unknown", confidence=0.0, summary="no error line found in the log")


def _our_frame(lines: list[Line], index: int, reach: int = 80) -> tuple[Line, dict[str, str]] | None:
    """The innermost traceback frame in our code (not a library) just above line `index`, if any."""
    for j in range(index - 1, max(-1, index - reach), -1):
        m = _FRAME.match(lines[j].text)
        if m and not _LIBRARY_FRAME.search(m["file"]):
            return lines[j], {k: v for k, v in m.groupdict().items() if v}
        if j < index - 1 and lines[j].text.startswith("Traceback (most recent call last)"):
            return None
    return None


def _ev(path: str, line: Line) -> Evidence:
    return Evidence(path=path, line=line.number, text=line.text)


def _dedup(evidence: list[Evidence]) -> list[Evidence]:
    seen: set[tuple[int | None, str]] = set()
    out = []
    for e in evidence:
        key = (e.line, e.text)
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out
