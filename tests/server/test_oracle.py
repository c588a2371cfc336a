"""`autolab-mcp oracle`: a misbehaving task fails it (every task passing it: tests/tasks/test_task_conformance.py)."""

from __future__ import annotations

import json
import subprocess
import sys

from autolab_mcp.broken_case import BROKEN_DIFF
from autolab_mcp.core.taskdirs import find_task
from autolab_mcp.oracle import check_task


def test_oracle_cli_reports_failure_for_a_misbehaving_task(tmp_path):
    """A task whose 'reference' is really the baseline must make the oracle fail (exit 1)."""
    import shutil

    source = find_task("sorting_network").root
    broken_task = tmp_path / "sorting_network_bad"
    shutil.copytree(source, broken_task, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(broken_task / "environment" / "network.py", broken_task / "solution" / "network.py")
    run = subprocess.run([sys.executable, "-m", "autolab_mcp.cli", "oracle", "--task", str(broken_task), "--json"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr
    report = json.loads(run.stdout)[0]
    reference = next(c for c in report["checks"] if c["kind"] == "reference")
    assert not reference["ok"] and "reference must score" in reference["problem"]


def test_a_crashing_evaluation_fails_the_oracle_even_where_invalid_was_expected(tmp_path):
    """A harness bug makes the broken case invalid too, with a reason: that must not pass as the broken
    case failing the gate, nor a reference that crashes count as a task problem of another kind."""
    import shutil

    root = tmp_path / "sorting_network_crash"
    shutil.copytree(find_task("sorting_network").root, root, ignore=shutil.ignore_patterns("__pycache__"))
    evaluate = root / "tests" / "evaluate.py"
    evaluate.write_text(evaluate.read_text().replace("        pairs = rules.verify(doc)\n",
                                                     "        pairs = rules.verify(doc)\n        1 / 0\n"))
    assert (root / "tests" / BROKEN_DIFF).is_file()
    report = check_task(find_task(str(root)))
    by_kind = {c.kind: c for c in report.checks}
    assert by_kind["broken"].ok  # the broken network fails verify() before the crash: a real gate failure
    for kind in ("baseline", "reference"):
        assert not by_kind[kind].ok and by_kind[kind].harness_error
        assert "tests/evaluate.py raised" in by_kind[kind].problem
