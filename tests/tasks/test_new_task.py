"""`autolab-mcp new-task`: every axis's scaffold passes the oracle as generated, and bad requests are refused.

The scaffold is the author's starting point, so it must be a working task before anyone touches it:
through the real CLI and the real scorer (bwrap sandboxes), the baseline passes and scores ~0, the
reference in solution/ scores >= 0.9, and tests/broken.diff fails the gate with a reason. The cheap
checks (refusals, fixed-phrase reasons, TODO markers, the public data matching its generator) run
without a scorer.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from autolab_mcp.core.taskspec import load_task
from autolab_mcp.new_task import AXES, TODO_MARKER, NewTaskError, check_name
from scorer import reasons
from scorer.harness import load_evaluate_module, load_rules_module
from tests.tasks.helpers import module_from

ROOT = Path(__file__).resolve().parents[2]
RULES_MODULES = {"faster": "prime_rules.py", "smarter": "predict_rules.py", "smaller": "expr_rules.py"}


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "autolab_mcp.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def new_task(out: Path, name: str, axis: str) -> Path:
    run = cli("new-task", name, "--axis", axis, "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert f"autolab-mcp oracle --task {out / name}" in run.stdout
    assert f"autolab-mcp tasks --tasks-dir {out}" in run.stdout
    return out / name


@pytest.fixture(scope="module")
def scaffolds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("new-tasks")
    return {axis: new_task(out, f"my_{axis}_task", axis) for axis in AXES}


# --------------------------------------------------------------------------- the oracle


@pytest.mark.slow
@pytest.mark.parametrize("axis", AXES)
def test_the_scaffold_passes_the_oracle(scaffolds: dict[str, Path], axis: str) -> None:
    run = cli("oracle", "--task", str(scaffolds[axis]), "--json", timeout=280)
    reports = json.loads(run.stdout)
    assert len(reports) == 1 and reports[0]["axis"] == axis, run.stdout
    checks = {check["kind"]: check for check in reports[0]["checks"]}
    assert set(checks) == {"baseline", "reference", "broken"}, checks
    assert all(check["ok"] for check in checks.values()), json.dumps(checks, indent=1)
    assert run.returncode == 0, run.stderr[-2000:]
    assert checks["broken"]["valid"] is False and checks["broken"]["reason"] != reasons.FALLBACK


# --------------------------------------------------------------------------- what is generated


@pytest.mark.parametrize("axis", AXES)
def test_the_scaffold_is_a_servable_task(scaffolds: dict[str, Path], axis: str) -> None:
    task = load_task(scaffolds[axis])
    assert task.axis == axis and task.serve_problem() is None and task.scorable
    assert len(task.config.autolab.editable) == 1
    editable = task.config.autolab.editable[0]
    assert (task.environment_dir / editable).is_file() and (task.solution_dir / editable).is_file()
    assert task.config.autolab.check_command == "python check.py"
    assert f"`{editable}`" in task.instruction and task.optimization.metric in task.instruction
    assert (task.tests_dir / "broken.diff").read_text().startswith(f"--- a/{editable}\n+++ b/{editable}\n")
    for path in task.root.rglob("*"):
        if path.is_file() and path.suffix != ".csv":
            assert "${" not in path.read_text() and not path.name.endswith(".tmpl"), path


@pytest.mark.parametrize("axis", AXES)
def test_todo_markers_show_the_author_what_to_decide(scaffolds: dict[str, Path], axis: str) -> None:
    root = scaffolds[axis]
    for rel in ("task.toml", "instruction.md", "tests/evaluate.py", f"environment/{RULES_MODULES[axis]}"):
        assert TODO_MARKER in (root / rel).read_text(), rel


def _rule_reasons(rules: ModuleType, source: str) -> set[str]:
    """Every reason the rules module raises: the first argument of each RuleError(...), evaluated."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "RuleError" and node.args:
            found.add(eval(compile(ast.Expression(node.args[0]), "<reason>", "eval"), vars(rules)))
    return found


@pytest.mark.parametrize("axis", AXES)
def test_reasons_are_fixed_phrases_the_evaluation_declares(scaffolds: dict[str, Path], axis: str) -> None:
    task = load_task(scaffolds[axis])
    evaluate = load_evaluate_module(task)
    rules_path = task.environment_dir / RULES_MODULES[axis]
    rules = load_rules_module(str(task.tests_dir / "evaluate.py"), rules_path.name)
    declared = frozenset(evaluate.REASONS)
    assert rules.REASONS.issubset(declared)
    raised = _rule_reasons(rules, rules_path.read_text())
    assert raised, "the rules module raises no RuleError"
    for reason in raised:
        assert all(phrase in declared | reasons.GENERIC for phrase in reasons.phrases(reason)), reason
    assert not any(": " in phrase or "; " in phrase for phrase in declared)


def test_the_public_training_set_is_what_its_generator_makes(scaffolds: dict[str, Path]) -> None:
    root = scaffolds["smarter"]
    data = module_from(root / "tests" / "make_data.py", "_new_task_make_data")
    shipped = (root / "environment" / "data" / "train.csv").read_text()
    assert shipped == data.to_csv(*data.draw(data.PUBLIC_SEED, data.TRAIN_ROWS))


def test_the_scaffolds_are_listed(scaffolds: dict[str, Path]) -> None:
    run = cli("tasks", "--tasks-dir", str(scaffolds["faster"].parent), "--json")
    rows = {row["name"]: row for row in json.loads(run.stdout)}
    for axis, root in scaffolds.items():
        assert rows[root.name]["axis"] == axis and rows[root.name]["problem"] is None, rows[root.name]


# --------------------------------------------------------------------------- refusals


def _refused(run: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert run.returncode == 2, (run.returncode, run.stdout, run.stderr)
    assert fragment in run.stderr and run.stdout == "", run.stderr


def test_an_existing_directory_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("keep me")
    run = cli("new-task", "taken", "--axis", "faster", "--out", str(tmp_path))
    _refused(run, "exists")
    assert len(run.stderr.strip().splitlines()) == 1
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["mine.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]  # no staging directory left behind


@pytest.mark.parametrize("name", ["Has-Dash", "../escape"])
def test_a_bad_name_is_refused(tmp_path: Path, name: str) -> None:
    run = cli("new-task", name, "--axis", "smaller", "--out", str(tmp_path))
    _refused(run, "[a-z0-9_]+")
    assert len(run.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["Bad", "a b", "x/y", "", ".", "é", "a" * 65, "name\n"])
def test_names_other_than_lowercase_digits_and_underscores_are_refused(name: str) -> None:
    with pytest.raises(NewTaskError, match=r"\[a-z0-9_\]\+"):
        check_name(name)


def test_plain_names_are_accepted() -> None:
    for name in ("primes", "count_primes_2", "9lives", "_", "a" * 64):
        check_name(name)


def test_a_bad_axis_is_refused(tmp_path: Path) -> None:
    run = cli("new-task", "fine_name", "--axis", "quicker", "--out", str(tmp_path))
    _refused(run, "invalid choice: 'quicker'")
    assert "faster" in run.stderr and list(tmp_path.iterdir()) == []


def test_the_default_out_is_the_current_directory(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "autolab_mcp.cli", "new-task", "here", "--axis", "smaller"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "here" / "task.toml").is_file() and (tmp_path / "here" / "environment" / "expr.txt").is_file()
