"""`autolab-mcp oracle`: prove each task behaves, through the real scorer on the final split.

For every task: the untouched baseline must pass the gate and score about 0, the
reference solution must score >= 0.9 (reference = 1 by definition, so this checks
that the stored reference reproduces here), and a deliberately broken submission
(tests/broken/, mirroring the editable files) must fail the gate with a reason.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from autolab_mcp.core.archive import tar_directory_files
from autolab_mcp.core.editable import editable_files
from autolab_mcp.core.taskspec import Task, find_task, list_tasks
from autolab_mcp.scorer_client import ScorerProcess, ScorerRejected, ScorerUnavailable

BASELINE_MAX = 0.15
REFERENCE_MIN = 0.9


class Check(BaseModel):
    kind: str
    valid: bool | None = None
    metric: float | None = None
    score: float | None = None
    reason: str = ""
    verdict: str = ""
    seconds: float = 0.0
    ok: bool = False
    problem: str = ""


class TaskReport(BaseModel):
    task: str
    axis: str
    metric: str
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def _archive(root: Path, task: Task) -> bytes:
    return tar_directory_files(root, editable_files(root, task.config.autolab.editable))


def _judge(kind: str, check: Check) -> Check:
    if kind == "baseline" and not (check.valid and (check.score or 0.0) <= BASELINE_MAX):
        check.problem = f"baseline must pass the gate and score <= {BASELINE_MAX}"
    elif kind == "reference" and not (check.valid and (check.score or 0.0) >= REFERENCE_MIN):
        check.problem = f"reference must score >= {REFERENCE_MIN}"
    elif kind == "broken" and (check.valid or not check.reason):
        check.problem = "a broken submission must fail the gate with a reason"
    check.ok = not check.problem
    return check


def check_task(task: Task, backend: str = "bwrap") -> TaskReport:
    sources = {"baseline": task.environment_dir, "reference": task.solution_dir, "broken": task.tests_dir / "broken"}
    scorer = ScorerProcess(task.root, backend, eval_timeout=task.config.autolab.eval_timeout_sec * 4 + 60)
    checks: list[Check] = []
    try:
        scorer.start()
        for kind, root in sources.items():
            if not root.is_dir():
                checks.append(Check(kind=kind, problem=f"{root} is missing"))
                continue
            started = time.monotonic()
            try:
                record = scorer.client.evaluate("final", _archive(root, task)).record
            except (ScorerRejected, ScorerUnavailable) as exc:
                checks.append(Check(kind=kind, problem=f"scorer error: {exc}"))
                continue
            check = Check(kind=kind, valid=record.valid, metric=record.metric, score=round(record.score, 4),
                          reason=record.reason, verdict=record.verdict, seconds=round(time.monotonic() - started, 1))
            checks.append(_judge(kind, check))
    except ScorerUnavailable as exc:
        checks.append(Check(kind="scorer", problem=str(exc)))
    finally:
        scorer.stop()
    return TaskReport(task=task.name, axis=task.axis, metric=task.config.optimization.metric, checks=checks)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) >= 1000 else f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return str(value)


def print_table(reports: list[TaskReport]) -> None:
    print(f"{'task':<16} {'check':<10} {'valid':<6} {'metric':>10} {'score':>7} {'secs':>6}  result")
    for report in reports:
        for check in report.checks:
            result = "ok" if check.ok else f"FAIL: {check.problem}"
            if check.kind == "broken" and check.ok:
                result = f"ok (gate: {check.reason[:60]})"
            print(f"{report.task:<16} {check.kind:<10} {_fmt(check.valid):<6} {_fmt(check.metric):>10} "
                  f"{_fmt(check.score):>7} {check.seconds:>6.1f}  {result}")
    bad = [r.task for r in reports if not r.ok]
    print(f"\n{len(reports) - len(bad)}/{len(reports)} tasks behave" + (f"; failing: {', '.join(bad)}" if bad else ""))


def cmd_oracle(args: argparse.Namespace) -> int:
    tasks = list_tasks() if args.task == "all" else [find_task(args.task)]
    reports = []
    for task in tasks:
        if not args.json:
            print(f"checking {task.name} ...", file=sys.stderr, flush=True)
        reports.append(check_task(task, args.backend))
    if args.json:
        print(json.dumps([{**r.model_dump(), "ok": r.ok} for r in reports], indent=1))
    else:
        print_table(reports)
    return 0 if all(r.ok for r in reports) else 1


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("oracle", help="check baseline, reference and a broken submission per task")
    parser.add_argument("--task", default="all", help="task name or `all`")
    parser.add_argument("--backend", default="bwrap", choices=["bwrap", "docker"])
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=cmd_oracle)
