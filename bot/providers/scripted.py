"""`scripted:FILE`: a provider that answers each stage from a script, so a topology change can be tested in CI
without a key or a network (like pydantic-ai's FunctionModel).

The script (TOML, or JSON for a `.json` file) has one table per stage name holding that stage's answer — the
fields of its output model (`Classification`, `Investigation`, `Recommendation`, or `text` for a text stage):

    [classify]
    category = "data"
    confidence = 0.8
    summary = "KeyError on customer_id in {job}"
    evidence = [{ path = "x.log", line = 2, text = "KeyError: 'customer_id'" }]

    [investigate.branch.infra]      # the answer when the stage branches on `infra` (else the stage's own)
    category = "infra"
    confidence = 0.7
    summary = "the warehouse was down"

Three keys are not answer fields: `error = "…"` makes the stage fail as a model would (ProviderError; the
offline engine then takes over and the report says why), `delay_s = N` answers after N seconds (a stage
timeout), `branch` holds per-branch answers. `{stage}`, `{branch}`, `{job}` and `{run_id}` in a string are
replaced. A stage with no answer fails the same way as `error`. Nothing is read from the log: stages get the
script's words, the engine still reads the log for the fingerprint, and the escalation comes from the topology.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli
from pydantic import ValidationError

from bot.errors import ProviderError, SettingsError
from bot.providers.base import StageOutcome, StageRequest, Usage

CONTROL = ("error", "delay_s", "branch")


class ScriptedProvider:
    """Answers from `script` (stage name → answer table). `requests` keeps the last request of each stage, so a
    test can check what a stage was given (its inputs, branch and prompt)."""

    name = "scripted"

    def __init__(self, script: Mapping[str, Any], source: str = "(script)") -> None:
        bad = [k for k, v in script.items() if not isinstance(v, Mapping)]
        if bad:
            raise SettingsError(f"{source}: stage '{bad[0]}': the answer must be a table of fields")
        self.script, self.source = dict(script), source
        self.requests: dict[str, StageRequest] = {}

    @classmethod
    def from_file(cls, path: str | Path) -> ScriptedProvider:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
            script = json.loads(text) if path.suffix == ".json" else tomli.loads(text)
        except OSError as e:
            raise SettingsError(f"cannot read the provider script {path}: {e.strerror}; "
                                "use --provider scripted:FILE with a TOML or JSON file") from None
        except (ValueError, tomli.TOMLDecodeError) as e:  # json.JSONDecodeError is a ValueError
            raise SettingsError(f"{path}: not a valid {'JSON' if path.suffix == '.json' else 'TOML'} "
                                f"script: {e}") from None
        if not isinstance(script, dict):
            raise SettingsError(f"{path}: a script is a table of stage names")
        return cls(script, str(path))

    async def run_stage(self, request: StageRequest) -> StageOutcome:
        name = request.stage.name
        self.requests[name] = request
        answer = self.script.get(name)
        if answer is None:
            raise ProviderError(f"{self.source} has no answer for stage '{name}'")
        by_branch = answer.get("branch")
        if request.branch and isinstance(by_branch, Mapping) and isinstance(by_branch.get(request.branch), Mapping):
            answer = {**answer, **by_branch[request.branch]}
        delay = answer.get("delay_s")
        if isinstance(delay, (int, float)) and delay > 0:
            await asyncio.sleep(delay)
        if answer.get("error"):
            raise ProviderError(str(answer["error"]))
        values = {"stage": name, "branch": request.branch or "", "job": request.alert.job or "",
                  "run_id": request.alert.run_id or ""}
        fields = _fill({k: v for k, v in answer.items() if k not in CONTROL}, values)
        try:
            output = request.output_model.model_validate(fields)
        except ValidationError as e:
            errors = "; ".join(f"{'.'.join(str(p) for p in x['loc']) or '(root)'}: {x['msg']}" for x in e.errors()[:5])
            raise ProviderError(f"{self.source}: stage '{name}': not a valid {request.output_model.__name__}: "
                                f"{errors}") from None
        return StageOutcome(output=output, usage=Usage(model="script"))

    async def aclose(self) -> None:
        return None


def _fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        for key, text in values.items():
            value = value.replace("{" + key + "}", text)
        return value
    if isinstance(value, Mapping):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    return value
