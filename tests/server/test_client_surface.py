"""What an MCP client meets: version, logging, titles and truthful annotations, progress that ends
with `finished`, and resources that agree with each other."""

from __future__ import annotations

import json
from importlib.metadata import version

import pytest
from mcp import Client

from autolab_mcp.server import build_server
from tests.helpers import tool

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("chosen", ["info", "warning"])
async def test_server_info_version_and_logging_at_the_clients_level(make_episode, chosen):
    received: list[tuple[str, str]] = []

    async def on_log(params) -> None:
        received.append((params.level, str(params.data)))

    episode = make_episode()
    async with Client(build_server(episode), logging_callback=on_log, log_level=chosen) as client:
        assert client.server_info is not None and client.server_info.version == version("autolab-mcp") != ""
        assert client.server_capabilities.logging is not None
        await tool(client, "run_experiment", {"command": "true"})
    lines = [text for level, text in received if level == "info"]
    if chosen == "warning":
        assert lines == []
        return
    assert any("exp-0001 started" in t for t in lines) and any("exp-0001 finished" in t for t in lines), received


async def test_titles_annotations_and_progress(make_episode):
    episode = make_episode()
    async with Client(build_server(episode)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert all(t.title for t in tools.values()), [n for n, t in tools.items() if not t.title]
        assert tools["run_experiment"].annotations.destructive_hint is True  # it can rewrite editable files
        assert tools["cancel_experiment"].annotations.idempotent_hint is True
        assert "score_status" in tools and "pending" in tools["get_metric"].description
        assert "50" in tools["run_experiment"].description
        progress: list[tuple[float, float | None, str]] = []

        async def on_progress(done: float, total: float | None, message: str | None) -> None:
            progress.append((done, total, message or ""))

        await client.call_tool("run_experiment", {"command": "sleep 2.5; echo ok", "timeout_sec": 20},
                               progress_callback=on_progress)
        assert progress and all(total == 20 for _, total, _ in progress[:-1]), progress  # the agent's timeout
        assert "finished" in progress[-1][2] and progress[-1][0] == progress[-1][1], progress


async def test_task_resource_and_instruction_agree_on_this_episodes_budget(make_episode):
    episode = make_episode(wall_sec=900, score_calls=4)
    async with Client(build_server(episode)) as client:
        spec = json.loads((await client.read_resource("autolab://task")).contents[0].text)
        instruction = (await client.read_resource("autolab://instruction")).contents[0].text
        budget = json.loads((await client.read_resource("autolab://budget")).contents[0].text)
    assert spec["budget"]["wall_sec"] == 900 and spec["budget"]["score_calls"] == 4
    assert "wall clock: 900 s" in instruction and "score calls (get_metric): 4" in instruction
    assert f"one experiment runs at most {spec['experiment_timeout_sec']:g} s" in instruction
    assert budget["wall_sec"]["limit"] == 900 and budget["wall_mode"] == spec["wall_mode"]
