"""The DAG engine: concurrency by event order, timeouts, skip propagation, branching, fallback, partial reports.

The stages are answered by the shipped scripted provider (`--provider scripted:FILE`)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from bot.contract import Alert, Classification
from bot.engine import run_triage
from bot.errors import AccessDenied, LogNotFound, ProviderError
from bot.providers import get_provider
from bot.providers.base import StageOutcome, StageRequest, Usage
from bot.providers.fallback import WithFallback
from bot.providers.scripted import ScriptedProvider
from bot.topology import Topology, load_topology

LOG = "Traceback (most recent call last):\nKeyError: 'customer_id'\nTask exited with return code 1\n"


EV = [{"path": "x.log", "line": 2, "text": "KeyError: 'customer_id'"}]
# the shipped scripted provider's script (what `--provider scripted:FILE` reads from a TOML or JSON file)
SCRIPT: dict[str, dict[str, object]] = {
    "classify": {"category": "data", "confidence": 0.8, "summary": "KeyError on customer_id", "evidence": EV},
    "investigate": {"category": "data", "confidence": 0.8, "summary": "investigated as {branch}"},
    "recommend": {"category": "data", "confidence": 0.8, "root_cause": "column dropped upstream",
                  "action": "ask the source owner", "evidence": EV},
    **{name: {"text": "text from {stage}"} for name in ("a", "b", "c")},
}
HANG = {"delay_s": 3600}


def script(**changes: dict[str, object]) -> dict[str, dict[str, object]]:
    return {**SCRIPT, **{stage: {**SCRIPT.get(stage, {}), **answer} for stage, answer in changes.items()}}


class Recording(ScriptedProvider):
    """The shipped scripted provider, recording start/end events in order; `barrier` stages must be running
    at once to answer (independent stages overlap)."""

    def __init__(self, answers: dict[str, dict[str, object]] | None = None, barrier: tuple[str, ...] = ()) -> None:
        super().__init__(answers or SCRIPT)
        self.events: list[str] = []
        self.barrier = barrier
        self.both_started = asyncio.Event()

    async def run_stage(self, req: StageRequest) -> StageOutcome:
        name = req.stage.name
        self.events.append(f"start:{name}")
        try:
            if name in self.barrier:
                if sum(e.startswith("start:") and e[6:] in self.barrier for e in self.events) == len(self.barrier):
                    self.both_started.set()
                await asyncio.wait_for(self.both_started.wait(), timeout=5)
            return await super().run_stage(req)
        finally:
            self.events.append(f"end:{name}")


def _script_file(tmp_path: Path, **changes: dict[str, object]) -> Path:
    """The script as a user writes it (JSON here; TOML works the same)."""
    path = tmp_path / "script.json"
    path.write_text(json.dumps(script(**changes)))
    return path


def _world(tmp_path: Path, stages: str, pipeline: str = "") -> tuple[Topology, Path]:
    (tmp_path / "prompts").mkdir()
    for name in ("p.md", "data.md", "infra.md"):
        (tmp_path / "prompts" / name).write_text(f"prompt {name}\n")
    logs = tmp_path / "logs" / "job1"
    logs.mkdir(parents=True)
    log = logs / "run.log"
    log.write_text(LOG)
    (tmp_path / "topology.toml").write_text(f"[pipeline]\n{pipeline}\n{stages}")
    return load_topology(tmp_path / "topology.toml", {"log_root": str(tmp_path / "logs")}), log


def _stage(name: str, deps: list[str] = (), extra: str = "") -> str:
    return (f'[[pipeline.stages]]\nname = "{name}"\nprompt_file = "prompts/p.md"\n'
            f'read = ["{{log_root}}/**"]\ndepends_on = {list(deps)!r}\n{extra}\n').replace("'", '"')


BRANCHES = ('branch_on = "classify"\n[pipeline.stages.branches.data]\nprompt_file = "prompts/data.md"\n'
            'read = ["{log_root}/../data/**"]')
DEFAULT = (_stage("classify") + _stage("investigate", ["classify"], BRANCHES)
           + _stage("recommend", ["classify", "investigate"]))


async def test_engine_independent_stages_overlap(tmp_path):
    topo, log = _world(tmp_path, _stage("a", extra='output = "text"') + _stage("b", extra='output = "text"')
                       + _stage("c", ["a", "b"], 'output = "text"'))
    p = Recording(barrier=("a", "b"))
    report = await run_triage(topo, Alert(job="job1"), provider=p, log_path=log)
    assert [s.status for s in report.stages] == ["ok", "ok", "ok"]
    ev = p.events
    assert max(ev.index("start:a"), ev.index("start:b")) < min(ev.index("end:a"), ev.index("end:b"))
    assert ev.index("start:c") > max(ev.index("end:a"), ev.index("end:b"))
    assert set(p.requests["c"].inputs) == {"a", "b"}


async def test_engine_dependent_stage_receives_typed_outputs_and_branch(tmp_path):
    topo, log = _world(tmp_path, DEFAULT)
    p = ScriptedProvider(SCRIPT)
    report = await run_triage(topo, Alert(job="job1"), provider=p, log_path=log)
    inv = p.requests["investigate"]
    assert inv.branch == "data"
    assert isinstance(inv.inputs["classify"], Classification)
    assert "prompt p.md" in inv.prompt and "prompt data.md" in inv.prompt
    assert report.stages[1].branch == "data"
    assert report.root_cause == "column dropped upstream" and report.complete
    # the scripted provider reads nothing; the engine reads the log once, for the deterministic fingerprint
    assert report.files_read == [str(log.resolve())] and report.sandbox["enforcement"] in ("landlock", "in-process")
    assert report.fingerprint is not None and report.fingerprint.signature == "python.keyerror"


async def test_engine_branch_without_a_branch_prompt_uses_stage_prompt(tmp_path):
    topo, log = _world(tmp_path, DEFAULT)

    p = ScriptedProvider(script(classify={"category": "infra", "confidence": 0.9, "summary": "OOM", "evidence": []}))
    await run_triage(topo, Alert(job="job1"), provider=p, log_path=log)
    assert p.requests["investigate"].branch == "infra"
    assert "data.md" not in p.requests["investigate"].prompt


async def test_engine_stage_timeout_skips_dependents_with_reason(tmp_path):
    topo, log = _world(tmp_path, DEFAULT.replace('name = "investigate"', 'name = "investigate"\ntimeout_s = 0.5'))
    p = ScriptedProvider(script(investigate=HANG))
    report = await run_triage(topo, Alert(job="job1"), provider=p, log_path=log, fallback_to_offline=False)
    status = {s.name: (s.status, s.reason) for s in report.stages}
    assert status["classify"] == ("ok", None)
    assert status["investigate"][0] == "timeout" and "timed out after 0.5s" in status["investigate"][1]
    assert status["recommend"][0] == "skipped" and "'investigate' timeout" in status["recommend"][1]
    assert not report.complete
    assert report.category == "data" and report.root_cause == "KeyError on customer_id"
    assert "partial" in report.action


async def test_engine_failed_stage_skips_dependents_and_keeps_partial_report(tmp_path):
    topo, log = _world(tmp_path, DEFAULT)
    p = ScriptedProvider(script(classify={"error": "boom"}))
    report = await run_triage(topo, Alert(job="job1"), provider=p, log_path=log, fallback_to_offline=False)
    assert [s.status for s in report.stages] == ["failed", "skipped", "skipped"]
    assert "ProviderError: boom" in report.stages[0].reason
    assert "'classify' failed" in report.stages[1].reason
    assert report.category == "unknown" and report.escalation.team


async def test_engine_provider_failure_falls_back_to_offline(tmp_path):
    topo, log = _world(tmp_path, DEFAULT)
    p = get_provider(f"scripted:{_script_file(tmp_path, classify={'error': '529 overloaded'})}")
    report = await run_triage(topo, Alert(job="job1"), provider=p, log_path=log)
    cls = report.stages[0]
    assert cls.status == "ok" and cls.provider == "offline"
    assert cls.fallback == "scripted: ProviderError: 529 overloaded"
    assert report.stages[1].provider == "scripted" and report.stages[1].fallback is None
    assert str(log) in report.files_read


async def test_engine_fallback_keeps_the_failed_attempts_usage(tmp_path):
    topo, log = _world(tmp_path, DEFAULT)
    spent = Usage(model="claude-x", round_trips=2, input_tokens=900, output_tokens=40)

    class SpentThenFailed(ScriptedProvider):
        async def run_stage(self, req: StageRequest) -> StageOutcome:
            if req.stage.name == "classify":
                raise ProviderError("invalid twice", usage=spent)
            return await super().run_stage(req)

    p = SpentThenFailed(SCRIPT)
    report = await run_triage(topo, Alert(job="job1"), provider=p, log_path=log)
    cls = report.stages[0]
    assert (cls.provider, cls.model, cls.round_trips, cls.input_tokens) == ("offline", "claude-x", 2, 900)


class WrongType(ScriptedProvider):
    """A fallback that answers classify with something that is not a Classification."""

    async def run_stage(self, req: StageRequest) -> StageOutcome:
        if req.stage.name == "classify":
            return StageOutcome(output="data, probably")  # type: ignore[arg-type]
        return await super().run_stage(req)


@pytest.mark.parametrize(("fallback", "status", "says"), [
    (WrongType(SCRIPT), "failed", "returned str, stage needs Classification"),
    (ScriptedProvider(script(classify=HANG)), "timeout", "timed out after 0.3s"),
])
async def test_a_fallback_is_held_to_the_stage_checks_too(tmp_path, fallback, status, says):
    topo, log = _world(tmp_path, DEFAULT)
    primary = ScriptedProvider(script(classify={"error": "529 overloaded"}))
    report = await run_triage(topo, Alert(job="job1"), log_path=log,
                              provider=WithFallback(primary, fallback, fallback_timeout_s=0.3))
    cls = report.stages[0]
    assert cls.status == status and "529 overloaded" in cls.reason and says in cls.reason, cls.reason
    assert report.category == "unknown" and not report.complete


async def test_engine_whole_triage_budget(tmp_path):
    topo, log = _world(tmp_path, DEFAULT, pipeline="timeout_s = 1")
    p = ScriptedProvider(script(investigate=HANG))
    report = await run_triage(topo, Alert(job="job1"), provider=p, log_path=log, fallback_to_offline=False)
    status = {s.name: s.status for s in report.stages}
    assert status == {"classify": "ok", "investigate": "timeout", "recommend": "skipped"}
    assert "budget of 1s" in report.stages[1].reason


async def test_engine_progress_callback_sees_each_stage(tmp_path):
    topo, log = _world(tmp_path, DEFAULT)
    seen: list[tuple[str, str]] = []

    async def progress(stage: str, status: str) -> None:
        seen.append((stage, status))

    await run_triage(topo, Alert(job="job1"), provider=ScriptedProvider(SCRIPT), log_path=log,
                     on_progress=progress)
    assert seen == [("classify", "running"), ("classify", "ok"), ("investigate", "running"),
                    ("investigate", "ok"), ("recommend", "running"), ("recommend", "ok")]


async def test_engine_refuses_log_outside_allowlist_before_reading(tmp_path):
    topo, _ = _world(tmp_path, DEFAULT)
    secret = tmp_path / "secret.log"
    secret.write_text("password=hunter2\n")
    p = Recording()
    for path in (secret, tmp_path / "logs" / ".." / "secret.log"):
        with pytest.raises(AccessDenied) as err:
            await run_triage(topo, Alert(job="job1"), provider=p, log_path=path)
        assert "stage 'classify'" in str(err.value) and "hunter2" not in str(err.value)
    assert p.events == []


async def test_engine_finds_newest_log_through_registry(tmp_path):
    topo, log = _world(tmp_path, DEFAULT)
    older = log.with_name("older.log")
    older.write_text("old\n")
    os.utime(older, (1, 1))
    p = ScriptedProvider(SCRIPT)
    report = await run_triage(topo, Alert(job="job1"), provider=p)
    assert report.log_path == str(log)
    with pytest.raises(LogNotFound, match=r"no \*\.log for job 'nope'"):
        await run_triage(topo, Alert(job="nope"), provider=p)


async def test_engine_prompt_removed_after_load_does_not_break_a_triage(tmp_path):
    topo, log = _world(tmp_path, DEFAULT)
    (tmp_path / "prompts" / "data.md").unlink()   # e.g. a deploy in progress replaces the prompts directory
    p = ScriptedProvider(SCRIPT)
    report = await run_triage(topo, Alert(job="job1"), provider=p, log_path=log)
    assert report.complete
    assert "prompt data.md" in p.requests["investigate"].prompt


async def test_engine_redacts_secrets_whatever_stage_produced_them(tmp_path):
    topo, log = _world(tmp_path, DEFAULT)

    leaky = ScriptedProvider(script(recommend={
        "root_cause": "commit 'rotate key AKIAABCDEFGHIJKLMNOP password=hunter2' broke it"}))
    report = await run_triage(topo, Alert(job="job1"), provider=leaky, log_path=log)
    dumped = report.model_dump_json()
    assert "AKIAABCDEFGHIJKLMNOP" not in dumped and "hunter2" not in dumped
    assert report.root_cause.startswith("commit 'rotate key [REDACTED:")
