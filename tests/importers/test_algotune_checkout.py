"""Reading an AlgoTune checkout without running it: tasks, their requirements from their imports, and the
reason a task cannot be imported; and the stand-in AlgoTuneTasks.base on which a task file really runs,
its problem and solution crossing files through the codec as they will between scorer and sandbox.

The fixture checkout (tests/fixtures/algotune) is ours, in AlgoTune's format; the snapshot of 124
upstream tasks is read too where it is present (../shared/upstream/algotune, or $AUTOLAB_ALGOTUNE_DIR)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from autolab_mcp.importers import algotune_kit
from autolab_mcp.importers.algotune_checkout import harness_imports, read_checkout
from autolab_mcp.importers.bases import ImportRefused

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "algotune"
KIT = Path(algotune_kit.__file__).parent
SNAPSHOT = Path(os.environ.get("AUTOLAB_ALGOTUNE_DIR") or ROOT.parent / "shared" / "upstream" / "algotune")


def test_the_fixture_checkout_reads_with_requirements_and_reasons():
    tasks = {t.name: t for t in read_checkout(FIXTURE)}
    assert sorted(tasks) == ["exotic", "undescribed", "vector_sum"]
    assert tasks["vector_sum"].requirements == ["numpy", "scipy"] and tasks["vector_sum"].problem is None
    assert "quantum_annealer, which no known requirement provides" in tasks["exotic"].problem
    assert "no description.txt" in tasks["undescribed"].problem
    assert [t.name for t in read_checkout(FIXTURE, ["vector_sum"])] == ["vector_sum"]
    with pytest.raises(ImportRefused, match=r"no task nope in .* \(3 tasks there\)"):
        read_checkout(FIXTURE, ["nope"])
    with pytest.raises(ImportRefused, match="is not an AlgoTune checkout"):
        read_checkout(ROOT / "tasks")


def test_a_task_asking_the_harness_for_more_than_the_stand_in_is_named():
    source = "from AlgoTuneTasks.base import register_task, Task, BadDatasetError\nimport AlgoTuner.utils\n"
    assert harness_imports(source) == ["AlgoTuneTasks.base.BadDatasetError", "AlgoTuner.utils"]
    assert harness_imports("from AlgoTuneTasks.base import register_task, Task\n") == []


def test_a_task_file_runs_on_the_stand_in_base_with_files_between_its_steps(tmp_path):
    """generate -> file -> solve -> file -> is_solution, each step in its own interpreter, as the scorer and
    the sandbox will run them; the fixture checkout's own base.py (which needs AlgoTuner) is never used."""
    task_file = FIXTURE / "AlgoTuneTasks" / "vector_sum" / "vector_sum.py"
    step = textwrap.dedent(f"""
        import importlib.util, sys
        sys.path[:0] = [{str(KIT)!r}]
        import codec
        spec = importlib.util.spec_from_file_location("vector_sum", {str(task_file)!r})
        module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
        from AlgoTuneTasks.base import TASK_REGISTRY
        task = TASK_REGISTRY["vector_sum"]()
        what, a, b = sys.argv[1:4]
        if what == "generate":
            open(b, "wb").write(codec.dumps(task.generate_problem(int(a), random_seed=7)))
        elif what == "solve":
            open(b, "wb").write(codec.dumps(task.solve(codec.loads(open(a, "rb").read()))))
        else:
            problem, solution = codec.loads(open(a, "rb").read()), codec.loads(open(b, "rb").read())
            if what == "corrupt":
                solution["sums"][0] += 1
            print(task.is_solution(problem, solution), type(problem["matrix"]).__name__, problem["shape"])
    """)

    def run(*args: str) -> str:
        done = subprocess.run([sys.executable, "-c", step, *args], capture_output=True, text=True, timeout=60,
                              cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.strip()

    problem, solution = str(tmp_path / "problem.json"), str(tmp_path / "solution.json")
    run("generate", "50", problem)
    run("solve", problem, solution)
    assert run("check", problem, solution) == "True csr_matrix (50, 8)"
    assert run("corrupt", problem, solution).startswith("False")
    assert b"pickle" not in Path(problem).read_bytes()


@pytest.mark.skipif(not (SNAPSHOT / "AlgoTuneTasks").is_dir(), reason=f"no AlgoTune snapshot at {SNAPSHOT}")
def test_the_upstream_snapshot_reads_and_every_task_needs_only_the_stand_ins_names():
    tasks = read_checkout(SNAPSHOT)
    assert len(tasks) == 124
    problems = {t.name: t.problem for t in tasks if t.problem}
    assert not problems, problems
    requirements = {r for t in tasks for r in t.requirements}
    assert {"numpy", "scipy", "cvxpy", "ecos", "ortools<9.12", "python-sat", "faiss-cpu", "pot"} <= requirements
    assert next(t for t in tasks if t.name == "aes_gcm_encryption").requirements == ["cryptography"]


def test_the_stand_in_refuses_a_task_class_missing_one_of_its_three_methods():
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(KIT)!r}]
        from AlgoTuneTasks.base import Task, register_task, TASK_REGISTRY

        @register_task("half")
        class Half(Task):
            def solve(self, problem):
                return problem
        try:
            Half()
        except TypeError as exc:
            print("refused:", exc)
        print(sorted(TASK_REGISTRY))
    """)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "refused:" in done.stdout and "is_solution" in done.stdout and "['half']" in done.stdout
