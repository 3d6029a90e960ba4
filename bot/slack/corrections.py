""""Wrong diagnosis": a modal asks for the right category and the cause; the answer is stored with the click.

The click itself is recorded first (who, when), so a dismissed modal still leaves the verdict; the modal's
submission adds the correction and a status line on the report. What it needs later (feedback id, report
message, thread) travels in the view's private_metadata, so a submission after a restart, or on another
replica, still lands.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError

from bot.contract import CATEGORIES
from bot.slack import blocks as B
from bot.slack import messages as M
from bot.slack.runtime import Runtime

log = logging.getLogger(__name__)
CALLBACK_ID = "triage_wrong_diagnosis"
NOTE_CALLBACK_ID = "triage_resolved_note"
NOTE_BLOCK = "note"
CATEGORY_BLOCK, CAUSE_BLOCK, VALUE = "category", "cause", "value"


def correction_modal(meta: dict[str, Any], job: str | None, category: str | None) -> dict[str, Any]:
    options = [{"text": {"type": "plain_text", "text": M.CATEGORY_LABEL[c]}, "value": c}
               for c in CATEGORIES if c != category]
    said = M.CATEGORY_LABEL.get(category or "", "UNKNOWN")
    return {
        "type": "modal", "callback_id": CALLBACK_ID, "private_metadata": json.dumps(meta, separators=(",", ":")),
        "title": {"type": "plain_text", "text": M.CORRECTION_TITLE},
        "submit": {"type": "plain_text", "text": M.CORRECTION_SUBMIT},
        "close": {"type": "plain_text", "text": M.CORRECTION_CLOSE},
        "blocks": [
            B.section(M.CORRECTION_INTRO.format(job=B.escape(job or "this job"), label=said)),
            {"type": "input", "block_id": CATEGORY_BLOCK,
             "label": {"type": "plain_text", "text": M.CORRECTION_CATEGORY},
             "element": {"type": "static_select", "action_id": VALUE, "options": options}},
            {"type": "input", "block_id": CAUSE_BLOCK, "optional": True,
             "label": {"type": "plain_text", "text": M.CORRECTION_CAUSE},
             "element": {"type": "plain_text_input", "action_id": VALUE, "multiline": True, "max_length": 2000}},
        ],
    }


async def ask_correction(rt: Runtime, body: dict[str, Any], feedback_id: int, channel: str, ts: str,
                         value: dict[str, str]) -> None:
    """Open the modal for the click's trigger (valid for 3 s, so this runs before anything slow)."""
    trigger = body.get("trigger_id")
    if not trigger:
        return
    thread = (body.get("message") or {}).get("thread_ts") or (body.get("container") or {}).get("thread_ts") or ts
    meta = {"f": feedback_id, "c": channel, "t": ts, "h": thread}
    try:
        await rt.client.views_open(trigger_id=trigger, view=correction_modal(meta, value.get("j"), value.get("c")))
    except SlackApiError as e:
        log.warning("views.open failed (%s); the verdict is recorded without a correction", e.response.get("error"))


def note_modal(meta: dict[str, Any], job: str | None) -> dict[str, Any]:
    """"Resolved": an optional note on how it was fixed, offered as the action the next time it fails so."""
    return {
        "type": "modal", "callback_id": NOTE_CALLBACK_ID, "private_metadata": json.dumps(meta, separators=(",", ":")),
        "title": {"type": "plain_text", "text": M.NOTE_TITLE},
        "submit": {"type": "plain_text", "text": M.CORRECTION_SUBMIT},
        "close": {"type": "plain_text", "text": M.NOTE_SKIP},
        "blocks": [
            B.section(M.NOTE_INTRO.format(job=B.escape(job or "this job"))),
            {"type": "input", "block_id": NOTE_BLOCK, "label": {"type": "plain_text", "text": M.NOTE_LABEL},
             "element": {"type": "plain_text_input", "action_id": VALUE, "multiline": True, "max_length": 2000}},
        ],
    }


async def ask_note(rt: Runtime, body: dict[str, Any], feedback_id: int, channel: str, ts: str,
                   value: dict[str, str]) -> None:
    trigger = body.get("trigger_id")
    if not trigger:
        return
    try:
        await rt.client.views_open(trigger_id=trigger, view=note_modal({"f": feedback_id, "c": channel, "t": ts},
                                                                       value.get("j")))
    except SlackApiError as e:
        log.warning("views.open failed (%s); resolved without a note", e.response.get("error"))


async def save_note(rt: Runtime, body: dict[str, Any], view: dict[str, Any]) -> None:
    values = (view.get("state") or {}).get("values") or {}
    note = (((values.get(NOTE_BLOCK) or {}).get(VALUE) or {}).get("value") or "").strip()
    user = (body.get("user") or {}).get("id", "")
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        meta = {}
    if not note:
        return
    await rt.state.note_resolution(int(meta.get("f") or 0), note)
    channel, ts = str(meta.get("c") or ""), str(meta.get("t") or "")
    current = rt.blocks_of(channel, ts, []) if channel and ts else []
    if current:
        async with rt.lock(channel, ts):
            line = M.STATUS_RESOLVED_NOTE.format(user=user, note=B.escape(B.fit(note, 300)))
            await rt.update(channel, ts, {"text": line, "blocks": B.with_status(rt.blocks_of(channel, ts, current),
                                                                                line)})


def register_corrections(app: AsyncApp, rt: Runtime) -> None:
    async def on_submit(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        category = _selected(view)
        if category not in CATEGORIES:
            await ack(response_action="errors", errors={CATEGORY_BLOCK: M.CORRECTION_PICK})
            return
        await ack()
        rt.tracker.spawn(save_correction(rt, body, view, category), name="correction")

    async def on_note(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        await ack()
        rt.tracker.spawn(save_note(rt, body, view), name="resolution note")

    app.view(CALLBACK_ID)(on_submit)
    app.view(NOTE_CALLBACK_ID)(on_note)


def _selected(view: dict[str, Any]) -> str | None:
    values = (view.get("state") or {}).get("values") or {}
    option = ((values.get(CATEGORY_BLOCK) or {}).get(VALUE) or {}).get("selected_option") or {}
    return option.get("value")


async def save_correction(rt: Runtime, body: dict[str, Any], view: dict[str, Any], category: str) -> None:
    values = (view.get("state") or {}).get("values") or {}
    cause = (((values.get(CAUSE_BLOCK) or {}).get(VALUE) or {}).get("value") or "").strip() or None
    user = (body.get("user") or {}).get("id", "")
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        meta = {}
    await rt.state.correct(int(meta.get("f") or 0), category, cause, user)
    log.info("correction by %s: %s (%s)", user, category, cause)
    channel, ts, thread = str(meta.get("c") or ""), str(meta.get("t") or ""), str(meta.get("h") or "")
    if not channel or not ts:
        return
    label = M.CATEGORY_LABEL[category]
    line = (M.STATUS_CORRECTED.format(user=user, label=label, cause=B.escape(B.fit(cause, 300))) if cause
            else M.STATUS_CORRECTED_NO_CAUSE.format(user=user, label=label))
    async with rt.lock(channel, ts):
        current, text = rt.blocks_of(channel, ts, []), None
        if not current:
            current, text = await _fetch(rt, channel, ts, thread)
        if not current:
            log.warning("report %s/%s not found; the correction is recorded without a status line", channel, ts)
            return
        await rt.update(channel, ts, {"text": text or line, "blocks": B.with_status(current, line)})


async def _fetch(rt: Runtime, channel: str, ts: str, thread: str) -> tuple[list[dict[str, Any]], str | None]:
    """The report message's blocks and text from Slack (after a restart our memory of them is gone)."""
    try:
        resp = await rt.client.conversations_replies(channel=channel, ts=thread or ts, oldest=ts, latest=ts,
                                                     inclusive=True, limit=5)
    except SlackApiError as e:
        log.warning("conversations.replies failed: %s", e.response.get("error"))
        return [], None
    for m in resp.get("messages") or []:
        if m.get("ts") == ts:
            return list(m.get("blocks") or []), m.get("text")
    return [], None
