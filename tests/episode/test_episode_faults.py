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

from autolab_mcp.core.cores import CoreBusy, lease_timing_core
from autolab_mcp.core.sandbox.bwrap import BwrapBackend
from autolab_mcp.core.taskdirs import find_task
from autolab_mcp.episode import BudgetOverrides, Episode, EpisodeError
from tests.helpers import REPO, connect, live_pids, refused, tool
from tests.helpers.disks import read_only, small_tmpfs

pytestmark = pytest.mark.anyio

SLOW_NETWORK = "import time\ntime.sleep(60)\n"


def _new_episode(runs: Path, scorers, task_name: str = "sorting_network") -> Episode:
    task = find_task(task_name)
    return Episode.create(task, runs, backend=BwrapBackend(), scorer=scorers.get(task), overrides=BudgetOverrides())


@pytest.mark.parametrize("backend", ["bwrap", "docker"])
async def test_disk_full_settles_the_experiment_refuses_clearly_and_reads_keep_working(tmp_path, scorers, backend):
    from tests.helpers import sandbox_backend

    sandbox = sandbox_backend(backend)
    with small_tmpfs(tmp_path / "fs", size="24m") as fs:
        task = find_task("sorting_network")
        episode = Episode.create(task, fs / "runs", backend=sandbox, backend_name=backend,
                                 scorer=scorers.get(task), overrides=BudgetOverrides())
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


@pytest.mark.parametrize("backend", ["bwrap", "docker"])
async def test_read_only_run_dir_refuses_without_charging(make_episode, backend):
    episode = make_episode(backend=backend)
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


def _core_free() -> bool:
    try:
        with lease_timing_core(0):
            return True
    except CoreBusy:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("call", ["get_metric", "submit"])
async def test_server_killed_mid_evaluation_frees_the_core_at_once_and_resume_refunds(
        tmp_path, scorers, timed_task_root, call, monkeypatch):
    # a private timing-core lock, so other evaluations on this host cannot blur what is measured
    monkeypatch.setenv("AUTOLAB_LOCK_DIR", str(tmp_path / "locks"))
    runs = tmp_path / "runs"
    params = StdioServerParameters(
        command=sys.executable, cwd=str(REPO),
        args=["-m", "autolab_mcp.cli", "serve", "--task", str(timed_task_root), "--run-dir", str(runs)],
        env={k: v for k, v in os.environ.items() if k.startswith("AUTOLAB_")})
    async with Client(params, read_timeout_seconds=120) as client:
        await tool(client, "write_file", {"path": "network.py", "content": SLOW_NETWORK})
        pending = (await client.call_tool(call, {"wait_sec": 0})).structured_content
        assert pending["status"] == "pending"
        deadline = time.monotonic() + 60
        while _core_free():  # the scorer has leased the core and runs the slow candidate
            assert time.monotonic() < deadline, "the evaluation never took the timing core"
            await anyio.sleep(0.1)
        (server,) = [p for p in live_pids(str(runs)) if b"serve" in Path(f"/proc/{p}/cmdline").read_bytes()]
        children = {int(c) for t in Path(f"/proc/{server}/task").iterdir()
                    for c in (t / "children").read_text().split()}
        scorer_pids = [p for p in live_pids(str(timed_task_root) + "\0--socket") if p in children]
        assert scorer_pids, "scorer process not found"
        os.kill(server, signal.SIGKILL)
        killed_at = time.monotonic()
        while (not _core_free() or any(Path(f"/proc/{p}").exists() and p in live_pids("scorer")
                                       for p in scorer_pids)) and time.monotonic() - killed_at < 10:
            await anyio.sleep(0.05)
        stopped_after = time.monotonic() - killed_at
        with pytest.raises(Exception):  # noqa: B017 - the transport is gone; any error will do
            await client.call_tool("remaining_budget", {})
    alive = [p for p in scorer_pids if p in live_pids("scorer")]
    assert stopped_after < 2.0, (f"scorer and lease outlived the server by {stopped_after:.1f} s "
                                 f"(core free: {_core_free()}, scorers alive: {alive})")
    (run_dir,) = runs.iterdir()
    # no scorer: one started here would inherit the private lock dir and outlive this test
    resumed = Episode.resume(run_dir, backend=BwrapBackend(), scorer=None)
    try:
        events = resumed.log.read()
        interrupted = [e for e in events if e["kind"] == "score_interrupted"]
        # a feedback call is refunded; an interrupted submit was never charged and may be made again
        assert len(interrupted) == 1 and interrupted[0]["refunded"] is (call == "get_metric"), events[-3:]
        assert resumed.budget().score_calls.used == 0 and not resumed.submitted
        assert events[-1]["kind"] == "episode_resumed" and events[-1]["interrupted_scores"] == [pending["id"]]
        assert resumed.submission._score_jobs.new_id() > pending["id"]  # job ids continue past the interrupted one
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


@pytest.mark.slow
async def test_docker_experiments_die_with_a_killed_server(tmp_path):
    from tests.helpers import sandbox_backend

    backend = sandbox_backend("docker")  # skips without an engine
    runs = tmp_path / "runs"
    params = StdioServerParameters(
        command=sys.executable, cwd=str(REPO),
        args=["-m", "autolab_mcp.cli", "serve", "--task", "sorting_network", "--run-dir", str(runs),
              "--backend", "docker"],
        env={k: v for k, v in os.environ.items() if k.startswith(("AUTOLAB_", "DOCKER_HOST"))})
    api = backend._api
    async with Client(params, read_timeout_seconds=120) as client:
        started = await tool(client, "run_experiment", {"command": "sleep 120", "wait_sec": 1})
        assert started["status"] == "running"
        (server,) = [p for p in live_pids(str(runs)) if b"serve" in Path(f"/proc/{p}/cmdline").read_bytes()]
        label = "org.autolab-mcp.owner"
        mine = [c for c in api.containers(filters={"label": label})
                if c["Labels"][label].startswith(f"{server}-")]
        assert len(mine) == 1, "the experiment's container, labelled with its server"
        os.kill(server, signal.SIGKILL)
        killed_at = time.monotonic()
        while api.containers(all=True, filters={"id": mine[0]["Id"]}) and time.monotonic() - killed_at < 30:
            await anyio.sleep(0.2)
        gone_after = time.monotonic() - killed_at
        with pytest.raises(Exception):  # noqa: B017 - the transport is gone
            await client.call_tool("remaining_budget", {})
    assert gone_after < 15, f"the container outlived its server by {gone_after:.0f} s"


def test_failed_scorer_start_leaves_no_socket_dir_and_stale_dirs_are_cleaned(tmp_path):
    import tempfile

    from autolab_mcp.scorer_client import ScorerProcess, ScorerUnavailable

    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = Path(tempfile.mkdtemp(prefix="autolab-scorer-"))
    (stale / "owner.pid").write_text(str(dead.pid))  # a server that died without cleaning up
    broken = tmp_path / "not-a-task"
    broken.mkdir()
    scorer = ScorerProcess(broken, "bwrap", start_timeout=60)
    assert not stale.exists(), "a dead server's socket directory is removed on the next start"
    socket_dir = scorer.socket_path.parent
    with pytest.raises(ScorerUnavailable, match="exited during start-up"):
        scorer.start()
    assert not socket_dir.exists(), "a failed start leaves nothing behind"


def test_stale_cgroups_of_dead_servers_are_removed():
    from autolab_mcp.core.sandbox import cgroups

    tree = cgroups.detect_cgroups()
    if tree is None:
        pytest.skip("cgroups are not managed here (not root)")
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = [parent / f"{dead.pid}-1-abcdef" for parent in tree.parents.values()]
    live = [parent / f"{os.getpid()}-999-abcdef" for parent in tree.parents.values()]
    for d in [*stale, *live]:
        d.parent.mkdir(exist_ok=True)  # another process's exit may have removed the (empty) parent
        d.mkdir()
    try:
        cgroups.remove_stale_runs(tree)
        assert not any(d.exists() for d in stale)
        assert all(d.exists() for d in live), "a live server's cgroups are left alone"
    finally:
        for d in live:
            d.rmdir()
