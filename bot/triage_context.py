"""What one triage knows, shared by every stage and computed once: the `TriageContext`.

The engine builds one per run (`bot.engine.prepare`): the alert (its text redacted), the job's registry entry,
the failed run's log (located and checked before anything is read), the escalation policy, the usage ledger
of model tokens and the audit of every file access. What is read from the log — the excerpt, the log's
mtime, the facts derived from them, the deterministic reading of the offline classifier — is read on the
first ask and then served from here, so a triage reads its log's excerpt once whichever stages, tools or
incident grouping ask for it. Every ask goes through the asking stage's sandbox: a stage whose allowlist does
not cover the log is refused (and audited) even when another stage has read it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from bot.contract import Alert, Classification, Fingerprint
from bot.errors import AccessDenied
from bot.escalation import EscalationPolicy
from bot.evidence.facts import RunFacts, run_facts
from bot.fingerprint import fingerprint as fingerprint_of
from bot.jobs import Job
from bot.offline.classify import classify
from bot.sandbox import Audit, Excerpt, Sandbox, SandboxManager
from bot.topology import StageSpec, Topology

EXCERPT_BUDGET = 64_000   # bytes of the log's error region read once per triage; a model's prompt cuts it down


@dataclass
class UsageLedger:
    """Model tokens (in + out) spent by one triage, all stages together, against [pipeline] max_tokens."""

    tokens: int = 0


class TriageContext:
    """One triage's shared facts. Build it with `bot.engine.prepare`; pass it to `run_triage(context=)`."""

    def __init__(self, topology: Topology, alert: Alert, sandboxes: SandboxManager, *, job: Job | None,
                 log_path: Path | None, audit: Audit | None = None) -> None:
        self.topology = topology
        self.alert = alert                  # as stages and models see it: its text redacted
        self.sandboxes = sandboxes
        self.job = job
        self.log_path = log_path
        self.audit = audit if audit is not None else Audit()
        self.escalation = EscalationPolicy(topology, job)
        self.usage = UsageLedger()
        self._lock, self._reading_lock = asyncio.Lock(), asyncio.Lock()
        self._excerpt: Excerpt | None = None
        self._mtime: float | None = None
        self._mtime_known = False
        self._reading: Classification | None = None

    def sandbox(self, stage: StageSpec, branch: str | None = None) -> Sandbox:
        """The stage's sandbox: its read allowlist (plus the branch's), audited into this triage."""
        return self.sandboxes.for_stage(stage.name, self.topology.read_globs(stage, branch), self.audit)

    async def excerpt(self, sandbox: Sandbox) -> Excerpt | None:
        """The part of the failed run's log that matters (error region + first error), or None without a log.
        Read through `sandbox` on the first ask; later asks are served from memory once their sandbox allows
        the log (audited as a 0-byte read; AccessDenied, audited, when it does not)."""
        if self.log_path is None:
            return None
        async with self._lock:
            if self._excerpt is None:
                self._excerpt = await sandbox.excerpt(self.log_path, budget=EXCERPT_BUDGET)
            else:
                sandbox.reuse(self.log_path)
            return self._excerpt

    async def facts(self, sandbox: Sandbox, partition: str | None = None) -> RunFacts:
        """When the run failed and which date it processed. `partition`: one the error names (the best source
        of the run date). A log this stage may not read leaves the facts to the alert and the run id."""
        excerpt, mtime = None, None
        if self.log_path is not None:
            try:
                excerpt = await self.excerpt(sandbox)      # AccessDenied: nothing of the log, not even its mtime
                mtime = await self._log_mtime(sandbox)
            except (AccessDenied, OSError):
                pass
        return run_facts(self.log_path, excerpt, mtime, self.alert, partition)

    async def _log_mtime(self, sandbox: Sandbox) -> float | None:
        assert self.log_path is not None
        if not self._mtime_known:
            infos = await sandbox.list_dir(str(self.log_path.parent), self.log_path.name)
            self._mtime = next((i.mtime for i in infos if Path(i.path).name == self.log_path.name), None)
            self._mtime_known = True
        return self._mtime

    async def reading(self, sandbox: Sandbox) -> Classification:
        """The offline classifier's reading of the excerpt (deterministic, no model): what the fingerprint is
        built on and the offline classify stage's answer. Computed once."""
        excerpt = await self.excerpt(sandbox)
        async with self._reading_lock:
            if self._reading is None:
                self._reading = classify(excerpt, self.alert)
            return self._reading

    async def fingerprint(self) -> Fingerprint | None:
        """Which failure this is, from the reading through the first classifying stage's sandbox; None when
        the topology classifies nothing or there is no log. Raises BotError like a triage would."""
        spec = next((s for s in self.topology.order() if s.output_kind == "classification"), None)
        if spec is None or self.log_path is None:
            return None
        return fingerprint_of(await self.reading(self.sandbox(spec)))
