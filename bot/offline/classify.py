"""Classify a failed run from its log excerpt: signatures, error taxonomies, and a learned fallback.

Three readers look at the same excerpt, most specific first:

1. the **signature library** (`signatures.toml`): known phrasings; only *root* signatures decide, the
   highest priority band wins and, inside a band, the earliest line (causal order);
2. the **taxonomies** (`taxonomy.toml`) applied to the **candidate root lines** that `rootline.py` finds in
   any log — exception classes, SQLSTATE and vendor codes, HTTP/errno/signals — so an error no signature
   knows is still judged, and quoted;
3. the **learned fallback** (`model.py`), trained on the corpora's dev splits, for lines neither names.

Where they disagree the answer carries the runner-up as an `alternative`, and the confidence is calibrated
(`calibration.json`, fitted on the dev split) so that its words — confident, likely, unsure — mean what
they say. With no error-shaped line at all, the alert's text is tried as weak evidence; failing that the
answer is `unknown`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.contract import Alert, Alternative, Category, Classification, Evidence
from bot.offline import calibration, model
from bot.offline.records import plain_records
from bot.offline.rootline import Judgement, RootLine, candidates, judge, strip_prefix
from bot.offline.signatures import Hit, scan
from bot.sandbox import Excerpt, Line

MAX_EVIDENCE = 5
MAX_FACT = 160
MAX_QUOTE = 240
ALERT_PATH = "(alert text)"
ALERT_DISCOUNT = 0.7
PLATFORM_BAND = 9          # signatures of platform facts (memory kills, disk full, DNS) outrank everything
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line_no>\d+)(?:, in (?P<function>\S+))?')
_LIBRARY_FRAME = re.compile(r"site-packages|dist-packages|/lib/python\d|<frozen|/usr/lib/")


@dataclass
class Analysis:
    """Everything the readers found in one excerpt, before a decision."""

    lines: list[Line]
    hits: list[Hit]
    winner: Hit | None                      # the deciding root signature, if any
    roots: list[RootLine]                   # candidate root lines, best first
    judgement: Judgement | None             # the taxonomy's reading of the best named identifier
    prediction: model.Prediction | None = None
    features: list[str] = field(default_factory=list)


# what a container runtime or CI runner puts before every line: docker compose / Meltano `name  | `,
# `kubectl logs --prefix`, CRI log files, GitHub Actions' 7-digit timestamps; and a Markdown quote (`> `, nested
# `> > `), as a log pasted into an issue or a chat reply arrives. A level word before the bar (`ERROR | …`, the
# `%(levelname)s | %(message)s` format) is the log's own, not a container's name
_CONTAINER_PREFIX = re.compile(r"^(?:>(?:[ \t]?>)*[ \t]?"
                               r"|(?!(?i:trace|debug|info|notice|warn|warning|error|err|critical|crit|fatal|severe"
                               r"|panic) *\|)[A-Za-z0-9][\w.-]{0,62} *\| |\[pod/[\w.-]{1,253}/[\w.-]{1,63}\] "
                               r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z (?:stdout|stderr) [FP] "
                               r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z )")
PREFIXED_SHARE = 0.6


def without_container_prefix(lines: list[Line]) -> list[Line]:
    """The lines without the prefix a container runtime (or a Markdown quote) put on (nearly) every one of them,
    so that a log read through `docker compose logs` reads like the log itself; any other log is returned as it is."""
    texts = [ln for ln in lines if ln.text.strip()]
    if not texts:
        return lines
    cut = [_CONTAINER_PREFIX.match(ln.text) for ln in lines]
    if sum(m is not None for m in cut) < PREFIXED_SHARE * len(texts):
        return lines
    return [Line(ln.number, ln.text[m.end():]) if m else ln for ln, m in zip(lines, cut, strict=True)]


def analyse(lines: list[Line]) -> Analysis:
    """Run the three readers over the lines (the last attempt of a retried task, when there are several)."""
    lines = plain_records(without_container_prefix(lines))
    hits = scan(lines)
    winner = _decide(hits, lines)
    start = _last_attempt_start(lines) or 0
    roots = candidates(lines, start) or (candidates(lines, 0) if start else [])
    judgement = judge(roots)
    feats = model.features(lines, roots, _rule_features(winner, judgement))
    return Analysis(lines, hits, winner, roots, judgement, model.predict(feats), feats)


def _rule_features(winner: Hit | None, j: Judgement | None) -> list[str]:
    out = []
    if winner is not None:
        out += [f"sig:{winner.sig.category}", f"sigid:{winner.sig.id}"]
    if j is not None:
        out += [f"tax:{j.entry.cat}", f"taxid:{j.entry.kind}:{j.entry.key}"]
    return out


def classify(excerpt: Excerpt | None, alert: Alert) -> Classification:
    """Decide data | infra | code | unknown from the excerpt (and, weakly, the alert's text)."""
    lines = excerpt.lines if excerpt else []
    path = excerpt.path if excerpt else ALERT_PATH
    a = analyse(lines)
    decided = decide(a, path)
    if decided is not None:
        return decided
    from_alert = _from_alert(alert)
    if from_alert is not None:
        return from_alert
    return _undecided(a.hits, path, has_log=excerpt is not None)


def decide(a: Analysis, path: str, calibrate: bool = True) -> Classification | None:
    """Combine the readers: agreement raises confidence, disagreement names the runner-up.

    `calibrate=False` leaves the raw score (what eval/train_model.py fits the calibration to).
    """
    w, j, p = a.winner, a.judgement, a.prediction
    if w is not None:
        cls = _decided(w, a.hits, a.lines, path)
        rival = _rival_of(cls.category, j, p)
        source = "signature+taxonomy" if j is not None and j.entry.cat == cls.category else "signature"
        if band(w) >= PLATFORM_BAND:
            source = "signature-platform"
        elif rival is not None and rival[0] == "taxonomy" and _outranks(j, w, a):
            return _from_taxonomy(a, path, calibrate, rival_sig=cls)
        return _finish(cls, source, p, rival, calibrate=calibrate)
    if j is not None:
        if p is not None and p.category not in (j.entry.cat, "unknown") and a.roots and not _platform_code(j):
            # on the real dev split, where a bare identifier and the learned words disagree, the words were
            # right more often: the identifier's reading stays as the alternative
            return _from_model(a, path, calibrate, over=_from_taxonomy(a, path, calibrate=False))
        return _from_taxonomy(a, path, calibrate)
    if a.roots and p is not None:
        return _from_model(a, path, calibrate)
    return None


PLATFORM_CODE_CONF = 0.85


def _platform_code(j: Judgement) -> bool:
    """An identifier that names a platform fault outright (a full table, throttling, an expired token): the words
    around it do not overrule it. On the real dev split the model overruled such codes wrongly 4 times, rightly 2."""
    return j.entry.cat == "infra" and j.entry.conf >= PLATFORM_CODE_CONF


def _outranks(j: Judgement | None, w: Hit, a: Analysis) -> bool:
    """The taxonomy's line is a deeper cause than the signature's: ranked first, after it, confident."""
    if j is None or not a.roots or j.root is not a.roots[0]:
        return False
    return j.root.index > w.index and j.entry.conf >= 0.75 and w.sig.confidence < 0.8


Rival = tuple[str, Category, str, str]   # (source, category, why, what would decide it)


def _rival_of(category: str, j: Judgement | None, p: model.Prediction | None) -> Rival | None:
    """(source, category, why, decide) of the strongest reader that disagrees with `category`."""
    if j is not None and j.entry.cat not in (category, "unknown"):
        return ("taxonomy", j.entry.cat, f"{j.ident.key}: {j.entry.why}",
                j.entry.decide or _DECIDE.get((category, j.entry.cat), ""))
    if p is not None and p.category != category and p.probability >= 0.5:
        return ("model", p.category, f"failures with these words were mostly {p.category} in the labelled corpus",
                _DECIDE.get((category, p.category), ""))
    return None


def _finish(cls: Classification, source: str, p: model.Prediction | None,
            rival: Rival | None, alt: Alternative | None = None,
            calibrate: bool = True) -> Classification:
    agrees = p is not None and p.category == cls.category
    raw = cls.confidence
    alternatives = list(cls.alternatives)
    if alt is not None:
        alternatives.append(alt)
    if rival is not None and rival[1] != cls.category and all(x.category != rival[1] for x in alternatives):
        alternatives.append(Alternative(category=rival[1], why=rival[2], decide=rival[3]))
    # "disputed" as eval/train_model.py fitted it: the answer names a runner-up, whoever raised it
    conf = calibration.calibrate(source, raw, agrees=agrees, disputed=bool(alternatives)) if calibrate else raw
    return cls.model_copy(update={"confidence": conf, "alternatives": alternatives[:2],
                                  "facts": {**cls.facts, "decided_by": source}})


def _from_taxonomy(a: Analysis, path: str, calibrate: bool, rival_sig: Classification | None = None) -> Classification:
    j = a.judgement
    assert j is not None
    e, root = j.entry, j.root
    quote = _quote(root.message.removeprefix("Caused by: "))
    summary = f"{quote} ({j.ident.key}: {e.why})"
    facts = {"error_line": quote, "identifier": j.ident.key}
    evidence = [_ev(path, root.line)] + [_ev(path, r.line) for r in a.roots[1:3] if r.index != root.index]
    cls = Classification(category=e.cat, confidence=e.conf, signature=f"taxonomy:{e.kind}:{e.key}",
                         summary=summary, evidence=_dedup(evidence)[:MAX_EVIDENCE], facts=facts)
    alt = Alternative(category=e.alt, why=e.why, decide=e.decide or _DECIDE.get((e.cat, e.alt), "")) if e.alt else None
    rival = _rival_of(e.cat, None, a.prediction)
    if rival_sig is not None and rival_sig.category != e.cat:
        rival = ("signature", rival_sig.category, rival_sig.summary, _DECIDE.get((e.cat, rival_sig.category), ""))
    source = "taxonomy-wrapper" if e.role == "wrapper" else "taxonomy"
    return _finish(cls, source, a.prediction, rival, alt, calibrate)


def _from_model(a: Analysis, path: str, calibrate: bool, over: Classification | None = None) -> Classification:
    """The learned fallback's reading of the best root line (quoted); `over` is the taxonomy reading it beat."""
    p = a.prediction
    assert p is not None
    root = over.evidence[0].text if over is not None and over.evidence else a.roots[0].message
    quote = _quote(strip_prefix(root)[0] if over is not None else root)
    cls = Classification(
        category=p.category, confidence=p.probability, signature="model",
        summary=f"Unrecognised error: {quote}" if over is None else f"{quote} (read as {p.category} from its words)",
        evidence=_dedup([_ev(path, r.line) for r in a.roots[:3]])[:MAX_EVIDENCE],
        facts={"error_line": quote, **({"identifier": over.facts.get("identifier", "")} if over else {})})
    if over is not None:
        alt = Alternative(category=over.category, why=over.summary,
                          decide=_DECIDE.get((p.category, over.category), ""))
        return _finish(cls, "model-over-taxonomy", None, None, alt, calibrate)
    alt = Alternative(category=p.runner_up, why=f"the words of this error also occur in {p.runner_up} failures",
                      decide=_DECIDE.get((p.category, p.runner_up), ""))
    return _finish(cls, "model", None, None, alt, calibrate)


# what settles the classic two-way readings, said to the on-call engineer
_DECIDE: dict[tuple[str | None, str | None], str] = {
    ("code", "data"): "compare the input's schema/values with the last good run, and check recent deploys of the job",
    ("data", "code"): "check whether the job's code or config changed since the last good run (deploys, pins)",
    ("infra", "code"): "check recent deploys for changed dependency pins, images or resource settings",
    ("code", "infra"): "check the platform's health at the failure time and whether a rerun passes",
    ("infra", "data"): "check whether the input volume or shape jumped for this run",
    ("data", "infra"): "check whether the input really is missing, or the platform could not read it",
}


def _quote(message: str) -> str:
    one = " ".join(message.split())
    return one if len(one) <= MAX_QUOTE else one[: MAX_QUOTE - 1] + "…"


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
    alternatives = [Alternative(category=sig.alt, why=sig.alt_why,
                                decide=sig.decide or _DECIDE.get((sig.category, sig.alt), ""))] if sig.alt else []
    return Classification(
        category=sig.category,
        confidence=confidence,
        signature=sig.id,
        summary=sig.render(sig.summary, facts) or sig.name,
        evidence=_dedup(evidence)[:MAX_EVIDENCE],
        facts=facts,
        alternatives=alternatives,
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
        category=sig.category,
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
