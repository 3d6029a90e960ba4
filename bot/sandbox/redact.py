"""Secrets out before text leaves the sandbox: every kind is replaced by `[REDACTED:<kind>]`.

What counts as a secret is a small model, not one regex per vendor:
  1. a known token prefix or shape (xoxb-, ghp_, AKIA, hvs., 1//0, ya29., sk-ant-, …);
  2. a value next to a key-ish word (`password=`, `"api_key": "…"`, `Pwd=`, `DB_PASS=`, JSON-escaped
     `\\"password\\":\\"…\\"`, Ruby's `password => '…'`, Scala's `password -> …`, Python's `b'…'`, Hadoop XML
     `<name>…password</name><value>…</value>`, headers such as `Authorization:` and `Cookie:`, prose such as
     `password 'x'` and `the password is x2` — but not MySQL's `using password: YES|NO`, which is evidence);
  3. URL userinfo (`scheme://user:pw@host`, where the password may hold `/` or `@`) and Oracle `user/pw@db`;
  4. a command-line flag (`--password VALUE`, `curl -u user:pw`, `mysql -pPW`, `-passin pass:PW`);
  5. a SQL clause (`WITH PASSWORD '…'`, `IDENTIFIED BY "…"`);
  6. a high-entropy blob (≥ 32 base64-ish characters mixing upper, lower and digits), last, for what no
     rule above names.
One combined regex does 1–5 in a single pass (alternatives in priority order); a cheap substring prefilter
skips lines that cannot hold 1–5. Where a secret sits inside evidence only the secret part is replaced, so
host, port, user, table and error text survive. PEM private-key blocks span lines: `redact_lines` carries
the state from line to line (and catches a block whose BEGIN line was cut off by an excerpt); `redact`
handles blocks inside one string. Topology `[redaction] patterns` run after the built-ins, each on its own.

Why not detect-secrets: it reports which lines of a file look secret (for pre-commit), not the span to
replace, its keyword plugin covers a subset of (2), its settings are process-global, and its entropy
plugins flag hex hashes and ids that are evidence here; the shapes it knows are in (1) and (6).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable
from functools import partial
from itertools import accumulate

from bot.sandbox.patterns import compile_linear

_KEY = r"[A-Za-z0-9_.-]*?"
# After the key word: not a source file name, so `{credentials.py:1123}` is a location, not a secret.
_KEY_END = r"(?:(?!\.(?:py|pyc|java|scala|kt|rb|go|js|ts|sql|sh|c|cc|cpp|rs|log)\b)[A-Za-z0-9_.-])*?"
_VAL = (r"""(?:[bBuUrR]{1,2}(?=["'])|)"""   # Python's b'…' / u'…' literals
        r"""(?:\\"(?P<s4>(?:[^"\\\n]|\\[^"\n]){1,400}?)\\"|"(?P<s>[^"\n]{1,400})"|'(?P<s2>[^'\n]{1,400})'|"""
        r"""(?P<s3>(?!\d+\b|(?:true|false|null|none|yes|no)(?:[\s"',;&}<>\\)\]]|[.:](?!\S)|$))"""
        r"""[^\s"',;&}<>\\]{1,400}))""")
_SEP = r"""(?:\\?["'])?[ \t]*(?:=>|->|[:=])[ \t]*"""   # `key=`, `key: `, Ruby's `key =>`, Scala's `key ->`
# password / api_key / secret values may be all digits (`password=123456`); only `token` keeps the digit
# exemption, because `max_tokens=4096` / `prompt_tokens: 1500` / `token=3` are evidence, not secrets.
_VAL_ANY = _VAL.replace(r"\d+\b|", "")
# `pass` / `pwd` only as a whole word or after a separator (DB_PASS, MYSQL_PWD, Pwd): not `passed`, `bypass`.
_PASS_END = r"(?:[_.-][A-Za-z0-9_.-]*?)?(?![A-Za-z0-9])"
_Q = r"""(?:'(?P<s>[^'\n]{1,400})'|"(?P<s2>[^"\n]{1,400})"|(?P<s3>[^\s'";]{1,400}))"""
_XML_SECRET = r"(?:password|passwd|secret|token|credential|api[._-]?key|access[._-]?key|account[._-]?key)"
_HOST_END = r"""(?=[A-Za-z0-9._\-\[\]%]{1,253}(?:[:/?#\s'",;)\]]|$))"""

# (kind, regex). Named groups s, s2, … mark the secret inside the match; without one the whole match goes.
# Key-value rules start at the key word, not at the start of the key (`DB_` of `DB_PASS`): only the value is
# replaced, and a pattern that begins with a literal is tried cheaply at each position.
_BUILTIN: list[tuple[str, str, tuple[str, ...]]] = [
    ("private_key", r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?"
                    r"(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)", ("-----begin",)),
    ("slack_webhook", r"https://hooks\.slack\.com/(?:services|workflows|triggers)/(?P<s>[A-Za-z0-9_/-]{8,})",
     ("hooks.slack",)),
    ("slack_token", r"\bxox[abeposr]-[A-Za-z0-9-]{10,}|\bxapp-\d-[A-Za-z0-9-]{10,}", ("xox", "xapp-")),
    ("github_token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})",
     ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")),
    ("gitlab_token", r"\bgl(?:pat|ptt|dt|rt|cbt|imt|oas)-[A-Za-z0-9_-]{20,}",
     ("glpat-", "glptt-", "gldt-", "glrt-", "glcbt-", "glimt-", "gloas-")),
    ("anthropic_key", r"\bsk-ant-[A-Za-z0-9_-]{20,}", ("sk-ant-",)),
    ("openai_key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}", ("sk-",)),
    ("stripe_key", r"\b(?:sk|rk|pk|whsec)_(?:live|test)_[A-Za-z0-9]{16,}|\bwhsec_[A-Za-z0-9]{24,}",
     ("sk_", "rk_", "pk_", "whsec")),
    ("google_api_key", r"\bAIza[0-9A-Za-z_-]{35}", ("aiza",)),
    ("google_oauth_secret", r"\bGOCSPX-[A-Za-z0-9_-]{20,}", ("gocspx",)),
    ("google_refresh_token", r"(?<![A-Za-z0-9/])1//0[A-Za-z0-9_-]{30,}", ("1//0",)),
    ("google_access_token", r"\bya29\.[A-Za-z0-9_-]{20,}", ("ya29.",)),
    ("vault_token", r"\bhv[sbr]\.[A-Za-z0-9_-]{24,}", ("hvs.", "hvb.", "hvr.")),
    ("databricks_token", r"\bdapi[a-f0-9]{32}(?:-\d+)?\b", ("dapi",)),
    ("huggingface_token", r"\bhf_[A-Za-z0-9]{30,}", ("hf_",)),
    ("npm_token", r"\bnpm_[A-Za-z0-9]{36}\b", ("npm_",)),
    ("pypi_token", r"\bpypi-AgE[A-Za-z0-9_-]{50,}", ("pypi-",)),
    ("docker_token", r"\bdckr_pat_[A-Za-z0-9_-]{20,}", ("dckr_pat_",)),
    ("digitalocean_token", r"\bdo[opr]_v1_[a-f0-9]{64}\b", ("_v1_",)),
    ("shopify_token", r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b", ("shpat_", "shpca_", "shppa_", "shpss_")),
    ("grafana_token", r"\bglsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}\b|\bglc_[A-Za-z0-9+/]{32,}={0,2}", ("glsa_", "glc_")),
    ("newrelic_key", r"\bNR(?:AK|II|JS)-[A-Za-z0-9]{20,}", ("nrak-", "nrii-", "nrjs-")),
    ("atlassian_token", r"\bATATT3[A-Za-z0-9_=-]{40,}", ("atatt3",)),
    ("postman_key", r"\bPMAK-[a-f0-9]{24}-[a-f0-9]{34}\b", ("pmak-",)),
    ("mailgun_key", r"\bkey-[a-f0-9]{32}\b", ("key-",)),
    ("telegram_token", r"\b\d{8,10}:AA[A-Za-z0-9_-]{32,}", (":aa",)),
    ("age_key", r"\bAGE-SECRET-KEY-1[0-9A-Z]{50,}", ("age-secret-key-",)),
    ("azure_client_secret", r"(?<![A-Za-z0-9_~.])[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34}", ("q~",)),
    ("terraform_token", r"\b[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,}", (".atlasv1.",)),
    ("twilio_key", r"\bAC[a-f0-9]{32}:(?P<s>[a-f0-9]{32})\b|\bSK[a-f0-9]{32}\b", ("AC", "SK")),
    ("sendgrid_key", r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}", ("sg.",)),
    ("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*", ("eyj",)),   # alg none: no signature
    ("aws_access_key", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16}\b",
     ("akia", "asia", "agpa", "aida", "aroa", "aipa", "anpa", "anva", "abia", "acca")),
    ("aws_secret_key", r"(?i)\baws" + _KEY + r"(?:secret|sk)" + _KEY + r"(?:" + _SEP + r"|[ \t]+)"
     + r"""["']?(?P<s>[A-Za-z0-9/+]{40})\b"""
     r"""|\b(?:AKIA|ASIA)[A-Z0-9]{16}[ \t,;:'"]+(?P<s2>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])""",
     ("aws", "AKIA", "ASIA")),
    ("azure_storage_key", r"(?i)\bAccountKey=(?P<s>[A-Za-z0-9+/=]{20,})"
                          r"|(?i:\bfs\.azure\.account\.key\.[A-Za-z0-9_.-]{1,300}?[ \t]*[:=][ \t]*)"
                          r"""["']?(?P<s2>[A-Za-z0-9+/=]{20,})""", ("accountkey", "fs.azure.account.key")),
    ("azure_sas", r"(?i)[?&]sig=(?P<s>[A-Za-z0-9%+/=]{20,})", ("sig=",)),
    ("datadog_key", r"(?i)\b(?:dd|datadog)[_-]?(?:api|app(?:lication)?)[_-]?key" + _SEP
     + r"""["']?(?P<s>[A-Za-z0-9]{32,40})\b""", ("dd_", "dd-", "ddapi", "ddapp", "datadog")),
    ("basic_auth", r"(?i)\bauthorization[ \t]*[:=][ \t]*basic[ \t]+(?P<s>[A-Za-z0-9+/=]{8,})", ("basic",)),
    ("authorization", r"(?i)\b(?:proxy-)?authorization[ \t]*[:=][ \t]*[\"']?(?!(?:bearer|basic)\b)"
                      r"(?:[A-Za-z][A-Za-z0-9_-]{0,30}[ \t]+(?P<s>[^\s\"',;]{8,400})"
                      r"|(?P<s2>[A-Za-z0-9._~+/=-]{16,400}))", ("authorization",)),
    ("bearer_token", r"(?i)\bbearer[ \t]+(?P<s>[A-Za-z0-9._~+/=-]{8,})", ("bearer",)),
    ("cookie", r"(?i)\b(?:set-)?cookie[ \t]*:[ \t]*(?P<s>[^\s;]{1,400}(?:;[ \t]*[^\s;=]{1,100}=[^\s;]{0,400}){0,30})",
     ("cookie",)),
    ("sentry_dsn", r"(?i)\bhttps?://(?P<s>[a-f0-9]{32})(?::[a-f0-9]{32})?@[A-Za-z0-9.-]*sentry", ("sentry",)),
    ("dsn_password", r"(?i)(?<=[a-z0-9+.-])://[^:/@\s]{0,200}:(?!\d{1,5}(?:[/?#\s]|$))"
                     r"(?P<s>[^\s'\"<>]{1,400}?)@" + _HOST_END, ("://",)),
    ("oracle_password", r"(?i)(?:\b(?:sqlplus|sqlldr|expdp|impdp|rman|dgmgrl|conn(?:ect)?)[ \t]+"
                        r"(?:-[A-Za-z]+[ \t]+){0,3}|\bjdbc:oracle:\w+:|\buserid=)[\"']?[A-Za-z0-9_$#.]{1,60}/"
                        r"(?P<s>[^\s/@'\"]{1,200})@",
     ("sqlplus", "sqlldr", "expdp", "impdp", "rman", "dgmgrl", "conn", "jdbc:oracle", "userid=")),
    ("sql_password", r"(?i)\b(?:identified[ \t]+(?:with[ \t]+\w+[ \t]+)?by|with[ \t]+(?:(?:un)?encrypted[ \t]+)?"
                     r"password)[ \t]+(?:'(?P<s>[^'\n]{1,400})'|\"(?P<s2>[^\"\n]{1,400})\")"
                     r"|(?i:\b(?:create|alter)[ \t]+(?:user|role|login)\b[^\n;]{0,200}?"
                     r"(?:identified[ \t]+(?:with[ \t]+\w+[ \t]+)?by|password)[ \t]*=?[ \t]*)"
                     r"(?P<s3>[^\s'\";]{1,400})", ("identified", "password")),
    ("cli_password", r"(?i)(?<![\w-])--?(?:[a-z0-9]+[-_])*(?:password|passwd|pass|pwd|pass-?phrase)(?:[ \t]+|=)"
                     r"(?![-<])" + _Q + r"|(?<![\w-])-pass(?:in|out)?[ \t]+pass:(?P<s4>[^\s'\"]{1,400})",
     ("-pass", "_pass", "-pwd", "_pwd")),
    ("cli_secret", r"(?i)(?<![\w-])--?(?:[a-z0-9]+[-_])*(?:secret|token|api-?key|access-key|secret-key)"
                   r"(?:[ \t]+|=)(?![-<]|\d+\b)" + _Q,
     ("-secret", "_secret", "-token", "_token", "-api", "_api", "-access", "_access")),
    ("password", r"(?i)(?:password|passwd|pass_?phrase)" + _KEY_END + _SEP + _VAL_ANY,
     ("password", "passwd", "passphrase", "pass_phrase")),
    ("password", r"(?i)(?<![A-Za-z0-9])(?:pass|pwd)" + _PASS_END + _SEP + _VAL,
     ("pass", "pwd")),   # digits exempt: dbt's `PASS=41`
    # prose: `Invalid password 'x'` (or `\"x\"` inside a JSON record), `the password is hunter2`; unquoted after
    # is/was only with a digit or a symbol, so `the password is incorrect` / `password was reset` stay evidence
    ("password", r"(?i)\b(?:password|passwd|passphrase)[ \t]+(?:(?:is|was)[ \t]*:?[ \t]*)?"
                 r"""(?:'(?P<s>[^'\n]{1,400})'|"(?P<s2>[^"\n]{1,400})"|\\"(?P<s4>(?:[^"\\\n]|\\[^"\n]){1,400}?)\\")"""
                 r"|(?i:\b(?:password|passwd|passphrase)[ \t]+(?:is|was)[ \t]*:?[ \t]+)"
                 r"""(?P<s3>[^\s'"]{0,200}[0-9!@#$%^&*+=?~_-][^\s'"]{0,200})""",
     ("password", "passwd", "passphrase")),
    ("api_key", r"(?i)(?:api[_-]?key|apikey|access[_-]?key|account[_-]?key)" + _KEY_END + _SEP
     + _VAL_ANY,
     ("apikey", "api_key", "api-key", "access_key", "access-key", "accesskey", "account_key", "account-key",
      "accountkey")),
    ("token", r"(?i)token" + _KEY_END + _SEP + _VAL, ("token",)),
    ("secret", r"(?i)(?:secret|credential|private[_-]?key|client[_-]?key)"
     + _KEY_END + _SEP + _VAL_ANY,
     ("secret", "credential", "private_key", "private-key", "privatekey", "client_key", "client-key", "clientkey")),
    ("session", r"(?i)(?:session[_-]?(?:id|key)|sessid)" + _KEY_END + _SEP + _VAL, ("session", "sessid")),
    # Hadoop/Hive XML configuration: `<name>…password</name><value>X</value>` and `<password>X</password>`
    ("secret", r"(?i)<name>[^<\n]{0,200}?" + _XML_SECRET
     + r"[^<\n]{0,200}</name>[ \t]*<value>(?P<s>[^<\n]{1,400})</value>"
     + r"|<[\w.:-]{0,100}?" + _XML_SECRET + r"[\w.:-]{0,100}>(?P<s2>[^<\n]{1,400})</", ("<name>", "</")),
]

# Passwords given on a command line after a program name. A second pass of its own: a match runs from the
# program name to the option, and in the combined pass that span would hide other secrets between them.
# Case-sensitive: for mysql `-P` is the port, and `-p value` (with a space) prompts, `value` being the database.
_CLI_VAL = r"""(?:'(?P<s>[^'\n]{1,400})'|"(?P<s2>[^"\n]{1,400})"|(?P<s3>[^\s'"]{1,400}))"""
_CLI: list[tuple[str, str, tuple[str, ...]]] = [
    ("cli_password", r"\b(?:mysql(?:dump|admin|import|check|show|pump|sh)?|mariadb(?:-dump|-admin|-import)?)(?=[ \t])"
                     r"[^\n|;&]{0,400}?[ \t]-p" + _CLI_VAL, ("mysql", "mariadb")),
    ("cli_password", r"\bsshpass[ \t]+-p[ \t]*" + _CLI_VAL, ("sshpass",)),
    ("cli_password", r"\bredis-cli\b[^\n|;&]{0,400}?[ \t]-a[ \t]+" + _CLI_VAL, ("redis-cli",)),
    ("cli_password", r"\bcurl\b[^\n|;&]{0,400}?[ \t](?:-u|--user)(?:[ \t]+|=)?[\"']?[^\s:'\"]{1,200}:"
                     r"(?P<s>[^\s'\"]{1,400})", ("curl",)),
]

_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_BASE64_LINE = re.compile(r"[ \t]*[A-Za-z0-9+/=]{16,}[ \t]*")
# (6): a run of base64/url-safe characters; `_high_entropy` decides. A leading `/` is a path, not a blob.
_BLOB = re.compile(r"(?<![A-Za-z0-9+/=_.~-])[A-Za-z0-9+_-][A-Za-z0-9+/_-]{31,1023}={0,2}(?![A-Za-z0-9+/=_~-])")
_MARK = "[REDACTED:"
ENTROPY_BITS = 4.3                   # per character; random base64 of 32+ chars scores ~4.7-5.2


def _entropy(text: str) -> float:
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


def _high_entropy(token: str) -> bool:
    """A blob mixing upper case, lower case and at least three digits (one, in 40 characters: an AWS secret
    key's shape), with near-random character spread:
    keys and tokens, not hex hashes, UUIDs, identifiers or words."""
    digits = sum(ch.isdigit() for ch in token)
    # an AWS secret key is 40 characters of base64, often with a single digit (runs with `/` of other lengths
    # are paths in the real corpus)
    if digits < (1 if len(token) == 40 else 3):
        return False
    if not any(ch.isupper() for ch in token) or not any(ch.islower() for ch in token):
        return False
    return _entropy(token.rstrip("=")) >= ENTROPY_BITS


def _combine(patterns: list[tuple[str, str]]) -> tuple[re.Pattern[str], list[str], list[list[str]]]:
    parts, kinds, groups = [], [], []
    for i, (kind, rx) in enumerate(patterns):
        inline = ""
        if rx.startswith("(?i)"):
            inline, rx = "(?i:", rx[4:]
        body = re.sub(r"\(\?P<(s\d?)>", rf"(?P<k{i}_\1>", rx)
        parts.append(f"(?P<k{i}>{inline}{body}{')' if inline else ''})")
        kinds.append(kind)
        groups.append([f"k{i}_{g}" for g in re.findall(r"\(\?P<(s\d?)>", rx)])
    return re.compile("|".join(parts), re.DOTALL), kinds, groups


class _Pass:
    """Patterns run as one alternation (priority = list order), over only the patterns whose hints the text
    holds: a hint is a substring every match contains (case-folded unless the hint has capitals), so a line
    of INFO noise costs a few `in` tests, and a line with `password=` runs two patterns, not fifty."""

    def __init__(self, patterns: list[tuple[str, str, tuple[str, ...]]]) -> None:
        self.kinds = [k for k, _, _ in patterns]
        self._rx = [rx for _, rx, _ in patterns]
        self.by_hint: dict[str, set[int]] = {}
        for i, (_, _, hints) in enumerate(patterns):
            for h in hints:
                self.by_hint.setdefault(h, set()).add(i)
        self.cased = tuple(h for h in self.by_hint if h != h.lower())
        self.folded = tuple(h for h in self.by_hint if h == h.lower())
        self._compiled: dict[tuple[int, ...], tuple[re.Pattern[str], list[str], list[list[str]]]] = {}

    def hinted(self, text: str, low: str) -> tuple[int, ...]:
        found: set[int] = set()
        for h in self.folded:
            if h in low:
                found |= self.by_hint[h]
        for h in self.cased:
            if h in text:
                found |= self.by_hint[h]
        return tuple(sorted(found))

    def sub(self, text: str, low: str | None = None) -> str:
        which = self.hinted(text, text.lower() if low is None else low)
        if not which:
            return text
        if (entry := self._compiled.get(which)) is None:
            if len(self._compiled) > 512:
                self._compiled.clear()
            entry = self._compiled[which] = _combine([(self.kinds[i], self._rx[i]) for i in which])
        rx, kinds, groups = entry

        def one(m: re.Match[str]) -> str:
            i = int((m.lastgroup or "")[1:].split("_")[0])
            return _substitute(m, kinds[i], groups[i])

        return rx.sub(one, text)


def _overlaps_marker(text: str, start: int, end: int) -> bool:
    """Whether [start, end) touches a `[REDACTED:…]` marker (markers do not nest: the last one that begins
    before `end` is the only candidate)."""
    j = text.rfind(_MARK, 0, end)
    return j != -1 and text.find("]", j) >= start


def _substitute(m: re.Match[str], kind: str, names: list[str] | None) -> str:
    if names is not None:
        spans = [m.span(g) for g in names if m.start(g) != -1]
    else:
        spans = [m.span(g) for g in range(1, (m.re.groups or 0) + 1) if m.start(g) != -1][:1]
    start, end = spans[0] if spans else m.span()
    if _overlaps_marker(m.string, start, end):
        return m.group(0)        # already redacted (text redacted twice stays as the first pass left it)
    if not spans:
        return f"[REDACTED:{kind}]"
    whole = m.group(0)
    return whole[:start - m.start()] + f"[REDACTED:{kind}]" + whole[end - m.start():]


class Redactor:
    """Replaces secrets with `[REDACTED:<kind>]`. `extra` = [(kind, regex)] from the topology, compiled with RE2
    (linear on any line; no lookaround, so a regex with a capturing group has only its first group replaced)."""

    def __init__(self, extra: Iterable[tuple[str, str]] = (), enabled: bool = True) -> None:
        self.enabled = enabled
        self._main, self._cli = _Pass(_BUILTIN), _Pass(_CLI)
        self._extra = [(kind, compile_linear(rx)) for kind, rx in extra]

    @property
    def kinds(self) -> list[str]:
        return list(dict.fromkeys([*self._main.kinds, *self._cli.kinds, "high_entropy",
                                   *(k for k, _ in self._extra)]))

    @staticmethod
    def _blob(m: re.Match[str]) -> str:
        return "[REDACTED:high_entropy]" if _high_entropy(m.group(0)) else m.group(0)

    def redact(self, text: str) -> str:
        """Redact one string (which may hold several lines)."""
        if not self.enabled or not text:
            return text
        return self._apply(text, True)

    def _apply(self, text: str, maybe_builtin: bool) -> str:
        if maybe_builtin:
            text = self._main.sub(text)
            text = self._cli.sub(text)
        if len(text) >= 32:
            text = _BLOB.sub(self._blob, text)
        for kind, rx in self._extra:
            text = rx.sub(partial(_substitute, kind=kind, names=None), text)
        return text

    def _candidates(self, lines: list[str]) -> set[int]:
        """Indexes of lines holding any hint: one str.find sweep per hint over the joined text."""
        joined = "\n".join(lines)
        low = joined.lower()
        starts = list(accumulate((len(x) + 1 for x in lines[:-1]), initial=0))
        hits: set[int] = set()
        for p in (self._main, self._cli):
            for text, hints in ((low, p.folded), (joined, p.cased)):
                for h in hints:
                    i = text.find(h)
                    while i != -1:
                        k = bisect_right(starts, i) - 1
                        hits.add(k)
                        i = text.find(h, starts[k + 1]) if k + 1 < len(starts) else -1
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
