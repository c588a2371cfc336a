"""`autolab-mcp call TOOL key=value ...`: one MCP call from a shell, for people and scripts.

Either against a running HTTP server (`--url`, bearer token from AUTOLAB_TOKEN or `--token`), or against an
episode on disk (`--resume RUN_ID`): then `autolab-mcp serve --resume` runs over stdio for this one call and
stops after it. `--new --task NAME` creates an episode and prints its run id. Episodes made here count wall
time since they started (`--wall-mode real`): with a server per call, time between calls must count too.

Exit status: 0 done, 1 the server refused the call (its text on stderr), 2 bad usage.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from autolab_mcp.core.errors import AutolabError
from autolab_mcp.core.rundir import RunDir

POLL_WAIT_SEC = 50  # the server's maximum wait per poll
READ_TIMEOUT_SEC = 180  # one request: a poll waits at most POLL_WAIT_SEC on the server
SCORING = ("get_metric", "submit", "score_status")
LOCKED = "already being served by another process"


class UsageError(AutolabError):
    """Bad usage: exit 2 with what is allowed."""


class Refused(AutolabError):
    """The server (or the connection to it) said no: exit 1."""


# -- arguments ----------------------------------------------------------------------------------------------


def _read_at(value: str) -> str:
    """`@file` reads the file's content; `@@x` is the literal `@x`."""
    if value.startswith("@@"):
        return value[1:]
    path = Path(value[1:])
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path} (from {value!r}): {exc}") from None


def _is_string_only(schema: dict[str, Any] | None) -> bool:
    return schema is not None and schema.get("type") == "string"


def parse_value(raw: str, schema: dict[str, Any] | None = None) -> Any:
    """A JSON value when the text parses as one (30, true, null, {...}, "quoted"), else the text itself;
    a parameter that can only be a string keeps unquoted text verbatim (content=42 writes "42")."""
    if raw.startswith("@"):
        return _read_at(raw)
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    return raw if _is_string_only(schema) and not isinstance(value, str) else value


def parse_arguments(pairs: list[str], json_args: str | None, properties: dict[str, Any]) -> dict[str, Any]:
    """`--json` first, then `key=value` pairs over it."""
    arguments: dict[str, Any] = {}
    if json_args is not None:
        text = _read_at(json_args) if json_args.startswith("@") else json_args
        try:
            loaded = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"--json is not valid JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise UsageError('--json must be a JSON object, e.g. --json \'{"command": "ls"}\'')
        arguments.update(loaded)
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"{pair!r} is not key=value")
        arguments[key] = parse_value(raw, properties.get(key))
    return arguments


def _check_arguments(name: str, arguments: dict[str, Any], schema: dict[str, Any]) -> None:
    properties = schema.get("properties") or {}
    allowed = ", ".join(f"{k}{'' if k in schema.get('required', []) else '?'}" for k in properties) or "none"
    unknown = sorted(set(arguments) - set(properties))
    missing = [k for k in schema.get("required", []) if k not in arguments]
    if unknown or missing:
        problem = f"unknown {', '.join(unknown)}" if unknown else f"missing {', '.join(missing)}"
        raise UsageError(f"{name}: {problem}; its arguments: {allowed}")


# -- connecting -----------------------------------------------------------------------------------------------


def serve_command(args: argparse.Namespace) -> list[str]:
    """The `autolab-mcp serve` command line for this call (stdio)."""
    cmd = [sys.executable, "-m", "autolab_mcp.cli", "serve", "--run-dir", str(args.run_dir), "--backend", args.backend]
    if args.resume:
        return [*cmd, "--resume", args.resume]
    cmd += ["--task", args.task, "--wall-mode", "real"]  # downtime between the per-call servers counts
    for flag in ("wall_sec", "compute_sec", "experiments", "score_calls"):
        if getattr(args, flag) is not None:
            cmd += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    return cmd


def _client(args: argparse.Namespace, errlog: IO[str]) -> Any:
    from mcp import Client, StdioServerParameters
    from mcp.client.stdio import stdio_client

    if args.url:
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        http = create_mcp_http_client(headers={"Authorization": f"Bearer {args.token}"})
        return http, Client(streamable_http_client(args.url, http_client=http), read_timeout_seconds=READ_TIMEOUT_SEC)
    command = serve_command(args)
    # the SDK passes the server a minimal environment; our settings (scorer key, cache dirs) must follow
    env = {k: v for k, v in os.environ.items() if k.startswith("AUTOLAB_") and k != "AUTOLAB_TOKEN"}
    params = StdioServerParameters(command=command[0], args=command[1:], env=env)
    return None, Client(stdio_client(params, errlog=errlog), read_timeout_seconds=READ_TIMEOUT_SEC)


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _leaves(sub)]
    return [exc]


def _status(url: str, token: str) -> int | None:
    import httpx

    try:
        return httpx.post(url, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code
    except httpx.HTTPError:
        return None


def _connection_failure(args: argparse.Namespace, exc: BaseException, server_stderr: str) -> Refused:
    """Say why no answer came: another server holds the run, the token was refused, the server died."""
    if LOCKED in server_stderr:
        return Refused(f"run {args.resume} is already being served by another process (one server per episode): "
                       "call that server with --url, or stop it and call again")
    detail = "; ".join(f"{type(e).__name__}: {e}" for e in _leaves(exc))
    if args.url:
        if _status(args.url, args.token) == 401:  # the SDK's error does not carry the HTTP status
            return Refused(f"{args.url} refused the bearer token (401): give the server's AUTOLAB_TOKEN")
        return Refused(f"no answer from {args.url}: {detail}")
    lines = [ln for ln in server_stderr.strip().splitlines() if ln.strip()]
    tail = "\n".join(lines[-8:])
    return Refused(f"the server stopped before answering ({detail})" + (f":\n{tail}" if tail else ""))


# -- the call -------------------------------------------------------------------------------------------------


def _text(result: Any) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content or [])


async def _call(client: Any, name: str, arguments: dict[str, Any]) -> Any:
    result = await client.call_tool(name, arguments)
    if result.is_error:
        raise Refused(_text(result) or f"{name} was refused")
    return result.structured_content if result.structured_content is not None else _text(result)


async def _poll(client: Any, name: str, out: Any, wait: bool) -> Any:
    """Poll a scoring call that answered `pending`, and an experiment that answered `running` (unless
    --no-wait), printing a line to stderr per poll."""
    while isinstance(out, dict) and name in SCORING and out.get("status") == "pending":
        print(f"autolab-mcp call: {out.get('id')} pending ({out.get('elapsed_sec', 0):.0f} s)", file=sys.stderr)
        out = await _call(client, "score_status", {"id": out["id"], "wait_sec": POLL_WAIT_SEC})
    while wait and isinstance(out, dict) and name == "run_experiment" and out.get("status") == "running":
        last = (out.get("output_tail") or "").strip().splitlines()[-1:] or [""]
        print(f"autolab-mcp call: {out['id']} running ({out.get('seconds', 0):.0f} s) {last[0][:120]}",
              file=sys.stderr)
        out = await _call(client, "experiment_status", {"id": out["id"], "wait_sec": POLL_WAIT_SEC})
    return out


async def _session(args: argparse.Namespace, errlog: IO[str], emit: Callable[[str], None]) -> None:
    http, client = _client(args, errlog)
    async with contextlib.AsyncExitStack() as stack:
        if http is not None:
            await stack.enter_async_context(http)
        await stack.enter_async_context(client)
        if args.new:  # a run that never saw a tool call is removed when its server stops: make one
            await _call(client, "remaining_budget", {})
            return
        if args.list:
            for t in (await client.list_tools()).tools:
                emit(f"{t.name:<18} {(t.description or '').strip().splitlines()[0] if t.description else ''}")
            return
        if args.tool == "resource":
            if len(args.pairs) != 1:
                raise UsageError("usage: autolab-mcp call resource URI (e.g. autolab://instruction)")
            result = await client.read_resource(args.pairs[0])
            emit("\n".join(getattr(c, "text", "") or "" for c in result.contents))
            return
        tools = {t.name: t for t in (await client.list_tools()).tools}
        if args.tool not in tools:
            raise UsageError(f"no tool {args.tool!r}; tools: {', '.join(sorted(tools))} (or: resource URI)")
        schema = tools[args.tool].input_schema or {}
        arguments = parse_arguments(args.pairs, args.json, schema.get("properties") or {})
        _check_arguments(args.tool, arguments, schema)
        out = await _poll(client, args.tool, await _call(client, args.tool, arguments), not args.no_wait)
        if isinstance(out, str):
            emit(out)
        else:
            emit(json.dumps(out, separators=(",", ":")) if args.raw else json.dumps(out, indent=1))


def _validate(args: argparse.Namespace) -> None:
    modes = [m for m, on in (("--url", args.url), ("--resume", args.resume), ("--new", args.new)) if on]
    if len(modes) != 1:
        got = f"; got {' '.join(modes)}" if modes else ""
        raise UsageError("give exactly one of --url URL (a running HTTP server), --resume RUN_ID (an episode "
                         f"in --run-dir) or --new --task NAME (create one){got}")
    if args.task and not args.new:
        raise UsageError("--task creates an episode: add --new (it prints the run id), then call with --resume")
    creating = [f for f in ("wall_sec", "compute_sec", "experiments", "score_calls") if getattr(args, f) is not None]
    if creating and not args.new:
        raise UsageError(f"--{creating[0].replace('_', '-')} is a budget for a new episode: only with --new")
    if args.new:
        if not args.task:
            raise UsageError("--new needs --task NAME (see `autolab-mcp tasks`)")
        if args.tool or args.list:
            raise UsageError("--new only creates the episode and prints its run id; call tools with --resume RUN_ID")
        return
    if not args.tool and not args.list:
        raise UsageError("give a TOOL (and key=value arguments), `resource URI`, or --list")
    if args.url and not args.token:
        raise UsageError("--url needs the server's bearer token: AUTOLAB_TOKEN=... or --token")
    if args.resume:
        if args.no_wait and args.tool == "run_experiment":
            raise UsageError("--no-wait needs --url: with --resume the server stops after this call, and a "
                             "running experiment with it")
        if not RunDir.under(args.run_dir, args.resume).exists():
            runs = [run.run_id for run in RunDir.all_in(args.run_dir)]
            raise UsageError(f"no run {args.resume!r} in {args.run_dir}; runs there: {', '.join(runs) or 'none'}")


def cmd_call(args: argparse.Namespace) -> int:
    import anyio

    args.run_dir = args.run_dir.resolve()
    args.token = args.token or os.environ.get("AUTOLAB_TOKEN")
    try:
        _validate(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    lines: list[str] = []
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errlog:
        try:
            anyio.run(_session, args, errlog, lines.append)
        except BaseException as exc:
            leaves = _leaves(exc)
            known = [e for e in leaves if isinstance(e, UsageError | Refused)]
            if not known and not all(isinstance(e, Exception) for e in leaves):
                raise  # KeyboardInterrupt, SystemExit
            errlog.seek(0)
            problem = known[0] if known else _connection_failure(args, exc, errlog.read())
            print(f"error: {problem}", file=sys.stderr)
            return 2 if isinstance(problem, UsageError) else 1
        if args.new:
            errlog.seek(0)
            found = re.search(r"autolab-mcp: run (\S+) ", errlog.read())
            if not found:
                print("error: the server did not say which run it created", file=sys.stderr)
                return 1
            lines.append(found.group(1))
    for line in lines:
        print(line)
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "call", help="call one tool: against an HTTP server (--url) or an episode on disk (--resume)",
        description="Call one tool and print its result as JSON. Values in key=value are JSON when they parse "
        "(30, true, null, {...}, \"quoted\") and text otherwise; @FILE reads a file. Exit 1: refused; 2: bad usage.",
        epilog="examples:\n  RUN=$(autolab-mcp call --new --task sorting_network --run-dir runs)\n"
        "  autolab-mcp call --resume $RUN --run-dir runs run_experiment command='python check.py'\n"
        "  autolab-mcp call --resume $RUN --run-dir runs write_file path=network.py content=@network.py\n"
        "  AUTOLAB_TOKEN=... autolab-mcp call --url http://127.0.0.1:8765/mcp get_metric",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("tool", nargs="?", help="tool name, or `resource` followed by a URI")
    p.add_argument("pairs", nargs="*", metavar="key=value", help="tool arguments (@FILE: a file's content)")
    p.add_argument("--json", metavar="ARGS", help="all arguments as one JSON object (or @FILE)")
    p.add_argument("--url", help="a running `serve --http` endpoint, e.g. http://127.0.0.1:8765/mcp")
    p.add_argument("--token", help="bearer token for --url (default: $AUTOLAB_TOKEN)")
    p.add_argument("--resume", metavar="RUN_ID", help="serve this episode over stdio for the one call")
    p.add_argument("--run-dir", type=Path, default=Path(os.environ.get("AUTOLAB_RUN_DIR", "runs")),
                   help="where runs are kept (./runs)")
    p.add_argument("--new", action="store_true", help="create an episode of --task and print its run id")
    p.add_argument("--task", help="task for --new")
    p.add_argument("--backend", default="bwrap", choices=["bwrap", "docker"])
    for flag, kind in (("--wall-sec", float), ("--compute-sec", float), ("--experiments", int),
                       ("--score-calls", int)):
        p.add_argument(flag, type=kind, help="budget override for --new")
    p.add_argument("--list", action="store_true", help="list the tools with their one-line descriptions")
    p.add_argument("--raw", action="store_true", help="compact JSON")
    p.add_argument("--no-wait", action="store_true", help="print run_experiment's `running` answer, do not poll")
    p.set_defaults(func=cmd_call)
