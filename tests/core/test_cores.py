"""The timing core: one evaluation at a time host-wide, and unpinned sandboxes kept off it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from autolab_mcp.core.cores import CoreBusy, lease_timing_core, timing_core, usable_cores, work_cores
from autolab_mcp.core.sandbox.base import AGENT_UID, ExecRequest, Limits
from autolab_mcp.core.sandbox.bwrap import BwrapBackend
from autolab_mcp.core.taskdirs import find_task
from autolab_mcp.scorer_client import ScorerProcess, ScorerUnavailable
from autolab_mcp.workspace import Workspace
from tests.helpers import connect, tool

HOLD = """
import sys, time
from autolab_mcp.core.cores import lease_timing_core
with lease_timing_core() as lease:
    print("held", lease.core, flush=True)
    time.sleep(float(sys.argv[1]))
"""

multi_core = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two usable cores")


def _holder(seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().startswith("held")
    return proc


def test_lease_is_exclusive_across_processes_and_freed_when_the_holder_dies():
    holder = _holder(60)
    try:
        with pytest.raises(CoreBusy, match="busy with other evaluations"), lease_timing_core(timeout_sec=0.3):
            pass
    finally:
        holder.kill()  # SIGKILL: no cleanup code runs, the kernel drops the lock
        holder.wait()
    with lease_timing_core(timeout_sec=5) as lease:
        assert lease.core == timing_core()


def test_a_waiting_lease_gets_the_core_when_the_holder_finishes():
    holder = _holder(1.0)
    try:
        with lease_timing_core(timeout_sec=30) as lease:
            assert lease.waited_sec >= 0.5
    finally:
        holder.wait()


def test_one_core_means_no_split():
    code = ("import os; from autolab_mcp.core.cores import work_cores, timing_core; "
            "os.sched_setaffinity(0, {0}); print(work_cores(), timing_core())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["None", "0"]


@multi_core
def test_work_cores_leave_out_the_timing_core():
    cores = work_cores(1)
    assert cores is not None and timing_core() not in cores
    assert sorted([*cores, timing_core()]) == usable_cores()
    assert work_cores(len(usable_cores())) is None  # too few left for that CPU share: no restriction


def _allowed_cpus(request: ExecRequest) -> str:
    result = BwrapBackend().run(request)
    assert result.exit_code == 0, result.output_tail
    return result.output_tail.strip()


@multi_core
def test_unpinned_sandboxes_run_off_the_timing_core_and_pinned_ones_on_it():
    probe = "grep Cpus_allowed_list /proc/self/status | cut -f2"
    limits = Limits(wall_sec=10, cpus=1)
    uid = AGENT_UID if os.geteuid() == 0 else None
    with tempfile.TemporaryDirectory(dir="/tmp") as ws:
        os.chmod(ws, 0o755)
        unpinned = _allowed_cpus(ExecRequest(command=probe, workspace=Path(ws), limits=limits, uid=uid))
        pinned = _allowed_cpus(ExecRequest(command=probe, workspace=Path(ws), limits=limits, uid=uid,
                                           cpu=timing_core()))
    assert str(timing_core()) not in unpinned.replace("-", ",").split(",")
    assert pinned == str(timing_core())


@contextlib.contextmanager
def another_evaluation_holds_the_core(seconds: float) -> Iterator[None]:
    """Another episode's evaluation (a thread holding the lease) for `seconds` from entry."""
    held = threading.Event()

    def measure() -> None:
        with lease_timing_core():
            held.set()
            time.sleep(seconds)

    other = threading.Thread(target=measure)
    other.start()
    held.wait(10)
    try:
        yield
    finally:
        other.join()


def test_scorers_share_the_timing_core_one_evaluation_at_a_time(tmp_path: Path, timed_task_root: Path):
    """A second scorer (another episode's) waits for the core, reports how long, and answers 503
    (an uncharged "busy") when the wait exceeds its queue timeout."""
    task = find_task(str(timed_task_root))
    workspace = Workspace.create(tmp_path / "ws", task.environment_dir, task.config.autolab.editable,
                                 tmp_path / "store")
    _, archive = workspace.freeze()
    scorer = ScorerProcess(task.root, "bwrap", eval_timeout=120, queue_timeout=3)
    scorer.start()
    try:
        with lease_timing_core(), pytest.raises(ScorerUnavailable, match="busy"):
            scorer.client.evaluate("feedback", archive)

        with another_evaluation_holds_the_core(1.0):
            signed = scorer.client.evaluate("feedback", archive, timeout=120)
        assert signed.record.valid
        assert signed.record.queued_seconds >= 0.5
    finally:
        scorer.stop()


@pytest.mark.anyio
async def test_time_queued_for_the_timing_core_is_not_charged_to_the_wall_budget(make_episode):
    """Another episode's evaluation holds the core for 3 s: get_metric waits, says so, and the wait
    is given back to this episode's wall budget."""
    episode = make_episode("sorting_network_timed")
    async with connect(episode) as client:
        before = (await tool(client, "remaining_budget"))["wall_sec"]["used"]  # set-up on a busy host aside
        with another_evaluation_holds_the_core(3.0):
            started = time.monotonic()
            metric = await tool(client, "get_metric")
            elapsed = time.monotonic() - started
        wall_used = (await tool(client, "remaining_budget"))["wall_sec"]["used"] - before
    assert metric["valid"] and metric["queued_sec"] >= 2.0
    assert elapsed >= 2.5
    assert wall_used <= elapsed - metric["queued_sec"] + 1.0  # the queue wait is not on the agent's clock


def test_auto_submit_waits_for_credited_wall_seconds(make_episode):
    episode = make_episode(wall_sec=2.0)
    episode.start_wall_timer()
    time.sleep(1.0)
    episode.ledger.credit_wall(1.0)  # as if a metric had queued for a second
    time.sleep(1.6)  # past the original deadline: not submitted yet
    assert not episode.submitted
    deadline = time.monotonic() + 60
    while not episode.submitted and time.monotonic() < deadline:
        time.sleep(0.1)
    assert episode.submitted and episode.result.auto


@pytest.mark.anyio
async def test_pure_counting_tasks_never_queue_behind_timing(make_episode):
    """sorting_network counts comparators: its evaluation takes no timing core, so another episode
    holding the core for 10 s does not delay it at all."""
    episode = make_episode("sorting_network")
    assert not episode.task.needs_timing_core
    async with connect(episode) as client:
        await tool(client, "get_metric")  # the scorer's first evaluation (start-up, on a busy host) is not measured
        with another_evaluation_holds_the_core(10.0):
            started = time.monotonic()
            metric = await tool(client, "get_metric")
            elapsed = time.monotonic() - started
            assert elapsed < 8, "waited for the timing core"
    assert metric["valid"] and metric["queued_sec"] == 0


@pytest.mark.anyio
async def test_queued_time_is_given_back_on_submit_too(make_episode):
    episode = make_episode("sorting_network_timed")
    async with connect(episode) as client:
        with another_evaluation_holds_the_core(3.0):
            started = time.monotonic()
            result = await tool(client, "submit", {"wait_sec": 0})
            elapsed = time.monotonic() - started
        budget = await tool(client, "remaining_budget")
    assert result["status"] == "scored" and result["queued_sec"] >= 2.0
    assert budget["wall_sec"]["used"] <= elapsed - result["queued_sec"] + 1.0
