"""A real tool-use loop over a model API: Anthropic Messages or OpenAI-compatible chat completions.

The loop lists the server's tools, hands them to the model as its tools, runs the
model's tool calls over MCP (recorded in the trajectory), feeds the results back,
and stops when the model submits, when the episode is over (a budget is spent,
the wall clock ran out) or after `max_turns` model calls. Raw HTTP with httpx:
`anthropic:MODEL` POSTs {base}/v1/messages (default base https://api.anthropic.com),
`openai:MODEL` POSTs {base}/chat/completions (default base https://api.openai.com/v1;
vLLM and Ollama serve the same at http://HOST:PORT/v1).

The conversation is kept under `context_chars` by replacing the oldest tool
outputs with a short stub (the newest `keep_recent_outputs` are kept whole).
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import httpx

from clients.agents.base import AgentError, AgentOptions, EpisodeContext
from clients.agents.http import RetryStats, post_json
from clients.agents.trajectory import result_text

SYSTEM_PROMPT = """\
You are an autonomous agent working on an empirical optimization task through the tools of an MCP \
server (autolab). Work in propose -> test -> measure -> revise cycles: study the files \
(list_files, read_file), change the editable files (apply_patch or write_file), check your change \
with run_experiment, measure it on hidden data with get_metric (rationed: each call costs a score \
call), and watch remaining_budget. When you are done, or the budget runs low, call submit exactly \
once: it scores your current files on the final hidden split and ends the episode. A long \
run_experiment answers status running (poll experiment_status), a long get_metric or submit answers \
status pending with an id (poll score_status). There is no human to answer questions; keep working \
with the tools until you submit."""

NUDGE = ("You have not submitted yet. Continue working with the tools, or call `submit` if you are done "
         "(it ends the episode).")
ANTHROPIC_VERSION = "2023-06-01"


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]
    problem: str | None = None  # arguments that were not a JSON object


@dataclass
class Turn:
    text: str
    tool_calls: list[ToolCall]
    stop: str
    reasoning: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


class Slot:
    """One tool output inside the provider's message list (the unit that trimming shortens)."""

    def __init__(self, holder: dict[str, Any], key: str = "content") -> None:
        self.holder = holder
        self.key = key

    def get(self) -> str:
        value = self.holder.get(self.key)
        return value if isinstance(value, str) else json.dumps(value)

    def set(self, text: str) -> None:
        self.holder[self.key] = text


def trimmed_stub(chars: int) -> str:
    return (f"[tool output trimmed by the client to keep the conversation within its context budget "
            f"({chars} chars); call the tool again if you need it]")


def trim_tool_outputs(messages: list[Any], slots: list[Slot], budget_chars: int, keep_recent: int) -> int:
    """Stub out the oldest tool outputs until the conversation fits `budget_chars`; returns how many."""
    size = len(json.dumps(messages))
    if size <= budget_chars:
        return 0
    trimmed = 0
    candidates = slots[:-keep_recent] if keep_recent else slots
    for slot in candidates:
        text = slot.get()
        if text.startswith("[tool output trimmed"):
            continue
        stub = trimmed_stub(len(text))
        if len(stub) >= len(text):
            continue
        slot.set(stub)
        trimmed += 1
        size -= len(text) - len(stub)
        if size <= budget_chars:
            break
    return trimmed


def cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half} chars cut by the client ...]\n{text[-half:]}"


def _object_schema(schema: dict[str, Any] | None) -> dict[str, Any]:
    schema = dict(schema or {})
    schema.setdefault("type", "object")
    schema.setdefault("properties", {})
    return schema


def _parse_arguments(raw: Any) -> tuple[dict[str, Any], str | None]:
    if isinstance(raw, dict):
        return raw, None
    if raw in (None, ""):
        return {}, None
    try:
        value = json.loads(raw)
    except (TypeError, ValueError) as exc:
        return {}, f"the tool arguments are not valid JSON ({exc}): {str(raw)[:200]}"
    if not isinstance(value, dict):
        return {}, f"the tool arguments must be a JSON object, got {type(value).__name__}"
    return value, None


class Provider(ABC):
    """A conversation in one API's wire format."""

    kind = ""
    default_base = ""
    key_env = ""

    def __init__(self, model: str, options: AgentOptions, seed: int) -> None:
        self.model = model
        self.options = options
        self.seed = seed
        self.messages: list[dict[str, Any]] = []
        self.system = ""
        self.tools: list[dict[str, Any]] = []
        self.stats = RetryStats()
        self.notify: Any = None  # where retry messages go (the agent's log)
        key = options.api_key or os.environ.get(self.key_env)
        if not key:
            raise AgentError(f"no API key: set ${self.key_env} (or pass one in the agent options)")
        self.api_key = key

    @property
    def base_url(self) -> str:
        return (self.options.base_url or self.default_base).rstrip("/")

    @abstractmethod
    def start(self, system: str, user: str, tools: list[Any]) -> None:
        ...

    @abstractmethod
    def add_results(self, results: list[tuple[ToolCall, str, bool]]) -> None:
        ...

    def add_user(self, text: str) -> None:
        self.messages.append({"role": "user", "content": text})

    @abstractmethod
    def slots(self) -> list[Slot]:
        ...

    @abstractmethod
    async def turn(self, http: httpx.AsyncClient) -> Turn:
        ...

    async def _post(self, http: httpx.AsyncClient, url: str, body: dict[str, Any],
                    headers: dict[str, str]) -> dict[str, Any]:
        o = self.options
        return await post_json(http, url, body, headers, max_retries=o.max_retries, base_delay=o.retry_base_delay,
                               max_delay=o.retry_max_delay, stats=self.stats, notify=self.notify)


class AnthropicProvider(Provider):
    kind = "anthropic"
    default_base = "https://api.anthropic.com"
    key_env = "ANTHROPIC_API_KEY"

    @property
    def url(self) -> str:
        base = self.base_url
        return base + ("/messages" if base.endswith("/v1") else "/v1/messages")

    def start(self, system: str, user: str, tools: list[Any]) -> None:
        self.system = system
        self.tools = [{"name": t.name, "description": t.description or "", "input_schema": _object_schema(
            t.input_schema)} for t in tools]
        self.messages = [{"role": "user", "content": user}]

    def add_results(self, results: list[tuple[ToolCall, str, bool]]) -> None:
        blocks = [{"type": "tool_result", "tool_use_id": call.id, "content": text, "is_error": is_error}
                  for call, text, is_error in results]
        self.messages.append({"role": "user", "content": blocks})

    def slots(self) -> list[Slot]:
        return [Slot(block) for m in self.messages if m["role"] == "user" and isinstance(m["content"], list)
                for block in m["content"] if block.get("type") == "tool_result"]

    async def turn(self, http: httpx.AsyncClient) -> Turn:
        body: dict[str, Any] = {"model": self.model, "max_tokens": self.options.max_tokens or 4096,
                                "system": self.system, "messages": self.messages, "tools": self.tools}
        if self.options.temperature is not None:
            body["temperature"] = self.options.temperature
        headers = {"x-api-key": self.api_key, "anthropic-version": ANTHROPIC_VERSION}
        data = await self._post(http, self.url, body, headers)
        content = data.get("content") or []
        # an empty assistant turn would make the next request invalid
        self.messages.append({"role": "assistant", "content": content or [{"type": "text", "text": "(no output)"}]})
        text = "\n".join(b.get("text", "") for b in content if b.get("type") == "text")
        thinking = "\n".join(b.get("thinking", "") for b in content if b.get("type") == "thinking") or None
        calls = []
        for block in content:
            if block.get("type") == "tool_use":
                args, problem = _parse_arguments(block.get("input"))
                calls.append(ToolCall(block["id"], block["name"], args, problem))
        usage = data.get("usage") or {}
        cached = usage.get("cache_read_input_tokens") or 0
        created = usage.get("cache_creation_input_tokens") or 0
        metrics: dict[str, Any] = {
            "prompt_tokens": (usage.get("input_tokens") or 0) + cached + created,
            "completion_tokens": usage.get("output_tokens") or 0, "cached_tokens": cached,
        }
        if created:
            metrics["extra"] = {"cache_creation_input_tokens": created}
        return Turn(text, calls, data.get("stop_reason") or "", thinking, metrics)


class OpenAIProvider(Provider):
    kind = "openai"
    default_base = "https://api.openai.com/v1"
    key_env = "OPENAI_API_KEY"

    @property
    def url(self) -> str:
        return self.base_url + "/chat/completions"

    def start(self, system: str, user: str, tools: list[Any]) -> None:
        self.tools = [{"type": "function", "function": {"name": t.name, "description": t.description or "",
                                                        "parameters": _object_schema(t.input_schema)}}
                      for t in tools]
        self.messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def add_results(self, results: list[tuple[ToolCall, str, bool]]) -> None:
        for call, text, _is_error in results:
            self.messages.append({"role": "tool", "tool_call_id": call.id, "content": text})

    def slots(self) -> list[Slot]:
        return [Slot(m) for m in self.messages if m["role"] == "tool"]

    async def turn(self, http: httpx.AsyncClient) -> Turn:
        body: dict[str, Any] = {"model": self.model, "messages": self.messages, "tools": self.tools,
                                "tool_choice": "auto", "seed": self.seed}
        if self.options.temperature is not None:
            body["temperature"] = self.options.temperature
        if self.options.max_tokens:
            body["max_tokens"] = self.options.max_tokens
        data = await self._post(http, self.url, body, {"authorization": f"Bearer {self.api_key}"})
        choices = data.get("choices") or []
        if not choices:
            raise AgentError(f"{self.url}: the answer has no choices: {json.dumps(data)[:300]}")
        message = choices[0].get("message") or {}
        raw_calls = message.get("tool_calls") or []
        kept: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
        if raw_calls:
            kept["tool_calls"] = raw_calls
        elif not kept["content"]:
            kept["content"] = "(no output)"  # an empty assistant message is refused by some servers
        self.messages.append(kept)
        calls = []
        for i, raw in enumerate(raw_calls):
            fn = raw.get("function") or {}
            args, problem = _parse_arguments(fn.get("arguments"))
            calls.append(ToolCall(raw.get("id") or f"call_{len(self.messages)}_{i}", fn.get("name", ""), args,
                                  problem))
        usage = data.get("usage") or {}
        metrics = {"prompt_tokens": usage.get("prompt_tokens") or 0,
                   "completion_tokens": usage.get("completion_tokens") or 0,
                   "cached_tokens": (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0}
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        return Turn(message.get("content") or "", calls, choices[0].get("finish_reason") or "",
                    reasoning if isinstance(reasoning, str) else None, metrics)


PROVIDERS: dict[str, type[Provider]] = {"anthropic": AnthropicProvider, "openai": OpenAIProvider}


class LLMAgent:
    """`anthropic:MODEL` / `openai:MODEL`: the tool-use loop."""

    def __init__(self, kind: str, model: str, options: AgentOptions) -> None:
        if kind not in PROVIDERS:
            raise AgentError(f"unknown provider {kind!r}")
        self.kind = kind
        self.name = f"{kind}:{model}"
        self.model_name = model
        self.options = options
        self.turns = 0
        self.trimmed = 0
        self.stopped_because = ""

    async def run(self, ctx: EpisodeContext) -> None:
        o = self.options
        provider = PROVIDERS[self.kind](self.model_name, o, ctx.seed)
        provider.notify = ctx.log
        client = ctx.client
        client.note("system", SYSTEM_PROMPT)
        listing = await client.list_tools()
        tools = listing.tools
        known = {t.name for t in tools}
        prompt = await client.get_prompt("start_task")
        user = "\n\n".join(getattr(m.content, "text", "") or "" for m in prompt.messages)
        provider.start(SYSTEM_PROMPT, user, tools)
        client.note("user", user)
        nudges = 0
        timeout = httpx.Timeout(o.request_timeout, connect=30.0)
        async with httpx.AsyncClient(timeout=timeout) as http:
            while True:
                if ctx.over():
                    self.stopped_because = "episode over (submitted or budget/time spent)"
                    break
                if self.turns >= o.max_turns:
                    self.stopped_because = f"turn limit ({o.max_turns})"
                    break
                self.trimmed += trim_tool_outputs(provider.messages, provider.slots(), o.context_chars,
                                                  o.keep_recent_outputs)
                retries_before = provider.stats.retries
                turn = await provider.turn(http)
                self.turns += 1
                extra = {"stop_reason": turn.stop, "turn": self.turns}
                if provider.stats.retries > retries_before:
                    extra["api_retries"] = provider.stats.retries - retries_before
                client.begin_turn(turn.text, reasoning=turn.reasoning, model_name=self.model_name,
                                  metrics=turn.metrics, extra=extra)
                ctx.log(f"turn {self.turns}: {len(turn.tool_calls)} tool call(s) "
                        f"{[c.name for c in turn.tool_calls]} stop={turn.stop}")
                if not turn.tool_calls:
                    client.end_turn()
                    if turn.stop == "refusal" or nudges >= o.nudges:
                        self.stopped_because = f"the model stopped ({turn.stop or 'no tool calls'})"
                        break
                    nudges += 1
                    provider.add_user(NUDGE)
                    client.note("user", NUDGE)
                    continue
                results: list[tuple[ToolCall, str, bool]] = []
                for call in turn.tool_calls:
                    results.append(await self._execute(ctx, call, known))
                client.end_turn()
                provider.add_results(results)
                if client.submitted is not None:
                    self.stopped_because = "submitted"
                    break
        ctx.extra.update({"turns": self.turns, "trimmed_outputs": self.trimmed, "stopped": self.stopped_because,
                          "api_retries": provider.stats.retries, "api_retry_statuses": provider.stats.statuses})
        ctx.log(f"stopped: {self.stopped_because}")

    async def _execute(self, ctx: EpisodeContext, call: ToolCall, known: set[str]) -> tuple[ToolCall, str, bool]:
        client = ctx.client
        if call.problem or call.name not in known:
            problem = call.problem or f"there is no tool {call.name!r}; the tools are: {', '.join(sorted(known))}"
            client.record_refused(call.name, call.arguments, call.id, problem)
            return call, problem, True
        if client.submitted is not None:
            problem = "the episode has been submitted; no further calls are made"
            client.record_refused(call.name, call.arguments, call.id, problem)
            return call, problem, True
        try:
            result = await client.call_tool(call.name, call.arguments, call_id=call.id)
        except Exception as exc:  # a transport failure: tell the model, the loop decides whether to go on
            return call, f"the MCP call failed: {type(exc).__name__}: {exc}", True
        text = cut(result_text(result), self.options.max_tool_output_chars)
        return call, text, bool(result.is_error)
