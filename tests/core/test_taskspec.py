"""task.toml loading: Harbor keys as they are, our [autolab] section, clear errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from autolab_mcp.core.taskspec import TaskSpecError, find_task, list_tasks, load_task

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
    assert task.config.autolab.editable == ["**"]
    assert not task.scorable  # no tests/evaluate.py: loads, but our scorer cannot score it


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
    with pytest.raises(TaskSpecError, match=r"bundled tasks: .*sorting_network"):
        find_task("no_such_task")


def test_bundled_tasks_load_and_are_scorable():
    tasks = list_tasks()
    assert {"sorting_network", "edit_distance"} <= {t.name for t in tasks}
    for task in tasks:
        assert task.scorable, task.name
        assert task.config.autolab.editable
        for glob in task.config.autolab.editable:
            assert not glob.startswith("tests") and not glob.startswith("solution")
