"""Run a topology's stages as an asyncio DAG and assemble the TriageReport.

A triage starts from one `TriageContext` (`prepare`: the alert, the job, the failed run's log located and
checked, the escalation policy, the token ledger, the audit); every stage gets it with the typed outputs of the
stages it depends on. A stage starts when everything it depends on has finished; independent stages run
concurrently. Each stage has a timeout and the triage a total budget. A failed stage's dependents are skipped
with the reason, and a partial report is still produced. The provider runs wrapped: `WithFallback(provider,
offline)` hands a stage the provider fails to the offline engine. After the last stage the engine attaches
the escalation, once, from the policy. The engine imports nothing from Slack, the store or any model SDK.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from bot.contract import (
    CHECK_NOT_DONE,
    OUTPUT_MODELS,
    Alert,
    Alternative,
    AuditEntry,
    Classification,
    Evidence,
    Fingerprint,
    Investigation,
    Memory,
    Recommendation,
    StageResult,
    StageStatus,
    TriageReport,
    displayable,
)
from bot.errors import LogNotFound, LogNotText, brief
from bot.fingerprint import fingerprint as fingerprint_of
from bot.investigation_tools import investigation_tools
from bot.jobs import resolve_job
from bot.providers.base import Provider, StageInputs, StageRequest
from bot.providers.fallback import Bounded, StageFailed, WithFallback
from bot.sandbox import Sandbox, SandboxManager
from bot.toolbox import Toolbox
from bot.topology import StageSpec, Topology
from bot.triage_context import TriageContext

log = logging.getLogger(__name__)
ProgressFn = Callable[[str, str], Awaitable[None] | None]
_M = TypeVar("_M", bound=BaseModel)


async def prepare(topology: Topology, alert: Alert, *, sandboxes: SandboxManager,
                  log_path: str | Path | None = None) -> TriageContext:
    """The triage's context: the alert with its text redacted (typed by a person or a webhook, it may hold a
    secret), the job's registry entry, and the failed run's log — an explicit path, the alert's hint, or the
    newest *.log via the job registry — checked against the first reading stage's allowlist before anything
    is read. Raises BotError (LogNotFound, AccessDenied) for bad input."""
    redacted = alert.model_copy(update={"text": sandboxes.redactor.redact(alert.text)}) if alert.text else alert
    job = resolve_job(topology, alert.job) if alert.job else None
    ctx = TriageContext(topology, redacted, sandboxes, job=job, log_path=None)
    reader = next((s for s in topology.order() if s.read), None)
    if reader is None:
        return ctx
    sandbox = ctx.sandbox(reader)
    candidate = log_path or redacted.log_hint
    if candidate:
        ctx.log_path = sandbox.check(candidate)
        await _require_text(ctx, sandbox)
        return ctx
    if job is None:
        raise LogNotFound("no log and no job name; pass --log PATH or --job NAME")
    logs_dir = job.logs or topology.expand("{log_root}/{job}", job=job.name)
    from bot.log_files import newest_log

    found = await newest_log(sandbox, logs_dir, redacted.run_id, task=redacted.task, try_number=redacted.try_number)
    if found is None:
        raise LogNotFound(f"no *.log for job '{job.name}' under {logs_dir}"
                          + (f" matching run {redacted.run_id!r}" if redacted.run_id else "")
                          + "; pass --log PATH or check [jobs] logs / --log-root")
    ctx.log_path = found
    await _require_text(ctx, sandbox)
    return ctx


UTF16_PROBE = 4096   # bytes read from the start of a log that does not read as UTF-8


async def _require_text(ctx: TriageContext, sandbox: Sandbox) -> None:
    """A rotated `.log.gz` or a binary file is no log to triage: say so instead of quoting its bytes. Judged on
    the triage's one excerpt (read here by the first reading stage, as it would be anyway; later stages reuse it)."""
    ex = await ctx.excerpt(sandbox)
    if ex is None or not ex.lines:
        return
    text = "\n".join(ln.text for ln in ex.lines)
    if "\x00" not in text and text.count("\ufffd") <= len(text) // 10:
        return
    if ctx.log_path is not None and _utf16(await sandbox.head_bytes(ctx.log_path, UTF16_PROBE)):
        raise LogNotText(f"{ctx.log_path} is UTF-16 text (Windows PowerShell's `>` and Out-File write it): convert "
                         "it with `iconv -f UTF-16 -t UTF-8`, or have the job write UTF-8")
    if ex.lines[0].number == 1 and ex.lines[0].text.startswith("\x1f\ufffd"):
        raise LogNotText(f"{ctx.log_path} is gzip-compressed: decompress it, or point [jobs] logs at the "
                         "uncompressed log")
    raise LogNotText(f"{ctx.log_path} is binary, not a text log; pass the run's text log")


def _utf16(head: bytes) -> bool:
    """The file's first bytes are UTF-16 text: a byte-order mark, or they decode as UTF-16 with no NUL and at
    least a fifth of ASCII (timestamps, spaces, digits: every log has them; random or compressed bytes read as
    UTF-16 almost never land there). Judged on the file's start, where UTF-16 is aligned."""
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return True
    even = head[: len(head) // 2 * 2]
    for encoding in ("utf-16-le", "utf-16-be"):
        sample = even.decode(encoding, "replace")
        if sample and "\x00" not in sample and sum(c < "\x7f" for c in sample) >= 0.2 * len(sample) \
                and sum(c.isprintable() or c in "\t\r\n" for c in sample) >= 0.95 * len(sample):
            return True
    return False


async def run_triage(
    topology: Topology,
    alert: Alert,
    *,
    provider: Provider,
    log_path: str | Path | None = None,
    sandboxes: SandboxManager | None = None,
    fallback: Provider | None = None,
    fallback_to_offline: bool = True,
    on_progress: ProgressFn | None = None,
    clock: Callable[[], float] = time.perf_counter,
    memory: Memory | None = None,
    context: TriageContext | None = None,
) -> TriageReport:
    """Triage one failed run. Raises BotError only for bad input (log missing or outside the allowlist).

    `context`: one `prepare` made already (incident grouping reads the fingerprint first); its reads are this
    triage's. `fallback`: the provider a failed stage goes to (default: the offline engine), unless
    `fallback_to_offline` is false. `memory` is what the team's history says of this failure (lines to show, a
    correction that overrides the category, a resolution to offer as the action); the caller looks it up, the
    engine only applies it."""
    own_sandboxes = sandboxes is None and context is None
    if context is not None:
        sandboxes = context.sandboxes
    sandboxes = sandboxes or SandboxManager.for_topology(topology)
    try:
        t0 = clock()
        ctx = context or await prepare(topology, alert, sandboxes=sandboxes, log_path=log_path)
        run = _Run(ctx, provider, _runner(provider, fallback, fallback_to_offline), on_progress, clock)
        run.memory = memory
        return await run.run(t0)
    finally:
        if own_sandboxes:
            await sandboxes.aclose()


async def read_fingerprint(topology: Topology, alert: Alert, *, sandboxes: SandboxManager,
                           log_path: str | Path | None = None) -> Fingerprint | None:
    """The alert's fingerprint before any triage: the deterministic reading of its log (a few ms, no model
    call), so a caller can tell a repeat of a known failure from a new one. Raises BotError like run_triage.
    A caller that triages next does better with `prepare` + `TriageContext.fingerprint` + `run_triage(context=)`:
    the log is then read once."""
    ctx = await prepare(topology, alert, sandboxes=sandboxes, log_path=log_path)
    return await ctx.fingerprint()


def build_toolbox(context: TriageContext, stage: StageSpec, branch: str | None = None) -> Toolbox:
    """The stage's toolbox: log tools always; an investigating stage also gets the investigation tools."""
    tb = Toolbox(context=context, sandbox=context.sandbox(stage, branch))
    if stage.output_kind == "investigation":
        tb.extra.update(investigation_tools(tb))
    return tb


def _runner(provider: Provider, fallback: Provider | None, fallback_to_offline: bool) -> Provider:
    """The provider as the engine calls it: bounded by each stage's timeout, and, unless it is the offline
    engine itself or fallback is off, with the offline engine behind it."""
    if isinstance(provider, (WithFallback, Bounded)):
        return provider
    if not fallback_to_offline or provider.name == "offline":
        return Bounded(provider)
    if fallback is None:
        from bot.providers.registry import get_provider

        fallback = get_provider("offline")
    return WithFallback(provider, fallback)


class _Run:
    def __init__(self, ctx: TriageContext, provider: Provider, runner: Provider, on_progress: ProgressFn | None,
                 clock: Callable[[], float]) -> None:
        self.ctx, self.topo, self.provider, self.runner = ctx, ctx.topology, provider, runner
        self.on_progress, self.clock = on_progress, clock
        self.results: dict[str, StageResult] = {}
        self.outputs: dict[str, BaseModel] = {}
        self.done = {s.name: asyncio.Event() for s in self.topo.stages}
        self.memory: Memory | None = None
        self.reading: Classification | None = None  # the deterministic reading the fingerprint is built on

    async def run(self, t0: float) -> TriageReport:
        try:
            async with asyncio.timeout(self.topo.pipeline.timeout_s), asyncio.TaskGroup() as tg:
                for spec in self.topo.stages:
                    tg.create_task(self._stage(spec))
        except TimeoutError:
            budget = self.topo.pipeline.timeout_s
            for spec in self.topo.stages:
                if spec.name not in self.results:
                    status: StageStatus = "timeout" if self._started(spec) else "skipped"
                    self.results[spec.name] = self._result(spec, status, reason=f"triage budget of {budget:g}s ran out")
        return self._compose((self.clock() - t0) * 1000)

    def _started(self, spec: StageSpec) -> bool:
        return all(self.done[d].is_set() for d in spec.depends_on)

    # ---------------------------------------------------------------- stages

    async def _stage(self, spec: StageSpec) -> None:
        try:
            for dep in spec.depends_on:
                await self.done[dep].wait()
            bad = next((self.results[d] for d in spec.depends_on if self.results[d].status != "ok"), None)
            if bad is not None:
                self.results[spec.name] = self._result(
                    spec, "skipped", reason=f"'{bad.name}' {bad.status}" + (f": {bad.reason}" if bad.reason else ""))
                return
            await self._notify(spec.name, "running")
            try:
                self.results[spec.name] = await self._execute(spec)
            except Exception as e:  # a bug outside the provider call: this stage fails, the report survives
                log.exception("stage %s failed", spec.name)
                self.results[spec.name] = self._result(spec, "failed", reason=brief(e))
        finally:
            if spec.name in self.results:
                self.done[spec.name].set()
                await self._notify(spec.name, self.results[spec.name].status)

    async def _execute(self, spec: StageSpec) -> StageResult:
        branch = None
        if spec.branch_on:
            cls = self.outputs.get(spec.branch_on)
            branch = cls.category if isinstance(cls, Classification) else None
        req = StageRequest(
            context=self.ctx, stage=spec, branch=branch, prompt=self.topo.prompt_text(spec, branch),
            inputs=StageInputs({d: self.outputs[d] for d in spec.depends_on if d in self.outputs}),
            tools=build_toolbox(self.ctx, spec, branch), output_model=OUTPUT_MODELS[spec.output_kind],
        )
        t0 = self.clock()
        try:
            outcome = await self.runner.run_stage(req)
        except StageFailed as e:
            return self._result(spec, e.status, reason=e.reason, branch=branch, ms=(self.clock() - t0) * 1000)
        # What a stage produced feeds its dependents (and a model's next request): redacted first, so a
        # secret a provider or tool let through goes no further than this stage.
        output = type(outcome.output).model_validate(
            _redact_tree(outcome.output.model_dump(), self.ctx.sandboxes.redactor.redact))
        self.outputs[spec.name] = outcome.output = output
        if isinstance(output, Classification) and self.reading is None:
            # a model's classification is model text: the fingerprint comes from the offline reading, which
            # is the offline classify stage's own answer (computed once per triage, in the context)
            self.reading = await self.ctx.reading(req.tools.sandbox)
        u = outcome.usage
        return StageResult(
            name=spec.name, status="ok", output_kind=spec.output_kind, output=output.model_dump(),
            branch=branch, provider=outcome.provider or self.provider.name, model=u.model,
            fallback=outcome.fallback, round_trips=u.round_trips, input_tokens=u.input_tokens,
            output_tokens=u.output_tokens, duration_ms=(self.clock() - t0) * 1000)

    def _result(self, spec: StageSpec, status: StageStatus, *, reason: str | None = None,
                branch: str | None = None, ms: float = 0.0) -> StageResult:
        return StageResult(name=spec.name, status=status, output_kind=spec.output_kind, reason=reason,
                           branch=branch, provider=self.provider.name, duration_ms=ms)

    async def _notify(self, stage: str, status: str) -> None:
        if self.on_progress is None:
            return
        try:
            r = self.on_progress(stage, status)
            if inspect.isawaitable(r):
                await r
        except Exception:
            log.exception("progress callback failed")

    # ---------------------------------------------------------------- report

    def _compose(self, duration_ms: float) -> TriageReport:
        policy = self.ctx.escalation
        for name, out in self.outputs.items():   # the stage outputs in the report show who a recommendation
            if isinstance(out, Recommendation):  # goes to, as configured (a stage never chooses it)
                self.results[name].output = policy.attach(out).model_dump()
        stages = [self.results[s.name] for s in self.topo.stages if s.name in self.results]
        rec = _last(self.outputs, Recommendation)
        inv = _last(self.outputs, Investigation)
        cls = _last(self.outputs, Classification)
        incomplete = [f"{r.name} {r.status}: {r.reason}" for r in stages if r.status != "ok"]
        incomplete += [f.summary for o in self.outputs.values() if isinstance(o, Investigation)
                       for f in o.findings if f.source == CHECK_NOT_DONE]
        complete = not incomplete
        failed = "; ".join(incomplete)
        if rec is not None:
            category, confidence = rec.category, rec.confidence
            root_cause, action, evidence = rec.root_cause, rec.action, rec.evidence
            alternatives = rec.alternatives
        else:
            decided = inv or cls
            category = decided.category if decided else "unknown"
            confidence = decided.confidence if decided else 0.0
            root_cause = (decided.summary if decided else "Triage did not reach a conclusion.")
            action = f"Read the evidence and the log yourself; the triage is partial ({failed})."
            evidence = cls.evidence if cls else []
            alternatives = cls.alternatives if cls and cls.category == category else []
        # who acts: once, for the final category (a team's confirmed correction overrides the engine's)
        correction = self.memory.correction if self.memory is not None else None
        escalation = policy.for_category(correction.category if correction is not None else category)
        audit = self.ctx.audit
        report = TriageReport(
            job=self.ctx.alert.job, run_id=self.ctx.alert.run_id,
            log_path=str(self.ctx.log_path) if self.ctx.log_path else None,
            category=category, confidence=round(confidence, 2), root_cause=root_cause, action=action,
            escalation=escalation, evidence=evidence, stages=stages,
            files_read=audit.files_read, denied=[AuditEntry.model_validate(e, from_attributes=True)
                                                 for e in audit.denied],
            provider=self.provider.name, duration_ms=round(duration_ms, 2),
            sandbox={"enforcement": self.ctx.sandboxes.enforcement}, complete=complete, incomplete=incomplete,
            alternatives=[a for a in alternatives if a.category != category],
            fingerprint=fingerprint_of(self.reading) if self.reading is not None else None,
        )
        if self.memory is not None:
            report = _remembered(report, self.memory)
        # Last line of defence: whatever a stage or tool put into the report (commit subjects, file headers,
        # model text) passes the same redaction as log text before it reaches a terminal, Slack or JSON.
        redactor = self.ctx.sandboxes.redactor
        return TriageReport.model_validate(_redact_tree(report.model_dump(),
                                                        lambda t: displayable(redactor.redact(t))))


def _remembered(report: TriageReport, memory: Memory) -> TriageReport:
    """Apply what the team said before: a correction overrides the category (cited as evidence, its author
    named, the engine's reading kept as the alternative); a resolution note is offered as the action."""
    def day(epoch: float) -> str:
        return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%m-%d")

    update: dict[str, object] = {"memory": list(memory.lines)}
    c, r = memory.correction, memory.resolution
    if c is not None:
        said = f"@{c.user} corrected this failure on {day(c.at)}: it was {c.category}" + (
            f", {c.cause}" if c.cause else "")
        engine_said = Alternative(category=report.category, why=f"the engine's own reading: {report.root_cause}",
                                  decide="if the cause differs this time, mark it Wrong diagnosis again")
        update |= {
            "category": c.category, "confidence": max(report.confidence, 0.8),
            "root_cause": (c.cause or report.root_cause) + f" (the team's correction, by @{c.user} on {day(c.at)})",
            "evidence": [Evidence(path="feedback", text=said), *report.evidence],
            "alternatives": [engine_said] if report.category != c.category else report.alternatives,
            "learned_from": f"correction by @{c.user} on {day(c.at)}",
        }
    if r is not None:
        update["action"] = f"{r.note} (how @{r.user} resolved it on {day(r.at)}). Otherwise: {report.action}"
        if c is None:
            update["learned_from"] = f"resolution by @{r.user} on {day(r.at)}"
    return report.model_copy(update=update)


def _redact_tree(value: object, redact: Callable[[str], str]) -> object:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_tree(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_tree(v, redact) for v in value]
    return value


def _last(outputs: dict[str, BaseModel], kind: type[_M]) -> _M | None:
    found = [o for o in outputs.values() if isinstance(o, kind)]
    return found[-1] if found else None
