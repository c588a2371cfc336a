"""Replay: re-issue a trajectory's MCP requests, in order, against a fresh server, and say where the new
answers differ (ok-ness, result keys). It checks that a recorded episode is reproducible and that a
server change did not alter what agents see."""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.client.stdio import stdio_client

from autolab_mcp.core.rundir import RunDir
from autolab_mcp.core.taskdirs import find_task
from autolab_mcp.core.taskspec import Task
from clients.agents.trajectory import CLIENT_ONLY, TOOL_CALL, RecordingClient, Trajectory, calls_of, load_trajectory
from clients.evalrun.launch import READ_TIMEOUT, serve_args, serve_params
from clients.evalrun.models import ReplayCall, ReplayReport, ServerOptions
from clients.evalrun.paths import ReplayDir

__all__ = ["replay"]

#: the requests that are not tool calls, re-issued as recorded
_OTHER_METHODS: dict[str, Callable[[RecordingClient, dict[str, Any]], Awaitable[Any]]] = {
    "resources/read": lambda recorder, args: recorder.read_resource(args["uri"]),
    "prompts/get": lambda recorder, args: recorder.get_prompt(args["name"], args.get("arguments") or None),
    "tools/list": lambda recorder, args: recorder.list_tools(),
}


def replay(path: Path, out_dir: Path | None = None, *, backend: str | None = None) -> ReplayReport:
    """Re-issue a trajectory's MCP requests, in order, against a fresh server; compare ok-ness and result keys."""
    if out_dir is None:
        out_dir = Path(tempfile.mkdtemp(prefix="autolab-replay-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    return anyio.run(_replay_async, Path(path), out_dir, backend)


async def _replay_async(path: Path, out_dir: Path, backend: str | None) -> ReplayReport:
    doc = load_trajectory(path)
    task, server = _recorded_setup(doc, backend)
    out = ReplayDir(out_dir)
    out.runs.mkdir(parents=True, exist_ok=True)
    command, args = serve_args(task, out.runs, server.args())
    replay_traj = Trajectory(f"replay-{doc['session_id']}", agent_name=f"replay of {doc['agent']['name']}",
                             extra={"task": task.name, "replay_of": str(path)}, path=out.trajectory)
    with open(out.server_log, "a", encoding="utf-8") as errlog:
        async with Client(stdio_client(serve_params(command, args), errlog=errlog),
                          read_timeout_seconds=READ_TIMEOUT) as client:
            calls, replayed_score = await _replay_calls(RecordingClient(client, replay_traj), calls_of(doc))
    replay_traj.write()
    recorded = [c for c in calls_of(doc) if c["function_name"] == "submit" and c.get("ok")]
    recorded_score = (recorded[-1].get("structured_content") or {}).get("score") if recorded else None
    mismatched = sum(1 for c in calls if c.problem)
    run_dirs = RunDir.all_in(out.runs)
    return ReplayReport(trajectory=str(path), task=task.name, calls=calls, matched=len(calls) - mismatched,
                        mismatched=mismatched, recorded_score=recorded_score, replayed_score=replayed_score,
                        run_dir=str(run_dirs[0].path) if run_dirs else None,
                        replay_trajectory=str(replay_traj.path))


def _recorded_setup(doc: dict[str, Any], backend: str | None) -> tuple[Task, ServerOptions]:
    """The task and server options the trajectory was recorded with (`backend` replaces the backend)."""
    extra = doc["extra"]
    server = ServerOptions(**extra.get("server", {}).get("options", {}))
    if backend:
        server.backend = backend
    task = find_task(extra.get("task_root") if Path(extra.get("task_root", "")).is_dir() else extra["task"])
    return task, server


async def _replay_calls(recorder: RecordingClient, recorded: list[dict[str, Any]]) -> tuple[list[ReplayCall],
                                                                                            float | None]:
    """Each recorded request re-issued and compared; also the replayed submission's score."""
    calls: list[ReplayCall] = []
    replayed_score = None
    for i, call in enumerate(recorded):
        method = call.get("method", TOOL_CALL)
        entry = ReplayCall(index=i, function_name=call["function_name"], method=method,
                           ok_recorded=bool(call.get("ok")))
        if method == CLIENT_ONLY:
            continue  # never reached the server
        structured = await _reissue(recorder, call, entry)
        if method == TOOL_CALL and call["function_name"] == "submit" and entry.ok_replayed and structured:
            replayed_score = structured.get("score")
        _compare(call, entry, structured)
        calls.append(entry)
    return calls, replayed_score


async def _reissue(recorder: RecordingClient, call: dict[str, Any], entry: ReplayCall) -> dict[str, Any] | None:
    """Send one recorded request; note in `entry` whether it succeeded. Returns a tool's structured result."""
    method = entry.method
    args = call.get("arguments") or {}
    try:
        if method == TOOL_CALL:
            result = await recorder.call_tool(call["function_name"], args)
            entry.ok_replayed = not result.is_error
            return result.structured_content
        if method in _OTHER_METHODS:
            await _OTHER_METHODS[method](recorder, args)
            entry.ok_replayed = True
        else:
            entry.problem = f"unknown method {method!r}"
    except Exception as exc:
        entry.ok_replayed = False
        entry.problem = f"{type(exc).__name__}: {exc}"
    return None


def _keys(value: Any) -> set[str] | None:
    return set(value) if isinstance(value, dict) else None


def _compare(call: dict[str, Any], entry: ReplayCall, structured: dict[str, Any] | None) -> None:
    """A problem when the replay's ok-ness differs from the recording, or a tool's result keys do."""
    if entry.ok_replayed is not None and entry.ok_replayed != entry.ok_recorded:
        entry.problem = entry.problem or (
            f"recorded {'ok' if entry.ok_recorded else 'error'}, replayed "
            f"{'ok' if entry.ok_replayed else 'error'}")
    recorded_keys = _keys(call.get("structured_content"))
    if entry.method == TOOL_CALL and entry.ok_recorded and entry.ok_replayed:
        entry.shape_match = recorded_keys == _keys(structured)
        if not entry.shape_match:
            entry.problem = f"result keys differ: recorded {sorted(recorded_keys or [])}, " \
                            f"replayed {sorted(_keys(structured) or [])}"
