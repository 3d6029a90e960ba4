"""A triage's fingerprint: which failure this is, deterministic and explainable, never from model text.

Three parts, all from the deterministic reading of the log (the offline classifier's `Classification`):
the deciding signature or taxonomy id, the category, and the root error line reduced to a template
(timestamps, numbers, ids, hashes, IPs, paths, URLs and quoted values masked). Names that say *where* the
failure is — a column, table, model, warehouse, bucket, topic, a host by name — are kept (in the template and
as identity facts), so a different column or database gives a different fingerprint, while the run id, the
date, the executor's IP or the worker pod do not. `infra_key` groups infra failures of different jobs that
name the same host / warehouse / bucket / service.
"""

from __future__ import annotations

import hashlib
import re

from bot.contract import Classification, Fingerprint

VERSION = "1"  # bump when the template rules change: old fingerprints then stop matching, on purpose
MAX_TEMPLATE = 300
# facts that name where the failure is (kept); anything else a signature extracts (counts, sizes, ids) is not
IDENTITY_KEYS = ("column", "table", "model", "test", "host", "warehouse", "bucket", "topic", "service",
                 "database", "schema", "constraint", "connection", "module", "function", "field", "key")
INFRA_KEYS = ("host", "warehouse", "bucket", "service", "database", "connection", "topic")

_PREFIXES = (
    re.compile(r"^\[[^\]]{4,40}\]\s*(?:\{[^}]{1,80}\}\s*)?(?:[A-Z]{3,8}\s*-\s*)?"),   # Airflow task log framing
    re.compile(r"^\d{2,4}[-/]\d{2}[-/]\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\s*(?:[A-Z]{4,8}\s+)?"),  # log4j etc.
    re.compile(r"^\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\s+"),                                  # dbt's clock
)
_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b[a-z][a-z0-9+.-]{1,15}://[^\s'\"<>)]+"), "<url>"),
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}[:_]\d{2}(?:[:_]\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2}|\s?UTC)?"),
     "<ts>"),
    (re.compile(r"\b\d{2,4}[-/]\d{2}[-/]\d{2,4}\b"), "<date>"),
    (re.compile(r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b"), "<time>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"(?<![\w.])(?:~|\.{1,2})?/(?:[\w.@%+=-]+/)*[\w.@%+=-]*\w"), "<path>"),
    (re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b"), "<email>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{7,}\b"), "<hex>"),
)
_QUOTED = re.compile(r"'([^'\n]{0,200})'|\"([^\"\n]{0,200})\"|`([^`\n]{0,200})`")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.$:-]{0,80}")
_DIGITS = re.compile(r"\d+(?:\.\d+)?")
_SPACES = re.compile(r"\s+")


def _mask_value(value: str) -> str:
    """One value (a fact, or a quoted name) with its volatile parts masked."""
    for rx, token in _MASKS:
        value = rx.sub(token, value)
    return _DIGITS.sub("<n>", value)


def _quoted(m: re.Match[str]) -> str:
    """A quoted name stays (it says which column/table); a quoted value (a date, a number, a sentence) goes."""
    q = m.group(0)[0]
    inner = next(g for g in m.groups() if g is not None)
    if _NAME.fullmatch(inner) and not re.search(r"\d{3,}", inner) and inner.lower() not in ("none", "null", "nan"):
        return f"{q}{_mask_value(inner)}{q}"
    return f"{q}<v>{q}"


def template(line: str) -> str:
    """The root error line with everything that changes from run to run masked."""
    text = " ".join(line.split())
    for rx in _PREFIXES:
        text = rx.sub("", text, count=1)
    text = text.strip(" -:")
    text = _QUOTED.sub(_quoted, text)
    for rx, token in _MASKS:
        text = rx.sub(token, text)
    text = _DIGITS.sub("<n>", text)
    text = _SPACES.sub(" ", text).strip()
    return text[:MAX_TEMPLATE]


def root_line(cls: Classification) -> str:
    """The line the fingerprint is built on: the reading's own root error line, else its first evidence."""
    if cls.facts.get("error_line"):
        return cls.facts["error_line"]
    if cls.evidence:
        return cls.evidence[0].text
    return cls.summary


def fingerprint(cls: Classification) -> Fingerprint:
    """The fingerprint of a deterministic reading (see the module docstring)."""
    signature = cls.signature or "none"
    tpl = template(root_line(cls))
    facts = {k: _mask_value(cls.facts[k].strip().strip("'\"`"))[:120]
             for k in IDENTITY_KEYS if cls.facts.get(k, "").strip()}
    basis = "\n".join([VERSION, signature, cls.category, tpl, *(f"{k}={v}" for k, v in sorted(facts.items()))])
    fid = hashlib.sha256(basis.encode()).hexdigest()[:16]
    infra_key = None
    if cls.category == "infra":
        named = [(k, facts[k]) for k in INFRA_KEYS if k in facts and "<ip>" not in facts[k]]
        if named:
            infra_key = "infra:" + ",".join(f"{k}={v}" for k, v in named)
    return Fingerprint(id=fid, signature=signature, category=cls.category, template=tpl, facts=facts,
                       infra_key=infra_key)
