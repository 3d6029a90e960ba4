"""The reference set of real alert formats (tests/fixtures/alerts/<tool>/<case>.json) and its topology."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures" / "alerts"
JOBS_TOML = (FIXTURES / "jobs.toml").read_text()


@dataclass(frozen=True)
class Fixture:
    id: str
    path: Path
    event: dict[str, Any]
    failure: bool
    job: str | None
    run_id: str | None
    task: str | None
    source: str


def load_fixtures() -> list[Fixture]:
    out = []
    for path in sorted(FIXTURES.glob("*/*.json")):
        data = json.loads(path.read_text())
        e = data["expect"]
        out.append(Fixture(f"{data['tool']}/{data['case']}", path, data["event"], e["failure"], e.get("job"),
                           e.get("run_id"), e.get("task"), data["source"]))
    return out
