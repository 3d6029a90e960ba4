"""`etl-triage preview`: the thread reply as a self-contained HTML page that looks like Slack's rendering.

It renders the very Block Kit payloads the bot sends (bot/slack/blocks.py), so what you see is what Slack
gets: the progress placeholder, the report, and the report after a click. Slack's mrkdwn is translated
(bold, italics, code, links, mentions, dates, emoji); all text stays escaped, so a log line can't inject
markup. No network, no script: one HTML file with its CSS inline.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

EMOJI = {
    "bar_chart": "📊", "gear": "⚙️", "hammer_and_wrench": "🛠️", "grey_question": "❔", "warning": "⚠️",
    "arrow_up": "⬆️", "white_check_mark": "✅", "x": "❌", "eyes": "👀", "rotating_light": "🚨", "fire": "🔥",
    "link": "🔗", "repeat": "🔁", "red_circle": "🔴", "large_green_circle": "🟢",
}
_CODE_BLOCK = re.compile(r"```(.*?)```", re.S)
_ANGLE = re.compile(r"<([^<>]*)>")
_INLINE = [
    (re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])"), r"<b>\1</b>"),
    (re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])"), r"<i>\1</i>"),
    (re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])"), r"<s>\1</s>"),
]
_EMOJI_RE = re.compile(r":([a-z0-9_+\-]+):")


@dataclass(frozen=True)
class State:
    """One picture of the thread: a caption, then messages (author, mrkdwn-or-payload)."""

    caption: str
    replies: Sequence[dict[str, Any]]  # each {"text": …, "blocks": […]} as sent to Slack


def _control(token: str) -> str:
    """One `<…>` sequence of Slack mrkdwn as HTML (its parts are still Slack-escaped, hence HTML-safe)."""
    target, _, label = token.partition("|")
    target, label = _safe(target), _safe(label)
    if target.startswith("@"):
        return f'<span class="mention">@{label or target[1:]}</span>'
    if target.startswith("#"):
        return f'<span class="mention">#{label or target[1:]}</span>'
    if target.startswith("!subteam^"):
        return f'<span class="mention">@{label or target.removeprefix("!subteam^")}</span>'
    if target.startswith("!date^"):
        return f'<span class="date">{label or "a date"}</span>'
    if target.startswith("!"):
        return f'<span class="mention">@{label or target[1:]}</span>'
    if re.match(r"(https?|mailto):", target):
        href = target.replace('"', "&quot;")
        return f'<a href="{href}">{label or target}</a>'
    return f"&lt;{_safe(token)}&gt;"


_STRAY_AMP = re.compile(r"&(?!(?:amp|lt|gt|quot|#\d+);)")


def _safe(text: str) -> str:
    """Plain text from a Slack-escaped string: entities kept, anything that could still be markup escaped."""
    return _STRAY_AMP.sub("&amp;", text).replace("<", "&lt;").replace(">", "&gt;")


def _styled(text: str) -> str:
    text = _safe(text)
    for rx, rep in _INLINE:
        text = rx.sub(rep, text)
    return _EMOJI_RE.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), text)


def _inline(text: str) -> str:
    """Non-block mrkdwn: `code` spans, `<…>` controls, bold/italic/strike, emoji, line breaks."""
    out: list[str] = []
    parts = text.split("`")
    for i, part in enumerate(parts):
        if i % 2 and i < len(parts) - 1:
            out.append(f"<code>{_safe(part)}</code>")
            continue
        if i % 2:  # an unmatched backtick is shown as is
            out.append("`")
        last = 0
        for m in _ANGLE.finditer(part):
            out.append(_styled(part[last:m.start()]))
            out.append(_control(m.group(1)))
            last = m.end()
        out.append(_styled(part[last:]))
    return "".join(out).replace("\n", "<br>")


def mrkdwn(text: str) -> str:
    """Slack mrkdwn (already Slack-escaped: & < > as entities) → safe HTML."""
    pieces: list[str] = []
    last = 0
    for m in _CODE_BLOCK.finditer(text):
        pieces.append(_inline(text[last:m.start()]))
        pieces.append(f"<pre>{_safe(m.group(1).strip(chr(10)))}</pre>")
        last = m.end()
    pieces.append(_inline(text[last:]))
    return "".join(pieces)


def _text(obj: dict[str, Any] | None) -> str:
    if not obj:
        return ""
    if obj.get("type") == "plain_text":
        t = html.escape(str(obj.get("text", "")))
        return _EMOJI_RE.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), t) if obj.get("emoji") else t
    return mrkdwn(str(obj.get("text", "")))


def block_html(block: dict[str, Any]) -> str:
    kind = block.get("type")
    if kind == "header":
        return f'<div class="b-header">{_text(block.get("text"))}</div>'
    if kind == "section":
        fields = "".join(f"<div>{_text(f)}</div>" for f in block.get("fields") or [])
        body = f'<div class="b-text">{_text(block.get("text"))}</div>' if block.get("text") else ""
        return f'<div class="b-section">{body}' + (f'<div class="b-fields">{fields}</div>' if fields else "") + "</div>"
    if kind == "context":
        parts = "".join(f"<span>{_text(e)}</span>" for e in block.get("elements") or [] if e.get("type") != "image")
        return f'<div class="b-context">{parts}</div>'
    if kind == "actions":
        buttons = []
        for e in block.get("elements") or []:
            if e.get("type") != "button":
                continue
            style = e.get("style") if e.get("style") in ("primary", "danger") else "default"
            action = html.escape(str(e.get("action_id", "")), quote=True)
            buttons.append(f'<button type="button" class="btn {style}" data-action-id="{action}">'
                           f'{_text(e.get("text"))}</button>')
        return f'<div class="b-actions">{"".join(buttons)}</div>'
    if kind == "divider":
        return '<hr class="b-divider">'
    return f'<div class="b-context">[{html.escape(str(kind))} block]</div>'


def message_html(payload: dict[str, Any], author: str = "etl-triage", app: bool = True, when: str = "2:00 AM") -> str:
    blocks = payload.get("blocks") or []
    body = "".join(block_html(b) for b in blocks) if blocks else f'<div class="b-text">{mrkdwn(payload["text"])}</div>'
    initials = html.escape("".join(w[0] for w in author.replace("-", " ").split()[:2]).upper())
    badge = '<span class="app">APP</span>' if app else ""
    return (f'<div class="msg"><div class="avatar">{initials}</div><div class="content">'
            f'<div class="meta"><span class="author">{html.escape(author)}</span>{badge}'
            f'<span class="time">{html.escape(when)}</span></div>{body}</div></div>')


CSS = """
* { box-sizing: border-box; }
body { margin: 0; background: #f8f8f8; color: #1d1c1d; font: 15px/1.46668 Lato, "Helvetica Neue", Helvetica,
       "Segoe UI", Arial, sans-serif, "Noto Color Emoji", "Apple Color Emoji"; }
.page { max-width: 820px; margin: 0 auto; padding: 16px; }
.state { background: #fff; border: 1px solid #dddddd; border-radius: 8px; margin: 0 0 20px; overflow: hidden; }
.caption { background: #f4ede4; color: #616061; font-size: 13px; padding: 6px 16px; border-bottom: 1px solid #eee; }
.bar { padding: 10px 16px; border-bottom: 1px solid #eee; font-weight: 900; font-size: 16px; }
.bar .channel { color: #616061; font-weight: 400; font-size: 13px; margin-left: 6px; }
.msg { display: flex; gap: 8px; padding: 8px 16px; }
.msg + .replies { border-top: 1px solid #eee; }
.replies .count { color: #616061; font-size: 13px; padding: 6px 16px 0; }
.avatar { flex: 0 0 36px; height: 36px; border-radius: 6px; background: #4a154b; color: #fff; font-weight: 700;
          display: flex; align-items: center; justify-content: center; font-size: 13px; }
.alert .avatar { background: #017cee; }
.content { flex: 1; min-width: 0; }
.meta { display: flex; align-items: baseline; gap: 6px; }
.author { font-weight: 900; }
.app { background: #e8e8e8; color: #616061; font-size: 10px; font-weight: 700; padding: 0 3px; border-radius: 2px; }
.time { color: #616061; font-size: 12px; }
.b-header { font-size: 18px; font-weight: 900; margin: 4px 0 2px; }
.b-section { margin: 4px 0; }
.b-text { word-wrap: break-word; }
.b-fields { display: grid; grid-template-columns: 1fr 1fr; gap: 4px 16px; }
.b-context { color: #616061; font-size: 12px; margin: 6px 0; display: flex; flex-wrap: wrap; gap: 4px 12px; }
.b-actions { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0 4px; }
.b-divider { border: 0; border-top: 1px solid #dddddd; margin: 8px 0; }
.btn { font: 700 14px/1 inherit; font-family: inherit; height: 32px; padding: 0 12px; border-radius: 4px;
       border: 1px solid #bbbabb; background: #fff; color: #1d1c1d; cursor: pointer; }
.btn.primary { background: #007a5a; border-color: #007a5a; color: #fff; }
.btn.danger { color: #e01e5a; border-color: #e01e5a; }
code { font-family: Monaco, Menlo, Consolas, "Courier New", monospace; font-size: 12px; color: #e01e5a;
       background: #f6f6f6; border: 1px solid #e8e8e8; border-radius: 3px; padding: 1px 3px; }
pre { font-family: Monaco, Menlo, Consolas, "Courier New", monospace; font-size: 12px; line-height: 1.5;
      background: #f8f8f8; border: 1px solid #e8e8e8; border-radius: 4px; padding: 8px; margin: 4px 0;
      white-space: pre-wrap; word-break: break-all; }
.mention { background: #e8f5fa; color: #1264a3; border-radius: 3px; padding: 0 2px; }
.date { border-bottom: 1px dotted #616061; }
a { color: #1264a3; text-decoration: none; }
"""


def page(states: Sequence[State], alert_text: str, *, channel: str = "etl-alerts", alert_author: str = "Airflow",
         title: str = "etl-triage reply preview") -> str:
    """The whole page: each state is the alert in the channel with its thread of replies underneath."""
    sections = []
    for st in states:
        replies = "".join(message_html(r, when="2:01 AM") for r in st.replies)
        n = len(st.replies)
        sections.append(
            f'<section class="state"><div class="caption">{html.escape(st.caption)}</div>'
            f'<div class="bar">Thread<span class="channel">#{html.escape(channel)}</span></div>'
            f'<div class="alert">{message_html({"text": alert_text}, author=alert_author)}</div>'
            f'<div class="replies"><div class="count">{n} {"reply" if n == 1 else "replies"}</div>{replies}</div>'
            "</section>")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>'
            f'<body><main class="page">{"".join(sections)}</main></body></html>\n')


def reply_states(report: Any, teams: Sequence[tuple[str, str]], *, now: float,
                 clicker: str = "U0ONCALL") -> dict[str, State]:
    """The thread as it goes: placeholder with live progress, the report, the report after "Escalate"."""
    from bot.slack import blocks as B
    from bot.slack import messages as M

    names = [s.name for s in report.stages]
    marks = ["ok"] + ["running"] + ["pending"] * max(0, len(names) - 2)
    progress = B.progress_payload(report.job, list(zip(names, marks, strict=False)))
    final = B.report_payload(report, teams)
    key, team = teams[0]
    status = M.STATUS_ESCALATED.format(team=B.escape(team), user=clicker, when=B.when(now))
    clicked = {**final, "blocks": B.with_status(final["blocks"], status, drop_actions=[f"{B.ESCALATE_PREFIX}{key}"])}
    note = {"text": M.ESCALATED_THREAD.format(user=clicker, team=B.escape(team), mention="")}
    return {
        "progress": State("while the triage runs: the placeholder shows each stage", [progress]),
        "report": State("the report replaces it in place", [final]),
        "escalated": State(f"after “Escalate to {team}”: a note in the thread, a status line, that button gone",
                           [clicked, note]),
    }
