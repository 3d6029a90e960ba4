"""Offline recommendation: root cause and the specific next action, from classify + investigate.

Order of authority: an investigation that reached a different (known) category overrules the log's
classification, and the root cause says why. Findings' own actions come first; the signature's action
template, filled with the classification's facts, follows. Who acts is not decided here: the engine attaches
the escalation of the final category from the configuration.
"""

from __future__ import annotations

from bot.contract import Alternative, Classification, Evidence, Investigation, Recommendation
from bot.offline.rootline import names_no_cause, strip_prefix
from bot.offline.signatures import library, render

MAX_EVIDENCE = 8
MAX_QUOTE = 300
QUOTED_LINES = 2
MAX_ACTIONS = 3
GENERIC_ACTION = {
    "data": "Inspect this run's input (the partition, file or table named above) against the last good run, "
            "fix or quarantine the bad records upstream, then re-run.",
    "infra": "Check the platform at the failure time (worker/pod memory, disk, network, credentials, quotas); "
             "re-run once it is healthy.",
    "code": "Check the last deploy/config change of the job against the evidence lines; fix or roll back, then re-run.",
    "unknown": "Read the evidence lines and the log around them; if this failure repeats, add a signature to "
               "bot/offline/signatures.toml.",
}


def recommend(cls: Classification | None, inv: Investigation | None) -> Recommendation:
    """What broke, what to do next, with the evidence; who acts is the engine's (EscalationPolicy)."""
    category, confidence, root_cause = _verdict(cls, inv)
    return Recommendation(
        category=category,  # type: ignore[arg-type]
        confidence=round(confidence, 2),
        root_cause=root_cause,
        action=_action(cls, inv, category),
        evidence=_evidence(cls, inv),
        alternatives=_alternatives(cls, inv, category),
    )


def _alternatives(cls: Classification | None, inv: Investigation | None, category: str) -> list[Alternative]:
    """The runner-up readings, kept only while the decision is the classifier's: an investigation that
    overruled it names the log's reading as the alternative instead."""
    if cls is None:
        return []
    if category != cls.category:
        return [Alternative(category=cls.category, why=f"the log alone reads as {cls.category}: {cls.summary}",
                            decide="the investigation's evidence above decided against it")]
    return [a for a in cls.alternatives if a.category != category]


def _verdict(cls: Classification | None, inv: Investigation | None) -> tuple[str, float, str]:
    if cls is None and inv is None:
        return "unknown", 0.0, "Triage did not reach a conclusion: nothing was classified."
    if cls is None:
        assert inv is not None
        return inv.category, inv.confidence, _sentence(inv.summary)
    where = _where(cls)
    said = _sentence(cls.summary) + (f" (first seen at {where})." if where else "")
    said = said.replace(". (first", " (first") + _quoted(cls)
    if inv is not None and inv.category != "unknown" and inv.category != cls.category:
        return inv.category, inv.confidence, (
            f"{_sentence(inv.summary)} The log alone suggested {cls.category} ({cls.summary}), "
            f"but the investigation points to {inv.category}.")
    confidence = cls.confidence
    if inv is not None and inv.category == cls.category:
        confidence = max(cls.confidence, inv.confidence)
        if inv.summary and inv.summary.strip() != cls.summary.strip():
            said += " " + _sentence(inv.summary)
    return cls.category, confidence, said


def _action(cls: Classification | None, inv: Investigation | None, category: str) -> str:
    actions: list[str] = []
    if inv is not None:
        actions += [f.action for f in inv.findings if f.action]
    if cls is not None and cls.signature and category == cls.category:
        sig = library().get(cls.signature)
        if sig is not None:
            text = render(sig.action, cls.facts)
            if text:
                actions.append(text)
    if not actions:
        actions.append(GENERIC_ACTION.get(category, GENERIC_ACTION["unknown"]))
    unique = list(dict.fromkeys(_sentence(a) for a in actions))[:MAX_ACTIONS]
    if len(unique) == 1:
        return unique[0]
    return " ".join(f"{i}. {a}" for i, a in enumerate(unique, 1))


def _evidence(cls: Classification | None, inv: Investigation | None) -> list[Evidence]:
    """The deciding log line first, then evidence of findings that carry an action, then the rest."""
    ordered: list[Evidence] = []
    cls_ev = cls.evidence if cls else []
    ordered += cls_ev[:1]
    if inv is not None:
        acting = [f for f in inv.findings if f.action]
        ordered += [e for f in acting for e in f.evidence]
        ordered += [e for f in inv.findings if not f.action for e in f.evidence]
    ordered += cls_ev[1:]
    seen: set[tuple[str, int | None, str]] = set()
    out = []
    for e in ordered:
        key = (e.path, e.line, e.text)
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out[:MAX_EVIDENCE]


def _quoted(cls: Classification) -> str:
    """The deciding log lines themselves (the first two pieces of evidence that name a cause), when
    the summary does not already carry them: the specifics a person searches for (the code, the field, the
    resource) are in the lines, not in the signature's wording. On the real dev split quoting two lines, each
    kept to its head and tail, raised the required facts a root cause names from 69% to 80%."""
    quoted: list[str] = []
    for e in cls.evidence:
        line = " ".join(strip_prefix(e.text.strip().removeprefix("Caused by: "))[0].split())
        repeated = any(line in q or q in line for q in quoted)   # a Caused-by chain says its line twice
        if line and line not in cls.summary and not repeated and not names_no_cause(line):
            quoted.append(line)
        if len(quoted) == QUOTED_LINES:
            break
    return " The log says: " + "; and: ".join(f'"{_clip(q)}"' for q in quoted) if quoted else ""


def _clip(line: str, limit: int = MAX_QUOTE) -> str:
    """A long line's head and tail, cut at spaces: the error class opens a line, the value or field ends it."""
    if len(line) <= limit:
        return line
    half = limit // 2
    head = line[:half].rsplit(" ", 1)[0] if " " in line[half // 2:half] else line[:half]
    tail = line[-half:].split(" ", 1)[-1] if " " in line[-half:-half // 2] else line[-half:]
    return f"{head} … {tail}"


def _where(cls: Classification) -> str:
    if not cls.evidence:
        return ""
    e = cls.evidence[0]
    return f"log line {e.line}" if e.line else ""


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if not text or text[-1] in ".!?" else text + "."
