"""The MCP surface: thin tool wrappers over one Episode.

Every tool call is logged to the run's events.jsonl; every refusal is a
ToolError whose text says what was wrong and what is allowed. Long operations
(experiments, scoring) send progress notifications and never block past a
client's usual 60 s cut: experiments return a handle to poll.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from autolab_mcp.budget import BudgetExhausted, BudgetReport
from autolab_mcp.episode import Episode, EpisodeError, ExperimentInfo, MetricResult, SubmitResult
from autolab_mcp.patch import PatchError
from autolab_mcp.runlog import clip_value
from autolab_mcp.workspace import Change, FileListing, FileRead, SnapshotInfo, WorkspaceError

T = TypeVar("T")
MAX_WAIT_SEC = 50.0
REFUSALS = (EpisodeError, WorkspaceError, PatchError, BudgetExhausted, ValueError)

READ_ONLY = ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=False)
EDIT = ToolAnnotations(readOnlyHint=False, destructiveHint=True, idempotentHint=True, openWorldHint=False)
SPEND = ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=False, openWorldHint=False)


class HistoryEntry(BaseModel):
    snapshots: list[SnapshotInfo]
    experiments: list[ExperimentInfo]


class DiffResult(BaseModel):
    a: str
    b: str
    diff: str


def _summary(value: Any) -> Any:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    value = clip_value(value)  # clip long strings before serializing: a 256 KiB read would cost 1 ms here
    text = json.dumps(value, default=str)
    return value if len(text) <= 4000 else text[:4000] + "..."


def build_server(episode: Episode) -> MCPServer:
    task = episode.task
    cfg = task.config
    mcp = MCPServer(
        "autolab-mcp",
        instructions=(
            f"An optimization task ({task.name}, axis: {cfg.metadata.axis}, metric: {cfg.optimization.metric}, "
            f"{cfg.optimization.direction} is better). Read the resource autolab://instruction first. "
            "Edit the editable files, run experiments, ask for a metric (rationed), then submit once."
        ),
    )

    def record(tool: str, args: dict[str, Any], started: float, result: Any = None, error: str | None = None) -> None:
        episode.log.append(
            "tool", tool=tool, args=args, ok=error is None, error=error,
            result=None if result is None else _summary(result), seconds=round(time.monotonic() - started, 4),
            budget=episode.ledger.report().model_dump(),
        )

    def call(tool: str, args: dict[str, Any], fn: Callable[[], T]) -> T:
        started = time.monotonic()
        try:
            result = fn()
        except REFUSALS as exc:
            record(tool, args, started, error=str(exc))
            raise ToolError(str(exc)) from exc
        record(tool, args, started, result=result)
        return result

    async def acall(tool: str, args: dict[str, Any], fn: Callable[[], Awaitable[T]]) -> T:
        started = time.monotonic()
        try:
            result = await fn()
        except REFUSALS as exc:
            record(tool, args, started, error=str(exc))
            raise ToolError(str(exc)) from exc
        record(tool, args, started, result=result)
        return result

    @mcp.tool(annotations=READ_ONLY)
    def list_files(path: str = ".") -> FileListing:
        """List files under a workspace directory (recursive); marks which files are editable."""
        return call("list_files", {"path": path}, lambda: episode.workspace.listing(path))

    @mcp.tool(annotations=READ_ONLY)
    def read_file(path: str, offset: int = 0, limit: int | None = None) -> FileRead:
        """Read a workspace file (UTF-8). At most 256 KiB per call; page with offset/limit (bytes)."""
        return call("read_file", {"path": path, "offset": offset, "limit": limit},
                    lambda: episode.workspace.read_file(path, offset=offset, limit=limit))

    @mcp.tool(annotations=EDIT)
    def write_file(path: str, content: str) -> Change:
        """Replace (or create) an editable file with `content`. Makes a snapshot."""
        return call("write_file", {"path": path, "content": content}, lambda: episode.write_file(path, content))

    @mcp.tool(annotations=EDIT)
    def apply_patch(patch: str) -> Change:
        """Apply a unified diff (as `git diff` or `diff -u` prints it) to editable files: all hunks or none."""
        return call("apply_patch", {"patch": patch}, lambda: episode.apply_patch(patch))

    async def wait_for(exp_id: str, wait_sec: float, ctx: Context) -> ExperimentInfo:
        deadline = time.monotonic() + max(0.0, min(wait_sec, MAX_WAIT_SEC))
        while True:
            info = episode.experiment(exp_id)
            left = deadline - time.monotonic()
            if info.status != "running" or left <= 0:
                return info
            await anyio.to_thread.run_sync(episode.wait_experiment, exp_id, min(1.0, left))
            info = episode.experiment(exp_id)
            last_line = info.output_tail.strip().splitlines()[-1:] or [""]
            await ctx.report_progress(info.seconds, info.timeout_sec, f"{exp_id} running: {last_line[0][:200]}")

    @mcp.tool(annotations=SPEND)
    async def run_experiment(
        command: str, ctx: Context, timeout_sec: float | None = None, wait_sec: float = 30.0
    ) -> ExperimentInfo:
        """Run `bash -c command` in a fresh sandbox over the workspace (no network; non-editable files read-only).

        Costs one experiment and the seconds it runs (compute budget). Returns when it ends or after
        `wait_sec` (max 50) with status `running`: then poll experiment_status(id).
        """
        async def run() -> ExperimentInfo:
            info = await anyio.to_thread.run_sync(episode.start_experiment, command, timeout_sec)
            return await wait_for(info.id, wait_sec, ctx)
        return await acall("run_experiment", {"command": command, "timeout_sec": timeout_sec,
                                              "wait_sec": wait_sec}, run)

    @mcp.tool(annotations=READ_ONLY)
    async def experiment_status(id: str, ctx: Context, wait_sec: float = 0.0) -> ExperimentInfo:
        """Status, output tail and seconds of an experiment; waits up to `wait_sec` (max 50) for it to end."""
        return await acall("experiment_status", {"id": id, "wait_sec": wait_sec},
                           lambda: wait_for(id, wait_sec, ctx))

    @mcp.tool(annotations=SPEND)
    def cancel_experiment(id: str) -> ExperimentInfo:
        """Kill a running experiment and its whole process tree; only the seconds it ran are charged."""
        return call("cancel_experiment", {"id": id}, lambda: episode.cancel_experiment(id))

    async def with_heartbeat(ctx: Context, label: str, fn: Callable[[], T]) -> T:
        started = time.monotonic()
        result: list[T] = []
        errors: list[Exception] = []

        async def work() -> None:
            try:
                result.append(await anyio.to_thread.run_sync(fn))
            except Exception as exc:
                errors.append(exc)
            finally:
                tg.cancel_scope.cancel()

        async with anyio.create_task_group() as tg:
            tg.start_soon(work)
            while True:
                await anyio.sleep(5)
                elapsed = time.monotonic() - started
                await ctx.report_progress(elapsed, None, f"{label} ({elapsed:.0f} s)")
        if errors:
            raise errors[0]
        return result[0]

    @mcp.tool(annotations=SPEND)
    async def get_metric(ctx: Context) -> MetricResult:
        """Score the current editable files on the hidden feedback split (costs one score call)."""
        return await acall("get_metric", {}, lambda: with_heartbeat(ctx, "scoring", episode.get_metric))

    @mcp.tool(annotations=READ_ONLY)
    def remaining_budget() -> BudgetReport:
        """Every budget kind: limit, used, reserved (held by running experiments) and left."""
        return call("remaining_budget", {}, episode.budget)

    @mcp.tool(annotations=READ_ONLY)
    def history() -> HistoryEntry:
        """Every snapshot (one per change) and every experiment, oldest first."""
        return call("history", {}, lambda: HistoryEntry(snapshots=episode.workspace.history(),
                                                        experiments=episode.experiments()))

    @mcp.tool(annotations=READ_ONLY)
    def diff(a: str, b: str | None = None) -> DiffResult:
        """Unified diff between snapshot `a` and snapshot `b` (default: the current workspace)."""
        return call("diff", {"a": a, "b": b},
                    lambda: DiffResult(a=a, b=b or "workspace", diff=episode.workspace.diff(a, b)))

    @mcp.tool(annotations=EDIT)
    def restore(snapshot: str) -> Change:
        """Set the editable files back to a snapshot (makes a new snapshot)."""
        return call("restore", {"snapshot": snapshot}, lambda: episode.restore(snapshot))

    @mcp.tool(annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=True, idempotentHint=False,
                                          openWorldHint=False))
    async def submit(ctx: Context, snapshot: str | None = None) -> SubmitResult:
        """Final evaluation on the hidden final split, once. Ends the episode: afterwards only reads work."""
        return await acall("submit", {"snapshot": snapshot},
                           lambda: with_heartbeat(ctx, "final evaluation", lambda: episode.submit(snapshot)))

    @mcp.resource("autolab://instruction", name="instruction", mime_type="text/markdown")
    def instruction() -> str:
        """What the agent is told about the task."""
        return task.instruction

    @mcp.resource("autolab://task", name="task", mime_type="application/json")
    def task_spec() -> str:
        """The task's public spec: axis, metric, direction, editable files, budgets (no hidden data)."""
        return json.dumps({
            "name": task.name, "axis": cfg.metadata.axis, "metric": cfg.optimization.metric,
            "direction": cfg.optimization.direction, "scale": cfg.autolab.scale,
            "editable": cfg.autolab.editable, "quality_gate": cfg.autolab.quality_gate,
            "baseline": cfg.optimization.baseline.model_dump(), "reference": cfg.optimization.reference.model_dump(),
            "budget": episode.ledger.limits.model_dump(),
        }, indent=1)

    @mcp.resource("autolab://budget", name="budget", mime_type="application/json")
    def budget_resource() -> str:
        """The budget right now."""
        return episode.budget().model_dump_json(indent=1)

    @mcp.prompt(name="start_task", description="Start working on this optimization task")
    def start_task() -> str:
        return (
            f"You are working on the optimization task `{task.name}`.\n\n{task.instruction}\n\n"
            "Use the autolab tools: list_files/read_file to study the code, apply_patch or write_file to change "
            "the editable files, run_experiment to test, get_metric for a rationed score on hidden data, "
            "remaining_budget to plan, and submit once when you are done."
        )

    return mcp


class ServeOptions(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8765
    token: str = Field(min_length=16)
