"""Tasks from anywhere: --tasks-dir and AUTOLAB_TASKS_DIR searched with the bundled tasks, broken tasks
listed with their reason, ambiguous names refused, Harbor task.tomls without our keys listed as they are."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autolab_mcp.core.taskdirs import TASKS_DIR_ENV, bundled_tasks_dir, discover, find_task, list_tasks, search_path
from autolab_mcp.core.taskspec import NO_EDITABLE, TaskSpecError

REPO = Path(__file__).resolve().parents[2]

HARBOR_PLAIN = """
schema_version = "1.0"
[task]
name = "someone/plain"
[metadata]
difficulty = "easy"
[optimization]
metric = "total_params"
direction = "lower"
[optimization.baseline]
score = 100
[optimization.reference]
score = 10
"""


def _copy_bundled(name: str, dest: Path) -> Path:
    shutil.copytree(bundled_tasks_dir() / name, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def _harbor_task(root: Path, toml: str = HARBOR_PLAIN) -> Path:
    for part in ("environment", "tests", "solution"):
        (root / part).mkdir(parents=True)
    (root / "instruction.md").write_text("Make it small.\n")
    (root / "task.toml").write_text(toml)
    return root


@pytest.fixture
def clean_env(monkeypatch):
    """AUTOLAB_TASKS_DIR unset, and restored after the test whatever the code under test set."""
    monkeypatch.setenv(TASKS_DIR_ENV, "")  # recorded, so teardown restores the original (unset) value
    monkeypatch.delenv(TASKS_DIR_ENV)


@pytest.fixture
def external(tmp_path, clean_env) -> Path:
    """A tasks directory with a working task, a broken one and a Harbor task without our keys."""
    root = tmp_path / "external"
    root.mkdir()
    _copy_bundled("sorting_network", root / "my_net")
    _harbor_task(root / "plain")
    bad = _harbor_task(root / "bad")
    (bad / "task.toml").write_text("[metadata\n")
    return root


def test_a_tasks_directory_is_searched_with_the_bundled_tasks_and_broken_tasks_carry_their_reason(external):
    entries = {e.name: e for e in discover(search_path([external]))}
    assert {"my_net", "plain", "bad", "sorting_network", "edit_distance"} <= set(entries)
    assert entries["bad"].task is None and "not valid TOML" in entries["bad"].problem
    assert entries["plain"].task.axis == "smaller" and entries["plain"].task.serve_problem() == NO_EDITABLE
    assert entries["my_net"].task.serve_problem() is None and not entries["my_net"].bundled
    assert entries["sorting_network"].bundled
    assert "bad" not in {t.name for t in list_tasks(search_path([external]))}


def test_the_environment_variable_is_a_list_and_a_missing_directory_is_named(tmp_path, external, monkeypatch):
    other = tmp_path / "other"
    _copy_bundled("edit_distance", other / "ed2")
    monkeypatch.setenv(TASKS_DIR_ENV, os.pathsep.join([str(external), str(other)]))
    assert find_task("ed2").root == (other / "ed2").resolve()
    assert find_task("my_net").name == "my_net"
    monkeypatch.setenv(TASKS_DIR_ENV, str(tmp_path / "typo"))
    with pytest.raises(TaskSpecError, match=r"tasks directory .*typo does not exist"):
        find_task("ed2")


def test_a_name_found_twice_is_ambiguous_and_a_path_still_works(tmp_path, clean_env):
    twin = _copy_bundled("sorting_network", tmp_path / "mine" / "sorting_network")
    with pytest.raises(TaskSpecError, match=r"ambiguous.*give the task's path"):
        find_task("sorting_network", search_path([tmp_path / "mine"]))
    assert find_task(str(twin)).root == twin.resolve()


def test_a_tasks_directory_may_be_one_task(tmp_path, clean_env):
    one = _copy_bundled("sorting_network", tmp_path / "solo")
    assert find_task("solo", search_path([one])).root == one.resolve()


def test_unknown_name_lists_what_is_known(external):
    with pytest.raises(TaskSpecError, match=r"no task named 'nope'.*known tasks: .*my_net"):
        find_task("nope", search_path([external]))


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != TASKS_DIR_ENV}
    return subprocess.run([sys.executable, "-m", "autolab_mcp.cli", *args], capture_output=True, text=True,
                          cwd=REPO, env={**base, **(env or {})}, timeout=120)


def test_tasks_command_lists_bundled_and_external_tasks_and_never_aborts_on_a_broken_one(external):
    listed = _cli("tasks", "--tasks-dir", str(external), "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows["bad"]["problem"].startswith(str(external / "bad" / "task.toml"))
    assert rows["plain"]["axis"] == "smaller" and "no editable files" in rows["plain"]["problem"]
    assert rows["my_net"]["problem"] is None and rows["my_net"]["scorable"]
    assert rows["sorting_network"]["bundled"] and not rows["my_net"]["bundled"]
    text = _cli("tasks", env={TASKS_DIR_ENV: str(external)})
    assert text.returncode == 0, text.stderr
    assert "BROKEN: " in text.stdout and "not servable: task.toml declares no editable files" in text.stdout
    assert "my_net" in text.stdout and "edit_distance" in text.stdout


def test_serve_refuses_a_task_without_editable_files_before_starting_anything(external, tmp_path):
    served = _cli("serve", "--tasks-dir", str(external), "--task", "plain", "--run-dir", str(tmp_path / "runs"))
    assert served.returncode == 2
    assert "task plain cannot be served: task.toml declares no editable files" in served.stderr
    assert not list((tmp_path / "runs").iterdir())


def test_eval_all_takes_every_servable_task_found_and_passes_the_directories_on(external):
    from clients.evalrun.cli import _tasks

    chosen = _tasks(argparse.Namespace(task="all", tasks_dir=[external], json=True))
    assert "my_net" in chosen and "sorting_network" in chosen
    assert "plain" not in chosen and "bad" not in chosen
    assert str(external.resolve()) in os.environ[TASKS_DIR_ENV].split(os.pathsep)  # servers it starts see them


def test_oracle_checks_an_external_task_through_the_real_scorer(external):
    checked = _cli("oracle", "--tasks-dir", str(external), "--task", "my_net", "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (report,) = json.loads(checked.stdout)
    assert report["ok"] and {c["kind"] for c in report["checks"]} == {"baseline", "reference", "broken"}
