"""Messages built to make a backtracking parser slow (issue 13): repeated half-links, path fragments, labels,
sentence openings, quotes and markers, spread over text, attachments, fields and blocks."""

from __future__ import annotations

from typing import Any

UNITS = {
    "half-links": "failed <http:", "dot-slash": "failed ./", "word-run": "a", "dag-id": "dag_id=",
    "sentence-opening": "your connection ", "lt": "<", "labels": "*Dag*: ", "quotes": '"a', "markers": ":x",
    "jenkins-shape": " - #1 ", "urls": "https://x/dags/", "log-paths": "/a.log/", "flow-run": "flow run a/",
}


def adversarial(unit: str, size: int, parts: int = 1) -> dict[str, Any]:
    """A bot message of about `size` characters in `parts` pieces (text, attachment texts, fields, blocks)."""
    per = max(1, size // parts)
    chunk = (unit * (per // len(unit) + 1))[:per]
    atts = [{"text": chunk, "fields": [{"title": "DAG", "value": chunk}]} for _ in range(max(0, parts // 2 - 1))]
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": chunk}} for _ in range(parts - 1 - len(atts))]
    return {"bot_id": "B0EVIL", "text": chunk, "attachments": atts, "blocks": blocks}
