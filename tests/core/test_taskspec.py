"""task.toml loading: Harbor keys as they are, our [autolab] section, clear errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from autolab_mcp.core.taskdirs import bundled_tasks_dir, find_task, list_tasks
from autolab_mcp.core.taskspec import NO_EDITABLE, NO_OBJECTIVE, TaskSpecError, infer_axis, load_task

HARBOR_TOML = """
version = "1.0"
[metadata]
axis = "faster"
tags = ["python"]
author = "someone"            # unknown keys are kept
[agent]
timeout_sec = 1800
[environment]
cpus = 1
memory_mb = 1024
[optimization]
metric = "runtime_seconds"
direction = "lower"
[optimization.baseline]
score = 2.0
method = "naive"
[optimization.reference]
score = 0.5
"""


def make_task(tmp_path: Path, toml: str) -> Path:
    root = tmp_path / "t"
    for d in ("environment", "tests", "solution"):
        (root / d).mkdir(parents=True)
    (root / "instruction.md").write_text("# do it\n")
    (root / "task.toml").write_text(toml)
    return root


def test_harbor_task_loads_with_defaults_and_keeps_unknown_keys(tmp_path):
    task = load_task(make_task(tmp_path, HARBOR_TOML))
    assert task.config.agent.timeout_sec == 1800
    assert task.config.metadata.model_extra == {"author": "someone"}
    assert task.config.autolab.editable == []  # nothing editable until declared: never the harness by default
    assert task.serve_problem() == NO_EDITABLE
    assert not task.scorable  # no tests/evaluate.py: loads, but our scorer cannot score it


AUTOLAB_TOML = """
schema_version = "1.1"
[task]
name = "autolab/golf"
[metadata]
author = "someone"
difficulty = "hard"
[verifier]
timeout_sec = 900
[environment]
network_mode = "no-network"
[optimization]
metric = "total_params"
direction = "lower"
[optimization.baseline]
score = 1000
[optimization.reference]
score = 100
"""


def test_an_autolab_task_without_any_key_of_ours_loads_and_its_axis_is_inferred(tmp_path):
    task = load_task(make_task(tmp_path, AUTOLAB_TOML))
    assert task.config.metadata.axis is None and task.axis == "smaller"
    assert task.config.version == "1.1"
    assert task.optimization.metric == "total_params"
    assert task.serve_problem() == NO_EDITABLE


def test_a_plain_harbor_task_loads_but_says_it_has_nothing_to_score_against(tmp_path):
    toml = AUTOLAB_TOML.split("[optimization]")[0] + '[autolab]\neditable = ["solve.py"]\n'
    task = load_task(make_task(tmp_path, toml))
    assert task.axis is None
    assert task.serve_problem() == NO_OBJECTIVE
    with pytest.raises(TaskSpecError, match=r"no \[optimization\] section"):
        _ = task.optimization


@pytest.mark.parametrize(("metric", "direction", "axis"), [
    ("runtime_seconds", "lower", "faster"), ("speedup", "higher", "faster"), ("total_params", "lower", "smaller"),
    ("comparators", "lower", "smaller"), ("bits_per_byte", "lower", "smarter"), ("accuracy", "higher", "smarter"),
    ("metric", "lower", None), ("speedup", "lower", None),
])
def test_axis_inference_reads_the_metric_and_its_direction(metric, direction, axis):
    assert infer_axis(metric, direction) == axis


def test_a_declared_axis_wins_over_the_inferred_one(tmp_path):
    task = load_task(make_task(tmp_path, HARBOR_TOML.replace('axis = "faster"', 'axis = "smarter"')))
    assert task.axis == "smarter"


def test_autolab_section(tmp_path):
    toml = HARBOR_TOML + '[autolab]\neditable = ["solve.py"]\nscale = "log"\n[autolab.budget]\nscore_calls = 7\n'
    task = load_task(make_task(tmp_path, toml))
    assert task.config.autolab.editable == ["solve.py"]
    assert task.config.autolab.budget.score_calls == 7
    assert task.config.autolab.budget.compute_sec == 1200  # default kept


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda t: t.replace('direction = "lower"', 'direction = "down"'), "optimization.direction"),
        (lambda t: t.replace('axis = "faster"', 'axis = "quicker"'), "metadata.axis"),
        (lambda t: t.replace("[optimization.reference]\nscore = 0.5", ""), "optimization.reference"),
        (lambda t: t + '[autolab]\neditable = ["../x"]\n', "autolab.editable"),
        (lambda t: t + "[environment.x\n", "not valid TOML"),
        (lambda t: t.replace("cpus = 1", 'cpus = 1\nnetwork_mode = "public"'), "environment.network_mode"),
        (lambda t: t.replace("memory_mb = 1024", "memory_mb = -5"), "environment.memory_mb"),
    ],
)
def test_broken_task_names_file_and_key(tmp_path, mutate, expected):
    root = make_task(tmp_path, mutate(HARBOR_TOML))
    with pytest.raises(TaskSpecError) as info:
        load_task(root)
    message = str(info.value)
    assert "task.toml" in message and expected in message


def test_missing_directory_is_named(tmp_path):
    root = make_task(tmp_path, HARBOR_TOML)
    shutil.rmtree(root / "solution")
    with pytest.raises(TaskSpecError, match=r"solution.*missing"):
        load_task(root)


def test_unknown_bundled_task_lists_known_ones():
    with pytest.raises(TaskSpecError, match=r"known tasks: .*sorting_network"):
        find_task("no_such_task")


def test_bundled_tasks_load_and_are_scorable():
    tasks = list_tasks([bundled_tasks_dir()])
    assert {"sorting_network", "edit_distance"} <= {t.name for t in tasks}
    for task in tasks:
        assert task.scorable, task.name
        assert task.config.autolab.editable
        for glob in task.config.autolab.editable:
            assert not glob.startswith("tests") and not glob.startswith("solution")


@pytest.mark.parametrize(("workdir", "ok"), [("/app", True), ("/srv/task", True), ("/workspace", True),
                                              ("/usr/app", False), ("/tmp", False), ("app", False), ("/", False)])
def test_a_task_may_keep_its_own_workdir_clear_of_the_sandbox_dirs(tmp_path, workdir, ok):
    root = make_task(tmp_path, HARBOR_TOML + f'[autolab]\nworkdir = "{workdir}"\n')
    if ok:
        assert load_task(root).config.autolab.workdir == workdir
    else:
        with pytest.raises(TaskSpecError, match=r"autolab\.workdir"):
            load_task(root)
