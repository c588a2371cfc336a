"""What every agent gets and must implement."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, Field

from autolab_mcp.core.errors import AutolabError
from autolab_mcp.core.taskspec import Task
from clients.agents.trajectory import RecordingClient


class AgentOptions(BaseModel):
    """Settings for the LLM agents (the scripted agent ignores them). Plain data: can be shipped to a worker."""

    base_url: str | None = Field(None, description="API base URL (OpenAI-compatible: include /v1, e.g. vLLM/Ollama)")
    api_key: str | None = Field(None, description="default: $ANTHROPIC_API_KEY / $OPENAI_API_KEY")
    max_turns: int = Field(60, ge=1, description="model calls per episode")
    max_tokens: int | None = Field(None, description="per model call (Anthropic needs one: default 4096)")
    temperature: float | None = None
    context_chars: int = Field(400_000, ge=1000, description="conversation size kept under this many characters")
    keep_recent_outputs: int = Field(2, ge=0, description="newest tool outputs never trimmed")
    max_tool_output_chars: int = Field(30_000, ge=200, description="one tool output is cut to this many characters")
    max_retries: int = Field(6, ge=0, description="per model call, on 429 / 5xx / connection errors")
    retry_base_delay: float = Field(1.0, ge=0, description="seconds; doubled per retry, with jitter")
    retry_max_delay: float = Field(60.0, ge=0)
    request_timeout: float = Field(600.0, gt=0, description="seconds per HTTP request")
    nudges: int = Field(2, ge=0, description="how often to prompt a model that stops without submitting")


@dataclass
class EpisodeContext:
    """One episode as an agent sees it: an MCP client (recording), the task, the seed, a clock."""

    client: RecordingClient
    task: Task
    seed: int
    deadline: float  # time.monotonic() by which the agent must have stopped
    log: Callable[[str], None] = print
    budget_spent: Callable[[], bool] = lambda: False
    extra: dict[str, Any] = field(default_factory=dict)

    def over(self) -> bool:
        """Submitted, or out of time, or a budget the server enforces is spent."""
        return self.client.submitted is not None or time.monotonic() >= self.deadline or self.budget_spent()

    def seconds_left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())


class Agent(Protocol):
    name: str  # as given on the command line: "scripted", "anthropic:MODEL", "openai:MODEL"
    model_name: str | None

    async def run(self, ctx: EpisodeContext) -> None:
        """Drive the episode through ctx.client until submitted, out of budget or out of turns."""


class AgentError(AutolabError):
    """The agent could not go on (bad configuration, the model API failed for good)."""


def make_agent(spec: str, options: AgentOptions | None = None) -> Agent:
    """`scripted`, `anthropic:MODEL` or `openai:MODEL`."""
    options = options or AgentOptions()
    kind, _, model = spec.partition(":")
    if kind == "scripted" and not model:
        from clients.agents.scripted import ScriptedAgent

        return ScriptedAgent()
    if kind in ("anthropic", "openai") and model:
        from clients.agents.llm import LLMAgent

        return LLMAgent(kind, model, options)
    raise AgentError(f"unknown agent {spec!r}: use `scripted`, `anthropic:MODEL` or `openai:MODEL`")


def agent_slug(spec: str) -> str:
    """A file-name-safe form of an agent spec."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in spec.replace(":", "-")).strip("-") or "agent"
