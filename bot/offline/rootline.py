"""Find and rank the candidate root-error lines of any log, whether or not a signature knows them.

A signature recognises a phrasing; this pass recognises the *shape* of an error line in any system:
exception class names (Python, JVM/Scala, Go, Node, .NET), `Caused by:` chains, level markers (ERROR,
FATAL, CRITICAL, SEVERE, glog's `E1201`), SQLSTATE and vendor codes (ORA-, Snowflake, MySQL, SQL Server,
BigQuery reasons, Spark error classes), HTTP statuses, errno names, signals and exit codes, and
failure phrases (failed, cannot, unable to, denied, refused, timed out). Each line gets a score; the
deepest cause beats the wrappers and summaries that repeat it (`Task failed with exception`, `Job aborted
due to stage failure`, `Caused by` chains end in the cause). A log with such a line is never "blind".

Every regex here is linear: no nested or adjacent unbounded repeats over the same characters, and lines
are at most the reader's MAX_LINE_CHARS long.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import ahocorasick

from bot.offline.taxonomy import Entry, Taxonomy, taxonomy
from bot.sandbox import Line

MAX_CANDIDATES = 8
SCAN_CHARS = 2000     # an error's identifiers sit at the start of its line; the rest is message
TAIL_LINES = 120      # error-shaped lines analysed from the end (where the run failed) ...
HEAD_LINES = 30       # ... and from the start (the first error, when it is earlier): error spam stays cheap

# ---------------------------------------------------------------- line shapes

# orchestrator/logger prefixes: `[2024-01-01 10:00:00,123] {taskinstance.py:1937} ERROR - `,
# `2024-01-01 10:00:00.123 ERROR 123 --- [main] o.a.s.Foo : `, `24/01/01 10:00:00 ERROR Executor: `,
# `E1201 10:00:00.000 1 file.go:12] `, `[2024-01-01T10:00:00Z] ERROR: `, `ERROR:root:`, `12:00:01  `, and the box
# Terraform draws around a diagnostic (`│ Error: …`)
_PREFIX = re.compile(
    r"^(?:│ ?)?(?:\s*\[[^\]]{1,60}\])?\s*(?:\{[^}]{1,80}\}\s*)?"
    r"(?:\d{2,4}[-/.]\d\d[-/.]\d\d[ T,]*[\d:.,]*(?:Z|[+-]\d\d:?\d\d| ?UTC)?\s*)?"
    r"(?:\d\d:\d\d:\d\d[.,\d]*\s*)?"
    r"(?:[-|]\s*(?:[\w.]{1,60}\s*[-|]\s*)?(?=(?:TRACE|DEBUG|INFO|WARNING|WARN|ERROR|FATAL|CRITICAL)\b))?"
    r"(?:\[?(?P<level>TRACE|DEBUG|INFO|NOTICE|WARNING|WARN|ERROR|FATAL|CRITICAL|SEVERE|PANIC|E|W|I|F)\]?"
    r"(?=[\s:/\-\]]|\d{4} )[\s:/\-]*(?:\d{4} \S+ +\d+ \S+\] )?)?")
# a level marker, not the word: `ERROR`, `[fatal]`, `level=error`, a CLI's opening `error:`. "Runtime Error in
# model …" and "make: *** Error 1" are headers and summaries, whose cause is on another line
_LEVEL_ANYWHERE = re.compile(r"\b(?P<level>ERROR|FATAL|CRITICAL|SEVERE|PANIC)\b"
                             r"|\[(?i:error|fatal|critical|crit|err)\]|^(?i:fatal error|error|fatal|critical):"
                             r"|(?i:level[=:]\s*\"?(?P<kv>error|fatal|critical)\b)"
                             r'|(?i:"level"\s*:\s*"(?P<json>error|fatal|critical)")')
_WARN = re.compile(r"\b(?:WARN|WARNING)\b|level[=:]\s*\"?warn", re.IGNORECASE)
_FRAME = re.compile(r'^\s*(?:at [\w$.<>/]+\(|File "|\.{3} \d+ more|\^+\s*$|~+\s*$)')
_CAUSED_BY = re.compile(r"^\s*(?:Caused by|Cause|Root cause|Suppressed)\s*:\s*", re.IGNORECASE)
# an exception class: a CamelCase name (optionally dotted) ending in a telling suffix, or any dotted/CamelCase
# name opening a line as `Name: message` (Python's last traceback line)
_EXC_SUFFIX = re.compile(
    r"(?<![\w.$])((?:[a-z_][\w$]*\.){0,8}[A-Z][\w$]{0,80}?(?:Error|Exception|Exit|Failure|Fault|Interrupt"
    r"|Timeout|Denied|Exceeded|Violation|NotFound|Conflict|Unavailable|Forbidden|Unauthorized|Unauthenticated"
    r"|Warning|Warn|Killed|Lost|Panic|Canceled|Cancelled|Crash|Crashed|Disconnected|Refused)\b)(?:\[\w+\])?")
_EXC_OPENING = re.compile(r"^((?:[a-z_][\w]*\.){1,8}[A-Z]\w{1,80}|[A-Z][a-z]+(?:[A-Z][a-z0-9]*){1,8}):\s")
# codes
_SQLSTATE = re.compile(r"(?i:sql\s?state)\W{0,4}\[?([0-9A-Z]{5})\b|\(([0-9A-Z]{5})\):|\[([0-9A-Z]{5})\] \["
                       r"|\(Error: (\d\d[0-9A-Z]{3})\)")   # JDBC drivers: `(Error: 57P01)`
_SNOWFLAKE = re.compile(r"\b(\d{6}) \(([0-9A-Z]{5})\)")
_SNOWFLAKE_PY = re.compile(r"snowflake\.connector\.errors\.\w+: (\d{6}):")   # the Python connector: no SQLSTATE
_ORACLE = re.compile(r"\bORA-(\d{5})\b")
# `ERROR 1114 (HY000)` also arrives as `1114 (HY000) …` once a logger prefix's level word is stripped
_MYSQL = re.compile(r"\bERROR (\d{4}) \(([0-9A-Z]{5})\)|\((\d{4}), [\"']|MySQL\w*Error\W+(\d{4})\b"
                    r"|^(\d{4}) \(([0-9A-Z]{5})\)[: ]")
_MSSQL = re.compile(r"\bMsg (\d{1,6}), Level|\[SQL Server\][^()]{0,300}\((\d{2,6})\)")
_BQ_REASON = re.compile(r"""['"]?reason['"]?\s*[:=]\s*['"]?([a-z][A-Za-z]{3,40})""")
_SPARK_CLASS = re.compile(r"\[([A-Z][A-Z0-9]{2,}(?:_[A-Z0-9]+){1,8})(?:\.[A-Z_]+)?\]")
_HTTP = re.compile(r"(?i:\bstatus(?:[ _]?code)?|\bHTTP(?:/\d(?:\.\d)?)?|\bresponse code|\bcode|\berror)"
                   r"\W{0,3}([45]\d\d)\b"
                   r"|\b([45]\d\d) (?:Client Error|Server Error|Forbidden|Not Found|Unauthorized|Bad Request"
                   r"|Too Many Requests|Service Unavailable|Internal Server Error|Bad Gateway|Gateway Time-?out"
                   r"|Conflict)")
_CAMEL = re.compile(r"[A-Z][a-z]+(?:[A-Z]+[a-z]*){1,8}")   # a CamelCase code: `PublicIPCountLimitReached`
_ERRNO_NUM = re.compile(r"\[Errno (-?\d{1,3})\]|errno[ =:]+(-?\d{1,3})\b", re.IGNORECASE)
_ERRNO_NAME = re.compile(r"\b(E[A-Z]{3,12}|EAI_AGAIN)\b")
_SIGNAL = re.compile(r"\b(SIG[A-Z]{2,6})\b")
_EXIT = re.compile(r"(?i:exit(?:ed)?(?: with)?(?: code| status)?|return code|exit_?code|exitCode|status code)"
                   r"[\s=:(]{0,3}(-?\d{1,3})\b")
_AWS_CODE = re.compile(r"An error occurred \((\w{3,60})\)|<Code>(\w{3,60})</Code>"
                       r"|(?:Error ?Code|\"code\"|\bcode)\W{1,4}(\w{3,60})")
_PHRASE = re.compile(
    r"(?i)\b(?:failed|failure|cannot|can't|could not|couldn't|unable to|denied|refused|timed? ?out|not found"
    r"|no such|does not exist|doesn't exist|(?:did|could|does) not find|invalid|missing|exceeded|killed|aborted"
    r"|crashed|unreachable"
    r"|rejected|violat\w*|not allowed|not permitted|unauthori[sz]ed|forbidden|out of memory|no space|errored"
    r"|exception|traceback|error|fail|mismatch\w*|differ\w*|not present|larger than|too (?:large|long|many|big)"
    r"|unsupported|not supported|incompatible|conflict\w*)\b")
# a line without any of these (lowercased) substrings is not an error line: one Aho-Corasick pass per line
_GATE_WORDS = ("error", "exception", "fail", "fatal", "critical", "severe", "panic", "cannot", "can't", "could not",
               "couldn't", "not find", "unable", "denied", "refused", "timed out", "timeout", "not found", "no such",
               "not exist", "n't exist", "invalid", "missing", "exceed", "kill", "abort", "crash", "unreachable",
               "reject", "violat", "not allowed", "not permitted", "unauthori", "forbidden", "out of memory",
               "no space", "sig", "exit", "return code", "diagnostics: ", "ora-", "sqlstate", "sql state", "caused by",
               "traceback", "throttl", "quota", "limit", "lost", "err", "status", "code",
               "e0", "e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8", "e9")
_GATE = ahocorasick.Automaton()
for _w in _GATE_WORDS:
    _GATE.add_word(_w, _w)
_GATE.make_automaton()


def _error_shaped(text: str) -> bool:
    return next(_GATE.iter(text[:SCAN_CHARS].lower()), None) is not None
_HAS_STATUS = re.compile(r"[45]\d\d")
_SIGNAL_NUMBER = re.compile(r"signal[ =:]+(-?\d{1,2})\b", re.IGNORECASE)
_ERRNO_BY_NUMBER = {"2": "ENOENT", "13": "EACCES", "28": "ENOSPC", "32": "EPIPE", "104": "ECONNRESET",
                    "110": "ETIMEDOUT", "111": "ECONNREFUSED", "113": "EHOSTUNREACH", "101": "ENETUNREACH",
                    "12": "ENOMEM", "24": "EMFILE", "122": "EDQUOT", "30": "EROFS", "5": "EIO", "1": "EPERM",
                    "-2": "ENOTFOUND", "-3": "EAI_AGAIN", "-5": "ENOTFOUND"}
_SIGNAL_BY_NUMBER = {"9": "SIGKILL", "15": "SIGTERM", "11": "SIGSEGV", "6": "SIGABRT", "7": "SIGBUS"}

# lines that summarise or wrap an error reported elsewhere: they score low so the cause they repeat wins
_SUMMARY = re.compile(
    r"Task failed with exception|Marking task as (?:FAILED|UP_FOR_RETRY)|Task exited with return code"
    r"|Failed to execute job \d+ for task|Job aborted due to stage failure|Lost task \d|Exception in thread \"main\""
    r"|^\s*(?:Done\. )?PASS=\d|Completed with \d+ errors?|Finished running|Command exited with"
    r"|exited with (?:code|status)|process returned non-zero|Bash command failed|ERROR - Failed"
    r"|Encountered an error:\s*$|Traceback \(most recent call last\)"
    r"|Error in sys\.excepthook|Setting the status|Dependencies all met|^\s*raise\b|^\s*\w+\s*=\s*\w+\(|Retrying"
    r"|will retry|up_for_retry|Sentry|see the (?:log|above)|For more information|^\s*[\^~]+\s*$", re.IGNORECASE)
# the part of _SUMMARY that never carries the cause, plus stack frames (where, not what): the lines a root cause
# does not quote. Not all of _SUMMARY: "Job aborted due to stage failure: …" and "ERROR - Failed …" often go on to
# name the cause (quoting by _SUMMARY instead lowered real dev fact recall from 80.9% to 79.5%)
_NO_NEWS = re.compile(r'File "|at [\w$.<>/]+\(|(?:\d\d:\d\d:\d\d\s+)?(?i:Marking task as \w+|Task failed with exception'
                      r'|Traceback \(most recent call last\)|(?:Failed to execute job \d+ for task \S+ \()?'
                      r'Task exited with return code [01]\b|Completed with \d+ errors? and \d+ warnings?:?$'
                      r'|Done\. PASS=\d+)')


def names_no_cause(line: str) -> bool:
    """The (prefix-stripped) line is a frame or an orchestrator's "it failed", so quoting it tells nobody why."""
    return _NO_NEWS.match(line) is not None


# YARN's application report gives the reason a job failed or never started on its `diagnostics:` line, in prose
# ("Skipping AM assignment as cluster resource is empty")
_DIAGNOSTICS = re.compile(r"\s*diagnostics: (?!N/A\s*$)\S")
_CHAIN = re.compile(r"The above exception was the direct cause|During handling of the above exception")
_NOT_ERROR = re.compile(r"(?i)\b(?:0 errors?|no errors?|errors?=0|error_count[=:]\s*0|without errors?|ERROR=0"
                        r"|warnings?|deprecat\w*|retry(?:ing)? in|succeeded|success(?:ful(?:ly)?)?)\b")


@dataclass(frozen=True)
class Ident:
    """An identifier on a line, with the taxonomy table it is looked up in."""

    kind: str   # exception | sqlstate | vendor | http | errno | signal | exit | cloud
    key: str


@dataclass(frozen=True)
class RootLine:
    """One candidate root-error line and what marks it."""

    index: int                        # position in the excerpt's line list
    line: Line
    score: float
    ids: tuple[Ident, ...]
    marks: tuple[str, ...]            # caused_by, exception, code, level, phrase, summary, chained
    message: str                      # the line without its logger prefix

    @property
    def text(self) -> str:
        return self.line.text


@dataclass(frozen=True)
class Judgement:
    """What the taxonomy says about one candidate: the first decisive identifier on it, else a wrapper."""

    root: RootLine
    ident: Ident
    entry: Entry


def strip_prefix(text: str) -> tuple[str, str | None]:
    """The line without its timestamp/logger prefix, and the level word the prefix carried (if any)."""
    m = _PREFIX.match(text)
    if m is None or not m.group(0):
        return text, None
    return text[m.end():], m.group("level")


@cache
def _cloud_codes(tax: Taxonomy) -> tuple[frozenset[str], re.Pattern[str] | None]:
    codes = frozenset(tax.tables.get("cloud", {}))
    words = "|".join(sorted((re.escape(c) for c in codes), key=len, reverse=True))
    return codes, (re.compile(rf"\b(?:{words})\b") if codes else None)


def identifiers(message: str, tax: Taxonomy | None = None, *, logged: bool = False) -> list[Ident]:
    """Every known identifier on a message, most specific first (codes before exception classes). `logged`: the
    line had a log level, so a bare CamelCase name opening it (`ERROR FileFormatWriter: Aborting job`) is the
    logger's name, not an exception's."""
    tax = tax or taxonomy()
    text = message[:SCAN_CHARS]
    out: list[Ident] = []

    def add(kind: str, key: str | None) -> None:
        if key and (ident := Ident(kind, key)) not in out:
            out.append(ident)

    low = text.lower()
    # each family's regexes run only where its literal appears: error spam is long
    if "ora-" in low:
        for m in _ORACLE.finditer(text):
            add("vendor", f"ora:{m[1]}")
    if "snowflake.connector" in low:
        for m in _SNOWFLAKE_PY.finditer(text):
            add("vendor", f"snowflake:{m[1]}")
    if "(" in text:
        for m in _SNOWFLAKE.finditer(text):
            add("vendor", f"snowflake:{m[1]}")
            add("sqlstate", m[2])
        for m in _MYSQL.finditer(text):
            add("vendor", f"mysql:{m[1] or m[3] or m[4] or m[5]}")
            add("sqlstate", m[2] or m[6])
    if "msg " in low or "sql server" in low:
        for m in _MSSQL.finditer(text):
            add("vendor", f"mssql:{m[1] or m[2]}")
    if "[" in text:
        for m in _SPARK_CLASS.finditer(text):
            add("vendor", f"spark:{m[1]}")
            if m[1].startswith("_LEGACY_ERROR_TEMP"):
                add("vendor", "spark:_LEGACY_ERROR_TEMP")
    if "reason" in low:
        for m in _BQ_REASON.finditer(text):
            add("vendor", f"bigquery:{m[1]}")
    if "sql" in low or "(" in text or "[" in text:
        for m in _SQLSTATE.finditer(text):
            add("sqlstate", m[1] or m[2] or m[3] or m[4])
    cloud, cloud_words = _cloud_codes(tax)
    for m in _AWS_CODE.finditer(text) if ("code" in low or "error occurred" in low) else ():
        code = m[1] or m[2] or m[3]
        if code in cloud or (_CAMEL.fullmatch(code) and tax.by_name(code, codes=True) is not None):
            add("cloud", code)
    if cloud_words is not None:
        for m in cloud_words.finditer(text):
            add("cloud", m[0])
    if _HAS_STATUS.search(text):
        for m in _HTTP.finditer(text):
            add("http", m[1] or m[2])
    if "errno" in low:
        for m in _ERRNO_NUM.finditer(text):
            add("errno", _ERRNO_BY_NUMBER.get(m[1] or m[2]))
    if " E" in text or text.startswith("E"):
        for m in _ERRNO_NAME.finditer(text):
            if tax.get("errno", m[1]):
                add("errno", m[1])
    caused = _CAUSED_BY.match(text)
    body = text[caused.end():] if caused else text
    opening = _EXC_OPENING.match(body.lstrip())
    if opening and not (logged and "." not in opening[1] and not caused):
        add("exception", opening[1])
    for m in _EXC_SUFFIX.finditer(text):
        add("exception", m[1])
    if "SIG" in text:
        for m in _SIGNAL.finditer(text):
            if tax.get("signal", m[1]):
                add("signal", m[1])
    if "signal" in low:
        for m in _SIGNAL_NUMBER.finditer(text):
            add("signal", _SIGNAL_BY_NUMBER.get(m[1].lstrip("-")))
    if "exit" in low or "code" in low:
        for m in _EXIT.finditer(text):
            if tax.get("exit", m[1]):
                add("exit", m[1])
    return out


def lookup(ident: Ident, tax: Taxonomy | None = None) -> Entry | None:
    tax = tax or taxonomy()
    if ident.kind == "exception":
        return tax.exception(ident.key)
    if ident.kind == "sqlstate":
        return tax.sqlstate(ident.key)
    entry = tax.get(ident.kind, ident.key)
    if entry is None and ident.kind in ("vendor", "cloud") and not ident.key[-1].isdigit():
        entry = tax.by_name(ident.key.rsplit(":", 1)[-1], codes=True)   # an unlisted Spark class or cloud code
    return entry


def _line_score(text: str, tax: Taxonomy) -> tuple[float, tuple[Ident, ...], tuple[str, ...], str]:
    message, level = strip_prefix(text)
    marks: list[str] = []
    score = 0.0
    if _CAUSED_BY.match(message):
        marks.append("caused_by")
        score += 2.0
    ids = identifiers(message, tax, logged=level is not None)
    entries = [(i, lookup(i, tax)) for i in ids]
    if any(i.kind == "exception" for i in ids):
        marks.append("exception")
        score += 3.0
    if any(i.kind in ("sqlstate", "vendor", "cloud", "errno", "http") for i in ids):
        marks.append("code")
        score += 3.0
    if any(i.kind in ("signal", "exit") for i in ids):
        marks.append("signal")
        score += 1.5
    if any(e is not None and e.decisive for _, e in entries):
        score += 1.5
    elif entries and all(e is not None and e.role != "cause" for _, e in entries):
        score -= 1.0          # only wrappers or warnings named on it: the cause is elsewhere
    if level in ("ERROR", "FATAL", "CRITICAL", "SEVERE", "PANIC", "E", "F") or _LEVEL_ANYWHERE.search(message[:200]):
        marks.append("level")
        score += 2.0
    elif level in ("WARN", "WARNING", "W", "INFO", "I", "DEBUG"):
        score -= 1.0 if level.startswith("W") else 0.3
    if _PHRASE.search(message[:SCAN_CHARS]) or _DIAGNOSTICS.match(message):
        marks.append("phrase")
        score += 1.5
    if score > 0 and _SUMMARY.search(message[:SCAN_CHARS]):
        marks.append("summary")
        score -= 2.5
    if score > 0 and _NOT_ERROR.search(message[:300]) and "exception" not in marks and "code" not in marks:
        score -= 2.0
    if _WARN.search(message[:40]) and "level" not in marks:
        score -= 1.0
    return score, tuple(ids), tuple(marks), message


def candidates(lines: list[Line], start: int = 0, tax: Taxonomy | None = None) -> list[RootLine]:
    """The candidate root lines of `lines[start:]`, best first (at most MAX_CANDIDATES).

    Ranking: the line's own marks, then depth — the last `Caused by` of a chain and the exception a
    chained traceback reports as "the direct cause" beat the wrappers after them — then recency (the
    failure that ended the run is near the end).
    """
    tax = tax or taxonomy()
    n = len(lines)
    if n <= start:
        return []
    found: list[RootLine] = []
    chained_before: set[int] = set()
    last_exception_idx: int | None = None
    gated = [i for i in range(start, n)
             if _error_shaped(lines[i].text) or _EXC_OPENING.match(lines[i].text.lstrip())]
    if len(gated) > HEAD_LINES + TAIL_LINES:
        gated = gated[:HEAD_LINES] + gated[-TAIL_LINES:]
    headers, headed = _headers(lines, gated, n)
    if headed:
        gated = sorted({*gated, *headed})
    for i in gated:
        text = lines[i].text
        if not text.strip() or _FRAME.match(text):
            continue
        if _CHAIN.search(text):
            if last_exception_idx is not None:
                chained_before.add(last_exception_idx)
            continue
        score, ids, marks, message = _line_score(text, tax)
        if i in headers:
            marks, score = (*marks, "header"), score - HEADER_PENALTY
        elif i in headed:
            marks, score = (*marks, "under_header"), score + HEADER_PENALTY
        if not marks or ("summary" in marks and not ids):
            continue  # a summary that names no error ("Task exited with return code 1") is not a root
        if "exception" in marks:
            last_exception_idx = i
        found.append(RootLine(i, lines[i], score, ids, marks, message.strip()))
    if not found:
        return _last_lines(lines, start)
    span = max(1, n - start)
    ranked: list[RootLine] = []
    for j, c in enumerate(found):
        bonus = 0.8 * (c.index - start) / span           # later lines ended the run
        if c.index in chained_before:
            bonus += 1.5                                  # "the above exception was the direct cause"
        if "caused_by" in c.marks:
            later = any("caused_by" in d.marks for d in found[j + 1:j + 40] if d.index - c.index < 200)
            bonus += 0.5 if later else 1.5                 # the innermost cause of its chain
        ranked.append(RootLine(c.index, c.line, round(c.score + bonus, 3), c.ids, c.marks, c.message))
    ranked.sort(key=lambda c: (-c.score, -c.index))
    return ranked[:MAX_CANDIDATES]


# a header whose message is on the lines under it: dbt's `Runtime Error` / `Database Error in model x (path)` /
# `Failed to read package: Runtime Error`, `Completed with 1 error and 0 warnings:`, Nextflow's `Command error:`,
# `Caused by:`, `Run result unavailable: job failed with error message`. The header ranks below its message, which
# is a candidate even when it reads like prose (`TEMPORARILY_UNAVAILABLE: Cluster … is temporarily unavailable`)
_HEADER = re.compile(r"(?:(?:\S+ ){0,9}\S+:"
                     r"|(?:Runtime|Database|Compilation|Dependency|Parsing|Internal|Unhandled)? ?Error"
                     r"(?: in (?:model|test|seed|snapshot|macro|operation|sql \w+) \S+(?: \([^)]{1,300}\))?)?"
                     r"|Run result unavailable: job failed with error message"
                     r"|[^:]{1,80}: (?:Runtime|Database|Compilation) Error)$")
HEADER_PENALTY = 2.0
_HEADER_ENDS = (":", "Error", ")", "message")   # every _HEADER ends so: a cheap test before the regexes
_WORDY = re.compile(r"[A-Za-z]{3}")   # a message, not a value (`Command exit status:` / `255`)
HEADER_REACH = 3


def _headers(lines: list[Line], gated: list[int], n: int) -> tuple[set[int], set[int]]:
    """Indexes of the headers among `gated`, and of the first content line under each (through nested headers)."""
    headers: set[int] = set()
    out: set[int] = set()
    for i in gated:
        text = lines[i].text.rstrip()
        if not text.endswith(_HEADER_ENDS) or not _HEADER.match(strip_prefix(text)[0].strip()):
            continue
        headers.add(i)
        j, reach = i + 1, i + 1 + HEADER_REACH
        while j < min(n, reach):
            msg = strip_prefix(lines[j].text)[0].strip()
            if not msg:
                j += 1
            elif _HEADER.match(msg):
                j, reach = j + 1, j + 1 + HEADER_REACH
            else:
                if _WORDY.search(msg) and not _FRAME.match(lines[j].text) and not _CHAIN.search(msg):
                    out.add(j)
                break
    return headers, out


# a client still retrying when the log ends ("Retrying connect to server: master/10.0.0.3:9000. Already tried
# 7 time(s)") is the failure, although its logger says INFO
_RETRY_LOOP = re.compile(r"(?i)\bretrying\b.{0,80}\b(?:connect|server|host|broker|endpoint)"
                         r"|\balready tried \d+ time")
RETRY_TAIL = 5   # a retry counts only among the log's last lines: one followed by "Connected" was resolved


def _last_lines(lines: list[Line], start: int) -> list[RootLine]:
    """No line looks like an error: the last lines of a failed run's log are the best guess of its cause
    ("File is not a zip file", "could only be replicated to 0 nodes", a client retrying a server until the
    log ends), so they are quoted, weakly ranked. Other INFO lines are progress, not causes."""
    out: list[RootLine] = []
    for i in range(len(lines) - 1, start - 1, -1):
        text = lines[i].text
        message, level = strip_prefix(text)
        retrying = i >= len(lines) - RETRY_TAIL and _RETRY_LOOP.search(message[:SCAN_CHARS]) is not None
        quiet = level in ("INFO", "DEBUG", "I") and not retrying
        if not message.strip() or _FRAME.match(text) or quiet:
            continue
        out.append(RootLine(i, lines[i], round(0.5 - 0.1 * len(out), 3), (), ("last_line",), message.strip()))
        if len(out) == 2:
            break
    return out


def judge(roots: list[RootLine], tax: Taxonomy | None = None) -> Judgement | None:
    """The taxonomy's reading of the best candidate that names a decisive identifier (else a wrapper's)."""
    tax = tax or taxonomy()
    fallback: Judgement | None = None
    for r in roots:
        for ident in r.ids:
            entry = lookup(ident, tax)
            if entry is None:
                continue
            if entry.decisive:
                return Judgement(r, ident, entry)
            if fallback is None and entry.role == "wrapper" and entry.cat != "unknown":
                fallback = Judgement(r, ident, entry)
    return fallback
