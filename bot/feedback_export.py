"""`etl-triage feedback export [--since 30d] DIR`: each corrected triage becomes an eval case (eval/README.md).

A case is `DIR/<id>/case.toml` (the corrected category as the label, the job, the correction as notes, split
`test`: production cases are held out) and `run.log`: the failed run's log excerpt, read through the classify
stage's sandbox (bounded, secrets redacted). When the log is gone (retention), the report's evidence lines — already
redacted — stand in, and the case says so. `etl-triage eval DIR` then scores the engine on the team's own failures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import time
from pathlib import Path
from typing import Any

from bot.contract import TriageReport
from bot.errors import AccessDenied, BotError
from bot.history import parse_since
from bot.sandbox import Audit, SandboxManager
from bot.settings import Settings
from bot.store import database_url, open_store
from bot.topology import Topology

EXCERPT_BYTES = 64_000
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def case_id(row: dict[str, Any]) -> str:
    job = _UNSAFE.sub("_", row.get("job") or "nojob").strip("_")[:60] or "nojob"
    return f"{row['corrected_category']}_{job}_{(row.get('fingerprint') or 'nofp')[:8]}_{row['id']}"


async def _log_text(topo: Topology, sandboxes: SandboxManager, report: TriageReport | None) -> tuple[str, str]:
    """(run.log text, where it came from)."""
    if report is not None and report.log_path:
        stage = next((s for s in topo.order() if s.read), None)
        if stage is not None:
            sandbox = sandboxes.for_stage(stage.name, topo.read_globs(stage), Audit())
            try:
                ex = await sandbox.excerpt(report.log_path, budget=EXCERPT_BYTES)
                return "\n".join(line.text for line in ex.lines) + "\n", "log excerpt (redacted)"
            except (AccessDenied, BotError, OSError):
                pass
    lines = [e.text for e in (report.evidence if report else []) if e.path != "feedback"]
    return "\n".join(lines) + "\n", "evidence lines from the report (the log was no longer readable)"


def case_toml(row: dict[str, Any], source: str, origin: str) -> str:
    when = dt.datetime.fromtimestamp(float(row["at"]), dt.UTC).strftime("%Y-%m-%d")
    who = row.get("corrected_by") or row.get("user") or "?"
    note = (f"Corrected by {who} on {when}: the engine said {row.get('category') or '?'}, the team said "
            f"{row['corrected_category']}" + (f" ({row['corrected_cause']})" if row.get("corrected_cause") else "")
            + f". run.log: {origin}.")
    out = [f"category = {_toml_str(row['corrected_category'])}", 'split = "test"',
           f"job = {_toml_str(row.get('job') or 'unknown_job')}", f"source = {_toml_str(source)}"]
    if row.get("run_id"):
        out.append(f"run_id = {_toml_str(row['run_id'])}")
    out += ['tags = ["from-feedback"]', f"notes = {_toml_str(note)}"]
    return "\n".join(out) + "\n"


def _write_case(case: Path, run_log: str, toml: str) -> None:
    case.mkdir(parents=True, exist_ok=True)
    (case / "run.log").write_text(run_log, encoding="utf-8")
    (case / "case.toml").write_text(toml, encoding="utf-8")


async def export_main(args: argparse.Namespace, settings: Settings, topo: Topology) -> int:
    since = time.time() - parse_since(args.since) if args.since else None
    out = Path(args.dir)
    store = await open_store(database_url(settings.database_url, settings.state_dir))
    try:
        rows = await store.corrections(since)
    finally:
        await store.close()
    if not rows:
        print(f"no corrected triages in {store.where}" + (f" in the last {args.since}" if args.since else "")
              + "; corrections come from the Wrong diagnosis form in Slack")
        return 0
    sandboxes = SandboxManager.for_topology(topo)
    written = 0
    try:
        for row in rows:
            report = TriageReport.model_validate_json(row["report_json"]) if row.get("report_json") else None
            text, origin = await _log_text(topo, sandboxes, report)
            if not text.strip():
                print(f"skipped feedback {row['id']} ({row.get('job')}): no log and no evidence to export")
                continue
            _write_case(out / case_id(row), sandboxes.redactor.redact(text),
                        case_toml(row, row.get("source") or "slack", origin))
            written += 1
    finally:
        await sandboxes.aclose()
    print(f"wrote {written} case(s) to {out}; score them with: etl-triage eval {out}")
    return 0
