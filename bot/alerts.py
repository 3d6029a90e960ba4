"""Slack message events → `bot.report.Alert`. Deterministic: regexes, no model.

An alert may carry its content in `text`, in legacy `attachments` (Airflow webhook notifiers often post an
empty `text`) or in Block Kit `blocks` (including `rich_text`). `message_text` flattens all three; `parse_alert`
decides whether it is a failure alert and pulls out job, run id, task and a log path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

from bot.report import Alert
from bot.topology import Topology

DEFAULT_FAILURE_WORDS = (
    "failed", "failure", "fail", "error", "exception", "crashed", "timed out", "timeout", "aborted", "killed",
    "triggered", "critical", "up_for_retry",
)
# A recovery notice is not a failure, even though it names the failure it recovered from.
RECOVERY_RE = re.compile(r"\[(?:recovered|resolved|ok)\]|\b(?:recovered|resolved|succeeded)\b", re.I)

_FLAGS = re.I
BUILTIN_PATTERNS = tuple(re.compile(p, _FLAGS) for p in (
    # Airflow log URLs and notifier text: dag_id=…&task_id=…&run_id=…, "Dag: x", "Task: y", "Run ID: z"
    r"[?&]dag_id=(?P<job>[\w.\-]+)",
    r"[?&]task_id=(?P<task>[\w.\-]+)",
    r"[?&](?:dag_run_id|run_id)=(?P<run_id>[^&\s|>]+)",
    r"\bdag(?:[ _]?id)?\s*[:=]\s*(?P<job>[\w.\-]+)",
    r"\bdag\s+(?P<job>[\w.\-]+)\s+(?:has\s+)?failed",
    r"\btask(?:[ _]?id)?\s*[:=]\s*(?P<task>[\w.\-]+)",
    # Dagster: 'Job "orders_daily" failed', 'Job orders_daily run 3f2a… failed'
    r"\bjob\s+[\"']?(?P<job>[\w.\-]+)[\"']?\s+(?:run\s+[\"']?(?P<run_id>[\w\-]+)[\"']?\s+)?(?:has\s+)?failed",
    # generic "job: x", "job_name=x", Datadog / PagerDuty tags "job:x"
    r"\bjob(?:[ _]?name)?\s*[:=]\s*(?P<job>[\w.\-]+)",
    r"\b(?:pipeline|model|asset)\s*[:=]\s*(?P<job>[\w.\-]+)",
    r"\brun(?:[ _]?id)?\s*[:=#]\s*(?P<run_id>[\w.:+\-]+)",
    r"\bdag[ _]run\s*[:=]?\s*(?P<run_id>[\w.:+\-]+)",
    # dbt Cloud: "dbt Cloud job revenue_rollup (#123) failed … Run #4567"
    r"\bdbt(?:\s+cloud)?\s+job\s+[\"']?(?P<job>[\w.\-]+)",
    r"\brun\s+#(?P<run_id>\d+)",
    # a log path: "log: /var/log/etl/x/y.log", or any absolute *.log path
    r"\blogs?(?:[ _]?(?:url|path|file))?\s*[:=]\s*(?P<log>/[^\s|>]+)",
    r"(?P<log>(?<![\w:/])/[\w.\-/]+\.log)\b",
))

_LINK_RE = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")


def message_text(event: Mapping[str, Any]) -> str:
    """All human-readable text of a message: `text`, attachments and blocks, one part per line."""
    parts: list[str] = []
    if event.get("text"):
        parts.append(str(event["text"]))
    for att in event.get("attachments") or []:
        if not isinstance(att, Mapping):
            continue
        for key in ("pretext", "author_name", "title", "title_link", "text", "fallback", "footer"):
            if att.get(key):
                parts.append(str(att[key]))
        for f in att.get("fields") or []:
            if isinstance(f, Mapping):
                parts.append(f"{f.get('title', '')}: {f.get('value', '')}".strip(": "))
        parts.extend(_blocks_text(att.get("blocks") or []))
    parts.extend(_blocks_text(event.get("blocks") or []))
    seen: set[str] = set()
    unique = [p for p in parts if p.strip() and not (p in seen or seen.add(p))]
    return "\n".join(unique)


def _blocks_text(blocks: Iterable[Any]) -> list[str]:
    out: list[str] = []
    for b in blocks:
        if not isinstance(b, Mapping):
            continue
        if b.get("type") == "rich_text":
            out.append("".join(_rich(e) for e in b.get("elements") or []))
            continue
        text = b.get("text")
        if isinstance(text, Mapping) and text.get("text"):
            out.append(str(text["text"]))
        for f in b.get("fields") or []:
            if isinstance(f, Mapping) and f.get("text"):
                out.append(str(f["text"]))
        for e in b.get("elements") or []:
            if isinstance(e, Mapping) and e.get("type") in ("mrkdwn", "plain_text") and e.get("text"):
                out.append(str(e["text"]))
    return out


def _rich(el: Any) -> str:
    """Flatten a rich_text element tree (sections, lists, quotes, preformatted, text, link)."""
    if not isinstance(el, Mapping):
        return ""
    kind = el.get("type")
    if kind == "text":
        return str(el.get("text", ""))
    if kind == "link":
        return f"{el.get('url', '')} {el.get('text', '')}".strip()
    if kind in ("user", "channel", "usergroup"):
        return ""
    inner = "".join(_rich(c) for c in el.get("elements") or [])
    return inner + ("\n" if kind in ("rich_text_section", "rich_text_preformatted", "rich_text_quote",
                                      "rich_text_list") else "")


def normalise(text: str) -> str:
    """Slack mrkdwn → plain text for matching: links unwrapped, entities decoded, emphasis marks dropped."""
    text = _LINK_RE.sub(lambda m: f"{m.group(1)} {m.group(2) or ''}", text)
    return re.sub(r"[*`~]", "", unescape(text))


def unescape(text: str) -> str:
    """Slack's three mrkdwn entities back to characters."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def detect_source(event: Mapping[str, Any], text: str) -> str:
    """Who posted it: airflow | dagster | dbt | datadog | pagerduty | webhook | slack."""
    who = " ".join(str(x) for x in (
        event.get("username"), (event.get("bot_profile") or {}).get("name"), text[:400]) if x).lower()
    for needle, source in (("airflow", "airflow"), ("dagster", "dagster"), ("dbt", "dbt"),
                           ("datadog", "datadog"), ("pagerduty", "pagerduty")):
        if needle in who:
            return source
    if event.get("subtype") == "bot_message" or event.get("bot_id"):
        return "webhook"
    return "slack"


def is_failure(text: str, failure_words: Iterable[str] = DEFAULT_FAILURE_WORDS) -> bool:
    if RECOVERY_RE.search(text):
        return False
    low = text.lower()
    return any(re.search(rf"(?<![a-z]){re.escape(w.lower())}", low) for w in failure_words)


def extract(text: str, topology: Topology | None = None) -> dict[str, str]:
    """job / run_id / task / log found in `text`: configured patterns first, then built-ins, then known jobs."""
    patterns: list[re.Pattern[str]] = []
    if topology is not None:
        patterns += [re.compile(p, _FLAGS) for p in topology.alerts.patterns]
    patterns += BUILTIN_PATTERNS
    found: dict[str, str] = {}
    for pat in patterns:
        for m in pat.finditer(text):
            for key, value in m.groupdict().items():
                if value and key in ("job", "run_id", "task", "log") and key not in found:
                    found[key] = value.strip().rstrip(".,;:)")
    if topology is not None:
        known = [j for j in topology.jobs if j != "*"]
        mentioned = [j for j in known if re.search(rf"(?<![\w.\-]){re.escape(j)}(?![\w\-])", text)]
        if mentioned and found.get("job") not in known:
            found["job"] = max(mentioned, key=len)
    return found


def parse_alert(event: Mapping[str, Any], topology: Topology | None = None) -> Alert | None:
    """An Alert when the message reports a failed run we can name (a job or a log path); otherwise None."""
    raw = message_text(event)
    text = normalise(raw)
    if not text.strip():
        return None
    words = (topology.alerts.failure_words if topology is not None else None) or DEFAULT_FAILURE_WORDS
    if not is_failure(text, words):
        return None
    fields = extract(text, topology)
    if not fields.get("job") and not fields.get("log"):
        return None
    run_id = unquote(fields["run_id"]) if fields.get("run_id") else None  # log URLs carry it %-encoded
    return Alert(job=fields.get("job"), run_id=run_id, task=fields.get("task"),
                 log_hint=fields.get("log"), source=detect_source(event, text), text=raw[:4000])
