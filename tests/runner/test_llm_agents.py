"""The LLM tool-use loops (Anthropic Messages, OpenAI chat completions) against a fake model server on loopback.

The fake server (tests/helpers/fake_model_server.py) speaks the real wire formats over real HTTP and
plays a conversation that solves sorting_network from the tool results it receives; the agent drives a
real `autolab-mcp serve` over stdio. No live model, no patched functions.
"""

from __future__ import annotations

import email.utils
import json
import time
from pathlib import Path

import anyio
import httpx
import pytest

from clients.agents import AgentOptions
from clients.agents.http import APIError, RetryStats, post_json, retry_after
from clients.agents.llm import Slot, trim_tool_outputs, trimmed_stub
from clients.evalrun import run_one
from tests.helpers.fake_model_server import API_KEY, FakeModelServer, SolvePolicy

TASK = "sorting_network"


@pytest.fixture
def api_keys(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)


def fast_options(base_url: str, **kw) -> AgentOptions:
    return AgentOptions(base_url=base_url, retry_base_delay=0.01, retry_max_delay=0.05, **kw)


# -- retries over real HTTP ------------------------------------------------------------------------


def _post(server: FakeModelServer, *, max_retries: int = 3, waits: list[float] | None = None,
          stats: RetryStats | None = None) -> dict:
    async def fake_sleep(seconds: float) -> None:
        if waits is not None:
            waits.append(seconds)

    async def go() -> dict:
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        async with httpx.AsyncClient() as http:
            return await post_json(http, server.openai_base + "/chat/completions", body,
                                   {"authorization": f"Bearer {API_KEY}"}, max_retries=max_retries,
                                   base_delay=0.5, max_delay=4.0, stats=stats, sleep=fake_sleep)

    return anyio.run(go)


def test_429_then_200_waits_as_the_server_says():
    with FakeModelServer(lambda history: ("text", "hello")) as server:
        server.fail_next(429, {"retry-after": "7"})
        waits: list[float] = []
        stats = RetryStats()
        answer = _post(server, waits=waits, stats=stats)
    assert answer["choices"][0]["message"]["content"] == "hello"
    assert waits == [7.0], "retry-after must be respected"
    assert stats.retries == 1 and stats.statuses == [429]
    assert len(server.requests) == 2


def test_500_then_200_backs_off():
    with FakeModelServer(lambda history: ("text", "hello")) as server:
        server.fail_next(500)
        server.fail_next(503)
        waits: list[float] = []
        answer = _post(server, waits=waits)
    assert answer["choices"][0]["message"]["content"] == "hello"
    assert len(waits) == 2 and 0.25 <= waits[0] <= 0.5 and 0.5 <= waits[1] <= 1.0, waits  # doubling, jitter


def test_retries_give_up_and_4xx_fails_at_once():
    with FakeModelServer(lambda history: ("text", "hello")) as server:
        for _ in range(3):
            server.fail_next(429, {"retry-after-ms": "10"})
        with pytest.raises(APIError, match="giving up after 3 attempts"):
            _post(server, max_retries=2, waits=[])
        server.faults.clear()
        server.faults.append((400, {}, {"error": {"message": "bad request: no such model"}}))
        waits: list[float] = []
        with pytest.raises(APIError, match="no such model") as info:
            _post(server, waits=waits)
        assert info.value.status == 400 and waits == []


def test_retry_after_forms():
    def response(**headers: str) -> httpx.Response:
        return httpx.Response(429, headers=headers)

    assert retry_after(response()) is None
    assert retry_after(response(**{"retry-after": "3"})) == 3.0
    assert retry_after(response(**{"retry-after-ms": "250", "retry-after": "9"})) == 0.25
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert 28 <= retry_after(response(**{"retry-after": date}), now=now) <= 31
    assert retry_after(response(**{"retry-after": "soon"})) is None


# -- trimming --------------------------------------------------------------------------------------


def test_trimming_stubs_the_oldest_outputs_and_keeps_the_newest():
    messages = [{"role": "user", "content": "task"}]
    for i in range(6):
        messages.append({"role": "assistant", "content": [{"type": "tool_use", "id": f"t{i}", "name": "read_file",
                                                            "input": {}}]})
        messages.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"t{i}",
                                                      "content": f"{i}" * 1000}]})
    slots = [Slot(m["content"][0]) for m in messages[2::2]]
    size = len(json.dumps(messages))
    assert trim_tool_outputs(messages, slots, size, keep_recent=2) == 0
    saving = 1000 - len(trimmed_stub(1000))
    budget = size - 2 * saving - saving // 2  # needs three outputs stubbed
    trimmed = trim_tool_outputs(messages, slots, budget, keep_recent=2)
    texts = [s.get() for s in slots]
    assert trimmed == 3, texts  # stops as soon as the conversation fits
    assert all(t == trimmed_stub(1000) for t in texts[:3])
    assert texts[3] == "3" * 1000 and texts[4:] == ["4" * 1000, "5" * 1000]
    assert len(json.dumps(messages)) <= budget
    # never below the kept outputs, even when the budget cannot be met
    assert trim_tool_outputs(messages, slots, 10, keep_recent=2) == 1
    assert [s.get() for s in slots][4:] == ["4" * 1000, "5" * 1000]


# -- whole episodes over MCP -----------------------------------------------------------------------


def _trajectory(outcome) -> dict:
    return json.loads(Path(outcome.trajectory).read_text())


@pytest.mark.slow
def test_anthropic_loop_solves_a_task_through_retries(tmp_path, api_keys):
    with FakeModelServer(SolvePolicy(TASK)) as fake:
        fake.fail_next(429, {"retry-after": "0"})
        fake.fail_next(500)
        outcome = run_one(TASK, "anthropic:fake-model", 0, tmp_path, agent_options=fast_options(fake.anthropic_base))
    assert fake.problems == []
    assert outcome.status == "submitted" and outcome.error is None, outcome
    assert outcome.submitted_by == "agent" and outcome.valid and outcome.score >= 0.9
    assert outcome.signature_ok, outcome.signature_note
    assert outcome.agent_info["api_retries"] == 2 and outcome.agent_info["api_retry_statuses"] == [429, 500]
    assert outcome.agent_info["stopped"] == "submitted"
    first = fake.requests[0]
    assert first["path"] == "/v1/messages" and first["headers"]["anthropic-version"]
    tools = {t["name"]: t for t in first["body"]["tools"]}
    assert {"read_file", "apply_patch", "run_experiment", "get_metric", "submit"} <= set(tools)
    assert tools["read_file"]["input_schema"]["type"] == "object"
    assert "sorting_network" in first["body"]["messages"][0]["content"]  # the server's start_task prompt
    doc = _trajectory(outcome)
    agent_steps = [s for s in doc["steps"] if s["source"] == "agent" and s.get("model_name")]
    assert [s["tool_calls"][0]["function_name"] for s in agent_steps] == [
        "read_file", "apply_patch", "run_experiment", "get_metric", "submit"]
    assert all(s["metrics"]["prompt_tokens"] > 0 for s in agent_steps)
    assert agent_steps[0]["extra"]["api_retries"] == 2
    ids = [s["tool_calls"][0]["tool_call_id"] for s in agent_steps]
    assert ids[0].startswith("toolu_"), "the model's tool_use ids are the trajectory's call ids"


@pytest.mark.slow
def test_openai_loop_solves_a_task_and_passes_the_seed(tmp_path, api_keys):
    with FakeModelServer(SolvePolicy(TASK)) as fake:
        outcome = run_one(TASK, "openai:fake-model", 7, tmp_path,
                          agent_options=fast_options(fake.openai_base, temperature=0.5))
    assert fake.problems == []
    assert outcome.status == "submitted" and outcome.submitted_by == "agent" and outcome.score >= 0.9, outcome
    bodies = [r["body"] for r in fake.requests]
    assert all(r["path"] == "/v1/chat/completions" for r in fake.requests)
    assert all(b["seed"] == 7 and b["temperature"] == 0.5 for b in bodies)
    assert bodies[0]["messages"][0]["role"] == "system"
    assert all(t["type"] == "function" for t in bodies[0]["tools"])
    tool_messages = [m for m in bodies[-1]["messages"] if m["role"] == "tool"]
    assert len(tool_messages) == 4 and all(m["tool_call_id"].startswith("call_") for m in tool_messages)


@pytest.mark.slow
def test_context_budget_trims_old_tool_outputs(tmp_path, api_keys):
    # the policy reads network.py three extra times; a small budget forces the old reads out
    with FakeModelServer(SolvePolicy(TASK, read_extra=3)) as fake:
        outcome = run_one(TASK, "anthropic:fake-model", 0, tmp_path,
                          agent_options=fast_options(fake.anthropic_base, context_chars=9000, keep_recent_outputs=1))
    assert outcome.status == "submitted" and outcome.score >= 0.9, outcome
    assert outcome.agent_info["trimmed_outputs"] >= 2

    def results(request: dict) -> list[str]:
        return [b["content"] for m in request["body"]["messages"] if m["role"] == "user"
                and isinstance(m["content"], list) for b in m["content"] if b.get("type") == "tool_result"]

    later = [results(r) for r in fake.requests if len(results(r)) >= 4]
    assert later, "the conversation grew"
    for outputs in later:
        assert outputs[0].startswith("[tool output trimmed"), "the oldest output is trimmed"
        assert not outputs[-1].startswith("[tool output trimmed"), "the newest output is kept whole"


@pytest.mark.slow
def test_turn_limit_stops_the_model_and_the_runner_submits(tmp_path, api_keys):
    with FakeModelServer(SolvePolicy(TASK)) as fake:
        outcome = run_one(TASK, "openai:fake-model", 0, tmp_path,
                          agent_options=fast_options(fake.openai_base, max_turns=2))
    assert len(fake.requests) == 2
    assert outcome.agent_info["stopped"] == "turn limit (2)"
    assert outcome.status == "submitted" and outcome.submitted_by == "runner"
    assert outcome.score is not None and outcome.score >= 0.9  # the patch was applied in turn 2
    calls = [c for s in _trajectory(outcome)["steps"] for c in (s.get("extra") or {}).get("calls", [])]
    assert calls[-1]["by"] == "runner" and calls[-1]["ok"]


@pytest.mark.slow
def test_loop_stops_when_the_wall_budget_ends(tmp_path, api_keys):
    from clients.evalrun import ServerOptions

    def dawdle(history):  # a model that never gets on with it
        return "tool", ("remaining_budget", {})

    with FakeModelServer(dawdle, delay=0.2) as fake:
        outcome = run_one(TASK, "anthropic:fake-model", 0, tmp_path, agent_options=fast_options(fake.anthropic_base),
                          server=ServerOptions(wall_sec=4))
    assert outcome.agent_info["stopped"].startswith("episode over"), outcome.agent_info
    assert outcome.agent_info["turns"] < 60
    # the server's automatic submit and the runner's finalize race once the wall budget is spent; either way
    # the episode is scored exactly once (the automatic path alone: tests/episode/test_episode_e2e.py)
    assert outcome.status == "submitted" and outcome.submitted_by in ("wall-budget", "runner")
    assert outcome.score is not None and outcome.score <= 0.15  # the untouched baseline


@pytest.mark.slow
def test_missing_api_key_is_an_error_and_the_baseline_is_still_scored(tmp_path, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    outcome = run_one(TASK, "anthropic:some-model", 0, tmp_path,
                      agent_options=AgentOptions(base_url="http://127.0.0.1:9"))
    assert "ANTHROPIC_API_KEY" in (outcome.error or "")
    assert outcome.status == "submitted" and outcome.submitted_by == "runner"
    assert outcome.score is not None and outcome.score <= 0.15
