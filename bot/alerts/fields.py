"""Job, run id, task, try number and log hints found in a message: labelled fields (`DAG: x`, `Job: x`, an
attachment field titled "Flow"), URLs (`dag_id=`, `/runs/<id>`, `/flow-runs/flow-run/<id>`, `jobName=`),
the tools' own sentence shapes (`Job "x" failed`, `Flow run x/y entered state`), and quoted names.

Every pattern is applied to one bounded line at a time and has bounded repeats, so the work per line is
bounded and the whole pass is linear in the message's size.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from bot.alerts.text import Link, Message

MAX_LINE = 2_000
FIRM = 75          # a job name at least this sure is used as written when no registered job matches
JOB, RUN, TASK, TRY, LOG = "job", "run_id", "task", "try_number", "log"

# label (normalised: lower case, `_`→space) → (role, weight). Higher weight wins within a role.
LABELS: dict[str, tuple[str, int]] = {
    "dag": (JOB, 100), "dag id": (JOB, 100), "dagid": (JOB, 100), "dag name": (JOB, 100),
    "job": (JOB, 90), "job name": (JOB, 92), "glue job": (JOB, 92), "jobname": (JOB, 92),
    "pipeline": (JOB, 90), "pipeline name": (JOB, 90), "flow": (JOB, 90), "flow name": (JOB, 90),
    "flow id": (JOB, 88), "workflow": (JOB, 85), "workflow name": (JOB, 85), "connection": (JOB, 85),
    "connection name": (JOB, 85), "connector": (JOB, 84), "connector name": (JOB, 84), "model": (JOB, 80),
    "checkpoint": (JOB, 75), "checkpoint name": (JOB, 75), "asset": (JOB, 60), "data asset name": (JOB, 55),
    "data asset": (JOB, 55), "expectation suite name": (JOB, 50), "table": (JOB, 30), "source": (JOB, 20),
    "run id": (RUN, 90), "dag run id": (RUN, 95), "run": (RUN, 60), "dag run": (RUN, 70), "flow run id": (RUN, 95),
    "execution": (RUN, 80), "execution id": (RUN, 85), "job run id": (RUN, 95), "jobrunid": (RUN, 95),
    "job id": (RUN, 50), "run number": (RUN, 70), "build": (RUN, 60), "build number": (RUN, 70),
    "task": (TASK, 90), "task id": (TASK, 92), "failed task": (TASK, 95), "step": (TASK, 70), "op": (TASK, 70),
    "steps failed": (TASK, 80), "failed step": (TASK, 85), "test": (TASK, 40), "node": (TASK, 40),
    "try": (TRY, 90), "try number": (TRY, 95), "attempt": (TRY, 80),
    "log": (LOG, 80), "logs": (LOG, 80), "log url": (LOG, 90), "log path": (LOG, 95), "log file": (LOG, 95),
}
# A tool's own words for a label can differ: GitHub Actions' `job` field is a job *of the workflow*.
SOURCE_LABELS: dict[str, dict[str, tuple[str, int]]] = {
    "github_actions": {"job": (TASK, 90), "workflow": (JOB, 95)},
    "jenkins": {"job": (JOB, 90), "build": (RUN, 90)},
    "great_expectations": {"run id": (RUN, 60)},
}

_LABEL_ALT = "|".join(sorted((re.escape(k).replace(r"\ ", r"[ _\-]?") for k in LABELS), key=len, reverse=True))
LABEL_RE = re.compile(
    rf"(?<![A-Za-z0-9_])(?P<label>{_LABEL_ALT})[\"*_]{{0,2}}\s{{0,3}}[:=][*_]{{0,2}}\s{{0,3}}"
    r"(?:`(?P<bq>[^`\n]{1,200})`|\"(?P<dq>[^\"\n]{1,200})\"|'(?P<sq>[^'\n]{1,200})'|(?P<v>[^\s,;|]{1,200}))", re.I)

# The tools' sentence shapes: (regex, role, weight, source that owns it). Group `v` is the value.
_N = r"[\w.\-]{1,200}"          # an identifier-like name
_Q = r"[^\"`'\n]{1,120}"        # a quoted name (may contain spaces)
_SENTENCES: tuple[tuple[str, str, int, str], ...] = (
    (rf"\bflow run (?P<v>{_N})/(?P<run>{_N}) (?:entered|observed in) state", JOB, 96, "prefect"),
    (rf"\bexecution of run for [\"'](?P<v>{_Q})[\"'] failed", JOB, 96, "dagster"),
    (r"\bsteps? failed:\s{0,2}\[\s{0,2}[\"'](?P<v>[\w.\-\[\]]{1,200})[\"']", TASK, 90, "dagster"),
    (rf"\bjob [\"'`](?P<v>{_Q})[\"'`] (?:has )?failed", JOB, 94, "dagster"),
    (rf"\bfailed for job [\"'`](?P<v>{_Q})[\"'`]", JOB, 94, "dagster"),   # Dagster run failure sensors
    (rf"\b(?:job|pipeline|dag|flow|workflow|sensor) [\"'`]?(?P<v>{_N})[\"'`]? (?:has |run [\"'`]?"
     r"(?P<run>[\w\-]{1,80})[\"'`]? )?(?:failed|errored|crashed)", JOB, 85, ""),
    (rf"\bdbt(?: cloud)? job [\"'`]?(?P<v>{_N})", JOB, 88, "dbt"),
    (rf"\bop [\"'`]?(?P<v>{_N})[\"'`]? failed", TASK, 85, "dagster"),
    (rf"\bon job [\"'](?P<v>{_Q})[\"']", JOB, 96, "dbt"),
    (r"\bfor run #(?P<v>\d{1,20})", RUN, 95, "dbt"),
    (r"\brun #(?P<v>\d{1,20})", RUN, 80, ""),
    (r"\byour connection (?P<v>[^\n]{1,120}?) from ", JOB, 96, "airbyte"),
    (rf"\bsync failure occurred:\s{{0,3}}(?P<v>{_Q})$", JOB, 90, "airbyte"),
    (rf"\bconnection disabled:\s{{0,3}}(?P<v>{_Q})$", JOB, 90, "airbyte"),
    (rf"(?<![\w.\-])(?P<v>{_N}) is now in an? (?:failed|timedout|triggerfailed|crashed) state", JOB, 80, "prefect"),
    (rf"(?<![\w.\-])(?P<v>{_N}): '(?P<task>{_N})' is now in an? \w{{1,30}} state", JOB, 85, "prefect"),
    (rf"\bfailed to (?:run|execute) pipeline [`'\"]?(?P<v>{_N})", JOB, 95, "mage"),
    (rf"\bpipeline [`'\"](?P<v>{_N})[`'\"] (?:run )?failed", JOB, 90, "mage"),
    (rf"\bglue job:?\s{{0,2}}[`'\"]?(?P<v>{_N})[`'\"]?", JOB, 92, "aws_glue"),
    (rf"\bworkflow (?P<v>{_N}) (?:failed|error|errored)\b", JOB, 88, "argo"),
    (rf"\[(?P<ns>[\w.\-]{{1,120}})\] (?P<v>{_N}) ➛ (?:failed|killed|warning)", JOB, 95, "kestra"),
    (r"\bfailed on task [`'\"]?(?P<v>[\w.\-]{1,200})", TASK, 90, "kestra"),
    (r"^(?P<v>[^\n]{1,200}?) - #(?P<run>\d{1,12}) (?:failure|still failing|aborted|unstable|back to normal|"
     r"success|starting)", JOB, 90, "jenkins"),
    (rf"<task\((?:\w{{1,80}})\):\s{{0,2}}(?P<v>{_N})>", TASK, 95, "airflow"),
    (r"<taskinstance:\s{0,2}(?P<dag>[\w\-]{1,200})\.(?P<v>[\w.\-]{1,200}) (?P<run>[^\s\]>]{1,200})", TASK, 95,
     "airflow"),
    (rf"\btask [`'\"]?(?P<v>{_N})[`'\"]? (?:has )?failed(?: in dag [`'\"]?(?P<dag>{_N}))?", TASK, 85, "airflow"),
    (rf"^(?P<v>{_N}) failure!", JOB, 90, "airflow"),
    (rf"^(?:(?::[\w\-+]{{1,30}}:|[^\w\s]{{1,4}})\s{{0,2}})?(?P<v>{_N}) (?:has )?(?:failed|errored|crashed)\b", JOB, 60,
     ""),
)
SENTENCES = tuple((re.compile(p, re.I), role, w, src) for p, role, w, src in _SENTENCES)
# URL shapes: (regex over the URL, role, weight)
URL_PARAM_RE = re.compile(r"(?:^|[?&;#:/])(?P<k>dag_id|task_id|run_id|dag_run_id|try_number|jobName|jobRunId|"
                          r"flow_run_id|execution_id)=(?P<v>[^&;#\s/]{1,300})", re.I)
URL_PATHS: tuple[tuple[re.Pattern[str], str, int], ...] = tuple((re.compile(p, re.I), r, w) for p, r, w in (
    (r"/dags/(?P<v>[\w.\-]{1,200})(?:/|$)", JOB, 97),
    (r"/dag_id=(?P<v>[\w.\-]{1,200})", JOB, 97),
    (r"/run_id=(?P<v>[^/\s]{1,200})", RUN, 90),
    (r"/task_id=(?P<v>[\w.\-]{1,200})", TASK, 90),
    (r"/attempt=(?P<v>\d{1,4})", TRY, 90),
    (r"/locations/[^/]{1,200}/jobs/(?P<v>[\w.\-]{1,200})", JOB, 90),
    (r"/flow-runs/flow-run/(?P<v>[\w\-]{1,80})", RUN, 97),
    (r"/flow-run/(?P<v>[\w\-]{1,80})", RUN, 95),
    # Airflow 3's /dags/<dag>/runs/<run id, percent-encoded: scheduled__2026-11-20T02%3A00%3A00%2B00%3A00>
    (r"/(?:instance/)?runs/(?P<v>[^/?#&\s|>]{1,200})", RUN, 92),
    (r"/dags/[\w.\-]{1,200}/runs/[^/?#\s|>]{1,200}/tasks/(?P<v>[\w.\-]{1,200})", TASK, 90),
    (r"/actions/runs/(?P<v>\d{1,20})", RUN, 90),
    (r"/executions/[\w.\-]{1,120}/[\w.\-]{1,200}/(?P<v>[\w\-]{1,80})", RUN, 92),
    (r"/workflows/[\w.\-]{1,120}/(?P<v>[\w.\-]{1,200})", JOB, 80),
    (r"/pipelines/(?P<v>[\w.\-]{1,200})/", JOB, 70),
))
JENKINS_JOB_RE = re.compile(r"/job/([^/]{1,200})")
JENKINS_BUILD_RE = re.compile(r"/job/[^/]{1,200}/(\d{1,12})(?:/|$)")
QUOTED_RE = re.compile(r"\"([^\"\n]{2,120})\"|`([^`\n]{2,120})`|'([^'\n]{2,120})'")
TOKEN_RE = re.compile(r"\S{1,1000}")
_STRIP = " \t*_`'\"()[]{}<>.,;:!?"


@dataclass(frozen=True)
class Candidate:
    role: str
    value: str
    weight: int
    origin: str


PLACEHOLDERS = frozenset({"none", "null", "nil", "n/a", "na", "unknown", "undefined", "-", "?", "no run id",
                          "no data asset name", "no expectation suite name"})


def clean(value: str) -> str:
    """A value without quotes, emphasis and punctuation around it; "" for placeholders like `__no_run_id__`."""
    v = value.strip().strip(_STRIP).strip()
    return "" if v.lower().replace("_", " ").strip() in PLACEHOLDERS else v


def candidates(msg: Message, source: str) -> list[Candidate]:
    """Every job / run id / task / try / log value the message offers, with where it came from."""
    out: list[Candidate] = []
    overrides = SOURCE_LABELS.get(source, {})

    def add(role: str, value: str, weight: int, origin: str) -> None:
        value = clean(value)
        if value and len(value) <= 300:
            out.append(Candidate(role, value, weight, origin))

    for part in msg.parts:
        if part.label:
            role, w = overrides.get(part.label) or LABELS.get(part.label, ("", 0))
            if role and len(part.text.strip()) <= 200 and "\n" not in part.text.strip():
                add(role, part.text, w + 2 - (30 if part.quoted else 0), f"field '{part.label}'")
        for line in lines(part.text):
            for m in LABEL_RE.finditer(line):
                label = " ".join(m.group("label").lower().replace("_", " ").replace("-", " ").split())
                role, w = overrides.get(label) or LABELS.get(label) or LABELS.get(label.replace(" ", ""), ("", 0))
                value = m.group("bq") or m.group("dq") or m.group("sq") or m.group("v") or ""
                if role:
                    add(role, value, w - (30 if part.quoted else 0), f"'{m.group('label')}:' in {part.where}")
            for pat, role, w, owner in SENTENCES:
                said = pat.search(line)
                if not said:
                    continue
                bonus = 3 if owner and owner == source else 0
                if not owner and role == JOB and any(c in said.group("v") for c in "_-"):
                    bonus = FIRM + 5 - w          # `orders_daily failed`: a name, not a word, as written
                add(role, said.group("v"), w + bonus - (30 if part.quoted else 0), f"{owner or 'text'} wording")
                groups = said.groupdict()
                if groups.get("run"):
                    add(RUN, groups["run"], w - 10, f"{owner} wording")
                if groups.get("task"):
                    add(TASK, groups["task"], w - 5, f"{owner} wording")
                if groups.get("dag"):
                    add(JOB, groups["dag"], w, f"{owner} wording")
            for tok in TOKEN_RE.finditer(line):
                path = _log_path(tok.group(0))
                if path:
                    add(LOG, path, 70, "log path")
                    out.extend(c for c in path_candidates(path) if c.role != LOG + "_url")
    for link in _links(msg):
        for c in url_candidates(link.url):
            out.append(c)
    return out


def url_candidates(url: str) -> list[Candidate]:
    out: list[Candidate] = []
    for m in URL_PARAM_RE.finditer(url):
        key, value = m.group("k").lower(), clean(unquote(m.group("v")))
        role = {"dag_id": JOB, "jobname": JOB, "task_id": TASK, "try_number": TRY}.get(key, RUN)
        if value:
            out.append(Candidate(role, value, 98 if role == JOB else 96, f"URL {key}="))
    try:
        path = urlsplit(url).path
    except ValueError:
        path = ""
    return out + path_candidates(path, url)


def path_candidates(path: str, url: str = "") -> list[Candidate]:
    """Names in a URL path or a log path: `/dags/<dag>/`, `/dag_id=<dag>/run_id=<run>/`, `/runs/<id>`, …"""
    out: list[Candidate] = []
    for pat, role, w in URL_PATHS:
        m = pat.search(path)
        if m:
            out.append(Candidate(role, clean(unquote(m.group("v"))), w, f"path {pat.pattern.split('(')[0]}"))
    jobs = JENKINS_JOB_RE.findall(path)
    if jobs:
        out.append(Candidate(JOB, unquote(jobs[-1]), 80, "URL /job/"))
        build = JENKINS_BUILD_RE.search(path)
        if build:
            out.append(Candidate(RUN, build.group(1), 80, "URL /job/…/N"))
    if url and ("log" in path.lower() or "tab=logs" in url.lower()):
        out.append(Candidate(LOG + "_url", url, 60, "log URL"))
    return [c for c in out if c.value]


def quoted_names(msg: Message) -> list[str]:
    names: list[str] = []
    for part in msg.parts:
        if part.quoted:
            continue
        for line in lines(part.text):
            for m in QUOTED_RE.finditer(line):
                names.append(clean(m.group(1) or m.group(2) or m.group(3)))
    return [n for n in names if n]


def _links(msg: Message) -> Iterable[Link]:
    yield from msg.links
    for part in msg.parts:
        if "://" in part.text:
            for tok in TOKEN_RE.finditer(part.text):
                t = tok.group(0)
                if t.startswith(("http://", "https://")):
                    yield Link(t.rstrip(").,;>"), "")


def lines(text: str) -> Iterable[str]:
    for line in text.split("\n"):
        for i in range(0, len(line), MAX_LINE):
            yield line[i:i + MAX_LINE]


def _log_path(token: str) -> str | None:
    t = token.strip(_STRIP.replace("/", "").replace(".", "")).rstrip(".,;:)")
    if not t.startswith("/") or ".log" not in t:
        return None
    if not all(ch.isalnum() or ch in "._-/=:+%" for ch in t):
        return None
    stem = t[: t.rfind(".log") + 4]
    return stem if stem.endswith(".log") and "//" not in stem and "/../" not in stem else None
