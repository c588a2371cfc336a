"""`autolab-mcp tasks`: every task found (bundled, $AUTOLAB_TASKS_DIR, --tasks-dir), a broken one listed
with its reason and one that cannot be served with what it lacks, so one bad directory never hides the rest."""

from __future__ import annotations

import argparse
import json
from typing import Any

from autolab_mcp.cli_options import add_tasks_dir_option
from autolab_mcp.core.taskdirs import TaskEntry, discover, use_tasks_dirs


def _task_row(entry: TaskEntry) -> dict[str, Any]:
    row: dict[str, Any] = {"name": entry.name, "root": str(entry.root), "bundled": entry.bundled}
    task = entry.task
    if task is None:
        return {**row, "problem": entry.problem}
    opt = task.config.optimization
    return {
        **row, "axis": task.axis or "unknown", "metric": opt.metric if opt else None,
        "direction": opt.direction if opt else None, "wall_sec": task.config.agent.timeout_sec,
        **task.config.autolab.budget.model_dump(), "scorable": task.scorable,
        "problem": task.serve_problem() or (None if task.scorable else "no tests/evaluate.py: our scorer cannot "
                                                                         "score it"),
    }


def cmd_tasks(args: argparse.Namespace) -> int:
    """Every task in the search path; a broken one is listed with its reason, never aborts the list."""
    rows = [_task_row(entry) for entry in discover(use_tasks_dirs(args.tasks_dir))]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    header = (f"{'task':<18} {'axis':<8} {'metric':<24} {'dir':<6} {'wall s':>7} {'compute s':>9} "
              f"{'exps':>5} {'scores':>6}  where")
    print(header)
    print("-" * len(header))
    for r in rows:
        where = "bundled" if r["bundled"] else r["root"]
        if "axis" not in r:
            print(f"{r['name']:<18} BROKEN: {r['problem']}  ({where})")
            continue
        print(f"{r['name']:<18} {r['axis']:<8} {r['metric'] or '-':<24} {r['direction'] or '-':<6} "
              f"{r['wall_sec']:>7.0f} {r['compute_sec']:>9.0f} {r['experiments']:>5} {r['score_calls']:>6}  {where}")
        if r["problem"]:
            print(f"{'':<18} not servable: {r['problem']}")
    return 0


def add_parser(sub: Any) -> None:
    tasks = sub.add_parser("tasks", help="list every task found: bundled, $AUTOLAB_TASKS_DIR, --tasks-dir")
    add_tasks_dir_option(tasks)
    tasks.add_argument("--json", action="store_true")
    tasks.set_defaults(func=cmd_tasks)
