"""Where tasks are found: the bundled `tasks/`, the directories in `AUTOLAB_TASKS_DIR` and any given
with `--tasks-dir`, searched as one list.

A tasks directory holds one task per subdirectory with a task.toml, or is itself a task. A name found
in two places is ambiguous and refused (give the path), never resolved by an order the user cannot
see. Listing never aborts on a broken task: each entry carries the task or the reason it does not load.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from autolab_mcp.core.taskspec import Task, TaskSpecError, load_task

#: a list of tasks directories, separated like PATH (os.pathsep)
TASKS_DIR_ENV = "AUTOLAB_TASKS_DIR"


def bundled_tasks_dir() -> Path:
    """The `tasks/` directory shipped in this repository."""
    return Path(__file__).resolve().parents[2] / "tasks"


def env_tasks_dirs() -> list[Path]:
    """The directories named in AUTOLAB_TASKS_DIR, in order."""
    raw = os.environ.get(TASKS_DIR_ENV, "")
    return [Path(part) for part in raw.split(os.pathsep) if part.strip()]


def search_path(extra: Iterable[Path] = ()) -> list[Path]:
    """`extra` (from --tasks-dir), then AUTOLAB_TASKS_DIR, then the bundled tasks; each directory once.

    Raises TaskSpecError for a named directory that does not exist (a typo must not look like an
    empty directory)."""
    dirs: list[Path] = []
    for directory in [*extra, *env_tasks_dirs()]:
        if not directory.is_dir():
            raise TaskSpecError(f"tasks directory {directory} does not exist (from --tasks-dir or {TASKS_DIR_ENV})")
        dirs.append(directory.resolve())
    dirs.append(bundled_tasks_dir())
    return list(dict.fromkeys(dirs))


def use_tasks_dirs(extra: Sequence[Path]) -> list[Path]:
    """Put `--tasks-dir` values in front of AUTOLAB_TASKS_DIR for this process and every process it
    starts (servers an eval launches, scorers a server starts), and return the whole search path."""
    dirs = search_path(extra)
    if extra:
        os.environ[TASKS_DIR_ENV] = os.pathsep.join(str(d) for d in dirs[:-1])
    return dirs


@dataclass(frozen=True)
class TaskEntry:
    """One task directory found: its task, or the reason it does not load."""

    name: str
    root: Path
    source: Path
    task: Task | None = None
    problem: str | None = None

    @property
    def bundled(self) -> bool:
        return self.source == bundled_tasks_dir()


def _task_roots(directory: Path) -> list[Path]:
    if (directory / "task.toml").is_file():
        return [directory]
    return [child for child in sorted(directory.iterdir()) if (child / "task.toml").is_file()]


def discover(dirs: Sequence[Path] | None = None) -> list[TaskEntry]:
    """Every task in the search path, loaded, a broken one with its reason instead of its task."""
    entries = []
    for directory in search_path() if dirs is None else dirs:
        for root in _task_roots(directory):
            try:
                entries.append(TaskEntry(root.name, root.resolve(), directory, task=load_task(root)))
            except TaskSpecError as exc:
                entries.append(TaskEntry(root.name, root.resolve(), directory, problem=str(exc)))
    return entries


def list_tasks(dirs: Sequence[Path] | None = None) -> list[Task]:
    """Every task that loads in the search path (broken ones are left out; `discover` says why)."""
    return [entry.task for entry in discover(dirs) if entry.task is not None]


def find_task(name_or_path: str, dirs: Sequence[Path] | None = None, *, public_only: bool = False) -> Task:
    """A task directory by path, or a task by name in the search path.

    Raises TaskSpecError when the name is unknown (listing the known ones), found in two directories,
    or its task does not load."""
    candidate = Path(name_or_path)
    if candidate.is_dir() and (candidate / "task.toml").is_file():
        return load_task(candidate, public_only=public_only)
    dirs = search_path() if dirs is None else dirs
    roots = list(dict.fromkeys(root.resolve() for d in dirs for root in _task_roots(d) if root.name == name_or_path))
    if not roots:
        known = sorted({root.name for d in dirs for root in _task_roots(d)})
        where = ", ".join(str(d) for d in dirs)
        raise TaskSpecError(f"no task named {name_or_path!r} in {where}; known tasks: {', '.join(known) or 'none'}")
    if len(roots) > 1:
        raise TaskSpecError(f"task name {name_or_path!r} is ambiguous: found in {', '.join(map(str, roots))}; "
                            "give the task's path instead")
    return load_task(roots[0], public_only=public_only)
