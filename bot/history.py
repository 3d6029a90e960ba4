"""`etl-triage history` and `etl-triage db upgrade`: the store, read by people."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import time
from typing import Any

from bot.errors import BotError
from bot.settings import Settings
from bot.store import HistoryRow, database_url, open_store, sqlite_path

SINCE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str) -> float:
    """`7d`, `12h`, `30m`, `2w` → seconds."""
    m = SINCE_RE.match(text or "")
    if not m:
        raise BotError(f"--since {text!r}: expected a number and a unit, e.g. 7d, 12h, 30m or 2w")
    return float(m.group(1)) * UNIT_S[m.group(2)]


def _when(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M")


def row_json(r: HistoryRow) -> dict[str, Any]:
    return {"at": _when(r.received_at) + "Z", "epoch": r.received_at, "job": r.job, "run_id": r.run_id,
            "channel": r.channel, "ts": r.ts, "status": r.status, "category": r.category,
            "confidence": r.confidence, "root_cause": r.root_cause, "provider": r.provider,
            "duration_ms": r.duration_ms, "fingerprint": r.fingerprint, "incident_id": r.incident_id,
            "learned_from": r.learned_from,
            "feedback": [{"verdict": f.verdict, "user": f.user, "at": _when(f.at) + "Z",
                          "corrected_category": f.corrected_category, "corrected_cause": f.corrected_cause,
                          "note": f.note}
                         for f in r.feedback]}


def _feedback_text(r: HistoryRow) -> str:
    parts = []
    for f in r.feedback:
        text = f"{f.verdict.replace('_', ' ')} by {f.user}"
        if f.corrected_category:
            text += f" → {f.corrected_category}" + (f": {f.corrected_cause}" if f.corrected_cause else "")
        if f.note:
            text += f": {f.note}"
        parts.append(text)
    return "; ".join(parts)


def row_text(r: HistoryRow) -> str:
    what = (f"{(r.category or '?').upper()} {round((r.confidence or 0) * 100)}%" if r.status == "done"
            else r.status)
    cause = " ".join((r.root_cause or "").split())
    cause = cause if len(cause) <= 100 else cause[:99] + "…"
    line = f"{_when(r.received_at)}  {r.job or '(no job)'}  {what}  {cause}".rstrip()
    fb = _feedback_text(r)
    learned = f"  (learned: {r.learned_from})" if r.learned_from else ""
    return line + learned + (f"  [{fb}]" if fb else "")


async def history_main(args: argparse.Namespace, settings: Settings) -> int:
    since = time.time() - parse_since(args.since) if args.since else None
    url = database_url(settings.database_url, settings.state_dir)
    db_file = sqlite_path(url) if url.startswith("sqlite:///") else None
    if db_file is not None and not db_file.exists():   # reading history creates no database
        print(f"no triages yet: {db_file} does not exist (the bot writes it when it answers an alert; "
              "set ETL_TRIAGE_STATE_DIR or ETL_TRIAGE_DATABASE_URL to read another)")
        return 0
    store = await open_store(url)
    try:
        rows = await store.history(job=args.job, since=since, limit=args.limit)
    finally:
        await store.close()
    if args.json:
        print(json.dumps([row_json(r) for r in rows], ensure_ascii=False, indent=2))
        return 0
    if not rows:
        scope = f" for job {args.job!r}" if args.job else ""
        print(f"no triages{scope} in {store.where}" + (f" in the last {args.since}" if args.since else ""))
        return 0
    for r in rows:
        print(row_text(r))
    return 0


async def db_main(args: argparse.Namespace, settings: Settings) -> int:
    url = database_url(settings.database_url, settings.state_dir)
    store = await open_store(url, migrate=False)
    try:
        if args.db_cmd == "upgrade":
            applied = await store.upgrade()
            version = await store.schema_version()
            print(f"{store.where}: schema version {version}"
                  + (f" (applied {', '.join(map(str, applied))})" if applied else " (up to date)"))
        else:
            print(f"{store.where}: schema version {await store.schema_version()}")
    finally:
        await store.close()
    return 0
