"""Shared by the third-party client scripts in this directory.

These scripts run under *another* Python environment (the framework's own venv,
or ours when the `integrations` extra is installed), import only the framework
and the standard library, and reach our server only as a subprocess over stdio:
`autolab-mcp serve --task T --run-dir D`. Each prints one JSON line (its findings)
as the last line of stdout; the pytest side checks it and the run directory.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

EXPECTED_TOOLS = {"list_files", "read_file", "write_file", "apply_patch", "run_experiment", "experiment_status",
                  "cancel_experiment", "get_metric", "remaining_budget", "history", "diff", "restore", "submit"}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--server", required=True, help="path to autolab-mcp")
    p.add_argument("--task", default="sorting_network")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--solution", action="append", default=[], metavar="REL=FILE",
                   help="an editable file's reference content, read from FILE")
    p.add_argument("--check", default="python check.py")
    p.add_argument("--model-base-url", help="a fake OpenAI-compatible model server (OpenAI Agents SDK)")
    p.add_argument("--model-api-key", default="")
    return p.parse_args()


def server_args(args: argparse.Namespace) -> list[str]:
    return ["serve", "--task", args.task, "--run-dir", args.run_dir]


def server_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("AUTOLAB_") and k != "AUTOLAB_TOKEN"}


def solutions(args: argparse.Namespace) -> dict[str, str]:
    out = {}
    for item in args.solution:
        rel, _, path = item.partition("=")
        with open(path, encoding="utf-8") as handle:
            out[rel] = handle.read()
    return out


def as_json(text: str) -> dict[str, Any]:
    """A tool result as a dict, however the framework wrapped the MCP result text."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {}
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, dict) and value.get("type") == "text" and isinstance(value.get("text"), str):
        return as_json(value["text"])
    return value if isinstance(value, dict) else {}


class Plan:
    """The solving conversation: decides the next tool call from the results so far.

    list_files, read each editable file, write the reference, run the local check
    (polling while it runs), get_metric, submit; stop at the first error.
    """

    def __init__(self, solution: dict[str, str], check: str) -> None:
        self.solution = solution
        self.check = check

    def next(self, done: list[tuple[str, str, bool]]) -> tuple[str, dict[str, Any]] | None:
        names = [name for name, _, _ in done]
        if any(is_error for _, _, is_error in done):
            return None
        files = list(self.solution)
        if "list_files" not in names:
            return "list_files", {}
        reads = names.count("read_file")
        if reads < len(files):
            return "read_file", {"path": files[reads]}
        writes = names.count("write_file")
        if writes < len(files):
            return "write_file", {"path": files[writes], "content": self.solution[files[writes]]}
        last_name, last_text, _ = done[-1]
        if last_name == "write_file":
            return "run_experiment", {"command": self.check, "wait_sec": 45}
        if last_name in ("run_experiment", "experiment_status"):
            info = as_json(last_text)
            if info.get("status") == "running":
                return "experiment_status", {"id": info["id"], "wait_sec": 45}
            return "get_metric", {}
        if last_name == "get_metric":
            return "submit", {}
        return None


def emit(findings: dict[str, Any]) -> None:
    sys.stdout.flush()
    print(json.dumps(findings, default=str), flush=True)
