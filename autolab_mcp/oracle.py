"""`autolab-mcp oracle`: prove each task behaves, through the real scorer on the final split.

For every task: the untouched baseline must pass the gate and score about 0, the
reference solution must score >= 0.9 (reference = 1 by definition, so this checks
that the stored reference reproduces here), and a deliberately broken submission
(tests/broken.diff applied to the baseline, see broken_case.py) must fail the gate with a reason.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from autolab_mcp.broken_case import BrokenCaseError, broken_submission
from autolab_mcp.cli_options import add_tasks_dir_option
from autolab_mcp.core.archive import tar_directory_files
from autolab_mcp.core.editable import editable_files
from autolab_mcp.core.taskdirs import discover, find_task, use_tasks_dirs
from autolab_mcp.core.taskspec import Task
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
    harness_error: bool = Field(False, description="evaluate.py raised: the task is broken, not the submission")
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
    if check.harness_error:
        check.problem = "tests/evaluate.py raised an exception (the scorer's record keeps the traceback)"
    elif kind == "baseline" and not (check.valid and (check.score or 0.0) <= BASELINE_MAX):
        check.problem = f"baseline must pass the gate and score <= {BASELINE_MAX}"
    elif kind == "reference" and not (check.valid and (check.score or 0.0) >= REFERENCE_MIN):
        check.problem = f"reference must score >= {REFERENCE_MIN}"
    elif kind == "broken" and (check.valid or not check.reason):
        check.problem = "a broken submission must fail the gate with a reason"
    check.ok = not check.problem
    return check


def check_task(task: Task, backend: str = "bwrap") -> TaskReport:
    scorer = ScorerProcess(task.root, backend, eval_timeout=task.config.autolab.eval_timeout_sec * 4 + 60)
    checks: list[Check] = []
    scratch = Path(tempfile.mkdtemp(prefix=f"oracle-{task.name}-"))
    try:
        sources: dict[str, Path | str] = {"baseline": task.environment_dir, "reference": task.solution_dir}
        try:
            sources["broken"] = broken_submission(task, scratch / "broken")
        except BrokenCaseError as exc:
            sources["broken"] = str(exc)
        scorer.start()
        for kind, root in sources.items():
            if isinstance(root, str) or not root.is_dir():
                checks.append(Check(kind=kind, problem=root if isinstance(root, str) else f"{root} is missing"))
                continue
            started = time.monotonic()
            try:
                record = scorer.client.evaluate("final", _archive(root, task)).record
            except (ScorerRejected, ScorerUnavailable) as exc:
                checks.append(Check(kind=kind, problem=f"scorer error: {exc}"))
                continue
            check = Check(kind=kind, valid=record.valid, metric=record.metric, score=round(record.score, 4),
                          reason=record.reason, verdict=record.verdict, seconds=round(time.monotonic() - started, 1),
                          harness_error="traceback" in record.details)
            checks.append(_judge(kind, check))
    except ScorerUnavailable as exc:
        checks.append(Check(kind="scorer", problem=str(exc)))
    finally:
        scorer.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return TaskReport(task=task.name, axis=task.axis or "unknown", metric=task.optimization.metric, checks=checks)


def _unloadable(name: str, problem: str) -> TaskReport:
    return TaskReport(task=name, axis="unknown", metric="-", checks=[Check(kind="load", problem=problem)])


def _tasks_to_check(args: argparse.Namespace) -> list[tuple[str, Task | None, str]]:
    """(name, task, problem) per task to check: the one named, or every task found (`all`)."""
    dirs = use_tasks_dirs(args.tasks_dir)
    if args.task != "all":
        found = [find_task(args.task, dirs)]
        return [(found[0].name, found[0], found[0].serve_problem() or "")]
    return [(e.name, e.task, e.problem or (e.task.serve_problem() if e.task else "") or "") for e in discover(dirs)]


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
    reports = []
    for name, task, problem in _tasks_to_check(args):
        if task is None or problem:
            reports.append(_unloadable(name, problem))
            continue
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
    parser.add_argument("--task", default="all", help="task name or directory, or `all` (every task found)")
    add_tasks_dir_option(parser)
    parser.add_argument("--backend", default="bwrap", choices=["bwrap", "docker"])
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=cmd_oracle)
