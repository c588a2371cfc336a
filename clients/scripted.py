"""A scripted agent that drives one episode over MCP with the task's reference solution.

It exists to prove the loop end to end (and to power `make demo`): read the
instruction, patch the editable files to the reference, run the task's local
check as an experiment, ask for a metric, check the budget, submit. It talks
to the server only through MCP, like any real agent.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

from autolab_mcp.core.editable import editable_files
from autolab_mcp.core.errors import AutolabError
from autolab_mcp.core.taskdirs import find_task
from autolab_mcp.core.taskspec import Task

Printer = Callable[[str], None]


def _print(line: str) -> None:
    print(line, flush=True)


class ToolFailed(AutolabError):
    pass


async def call(client: Client, name: str, args: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    """Call a tool; a scoring call that answers `pending` is polled with score_status until it ends."""
    result = await client.call_tool(name, args or {}, **kw)
    if result.is_error:
        text = " ".join(getattr(c, "text", "") for c in result.content)
        raise ToolFailed(f"{name}: {text}")
    out = result.structured_content or {}
    if name in ("get_metric", "submit") and out.get("status") == "pending":
        return await call(client, "score_status", {"id": out["id"], "wait_sec": 50}, **kw)
    if name == "score_status" and out.get("status") == "pending":
        return await call(client, "score_status", args, **kw)
    return out


def reference_patches(task: Task, read_current: dict[str, str]) -> dict[str, str]:
    """Unified diffs that turn each editable file into the reference solution's version."""
    patches = {}
    for rel in editable_files(task.solution_dir, task.config.autolab.editable):
        new = (task.solution_dir / rel).read_text()
        old = read_current.get(rel)
        diff = difflib.unified_diff(
            [] if old is None else old.splitlines(keepends=True), new.splitlines(keepends=True),
            fromfile="/dev/null" if old is None else f"a/{rel}", tofile=f"b/{rel}",
        )
        text = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in diff)
        if text:
            patches[rel] = text
    return patches


def _budget_line(budget: dict[str, Any]) -> str:
    parts = []
    for kind in ("wall_sec", "compute_sec", "experiments", "score_calls"):
        line = budget[kind]
        parts.append(f"{kind} {line['used']:g}/{line['limit']:g}")
    return "budget: " + ", ".join(parts)


async def run_episode(
    client: Client, task: Task, out: Printer = _print, *, apply_solution: bool = True, measure_baseline: bool = False
) -> dict[str, Any]:
    """Play the scripted episode on a connected client; returns the submit result."""
    instruction = await client.read_resource("autolab://instruction")
    first_line = instruction.contents[0].text.strip().splitlines()[0]
    out(f"== task {task.name} ({task.axis}): {first_line.lstrip('# ')}")
    listing = await call(client, "list_files")
    editable = [e["path"] for e in listing["entries"] if e.get("editable")]
    out(f"   workspace: {len(listing['entries'])} entries; editable: {', '.join(editable) or '(none yet)'}")

    async def progress(done: float, total: float | None, message: str | None) -> None:
        out(f"   .. {message or ''} ({done:.0f}s)")

    if apply_solution and measure_baseline:
        base = await call(client, "get_metric", progress_callback=progress)
        out(f"-> get_metric on the untouched baseline: metric {base['metric']} score {base['score']:.3f} "
            f"({base['verdict']})")

    current: dict[str, str] = {}
    for rel in editable_files(task.solution_dir, task.config.autolab.editable):
        try:
            current[rel] = (await call(client, "read_file", {"path": rel}))["content"]
        except ToolFailed:
            pass  # a file the solution adds
    if apply_solution:
        for rel, patch in reference_patches(task, current).items():
            change = await call(client, "apply_patch", {"patch": patch})
            added = sum(1 for ln in patch.splitlines() if ln.startswith("+") and not ln.startswith("+++"))
            removed = sum(1 for ln in patch.splitlines() if ln.startswith("-") and not ln.startswith("---"))
            out(f"-> apply_patch {rel}: +{added} -{removed} lines -> snapshot {change.get('snapshot_id')}")

    command = task.config.autolab.check_command or "ls -la"

    exp = await call(client, "run_experiment", {"command": command, "wait_sec": 45}, progress_callback=progress)
    while exp["status"] == "running":
        exp = await call(client, "experiment_status", {"id": exp["id"], "wait_sec": 45}, progress_callback=progress)
    tail = exp["output_tail"].strip().splitlines()[-3:]
    out(f"-> run_experiment `{command}`: {exp['status']}, exit {exp['exit_code']}, {exp['seconds']:.2f}s charged")
    for line in tail:
        out(f"   | {line[:160]}")

    metric = await call(client, "get_metric", progress_callback=progress)
    out(f"-> get_metric (feedback split): metric {metric['metric']} score {metric['score']:.3f} "
        f"valid={metric['valid']} {metric['verdict']}" + (f" reason: {metric['reason']}" if metric["reason"] else ""))
    budget = await call(client, "remaining_budget")
    out("-> " + _budget_line(budget))
    result = await call(client, "submit", progress_callback=progress)
    out(f"== submit (final split): metric {result['metric']} -> normalized score {result['score']:.3f} "
        f"valid={result['valid']} ({result['verdict']})" + (f" reason: {result['reason']}" if result["reason"] else ""))
    return result


def server_params(task: str, run_dir: Path, extra: list[str] | None = None) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["-m", "autolab_mcp.cli", "serve", "--task", task, "--run-dir", str(run_dir),
                                      *(extra or [])],
        # the SDK passes only a minimal environment; our own settings (scorer key, cache dirs) must follow
        env={k: v for k, v in os.environ.items() if k.startswith("AUTOLAB_") and k != "AUTOLAB_TOKEN"},
    )


async def main_async(args: argparse.Namespace) -> int:
    task = find_task(args.task)
    async with Client(server_params(args.task, args.run_dir), read_timeout_seconds=900) as client:
        result = await run_episode(client, task, apply_solution=not args.baseline)
    if args.json:
        print(json.dumps(result, indent=1))
    return 0 if result["valid"] else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", required=True)
    parser.add_argument("--run-dir", type=Path, default=Path("runs"))
    parser.add_argument("--baseline", action="store_true", help="submit the untouched baseline")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.exit(anyio.run(main_async, args))


if __name__ == "__main__":
    main()
