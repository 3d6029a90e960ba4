"""Offline investigation: gather upstream, deploy, config and previous-run evidence, then decide with it.

The classic ambiguity — `KeyError: 'customer_id'` — comes out as **code** when a deploy touching the job's
code landed shortly before the failure, and as **data** (schema drift) when none did and the newest
upstream header lost or renamed that column. A missing, late or empty partition for the run's date is
**data**. Each decisive finding carries the specific next action.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from bot.contract import LIKELY, Category, Classification, Evidence, Finding, Investigation
from bot.errors import BotError
from bot.evidence.deploys import Commit, Deploys, recent_deploys
from bot.evidence.facts import RunFacts, column_in
from bot.evidence.job_config import JobConfig, job_config
from bot.evidence.previous_run import PreviousRun, error_lines, previous_run
from bot.evidence.upstream import UpstreamSource, UpstreamStatus, upstream_status
from bot.evidence.when import ago, iso
from bot.jobs import Job
from bot.sandbox import Sandbox

log = logging.getLogger(__name__)
_NO_INPUT = re.compile(r"(?i)FileNotFound|No such file|NoSuchKey|Path does not exist|does not exist|not found|"
                       r"no files? (?:found|matched)|Input path|missing (?:partition|input|file)|"
                       r"EmptyDataError|No columns to parse|404")
_EMPTY = re.compile(r"(?i)EmptyDataError|No columns to parse|size is 0 bytes|file is empty|empty file|"
                    r"zero[- ]byte|0 rows|no data")


@dataclass
class _Gathered:
    facts: RunFacts
    column: str | None
    upstream: UpstreamStatus | None = None
    deploys: Deploys | None = None
    config: JobConfig | None = None
    previous: PreviousRun | None = None
    failures: list[str] = field(default_factory=list)


@dataclass
class _Verdict:
    category: Category
    confidence: float
    summary: str
    findings: list[Finding] = field(default_factory=list)   # decisive first


async def investigate(cls: Classification, sandbox: Sandbox, job: Job | None, facts: RunFacts) -> Investigation:
    """Check what a person would check for the classification, through the stage's sandbox, and decide."""
    g = await gather(cls, sandbox, job, facts)
    v = decide(cls, g, job)
    return Investigation(category=v.category, confidence=round(v.confidence, 2), summary=v.summary,
                         findings=v.findings)


async def gather(cls: Classification, sandbox: Sandbox, job: Job | None, facts: RunFacts) -> _Gathered:
    errors = [ln.text for ln in error_lines(facts.excerpt.lines)] if facts.excerpt else []
    column = cls.facts.get("column") or column_in(cls.summary, *(e.text for e in cls.evidence), *errors)
    column = column.split(".")[-1].strip("'\"`[] ") or None if column else None
    g = _Gathered(facts=facts, column=column)

    # Each check takes what its guard below has established (a registered job, its repo, the failure time).
    async def up(job: Job) -> None:
        g.upstream = await upstream_status(sandbox, job.upstream, facts.run_date, facts.run_date_source,
                                           facts.failed_at)

    async def dep(job: Job, repo: str, failed_at: datetime) -> None:
        g.deploys = await recent_deploys(sandbox, repo, job.code, failed_at,
                                         mentions=[column] if column else None)

    async def cfg(job: Job) -> None:
        g.config = await job_config(sandbox, job)

    async def prev(log_path: str) -> None:
        g.previous = await previous_run(sandbox, log_path, job.logs if job else None)

    async def guarded(name: str, check: Callable[[], Awaitable[None]]) -> None:
        try:
            await check()
        except Exception as e:  # one broken source must not sink the investigation
            log.warning("investigation check %s failed: %s", name, e, exc_info=not isinstance(e, BotError))
            g.failures.append(f"{name}: {type(e).__name__}: {e}"[:300])

    async with asyncio.TaskGroup() as tg:
        if job is not None and job.known:
            if job.upstream:
                tg.create_task(guarded("upstream_status", partial(up, job)))
            if job.repo and facts.failed_at:
                tg.create_task(guarded("recent_deploys", partial(dep, job, job.repo, facts.failed_at)))
            if job.config:
                tg.create_task(guarded("job_config", partial(cfg, job)))
        if facts.log_path:
            tg.create_task(guarded("previous_run", partial(prev, facts.log_path)))
    return g


# ------------------------------------------------------------------------------------------------ decide


def decide(cls: Classification, g: _Gathered, job: Job | None) -> _Verdict:
    v = _Verdict(cls.category, cls.confidence, cls.summary)
    name = job.name if job else "the job"
    failed_at = g.facts.failed_at
    sources = g.upstream.sources if g.upstream else []
    error_text = " ".join([cls.summary, *(e.text for e in cls.evidence)])

    # A named column that a deploy or an upstream header change explains is more specific than a late
    # or partly empty partition: the run did read data.
    decided = (_missing(v, sources, name, failed_at, g, cls, error_text) or _column(v, g, name, failed_at)
               or _late(v, sources, name, failed_at) or _empty(v, sources, name, error_text, cls))
    if not decided:
        _deploy_only(v, g, cls, failed_at)
    _schema_note(v, sources, g.column)
    _config_note(v, g)
    _previous_note(v, g.previous)
    _registry_note(v, job)
    if g.upstream is not None and not any(f.source == "upstream" for f in v.findings):
        v.findings.append(Finding(source="upstream", summary=_upstream_ok(g.upstream)))
    for failure in g.failures:
        v.findings.append(Finding(source="investigation", summary=f"Check not done: {failure}"))
    if g.deploys is not None and g.deploys.error:
        v.findings.append(Finding(source="deploys", summary=f"Recent deploys unknown: {g.deploys.error}"))
    return v


def _set(v: _Verdict, category: Category, confidence: float, finding: Finding) -> bool:
    v.category, v.confidence, v.summary = category, confidence, finding.summary
    v.findings.insert(0, finding)
    return True


def _missing(v: _Verdict, sources: list[UpstreamSource], name: str, failed_at: datetime | None, g: _Gathered,
             cls: Classification, error_text: str) -> bool:
    """Decisive when the error says input is missing, or the run date is known (not guessed from the log's
    name or the failure day) and the classifier did not already see an infra or code failure."""
    guessed = g.facts.run_date_source.startswith(("log file name", "the failure date"))
    decisive = bool(_NO_INPUT.search(error_text)) or (not guessed and cls.category in ("data", "unknown"))
    if not decisive:
        for s in sources:
            if s.missing:
                v.findings.append(Finding(
                    source="upstream", summary=f"No partition {s.expected} in {s.path} (run date "
                    f"{g.facts.run_date} from {g.facts.run_date_source}); the error does not point at missing "
                    "input, so this may be expected.",
                    evidence=[Evidence(path=s.path, text=f"newest {s.newest.describe()}" if s.newest else "empty")]))
        return False
    for s in sources:
        if s.layout == "missing":
            return _set(v, "data", 0.8, Finding(
                source="upstream", summary=f"Upstream directory {s.path} does not exist.",
                action=f"Ask the owner of {s.spec} whether the source moved; fix [jobs.{name}] upstream or "
                       f"restore the feed, then rerun {name}.",
                evidence=[Evidence(path=s.path, text="directory does not exist")]))
        if s.missing:
            newest = s.newest
            last = (f"; the newest is {newest.label}, which landed {iso(newest.mtime)}"
                    + (f" ({ago(failed_at.timestamp() - newest.mtime)} before the failure)"
                       if failed_at and newest.mtime <= failed_at.timestamp() else "")) if newest else ""
            return _set(v, "data", 0.9, Finding(
                source="upstream",
                summary=f"Upstream partition {s.expected} of {s.path} is missing for the run date "
                        f"{g.facts.run_date} (late or missing upstream data){last}.",
                action=f"Ask the owner of {s.path} when {s.expected} will land; rerun {name} after the "
                       "partition lands (do not rerun before: it will fail the same way).",
                evidence=[Evidence(path=s.path, text=f"{s.expected}: missing"
                                   + (f"; newest {newest.describe()}" if newest else ""))]))
    return False


def _late(v: _Verdict, sources: list[UpstreamSource], name: str, failed_at: datetime | None) -> bool:
    if failed_at is None:  # without the failure time nothing can have landed after it (UpstreamSource.late)
        return False
    for s in sources:
        if s.late(failed_at) and s.run_partition is not None:
            p = s.run_partition
            return _set(v, "data", 0.85, Finding(
                source="upstream",
                summary=f"Upstream partition {p.label} of {s.path} landed late: it changed at {iso(p.mtime)}, "
                        f"{ago(p.mtime - failed_at.timestamp())} after the run failed at {iso(failed_at)}.",
                action=f"The partition {p.label} has landed now: rerun {name}. If this recurs, wait for "
                       f"{p.label} with a sensor or schedule {name} later.",
                evidence=[Evidence(path=p.path, text=p.describe())]))
    return False


def _empty(v: _Verdict, sources: list[UpstreamSource], name: str, error_text: str, cls: Classification) -> bool:
    for s in sources:
        p = s.run_partition or (s.newest if s.layout == "flat" else None)
        if p is None:
            continue
        if p.empty:
            what = "no data files" if not p.files else f"{len(p.files)} file(s), all zero bytes"
            return _set(v, "data", 0.85, Finding(
                source="upstream", summary=f"Upstream partition {p.label} of {s.path} is empty ({what}).",
                action=f"Ask the owner of {s.path} to re-deliver {p.label}; rerun {name} after it has data.",
                evidence=[Evidence(path=f.path, text="zero-byte file") for f in p.zero_byte[:5]]
                or [Evidence(path=p.path, text=p.describe())]))
        if p.zero_byte and (_EMPTY.search(error_text) or cls.category == "data"):
            names = ", ".join(f.path for f in p.zero_byte[:3])
            return _set(v, "data", 0.8, Finding(
                source="upstream",
                summary=f"Upstream partition {p.label} of {s.path} has {len(p.zero_byte)} zero-byte file(s): "
                        f"{names}.",
                action=f"Ask the owner of {s.path} to re-deliver {names}; rerun {name} afterwards.",
                evidence=[Evidence(path=f.path, text="zero-byte file") for f in p.zero_byte[:5]]))
    return False


def _column(v: _Verdict, g: _Gathered, name: str, failed_at: datetime | None) -> bool:
    col = g.column
    if not col:
        return False
    sources = g.upstream.sources if g.upstream else []
    drift = next(((s, how) for s in sources if s.diff and (how := s.diff.lost(col))), None)
    present = [s for s in sources if s.new_schema and col.lower() in (n.lower() for n in s.new_schema.names)]
    deploys = g.deploys
    commits = deploys.commits if deploys else []
    commit = _suspect(commits, col, g, failed_at=failed_at)
    if commit and (col in commit.mentions or drift is None):
        assert deploys is not None  # the suspect is one of deploys.commits
        strong = col in commit.mentions or bool(present)
        why = (f"its diff adds or removes '{col}'" if col in commit.mentions else
               f"upstream still has '{col}'" if present else "no upstream schema change explains it")
        return _set(v, "code", 0.9 if strong else 0.75, Finding(
            source="deploys",
            summary=f"Column '{col}' error right after a deploy: commit {commit.line(failed_at)} touched "
                    f"{', '.join(commit.files[:3]) or 'the job code'}; {why}.",
            action=f"Revert or fix commit {commit.short} ({commit.subject}) by {commit.author}, then rerun {name}.",
            evidence=[Evidence(path=f"{deploys.repo}@{commit.short}",
                               text=f"{commit.subject} [{', '.join(commit.files[:5])}]"),
                      *_header_evidence(present[:1])]))
    if drift is not None:
        s, how = drift
        d = s.diff
        assert d is not None
        compared = s.run_partition or s.newest
        dep = (f" A deploy also landed ({commits[0].short}) but its diff does not touch '{col}'."
               if commits else " No deploy touched the job's code before the failure." if g.deploys else "")
        new_name = how.removeprefix("renamed to ").strip("'") if how.startswith("renamed") else None
        ask = (f"ask the owner of {s.path} about the renamed column {col} → {new_name}" if new_name
               else f"ask the owner of {s.path} why column {col} was removed")
        return _set(v, "data", 0.7 if commits else 0.88, Finding(
            source="upstream",
            summary=f"Schema drift upstream: column '{col}' was {how} in {s.path} between "
                    f"{s.previous.label if s.previous else 'the previous file'} and "
                    f"{compared.label if compared else 'the newest'} "
                    f"({d.describe()}).{dep}",
            action=f"{ask[0].upper()}{ask[1:]}; then either restore it upstream or map "
                   + (f"{new_name} → {col}" if new_name else f"the missing {col}")
                   + f" in {name}'s code, and rerun.",
            evidence=_header_evidence([s], both=True)))
    return False


SUSPECT_WINDOW_H = 24.0   # a commit that neither mentions the column nor touches the traceback: this recent at most
_DOCS = re.compile(r"(?i)(?:^|/)(?:readme|changelog|license|notice|authors|contributing)[^/]*$|\.(?:md|rst|adoc)$"
                   r"|(?:^|/)docs?/")


def _suspect(commits: list[Commit], col: str, g: _Gathered, failed_at: datetime | None = None) -> Commit | None:
    """The commit most likely to have caused it: mentions the column, touches a traceback file, or newest.
    With `failed_at` (the commit would overturn the log's reading) the newest only counts when it changed code
    and landed within SUSPECT_WINDOW_H: a README typo three days earlier is no deploy that broke the job."""
    if not commits:
        return None
    tb_files = set()
    if g.facts.excerpt:
        for ln in g.facts.excerpt.lines:
            if m := re.search(r'File "([^"]+)"', ln.text):
                tb_files.add(m.group(1))
    for c in commits:
        if col in c.mentions:
            return c
    for c in commits:
        if any(t.endswith("/" + f) or t == f for f in c.files for t in tb_files):
            return c
    newest = commits[0]
    if failed_at is not None:
        code = [f for f in newest.files if not _DOCS.search(f)]
        age_h = (failed_at - newest.time).total_seconds() / 3600
        if not code or age_h > SUSPECT_WINDOW_H:
            return None
    return newest


def _header_evidence(sources: list[UpstreamSource], both: bool = False) -> list[Evidence]:
    out = []
    for s in sources:
        if s.new_schema:
            out.append(Evidence(path=s.new_schema.path, line=1 if s.new_schema.format != "parquet" else None,
                                text=f"header now: {s.new_schema.header()}"))
        if both and s.old_schema:
            out.append(Evidence(path=s.old_schema.path, line=1 if s.old_schema.format != "parquet" else None,
                                text=f"header before: {s.old_schema.header()}"))
    return out


def _pins(v: _Verdict, g: _Gathered, cls: Classification, failed_at: datetime | None) -> bool:
    """A deploy that changed dependency pins or images before the failure: it decides an ambiguous reading
    (or one with a code alternative) for *code* — a library upgrade is the usual cause of such failures."""
    if g.deploys is None or g.deploys.error or not g.deploys.pins:
        return False
    c = g.deploys.pins[0]
    files = ", ".join(c.files[:4])
    f = Finding(source="deploys", summary=f"Dependency pins or images changed before the failure: {c.line(failed_at)} "
                f"touched {files}.",
                action=f"Compare the versions commit {c.short} changed ({files}) with the error; pin back the "
                       "upgraded package or image if it caused this.",
                evidence=[Evidence(path=f"{g.deploys.repo}@{c.short}", text=f"{c.subject} [{files}]")])
    leans = cls.category == "code" or any(a.category == "code" for a in cls.alternatives) or cls.confidence < LIKELY
    if leans:
        v.findings.insert(0, f)
        if cls.category != "code":
            v.category, v.confidence, v.summary = "code", max(0.6, cls.confidence), f.summary
        return True
    v.findings.append(f)
    return False


def _deploy_only(v: _Verdict, g: _Gathered, cls: Classification, failed_at: datetime | None) -> None:
    if g.deploys is None or g.deploys.error:
        return
    if _pins(v, g, cls, failed_at):
        return
    commits = g.deploys.commits
    if not commits:
        if cls.category == "code":
            v.findings.append(Finding(source="deploys", summary=(
                f"No commit touched {', '.join(g.deploys.paths) or 'the repository'} in the "
                f"{(g.deploys.until - g.deploys.since).total_seconds() / 3600:g} h before the failure; the code "
                "did not change recently, so suspect the data or the environment it meets.")))
        return
    c = _suspect(commits, g.column or "", g)
    assert c is not None
    f = Finding(source="deploys", summary=f"Recent deploy before the failure: {c.line(failed_at)}"
                + (f" (and {len(commits) - 1} more)" if len(commits) > 1 else "") + ".",
                action=f"Check whether commit {c.short} ({c.subject}) caused this; revert it if so.",
                evidence=[Evidence(path=f"{g.deploys.repo}@{c.short}", text=f"{c.subject} [{', '.join(c.files[:5])}]")])
    if cls.category in ("code", "unknown"):
        v.findings.insert(0, f)
        if cls.category == "unknown":
            v.category, v.confidence, v.summary = "code", 0.55, f.summary
    else:
        v.findings.append(f)


def _schema_note(v: _Verdict, sources: list[UpstreamSource], col: str | None) -> None:
    for s in sources:
        if s.diff and s.diff.changed and not any(f.source == "upstream" and "drift" in f.summary for f in v.findings):
            v.findings.append(Finding(
                source="upstream", summary=f"Upstream schema changed in {s.path}: {s.diff.describe()}.",
                action=f"Check that the job handles the schema change in {s.path}.",
                evidence=_header_evidence([s], both=True)))


def _config_note(v: _Verdict, g: _Gathered) -> None:
    c = g.config
    if c is None:
        return
    if c.error:
        v.findings.append(Finding(source="config", summary=f"Job config: {c.error}"))
        return
    hits = c.mentions(g.column) if g.column else []
    if hits:
        v.findings.append(Finding(source="config", summary=f"The job config {c.path} refers to '{g.column}'.",
                                  evidence=[Evidence(path=c.path or "", line=ln.number, text=ln.text)
                                            for ln in hits[:3]]))


def _previous_note(v: _Verdict, p: PreviousRun | None) -> None:
    if p is None or p.error or p.previous_log is None:
        return
    when = iso(p.previous_mtime)
    if p.first_new is not None:
        prior = "failed differently" if p.previous_failed else "had no errors"
        v.findings.append(Finding(
            source="previous_run",
            summary=f"New in this run: the previous run ({p.previous_log}, {when}) {prior}; the first error "
                    f"line not seen before is: {p.first_new.text.strip()[:200]}",
            action=None if v.findings and v.findings[0].action else
            f"Look at what changed since {when} (deploys, upstream data, environment) around that line.",
            evidence=[Evidence(path=p.failed_log, line=p.first_new.number, text=p.first_new.text)]))
    elif p.same_error:
        v.findings.append(Finding(
            source="previous_run",
            summary=f"Recurring failure: the previous run ({p.previous_log}, {when}) failed with the same errors.",
            action="A rerun alone will not fix it; fix the cause before rerunning.",
            evidence=[Evidence(path=p.previous_log, line=ln.number, text=ln.text) for ln in p.previous_errors[-2:]]))


def _registry_note(v: _Verdict, job: Job | None) -> None:
    if job is None:
        v.findings.append(Finding(source="registry", summary="No job name for this run; investigated from the "
                                  "log alone (no upstream, deploy or config checks). Pass --job NAME (or name the "
                                  "job in the alert) for a full investigation."))
    elif not job.known:
        v.findings.append(Finding(
            source="registry",
            summary=f"Job '{job.name}' is not in the registry; investigated from the log alone (no upstream, "
                    f"deploy or config checks). Add [jobs.{job.name}] with upstream, repo, code and config to the "
                    "topology for a full investigation next time."))   # no action: it must not lead the reply


def _upstream_ok(u: UpstreamStatus) -> str:
    parts = []
    for s in u.sources:
        p = s.run_partition or s.newest
        if s.error:
            parts.append(f"{s.path}: {s.error}")
        elif p:
            parts.append(f"{s.path}: {p.describe()}")
    return "Upstream looks normal — " + ("; ".join(parts) or "nothing to check") + "."
