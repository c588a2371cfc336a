"""`autolab-mcp eval`: episodes in parallel over stdio, signed results, report, curves, trajectories, replay."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from clients.agents.trajectory import SCHEMA_VERSION, calls_of, load_trajectory
from clients.evalrun import (
    EpisodeOutcome,
    LiveTable,
    Progress,
    budget_used,
    build_report,
    mean_ci,
    replay,
    report_markdown,
    run_one,
    t975,
)
from tests.helpers import REPO

TASK = "sorting_network"


# -- pure parts ------------------------------------------------------------------------------------


def test_t_interval():
    assert t975(1) == 12.706 and t975(9) == 2.262 and t975(1000) == 1.96
    mean, ci = mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0 and ci is not None
    assert ci[0] == pytest.approx(2.0 - 4.303 * 1.0 / 3 ** 0.5) and ci[1] == pytest.approx(2.0 + 4.303 / 3 ** 0.5)
    assert mean_ci([0.5]) == (0.5, None)
    assert mean_ci([]) == (None, None)


def test_budget_used_is_the_tightest_kind():
    report = {"wall_sec": {"limit": 100, "used": 10}, "compute_sec": {"limit": 50, "used": 25},
              "experiments": {"limit": 10, "used": 1}, "score_calls": {"limit": 4, "used": 1}}
    assert budget_used(report) == (0.5, "compute_sec")
    assert budget_used(None) == (0.0, "wall_sec")


def test_report_counts_a_failed_episode_as_zero_and_lists_weak_tasks():
    outcomes = [
        EpisodeOutcome(episode_id="a0", task=TASK, agent="scripted", seed=0, status="submitted", score=1.0,
                       metric=41.0, valid=True, experiments=1, score_calls=1, budget_used=0.03),
        EpisodeOutcome(episode_id="a1", task=TASK, agent="scripted", seed=1, error="server died"),
    ]
    report = build_report(outcomes, agent="scripted", seeds=[0, 1], parallel=2, elapsed=3.0)
    task = report["tasks"][TASK]
    assert task["scores"] == [1.0, None] and task["mean"] == 0.5 and task["ci95"] is not None
    assert task["errors"] == ["seed 1: server died"] and task["raw_metrics"] == [41.0, None]
    assert report["overall"]["below_threshold"] == [TASK] and report["overall"]["submitted"] == 1
    assert "Student t" in report["interval_method"]
    md = report_markdown(report, "curves.png")
    assert f"| {TASK} | smaller | 1.000, - | 0.500 |" in md and "![best feedback" in md


def test_live_table_without_a_terminal_prints_changes_only():
    stream = io.StringIO()
    table = LiveTable(stream)
    table.start()
    p = Progress(episode_id="e", task=TASK, seed=0)
    table.update(p)
    table.update(p.model_copy(update={"calls": 3}))  # nothing notable: no line
    table.update(p.model_copy(update={"status": "running", "best_score": 0.5, "budget_used": 0.25,
                                      "budget_kind": "score_calls", "last_call": "get_metric"}))
    table.stop()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("task") and len(lines) == 3
    assert "25.0% score_calls" in lines[2] and "0.500" in lines[2]


# -- whole batches ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> tuple[Path, dict]:
    """The acceptance command, small: one task, two seeds, two at a time, over the real CLI."""
    out = tmp_path_factory.mktemp("eval")
    proc = subprocess.run(
        [sys.executable, "-m", "autolab_mcp.cli", "eval", "--task", TASK, "--agent", "scripted", "--seeds", "2",
         "--parallel", "2", "--out", str(out), "--json"],
        capture_output=True, text=True, cwd=REPO, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.strip() == "", "--json is quiet on stderr"
    return out, json.loads(proc.stdout)


@pytest.mark.slow
def test_eval_report(batch):
    out, report = batch
    assert json.loads((out / "report.json").read_text()) == report
    task = report["tasks"][TASK]
    assert task["seeds"] == [0, 1] and task["n"] == 2
    assert all(s >= 0.9 for s in task["scores"]) and task["mean"] >= 0.9
    assert task["ci95"] is not None and task["experiments_mean"] == 1 and task["score_calls_mean"] == 1
    assert task["raw_metrics"] == [41.0, 41.0]
    assert 0 < task["budget_used_mean"] < 1
    overall = report["overall"]
    assert overall["episodes"] == 2 and overall["submitted"] == 2 and overall["signatures_ok"] == 2
    assert overall["mean"] >= 0.9 and overall["below_threshold"] == []
    md = (out / "report.md").read_text()
    assert "| task | axis | score per seed | mean | 95% CI |" in md and TASK in md
    if report["curves"]:
        assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        pytest.skip(f"no curves.png: {report['curves_note']}")


@pytest.mark.slow
def test_episodes_do_not_interfere(batch):
    out, report = batch
    episodes = report["episodes"]
    run_dirs = {e["run_dir"] for e in episodes}
    assert len(run_dirs) == 2 and all(str(out / "runs") in d for d in run_dirs)
    for e in episodes:
        run = Path(e["run_dir"])
        assert e["status"] == "submitted" and e["signature_ok"] and e["submitted_by"] == "agent"
        assert e["experiments"] == 1 and e["score_calls"] == 1, "each episode has its own budget"
        result = json.loads((run / "result.json").read_text())
        assert result["record"]["score"] == e["score"]
        assert (out / "logs" / f"{e['episode_id']}.server.log").read_text().startswith("autolab-mcp: run")
        assert e["curve"][0]["kind"] == "metric" and e["curve"][-1]["kind"] == "final"
    starts = sorted(json.loads(Path(e["trajectory"]).read_text())["extra"]["started_at"] for e in episodes)
    finishes = sorted(json.loads(Path(e["trajectory"]).read_text())["extra"]["finished_at"] for e in episodes)
    assert starts[1] < finishes[0], "the two episodes ran at the same time"


@pytest.mark.slow
def test_trajectory_format(batch):
    _out, report = batch
    path = Path(report["episodes"][0]["trajectory"])
    doc = load_trajectory(path)
    assert doc["schema_version"] == SCHEMA_VERSION and doc["agent"]["name"] == "scripted"
    assert [s["step_id"] for s in doc["steps"]] == list(range(1, len(doc["steps"]) + 1))
    calls = calls_of(doc)
    names = [c["function_name"] for c in calls]
    assert names == ["resources/read", "list_files", "read_file", "apply_patch", "run_experiment", "get_metric",
                     "remaining_budget", "submit"]
    for call in calls:
        assert call["ok"] and call["started_at"] <= call["finished_at"] and call["content"]
        assert call["budget_after"]["score_calls"]["limit"] == 30
    metric = next(c for c in calls if c["function_name"] == "get_metric")
    assert metric["structured_content"]["score"] >= 0.9 and metric["budget_after"]["score_calls"]["used"] == 1
    assert doc["extra"]["result"]["signature_ok"] is True


@pytest.mark.slow
def test_trajectory_replays(batch, tmp_path):
    _out, report = batch
    path = report["episodes"][1]["trajectory"]
    proc = subprocess.run([sys.executable, "-m", "clients.evalrun", "replay", path, "--out", str(tmp_path), "--json"],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["ok"] and result["mismatched"] == 0 and result["matched"] == 8
    assert result["recorded_score"] == result["replayed_score"] == 1.0
    assert Path(result["run_dir"], "result.json").exists() and result["run_dir"].startswith(str(tmp_path))


@pytest.mark.slow
def test_replay_reports_a_changed_outcome(batch, tmp_path):
    _out, report = batch
    doc = json.loads(Path(report["episodes"][0]["trajectory"]).read_text())
    read = next(c for s in doc["steps"] for c in s.get("tool_calls", []) if c["function_name"] == "read_file")
    read["arguments"] = {"path": "no/such/file.py"}  # recorded ok, fails on replay
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(doc))
    result = replay(tampered, tmp_path / "replay")
    assert not result.ok and result.mismatched == 1
    bad = next(c for c in result.calls if c.problem)
    assert bad.function_name == "read_file" and bad.ok_recorded and not bad.ok_replayed


@pytest.mark.slow
def test_run_one_reports_progress(tmp_path):
    updates: list[Progress] = []
    outcome = run_one(TASK, "scripted", 5, tmp_path, progress=updates.append)
    assert outcome.status == "submitted" and outcome.seed == 5 and outcome.episode_id == f"{TASK}__scripted__s5"
    assert (tmp_path / "episodes" / f"{outcome.episode_id}.json").exists()
    statuses = [u.status for u in updates]
    assert statuses[0] == "starting" and statuses[-1] == "done" and "running" in statuses
    assert any(u.best_score is not None and u.best_score >= 0.9 for u in updates)
    assert updates[-1].final_score == outcome.score and updates[-1].calls == 8
    with pytest.raises(FileExistsError):  # a used output directory is refused, not mixed
        run_one(TASK, "scripted", 5, tmp_path)


# -- isolation and review marks -----------------------------------------------------------------------


def test_eval_refuses_weak_isolation_unless_allowed(tmp_path):
    """Not root: no cpuset, freezer or lock filter, so scores could be skewed by a concurrent experiment;
    eval says why and stops before running anything, unless --allow-weak-isolation is given."""
    import os
    import shutil
    import sysconfig

    if shutil.which("setpriv") is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv (util-linux) to run as an unprivileged user")
    # the venv's interpreter may live under /root; the system one of the same version reads the venv's packages
    python = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    if not os.access(python, os.X_OK):
        pytest.skip(f"{python} is needed to run the CLI as another user")
    out = tmp_path / "out"
    tmp_path.chmod(0o777)
    path = os.pathsep.join([sysconfig.get_paths()["purelib"], str(REPO)])
    command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env", f"HOME={tmp_path}",
               f"PYTHONPATH={path}", python, "-m", "autolab_mcp.cli", "eval", "--task", TASK, "--out", str(out)]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False)
    if "Permission denied" in proc.stderr or "No module named" in proc.stderr:
        pytest.skip(f"the checkout is not readable by an unprivileged user here: {proc.stderr[-200:]}")
    assert proc.returncode == 2, proc.stderr
    assert "weak isolation" in proc.stderr and "--allow-weak-isolation" in proc.stderr
    assert "not root" in proc.stderr and not out.exists(), "nothing ran"


def test_report_marks_weak_isolation_and_results_that_need_review():
    outcomes = [
        EpisodeOutcome(episode_id="a", task=TASK, agent="scripted", seed=0, status="submitted", score=1.0,
                       signature_ok=True, isolation="weak"),
        EpisodeOutcome(episode_id="b", task=TASK, agent="scripted", seed=1, status="submitted", score=3.0,
                       signature_ok=True, isolation="strong", review=["metric 12 is below 39"]),
    ]
    report = build_report(outcomes, agent="scripted", seeds=[0, 1], parallel=1, elapsed=1.0)
    assert report["overall"]["weak_isolation"] == 1 and report["overall"]["needs_review"] == 1
    assert report["tasks"][TASK]["needs_review"] == [1]
    md = report_markdown(report, None)
    assert "**Weak isolation**: 1 episode(s)" in md and "**Needs review**: 1 result(s)" in md
    assert "| b | submitted |" in md and "NEEDS REVIEW" in md.split("| b | submitted |")[1].split("\n")[0]
