"""The command line: `autolab-mcp eval` and `autolab-mcp replay` (registered as a plugin by add_parser),
and `python -m clients.evalrun run|replay|finalize`."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autolab_mcp.cli_options import add_tasks_dir_option
from autolab_mcp.core.signatures import default_public_key_path
from autolab_mcp.core.taskdirs import find_task, list_tasks, use_tasks_dirs
from clients.agents.base import AgentOptions, make_agent
from clients.evalrun.finalize import finalize
from clients.evalrun.live import LiveTable
from clients.evalrun.models import EpisodeOutcome, ServerOptions
from clients.evalrun.paths import EvalDir
from clients.evalrun.replay import replay
from clients.evalrun.report import write_outputs
from clients.evalrun.runner import run_batch

__all__ = ["add_parser", "cmd_eval", "cmd_finalize", "cmd_replay", "main", "weak_isolation_refusal"]


# -- eval -----------------------------------------------------------------------------------------------


def cmd_eval(args: argparse.Namespace) -> int:
    """0: every episode submitted with a verified signature; 1: some did not; 2: refused; 3: --fail-below hit."""
    if refusal := weak_isolation_refusal(args.backend, args.allow_weak_isolation):
        print(refusal, file=sys.stderr)
        return 2
    tasks = _tasks(args)
    if refusal := untrusted_refusal(tasks, args.allow_untrusted):
        print(refusal, file=sys.stderr)
        return 2
    out_dir: Path = args.out or Path(os.environ.get("AUTOLAB_RUN_DIR", "runs")) / "eval" / datetime.now(UTC).strftime(
        "%Y%m%d-%H%M%S")
    out_dir.mkdir(parents=True, exist_ok=True)
    seeds = list(range(args.seed_start, args.seed_start + args.seeds))
    agent_options = AgentOptions(
        base_url=args.base_url, max_turns=args.max_turns, max_tokens=args.max_tokens,
        temperature=args.temperature, context_chars=args.context_chars,
    )
    make_agent(args.agent, agent_options)  # fail fast on a bad agent spec
    server = ServerOptions(backend=args.backend, wall_mode=args.wall_mode, wall_sec=args.wall_sec,
                           compute_sec=args.compute_sec, experiments=args.experiments, score_calls=args.score_calls)
    started = time.monotonic()
    outcomes = _run_batch_shown(args, tasks, seeds, out_dir, agent_options, server)
    report = write_outputs(outcomes, out_dir, agent=args.agent, seeds=seeds, parallel=args.parallel,
                           elapsed=time.monotonic() - started, server=server, threshold=args.min_score)
    _print_report(args, report, EvalDir(out_dir))
    if any(o.status != "submitted" or not o.signature_ok for o in outcomes):
        return 1
    if args.fail_below and report["overall"]["below_threshold"]:
        return 3
    return 0


def untrusted_refusal(tasks: list[str], allowed: bool) -> str | None:
    """Why eval will not run these tasks (None: it will): an imported task whose verifier runs candidate
    code where it writes its reward scores whatever a submission makes it say."""
    untrusted = [name for name in tasks if find_task(name).untrusted_verifier]
    if not untrusted or allowed:
        return None
    return (f"autolab-mcp eval: refusing untrusted task(s) {', '.join(untrusted)}: their verifier runs candidate code "
            "where it writes its reward (see `[autolab.harbor] trust_reason`), so a submission could forge its "
            "score. Give them a native tests/evaluate.py, or pass --allow-untrusted; every record is then flagged "
            "for review.")


def _tasks(args: argparse.Namespace) -> list[str]:
    """--task as task names or directories: `all` is every task found (bundled, $AUTOLAB_TASKS_DIR,
    --tasks-dir) that can be served and scored; the directories reach every server this run starts."""
    use_tasks_dirs(args.tasks_dir)
    if args.task != "all":
        names = [name.strip() for name in args.task.split(",") if name.strip()]
        return [name if Path(name).is_dir() else find_task(name).name for name in names]
    every = list_tasks()
    unscorable = [t.name for t in every if not t.scorable or t.serve_problem()]
    if unscorable and not args.json:
        print(f"autolab-mcp eval: skipping {', '.join(unscorable)} (no tests/evaluate.py, no objective or "
              "no editable file; see `autolab-mcp tasks`)", file=sys.stderr)
    return [t.name for t in every if t.name not in unscorable]


def _run_batch_shown(args: argparse.Namespace, tasks: list[str], seeds: list[int], out_dir: Path,
                     agent_options: AgentOptions, server: ServerOptions) -> list[EpisodeOutcome]:
    """run_batch with the live table on stderr (none with --json: stderr stays quiet)."""
    table = None if args.json else LiveTable()
    if table is not None:
        print(f"autolab-mcp eval: {len(tasks)} task(s) x {len(seeds)} seed(s), agent {args.agent}, "
              f"parallel {args.parallel}, out {out_dir}", file=sys.stderr)
        table.start()
    try:
        return run_batch(tasks, args.agent, seeds, out_dir, parallel=args.parallel, agent_options=agent_options,
                         server=server, progress=table.update if table else None, public_key=args.public_key)
    finally:
        if table is not None:
            table.stop()


def _print_report(args: argparse.Namespace, report: dict[str, Any], out: EvalDir) -> None:
    """report.json on stdout with --json, else report.md's summary and where the files are on stderr."""
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print(out.report_md.read_text().split("## Episodes")[0].rstrip(), file=sys.stderr)
    curves = f", curves: {out.curves}" if report["curves"] else f"; no curves: {report['curves_note']}"
    print(f"\nreport: {out.report_md} (json: {out.report_json}){curves}", file=sys.stderr)


def weak_isolation_refusal(backend: str, allowed: bool) -> str | None:
    """Why eval will not run here (None: it will): scores from a host that cannot isolate evaluations
    from concurrent experiments can be skewed or leak hidden inputs, so that needs an explicit yes."""
    from autolab_mcp.core.sandbox.isolation import isolation_gaps

    gaps = isolation_gaps(backend)
    if not gaps or allowed:
        return None
    return (f"autolab-mcp eval: weak isolation with the {backend} backend on this host: {'; '.join(gaps)}. "
            "Run as root (or use --backend docker with a rootful engine), or pass --allow-weak-isolation to "
            "run anyway; results are then marked `weak isolation` in their signed records and the report.")


# -- replay, finalize ------------------------------------------------------------------------------------


def cmd_replay(args: argparse.Namespace) -> int:
    report = replay(args.trajectory, args.out, backend=args.backend)
    if args.json:
        print(json.dumps({**report.model_dump(mode="json"), "ok": report.ok}, indent=1))
    else:
        for c in report.calls:
            mark = "ok " if not c.problem else "DIFF"
            print(f"{mark} {c.index:>4} {c.function_name:<20} recorded {'ok' if c.ok_recorded else 'error':<5} "
                  f"replayed {'ok' if c.ok_replayed else 'error':<5} {c.problem}")
        print(f"\n{report.matched}/{len(report.calls)} calls match; score recorded {report.recorded_score}, "
              f"replayed {report.replayed_score}; replay run: {report.run_dir}")
    return 0 if report.ok else 1


def cmd_finalize(args: argparse.Namespace) -> int:
    record = finalize(args.run_dir)
    print(json.dumps(record, indent=1))
    return 0


# -- parsers ---------------------------------------------------------------------------------------------


def _add_eval_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", required=True, help="task name, comma-separated names, a task directory, or `all`")
    add_tasks_dir_option(p)
    p.add_argument("--agent", default="scripted", help="scripted | anthropic:MODEL | openai:MODEL")
    p.add_argument("--seeds", type=int, default=1, help="episodes per task (seeds 0..N-1)")
    p.add_argument("--seed-start", type=int, default=0)
    p.add_argument("--parallel", type=int, default=1, help="episodes at a time")
    p.add_argument("--out", type=Path, help="output directory (default runs/eval/<timestamp>)")
    p.add_argument("--json", action="store_true", help="no progress table; print report.json to stdout")
    p.add_argument("--backend", default="bwrap", choices=["bwrap", "docker"])
    p.add_argument("--min-score", type=float, default=0.9, help="tasks whose mean is below are listed (0.9)")
    p.add_argument("--fail-below", action="store_true", help="exit 3 when a task's mean is below --min-score")
    p.add_argument("--public-key", type=Path, metavar="FILE", default=default_public_key_path(),
                   help="the scorer's Ed25519 public key results are verified with (default %(default)s)")
    p.add_argument("--allow-untrusted", action="store_true",
                   help="run imported tasks whose verifier runs candidate code (their records are flagged for review)")
    p.add_argument("--allow-weak-isolation", action="store_true",
                   help="run even where evaluations cannot be isolated from concurrent experiments (not root: "
                   "no cpuset, freezer or lock filter); results are marked `weak isolation`")
    llm = p.add_argument_group("LLM agents")
    llm.add_argument("--base-url", help="API base (OpenAI-compatible: include /v1, e.g. http://localhost:8000/v1)")
    llm.add_argument("--max-turns", type=int, default=60)
    llm.add_argument("--max-tokens", type=int)
    llm.add_argument("--temperature", type=float)
    llm.add_argument("--context-chars", type=int, default=400_000, help="conversation kept under this size")
    budget = p.add_argument_group("budget overrides (passed to `autolab-mcp serve`)")
    budget.add_argument("--wall-mode", choices=["real", "serving"], default="real",
                        help="wall budget since the episode started, downtime included (real, the default), "
                        "or only while a server runs it (serving)")
    budget.add_argument("--wall-sec", type=float)
    budget.add_argument("--compute-sec", type=float)
    budget.add_argument("--experiments", type=int)
    budget.add_argument("--score-calls", type=int)
    p.set_defaults(func=cmd_eval)


def _add_replay_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("trajectory", type=Path)
    p.add_argument("--out", type=Path, help="where the replay's run directory goes (default: a temp dir)")
    p.add_argument("--backend", choices=["bwrap", "docker"])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_replay)


def add_parser(sub: Any) -> None:
    """Registers `eval` and `replay` on the autolab-mcp command line."""
    _add_eval_arguments(sub.add_parser("eval", help="run an agent on tasks over MCP; report, curves, trajectories"))
    _add_replay_arguments(sub.add_parser("replay", help="re-issue a trajectory's tool calls against a fresh server"))


def main(argv: list[str] | None = None) -> None:
    """`python -m clients.evalrun`: the package's docstring is the help text."""
    description = importlib.import_module(__package__ or "clients.evalrun").__doc__
    parser = argparse.ArgumentParser(prog="python -m clients.evalrun", description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_eval_arguments(sub.add_parser("run", help="same as `autolab-mcp eval`"))
    _add_replay_arguments(sub.add_parser("replay", help="re-issue a trajectory's tool calls against a fresh server"))
    fin = sub.add_parser("finalize", help="submit a run a client left open (resumes its server)")
    fin.add_argument("run_dir", type=Path, help="RUNS_DIR/RUN_ID")
    fin.set_defaults(func=cmd_finalize)
    args = parser.parse_args(argv)
    sys.exit(args.func(args))
