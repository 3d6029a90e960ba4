"""A Slack message → bounded plain-text parts, links and attachment colours, in one linear pass.

Alerts carry their words in `text`, legacy `attachments` (title, text, fields, fallback, pretext), Block Kit
`blocks` (section text and fields, headers, context, buttons) and nested `rich_text`. Everything is read, but
never more than the caps below: a message is attacker-controlled input, so no part, nesting level or total
may grow without bound, and mrkdwn links are split by a scanner that never rescans (no regex backtracking).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_TOTAL = 64_000        # characters of text read from one message, all parts together
MAX_PART = 8_000          # characters kept of any one part
MAX_PARTS = 400           # parts read from one message
MAX_DEPTH = 8             # nesting of rich_text / attachment blocks followed
MAX_LINK = 2_000          # a <url|label> longer than this is read as plain text
QUOTED_LABELS = frozenset({
    "error", "errors", "exception", "message", "log", "logs", "reason", "failure reason", "details", "traceback",
    "state message", "stack", "stacktrace", "output", "result message", "error message", "cause",
})


@dataclass(frozen=True)
class Part:
    """One piece of readable text. `quoted` marks error excerpts and code, where words describe the failure's
    content (a log line saying "Retrying…") rather than the run's state."""

    text: str
    where: str
    label: str | None = None
    quoted: bool = False


@dataclass(frozen=True)
class Link:
    url: str
    label: str


@dataclass
class Message:
    parts: list[Part] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    colors: list[str] = field(default_factory=list)
    truncated: bool = False
    _budget: int = MAX_TOTAL

    def add(self, raw: object, where: str, label: str | None = None, quoted: bool = False) -> None:
        if raw is None or len(self.parts) >= MAX_PARTS or self._budget <= 0:
            self.truncated = self.truncated or raw is not None
            return
        text = str(raw)
        if len(text) > MAX_PART:
            text, self.truncated = text[:MAX_PART], True
        if len(text) > self._budget:
            text, self.truncated = text[: self._budget], True
        self._budget -= len(text)
        plain, links = split_mrkdwn(text)
        plain = plain.replace("*", "").replace("~", "")        # mrkdwn emphasis: `*Dag*: x` is `Dag: x`
        self.links.extend(links)
        for chunk, is_code in _code_spans(plain):
            if chunk.strip():
                self.parts.append(Part(chunk, where, label, quoted or is_code))

    def text(self, *, prose_only: bool = False) -> str:
        return "\n".join(f"{p.label}: {p.text}" if p.label else p.text for p in self.parts
                         if not (prose_only and p.quoted))


def unescape(text: str) -> str:
    """Slack's three mrkdwn entities back to characters."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def split_mrkdwn(text: str) -> tuple[str, list[Link]]:
    """`<url|label>` → `label`, `<url>` → `url`, mentions dropped; entities decoded. Linear: each '<' is paired
    with the first '>' after it (or the run is plain text), and scanning always moves forward."""
    out: list[str] = []
    links: list[Link] = []
    i, n = 0, len(text)
    while i < n:
        lt = text.find("<", i)
        if lt < 0:
            out.append(text[i:])
            break
        gt = text.find(">", lt + 1)
        if gt < 0:
            out.append(text[i:])
            break
        start = text.rfind("<", lt, gt)          # the innermost '<' before this '>': "<<<x>" is one link
        out.append(text[i:start])
        inner = text[start + 1:gt]
        if gt - start > MAX_LINK:
            out.append(text[start:gt + 1])
        elif inner[:1] in ("@", "#", "!"):
            label = inner.partition("|")[2]
            out.append(label if inner[:1] == "#" and label else " ")
        else:
            url, _, label = inner.partition("|")
            url, label = unescape(url.strip()), unescape(label.strip())
            if "://" in url or url.startswith("mailto:"):
                links.append(Link(url, label))
                out.append(label or url)
            else:
                out.append(text[start:gt + 1])
        i = gt + 1
    return unescape("".join(out)), links


def _code_spans(text: str) -> Iterable[tuple[str, bool]]:
    """Split on ``` fences: (chunk, inside a code block)."""
    inside = False
    for chunk in text.split("```"):
        yield chunk, inside
        inside = not inside


def read_message(event: Mapping[str, Any]) -> Message:
    """Every readable part of a message event, within the caps."""
    msg = Message()
    msg.add(event.get("text"), "text")
    for att in _seq(event.get("attachments")):
        if not isinstance(att, Mapping):
            continue
        if isinstance(att.get("color"), str):
            msg.colors.append(att["color"][:20])
        for key in ("pretext", "author_name", "title", "text", "fallback", "footer"):
            msg.add(att.get(key), f"attachment.{key}")
        for key in ("title_link", "author_link", "from_url"):
            if isinstance(att.get(key), str) and len(att[key]) <= MAX_LINK:
                msg.links.append(Link(att[key], str(att.get("title") or "")))
        for f in _seq(att.get("fields")):
            if isinstance(f, Mapping):
                label = _label(f.get("title"))
                msg.add(f.get("value"), "attachment.field", label, quoted=label in QUOTED_LABELS)
        _blocks(msg, att.get("blocks"), "attachment.block", 1)
    _blocks(msg, event.get("blocks"), "block", 0)
    return msg


def _blocks(msg: Message, blocks: Any, where: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        msg.truncated = True
        return
    for b in _seq(blocks):
        if not isinstance(b, Mapping):
            continue
        kind = b.get("type")
        if kind == "rich_text":
            for el in _seq(b.get("elements")):
                _rich(msg, el, where, depth + 1, quoted=False)
            continue
        text = b.get("text")
        if isinstance(text, Mapping):
            msg.add(text.get("text"), f"{where}.{kind}")
        fields = [f.get("text") for f in _seq(b.get("fields")) if isinstance(f, Mapping)]
        _field_pairs(msg, fields, f"{where}.fields")
        for el in _seq(b.get("elements")):
            if isinstance(el, Mapping):
                _element(msg, el, where)
        if isinstance(b.get("accessory"), Mapping):
            _element(msg, b["accessory"], where)


def _field_pairs(msg: Message, fields: list[Any], where: str) -> None:
    """Section fields come as "*Label:*" then its value in the next field, or "*Label:*\\nvalue" in one."""
    label: str | None = None
    for raw in fields:
        if not isinstance(raw, str):
            continue
        head, nl, rest = raw.partition("\n")
        if _is_label(head) and nl:
            label = _label(head)
            msg.add(rest, where, label, quoted=label in QUOTED_LABELS)
            label = None
        elif _is_label(raw):
            label = _label(raw)
        else:
            msg.add(raw, where, label, quoted=label in QUOTED_LABELS if label else False)
            label = None


def _is_label(text: str) -> bool:
    t = text.strip().strip("*_ ").rstrip()
    return 0 < len(t) < 40 and t.endswith(":")


def _element(msg: Message, el: Mapping[str, Any], where: str) -> None:
    kind = el.get("type")
    if kind in ("mrkdwn", "plain_text"):
        msg.add(el.get("text"), f"{where}.context")
    elif kind == "button":
        text = el.get("text")
        label = str(text.get("text", "")) if isinstance(text, Mapping) else ""
        if isinstance(el.get("url"), str) and len(el["url"]) <= MAX_LINK:
            msg.links.append(Link(el["url"], label))
        msg.add(label, f"{where}.button")


def _rich(msg: Message, el: Any, where: str, depth: int, quoted: bool) -> None:
    """rich_text: sections, lists, quotes, preformatted (quoted), text, link (label + url)."""
    if not isinstance(el, Mapping) or depth > MAX_DEPTH:
        msg.truncated = msg.truncated or depth > MAX_DEPTH
        return
    kind = el.get("type")
    if kind == "text":
        msg.add(el.get("text"), f"{where}.rich_text", quoted=quoted)
    elif kind == "link":
        url = str(el.get("url", ""))[:MAX_LINK]
        msg.links.append(Link(url, str(el.get("text") or "")))
        msg.add(el.get("text") or url, f"{where}.rich_text.link", quoted=quoted)
    elif kind == "emoji" and isinstance(el.get("name"), str):
        msg.add(f":{el['name'][:40]}:", f"{where}.rich_text.emoji", quoted=quoted)
    else:
        inner_quoted = quoted or kind == "rich_text_preformatted"
        for child in _seq(el.get("elements")):
            _rich(msg, child, where, depth + 1, inner_quoted)


def _label(raw: object) -> str:
    return " ".join(str(raw or "").replace("*", " ").replace("_", " ").replace(":", " ").lower().split())[:60]


def _seq(value: Any) -> list[Any]:
    return list(value[:100]) if isinstance(value, list) else []
