"""Starting `autolab-mcp serve` the way a real MCP client would: the console script, over stdio."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mcp import StdioServerParameters

from autolab_mcp.core.taskdirs import bundled_tasks_dir
from autolab_mcp.core.taskspec import Task

__all__ = ["READ_TIMEOUT", "resume_params", "serve_args", "serve_params", "server_command", "server_env",
           "task_argument"]

READ_TIMEOUT = 900.0


def server_command() -> tuple[str, list[str]]:
    """`autolab-mcp serve`, as a real MCP client would start it (the console script next to this python)."""
    script = Path(sys.executable).with_name("autolab-mcp")
    if script.exists():
        return str(script), ["serve"]
    return sys.executable, ["-m", "autolab_mcp.cli", "serve"]


def server_env() -> dict[str, str]:
    """Our own settings (scorer key, cache dirs) follow; no bearer token, nothing else."""
    return {k: v for k, v in os.environ.items() if k.startswith("AUTOLAB_") and k != "AUTOLAB_TOKEN"}


def task_argument(task: Task) -> str:
    """`--task` for the server: a bundled task by name (as a user types it), any other by its directory."""
    return task.name if task.root.parent.resolve() == bundled_tasks_dir().resolve() else str(task.root)


def serve_args(task: Task, runs_dir: Path, server_args: list[str]) -> tuple[str, list[str]]:
    """The command and arguments that serve one new episode of `task` under `runs_dir`."""
    command, base = server_command()
    return command, [*base, "--task", task_argument(task), "--run-dir", str(runs_dir), *server_args]


def serve_params(command: str, args: list[str], cwd: Path | None = None) -> StdioServerParameters:
    return StdioServerParameters(command=command, args=args, env=server_env(),
                                 cwd=None if cwd is None else str(cwd))


def resume_params(run_dir: Path) -> StdioServerParameters:
    """A server that resumes the run at `run_dir` (RUNS_DIR/RUN_ID)."""
    command, base = server_command()
    return StdioServerParameters(command=command, args=[*base, "--resume", run_dir.name, "--run-dir",
                                                        str(run_dir.parent)], env=server_env())
