"""Command line: serve, tasks, runs, scorer (and oracle/eval where available).

stdout belongs to the MCP stdio transport while serving, so everything human
goes to stderr there.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from autolab_mcp.cli_options import add_tasks_dir_option
from autolab_mcp.core.rundir import RunDir
from autolab_mcp.core.signatures import default_public_key_path
from autolab_mcp.core.taskdirs import find_task, use_tasks_dirs
from autolab_mcp.core.taskspec import TaskSpecError

log = logging.getLogger("autolab")


def _default_runs_dir() -> Path:
    return Path(os.environ.get("AUTOLAB_RUN_DIR", "runs"))


# -- serve ----------------------------------------------------------------------


def _exit_on_signal(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def cmd_serve(args: argparse.Namespace) -> int:
    import anyio

    from autolab_mcp.core.rundir_files import RunDirCorrupt, RunDirWriteError
    from autolab_mcp.core.sandbox import make_backend
    from autolab_mcp.core.taskspec import load_task
    from autolab_mcp.episode import BudgetOverrides, Episode, EpisodeError
    from autolab_mcp.scorer_client import ScorerUnavailable
    from autolab_mcp.server import build_server
    from autolab_mcp.transport import http_app, new_token, run_stdio, token_problem

    # a weak token is refused before anything starts (no scorer, no run directory)
    token = (os.environ.get("AUTOLAB_TOKEN") or "") if args.http else ""
    problem = token_problem(token) if token else None
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    use_tasks_dirs(args.tasks_dir)
    runs_dir: Path = args.run_dir.resolve()
    runs_dir.mkdir(parents=True, exist_ok=True)
    backend = make_backend(args.backend)
    if args.resume:
        run = RunDir.under(runs_dir, args.resume)
        if not run.exists():
            print(f"error: no run {args.resume!r} in {runs_dir}", file=sys.stderr)
            return 2
        try:
            meta = run.read_meta_document()
            task = load_task(str(meta["task_root"]), public_only=bool(args.scorer_url))
        except RunDirCorrupt as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except KeyError:
            print(f"error: run metadata {run.meta} has no task_root", file=sys.stderr)
            return 2
    else:
        if not args.task:
            print("error: give --task NAME (see `autolab-mcp tasks`) or --resume RUN_ID", file=sys.stderr)
            return 2
        task = find_task(args.task, public_only=bool(args.scorer_url))
        if task.serve_problem():
            print(f"error: task {task.name} cannot be served: {task.serve_problem()}", file=sys.stderr)
            return 2
    if not args.scorer_url and not task.scorable:
        print(f"error: {task.tests_dir / 'evaluate.py'} is missing; the scorer needs its evaluate(ctx)",
              file=sys.stderr)
        return 2
    try:
        scorer = _make_scorer(args, task)
        scorer.start()  # a failed start leaves no process and no socket directory behind
    except ScorerUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.resume:
            episode = Episode.resume(runs_dir / args.resume, backend=backend, scorer=scorer)
        else:
            overrides = BudgetOverrides(wall_mode=args.wall_mode, wall_sec=args.wall_sec,
                                        compute_sec=args.compute_sec, experiments=args.experiments,
                                        score_calls=args.score_calls)
            episode = Episode.create(task, runs_dir, backend=backend, backend_name=args.backend, scorer=scorer,
                                     overrides=overrides)
    except (EpisodeError, RunDirCorrupt, RunDirWriteError) as exc:  # one line, no traceback
        scorer.stop()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"autolab-mcp: run {episode.meta.run_id} ({episode.run_dir})", file=sys.stderr)
    episode.start_wall_timer()
    mcp = build_server(episode)
    try:
        if args.http:
            import uvicorn

            if not token:
                token = new_token()
                print(f"autolab-mcp: bearer token {token}", file=sys.stderr)
            app = http_app(mcp, args.host, token)
            print(f"autolab-mcp: serving http://{args.host}:{args.port}/mcp", file=sys.stderr)
            # uvicorn re-raises SIGTERM after its shutdown, which would skip the cleanup below
            signal.signal(signal.SIGTERM, _exit_on_signal)
            uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
        else:
            anyio.run(run_stdio, mcp)
    finally:
        try:  # a health check (connect, list tools, leave) leaves no open episode behind
            episode.close(remove_if_untouched=not args.resume)
        except RunDirWriteError as exc:
            print(f"autolab-mcp: {exc}", file=sys.stderr)
        scorer.stop()
    return 0


def _make_scorer(args: argparse.Namespace, task: Any) -> Any:
    """The scorer this episode uses: a child process of ours (the default), or a remote service
    (`--scorer-url`), in which case this server holds only the task's public part."""
    from autolab_mcp.scorer_client import RemoteScorer, ScorerProcess, ScorerUnavailable, read_token_file

    eval_timeout = task.config.autolab.eval_timeout_sec * 4 + 60
    if not args.scorer_url:
        return ScorerProcess(task.root, args.backend, eval_timeout=eval_timeout)
    if not args.scorer_token_file:
        raise ScorerUnavailable("--scorer-url needs --scorer-token-file FILE (this server's bearer token)")
    public_key = None
    if args.scorer_public_key:
        from autolab_mcp.core.signatures import PublicKeyError, load_public_key

        try:
            public_key = load_public_key(args.scorer_public_key)
        except PublicKeyError as exc:
            raise ScorerUnavailable(str(exc)) from None
    return RemoteScorer(args.scorer_url, read_token_file(args.scorer_token_file), task.name,
                        eval_timeout=eval_timeout, public_key=public_key)


def cmd_bundle(args: argparse.Namespace) -> int:
    """Write the public part of a task (what a server with a remote scorer needs) to OUT/<task name>:
    OUT is a tasks directory, and the task keeps its name, which is how the scorer knows it."""
    import shutil

    from autolab_mcp.core.taskspec import PUBLIC_ENTRIES

    task = find_task(args.task)
    out: Path = args.out / task.name
    if out.exists():
        print(f"error: {out} exists; bundle into a tasks directory that has no {task.name}/ yet", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    for entry in PUBLIC_ENTRIES:
        source = task.root / entry
        if source.is_dir():
            shutil.copytree(source, out / entry, symlinks=False,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, out / entry)
    print(f"wrote the public part of {task.name} to {out} ({', '.join(PUBLIC_ENTRIES)}); "
          "tests/ and solution/ stay with the scorer", file=sys.stderr)
    print(out)
    return 0


# -- tasks and runs ---------------------------------------------------------------


def _run_summary(run_dir: Path) -> dict[str, Any]:
    run = RunDir(run_dir)
    meta = run.read_meta_document()
    budget = run.read_budget_document()
    result = run.read_result_document()
    return {
        "run_id": meta["run_id"], "task": meta["task"], "created": meta["created"],
        "status": "submitted" if result else "open",
        "score": result["record"]["score"] if result else None,
        "valid": result["record"]["valid"] if result else None,
        "experiments_used": budget.get("experiments_used"), "score_calls_used": budget.get("score_calls_used"),
        "compute_used": round(budget.get("compute_used", 0.0), 2), "wall_used": round(budget.get("wall_used", 0.0), 1),
    }


def verify_result(run_dir: Path, public_key_path: Path | None = None) -> tuple[bool, str]:
    """Check result.json's signature with the scorer's public key: the pinned file at `public_key_path`
    (default_public_key_path() when None), never a key that an endpoint or the record offers."""
    from autolab_mcp.core import signatures
    from autolab_mcp.workspace import SnapshotStore

    path = RunDir(run_dir).result
    if not path.exists():
        return False, "no result.json: the run was not submitted"
    try:
        doc = json.loads(path.read_text())
        record = doc["record"]
        if not isinstance(record, dict):
            raise TypeError("the record is not an object")
    except (OSError, ValueError, TypeError, KeyError) as exc:
        return False, f"result.json is not a signed result: {type(exc).__name__}: {exc}"
    if signatures.is_legacy_key_id(doc.get("key_id")):
        return False, ("signed with a legacy HMAC key: verify it where the scorer's secret is "
                       f"(`python -m scorer verify-legacy {run_dir}`)")
    try:
        public_key = signatures.load_public_key(public_key_path)
    except signatures.PublicKeyError as exc:
        return False, str(exc)
    if doc.get("key_id") != signatures.key_id(public_key):
        return False, "signed with a different scorer key than the pinned public key"
    if not signatures.verify_record(record, doc.get("signature"), doc.get("key_id"), public_key):
        return False, "signature does not match the record: result.json was altered or forged"
    # a genuine signature on the wrong record: a feedback score, another run's, another snapshot's
    run_id = run_dir.name
    if record.get("split") != "final":
        return False, f"the signed record is a {record.get('split')!r} score, not the final evaluation"
    if doc.get("run_id") != run_id or record.get("request_id") != f"{run_id}/{doc.get('snapshot')}":
        return False, "the signed record belongs to another run or snapshot"
    try:
        manifest = SnapshotStore(RunDir(run_dir).snapshots).manifest(doc["snapshot"])
    except (OSError, ValueError, KeyError):
        return False, f"snapshot {doc.get('snapshot')} is not in this run's history"
    if manifest != record.get("files"):
        return False, "the signed record's file hashes do not match the submitted snapshot"
    return True, f"signature valid, final record bound to {run_id}/{doc['snapshot']} (score {record['score']:.4f})"


def cmd_runs(args: argparse.Namespace) -> int:
    runs_dir: Path = args.run_dir
    if args.run_id:
        run_dir = runs_dir / args.run_id
        if not RunDir(run_dir).exists():
            print(f"error: no run {args.run_id!r} in {runs_dir}", file=sys.stderr)
            return 2
        summary = _run_summary(run_dir)
        if args.verify:
            ok, message = verify_result(run_dir, args.public_key)
            summary["verified"] = ok
            summary["verification"] = message
        if args.json:
            print(json.dumps(summary, indent=1))
        else:
            for key, value in summary.items():
                print(f"{key:>18}: {value}")
            if args.events:
                for line in RunDir(run_dir).iter_event_lines():
                    print(line)
        return 0 if not args.verify or summary["verified"] else 1
    rows = [_run_summary(run.path) for run in RunDir.all_in(runs_dir)]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{'run':<42} {'task':<16} {'status':<10} {'score':>7} {'exps':>5} {'scores':>6}")
    for r in rows:
        score = "" if r["score"] is None else f"{r['score']:.3f}"
        print(f"{r['run_id']:<42} {r['task']:<16} {r['status']:<10} {score:>7} {r['experiments_used'] or 0:>5} "
              f"{r['score_calls_used'] or 0:>6}")
    return 0


def cmd_scorer(args: argparse.Namespace) -> int:
    """Run the scorer in its own process image: the server package never imports scorer code."""
    os.execv(sys.executable, [sys.executable, "-m", "scorer", *args.rest])


def build_parser(plugins: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autolab-mcp", description="MCP server for empirical optimization tasks")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run one episode as an MCP server (stdio, or streamable HTTP)")
    serve.add_argument("--task", help="task name (see `autolab-mcp tasks`) or task directory")
    add_tasks_dir_option(serve)
    serve.add_argument("--run-dir", type=Path, default=_default_runs_dir(), help="where runs are kept (./runs)")
    serve.add_argument("--resume", metavar="RUN_ID", help="continue a run after the server stopped")
    serve.add_argument("--backend", default="bwrap", choices=["bwrap", "docker"])
    serve.add_argument("--http", action="store_true", help="serve streamable HTTP at /mcp instead of stdio")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--wall-mode", choices=["serving", "real"], default="serving",
                       help="how a new episode's wall budget counts: while a server runs it (serving, the "
                       "default) or since it started, downtime between servers included (real; `eval` and "
                       "`call` use it)")
    serve.add_argument("--wall-sec", type=float, help="override the episode wall-clock budget")
    serve.add_argument("--compute-sec", type=float, help="override the sandbox compute budget")
    serve.add_argument("--experiments", type=int, help="override the experiment count budget")
    serve.add_argument("--score-calls", type=int, help="override the score-call budget")
    serve.add_argument("--scorer-url", default=os.environ.get("AUTOLAB_SCORER_URL"),
                       help="use a scorer service elsewhere (unix:/path/to/socket or http://HOST:PORT) instead "
                       "of starting one; this server then needs only the task's public part ($AUTOLAB_SCORER_URL)")
    serve.add_argument("--scorer-token-file", type=Path,
                       default=os.environ.get("AUTOLAB_SCORER_TOKEN_FILE") or None,
                       help="file holding this server's bearer token for --scorer-url")
    serve.add_argument("--scorer-public-key", type=Path,
                       default=os.environ.get("AUTOLAB_SCORER_PUBLIC_KEY") or None,
                       help="pin the scorer's Ed25519 public key: records that do not verify are refused")
    serve.set_defaults(func=cmd_serve)

    bundle = sub.add_parser("bundle", help="write a task's public part (task.toml, instruction.md, "
                            "environment/) for a server whose scorer runs elsewhere")
    bundle.add_argument("task", help="bundled task name or task directory")
    bundle.add_argument("out", type=Path, help="tasks directory to write the task into (as OUT/NAME)")
    bundle.set_defaults(func=cmd_bundle)

    from autolab_mcp import task_list
    from autolab_mcp.exporters import cli as export_cli
    from autolab_mcp.importers import cli as import_cli

    task_list.add_parser(sub)
    import_cli.add_parser(sub)
    export_cli.add_parser(sub)

    runs = sub.add_parser("runs", help="list runs, or show one")
    runs.add_argument("run_id", nargs="?")
    runs.add_argument("--run-dir", type=Path, default=_default_runs_dir())
    runs.add_argument("--verify", action="store_true", help="check result.json's scorer signature")
    runs.add_argument("--public-key", type=Path, metavar="FILE", default=default_public_key_path(),
                      help="the scorer's Ed25519 public key that --verify trusts (default %(default)s)")
    runs.add_argument("--events", action="store_true", help="print the event log too")
    runs.add_argument("--json", action="store_true")
    runs.set_defaults(func=cmd_runs)

    scorer = sub.add_parser("scorer", help="run the trusted scorer service (see --help)", add_help=False)
    scorer.add_argument("rest", nargs=argparse.REMAINDER)
    scorer.set_defaults(func=cmd_scorer)

    from autolab_mcp import call_cli, new_task, oracle

    oracle.add_parser(sub)
    call_cli.add_parser(sub)
    new_task.add_parser(sub)
    if plugins:
        _add_plugin_commands(sub)
    return parser


def _add_plugin_commands(sub: Any) -> None:
    """Subcommands other packages register (entry point group `autolab_mcp.commands`, a function
    that adds a subparser): the eval runner in clients/ sits above this package and is found so."""
    from importlib.metadata import entry_points

    for entry in entry_points(group="autolab_mcp.commands"):
        try:
            entry.load()(sub)
        except ImportError as exc:  # an optional extra that is not installed: the rest works
            log.debug("command %s unavailable: %s", entry.name, exc)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s")
    for handler in logging.getLogger().handlers:  # stderr stays at warnings; MCP clients choose their own level
        handler.setLevel(logging.WARNING)
    argv = sys.argv[1:] if argv is None else argv
    # `serve` loads no plugin: the agent-facing process imports only what serving needs
    args = build_parser(plugins=argv[:1] != ["serve"]).parse_args(argv)
    try:
        sys.exit(args.func(args))
    except TaskSpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
