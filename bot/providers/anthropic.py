"""Claude as a stage provider: one Messages API conversation per stage, tools through the stage's sandbox.

Each stage: system = the stage prompt (cached), user turn = alert + earlier stages' outputs + the log
excerpt (evidence up front, so one answer turn is usually enough), tools = the stage's sandboxed tools plus
a forced `submit_<kind>` tool whose schema is the stage's output model. An invalid answer gets one repair
turn quoting the validation errors; anything else that goes wrong (HTTP errors after the SDK's retries,
refusals, garbage, budgets) raises ProviderError and the engine hands the stage to the offline engine.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import cast

import anthropic
from anthropic.types import (
    ContentBlockParam,
    Message,
    MessageParam,
    TextBlockParam,
    ToolChoiceParam,
    ToolParam,
    ToolResultBlockParam,
    ToolUseBlock,
)
from pydantic import BaseModel, ValidationError

from bot.contract import displayable
from bot.errors import AccessDenied, BotError, ProviderError, SettingsError
from bot.providers.base import StageOutcome, StageRequest, Usage
from bot.providers.claude_messages import (
    submit_tool_name,
    system_blocks,
    tool_definitions,
    untrusted,
    user_turn,
)
from bot.providers.seen import Seen
from bot.sandbox import Excerpt
from bot.settings import Settings

FAST_MODEL = "claude-haiku-4-5"      # classify: a short, well-defined decision
STRONG_MODEL = "claude-sonnet-4-6"   # investigate / recommend: reasoning over evidence
STAGE_MODELS = {"classify": FAST_MODEL}
MAX_OUTPUT_TOKENS = 4096             # per call; lowered further when a budget is nearly spent
MIN_OUTPUT_TOKENS = 512              # below this an answer cannot fit: give up instead of truncating
EXCERPT_BYTES = {"classification": 16_000}
DEFAULT_EXCERPT_BYTES = 8_000
TOOL_RESULT_CHARS = 12_000
RETRY_BACKOFF_S = 0.5               # first retry's wait when the API names none; doubled per retry, at most 8 s
MAX_EXTRA_TURNS = 3                  # round trips beyond the tool budget (a repair, a forced submit) before giving up


class AnthropicProvider:
    """`--provider anthropic[:model]`. Model per stage: an explicit `:model` (flag or env, an operator's override)
    > the topology stage's `model` > built-in default."""

    name = "anthropic"

    def __init__(self, client: anthropic.AsyncAnthropic, model: str | None = None, *, max_retries: int = 2) -> None:
        self.client = client          # built with max_retries=0: retries are ours, held to the stage's time
        self.model = model
        self.max_retries = max_retries

    @classmethod
    def from_env(cls, model: str | None = None, settings: Settings | None = None, *,
                 max_retries: int = 2) -> AnthropicProvider:
        """A provider configured from Settings (ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL)."""
        settings = settings or Settings.from_env()
        if not settings.anthropic_api_key:
            raise SettingsError("ANTHROPIC_API_KEY is not set; export it or run with --provider offline")
        client = anthropic.AsyncAnthropic(api_key=settings.anthropic_api_key,
                                          base_url=settings.anthropic_base_url, max_retries=0)
        return cls(client, model, max_retries=max_retries)

    async def aclose(self) -> None:
        await self.client.close()

    def model_for(self, request: StageRequest) -> str:
        return self.model or request.stage.model or STAGE_MODELS.get(request.stage.name, STRONG_MODEL)

    async def run_stage(self, request: StageRequest) -> StageOutcome:
        model = self.model_for(request)
        usage = request.spent
        usage.model = model
        try:
            return StageOutcome(output=await _Conversation(self, request, model, usage).run(), usage=usage)
        except ProviderError as e:
            e.usage = usage
            raise
        except anthropic.APIStatusError as e:
            raise ProviderError(f"Claude API HTTP {e.status_code} ({_error_type(e)}) after retries",
                                usage=usage) from e
        except anthropic.APIConnectionError as e:
            raise ProviderError(f"Claude API unreachable after retries: {type(e).__name__}", usage=usage) from e
        except anthropic.AnthropicError as e:
            raise ProviderError(f"unusable answer from Claude: {type(e).__name__}: {e}"[:300],
                                usage=usage) from e


class _Conversation:
    """One stage's conversation: evidence-first user turn, optional tool calls, submit, one repair."""

    def __init__(self, provider: AnthropicProvider, request: StageRequest, model: str, usage: Usage) -> None:
        self.p, self.req, self.model, self.usage = provider, request, model, usage
        pipe = request.topology.pipeline
        stage = request.stage
        self.max_tool_calls = stage.max_tool_calls if stage.max_tool_calls is not None else pipe.max_tool_calls
        self.stage_tokens = stage.max_tokens
        self.ledger = request.context.usage   # the triage's tokens, all stages together
        self.triage_tokens = pipe.max_tokens
        self.deadline = time.monotonic() + stage.timeout_s
        self.reads = bool(request.topology.read_globs(stage, request.branch))
        self.submit = submit_tool_name(request.output_model)
        self.tool_calls = 0
        self.repaired = False
        self.seen = Seen()
        for out in request.inputs.values():
            self.seen.add_output(out)
        sandbox = request.tools.sandbox
        redact = getattr(getattr(sandbox, "redactor", None), "redact", None) or (lambda t: t)
        # redacted, and valid UTF-8 whatever the file names
        self._redact: Callable[[str], str] = lambda t: displayable(redact(t))

    async def run(self) -> BaseModel:
        req = self.req
        excerpt, note = await self._excerpt()
        # claude_messages builds these as plain dicts: only this module imports the SDK (docs/architecture.md).
        # They have the shapes of TextBlockParam and ToolParam; this is where they are typed as such.
        system = cast("list[TextBlockParam]", system_blocks(req, self.max_tool_calls if self.reads else 0))
        tools = cast("list[ToolParam]", tool_definitions(req, with_evidence_tools=self.reads))
        handlers = {s.name: s.handler for s in req.tools.specs()} if self.reads else {}
        messages: list[MessageParam] = [
            {"role": "user", "content": self._redact(user_turn(req, excerpt, note))}]
        force_submit = not self.reads or self.max_tool_calls == 0
        while True:
            choice: ToolChoiceParam = {"type": "tool", "name": self.submit} if force_submit else {"type": "any"}
            msg = await self._call(system, tools, choice, messages)
            if msg.stop_reason == "refusal":
                raise ProviderError("Claude declined to answer (stop_reason: refusal)")
            if msg.stop_reason == "max_tokens":   # an answer or tool call cut off mid-way: its input is partial
                raise ProviderError("Claude's answer was cut off by max_tokens")
            uses = [b for b in msg.content if b.type == "tool_use"]
            messages.append({"role": "assistant", "content": _echo(msg)})
            submitted = next((b for b in uses if b.name == self.submit), None)
            if submitted is not None:
                try:
                    out = req.output_model.model_validate(submitted.input)
                except ValidationError as e:
                    self._repair_or_raise(messages, uses, submitted.id, _errors(e))
                    force_submit = True
                    continue
                unseen = self.seen.unseen(out)
                if unseen is None:
                    return out
                self._repair_or_raise(messages, uses, submitted.id, unseen)
                force_submit = True
                continue
            if not uses:
                self._repair_or_raise(messages, [], None, f"no call to {self.submit}")
                force_submit = True
                continue
            if self.usage.round_trips > self.max_tool_calls + MAX_EXTRA_TURNS:
                raise ProviderError(f"no {self.submit} after {self.usage.round_trips} round trips")
            results = [await self._run_tool(b, handlers) for b in uses]
            messages.append({"role": "user", "content": results})
            force_submit = self.tool_calls >= self.max_tool_calls

    # ------------------------------------------------------------------ pieces

    async def _excerpt(self) -> tuple[Excerpt | None, str | None]:
        """The failed run's error region, read through the sandbox (only if the stage may read logs)."""
        if not self.reads:
            return None, "This stage reads no files: rely on the earlier stages' evidence."
        budget = EXCERPT_BYTES.get(self.req.output_model.__name__.lower(), DEFAULT_EXCERPT_BYTES)
        try:
            ex = await self.req.tools.log_excerpt(budget=budget)
        except AccessDenied as e:
            return None, f"The log is not readable by this stage ({e.reason})."
        if ex is not None:
            self.seen.add_excerpt(ex)
        return ex, None if ex is not None else "No log was found for this run."

    async def _call(self, system: list[TextBlockParam], tools: list[ToolParam], choice: ToolChoiceParam,
                    messages: list[MessageParam]) -> Message:
        max_tokens = self._output_allowance()
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise ProviderError(f"stage time budget of {self.req.stage.timeout_s:g}s spent")
        for attempt in range(self.p.max_retries + 1):
            try:
                msg = await self.p.client.messages.create(
                    model=self.model, max_tokens=max_tokens, system=system, tools=tools, tool_choice=choice,
                    messages=messages, timeout=remaining)
                break
            except ValueError as e:  # a 200 whose body is not JSON (a proxy's error page, a truncated body)
                raise ProviderError(f"unusable answer from Claude: {type(e).__name__}: {e}"[:300]) from e
            except (anthropic.APIStatusError, anthropic.APIConnectionError) as e:
                if attempt == self.p.max_retries or not _retryable(e):
                    raise
                await self._wait_to_retry(e, attempt)
                remaining = self.deadline - time.monotonic()
        if not isinstance(getattr(msg, "content", None), list) or getattr(msg, "usage", None) is None:
            raise ProviderError(f"unusable answer from Claude: not a Messages API response ({type(msg).__name__})")
        u = msg.usage
        spent_in = (u.input_tokens or 0) + (getattr(u, "cache_creation_input_tokens", 0) or 0) \
            + (getattr(u, "cache_read_input_tokens", 0) or 0)
        self.usage.round_trips += 1
        self.usage.input_tokens += spent_in
        self.usage.output_tokens += u.output_tokens or 0
        self.ledger.tokens += spent_in + (u.output_tokens or 0)
        return msg

    async def _wait_to_retry(self, e: anthropic.APIStatusError | anthropic.APIConnectionError, attempt: int) -> None:
        """Wait as the API asks (Retry-After) or back off; a wait longer than the stage has left is the
        stage's failure now, saying why, instead of a sleep that ends in "timed out"."""
        wait = _retry_after(e) if isinstance(e, anthropic.APIStatusError) else None
        wait = min(RETRY_BACKOFF_S * 2 ** attempt, 8.0) if wait is None else wait
        left = self.deadline - time.monotonic()
        if wait >= left:
            what = (f"HTTP {e.status_code} ({_error_type(e)})" if isinstance(e, anthropic.APIStatusError)
                    else type(e).__name__)
            raise ProviderError(f"Claude API {what}: retry asked in {wait:g}s, more than the {max(left, 0):.1f}s "
                                "left for this stage")
        await asyncio.sleep(wait)

    def _output_allowance(self) -> int:
        left = self.triage_tokens - self.ledger.tokens
        if self.stage_tokens is not None:
            left = min(left, self.stage_tokens - self.usage.input_tokens - self.usage.output_tokens)
        if left < MIN_OUTPUT_TOKENS:
            scope = "stage" if self.stage_tokens is not None and left < self.triage_tokens - self.ledger.tokens \
                else "triage"
            raise ProviderError(f"{scope} token budget spent ({self.ledger.tokens} tokens used in this triage)")
        return min(MAX_OUTPUT_TOKENS, left)

    async def _run_tool(self, block: ToolUseBlock,
                        handlers: Mapping[str, Callable[..., Awaitable[str]]]) -> ToolResultBlockParam:
        """Run one tool call through the sandbox. A denial returns the reason, never file content."""
        def result(text: str, error: bool = False) -> ToolResultBlockParam:
            out: ToolResultBlockParam = {"type": "tool_result", "tool_use_id": block.id, "content": text}
            if error:
                out["is_error"] = True
            return out

        if block.name == self.submit:
            return result(f"{self.submit} must be called alone; call it again without other tools.", True)
        if self.tool_calls >= self.max_tool_calls:
            return result(f"tool budget of {self.max_tool_calls} call(s) spent; call {self.submit} now.", True)
        self.tool_calls += 1   # every call counts, an unknown tool's too: none can loop on the budget
        handler = handlers.get(block.name)
        if handler is None:
            return result(f"unknown tool {block.name!r}; available: {', '.join(handlers)}", True)
        args = block.input if isinstance(block.input, dict) else {}
        try:
            text = await handler(**args)
        except ValidationError as e:  # arguments that do not fit the tool's schema: the tool did not run
            return result(f"{block.name}: invalid arguments, the tool did not run:\n{_errors(e)}"[:500], True)
        except AccessDenied as e:
            return result(f"access denied: {e.path!r} is {e.reason}. Only the stage's allowlisted paths "
                          "are readable.", True)
        except (TypeError, ValueError, OSError, BotError) as e:  # bad arguments, bad regex, missing file
            return result(f"{block.name} failed: {type(e).__name__}: {e}"[:500], True)
        text = self._redact(text)
        if len(text) > TOOL_RESULT_CHARS:
            text = text[:TOOL_RESULT_CHARS] + "\n…(truncated; narrow the request)"
        asked = args.get("path")
        log = self.req.tools.log_path
        self.seen.add_tool_result(block.name, asked if isinstance(asked, str) else str(log) if log else None, text)
        return result(untrusted("tool_output", text, tool=block.name))

    def _repair_or_raise(self, messages: list[MessageParam], uses: list[ToolUseBlock], submit_id: str | None,
                         errors: str) -> None:
        """One repair turn quoting the errors; a second invalid answer is the provider's failure."""
        errors = self._redact(errors)   # they may quote the answer, and an answer may carry a secret
        if self.repaired:
            raise ProviderError(f"invalid {self.req.output_model.__name__} after one repair turn: {errors}"[:300])
        self.repaired = True
        ask = (f"Your answer was not accepted as a {self.req.output_model.__name__}:\n{errors}\n"
               f"Call {self.submit} again with the corrected, complete answer.")
        content: list[ContentBlockParam] = []
        for b in uses:
            text = ask if b.id == submit_id else "not run: answer submitted in the same turn"
            content.append({"type": "tool_result", "tool_use_id": b.id, "content": text, "is_error": True})
        if submit_id is None:
            content.append({"type": "text", "text": ask})
        messages.append({"role": "user", "content": content})


def _echo(msg: Message) -> list[ContentBlockParam]:
    """The answer's blocks as the next request's assistant turn, each dumped without its None fields. A response
    block's fields are those of the request param of its type (ToolUseBlock → ToolUseBlockParam, …), but
    model_dump is typed as a plain dict: the one cast between the SDK's response and request types."""
    return [cast("ContentBlockParam", b.model_dump(exclude_none=True)) for b in msg.content]


def _errors(e: ValidationError) -> str:
    lines = [f"- {'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in e.errors()[:10]]
    return "\n".join(lines)


def _retryable(e: anthropic.APIStatusError | anthropic.APIConnectionError) -> bool:
    """As the SDK decides: connection errors, timeouts, 408, 409, 429 and 5xx (529 overloaded), unless the
    server says `x-should-retry`."""
    if isinstance(e, anthropic.APIConnectionError):
        return True
    said = e.response.headers.get("x-should-retry")
    if said in ("true", "false"):
        return said == "true"
    return e.status_code in (408, 409, 429) or e.status_code >= 500


def _retry_after(e: anthropic.APIStatusError) -> float | None:
    """Seconds the API asks to wait (`retry-after-ms`, else `retry-after` in seconds), if it says."""
    headers = e.response.headers
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        try:
            value = float(headers.get(name, ""))
        except ValueError:
            continue
        if value >= 0:
            return value / scale
    return None


def _error_type(e: anthropic.APIStatusError) -> str:
    body = e.body if isinstance(e.body, dict) else {}
    err = body.get("error")
    return str(err.get("type") or "error") if isinstance(err, dict) else "error"

