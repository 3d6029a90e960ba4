"""TriageReport → Block Kit. Pure functions; every text is escaped and fitted to Slack's limits.

Limits enforced (https://api.slack.com/reference/block-kit): 50 blocks per message, 3000 chars per section
text, 2000 per context element, 150 per header, 75 per button text, 2000 per button value. Truncation leaves
a visible note. All alert and log text goes through `escape` so `<!channel>` in a log pings nobody.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from bot.contract import TriageReport
from bot.slack import messages as M

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_CONTEXT = 2000
MAX_HEADER = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_FALLBACK = 3000
MAX_EVIDENCE = 8

ACTIONS_BLOCK = "triage_actions"
STATUS_BLOCK = "triage_status"
ESCALATE_PREFIX = "triage_escalate:"
RESOLVED_ACTION = "triage_resolved"
WRONG_ACTION = "triage_wrong"

Payload = dict[str, Any]
_ENTITY_TAIL = re.compile(r"&[a-z]{0,3}$")


def escape(text: object) -> str:
    """Slack's three control characters, so inserted text is shown, never interpreted."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fit(text: str, limit: int, note: str = M.TRUNCATED) -> str:
    """`text` cut to `limit` characters with a visible note; never splits an escape entity."""
    if len(text) <= limit:
        return text
    cut = _ENTITY_TAIL.sub("", text[: max(0, limit - len(note))])
    return cut + note


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": fit(text, limit, "…"), "emoji": True}


def _mrkdwn(text: str, limit: int = MAX_SECTION) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": fit(text, limit)}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}


def context(*texts: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "context", "elements": [_mrkdwn(t, MAX_CONTEXT) for t in texts[:10]]}
    if block_id:
        block["block_id"] = block_id
    return block


def _code(lines: Iterable[str], limit: int = MAX_SECTION) -> str:
    """A code block that stays closed when cut."""
    body = "\n".join(line.replace("```", "ʼʼʼ") for line in lines)
    return "```" + fit(body, limit - 6) + "```"


def pct(confidence: float) -> int:
    return round(confidence * 100)


# ------------------------------------------------------------------ progress


def progress_payload(job: str | None, stages: Sequence[tuple[str, str]], note: str | None = None) -> Payload:
    """The placeholder: `classify ✓ · investigate … · recommend` (and a note, e.g. a guessed job)."""
    head = M.TRIAGING.format(job=escape(job)) if job else M.TRIAGING_NO_JOB
    line = " · ".join(f"{name} {M.STAGE_MARK.get(status, '')}".rstrip() for name, status in stages)
    blocks = [section(head)] + ([context(escape(line))] if line else [])
    return with_note({"text": fit(head, MAX_FALLBACK), "blocks": blocks}, note)


def with_note(payload: Payload, note: str | None) -> Payload:
    """`payload` with a context line under its first block; `note` must already be mrkdwn-escaped."""
    if not note:
        return payload
    blocks = list(payload.get("blocks") or [])
    blocks.insert(1 if blocks else 0, context(note, block_id="triage_note"))
    return {**payload, "blocks": blocks[:MAX_BLOCKS]}


# ------------------------------------------------------------------ report


def button_value(**fields: str | None) -> str:
    """Compact JSON for a button's `value`, shortened to fit 2000 chars (the summary `s` goes first)."""
    data = {k: v for k, v in fields.items() if v is not None}
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    while len(text) > MAX_BUTTON_VALUE:
        longest = max(data, key=lambda k: len(str(data[k])))
        data[longest] = str(data[longest])[: max(0, len(str(data[longest])) - (len(text) - MAX_BUTTON_VALUE) - 1)]
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return text


def parse_button_value(value: str | None) -> dict[str, str]:
    try:
        data = json.loads(value or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    b: dict[str, Any] = {"type": "button", "text": _plain(text, MAX_BUTTON_TEXT), "action_id": action_id,
                         "value": fit(value, MAX_BUTTON_VALUE, "")}
    if style:
        b["style"] = style
    return b


def actions_block(report: TriageReport, teams: Sequence[tuple[str, str]],
                  incident_id: int | None = None) -> dict[str, Any]:
    """Escalate to the classified team (primary), to the other teams, Resolved, Wrong diagnosis.

    `teams` is (category key, team name), the classified category first. `incident_id` (`i`) makes Escalate
    escalate the whole incident, once.
    """
    # `s` (summary) is stored escaped: it is shown as-is in the escalation post.
    common = {"j": report.job, "r": report.run_id, "c": report.category, "s": escape(report.root_cause[:300]),
              "i": str(incident_id) if incident_id else None}
    elements = [
        _button(M.BTN_ESCALATE.format(team=team), f"{ESCALATE_PREFIX}{key}", button_value(k=key, t=team, **common),
                "primary" if i == 0 else None)
        for i, (key, team) in enumerate(teams[:20])
    ]
    elements.append(_button(M.BTN_RESOLVED, RESOLVED_ACTION, button_value(**common)))
    elements.append(_button(M.BTN_WRONG, WRONG_ACTION, button_value(**common), "danger"))
    return {"type": "actions", "block_id": ACTIONS_BLOCK, "elements": elements}


# only the "by @U…" the store and engine write: an `@U…` quoted from a log or a note must not ping anyone
_MENTION = re.compile(r"(?<=\bby )@([UW][A-Z0-9]{2,30})\b")


def mentions(escaped: str) -> str:
    """`by @U0BOB` in already-escaped text → a Slack mention (the engine and store write `by @id`)."""
    return _MENTION.sub(r"<@\1>", escaped)


def memory_block(report: TriageReport) -> dict[str, Any] | None:
    """What the team's history says of this failure (and what was learned from it), as one context block."""
    lines = [M.MEMORY.format(line=mentions(escape(m))) for m in report.memory]
    if report.learned_from:
        lines.append(M.LEARNED.format(what=mentions(escape(report.learned_from))))
    return context(*lines, block_id="triage_memory") if lines else None


def report_payload(report: TriageReport, teams: Sequence[tuple[str, str]], incident_id: int | None = None) -> Payload:
    job = report.job or "(unknown job)"
    label = M.CATEGORY_LABEL[report.category]
    partial = ""
    if not report.complete:
        why = "; ".join([f"{s.name} {s.status}" for s in report.stages if s.status != "ok"]
                        + [r for r in report.incomplete if not any(r.startswith(f"{s.name} ") for s in report.stages)])
        partial = M.PARTIAL.format(why=escape(why))
    esc = report.escalation
    owners = M.OWNERS.format(owners=escape(", ".join(esc.owners))) if esc.owners else ""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(M.REPORT_HEADER.format(job=job, label=label), MAX_HEADER)},
        section(M.REPORT_CONFIDENCE.format(emoji=M.CATEGORY_EMOJI[report.category], label=label,
                                           certainty=report.certainty, pct=pct(report.confidence), partial=partial)),
        section(M.ROOT_CAUSE.format(text=escape(report.root_cause))),
        *(section(M.ALTERNATIVE.format(emoji=M.CATEGORY_EMOJI[a.category], label=M.CATEGORY_LABEL[a.category],
                                       why=escape(a.why))
                  + (M.ALTERNATIVE_DECIDE.format(decide=escape(a.decide)) if a.decide else ""))
          for a in report.alternatives[:2]),
        section(M.ACTION.format(text=escape(report.action))),
        section(M.ESCALATION_LINE.format(team=escape(esc.team), owners=owners)),
    ]
    if (mem := memory_block(report)) is not None:
        blocks.insert(2, mem)
    if report.evidence:
        shown = report.evidence[:MAX_EVIDENCE]
        lines = [escape(f"{e.where()}  {e.text.strip()}") for e in shown]
        blocks.append(section(M.EVIDENCE_TITLE + "\n" + _code(lines, MAX_SECTION - len(M.EVIDENCE_TITLE) - 1)))
        if len(report.evidence) > MAX_EVIDENCE:
            blocks.append(context(M.EVIDENCE_MORE.format(n=len(report.evidence) - MAX_EVIDENCE)))
    timings = " · ".join(f"{s.name} {M.STAGE_MARK.get(s.status, s.status)} {_ms(s.duration_ms)}"
                         for s in report.stages)
    ctx = [escape(M.TIMINGS.format(stages=timings, total=_ms(report.duration_ms), provider=report.provider))]
    if report.log_path:
        ctx.append(M.LOG_LINE.format(path=escape(report.log_path)))
    blocks.append(context(*ctx))
    blocks.append(actions_block(report, teams, incident_id))
    text = M.REPORT_FALLBACK.format(job=escape(job), label=label, pct=pct(report.confidence),
                                    root_cause=escape(report.root_cause), action=escape(report.action))
    return {"text": fit(text, MAX_FALLBACK), "blocks": limit_blocks(blocks)}


def member_payload(report: TriageReport, teams: Sequence[tuple[str, str]], *, incident_id: int, first_job: str,
                   permalink: str | None, jobs: int) -> Payload:
    """The short reply to a later alert of an incident: where the full report is, the cause, how many jobs,
    what the history says, and the same buttons (acting on the incident)."""
    link = (M.SAME_CAUSE_LINK.format(permalink=permalink, job=escape(first_job)) if permalink
            else M.SAME_CAUSE_NO_LINK.format(job=escape(first_job)))
    label = M.CATEGORY_LABEL[report.category]
    blocks: list[dict[str, Any]] = [
        section(M.CATEGORY_EMOJI[report.category] + " *" + label + "* · "
                + M.SAME_CAUSE.format(link=link, root_cause=escape(report.root_cause.rstrip(". ")), n=jobs)),
    ]
    if (mem := memory_block(report)) is not None:
        blocks.append(mem)
    blocks.append(actions_block(report, teams, incident_id))
    text = M.SAME_CAUSE_FALLBACK.format(job=escape(report.job or "this job"), first=escape(first_job),
                                        root_cause=escape(report.root_cause), n=jobs)
    return {"text": fit(text, MAX_FALLBACK), "blocks": limit_blocks(blocks)}


def with_incident(blocks: list[dict[str, Any]], *, job: str, category: str, alerts: int,
                  jobs: Sequence[str]) -> list[dict[str, Any]]:
    """The first report's blocks with the live count in its header and the affected jobs under it."""
    label = M.CATEGORY_LABEL.get(category, "UNKNOWN")
    shown = ", ".join(f"`{escape(j)}`" for j in jobs[:15]) + (f" and {len(jobs) - 15} more" if len(jobs) > 15 else "")
    ctx = context(M.INCIDENT_CONTEXT.format(alerts=alerts, n=len(jobs), jobs=shown), block_id="triage_incident")
    out: list[dict[str, Any]] = []
    for b in blocks:
        if b.get("block_id") == "triage_incident":
            continue
        if b.get("type") == "header":
            b = {**b, "text": _plain(M.INCIDENT_HEADER.format(job=job, label=label, n=len(jobs)), MAX_HEADER)}
            out += [b, ctx]
            continue
        out.append(b)
    return limit_blocks(out)


def _ms(ms: float) -> str:
    return f"{ms / 1000:.1f}s" if ms >= 1000 else f"{ms:.0f}ms"


def limit_blocks(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """At most 50 blocks; the actions block (if any) is kept last, with a note about what was cut."""
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    tail = [b for b in blocks[-2:] if b.get("block_id") in (ACTIONS_BLOCK, STATUS_BLOCK)]
    head = [b for b in blocks if b not in tail][: MAX_BLOCKS - 1 - len(tail)]
    return [*head, context(f"{len(blocks) - len(head) - len(tail)} block(s) not shown (Slack allows 50)."), *tail]


# ------------------------------------------------------------------ failures and status


def failure_payload(job: str | None, body_mrkdwn: str) -> Payload:
    head = M.FAILED_HEADER.format(job=escape(job or "this failure"))
    blocks = [section(f":warning: *{head}*"), section(body_mrkdwn)]
    return {"text": fit(f"{head}. {body_mrkdwn}", MAX_FALLBACK), "blocks": blocks}


def with_status(blocks: list[dict[str, Any]], line: str, *, drop_actions: Iterable[str] = (),
                drop_all_actions: bool = False) -> list[dict[str, Any]]:
    """Copy of a message's blocks with `line` added to the status context and some buttons removed."""
    drop = set(drop_actions)
    out: list[dict[str, Any]] = []
    status: dict[str, Any] | None = None
    for b in blocks:
        if b.get("block_id") == STATUS_BLOCK:
            status = b
            continue
        if b.get("type") == "actions" and b.get("block_id") == ACTIONS_BLOCK:
            if drop_all_actions:
                continue
            kept = [e for e in b.get("elements", []) if e.get("action_id") not in drop]
            if not kept:
                continue
            b = {**b, "elements": kept}
        out.append(b)
    lines = [e.get("text", "") for e in (status or {}).get("elements", [])]
    if line not in lines:
        lines.append(line)
    new_status = context(*lines[-10:], block_id=STATUS_BLOCK)
    idx = next((i for i, b in enumerate(out) if b.get("block_id") == ACTIONS_BLOCK), len(out))
    out.insert(idx, new_status)
    return limit_blocks(out)


def when(epoch: float) -> str:
    import datetime as _dt

    fallback = _dt.datetime.fromtimestamp(epoch, _dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return M.WHEN.format(epoch=int(epoch), fallback=fallback)
