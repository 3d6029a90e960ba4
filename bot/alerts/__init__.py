"""Slack messages → alerts. See `recognise` (what a message says, and why) and `parse_alert` (an Alert or None).

Modules: `text` (bounded flattening of text, attachments, blocks, rich_text), `state` (failure or not),
`fields` (names from labels, URLs and the tools' wording), `senders` (who posted), `match` (registry),
`recognise` (all together), `explain` (`etl-triage alert FILE.json`).
"""

from collections.abc import Mapping
from typing import Any

from bot.alerts.recognise import Recognition, parse_alert, recognise
from bot.alerts.text import read_message, split_mrkdwn, unescape


def message_text(event: Mapping[str, Any]) -> str:
    """All readable text of a message, one part per line (bounded)."""
    return read_message(event).text()


def normalise(text: str) -> str:
    """Slack mrkdwn → plain text: links unwrapped, entities decoded, emphasis marks dropped."""
    plain, _ = split_mrkdwn(text)
    return plain.replace("*", "").replace("`", "").replace("~", "")


__all__ = ["Recognition", "message_text", "normalise", "parse_alert", "recognise", "unescape"]
