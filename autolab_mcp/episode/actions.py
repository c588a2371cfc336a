"""One agent episode: every public method of `Episode` is one action of the agent.

The MCP layer is thin and talks to this object only; what must stay consistent (budget,
history, experiments, the submitted state) is kept by its collaborators (Workspace, Ledger,
ExperimentRunner, Submission) and persisted in the run directory, so a killed server
resumes where it stopped.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autolab_mcp.budget import BudgetLimits, BudgetReport, Ledger, WallMode
from autolab_mcp.core.rundir import RunDir, RunMeta
from autolab_mcp.core.rundir_files import RunDirWriteError, disk_refusals_as
from autolab_mcp.core.runtime import ensure_runtime
from autolab_mcp.core.sandbox.base import SandboxBackend
from autolab_mcp.core.taskspec import Task, load_task
from autolab_mcp.episode.experiments import ExperimentRunner, validate_command
from autolab_mcp.episode.models import (
    BudgetOverrides,
    DiffResult,
    EpisodeError,
    ExperimentInfo,
    HistoryEntry,
    MetricResult,
    SubmitResult,
)
from autolab_mcp.episode.ownership import hand_to_agent, lock_run_dir
from autolab_mcp.episode.score_jobs import ScoreJob, ScoreJobInfo
from autolab_mcp.episode.submission import Submission
from autolab_mcp.runlog import RunLog
from autolab_mcp.scorer_client import Scorer
from autolab_mcp.workspace import Change, FileListing, FileRead, SnapshotInfo, Workspace

log = logging.getLogger("autolab.episode")

__all__ = ["Episode"]

Listener = Callable[[str, dict[str, Any]], None]


class Episode:
    """The agent's actions over one run directory. Refusals raise EpisodeError, WorkspaceError or
    PatchError (all `Refusal`s: their text is written for the agent); anything else is a fault."""

    def __init__(self, *, run_dir: Path, task: Task, meta: RunMeta, workspace: Workspace, ledger: Ledger,
                 backend: SandboxBackend, scorer: Scorer | None, runtime: Path | None) -> None:
        self.paths = RunDir(run_dir)
        self.run_dir = run_dir
        self.task = task
        self.meta = meta
        self.workspace = workspace
        self.ledger = ledger
        self.backend = backend
        self.scorer = scorer
        self.runtime = runtime
        self.log = RunLog(self.paths.events)
        self._lock = threading.RLock()  # one lock for every state change: files, experiments, submission
        self._touched = False
        self._listeners: list[Listener] = []
        self._lock_fd: int | None = lock_run_dir(self.paths)
        self.experiment_runner = ExperimentRunner(
            paths=self.paths, task=task, editable=meta.editable, workspace=workspace, ledger=ledger,
            backend=backend, runtime=runtime, log=self.log, lock=self._lock,
            may_snapshot=lambda: not (self.submission.submitted or self.submission.submitting), emit=self._emit)
        self.submission = Submission(
            paths=self.paths, task=task, meta=meta, workspace=workspace, ledger=ledger, scorer=scorer,
            log=self.log, lock=self._lock, experiments=self.experiment_runner, emit=self._emit)

    # -- construction ------------------------------------------------------------------------------------

    @classmethod
    def create(cls, task: Task, runs_dir: Path, *, backend: SandboxBackend, backend_name: str = "bwrap",
               scorer: Scorer | None, overrides: BudgetOverrides | None = None,
               run_id: str | None = None) -> Episode:
        """A new run under `runs_dir`; raises EpisodeError when the task cannot be served (no objective,
        no editable file) or the run directory exists."""
        if problem := task.serve_problem():
            raise EpisodeError(f"task {task.name} cannot be served: {problem}")
        run_id = run_id or f"{task.name}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
        paths = RunDir.under(runs_dir, run_id)
        if paths.path.exists():
            raise EpisodeError(f"run directory {paths.path} already exists; use --resume {run_id}")
        paths.path.mkdir(parents=True)
        os.chmod(paths.path, 0o700)
        paths.experiments.mkdir()
        editable = task.config.autolab.editable
        workspace = Workspace.create(paths.workspace, task.environment_dir, editable, paths.snapshots)
        hand_to_agent(workspace.root)
        chosen = overrides or BudgetOverrides()
        limits = _limits(task, chosen)
        ledger = Ledger.create(paths.budget, limits, wall_mode=chosen.wall_mode)
        meta = RunMeta(run_id=run_id, task=task.name, task_root=str(task.root),
                       created=datetime.now(UTC).isoformat(), backend=backend_name, editable=editable)
        paths.meta.write_text(meta.model_dump_json(indent=1))
        runtime = ensure_runtime(task.config.environment.requirements)
        episode = cls(run_dir=paths.path, task=task, meta=meta, workspace=workspace, ledger=ledger,
                      backend=backend, scorer=scorer, runtime=runtime)
        episode.log.append("episode_started", run_id=run_id, task=task.name, budget=limits.model_dump())
        return episode

    @classmethod
    def resume(cls, run_dir: Path, *, backend: SandboxBackend, scorer: Scorer | None) -> Episode:
        """The run in `run_dir` after a stop or crash: interrupted experiments and evaluations are settled.
        Raises EpisodeError for a directory that is no run, RunDirCorrupt for damaged run files."""
        paths = RunDir(run_dir)
        if not paths.exists():
            raise EpisodeError(f"{run_dir} is not a run directory (no meta.json)")
        meta = paths.read_meta()
        task = load_task(meta.task_root)
        workspace = Workspace.open(paths.workspace, meta.editable, paths.snapshots)
        ledger = Ledger.load(paths.budget)
        runtime = ensure_runtime(task.config.environment.requirements)
        episode = cls(run_dir=run_dir, task=task, meta=meta, workspace=workspace, ledger=ledger,
                      backend=backend, scorer=scorer, runtime=runtime)
        interrupted = episode.experiment_runner.settle_interrupted()
        scores = episode.submission.settle_interrupted()
        episode.log.append("episode_resumed", interrupted_experiments=interrupted, interrupted_scores=scores,
                           budget=episode.ledger.report().model_dump())
        return episode

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start_wall_timer(self) -> None:
        """Submit the last snapshot automatically when the wall budget runs out."""
        self.submission.start_wall_timer()

    def close(self, *, remove_if_untouched: bool = False) -> None:
        """Stop the episode's sandboxes (reported killed by `shutdown`) and persist. With
        `remove_if_untouched`, a run that never saw a tool call (a client's health check that
        connected, listed the tools and left) is removed instead of left open."""
        self.submission.stop_wall_timer()
        self.experiment_runner.kill_running("shutdown", wait_sec=3.0)
        self.ledger.persist()
        if remove_if_untouched and not self._touched:
            log.info("run %s saw no tool call; removing it", self.meta.run_id)
            shutil.rmtree(self.run_dir, ignore_errors=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def record_tool_call(self, tool: str, args: dict[str, Any], *, seconds: float, error: str | None = None,
                         result: Any = None) -> None:
        """Log one MCP tool call with the budget after it; a full disk is logged, never raised, so it
        cannot turn the answer itself into an error. A fresh run without a call is a health check."""
        self._touched = True
        try:
            self.log.append("tool", tool=tool, args=args, ok=error is None, error=error, result=result,
                            seconds=round(seconds, 4), budget=self.ledger.report().model_dump())
        except RunDirWriteError as exc:
            log.warning("could not log the %s call: %s", tool, exc)

    def add_listener(self, listener: Listener) -> None:
        """Called with (kind, details) for notable events (used by the demo's live output)."""
        self._listeners.append(listener)

    def _emit(self, kind: str, **details: Any) -> None:
        for listener in self._listeners:
            try:
                listener(kind, details)
            except Exception:  # a display problem must never break the episode
                log.exception("listener failed")

    # -- files -------------------------------------------------------------------------------------------

    def list_files(self, path: str = ".") -> FileListing:
        """Raises WorkspaceError for a path outside the workspace or not found."""
        return self.workspace.listing(path)

    def read_file(self, path: str, offset: int = 0, limit: int | None = None) -> FileRead:
        """Raises WorkspaceError for a path outside the workspace, not a readable text file, or too big."""
        return self.workspace.read_file(path, offset=offset, limit=limit)

    def write_file(self, path: str, content: str) -> Change:
        """Raises WorkspaceError (not editable, too big), EpisodeError (the episode ended)."""
        change = self._change(lambda: self.workspace.write_file(path, content))
        self._emit("write_file", path=path, change=change)
        return change

    def apply_patch(self, patch: str) -> Change:
        """All hunks or none; raises PatchError, WorkspaceError, EpisodeError."""
        change = self._change(lambda: self.workspace.apply_patch(patch))
        self._emit("apply_patch", patch=patch, change=change)
        return change

    def restore(self, snapshot_id: str) -> Change:
        """Raises WorkspaceError for an unknown snapshot, EpisodeError once the episode ended."""
        return self._change(lambda: self.workspace.restore(snapshot_id))

    def _change(self, apply: Callable[[], Change]) -> Change:
        with self._lock, disk_refusals_as(self.run_dir):
            self.submission.require_active()
            change = apply()
            hand_to_agent(self.workspace.root)
        return change

    def history(self) -> HistoryEntry:
        return HistoryEntry(snapshots=self.workspace.history(), experiments=self.experiments(),
                            scores=self.score_jobs())

    def snapshots(self) -> list[SnapshotInfo]:
        return self.workspace.history()

    def diff(self, a: str, b: str | None = None) -> DiffResult:
        """Raises WorkspaceError for an unknown snapshot."""
        return DiffResult(a=a, b=b or "workspace", diff=self.workspace.diff(a, b))

    # -- experiments -------------------------------------------------------------------------------------

    def start_experiment(self, command: str, timeout_sec: float | None = None) -> ExperimentInfo:
        """Charge and start one experiment; raises EpisodeError (bad command or timeout, budget spent,
        sandbox refused, episode ended), charging nothing then."""
        timeout = validate_command(command, timeout_sec, self.task.config.autolab.experiment_timeout_sec)
        with self._lock:
            self.submission.require_active()
            info = self.experiment_runner.start(command, timeout)
        self._emit("experiment_started", info=info)
        return info

    def experiment(self, exp_id: str) -> ExperimentInfo:
        """Raises EpisodeError for an unknown id."""
        return self.experiment_runner.get(exp_id)

    def wait_experiment(self, exp_id: str, wait_sec: float) -> ExperimentInfo:
        return self.experiment_runner.wait(exp_id, wait_sec)

    def cancel_experiment(self, exp_id: str, idempotent: bool = False) -> ExperimentInfo:
        return self.experiment_runner.cancel(exp_id, idempotent)

    def experiments(self) -> list[ExperimentInfo]:
        return self.experiment_runner.all()

    # -- scoring -----------------------------------------------------------------------------------------

    @property
    def submitted(self) -> bool:
        return self.submission.submitted

    @property
    def result(self) -> SubmitResult | None:
        return self.submission.result

    def start_metric(self) -> ScoreJob[MetricResult]:
        return self.submission.start_metric()

    def get_metric(self) -> MetricResult:
        return self.submission.get_metric()

    def score_result(self, job_id: str, wait_sec: float = 0.0) -> MetricResult:
        return self.submission.score_result(job_id, wait_sec)

    def expected_score_seconds(self) -> float | None:
        return self.submission.expected_score_seconds()

    def score_jobs(self) -> list[ScoreJobInfo]:
        return self.submission.score_jobs()

    def start_submit(self, snapshot_id: str | None = None, *, auto: bool = False) -> ScoreJob[SubmitResult]:
        return self.submission.start_submit(snapshot_id, auto=auto)

    def submit(self, snapshot_id: str | None = None, *, auto: bool = False) -> SubmitResult:
        return self.submission.submit(snapshot_id, auto=auto)

    # -- budget ------------------------------------------------------------------------------------------

    def budget(self) -> BudgetReport:
        return self.ledger.report()

    def budget_limits(self) -> tuple[BudgetLimits, WallMode]:
        return self.ledger.limits, self.ledger.wall_mode


def _limits(task: Task, o: BudgetOverrides) -> BudgetLimits:
    budget = task.config.autolab.budget
    return BudgetLimits(
        wall_sec=o.wall_sec or task.config.agent.timeout_sec,
        compute_sec=o.compute_sec or budget.compute_sec,
        experiments=budget.experiments if o.experiments is None else o.experiments,
        score_calls=budget.score_calls if o.score_calls is None else o.score_calls,
    )


