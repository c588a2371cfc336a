"""Episode, budget, MCP tools, resume and refusal paths on fakes (FakeBackend, FakeScorer): no
bubblewrap, no scorer process, milliseconds per call. The same paths run on real sandboxes and a
real scorer in tests/server/test_mcp_tools.py, test_episode_faults.py and the attack suite; these pin
the episode's own rules where a slow real run would hide them."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import anyio
import pytest

from autolab_mcp.core.sandbox.base import ExecRequest, SandboxError
from autolab_mcp.core.sandbox.fake import FakeBackend, FakeCommand
from autolab_mcp.core.taskdirs import find_task
from autolab_mcp.episode import BudgetOverrides, Episode, EpisodeError
from autolab_mcp.fake_scorer import FakeScore, FakeScorer
from autolab_mcp.scorer_client import ScorerRejected, ScorerUnavailable
from tests.helpers import connect, refused, tool

pytestmark = pytest.mark.anyio

TASK = "sorting_network"
EDITABLE = "network.py"


def commands(request: ExecRequest) -> FakeCommand:
    """What the fake sandbox does with each command these tests send."""
    command = request.command
    if command.startswith("sleep "):
        return FakeCommand(output="started\n", duration=float(command.split()[1]))
    if command == "tune":
        return FakeCommand(output="tuned\n", duration=0.01, files={EDITABLE: "# tuned by an experiment\n"})
    if command == "fail":
        return FakeCommand(exit_code=3, output="boom\n")
    if command == "broken sandbox":
        raise SandboxError("no such mount")
    if command == "bug":
        raise KeyError("candidate-chosen-value")
    return FakeCommand(output=f"ran {command}\n")


@pytest.fixture
def scorer() -> FakeScorer:
    return FakeScorer(lambda split, files: FakeScore(metric=7.0, score=0.25 if split == "feedback" else 0.5))


@pytest.fixture
def episode(tmp_path: Path, scorer: FakeScorer):
    made: list[Episode] = []

    def make(**overrides: object) -> Episode:
        ep = Episode.create(find_task(TASK), tmp_path / "runs", backend=FakeBackend(commands), backend_name="fake",
                            scorer=scorer, overrides=BudgetOverrides(**overrides))
        made.append(ep)
        return ep

    yield make
    for ep in made:
        ep.close()


async def test_experiment_runs_and_is_charged_what_it_ran(episode):
    ep = episode()
    async with connect(ep) as client:
        out = await tool(client, "run_experiment", {"command": "sleep 0.2", "wait_sec": 5})
        assert out["status"] == "finished" and out["exit_code"] == 0 and "started" in out["output_tail"]
        budget = await tool(client, "remaining_budget")
    assert budget["experiments"]["used"] == 1
    assert budget["compute_sec"]["used"] == pytest.approx(0.2, abs=0.05)
    assert budget["compute_sec"]["reserved"] == 0


async def test_an_experiment_that_changes_editable_files_makes_a_snapshot(episode):
    ep = episode()
    async with connect(ep) as client:
        out = await tool(client, "run_experiment", {"command": "tune", "wait_sec": 5})
        assert out["snapshot_after"]
        history = await tool(client, "history")
    assert [s["id"] for s in history["snapshots"]][-1] == out["snapshot_after"]
    assert (ep.workspace.root / EDITABLE).read_text() == "# tuned by an experiment\n"


async def test_poll_then_cancel_charges_only_the_seconds_it_ran(episode):
    ep = episode()
    async with connect(ep) as client:
        started = await tool(client, "run_experiment", {"command": "sleep 30", "wait_sec": 0})
        assert started["status"] == "running"
        await anyio.sleep(0.3)
        cancelled = await tool(client, "cancel_experiment", {"id": started["id"]})
        again = await tool(client, "cancel_experiment", {"id": started["id"]})  # idempotent
        budget = await tool(client, "remaining_budget")
    assert cancelled["status"] == "killed" and cancelled["killed_by"] == "cancel"
    assert again["status"] == "killed"
    assert 0.2 < budget["compute_sec"]["used"] < 5


async def test_refusals_say_what_is_allowed_and_charge_nothing(episode):
    ep = episode(experiments=1)
    async with connect(ep) as client:
        assert "command is empty" in await refused(client, "run_experiment", {"command": "  "})
        assert "less than or equal" in await refused(client, "run_experiment", {"command": "x", "timeout_sec": 10_000})
        assert "could not start: no such mount" in await refused(client, "run_experiment",
                                                                 {"command": "broken sandbox"})
        assert "not editable" in await refused(client, "write_file", {"path": "check.py", "content": "x"})
        assert "no experiment" in await refused(client, "experiment_status", {"id": "exp-9999"})
        with pytest.raises(EpisodeError, match="at most 300 for this task"):  # below the schema: the task's cap
            ep.start_experiment("x", 301)
        before = await tool(client, "remaining_budget")
        assert before["experiments"]["used"] == 0 and before["score_calls"]["used"] == 0
        await tool(client, "run_experiment", {"command": "fail", "wait_sec": 5})
        assert "experiments are used" in await refused(client, "run_experiment", {"command": "echo"})
        after = await tool(client, "remaining_budget")
    assert after["experiments"]["used"] == 1


async def test_a_fault_of_ours_is_an_internal_error_not_a_refusal(episode):
    """A bug (here a KeyError from the sandbox layer) reaches the agent as an internal error without
    its text, charges nothing, and is logged as such."""
    ep = episode()
    async with connect(ep) as client:
        text = await refused(client, "run_experiment", {"command": "bug"})
        budget = await tool(client, "remaining_budget")
    assert "internal error" in text and "candidate-chosen-value" not in text and "KeyError" not in text
    assert budget["experiments"]["used"] == 0 and budget["compute_sec"]["reserved"] == 0
    errors = [e for e in ep.log.read() if e.get("kind") == "tool" and not e["ok"]]
    assert errors[-1]["error"] == "internal error"


async def test_metric_is_charged_and_a_failed_evaluation_refunded(episode, scorer):
    ep = episode()
    async with connect(ep) as client:
        out = await tool(client, "get_metric")
        assert out["score"] == 0.25 and out["valid"] is True and out["split"] == "feedback"
        scorer.handler = lambda split, files: (_ for _ in ()).throw(ScorerUnavailable("down for a moment"))
        assert "unavailable" in await refused(client, "get_metric")
        scorer.handler = lambda split, files: (_ for _ in ()).throw(ScorerRejected("archive too large"))
        assert "refused the submission: archive too large" in await refused(client, "get_metric")
        budget = await tool(client, "remaining_budget")
    assert budget["score_calls"]["used"] == 1
    assert [c.split for c in scorer.calls] == ["feedback"] * 3
    assert EDITABLE in scorer.calls[0].files


async def test_experiments_freeze_while_the_episode_is_evaluated(episode, scorer):
    ep = episode()
    scorer.hold()
    async with connect(ep) as client:
        running = await tool(client, "run_experiment", {"command": "sleep 30", "wait_sec": 0})
        pending = await client.call_tool("get_metric", {"wait_sec": 0})
        assert pending.structured_content["status"] == "pending"
        assert scorer.waiting.acquire(timeout=5)
        frozen = await tool(client, "experiment_status", {"id": running["id"]})
        assert frozen["frozen"] is True
        scorer.release()
        done = await tool(client, "score_status", {"id": pending.structured_content["id"], "wait_sec": 10})
        thawed = await tool(client, "experiment_status", {"id": running["id"]})
        await tool(client, "cancel_experiment", {"id": running["id"]})
    assert done["status"] != "pending" and done["score"] == 0.25
    assert thawed["frozen"] is False


async def test_submit_ends_the_episode_and_writes_the_result(episode):
    ep = episode()
    async with connect(ep) as client:
        await tool(client, "write_file", {"path": EDITABLE, "content": "# mine\n"})
        result = await tool(client, "submit")
        assert result["split"] == "final" and result["score"] == 0.5
        assert "has ended" in await refused(client, "write_file", {"path": EDITABLE, "content": "# later\n"})
        assert "already submitted" in await refused(client, "submit")
        listing = await tool(client, "list_files")  # reads still work
    assert ep.paths.read_final_record()["score"] == 0.5
    assert any(e["path"] == EDITABLE for e in listing["entries"])


def crash(ep: Episode) -> None:
    """What a killed server leaves: the run directory as it was, the lock released by the kernel."""
    ep.submission.stop_wall_timer()
    os.close(ep._lock_fd)
    ep._lock_fd = None


def test_resume_settles_an_interrupted_experiment_and_refunds_an_interrupted_metric(episode, scorer, tmp_path):
    ep = episode()
    info = ep.start_experiment("sleep 30")
    time.sleep(1.5)  # the watcher noted progress after 1 s (then every 2 s): the crash loses the rest
    scorer.hold()
    job = ep.start_metric()
    assert scorer.waiting.acquire(timeout=5)
    crash(ep)
    resumed = Episode.resume(ep.run_dir, backend=FakeBackend(commands), scorer=FakeScorer())
    try:
        settled = resumed.experiment(info.id)
        assert settled.status == "interrupted" and settled.seconds >= 0.9
        budget = resumed.budget()
        assert budget.experiments.used == 1 and budget.compute_sec.reserved == 0
        assert budget.score_calls.used == 0  # the interrupted feedback call was refunded
        kinds = [e["kind"] for e in resumed.log.read()]
        assert "score_interrupted" in kinds and kinds[-1] == "episode_resumed"
        assert resumed.start_metric().id != job.id  # job ids continue past the interrupted one
    finally:
        scorer.release()
        resumed.close()
        ep.experiment_runner.kill_running("shutdown", wait_sec=3)


def test_a_second_server_on_one_run_is_refused(episode):
    ep = episode()
    with pytest.raises(EpisodeError, match="already being served"):
        Episode.resume(ep.run_dir, backend=FakeBackend(commands), scorer=FakeScorer())


def test_parallel_experiments_never_overspend_the_budget(episode):
    ep = episode(experiments=5)
    outcomes: list[str] = []

    def start() -> None:
        try:
            outcomes.append(ep.start_experiment("sleep 0.05").id)
        except EpisodeError:
            outcomes.append("refused")

    threads = [threading.Thread(target=start) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("refused") == 7 and len(set(outcomes) - {"refused"}) == 5
    for exp_id in set(outcomes) - {"refused"}:
        assert ep.wait_experiment(exp_id, 5).status == "finished"
    assert ep.budget().experiments.used == 5
