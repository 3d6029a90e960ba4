"""A loopback fake of the Anthropic Messages API (POST /v1/messages) for tests and benchmarks.

The real `anthropic` SDK talks to it via `base_url`. Replies are scripted by a responder
`(body, n) -> Reply` (n = 0-based index of the request); every request body is recorded, raw and parsed.
`auto_responder` answers any stage with a valid `submit_*` call, so a whole triage runs without a script.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.loopback import serve


@dataclass
class Reply:
    status: int = 200
    body: Any = None                # dict → JSON; str → sent as-is (for garbage answers)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0              # simulated latency before answering
    hang: bool = False              # never answer (until the fake closes): a stuck upstream


Responder = Callable[[dict[str, Any], int], "Reply | Awaitable[Reply]"]
_ids = itertools.count(1)


def tool_use(name: str, input: dict[str, Any], id: str | None = None) -> dict[str, Any]:
    return {"type": "tool_use", "id": id or f"toolu_{next(_ids):04d}", "name": name, "input": input}


def message(content: list[dict[str, Any]], stop_reason: str = "tool_use", *, model: str = "claude-fake",
            input_tokens: int = 100, output_tokens: int = 50, cache_read: int = 0) -> Reply:
    return Reply(body={
        "id": f"msg_{next(_ids):04d}", "type": "message", "role": "assistant", "model": model,
        "content": content, "stop_reason": stop_reason, "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens,
                  "cache_creation_input_tokens": 0, "cache_read_input_tokens": cache_read},
    })


def submit(body: dict[str, Any], answer: dict[str, Any]) -> Reply:
    """A reply that calls the request's submit tool with `answer`."""
    return message([tool_use(submit_name(body), answer)])


def error(status: int, type_: str, text: str = "scripted error", retry_after_ms: str = "1") -> Reply:
    return Reply(status=status, body={"type": "error", "error": {"type": type_, "message": text}},
                 headers={"retry-after-ms": retry_after_ms})


def submit_name(body: dict[str, Any]) -> str:
    return next(t["name"] for t in body.get("tools", []) if t["name"].startswith("submit_"))


def stage_of(body: dict[str, Any]) -> str:
    """classification | investigation | recommendation | text: which stage kind a request is for."""
    return submit_name(body).removeprefix("submit_")


def user_text(body: dict[str, Any]) -> str:
    first = body["messages"][0]["content"]
    return first if isinstance(first, str) else " ".join(b.get("text", "") for b in first)


_EXCERPT = re.compile(r"^## Log excerpt: (?P<path>\S+) \(", re.MULTILINE)
_NUMBERED = re.compile(r"^(\d+): (.*\S)\s*$", re.MULTILINE)


def shown_evidence(body: dict[str, Any] | None) -> list[dict[str, Any]]:
    """What a model that read its input would cite: the excerpt's first error-looking line (else its last), as
    path, number and text exactly as shown; nothing when the request showed no log."""
    text = user_text(body) if body else ""
    m = _EXCERPT.search(text)
    if m is None:
        return []
    lines = [(int(n), t) for n, t in _NUMBERED.findall(text[m.end():])]
    if not lines:
        return []
    n, t = next(((n, t) for n, t in lines if re.search(r"Error|ERROR|Exception", t)), lines[-1])
    return [{"path": m["path"], "line": n, "text": t}]


def valid_answer(kind: str, category: str = "data", body: dict[str, Any] | None = None) -> dict[str, Any]:
    """A schema-valid answer for `kind`; its evidence is a line `body` showed (none without a body)."""
    ev = shown_evidence(body)
    return {
        "classification": {"category": category, "confidence": 0.9, "summary": "column customer_id missing",
                           "evidence": ev},
        "investigation": {"category": category, "confidence": 0.85, "summary": "upstream header changed",
                          "findings": [{"source": "log", "summary": "KeyError on customer_id", "evidence": ev}]},
        "recommendation": {"category": category, "confidence": 0.8, "root_cause": "upstream renamed a column",
                           "action": "ask the source owner to restore customer_id, then rerun", "evidence": ev},
        "text": {"text": "done"},
    }[kind]


def auto_responder(body: dict[str, Any], n: int) -> Reply:
    return submit(body, valid_answer(stage_of(body), body=body))


class FakeAnthropic:
    """`async with FakeAnthropic(responder) as fake:` → `fake.base_url`, `fake.requests`, `fake.raw`."""

    def __init__(self, responder: Responder = auto_responder, latency: float = 0.0) -> None:
        self.responder, self.latency = responder, latency
        self.requests: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()

    async def __aenter__(self) -> FakeAnthropic:
        app = web.Application()
        app.router.add_post("/v1/messages", self._messages)
        self._runner, port = await serve(app, shutdown_timeout=0.1)
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def bodies_text(self) -> str:
        """Every request body sent so far, concatenated (for 'never sent' assertions)."""
        return "\n".join(self.raw)

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        raw = await request.text()
        n = len(self.requests)
        self.raw.append(raw)
        self.headers.append({k.lower(): v for k, v in request.headers.items()})
        body = json.loads(raw)
        self.requests.append(body)
        reply = self.responder(body, n)
        if inspect.isawaitable(reply):
            reply = await reply
        if reply.hang:
            await self._closing.wait()
        delay = reply.delay or self.latency
        if delay:
            await asyncio.sleep(delay)
        if isinstance(reply.body, str):
            return web.Response(status=reply.status, text=reply.body, headers=reply.headers,
                                content_type="application/json")
        return web.json_response(reply.body, status=reply.status, headers=reply.headers)
