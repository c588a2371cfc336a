"""A task's deliberately broken submission: `tests/broken.diff`, a unified diff against the baseline's
editable files, applied to a copy of environment/. The oracle and the task conformance tests submit
it and expect the gate to fail with a reason.

A diff instead of a full copy keeps the breakage visible (the one changed line) and cannot drift from
the baseline unnoticed: when the baseline changes under it, it stops applying and says where. It may
change editable files only, since that is all a submission can change.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from autolab_mcp.core.editable import editable_files, matches
from autolab_mcp.core.errors import AutolabError
from autolab_mcp.core.taskspec import Task
from autolab_mcp.patch import PatchError, apply_file_patch, parse_patch

BROKEN_DIFF = "broken.diff"


class BrokenCaseError(AutolabError):
    """The task's broken.diff is missing, touches a non-editable file, or no longer applies."""


def broken_diff_path(task: Task) -> Path:
    return task.tests_dir / BROKEN_DIFF


def broken_submission(task: Task, dest: Path) -> Path:
    """Write the baseline with tests/broken.diff applied to `dest` (a new directory) and return it.

    Raises BrokenCaseError naming the task and what is wrong."""
    diff = broken_diff_path(task)
    if not diff.is_file():
        raise BrokenCaseError(f"task {task.name}: {diff} is missing; write a unified diff of the baseline's "
                              "editable files that must fail the quality gate")
    editable = task.config.autolab.editable
    shutil.copytree(task.environment_dir, dest, ignore=shutil.ignore_patterns("__pycache__"))
    try:
        patches = parse_patch(diff.read_text())
    except PatchError as exc:
        raise BrokenCaseError(f"task {task.name}: {diff}: {exc}") from None
    if not patches:
        raise BrokenCaseError(f"task {task.name}: {diff} changes nothing")
    for patch in patches:
        if not matches(patch.path, editable):
            raise BrokenCaseError(f"task {task.name}: {diff} changes {patch.path!r}, which is not editable "
                                  f"({', '.join(editable) or 'nothing is'}); a submission can change only those")
        target = dest / patch.path
        original = target.read_text() if target.is_file() else None
        try:
            changed = apply_file_patch(original, patch)
        except PatchError as exc:
            raise BrokenCaseError(f"task {task.name}: {diff} no longer applies to the baseline: {exc}") from None
        if changed is None:
            target.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(changed)
    if not editable_files(dest, editable):
        raise BrokenCaseError(f"task {task.name}: {diff} leaves no editable file to submit")
    return dest
