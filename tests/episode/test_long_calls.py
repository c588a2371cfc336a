"""Long calls as agents make them: a cancelled run_experiment, scoring that answers `pending`, a
submitted episode whose budget stops moving, and wall time that counts downtime when asked to."""

from __future__ import annotations

import json
import time

import anyio
import pytest

from autolab_mcp.core.sandbox.bwrap import BwrapBackend
from autolab_mcp.core.taskdirs import find_task
from autolab_mcp.episode import BudgetOverrides, Episode
from tests.helpers import connect, refused, tool

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("backend", ["bwrap", "docker"])
async def test_cancelling_a_run_experiment_call_kills_it_and_charges_only_what_it_used(make_episode, backend):
    episode = make_episode(backend=backend)
    async with connect(episode) as client:
        with anyio.move_on_after(2.0):  # the client gives up on the call: notifications/cancelled
            await client.call_tool("run_experiment", {"command": "echo started; sleep 60", "wait_sec": 30})
        deadline = time.monotonic() + 15
        while episode.experiments()[-1].status == "running" and time.monotonic() < deadline:
            await anyio.sleep(0.1)
        exp = episode.experiments()[-1]
        assert (exp.status, exp.killed_by) == ("killed", "cancel"), exp
        assert 1.0 < exp.seconds < 10, exp
        budget = await tool(client, "remaining_budget")
    assert budget["compute_sec"]["reserved"] == 0
    assert budget["compute_sec"]["used"] == pytest.approx(exp.seconds, abs=0.01)
    calls = [e for e in episode.log.read() if e.get("kind") == "tool" and e.get("tool") == "run_experiment"]
    assert calls and calls[-1]["ok"] is False and "cancelled by the client" in calls[-1]["error"]


async def test_scoring_answers_pending_with_an_id_and_score_status_delivers(make_episode):
    episode = make_episode()
    async with connect(episode) as client:
        first = (await client.call_tool("get_metric", {"wait_sec": 0})).structured_content
        assert first["status"] == "pending" and first["id"].startswith("score-"), first
        assert first["score"] is None and "score_status" in first["reason"]
        done = await tool(client, "score_status", {"id": first["id"], "wait_sec": 50})
        assert done["status"] == "scored" and done["id"] == first["id"] and done["valid"] is True
        assert done["reason"], "a reason is never empty"
        again = await tool(client, "score_status", {"id": first["id"]})
        assert again["score"] == done["score"]  # polling a finished job repeats its result, charges nothing
        history = await tool(client, "history")
        assert [s["status"] for s in history["scores"]] == ["done"]
        assert (await tool(client, "remaining_budget"))["score_calls"]["used"] == 1
        assert "no scoring job" in await refused(client, "score_status", {"id": "score-9999"})

        pending = (await client.call_tool("submit", {"wait_sec": 0})).structured_content
        assert pending["status"] == "pending" and pending["split"] == "final"
        assert "being submitted" in await refused(client, "write_file", {"path": "network.py", "content": "x"})
        final = await tool(client, "score_status", {"id": pending["id"], "wait_sec": 50})
        assert final["status"] == "scored" and final["split"] == "final" and final["signature"]
        # the feedback and final results are rounded alike
        precision = episode.task.config.autolab.feedback_precision
        assert round(final["score"], precision) == final["score"]
    events = [e["kind"] for e in episode.log.read() if e["kind"].startswith("score") or e["kind"] == "submitted"]
    assert events == ["score_started", "score", "score_started", "submitted"]


async def test_after_submit_the_budget_stops_moving(make_episode):
    episode = make_episode()
    async with connect(episode) as client:
        await tool(client, "submit")
        first = await tool(client, "remaining_budget")
        await anyio.sleep(1.5)
        second = await tool(client, "remaining_budget")
    assert first["wall_sec"] == second["wall_sec"]
    recorded = json.loads((episode.run_dir / "result.json").read_text())["budget"]["wall_sec"]
    assert recorded["used"] == first["wall_sec"]["used"]


@pytest.mark.parametrize("mode", ["serving", "real"])
def test_wall_mode_real_counts_downtime_between_servers(tmp_path, scorers, mode):
    task = find_task("sorting_network")
    episode = Episode.create(task, tmp_path / "runs", backend=BwrapBackend(), scorer=scorers.get(task),
                             overrides=BudgetOverrides(wall_mode=mode))
    episode.close()
    time.sleep(2.0)  # no server runs the episode
    resumed = Episode.resume(episode.run_dir, backend=BwrapBackend(), scorer=scorers.get(task))
    try:
        report = resumed.budget()
        assert report.wall_mode == mode
        if mode == "real":
            assert report.wall_sec.used >= 2.0
        else:
            assert report.wall_sec.used < 1.5
    finally:
        resumed.close()


async def test_arguments_are_strict_and_refusals_say_what_is_allowed(make_episode):
    episode = make_episode()
    async with connect(episode) as client:
        cap = episode.task.config.autolab.experiment_timeout_sec
        for args in ({"command": "true", "timeout_sec": True}, {"command": "true", "timeout_sec": "10"},
                     {"command": "true", "timeout_sec": 0.01}, {"command": "true", "timeout_sec": cap + 1},
                     {"command": "true", "wait_sec": 51}, {"command": "true", "wait_sec": -1}):
            message = await refused(client, "run_experiment", args)
            assert "timeout_sec" in message or "wait_sec" in message, (args, message)
        assert "offset" in await refused(client, "read_file", {"path": "network.py", "offset": "10"})
        assert "limit" in await refused(client, "read_file", {"path": "network.py", "limit": 1.5})
        budget = await tool(client, "remaining_budget")
        assert budget["experiments"]["used"] == 0  # refused calls charge nothing
        tools = {t.name: t for t in (await client.list_tools()).tools}
        timeout_schema = tools["run_experiment"].input_schema["properties"]["timeout_sec"]
        assert f"{cap:g}" in json.dumps(timeout_schema)  # the limit is in the schema, not only in refusals


@pytest.mark.parametrize("backend", ["bwrap", "docker"])
async def test_server_shutdown_kills_running_experiments_and_says_so(make_episode, backend):
    episode = make_episode(backend=backend)
    async with connect(episode) as client:
        started = await tool(client, "run_experiment", {"command": "echo up; sleep 60", "wait_sec": 1})
    assert started["status"] == "running"
    episode.close()
    exp = episode.experiment(started["id"])
    assert (exp.status, exp.killed_by, exp.signal) == ("killed", "shutdown", "SIGKILL"), exp
    assert exp.exit_code is None and exp.seconds < 10


@pytest.mark.parametrize("backend", ["bwrap", "docker"])
async def test_experiments_are_frozen_while_their_episode_is_evaluated(make_episode, backend):
    """Nothing the agent runs may load the host or watch the evaluation: its experiments are paused
    for the evaluation's length; frozen time is not charged and pushes the deadline back."""
    episode = make_episode(backend=backend)
    slow = "import time\ntime.sleep(4)\n"  # an evaluation that takes about 4 s
    loop = "for i in $(seq 30); do echo tick $i; sleep 0.2; done; echo done"  # ~6 s of its own time
    async with connect(episode) as client:
        started = await tool(client, "run_experiment", {"command": loop, "timeout_sec": 9, "wait_sec": 0.5})
        await tool(client, "write_file", {"path": "network.py", "content": slow})
        job = (await client.call_tool("get_metric", {"wait_sec": 0})).structured_content
        await anyio.sleep(2.0)
        during = await tool(client, "experiment_status", {"id": started["id"]})
        await anyio.sleep(1.0)
        later = await tool(client, "experiment_status", {"id": started["id"]})
        assert during["frozen"] and later["frozen"], during
        assert during["output_tail"] == later["output_tail"], "no progress while frozen"
        await tool(client, "score_status", {"id": job["id"], "wait_sec": 50})
        info = await tool(client, "experiment_status", {"id": started["id"], "wait_sec": 30})
    # 6 s of work plus ~4 s frozen would have passed the 9 s timeout had frozen time counted
    assert info["status"] == "finished" and info["output_tail"].endswith("done\n"), info
    assert info["frozen_sec"] >= 3.0 and not info["frozen"], info
    assert 5.5 < info["seconds"] < 9, info  # charged: its own time only
