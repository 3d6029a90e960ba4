"""Secrets out before text leaves the sandbox: every kind is replaced by `[REDACTED:<kind>]`.

One combined regex (alternatives in priority order, longest-known formats first) does the built-in kinds
in a single pass; a cheap substring prefilter skips lines that cannot hold a secret. Where a secret sits
inside evidence (a DSN, `key=value`, a header) only the secret part is replaced, so host, port, user,
table and error text survive. PEM private-key blocks span lines: `redact_lines` carries the state from
line to line (and catches a block whose BEGIN line was cut off by an excerpt); `redact` handles blocks
inside one string. Topology `[redaction] patterns` run after the built-ins, each on its own.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable
from itertools import accumulate

_KEY = r"[A-Za-z0-9_.-]*?"
_VAL = (r"""(?:"(?P<s>[^"\n]{1,400})"|'(?P<s2>[^'\n]{1,400})'|"""
        r"""(?P<s3>(?!(?:\d+|true|false|null|none)\b)[^\s"',;&}<>]{1,400}))""")
_SEP = r"""["']?[ \t]*[:=][ \t]*"""
# password / api_key / secret values may be all digits (`password=123456`); only `token` keeps the digit
# exemption, because `max_tokens=4096` / `prompt_tokens: 1500` / `token=3` are evidence, not secrets.
_VAL_ANY = _VAL.replace(r"\d+|", "")

# (kind, regex). A named group s/s2/s3 marks the secret inside the match; without one the whole match goes.
_BUILTIN: list[tuple[str, str]] = [
    ("private_key", r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?"
                    r"(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)"),
    ("slack_webhook", r"https://hooks\.slack\.com/(?:services|workflows|triggers)/(?P<s>[A-Za-z0-9_/-]{8,})"),
    ("slack_token", r"\bxox[abeposr]-[A-Za-z0-9-]{10,}|\bxapp-\d-[A-Za-z0-9-]{10,}"),
    ("github_token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})"),
    ("gitlab_token", r"\bglpat-[A-Za-z0-9_-]{20,}"),
    ("anthropic_key", r"\bsk-ant-[A-Za-z0-9_-]{20,}"),
    ("openai_key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
    ("stripe_key", r"\b(?:sk|rk|pk|whsec)_(?:live|test)_[A-Za-z0-9]{16,}|\bwhsec_[A-Za-z0-9]{24,}"),
    ("google_api_key", r"\bAIza[0-9A-Za-z_-]{35}"),
    ("google_oauth_secret", r"\bGOCSPX-[A-Za-z0-9_-]{20,}"),
    ("databricks_token", r"\bdapi[a-f0-9]{32}(?:-\d+)?\b"),
    ("huggingface_token", r"\bhf_[A-Za-z0-9]{30,}"),
    ("npm_token", r"\bnpm_[A-Za-z0-9]{36}\b"),
    ("sendgrid_key", r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"),
    ("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    ("aws_access_key", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16}\b"),
    ("aws_secret_key", r"(?i)\baws" + _KEY + r"(?:secret|sk)" + _KEY + _SEP + r"""["']?(?P<s>[A-Za-z0-9/+]{40})\b"""),
    ("azure_storage_key", r"(?i)\bAccountKey=(?P<s>[A-Za-z0-9+/=]{20,})"),
    ("azure_sas", r"(?i)[?&]sig=(?P<s>[A-Za-z0-9%+/=]{20,})"),
    ("datadog_key", r"(?i)\b(?:dd|datadog)[_-]?(?:api|app(?:lication)?)[_-]?key" + _SEP
     + r"""["']?(?P<s>[A-Za-z0-9]{32,40})\b"""),
    ("basic_auth", r"(?i)\bauthorization[ \t]*[:=][ \t]*basic[ \t]+(?P<s>[A-Za-z0-9+/=]{8,})"),
    ("authorization", r"(?i)\b(?:proxy-)?authorization[ \t]*[:=][ \t]*[\"']?(?!(?:bearer|basic)\b)"
                      r"(?:[A-Za-z][A-Za-z0-9_-]{0,30}[ \t]+(?P<s>[^\s\"',;]{8,400})"
                      r"|(?P<s2>[A-Za-z0-9._~+/=-]{16,400}))"),
    ("bearer_token", r"(?i)\bbearer[ \t]+(?P<s>[A-Za-z0-9._~+/=-]{8,})"),
    ("dsn_password", r"(?i)\b[a-z][a-z0-9+.-]{1,30}://[^:/@\s]{0,200}:(?P<s>[^@\s/]{1,400})@"),
    ("password", r"(?i)\b" + _KEY + r"(?:password|passwd|pass_?phrase)" + _KEY + _SEP + _VAL_ANY),
    ("api_key", r"(?i)\b" + _KEY + r"(?:api[_-]?key|apikey|access[_-]?key|account[_-]?key)" + _KEY + _SEP
     + _VAL_ANY),
    ("token", r"(?i)\b" + _KEY + r"token" + _KEY + _SEP + _VAL),
    ("secret", r"(?i)\b" + _KEY + r"(?:secret|credential|private[_-]?key)" + _KEY + _SEP + _VAL_ANY),
]

# Passwords given on a command line. A second pass of its own: a match runs from the program name to the
# option, and in the combined pass that span would hide other secrets between them. Case-sensitive: for
# mysql `-P` is the port, and `-p value` (with a space) prompts, `value` being the database.
_CLI_VAL = r"""(?:'(?P<s>[^'\n]{1,400})'|"(?P<s2>[^"\n]{1,400})"|(?P<s3>[^\s'"]{1,400}))"""
_CLI: list[tuple[str, str]] = [
    ("cli_password", r"\b(?:mysql(?:dump|admin|import|check|show|pump|sh)?|mariadb(?:-dump|-admin|-import)?)(?=[ \t])"
                     r"[^\n|;&]{0,400}?[ \t]-p" + _CLI_VAL),
    ("cli_password", r"\bsshpass[ \t]+-p[ \t]*" + _CLI_VAL),
    ("cli_password", r"\bredis-cli\b[^\n|;&]{0,400}?[ \t]-a[ \t]+" + _CLI_VAL),
]
_CLI_HINTS = ("mysql", "mariadb", "sshpass", "redis-cli")

# A line holding none of these (case-folded) cannot match any built-in pattern.
_HINTS = ("-----begin", "hooks.slack", "xox", "xapp-", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_",
          "glpat-", "sk-", "sk_", "rk_", "pk_",
          "whsec", "aiza", "gocspx", "dapi", "hf_", "npm_", "sg.", "eyj", "akia", "asia", "agpa", "aida", "aroa",
          "aipa", "anpa", "anva", "abia", "acca", "aws", "accountkey", "sig=", "key", "basic", "bearer", "://",
          "pass", "token", "secret", "credential", "authorization", *_CLI_HINTS)
_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_BASE64_LINE = re.compile(r"[ \t]*[A-Za-z0-9+/=]{16,}[ \t]*")


def _combine(patterns: list[tuple[str, str]]) -> tuple[re.Pattern[str], list[str]]:
    parts, kinds = [], []
    for i, (kind, rx) in enumerate(patterns):
        inline = ""
        if rx.startswith("(?i)"):
            inline, rx = "(?i:", rx[4:]
        body = re.sub(r"\(\?P<(s\d?)>", lambda m, i=i: f"(?P<k{i}_{m.group(1)}>", rx)
        parts.append(f"(?P<k{i}>{inline}{body}{')' if inline else ''})")
        kinds.append(kind)
    return re.compile("|".join(parts), re.DOTALL), kinds


def _substitute(m: re.Match[str], kind: str, prefix: str | None) -> str:
    spans = []
    if prefix is not None:
        for g in (f"{prefix}_s", f"{prefix}_s2", f"{prefix}_s3"):
            if g in m.re.groupindex and m.start(g) != -1:
                spans.append(m.span(g))
    else:
        spans = [m.span(g) for g in range(1, (m.re.groups or 0) + 1) if m.start(g) != -1][:1]
    if not spans:
        return f"[REDACTED:{kind}]"
    start, end = spans[0]
    whole = m.group(0)
    return whole[:start - m.start()] + f"[REDACTED:{kind}]" + whole[end - m.start():]


class Redactor:
    """Replaces secrets with `[REDACTED:<kind>]`. `extra` = [(kind, regex)] from the topology; a regex with
    a capturing group has only its first group replaced."""

    def __init__(self, extra: Iterable[tuple[str, str]] = (), enabled: bool = True) -> None:
        self.enabled = enabled
        self._combined, self._kinds = _combine(_BUILTIN)
        self._cli, self._cli_kinds = _combine(_CLI)
        self._extra = [(kind, re.compile(rx)) for kind, rx in extra]

    @property
    def kinds(self) -> list[str]:
        return [*self._kinds, *(k for k, _ in self._extra)]

    def _builtin(self, m: re.Match[str]) -> str:
        name = m.lastgroup or ""
        i = int(name[1:].split("_")[0])
        return _substitute(m, self._kinds[i], f"k{i}")

    def _cli_sub(self, m: re.Match[str]) -> str:
        name = m.lastgroup or ""
        i = int(name[1:].split("_")[0])
        return _substitute(m, self._cli_kinds[i], f"k{i}")

    def redact(self, text: str) -> str:
        """Redact one string (which may hold several lines)."""
        if not self.enabled or not text:
            return text
        low = text.lower()
        return self._apply(text, any(h in low for h in _HINTS))

    def _apply(self, text: str, maybe_builtin: bool) -> str:
        if maybe_builtin:
            text = self._combined.sub(self._builtin, text)
            if any(h in text for h in _CLI_HINTS):
                text = self._cli.sub(self._cli_sub, text)
        for kind, rx in self._extra:
            text = rx.sub(lambda m, kind=kind: _substitute(m, kind, None), text)
        return text

    @staticmethod
    def _candidates(lines: list[str]) -> set[int]:
        """Indexes of lines holding a hint: one str.find sweep per hint over the joined text."""
        joined = "\n".join(lines).lower()
        starts = list(accumulate((len(x) + 1 for x in lines[:-1]), initial=0))
        hits: set[int] = set()
        for h in _HINTS:
            i = joined.find(h)
            while i != -1:
                k = bisect_right(starts, i) - 1
                hits.add(k)
                i = joined.find(h, starts[k + 1]) if k + 1 < len(starts) else -1
        return hits

    def redact_lines(self, lines: list[str]) -> list[str]:
        """Redact lines of one excerpt, in order: a PEM block spanning lines is redacted whole, including
        a block whose BEGIN line is before the excerpt (base64 lines followed by its END line)."""
        if not self.enabled:
            return list(lines)
        out: list[str] = []
        in_block = False
        cand = self._candidates(lines)
        for idx, line in enumerate(lines):
            if in_block:
                end = _PEM_END.search(line)
                if end is None:
                    out.append("[REDACTED:private_key]")
                    continue
                in_block = False
                out.append("[REDACTED:private_key]" + self.redact(line[end.end():]))
                continue
            begin = _PEM_BEGIN.search(line)
            if begin is not None and _PEM_END.search(line, begin.end()) is None:
                in_block = True
                out.append(self.redact(line[:begin.start()]) + "[REDACTED:private_key]")
                continue
            end = _PEM_END.search(line) if begin is None else None
            if end is not None:                      # END of a block whose BEGIN we never saw
                k = len(out)
                while k > 0 and _BASE64_LINE.fullmatch(lines[k - 1]):
                    k -= 1
                    out[k] = "[REDACTED:private_key]"
                out.append("[REDACTED:private_key]" + self.redact(line[end.end():]))
                continue
            out.append(self._apply(line, idx in cand))
        return out
