"""`autolab-mcp oracle` on every bundled task, through the real scorer process on the final split."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from autolab_mcp.core.taskspec import find_task, list_tasks
from autolab_mcp.oracle import check_task

TASKS = [t.name for t in list_tasks()]


@pytest.mark.slow
@pytest.mark.parametrize("task_name", TASKS)
def test_oracle_task_behaves(task_name):
    report = check_task(find_task(task_name))
    by_kind = {c.kind: c for c in report.checks}
    assert set(by_kind) == {"baseline", "reference", "broken"}, report
    problems = [f"{c.kind}: {c.problem} ({c.reason} {c.verdict})" for c in report.checks if not c.ok]
    assert not problems, problems
    assert by_kind["reference"].score >= 0.9
    assert by_kind["broken"].valid is False and by_kind["broken"].reason


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
