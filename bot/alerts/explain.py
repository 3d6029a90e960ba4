"""`etl-triage alert FILE.json`: what the bot recognises in one Slack message, and why — so a team can check
its own alert format (in CI too) before relying on it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.alerts.recognise import Recognition, recognise
from bot.errors import BotError
from bot.topology import Topology

MAX_FILE = 2_000_000


def load_event(path: Path) -> dict[str, Any]:
    """A Slack message: the event itself, an Events API envelope (`event`), a `message` wrapper (as in
    conversations.history exports), or a reference fixture (`event` next to `expect`)."""
    try:
        if not path.is_file():
            raise BotError(f"{path}: not a regular file; give a JSON file with a Slack message event")
        if path.stat().st_size > MAX_FILE:
            raise BotError(f"{path}: larger than {MAX_FILE // 1_000_000} MB; a Slack message is far smaller")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise BotError(f"{path}: cannot read it ({e})") from None
    except json.JSONDecodeError as e:
        raise BotError(f"{path}: not JSON ({e.msg} at line {e.lineno}); export the message as JSON") from None
    for key in ("event", "message"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict) or not any(k in data for k in ("text", "attachments", "blocks")):
        raise BotError(f"{path}: no Slack message found (expected an object with text, attachments or blocks)")
    return data


def explain(path: Path, topology: Topology | None) -> Recognition:
    return recognise(load_event(path), topology)


def explain_text(rec: Recognition) -> str:
    yes = "FAILURE" if rec.failure else "not a failure alert"
    lines = [f"{yes}: {rec.reason}", f"sender:   {rec.sender.describe()}"]
    job = rec.job or "(none found)"
    if rec.job_how:
        job += f"  [{rec.job_how}" + (f", from '{_raw(rec)}'" if rec.job_how == "guess" else "") + "]"
    lines.append(f"job:      {job}")
    for label, value in (("run id", rec.run_id), ("task", rec.task), ("try", rec.try_number),
                         ("log", rec.log_hint), ("log URL", rec.log_url)):
        if value:
            lines.append(f"{label + ':':<9} {value}")
    if rec.failure and not rec.triageable:
        lines.append("action:   no job found; the bot replies in the thread and offers `/triage JOB_NAME`")
    elif rec.triageable:
        lines.append(f"action:   triage {rec.job or rec.log_hint}" + (f" (run {rec.run_id})" if rec.run_id else ""))
    else:
        lines.append("action:   none (the bot stays silent)")
    if rec.truncated:
        lines.append("note:     the message is longer than the bot reads; only its first 64,000 characters count")
    return "\n".join(_safe(line) for line in lines)


def _raw(rec: Recognition) -> str:
    note = rec.job_note or ""
    return note.split("`")[1] if note.count("`") >= 2 else ""


def _safe(text: str) -> str:
    """No terminal control characters from a message reach the terminal."""
    return "".join(ch if ch.isprintable() or ch == "\t" else "?" for ch in text)
