"""report.json and report.md: per task the score per seed with a t interval, budget used, the raw metrics;
an episode without a signed result counts as 0, so a failing agent cannot look better by crashing."""

from __future__ import annotations

import json
import os
import platform
import statistics
from pathlib import Path
from typing import Any

from autolab_mcp.core.taskdirs import find_task
from autolab_mcp.core.taskspec import Task
from clients.agents.trajectory import iso
from clients.evalrun.budget import BUDGET_USED
from clients.evalrun.models import EpisodeOutcome, ServerOptions
from clients.evalrun.paths import EvalDir
from clients.evalrun.plots import draw_curves
from clients.evalrun.stats import INTERVAL_METHOD, mean_ci

__all__ = ["REPORT_FORMAT", "build_report", "report_markdown", "write_outputs"]

REPORT_FORMAT = "autolab-eval-report/1"


def build_report(outcomes: list[EpisodeOutcome], *, agent: str, seeds: list[int], parallel: int,
                 elapsed: float, server: ServerOptions | None = None, threshold: float = 0.9) -> dict[str, Any]:
    """report.json's content (without the curves entry, which write_outputs adds)."""
    by_task: dict[str, list[EpisodeOutcome]] = {}
    for o in outcomes:
        by_task.setdefault(o.task, []).append(o)
    per_task = {name: _task_summary(name, items) for name, items in by_task.items()}
    return {
        "format": REPORT_FORMAT,
        "created": iso(),
        "agent": agent,
        "seeds": seeds,
        "parallel": parallel,
        "server": (server or ServerOptions()).model_dump(exclude_none=True),
        "host": {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count()},
        "elapsed_sec": round(elapsed, 1),
        "interval_method": INTERVAL_METHOD,
        "budget_used_definition": BUDGET_USED,
        "failed_episodes_score": 0.0,
        "tasks": per_task,
        "overall": _overall(outcomes, per_task, threshold),
        "episodes": [o.model_dump(mode="json") for o in outcomes],
    }


def _rounded(ci: list[float] | None) -> list[float] | None:
    return None if ci is None else [round(ci[0], 4), round(ci[1], 4)]


def _task_summary(name: str, items: list[EpisodeOutcome]) -> dict[str, Any]:
    try:
        task: Task | None = find_task(name)
    except Exception:  # a task run from a directory is not found by name: its scores still count
        task = None
    scores = [o.score if o.status == "submitted" and o.score is not None else 0.0 for o in items]
    mean, ci = mean_ci(scores)

    def avg(field: str) -> float | None:
        values = [getattr(o, field) for o in items if getattr(o, field) is not None]
        return round(statistics.fmean(values), 4) if values else None

    return {
        "axis": task.axis if task else None,
        "metric_name": task.config.optimization.metric if task and task.config.optimization else None,
        "direction": task.config.optimization.direction if task and task.config.optimization else None,
        "seeds": [o.seed for o in items],
        "scores": [o.score if o.status == "submitted" else None for o in items],
        "mean": None if mean is None else round(mean, 4),
        "ci95": _rounded(ci),
        "n": len(items),
        "valid": sum(1 for o in items if o.valid),
        "errors": [f"seed {o.seed}: {o.error}" for o in items if o.error],
        "budget_used_mean": avg("budget_used"),
        "wall_sec_mean": avg("wall_sec"),
        "compute_sec_mean": avg("compute_sec"),
        "experiments_mean": avg("experiments"),
        "score_calls_mean": avg("score_calls"),
        "raw_metrics": [o.metric for o in items],
        "best_feedback": [o.best_feedback for o in items],
        "weak_isolation": sum(1 for o in items if o.isolation == "weak"),
        "needs_review": [o.seed for o in items if o.review],
    }


def _overall(outcomes: list[EpisodeOutcome], per_task: dict[str, Any], threshold: float) -> dict[str, Any]:
    """The mean of task means (every task weighs the same, whatever its seeds) and the batch's counts."""
    task_means = [t["mean"] for t in per_task.values() if t["mean"] is not None]
    overall_mean, overall_ci = mean_ci(task_means)
    return {
        "mean": None if overall_mean is None else round(overall_mean, 4),
        "ci95_over_tasks": _rounded(overall_ci),
        "tasks": len(per_task), "episodes": len(outcomes),
        "submitted": sum(1 for o in outcomes if o.status == "submitted"),
        "signatures_ok": sum(1 for o in outcomes if o.signature_ok),
        "weak_isolation": sum(1 for o in outcomes if o.isolation == "weak"),
        "needs_review": sum(1 for o in outcomes if o.review),
        "threshold": threshold,
        "below_threshold": sorted(n for n, t in per_task.items() if (t["mean"] or 0.0) < threshold),
    }


# -- report.md ---------------------------------------------------------------------------------------


def _f(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def report_markdown(report: dict[str, Any], curves: str | None) -> str:
    """report.md from report.json's content; `curves` is the plot's relative path, None without one."""
    lines = [*_md_header(report), *_md_task_rows(report), *_md_overall(report["overall"])]
    if curves:
        lines += [f"![best feedback score against budget used]({curves})", ""]
    lines += _md_episodes(report["episodes"])
    return "\n".join(lines) + "\n"


def _md_header(report: dict[str, Any]) -> list[str]:
    return [
        f"# autolab-mcp eval: `{report['agent']}`", "",
        f"{report['created']} · seeds {report['seeds']} · parallel {report['parallel']} · "
        f"{report['elapsed_sec']:.0f} s · python {report['host']['python']}, {report['host']['cpus']} CPUs", "",
        "Scores are normalized (baseline 0, reference 1, no upper cap) and come from the scorer's signed "
        "`result.json` (final hidden split). An episode without a signed result counts as 0.", "",
        f"Interval: {report['interval_method']}.", "",
        f"Budget used: {report['budget_used_definition']}.", "",
        "| task | axis | score per seed | mean | 95% CI | raw metric per seed | budget used | experiments "
        "| score calls |",
        "|---|---|---|---|---|---|---|---|---|",
    ]


def _md_task_rows(report: dict[str, Any]) -> list[str]:
    lines = []
    for name, t in report["tasks"].items():
        ci = "-" if t["ci95"] is None else f"[{t['ci95'][0]:.3f}, {t['ci95'][1]:.3f}]"
        metric = f"{t['metric_name']}: " + ", ".join("-" if m is None else f"{m:.6g}" for m in t["raw_metrics"])
        used = "-" if t["budget_used_mean"] is None else f"{t['budget_used_mean'] * 100:.1f}%"
        lines.append(f"| {name} | {t['axis']} | {', '.join(_f(s) for s in t['scores'])} | {_f(t['mean'])} | {ci} "
                     f"| {metric} | {used} | {_f(t['experiments_mean'], 1)} | {_f(t['score_calls_mean'], 1)} |")
    return lines


def _md_overall(o: dict[str, Any]) -> list[str]:
    ci = "" if o["ci95_over_tasks"] is None else \
        f" (95% CI over tasks [{o['ci95_over_tasks'][0]:.3f}, {o['ci95_over_tasks'][1]:.3f}])"
    lines = ["", f"**Overall mean of task means: {_f(o['mean'])}**{ci} · {o['submitted']}/{o['episodes']} "
                 f"episodes submitted · {o['signatures_ok']} signatures verified.", ""]
    if o["below_threshold"]:
        lines += [f"Below {o['threshold']}: {', '.join(o['below_threshold'])}.", ""]
    if o.get("weak_isolation"):
        lines += [f"**Weak isolation**: {o['weak_isolation']} episode(s) were scored on a host that could not "
                  "isolate evaluations from concurrent experiments (no cpuset, freezer or lock filter: run as "
                  "root); their scores may be skewed.", ""]
    if o.get("needs_review"):
        lines += [f"**Needs review**: {o['needs_review']} result(s) are past a bound the task declares "
                  "implausible (see `review` in the episode's signed record and the note column).", ""]
    return lines


def _md_episodes(episodes: list[dict[str, Any]]) -> list[str]:
    lines = ["## Episodes", "", "| episode | status | submitted by | score | valid | wall s | compute s | experiments "
             "| score calls | tool calls | trajectory | note |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for e in episodes:
        traj = Path(e["trajectory"]).name if e.get("trajectory") else "-"
        lines.append(f"| {e['episode_id']} | {e['status']} | {e.get('submitted_by') or '-'} | {_f(e['score'])} "
                     f"| {_f(e['valid'])} | {_f(e['wall_sec'], 1)} | {_f(e['compute_sec'], 1)} "
                     f"| {_f(e['experiments'])} | {_f(e['score_calls'])} | {e['tool_calls']} "
                     f"| trajectories/{traj} | {_episode_note(e)} |")
    return lines


def _episode_note(e: dict[str, Any]) -> str:
    """The flags first (a result to check by hand, weak isolation), then the error or the scorer's reason."""
    flags = [*(["NEEDS REVIEW"] if e.get("review") else []), *(["weak isolation"] if e.get("isolation") == "weak"
                                                                else [])]
    note = "; ".join([*flags, e.get("error") or e.get("reason") or ""]).strip("; ")
    return note.replace("|", "/").replace("\n", " ")[:160]


# -- the files ---------------------------------------------------------------------------------------


def write_outputs(outcomes: list[EpisodeOutcome], out_dir: Path, **report_args: Any) -> dict[str, Any]:
    """report.json, report.md and curves.png under `out_dir`; returns the report."""
    out = EvalDir(out_dir)
    report = build_report(outcomes, **report_args)
    problem = draw_curves(outcomes, out.curves)
    report["curves"] = None if problem else EvalDir.CURVES_NAME
    if problem:
        report["curves_note"] = problem
    out.report_json.write_text(json.dumps(report, indent=1))
    out.report_md.write_text(report_markdown(report, report["curves"]))
    return report
