"""Whole episodes over MCP: the scripted agent reaches the reference through the real scorer, the untouched
baseline scores about 0, the wall budget submits by itself, a crashed scorer costs nothing.

Every task's baseline, reference and broken case go through the real scorer in the task conformance suite
(tests/tasks/test_task_conformance.py); here the MCP path runs on the bundled tasks but the two that spend
minutes training or decoding (tiny_lm, gpt_decode), and the untouched baseline on one counting and one
timed task: the submit path does not depend on the task."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import anyio
import pytest

from autolab_mcp.core.taskdirs import bundled_tasks_dir, list_tasks
from clients.scripted import run_episode
from tests.helpers import connect, refused, tool

pytestmark = pytest.mark.anyio

TASKS = [t.name for t in list_tasks([bundled_tasks_dir()]) if t.name not in ("tiny_lm", "gpt_decode")]


@pytest.mark.slow
@pytest.mark.parametrize("task_name", TASKS)
async def test_scripted_agent_reaches_the_reference(make_episode, task_name):
    episode = make_episode(task_name)
    async with connect(episode) as client:
        result = await run_episode(client, episode.task, out=lambda _: None)
    assert result["valid"], result["reason"]
    assert result["score"] >= 0.9, result
    document = json.loads((episode.run_dir / "result.json").read_text())
    assert document["record"]["split"] == "final" and document["signature"]


@pytest.mark.slow
@pytest.mark.parametrize("task_name", ["sorting_network", "edit_distance"])
async def test_untouched_baseline_scores_about_zero(make_episode, task_name):
    episode = make_episode(task_name)
    async with connect(episode) as client:
        result = await tool(client, "submit")
    assert result["valid"], result["reason"]
    assert result["score"] < 0.15, result


async def test_wall_budget_ends_with_automatic_submit(make_episode):
    episode = make_episode(wall_sec=2.0)
    episode.start_wall_timer()
    async with connect(episode) as client:
        original = (await tool(client, "read_file", {"path": "network.py"}))["content"]
        await tool(client, "write_file", {"path": "network.py", "content": original + "# last edit\n"})
        deadline = time.monotonic() + 60
        while not episode.submitted and time.monotonic() < deadline:
            await anyio.sleep(0.2)
        assert episode.submitted
        assert episode.result.auto and episode.result.valid
        message = await refused(client, "write_file", {"path": "network.py", "content": "x"})
        assert "submitted" in message
    document = json.loads((episode.run_dir / "result.json").read_text())
    assert document["auto"] is True
    assert document["snapshot"] == episode.workspace.history()[-1].id


async def test_crashed_scorer_is_not_charged_and_restarts(make_episode):
    episode = make_episode()
    async with connect(episode) as client:
        os.kill(episode.scorer.pid, signal.SIGKILL)
        await anyio.sleep(0.2)
        metric = await tool(client, "get_metric")  # the server notices, restarts the scorer, and scores
        assert metric["valid"]
        assert (await tool(client, "remaining_budget"))["score_calls"]["used"] == 1


async def test_runs_cli_lists_and_shows_events(make_episode, tmp_path):
    episode = make_episode()
    async with connect(episode) as client:
        await tool(client, "list_files")
        await tool(client, "submit")
    runs_dir = episode.run_dir.parent
    env = dict(os.environ)
    listing = subprocess.run([sys.executable, "-m", "autolab_mcp.cli", "runs", "--run-dir", str(runs_dir)],
                             capture_output=True, text=True, env=env)
    assert episode.meta.run_id in listing.stdout and "submitted" in listing.stdout
    shown = subprocess.run([sys.executable, "-m", "autolab_mcp.cli", "runs", episode.meta.run_id, "--run-dir",
                            str(runs_dir), "--verify", "--json"], capture_output=True, text=True, env=env)
    assert shown.returncode == 0 and json.loads(shown.stdout)["verified"] is True
    # a forged result fails verification
    path = episode.run_dir / "result.json"
    document = json.loads(path.read_text())
    document["record"]["score"] = 9.9
    path.write_text(json.dumps(document))
    forged = subprocess.run([sys.executable, "-m", "autolab_mcp.cli", "runs", episode.meta.run_id, "--run-dir",
                             str(runs_dir), "--verify", "--json"], capture_output=True, text=True, env=env)
    assert forged.returncode == 1 and "altered or forged" in forged.stdout


def test_hidden_directories_are_sealed_for_other_uids(make_episode):
    """Once a scorer serves a task, tests/ and solution/ are 0700: the sandbox uids cannot read them even
    from outside any sandbox."""
    episode = make_episode()
    if os.geteuid() != 0:
        pytest.skip("sealing needs root (the scorer runs as the server's user otherwise)")
    from autolab_mcp.core.sandbox.base import AGENT_UID, SCORER_UID

    for directory in (episode.task.tests_dir, episode.task.solution_dir):
        assert directory.stat().st_mode & 0o077 == 0, directory
        for uid in (AGENT_UID, SCORER_UID):
            probe = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "ls",
                                    str(directory)], capture_output=True, text=True)
            assert probe.returncode != 0 and "Permission denied" in probe.stderr


async def test_hung_scorer_gives_a_clear_error_in_bounded_time_and_is_restarted(tmp_path):
    """The scorer freezes mid-evaluation: the call fails within the client timeout, is not charged, and
    the server restarts the scorer so the next call works."""
    from autolab_mcp.core.sandbox.bwrap import BwrapBackend
    from autolab_mcp.core.taskdirs import find_task
    from autolab_mcp.episode import BudgetOverrides, Episode
    from autolab_mcp.scorer_client import ScorerProcess

    task = find_task("sorting_network")
    scorer = ScorerProcess(task.root, "bwrap", eval_timeout=6, queue_timeout=5)
    scorer.start()
    episode = Episode.create(task, tmp_path / "runs", backend=BwrapBackend(), scorer=scorer,
                             overrides=BudgetOverrides())
    try:
        async with connect(episode) as client:
            original = (await tool(client, "read_file", {"path": "network.py"}))["content"]
            slow = original.replace("def main(argv", "import time\ntime.sleep(3)\n\n\ndef main(argv")
            await tool(client, "write_file", {"path": "network.py", "content": slow})
            frozen = scorer.pid

            async def freeze_soon() -> None:
                await anyio.sleep(1.0)
                os.kill(frozen, signal.SIGSTOP)

            started = time.monotonic()
            async with anyio.create_task_group() as tg:
                tg.start_soon(freeze_soon)
                message = await refused(client, "get_metric")
            assert "unavailable" in message and "not charged" in message
            assert time.monotonic() - started < 60
            assert (await tool(client, "remaining_budget"))["score_calls"]["used"] == 0
            assert scorer.pid != frozen, "the hung scorer was replaced"
            await tool(client, "write_file", {"path": "network.py", "content": original})
            metric = await tool(client, "get_metric")
            assert metric["valid"] and metric["metric"] == 66
    finally:
        episode.close()
        scorer.stop()
        try:
            os.kill(frozen, signal.SIGKILL)
        except (ProcessLookupError, UnboundLocalError):
            pass
