"""What every task must do, checked over every task found: bundled, and each in $AUTOLAB_TASKS_DIR
(`AUTOLAB_TASKS_DIR=~/my-tasks make test-tasks` validates an author's tasks without touching the package).

A task loads and can be served; its instruction names each editable file; its reasons are fixed
phrases; tests/broken.diff applies to the baseline; through the real scorer the baseline scores about
0, the reference at least 0.9 and the broken submission fails the gate; the public check.py, run as an
agent runs it (an experiment in the episode's sandbox), agrees with the scorer on all three; and an
experiment cannot read the task's hidden tests/ or solution/.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from autolab_mcp.broken_case import broken_diff_path, broken_submission
from autolab_mcp.core.editable import editable_files
from autolab_mcp.core.taskdirs import TaskEntry, discover
from autolab_mcp.core.taskspec import Task
from autolab_mcp.episode import Episode
from autolab_mcp.fake_scorer import FakeScorer
from autolab_mcp.oracle import check_task
from scorer import reasons
from scorer.harness import load_evaluate_module
from tests.helpers import sandbox_backend

#: AUTOLAB_CONFORMANCE_EXTERNAL_ONLY=1 (`make test-tasks`): only the tasks outside the bundled directory
ENTRIES = [e for e in discover() if not (os.environ.get("AUTOLAB_CONFORMANCE_EXTERNAL_ONLY") and e.bundled)]


def _task(entry: TaskEntry) -> Task:
    assert entry.task is not None, f"{entry.root} does not load: {entry.problem}"
    return entry.task


def _each_task(test):
    return pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])(test)


@_each_task
def test_task_loads_and_is_complete(entry: TaskEntry, tmp_path: Path) -> None:
    task = _task(entry)
    assert task.serve_problem() is None and task.scorable, task.serve_problem()
    editable = task.config.autolab.editable
    baseline = editable_files(task.environment_dir, editable)
    assert baseline, "the baseline has no editable file"
    assert editable_files(task.solution_dir, editable) == baseline, "solution/ must replace exactly the editable files"
    assert broken_diff_path(task).is_file(), "tests/broken.diff is missing"
    assert editable_files(broken_submission(task, tmp_path / "broken"), editable) == baseline
    command = task.config.autolab.check_command
    if task.config.autolab.harbor is None:  # an imported Harbor task ships no public check
        assert command, "[autolab] check_command names the public check an agent runs"
        assert (task.environment_dir / command.split()[-1]).is_file() or command.split()[0] != "python"
    for glob in editable:
        assert not glob.startswith(("tests", "solution")), glob
    for rel in baseline:
        assert (task.solution_dir / rel).read_bytes() != (task.environment_dir / rel).read_bytes(), rel
    objective = task.optimization
    better = (objective.reference.score < objective.baseline.score if objective.direction == "lower"
              else objective.reference.score > objective.baseline.score)
    assert better, "the reference's declared score must beat the baseline's"
    assert "tests/" not in task.instruction, "the instruction must not point at the hidden side"
    assert not any(p.name.startswith(".") for p in task.environment_dir.rglob("*")), "no dotfiles in environment/"


@_each_task
def test_instruction_names_every_editable_file(entry: TaskEntry) -> None:
    task = _task(entry)
    missing = [rel for rel in editable_files(task.environment_dir, task.config.autolab.editable)
               if rel not in task.instruction]
    assert not missing, f"instruction.md never names {missing}"


@_each_task
def test_reasons_are_fixed_phrases(entry: TaskEntry) -> None:
    module = load_evaluate_module(_task(entry))
    task_reasons = getattr(module, "REASONS", None)
    assert isinstance(task_reasons, frozenset | set) and task_reasons, "evaluate.py declares REASONS"
    for phrase in task_reasons:
        assert isinstance(phrase, str) and phrase and reasons.phrases(phrase) == [phrase], phrase  # no separator


def _check_exit(episode: Episode, timeout_sec: float) -> int | None:
    info = episode.start_experiment(episode.task.config.autolab.check_command, timeout_sec=timeout_sec)
    info = episode.wait_experiment(info.id, wait_sec=timeout_sec + 30)
    assert info.status not in ("running", "queued"), info
    return info.exit_code


@pytest.mark.slow
@_each_task
def test_oracle_and_the_public_check_agree(entry: TaskEntry, tmp_path: Path) -> None:
    """The scorer: baseline ~0, reference >= 0.9, broken fails the gate. check.py in an experiment:
    passes on baseline and reference, fails on the broken submission, as the scorer judged them."""
    task = _task(entry)
    report = check_task(task)
    by_kind = {c.kind: c for c in report.checks}
    assert set(by_kind) == {"baseline", "reference", "broken"}, report
    problems = [f"{c.kind}: {c.problem} ({c.reason} {c.verdict})" for c in report.checks if not c.ok]
    assert not problems, problems
    if not task.config.autolab.check_command:
        return  # no public check to agree with (an imported Harbor task)
    timeout = task.config.autolab.experiment_timeout_sec
    episode = Episode.create(task, tmp_path / "runs", backend=sandbox_backend("bwrap"), scorer=FakeScorer())
    try:
        verdicts = {"baseline": _check_exit(episode, timeout) == 0}
        reference = editable_files(task.solution_dir, task.config.autolab.editable)
        for rel in reference:
            episode.write_file(rel, (task.solution_dir / rel).read_text())
        verdicts["reference"] = _check_exit(episode, timeout) == 0
        for rel in reference:
            episode.write_file(rel, (task.environment_dir / rel).read_text())
        episode.apply_patch(broken_diff_path(task).read_text())  # the agent's own tool takes the diff
        verdicts["broken"] = _check_exit(episode, timeout) == 0
    finally:
        episode.close()
    scorer_says = {kind: bool(check.valid) for kind, check in by_kind.items()}
    assert verdicts == scorer_says, f"check.py passed {verdicts}; the scorer found valid {scorer_says}"


@_each_task
def test_an_experiment_cannot_read_the_hidden_files(entry: TaskEntry, tmp_path: Path) -> None:
    task = _task(entry)
    hidden = [task.tests_dir / "evaluate.py", *sorted(p for p in task.solution_dir.rglob("*") if p.is_file())[:3]]
    probe = "; ".join(f"cat {p} >/dev/null 2>&1 && echo READ {p.name}" for p in hidden)
    probe += f"; ls {task.root} 2>/dev/null | grep -x -e tests -e solution; true"
    episode = Episode.create(task, tmp_path / "runs", backend=sandbox_backend("bwrap"), scorer=FakeScorer())
    try:
        info = episode.start_experiment(probe, timeout_sec=30)
        info = episode.wait_experiment(info.id, wait_sec=60)
        assert info.exit_code == 0, info
        log = (episode.run_dir / info.log_file).read_text(errors="replace")
    finally:
        episode.close()
    assert "READ" not in log and "tests" not in log.split() and "solution" not in log.split(), log
    assert shutil.which("bwrap")
