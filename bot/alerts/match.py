"""A name from an alert → a job in the topology's registry: exact, then case/separator-insensitive, then the
closest registered name as a stated guess; otherwise the name as written (jobs need no [jobs] entry)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

IDENT_RE = re.compile(r"[A-Za-z0-9][\w.\-]{0,199}")
GUESS_CUTOFF = 0.8
# what Kubernetes appends to a name: a CronJob's Job `-<scheduled minute>` (8 digits, not a yyyymmdd date), then a
# pod's 5 characters of the alphabet its random suffixes use (no vowels, no 0/1/3; taken only with a digit in it,
# so a word such as `-pgsql` stays), so `orders-daily-28911320-x7k2p` names `orders-daily`
_K8S_SUFFIX = re.compile(r"(?:-(?!(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))\d{8})?"
                         r"(?:-(?=[b-df-hj-np-tv-xz]*[2-9])[b-df-hj-np-tv-xz2456789]{5})?$")


@dataclass(frozen=True)
class JobMatch:
    name: str
    how: str                 # exact | normalised | guess | mentioned | as-written
    raw: str                 # what the alert said
    note: str | None = None  # shown to people when the name was guessed


def norm(name: str) -> str:
    """Case and separators out: `Orders-Daily`, `orders daily` and `orders_daily` are one name."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


class Registry:
    """The registered job names, indexed for O(1) exact and normalised look-ups."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = sorted(n for n in names if n and n != "*")
        self._exact = set(self.names)
        self._norm: dict[str, str] = {}
        for n in self.names:
            self._norm.setdefault(norm(n), n)

    def lookup(self, raw: str) -> JobMatch | None:
        if raw in self._exact:
            return JobMatch(raw, "exact", raw)
        hit = self._norm.get(norm(raw))
        return JobMatch(hit, "normalised", raw) if hit else None

    def guess(self, raw: str) -> JobMatch | None:
        """A registered name inside the raw one (`orders-daily-x7k2p`, `Nightly Revenue Rollup`), or a close
        spelling. The longest contained name wins; the note says it is a guess."""
        key = norm(raw)
        if len(key) < 4 or not self.names:
            return None
        inside = [n for k, n in self._norm.items() if len(k) >= 5 and k in key]
        if inside:
            best = max(inside, key=lambda n: len(norm(n)))
        else:
            close = difflib.get_close_matches(key, list(self._norm), n=1, cutoff=GUESS_CUTOFF)
            if not close:
                return None
            best = self._norm[close[0]]
        return JobMatch(best, "guess", raw, f"job guessed: the alert names `{raw}`, the closest registered job "
                                            f"is `{best}`")

    def mentioned(self, text: str) -> JobMatch | None:
        """The longest registered name written anywhere in the text: as a word (`orders_daily`, a dotted
        `orders_daily.load_orders`, a Kubernetes-generated `orders-daily-28911320-x7k2p`), or spelled out in two or
        three words (`Orders Daily`)."""
        best: str | None = None
        generated: tuple[str, str] | None = None     # (registered name, the generated name it was read from)
        prev: list[str] = []
        for m in IDENT_RE.finditer(text):
            word = m.group(0).rstrip(".-")
            cands = [word, word.split(".", 1)[0], word.rsplit(".", 1)[-1]]
            prev = [*prev, norm(word)][-3:]
            cands += ["".join(prev[-k:]) for k in (2, 3) if len(prev) >= k]
            for cand in cands:
                name = cand if cand in self._exact else self._norm.get(norm(cand)) if len(cand) >= 5 else None
                if name and (best is None or len(name) > len(best)):
                    best = name
            base = _K8S_SUFFIX.sub("", word)
            name = self._norm.get(norm(base)) if base != word and len(norm(base)) >= 5 else None
            if name is not None and (generated is None or len(name) > len(generated[0])):
                generated = (name, word)
        if best:
            return JobMatch(best, "mentioned", best)
        if generated:   # a stated guess: the note says which generated name it was read from
            name, raw = generated
            return JobMatch(name, "guess", raw, f"job guessed: the alert names `{raw}`, a Kubernetes-generated name "
                                                f"of the registered job `{name}`")
        return None


def choose_job(candidates: Sequence[str], registry: Registry, text: str,
               quoted: Sequence[str] = (), as_written: Sequence[str] = ()) -> JobMatch | None:
    """Candidates are in priority order (labelled fields, URLs, the tools' wording). The job the alert names
    in its own field or wording (`as_written`) comes before any registered name found elsewhere in it — a task,
    a step, a downstream job: a registered name it holds (`clickstream-k8s-cron-1732078800`, `etl-finance-ledger`)
    as a stated guess, else the name itself, registered or not (jobs need no [jobs] entry). Quoted and loosely
    worded names only ever match the registry."""
    for raw in candidates:
        hit = registry.lookup(raw)
        if hit:
            return hit
    for raw in as_written:
        hit = registry.guess(raw)
        if hit:
            return hit
        if _named(raw):
            return JobMatch(raw, "as-written", raw)
    for raw in quoted:
        hit = registry.lookup(raw)
        if hit:
            return hit
    mentioned = registry.mentioned(text)
    if mentioned:
        return mentioned
    for raw in (*candidates, *quoted):
        hit = registry.guess(raw)
        if hit:
            return hit
    for raw in as_written:   # a bare word ("Workflow run failed" → `run`) only when nothing else names a job
        if _identifier(raw):
            return JobMatch(raw, "as-written", raw)
    return None


def _identifier(raw: str) -> bool:
    return IDENT_RE.fullmatch(raw) is not None and not raw.isdigit()


def _named(raw: str) -> bool:
    """Shaped like a job's name (`nightly_batch`, `billing-daily`, `Load2`), not a bare word of the sentence."""
    return _identifier(raw) and (
        any(c in raw for c in "_-.") or any(c.isdigit() for c in raw) or raw[1:] != raw[1:].lower())
