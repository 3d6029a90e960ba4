"""Run a topology's stages as an asyncio DAG and assemble the TriageReport.

A stage starts when everything it depends on has finished; independent stages run concurrently.
Each stage has a timeout and the triage a total budget. A failed stage's dependents are skipped with
the reason, and a partial report is still produced. A model provider that fails hands the stage to the
offline engine. The engine imports nothing from Slack or any model SDK.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from pydantic import BaseModel

from bot.errors import BotError, LogNotFound
from bot.escalation import escalation_for
from bot.fingerprint import fingerprint as fingerprint_of
from bot.jobs import Job, resolve_job
from bot.providers.base import Provider, StageOutcome, StageRequest, Usage
from bot.report import (
    CHECK_NOT_DONE,
    OUTPUT_MODELS,
    Alert,
    Alternative,
    Classification,
    Evidence,
    Fingerprint,
    Investigation,
    Memory,
    Recommendation,
    StageResult,
    TriageReport,
    displayable,
)
from bot.sandbox import Audit, Sandbox, SandboxManager
from bot.tools import build_toolbox
from bot.topology import StageSpec, Topology

log = logging.getLogger(__name__)
ProgressFn = Callable[[str, str], Awaitable[None] | None]
FALLBACK_TIMEOUT_S = 10.0
_NO_FALLBACK: Provider = object()  # type: ignore[assignment]  # sentinel: let stages fail instead


class _OfflineReader:
    name = "offline"  # read_fingerprint runs no stage; _Run only needs a provider's name


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
) -> TriageReport:
    """Triage one failed run. Raises BotError only for bad input (log missing or outside the allowlist).

    `memory` is what the team's history says of this failure (lines to show, a correction that overrides the
    category, a resolution to offer as the action); the caller looks it up, the engine only applies it."""
    own_sandboxes = sandboxes is None
    sandboxes = sandboxes or SandboxManager.for_topology(topology)
    try:
        fallback_to = fallback if fallback_to_offline else _NO_FALLBACK
        run = _Run(topology, alert, provider, fallback_to, sandboxes, on_progress, clock)
        run.memory = memory
        return await run.run(log_path)
    finally:
        if own_sandboxes:
            await sandboxes.aclose()


async def read_fingerprint(topology: Topology, alert: Alert, *, sandboxes: SandboxManager,
                           log_path: str | Path | None = None) -> Fingerprint | None:
    """The alert's fingerprint before any triage: the deterministic reading of its log (a few ms, no model
    call), so a caller can tell a repeat of a known failure from a new one. Raises BotError like run_triage."""
    run = _Run(topology, alert, _OfflineReader(), None, sandboxes, None, time.perf_counter)  # type: ignore[arg-type]
    run.log_path = await run._locate_log(log_path)
    spec = next((s for s in topology.order() if s.output_kind == "classification"), None)
    if spec is None or run.log_path is None:
        return None
    return fingerprint_of(await run._reading(spec, None))


class _Run:
    def __init__(self, topo: Topology, alert: Alert, provider: Provider, fallback: Provider | None,
                 sandboxes: SandboxManager, on_progress: ProgressFn | None, clock: Callable[[], float]) -> None:
        self.topo, self.provider, self.sandboxes = topo, provider, sandboxes
        # The alert's text was typed by a person or a webhook and may hold a secret: stages (and a model)
        # see it redacted, like log text.
        self.alert = alert.model_copy(update={"text": sandboxes.redactor.redact(alert.text)}) if alert.text \
            else alert
        self._fallback = fallback
        self.on_progress, self.clock = on_progress, clock
        self.audit = Audit()
        self.job: Job | None = resolve_job(topo, alert.job) if alert.job else None
        self.results: dict[str, StageResult] = {}
        self.outputs: dict[str, BaseModel] = {}
        self.done = {s.name: asyncio.Event() for s in topo.stages}
        self.log_path: Path | None = None
        self.memory: Memory | None = None
        self.reading: Classification | None = None  # the deterministic reading the fingerprint is built on

    @property
    def fallback(self) -> Provider | None:
        if self.provider.name == "offline" or self._fallback is _NO_FALLBACK:
            return None
        if self._fallback is None:
            from bot.providers.offline import OfflineProvider

            self._fallback = OfflineProvider()
        return self._fallback

    async def run(self, log_path: str | Path | None) -> TriageReport:
        t0 = self.clock()
        self.log_path = await self._locate_log(log_path)
        try:
            async with asyncio.timeout(self.topo.pipeline.timeout_s), asyncio.TaskGroup() as tg:
                for spec in self.topo.stages:
                    tg.create_task(self._stage(spec))
        except TimeoutError:
            budget = self.topo.pipeline.timeout_s
            for spec in self.topo.stages:
                if spec.name not in self.results:
                    status = "timeout" if self._started(spec) else "skipped"
                    self.results[spec.name] = self._result(spec, status, reason=f"triage budget of {budget:g}s ran out")
        return self._compose((self.clock() - t0) * 1000)

    def _started(self, spec: StageSpec) -> bool:
        return all(self.done[d].is_set() for d in spec.depends_on)

    # ---------------------------------------------------------------- log

    async def _locate_log(self, explicit: str | Path | None) -> Path | None:
        """The failed run's log, checked against the first reading stage's allowlist before any read."""
        reader = next((s for s in self.topo.order() if s.read), None)
        if reader is None:
            return None
        sandbox = self._sandbox(reader, None)
        candidate = explicit or self.alert.log_hint
        if candidate:
            return sandbox.check(candidate)
        if self.job is None:
            raise LogNotFound("no log and no job name; pass --log PATH or --job NAME")
        logs_dir = self.job.logs or self.topo.expand("{log_root}/{job}", job=self.job.name)
        from bot.logs import newest_log

        found = await newest_log(sandbox, logs_dir, self.alert.run_id)
        if found is None:
            raise LogNotFound(f"no *.log for job '{self.job.name}' under {logs_dir}"
                              + (f" matching run {self.alert.run_id!r}" if self.alert.run_id else "")
                              + "; pass --log PATH or check [jobs] logs / --log-root")
        return found

    def _sandbox(self, spec: StageSpec, branch: str | None) -> Sandbox:
        return self.sandboxes.for_stage(spec.name, self.topo.read_globs(spec, branch), self.audit)

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
                self.results[spec.name] = self._result(spec, "failed", reason=_brief(e))
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
            topology=self.topo, stage=spec, branch=branch, prompt=self.topo.prompt_text(spec, branch),
            alert=self.alert, inputs={d: self.outputs[d] for d in spec.depends_on if d in self.outputs},
            tools=build_toolbox(self.topo, spec.name, self._sandbox(spec, branch), self.alert,
                                self.log_path, self.job),
            output_model=OUTPUT_MODELS[spec.output_kind],
        )
        t0 = self.clock()
        try:
            async with asyncio.timeout(spec.timeout_s):
                outcome = await self.provider.run_stage(req)
            self._check_output(req, outcome)
        except (Exception, TimeoutError) as e:
            why = f"timed out after {spec.timeout_s:g}s" if isinstance(e, TimeoutError) else _brief(e)
            if self.fallback is None:
                if not isinstance(e, (TimeoutError, BotError)):
                    log.exception("stage %s failed", spec.name)
                status = "timeout" if isinstance(e, TimeoutError) else "failed"
                return self._result(spec, status, reason=why, branch=branch, ms=(self.clock() - t0) * 1000)
            try:
                async with asyncio.timeout(FALLBACK_TIMEOUT_S):
                    outcome = await self.fallback.run_stage(req)
                outcome.fallback = f"{self.provider.name}: {why}"
                spent = getattr(e, "usage", None)
                if isinstance(spent, Usage):  # what the failed attempt cost still belongs in the report
                    outcome.usage = Usage(model=spent.model, round_trips=spent.round_trips,
                                          input_tokens=spent.input_tokens, output_tokens=spent.output_tokens)
            except Exception as e2:
                log.exception("offline fallback for stage %s failed", spec.name)
                return self._result(spec, "failed", reason=f"{why}; offline fallback: {_brief(e2)}",
                                    branch=branch, ms=(self.clock() - t0) * 1000)
        # What a stage produced feeds its dependents (and a model's next request): redacted first, so a
        # secret a provider or tool let through goes no further than this stage.
        output = type(outcome.output).model_validate(
            _redact_tree(outcome.output.model_dump(), self.sandboxes.redactor.redact))
        self.outputs[spec.name] = outcome.output = output
        used = self.fallback if outcome.fallback and self.fallback else self.provider
        if isinstance(outcome.output, Classification) and self.reading is None:
            # a model's classification is model text: the fingerprint comes from the offline reading instead
            self.reading = outcome.output if used.name == "offline" else await self._reading(spec, branch)
        u = outcome.usage
        return StageResult(
            name=spec.name, status="ok", output_kind=spec.output_kind, output=outcome.output.model_dump(),
            branch=branch, provider=used.name, model=u.model, fallback=outcome.fallback,
            round_trips=u.round_trips, input_tokens=u.input_tokens, output_tokens=u.output_tokens,
            duration_ms=(self.clock() - t0) * 1000)

    async def _reading(self, spec: StageSpec, branch: str | None) -> Classification:
        """The offline classifier's reading of the same excerpt, through the same stage's sandbox."""
        from bot.offline.classify import classify

        tools = build_toolbox(self.topo, spec.name, self._sandbox(spec, branch), self.alert, self.log_path, self.job)
        return classify(await tools.log_excerpt(), self.alert)

    @staticmethod
    def _check_output(req: StageRequest, outcome: StageOutcome) -> None:
        if not isinstance(outcome.output, req.output_model):
            raise TypeError(f"provider returned {type(outcome.output).__name__}, "
                            f"stage needs {req.output_model.__name__}")

    def _result(self, spec: StageSpec, status: str, *, reason: str | None = None, branch: str | None = None,
                ms: float = 0.0) -> StageResult:
        return StageResult(name=spec.name, status=status, output_kind=spec.output_kind, reason=reason,  # type: ignore[arg-type]
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
            root_cause, action, escalation, evidence = rec.root_cause, rec.action, rec.escalation, rec.evidence
            alternatives = rec.alternatives
        else:
            decided = inv or cls
            category = decided.category if decided else "unknown"
            confidence = decided.confidence if decided else 0.0
            root_cause = (decided.summary if decided else "Triage did not reach a conclusion.")
            action = f"Read the evidence and the log yourself; the triage is partial ({failed})."
            escalation = escalation_for(self.topo, category, self.job)
            evidence = cls.evidence if cls else []
            alternatives = cls.alternatives if cls and cls.category == category else []
        report = TriageReport(
            job=self.alert.job, run_id=self.alert.run_id,
            log_path=str(self.log_path) if self.log_path else None,
            category=category, confidence=round(confidence, 2), root_cause=root_cause, action=action,
            escalation=escalation, evidence=evidence, stages=stages,
            files_read=self.audit.files_read, denied=self.audit.denied, provider=self.provider.name,
            duration_ms=round(duration_ms, 2), sandbox={"enforcement": self.sandboxes.enforcement},
            complete=complete, incomplete=incomplete,
            alternatives=[a for a in alternatives if a.category != category],
            fingerprint=fingerprint_of(self.reading) if self.reading is not None else None,
        )
        if self.memory is not None:
            report = _remembered(report, self.memory, self.topo, self.job)
        # Last line of defence: whatever a stage or tool put into the report (commit subjects, file headers,
        # model text) passes the same redaction as log text before it reaches a terminal, Slack or JSON.
        redactor = self.sandboxes.redactor
        return TriageReport.model_validate(_redact_tree(report.model_dump(),
                                                        lambda t: displayable(redactor.redact(t))))


def _remembered(report: TriageReport, memory: Memory, topo: Topology, job: Job | None) -> TriageReport:
    """Apply what the team said before: a correction overrides the category (cited as evidence, its author
    named, the engine's reading kept as the alternative); a resolution note is offered as the action."""
    import datetime as dt

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
            "escalation": escalation_for(topo, c.category, job),
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


def _last(outputs: dict[str, BaseModel], kind: type) -> object | None:
    found = [o for o in outputs.values() if isinstance(o, kind)]
    return found[-1] if found else None


def _brief(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {text}"[:300] if text else type(e).__name__
