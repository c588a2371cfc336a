"""`autolab-scorer` (also `python -m scorer`): serve many tasks over a unix socket or TCP.

Every client has a bearer token of its own (`--tokens-file`, lines `NAME TOKEN`), or there is
one, from an environment variable, for the server that started this scorer as its child.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from pathlib import Path

from autolab_mcp.core.errors import AutolabError
from autolab_mcp.core.sandbox.common import kill_live_sandboxes
from autolab_mcp.core.taskdirs import discover
from autolab_mcp.core.taskspec import Task, TaskSpecError, load_task
from scorer.service import DEFAULT_QUEUE_TIMEOUT_SEC, Scorer

log = logging.getLogger("autolab.scorer")

MIN_TOKEN_CHARS = 16


class ConfigError(AutolabError):
    """The scorer's command line or one of its files is unusable; the message says what to fix."""


def read_tokens(path: Path) -> dict[str, str]:
    """Client name -> token from a file of `NAME TOKEN` lines (# comments, blank lines allowed)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read the tokens file {path}: {exc.strerror}") from None
    tokens: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ConfigError(f"{path}:{number}: expected `NAME TOKEN` (two words), got {len(parts)}")
        name, token = parts
        if len(token) < MIN_TOKEN_CHARS:
            raise ConfigError(f"{path}:{number}: the token of {name!r} is shorter than {MIN_TOKEN_CHARS} characters")
        if name in tokens:
            raise ConfigError(f"{path}:{number}: client {name!r} is listed twice")
        tokens[name] = token
    if not tokens:
        raise ConfigError(f"{path} lists no client: add a line `NAME TOKEN`")
    return tokens


def find_tasks(dirs: list[Path], paths: list[Path]) -> list[Task]:
    """Every task under the tasks directories (one per subdirectory with a task.toml, or the directory
    itself) and each path given; a broken or unservable task is skipped with a warning in a directory,
    fatal when named directly."""
    tasks = []
    for path in paths:
        task = load_task(path)
        if task.serve_problem():
            raise ConfigError(f"task {path}: {task.serve_problem()}")
        tasks.append(task)
    for directory in dirs:
        if not directory.is_dir():
            raise ConfigError(f"tasks directory {directory} does not exist")
        for entry in discover([directory]):
            problem = entry.problem or (entry.task.serve_problem() if entry.task else None)
            if entry.task is None or problem:
                log.warning("skipping task %s: %s", entry.name, problem)
            else:
                tasks.append(entry.task)
    if not tasks:
        raise ConfigError("no task to serve: give --tasks-dir DIR (subdirectories with task.toml) or --task PATH")
    return tasks


def parse_listen(spec: str) -> tuple[str, str | int]:
    """`unix:/path` -> ("unix", path); `tcp:HOST:PORT` -> (host, port)."""
    if spec.startswith("unix:") and len(spec) > 5:
        return "unix", spec[5:]
    if spec.startswith("tcp:"):
        host, _, port = spec[4:].rpartition(":")
        if host and port.isdigit():
            return host.strip("[]"), int(port)
    raise ConfigError(f"--listen {spec!r}: use unix:/path/to/socket or tcp:HOST:PORT")


def _exit_when_stdin_closes() -> None:
    """The server that started us died (even by SIGKILL): stop at once, not after the evaluation in
    flight (uvicorn's graceful shutdown would wait for it, holding the timing core for minutes). Every
    sandbox is killed first; the core's flock goes with the process."""
    while sys.stdin.buffer.read(4096):
        pass
    log.info("parent server is gone (stdin closed); stopping")
    killed = kill_live_sandboxes("shutdown", wait_sec=1.5)
    if killed:
        log.info("killed %d running evaluation sandbox(es)", killed)
    sys.stderr.flush()
    os._exit(0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autolab-scorer", description=__doc__)
    parser.add_argument("--tasks-dir", type=Path, action="append", default=[],
                        help="serve every task in this directory (repeatable)")
    parser.add_argument("--task", type=Path, action="append", default=[], help="serve this task (repeatable)")
    parser.add_argument("--listen", help="unix:/path/to/socket or tcp:HOST:PORT")
    parser.add_argument("--socket", help="unix socket path (the same as --listen unix:PATH)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, help="TCP port (the same as --listen tcp:HOST:PORT)")
    parser.add_argument("--backend", default="bwrap", choices=["bwrap", "docker"])
    parser.add_argument("--tokens-file", type=Path, help="client tokens, one `NAME TOKEN` line each")
    parser.add_argument("--token-env", default="AUTOLAB_SCORER_TOKEN",
                        help="env var holding a single client's token (client name: local)")
    parser.add_argument("--signing-key", type=Path, help="Ed25519 private key file (created when missing)")
    parser.add_argument("--public-key-out", type=Path,
                        help="also write the public key here (for verifiers to pin)")
    parser.add_argument("--queue-timeout-sec", type=float, default=DEFAULT_QUEUE_TIMEOUT_SEC,
                        help="longest wait for the timing core, which other scorers on this host may hold")
    parser.add_argument("--no-prepare", action="store_true",
                        help="build task runtimes on first use instead of before listening")
    parser.add_argument("--exit-with-stdin", action="store_true",
                        help="stop when stdin closes (the server that started us died, even by SIGKILL)")
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="scorer %(levelname)s %(message)s")
    try:
        tokens = read_tokens(args.tokens_file) if args.tokens_file else {}
        env_token = os.environ.pop(args.token_env, "")
        if env_token:
            if len(env_token) < MIN_TOKEN_CHARS:
                raise ConfigError(f"${args.token_env} holds a token shorter than {MIN_TOKEN_CHARS} characters")
            tokens.setdefault("local", env_token)
        if not tokens:
            raise ConfigError(f"no client token: give --tokens-file FILE or set ${args.token_env}")
        if args.listen:
            where = parse_listen(args.listen)
        elif args.socket:
            where = ("unix", args.socket)
        elif args.port:
            where = (args.host, args.port)
        else:
            raise ConfigError("say where to listen: --listen unix:PATH or --listen tcp:HOST:PORT")
        tasks = find_tasks(args.tasks_dir, args.task)
    except (ConfigError, TaskSpecError) as exc:
        parser.error(str(exc))
    if args.exit_with_stdin:
        threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()
    scorer = Scorer(tasks, args.backend, signing_key_path=args.signing_key, queue_timeout_sec=args.queue_timeout_sec)
    if args.public_key_out:
        args.public_key_out.write_text(scorer.public_key_text + "\n")
    if not args.no_prepare:
        scorer.prepare()  # build runtimes before accepting work, so the first score is not slow
    if not args.exit_with_stdin:  # a service, not a server's child (whose stderr is the server's log)
        log.info("serving %d task(s) to %d client(s): %s", len(tasks), len(tokens), ", ".join(sorted(scorer.tasks)))
    _serve(scorer, tokens, where)


def _serve(scorer: Scorer, tokens: dict[str, str], where: tuple[str, str | int]) -> None:
    import uvicorn

    from scorer.http_api import build_app

    app = build_app(scorer, tokens)
    if where[0] == "unix":
        os.umask(0o077)
        config = uvicorn.Config(app, uds=str(where[1]), log_level="warning")
    else:
        config = uvicorn.Config(app, host=str(where[0]), port=int(where[1]), log_level="warning")
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
