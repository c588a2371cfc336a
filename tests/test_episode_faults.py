"""Faults a real host throws at an episode: a full disk, a read-only run directory, a server killed
mid-evaluation, a torn or corrupt run-directory file, two servers on one run. Each must lose nothing
that was acknowledged, charge nothing it refused, and say in one line what is wrong."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from autolab_mcp.cores import CoreBusy, lease_timing_core
from autolab_mcp.episode import BudgetOverrides, Episode, EpisodeError
from autolab_mcp.sandbox.bwrap import BwrapBackend
from autolab_mcp.taskspec import find_task
from tests.conftest import REPO, connect, refused, tool
from tests.test_rundir_files import read_only, small_tmpfs

pytestmark = pytest.mark.anyio

SLOW_NETWORK = "import time\ntime.sleep(60)\n"


def _new_episode(runs: Path, scorers, task_name: str = "sorting_network") -> Episode:
    task = find_task(task_name)
    return Episode.create(task, runs, backend=BwrapBackend(), scorer=scorers.get(task), overrides=BudgetOverrides())


async def test_disk_full_settles_the_experiment_refuses_clearly_and_reads_keep_working(tmp_path, scorers):
    with small_tmpfs(tmp_path / "fs", size="24m") as fs:
        episode = _new_episode(fs / "runs", scorers)
        try:
            async with connect(episode) as client:
                filler = await tool(client, "run_experiment", {
                    "command": "head -c 200000000 /dev/zero > fill.bin; echo rc=$?", "wait_sec": 50})
                assert filler["status"] == "finished", filler  # it settled: not `running` forever
                assert "rc=1" in filler["output_tail"]
                before = await tool(client, "remaining_budget")
                message = await refused(client, "run_experiment", {"command": "echo hi"})
                assert "disk full" in message and "budget.json" in message, message
                after = await tool(client, "remaining_budget")
                assert after["experiments"]["used"] == before["experiments"]["used"]  # refused: not charged
                assert (await tool(client, "read_file", {"path": "check.py"}))["content"]
                assert (await tool(client, "list_files"))["entries"]
                (episode.workspace.root / "fill.bin").unlink()  # the operator frees space
                again = await tool(client, "run_experiment", {"command": "echo hi", "wait_sec": 30})
                assert again["output_tail"] == "hi\n"
        finally:
            episode.close()


async def test_read_only_run_dir_refuses_without_charging(make_episode):
    episode = make_episode()
    async with connect(episode) as client:
        before = await tool(client, "remaining_budget")
        with read_only(episode.run_dir):
            message = await refused(client, "run_experiment", {"command": "echo hi"})
            assert "read-only file system" in message, message
            assert "read-only" in await refused(client, "get_metric")
            assert (await tool(client, "read_file", {"path": "check.py"}))["content"]
            during = await tool(client, "remaining_budget")
        assert during["experiments"]["used"] == before["experiments"]["used"]
        assert during["score_calls"]["used"] == before["score_calls"]["used"]
        assert (await tool(client, "run_experiment", {"command": "echo ok"}))["output_tail"] == "ok\n"


def _pids_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    state = (entry / "stat").read_text().rsplit(") ", 1)[1][0]
                    if state != "Z":
                        found.append(int(entry.name))
            except (OSError, IndexError):
                continue
    return found


def _core_free() -> bool:
    try:
        with lease_timing_core(0):
            return True
    except CoreBusy:
        return False


@pytest.mark.slow
async def test_server_killed_mid_evaluation_frees_the_core_at_once_and_resume_refunds(
        tmp_path, scorers, timed_task_root):
    runs = tmp_path / "runs"
    params = StdioServerParameters(
        command=sys.executable, cwd=str(REPO),
        args=["-m", "autolab_mcp.cli", "serve", "--task", str(timed_task_root), "--run-dir", str(runs)],
        env={k: v for k, v in os.environ.items() if k.startswith("AUTOLAB_")})
    async with Client(params, read_timeout_seconds=120) as client:
        await tool(client, "write_file", {"path": "network.py", "content": SLOW_NETWORK})
        pending = (await client.call_tool("get_metric", {"wait_sec": 0})).structured_content
        assert pending["status"] == "pending"
        deadline = time.monotonic() + 60
        while _core_free():  # the scorer has leased the core and runs the slow candidate
            assert time.monotonic() < deadline, "the evaluation never took the timing core"
            await anyio.sleep(0.1)
        (server,) = [p for p in _pids_with(str(runs)) if b"serve" in Path(f"/proc/{p}/cmdline").read_bytes()]
        scorer_pids = _pids_with(str(timed_task_root) + "\0--socket")
        assert scorer_pids, "scorer process not found"
        os.kill(server, signal.SIGKILL)
        killed_at = time.monotonic()
        while (not _core_free() or any(Path(f"/proc/{p}").exists() and p in _pids_with("scorer")
                                       for p in scorer_pids)) and time.monotonic() - killed_at < 10:
            await anyio.sleep(0.05)
        stopped_after = time.monotonic() - killed_at
        with pytest.raises(Exception):  # noqa: B017 - the transport is gone; any error will do
            await client.call_tool("remaining_budget", {})
    assert stopped_after < 2.0, f"scorer and lease outlived the server by {stopped_after:.1f} s"
    (run_dir,) = runs.iterdir()
    task = find_task(str(timed_task_root))
    resumed = Episode.resume(run_dir, backend=BwrapBackend(), scorer=scorers.get(task))
    try:
        events = resumed.log.read()
        interrupted = [e for e in events if e["kind"] == "score_interrupted"]
        assert len(interrupted) == 1 and interrupted[0]["refunded"] is True, events[-3:]
        assert resumed.budget().score_calls.used == 0
        assert events[-1]["kind"] == "episode_resumed" and events[-1]["interrupted_scores"] == [pending["id"]]
    finally:
        resumed.close()


def test_torn_last_line_is_quarantined_and_resume_is_logged(tmp_path, scorers):
    episode = _new_episode(tmp_path / "runs", scorers)
    episode.close()
    with open(episode.run_dir / "events.jsonl", "a") as handle:
        handle.write('{"seq": 99, "kind": "tool", "tool": "read_fi')  # the server died mid-write
    resumed = Episode.resume(episode.run_dir, backend=BwrapBackend(), scorer=None)
    try:
        kinds = [e["kind"] for e in resumed.log.read()]
        assert kinds[-2:] == ["log_repaired", "episode_resumed"]
        assert list(episode.run_dir.glob("events.torn.*"))
    finally:
        resumed.close()


def test_one_server_per_episode(tmp_path, scorers):
    episode = _new_episode(tmp_path / "runs", scorers)
    try:
        with pytest.raises(EpisodeError, match="already being served"):
            Episode.resume(episode.run_dir, backend=BwrapBackend(), scorer=None)
    finally:
        episode.close()
    Episode.resume(episode.run_dir, backend=BwrapBackend(), scorer=None).close()  # free again


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("budget.json", "{not json", "is not JSON"),
    ("budget.json", json.dumps({"limits": {"wall_sec": 10, "compute_sec": 10, "experiments": 1,
                                           "score_calls": 1}, "compute_used": -5}), "greater than or equal to 0"),
    ("meta.json", "", "is empty"),
    ("experiments/exp-0001.json", b"\xff\xfe", "not UTF-8"),
])
def test_corrupt_run_files_get_a_one_line_diagnosis(tmp_path, scorers, name, content, expected):
    episode = _new_episode(tmp_path / "runs", scorers)
    episode.close()
    path = episode.run_dir / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    done = subprocess.run([sys.executable, "-m", "autolab_mcp.cli", "serve", "--resume", episode.run_dir.name,
                           "--run-dir", str(tmp_path / "runs")], capture_output=True, text=True, timeout=120,
                          cwd=REPO, stdin=subprocess.DEVNULL)
    assert done.returncode == 2, done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and expected in lines[0] and name.split("/")[-1] in lines[0], done.stderr
    assert "Traceback" not in done.stderr


async def test_health_check_leaves_no_episode_behind(tmp_path):
    runs = tmp_path / "runs"
    params = StdioServerParameters(command=sys.executable, cwd=str(REPO),
                                   args=["-m", "autolab_mcp.cli", "serve", "--task", "sorting_network",
                                         "--run-dir", str(runs)],
                                   env={k: v for k, v in os.environ.items() if k.startswith("AUTOLAB_")})
    async with Client(params, read_timeout_seconds=120) as client:  # what `claude mcp list` does
        assert (await client.list_tools()).tools
    deadline = time.monotonic() + 20
    while list(runs.iterdir()) and time.monotonic() < deadline:
        await anyio.sleep(0.1)
    assert list(runs.iterdir()) == []
