"""The MCP surface: thin tool wrappers over one Episode.

Every tool call is logged to the run's events.jsonl; every refusal is a
ToolError whose text says what was wrong and what is allowed. Long operations
(experiments, scoring) send progress notifications and never block past a
client's usual 60 s cut: experiments return a handle to poll.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Annotated, Any, TypeVar

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from autolab_mcp.budget import BudgetReport
from autolab_mcp.core.errors import Refusal
from autolab_mcp.episode import DiffResult, Episode, ExperimentInfo, HistoryEntry, MetricResult, SubmitResult
from autolab_mcp.log_relay import LogRelay
from autolab_mcp.runlog import clip_value
from autolab_mcp.workspace import Change, FileListing, FileRead

log = logging.getLogger("autolab.server")
T = TypeVar("T")
MAX_WAIT_SEC = 50.0
CANCELLED_BY_CLIENT = "cancelled by the client (notifications/cancelled)"
INTERNAL_ERROR = "internal error"


def internal_error(tool: str) -> ToolError:
    """What the agent hears of a fault of ours: that it happened, never its text (which may carry values
    the candidate chose, or the server's paths); the traceback goes to the server's log."""
    log.exception("%s failed with an internal error", tool)
    return ToolError(f"{tool} failed with an internal error of the server (logged there); this is not a refusal "
                     "of the request, and retrying may work")

READ_ONLY = ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=False)
EDIT = ToolAnnotations(readOnlyHint=False, destructiveHint=True, idempotentHint=True, openWorldHint=False)
#: run_experiment: the command may rewrite editable files (a snapshot records it), so it is destructive
RUN = ToolAnnotations(readOnlyHint=False, destructiveHint=True, idempotentHint=False, openWorldHint=False)
SPEND = ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=False, openWorldHint=False)
CANCEL = ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=True, openWorldHint=False)
FINAL = ToolAnnotations(readOnlyHint=False, destructiveHint=True, idempotentHint=False, openWorldHint=False)

#: Seconds a call may wait before it answers `running`/`pending` with an id (clients cut calls at ~60 s).
WaitSec = Annotated[float, Field(strict=True, ge=0, le=MAX_WAIT_SEC, allow_inf_nan=False,
                                 description=f"seconds to wait for the end before answering with an id "
                                 f"to poll (0 to {MAX_WAIT_SEC:g})")]
Offset = Annotated[int, Field(strict=True, ge=0, description="byte offset to start reading at")]
Limit = Annotated[int | None, Field(strict=True, gt=0, description="bytes to read (at most 256 KiB)")]


def _version() -> str:
    try:
        return package_version("autolab-mcp")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def _summary(value: Any) -> Any:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    value = clip_value(value)  # clip long strings before serializing: a 256 KiB read would cost 1 ms here
    text = json.dumps(value, default=str)
    return value if len(text) <= 4000 else text[:4000] + "..."


def build_server(episode: Episode) -> MCPServer:
    """The MCP server of one episode: its tools (each one agent action, logged), resources and prompt."""
    task = episode.task
    objective = task.optimization
    mcp = MCPServer(
        "autolab-mcp",
        version=_version(),
        instructions=(
            f"An optimization task ({task.name}, axis: {task.axis or 'unknown'}, metric: {objective.metric}, "
            f"{objective.direction} is better). Read the resource autolab://instruction first. "
            "Edit the editable files, run experiments, ask for a metric (rationed), then submit once."
        ),
    )
    calls = ToolCalls(episode, LogRelay(mcp))
    _add_file_tools(mcp, episode, calls)
    _add_experiment_tools(mcp, episode, calls)
    _add_scoring_tools(mcp, episode, calls)
    _add_history_tools(mcp, episode, calls)
    _add_submit_tool(mcp, episode, calls)
    _add_resources(mcp, episode)
    return mcp


class ToolCalls:
    """Runs one tool call: logs it, turns a Refusal into the agent's ToolError and anything else into a
    generic internal error, and records a client's cancel."""

    def __init__(self, episode: Episode, relay: LogRelay) -> None:
        self.episode = episode
        self.relay = relay

    def record(self, tool: str, args: dict[str, Any], started: float, result: Any = None,
               error: str | None = None) -> None:
        self.episode.record_tool_call(tool, args, seconds=time.monotonic() - started, error=error,
                                 result=None if result is None else _summary(result))

    def call(self, tool: str, args: dict[str, Any], fn: Callable[[], T]) -> T:
        started = time.monotonic()
        try:
            result = fn()
        except Refusal as exc:
            self.record(tool, args, started, error=str(exc))
            raise ToolError(str(exc)) from exc
        except Exception as exc:
            self.record(tool, args, started, error=INTERNAL_ERROR)
            raise internal_error(tool) from exc
        self.record(tool, args, started, result=result)
        return result

    async def acall(self, tool: str, args: dict[str, Any], ctx: Context, fn: Callable[[], Awaitable[T]]) -> T:
        started = time.monotonic()
        try:
            result = await fn()
        except Refusal as exc:
            self.record(tool, args, started, error=str(exc))
            await self.relay.flush(ctx)
            raise ToolError(str(exc)) from exc
        except Exception as exc:
            self.record(tool, args, started, error=INTERNAL_ERROR)
            raise internal_error(tool) from exc
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(lambda: self.record(tool, args, started, error=CANCELLED_BY_CLIENT))
            raise
        self.record(tool, args, started, result=result)
        await self.relay.flush(ctx)
        return result


def _add_file_tools(mcp: MCPServer, episode: Episode, calls: ToolCalls) -> None:
    @mcp.tool(title="List files", annotations=READ_ONLY)
    def list_files(path: str = ".") -> FileListing:
        """List files under a workspace directory (recursive); marks which files are editable."""
        return calls.call("list_files", {"path": path}, lambda: episode.list_files(path))

    @mcp.tool(title="Read a file", annotations=READ_ONLY)
    def read_file(path: str, offset: Offset = 0, limit: Limit = None) -> FileRead:
        """Read a workspace file (UTF-8). At most 256 KiB per call; page with offset/limit (bytes)."""
        return calls.call("read_file", {"path": path, "offset": offset, "limit": limit},
                    lambda: episode.read_file(path, offset=offset, limit=limit))

    @mcp.tool(title="Write a file", annotations=EDIT)
    def write_file(path: str, content: str) -> Change:
        """Replace (or create) an editable file with `content`. Makes a snapshot."""
        return calls.call("write_file", {"path": path, "content": content}, lambda: episode.write_file(path, content))

    @mcp.tool(title="Apply a patch", annotations=EDIT)
    def apply_patch(patch: str) -> Change:
        """Apply a unified diff (as `git diff` or `diff -u` prints it) to editable files: all hunks or none."""
        return calls.call("apply_patch", {"patch": patch}, lambda: episode.apply_patch(patch))


def _add_experiment_tools(mcp: MCPServer, episode: Episode, calls: ToolCalls) -> None:
    cap = episode.task.config.autolab.experiment_timeout_sec
    TimeoutSec = Annotated[float | None, Field(
        strict=True, ge=1, le=cap, allow_inf_nan=False,
        description=f"seconds before the run is killed, 1 to {cap:g} (default {cap:g})")]

    async def wait_for(exp_id: str, wait_sec: float, ctx: Context, total: float | None) -> ExperimentInfo:
        deadline = time.monotonic() + max(0.0, min(wait_sec, MAX_WAIT_SEC))
        while True:
            info = episode.experiment(exp_id)
            if info.status != "running":
                await ctx.report_progress(info.seconds, info.seconds, f"{exp_id} {_ended(info)}")
                return info
            left = deadline - time.monotonic()
            if left <= 0:
                return info
            await anyio.to_thread.run_sync(episode.wait_experiment, exp_id, min(1.0, left))
            info = episode.experiment(exp_id)
            if info.status == "running":
                last_line = info.output_tail.strip().splitlines()[-1:] or [""]
                await ctx.report_progress(info.seconds, total, f"{exp_id} running: {last_line[0][:200]}")

    async def run_experiment(
        command: str, ctx: Context, timeout_sec: float | None = None, wait_sec: WaitSec = 30.0
    ) -> ExperimentInfo:
        """Run `bash -c command` in a fresh sandbox over the workspace (no network; non-editable files read-only).

        Costs one experiment and the seconds it runs (compute budget). Returns when it ends or after
        `wait_sec` (0-50 s) with status `running`: then poll experiment_status(id). Cancelling this call
        kills the run; only the seconds it ran are charged.
        """
        async def run() -> ExperimentInfo:
            # shielded: a cancel that lands while the sandbox starts must not lose its id
            with anyio.CancelScope(shield=True):
                info = await anyio.to_thread.run_sync(episode.start_experiment, command, timeout_sec)
            try:
                return await wait_for(info.id, wait_sec, ctx, timeout_sec)
            except anyio.get_cancelled_exc_class():
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(episode.cancel_experiment, info.id, True)
                raise
        return await calls.acall("run_experiment", {"command": command, "timeout_sec": timeout_sec,
                                              "wait_sec": wait_sec}, ctx, run)

    run_experiment.__annotations__["timeout_sec"] = TimeoutSec  # the task's cap goes into the schema
    mcp.tool(title="Run an experiment", annotations=RUN)(run_experiment)

    @mcp.tool(title="Experiment status", annotations=READ_ONLY)
    async def experiment_status(id: str, ctx: Context, wait_sec: WaitSec = 0.0) -> ExperimentInfo:
        """Status, output tail and seconds of an experiment; waits up to `wait_sec` (0-50 s) for it to end."""
        return await calls.acall("experiment_status", {"id": id, "wait_sec": wait_sec}, ctx,
                           lambda: wait_for(id, wait_sec, ctx, None))

    @mcp.tool(title="Cancel an experiment", annotations=CANCEL)
    def cancel_experiment(id: str) -> ExperimentInfo:
        """Kill a running experiment and its whole process tree; only the seconds it ran are charged.
        Cancelling one that already ended changes nothing and returns how it ended."""
        return calls.call("cancel_experiment", {"id": id}, lambda: episode.cancel_experiment(id, True))


async def _wait_score(episode: Episode, job_id: str, wait_sec: float, ctx: Context,
                      label: str) -> SubmitResult | MetricResult:
    deadline = time.monotonic() + max(0.0, min(wait_sec, MAX_WAIT_SEC))
    expected = episode.expected_score_seconds()
    while True:
        left = deadline - time.monotonic()
        result = await anyio.to_thread.run_sync(episode.score_result, job_id, max(0.0, min(5.0, left)))
        if result.status != "pending":
            await ctx.report_progress(result.elapsed_sec, result.elapsed_sec, f"{label} finished")
            return result
        if deadline - time.monotonic() <= 0:
            return result
        await ctx.report_progress(result.elapsed_sec, expected, f"{label} ({result.elapsed_sec:.0f} s)")


def _add_scoring_tools(mcp: MCPServer, episode: Episode, calls: ToolCalls) -> None:
    @mcp.tool(title="Score on hidden feedback data", annotations=SPEND)
    async def get_metric(ctx: Context, wait_sec: WaitSec = 30.0) -> MetricResult:
        """Score the current editable files on the hidden feedback split (costs one score call).

        Answers when the evaluation ends or after `wait_sec` (0-50 s) with status `pending` and an id:
        then poll score_status(id). A failed evaluation is not charged.
        """
        async def run() -> MetricResult:
            job = await anyio.to_thread.run_sync(episode.start_metric)
            return await _wait_score(episode, job.id, wait_sec, ctx, "scoring")
        return await calls.acall("get_metric", {"wait_sec": wait_sec}, ctx, run)

    @mcp.tool(title="Scoring status", annotations=READ_ONLY)
    async def score_status(id: str, ctx: Context, wait_sec: WaitSec = 30.0) -> SubmitResult:
        """The result of a get_metric or submit that answered `pending`; waits up to `wait_sec` (0-50 s)."""
        async def run() -> SubmitResult:
            result = await _wait_score(episode, id, wait_sec, ctx, "scoring")
            return result if isinstance(result, SubmitResult) else SubmitResult(**result.model_dump())
        return await calls.acall("score_status", {"id": id, "wait_sec": wait_sec}, ctx, run)


def _add_history_tools(mcp: MCPServer, episode: Episode, calls: ToolCalls) -> None:
    @mcp.tool(title="Remaining budget", annotations=READ_ONLY)
    def remaining_budget() -> BudgetReport:
        """Every budget kind: limit, used, reserved (held by running experiments) and left."""
        return calls.call("remaining_budget", {}, episode.budget)

    @mcp.tool(title="History", annotations=READ_ONLY)
    def history() -> HistoryEntry:
        """Every snapshot (one per change), every experiment and every scoring call, oldest first."""
        return calls.call("history", {}, episode.history)

    @mcp.tool(title="Diff snapshots", annotations=READ_ONLY)
    def diff(a: str, b: str | None = None) -> DiffResult:
        """Unified diff between snapshot `a` and snapshot `b` (default: the current workspace)."""
        return calls.call("diff", {"a": a, "b": b}, lambda: episode.diff(a, b))

    @mcp.tool(title="Restore a snapshot", annotations=EDIT)
    def restore(snapshot: str) -> Change:
        """Set the editable files back to a snapshot (makes a new snapshot)."""
        return calls.call("restore", {"snapshot": snapshot}, lambda: episode.restore(snapshot))


def _add_submit_tool(mcp: MCPServer, episode: Episode, calls: ToolCalls) -> None:
    @mcp.tool(title="Submit (final score)", annotations=FINAL)
    async def submit(ctx: Context, snapshot: str | None = None, wait_sec: WaitSec = 30.0) -> SubmitResult:
        """Final evaluation on the hidden final split, once. Ends the episode: afterwards only reads work.

        Answers when the evaluation ends or after `wait_sec` (0-50 s) with status `pending` and an id:
        then poll score_status(id).
        """
        async def run() -> SubmitResult:
            job = await anyio.to_thread.run_sync(lambda: episode.start_submit(snapshot))
            return await _wait_score(episode, job.id, wait_sec, ctx, "final evaluation")  # type: ignore[return-value]
        return await calls.acall("submit", {"snapshot": snapshot, "wait_sec": wait_sec}, ctx, run)


def _add_resources(mcp: MCPServer, episode: Episode) -> None:
    task = episode.task
    cfg = task.config
    objective = task.optimization
    cap = cfg.autolab.experiment_timeout_sec

    @mcp.resource("autolab://instruction", name="instruction", mime_type="text/markdown")
    def instruction() -> str:
        """What the agent is told about the task, ending with this episode's actual budget (which
        overrides may have changed from the numbers the task's text gives)."""
        return f"{task.instruction.rstrip()}\n\n{episode_budget_text()}\n"

    def episode_budget_text() -> str:
        lim, mode = episode.budget_limits()
        clock = "since the episode started" if mode == "real" else "while a server runs the episode"
        return (
            "## This episode's budget (authoritative)\n\n"
            f"- wall clock: {lim.wall_sec:g} s, counted {clock}\n"
            f"- sandbox compute: {lim.compute_sec:g} s; one experiment runs at most {cap:g} s\n"
            f"- experiments: {lim.experiments}\n"
            f"- score calls (get_metric): {lim.score_calls}\n"
            f"- the editable files may hold at most {cfg.autolab.max_editable_bytes} bytes in all (the scorer "
            "gives a larger submission no credit)\n"
            f"- editable Python/C sources may hold at most {cfg.autolab.max_literal_chars} characters of string "
            f"literals and comments (docstrings aside) and {cfg.autolab.max_numeric_literals} numeric literals: "
            "data such as trained weights may not ride in the code (the scorer gives such a submission no credit)\n"
            "- get_metric, submit and run_experiment answer within 50 s; a longer one returns an id to poll "
            "(score_status, experiment_status)"
        )

    @mcp.resource("autolab://task", name="task", mime_type="application/json")
    def task_spec() -> str:
        """The task's public spec: axis, metric, direction, editable files, budgets (no hidden data)."""
        limits, wall_mode = episode.budget_limits()
        return json.dumps({
            "name": task.name, "axis": task.axis, "metric": objective.metric,
            "direction": objective.direction, "scale": cfg.autolab.scale,
            "editable": cfg.autolab.editable, "quality_gate": cfg.autolab.quality_gate,
            "workdir": cfg.autolab.workdir,
            "baseline": objective.baseline.model_dump(), "reference": objective.reference.model_dump(),
            "budget": limits.model_dump(), "wall_mode": wall_mode,
            "experiment_timeout_sec": cap, "measures_time": task.needs_timing_core,
            "max_editable_bytes": cfg.autolab.max_editable_bytes,
            "max_literal_chars": cfg.autolab.max_literal_chars,
            "max_numeric_literals": cfg.autolab.max_numeric_literals,
        }, indent=1)

    @mcp.resource("autolab://budget", name="budget", mime_type="application/json")
    def budget_resource() -> str:
        """The budget right now."""
        return episode.budget().model_dump_json(indent=1)

    @mcp.prompt(name="start_task", description="Start working on this optimization task")
    def start_task() -> str:
        return (
            f"You are working on the optimization task `{task.name}`.\n\n{instruction()}\n\n"
            "Use the autolab tools: list_files/read_file to study the code, apply_patch or write_file to change "
            "the editable files, run_experiment to test, get_metric for a rationed score on hidden data, "
            "remaining_budget to plan, and submit once when you are done."
        )


class ServeOptions(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8765
    token: str = Field(min_length=16)


def _ended(info: ExperimentInfo) -> str:
    if info.status == "killed":
        return f"killed ({info.killed_by}, {info.signal})"
    if info.status == "finished":
        return f"finished (exit {info.exit_code})"
    return info.status
