"""One agent episode: workspace + budget + sandbox + scorer client + run log.

The MCP layer is thin and calls into this object; everything that must stay
consistent (budget, history, experiments, the submitted state) lives here and is
persisted in the run directory, so a killed server resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import shutil
import stat
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autolab_mcp.budget import BudgetExhausted, BudgetLimits, BudgetReport, Ledger
from autolab_mcp.core.editable import matches
from autolab_mcp.core.rundir_files import (
    RunDirWriteError,
    atomic_write_text,
    describe_os_error,
    disk_refusals_as,
    read_model,
)
from autolab_mcp.core.runtime import ensure_runtime
from autolab_mcp.core.sandbox.base import (
    AGENT_UID,
    ExecRequest,
    ExecResult,
    KillReason,
    Limits,
    RunningSandbox,
    SandboxBackend,
)
from autolab_mcp.core.taskspec import Task, load_task
from autolab_mcp.episode_models import (
    MAX_COMMAND_CHARS,
    BudgetOverrides,
    EpisodeError,
    ExperimentInfo,
    ExperimentStatus,
    MetricResult,
    RunMeta,
    SubmitResult,
)
from autolab_mcp.episode_scoring import ScoringMixin
from autolab_mcp.runlog import RunLog
from autolab_mcp.score_jobs import ScoreJobs
from autolab_mcp.scorer_client import ScorerProcess
from autolab_mcp.workspace import Workspace

log = logging.getLogger("autolab.episode")

__all__ = ["BudgetOverrides", "Episode", "EpisodeError", "ExperimentInfo", "ExperimentStatus", "MetricResult",
           "RunMeta", "SubmitResult"]

class Episode(ScoringMixin):
    """Owns the loop's state; every public method is one agent action."""

    def __init__(self, *, run_dir: Path, task: Task, meta: RunMeta, workspace: Workspace, ledger: Ledger,
                 backend: SandboxBackend, scorer: ScorerProcess | None, runtime: Path | None) -> None:
        self.run_dir = run_dir
        self.task = task
        self.meta = meta
        self.workspace = workspace
        self.ledger = ledger
        self.backend = backend
        self.scorer = scorer
        self.runtime = runtime
        self.log = RunLog(run_dir / "events.jsonl")
        self._lock = threading.RLock()  # guards the submitted state against concurrent mutations
        self._experiments: dict[str, ExperimentInfo] = {}
        self._handles: dict[str, RunningSandbox] = {}
        self._done: dict[str, threading.Event] = {}
        self._submitting = False
        self._touched = False
        self._result: SubmitResult | None = self._load_result()
        self._timer: threading.Timer | None = None
        self._listeners: list[Callable[[str, dict[str, Any]], None]] = []
        self._score_jobs = ScoreJobs()
        self._freeze_depth = 0  # evaluations in flight: while > 0 every experiment is frozen
        self._lock_fd = _lock_run_dir(run_dir)
        self._load_experiments()

    # -- construction ------------------------------------------------------------

    @classmethod
    def create(cls, task: Task, runs_dir: Path, *, backend: SandboxBackend, backend_name: str = "bwrap",
               scorer: ScorerProcess | None, overrides: BudgetOverrides | None = None,
               run_id: str | None = None) -> Episode:
        run_id = run_id or f"{task.name}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
        run_dir = runs_dir / run_id
        if run_dir.exists():
            raise EpisodeError(f"run directory {run_dir} already exists; use --resume {run_id}")
        run_dir.mkdir(parents=True)
        os.chmod(run_dir, 0o700)
        (run_dir / "experiments").mkdir()
        editable = task.config.autolab.editable
        workspace = Workspace.create(run_dir / "workspace", task.environment_dir, editable, run_dir / "snapshots")
        _hand_to_agent(workspace.root)
        budget = task.config.autolab.budget
        o = overrides or BudgetOverrides()
        limits = BudgetLimits(
            wall_sec=o.wall_sec or task.config.agent.timeout_sec,
            compute_sec=o.compute_sec or budget.compute_sec,
            experiments=budget.experiments if o.experiments is None else o.experiments,
            score_calls=budget.score_calls if o.score_calls is None else o.score_calls,
        )
        ledger = Ledger.create(run_dir / "budget.json", limits, wall_mode=o.wall_mode)
        meta = RunMeta(run_id=run_id, task=task.name, task_root=str(task.root),
                       created=datetime.now(UTC).isoformat(), backend=backend_name, editable=editable)
        (run_dir / "meta.json").write_text(meta.model_dump_json(indent=1))
        runtime = ensure_runtime(task.config.environment.requirements)
        episode = cls(run_dir=run_dir, task=task, meta=meta, workspace=workspace, ledger=ledger,
                      backend=backend, scorer=scorer, runtime=runtime)
        episode.log.append("episode_started", run_id=run_id, task=task.name, budget=limits.model_dump())
        return episode

    @classmethod
    def resume(cls, run_dir: Path, *, backend: SandboxBackend, scorer: ScorerProcess | None) -> Episode:
        meta_path = run_dir / "meta.json"
        if not meta_path.exists():
            raise EpisodeError(f"{run_dir} is not a run directory (no meta.json)")
        meta = read_model(meta_path, RunMeta, "run metadata")
        task = load_task(meta.task_root)
        workspace = Workspace.open(run_dir / "workspace", meta.editable, run_dir / "snapshots")
        ledger = Ledger.load(run_dir / "budget.json")
        runtime = ensure_runtime(task.config.environment.requirements)
        episode = cls(run_dir=run_dir, task=task, meta=meta, workspace=workspace, ledger=ledger,
                      backend=backend, scorer=scorer, runtime=runtime)
        interrupted = episode._settle_interrupted()
        scores = episode._settle_interrupted_scores()
        episode.log.append("episode_resumed", interrupted_experiments=interrupted, interrupted_scores=scores,
                           budget=episode.ledger.report().model_dump())
        return episode

    # -- lifecycle ---------------------------------------------------------------

    def start_wall_timer(self) -> None:
        """Submit the last snapshot automatically when the wall budget runs out."""
        if self.submitted:
            return
        self._timer = threading.Timer(self.ledger.wall_left() + 0.05, self._auto_submit)
        self._timer.daemon = True
        self._timer.start()

    def close(self, *, remove_if_untouched: bool = False) -> None:
        """Stop the episode's sandboxes (reported killed by `shutdown`) and persist. With
        `remove_if_untouched`, a run that never saw a tool call (a client's health check that
        connected, listed the tools and left) is removed instead of left open."""
        if self._timer:
            self._timer.cancel()
        self._kill_running("shutdown", wait_sec=3.0)
        self.ledger.persist()
        if remove_if_untouched and not self._touched:
            log.info("run %s saw no tool call; removing it", self.meta.run_id)
            shutil.rmtree(self.run_dir, ignore_errors=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _kill_running(self, reason: KillReason, wait_sec: float) -> None:
        """Kill every running experiment and give the watchers up to `wait_sec` in all to record how
        each ended (settled budget, `killed` status)."""
        running = list(self._handles.items())
        for _exp_id, handle in running:
            handle.kill(reason)
        deadline = time.monotonic() + wait_sec
        for exp_id, _handle in running:
            self._done[exp_id].wait(max(0.0, deadline - time.monotonic()))

    def note_tool_call(self) -> None:
        """The server saw a tool call (a fresh run without one is removed at close: a health check)."""
        self._touched = True

    def add_listener(self, listener: Callable[[str, dict[str, Any]], None]) -> None:
        """Called with (kind, details) for notable events (used by the demo's live output)."""
        self._listeners.append(listener)

    def _emit(self, kind: str, **details: Any) -> None:
        for listener in self._listeners:
            try:
                listener(kind, details)
            except Exception:  # a display problem must never break the episode
                log.exception("listener failed")

    def _require_active(self) -> None:
        if self._result is not None:
            raise EpisodeError(
                f"the episode has ended: snapshot {self._result.snapshot} was submitted "
                f"(score {self._result.score:.3f}); reading files, history and budget still works"
            )
        if self._submitting:
            raise EpisodeError("the episode is being submitted; changes are no longer accepted")
        try:
            self.ledger.check_wall()
        except BudgetExhausted as exc:
            threading.Thread(target=self._auto_submit, daemon=True).start()
            raise EpisodeError(str(exc)) from exc

    # -- files -------------------------------------------------------------------

    def write_file(self, path: str, content: str) -> Any:
        with self._lock, disk_refusals_as(self.run_dir):
            self._require_active()
            change = self.workspace.write_file(path, content)
            _hand_to_agent(self.workspace.root)
        self._emit("write_file", path=path, change=change)
        return change

    def apply_patch(self, patch: str) -> Any:
        with self._lock, disk_refusals_as(self.run_dir):
            self._require_active()
            change = self.workspace.apply_patch(patch)
            _hand_to_agent(self.workspace.root)
        self._emit("apply_patch", patch=patch, change=change)
        return change

    def restore(self, snapshot_id: str) -> Any:
        with self._lock, disk_refusals_as(self.run_dir):
            self._require_active()
            change = self.workspace.restore(snapshot_id)
            _hand_to_agent(self.workspace.root)
        return change

    # -- experiments -------------------------------------------------------------

    def _read_only_paths(self) -> list[str]:
        """Non-editable files of the task stay read-only inside experiments, as they are for the scorer."""
        paths = []
        env = self.task.environment_dir
        for dirpath, _dirs, names in os.walk(env):
            for name in names:
                rel = Path(dirpath, name).relative_to(env).as_posix()
                if not matches(rel, self.meta.editable):
                    paths.append(rel)
        return sorted(paths)

    def start_experiment(self, command: str, timeout_sec: float | None = None) -> ExperimentInfo:
        if not command.strip():
            raise EpisodeError("command is empty; give a shell command such as `python check.py`")
        if len(command) > MAX_COMMAND_CHARS or "\x00" in command:
            raise EpisodeError(f"command must be at most {MAX_COMMAND_CHARS} characters and contain no NUL byte")
        try:
            command.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise EpisodeError(f"command is not valid UTF-8 text ({exc.reason} at {exc.start})") from exc
        cap = self.task.config.autolab.experiment_timeout_sec
        timeout = cap if timeout_sec is None else float(timeout_sec)
        if not 0 < timeout <= cap:
            raise EpisodeError(f"timeout_sec must be > 0 and at most {cap:g} for this task (got {timeout_sec})")
        with self._lock:
            self._require_active()
            exp_id = f"exp-{len(self._experiments) + 1:04d}"
            try:
                granted = self.ledger.reserve_experiment(exp_id, timeout)
            except BudgetExhausted as exc:
                raise EpisodeError(str(exc)) from exc
            log_path = self.run_dir / "experiments" / f"{exp_id}.log"
            env = self.task.config.environment
            request = ExecRequest(
                command=command,
                workspace=self.workspace.root,
                read_only_paths=self._read_only_paths(),
                read_only_root=self.task.environment_dir,
                runtime=self.runtime,
                env={"LC_ALL": "C.UTF-8", "PYTHONUNBUFFERED": "1"},
                limits=Limits(wall_sec=granted, memory_mb=env.memory_mb, cpus=env.cpus),
                uid=AGENT_UID,
                log_path=log_path,
            )
            try:
                handle = self.backend.start(request)
            except Exception as exc:
                self.ledger.cancel_reservation(exp_id)
                raise EpisodeError(f"the sandbox could not start: {exc}") from exc
            try:
                info = ExperimentInfo(id=exp_id, command=command, status="running", timeout_sec=granted,
                                      started_at=time.time(), log_file=str(log_path.relative_to(self.run_dir)))
                self._save_experiment(info)
                self._experiments[exp_id] = info
                self._handles[exp_id] = handle
                self._done[exp_id] = threading.Event()
                if self._freeze_depth:  # the episode is being evaluated: it waits, frozen, like the others
                    handle.freeze()
                self.log.append("experiment_started", id=exp_id, command=command, timeout_sec=granted)
            except Exception:  # a refused start charges nothing and leaves no reservation or process behind
                handle.kill()
                handle.wait(30)
                self.ledger.cancel_reservation(exp_id)
                self._experiments.pop(exp_id, None)
                self._handles.pop(exp_id, None)
                self._done.pop(exp_id, None)
                raise
        log.info("experiment %s started (timeout %g s)", exp_id, granted)
        self._emit("experiment_started", info=info)
        threading.Thread(target=self._watch, args=(exp_id, handle), daemon=True, name=exp_id).start()
        return info

    def _watch(self, exp_id: str, handle: RunningSandbox) -> None:
        """Settle the budget when the run ends, whether or not anyone is polling. The run always settles
        in memory, even when the run directory cannot be written (a full disk): then its record says so."""
        last_note = 0.0
        result: ExecResult | None = None
        try:
            while result is None:
                result = handle.wait(1.0)
                now = time.monotonic()
                if result is None and now - last_note >= 2.0:
                    self.ledger.note_progress(exp_id, handle.elapsed())
                    last_note = now
            charged = self.ledger.settle_experiment(exp_id, result.duration_sec)
            status: ExperimentStatus = "finished" if result.killed_by is None else "killed"
            problems: list[str] = []
            snapshot_after = None
            with self._lock:
                try:
                    _hand_to_agent(self.workspace.root)
                    if not self.submitted and not self._submitting:
                        changed = self.workspace.snapshot_if_changed(f"experiment {exp_id}")
                        snapshot_after = changed.id if changed else None
                except OSError as exc:
                    problems.append(f"no snapshot of its changes: {describe_os_error(exc)}")
                tail = result.output_tail
                current = self._experiments[exp_id].model_copy(update={
                    "status": status, "exit_code": result.exit_code, "output_tail": tail,
                    "seconds": round(charged, 3), "timed_out": result.timed_out, "oom_killed": result.oom_killed,
                    "killed_by": result.killed_by, "signal": result.signal,
                    "output_truncated": result.output_truncated, "limits_mode": result.limits_mode,
                    "finished_at": time.time(), "snapshot_after": snapshot_after,
                    "frozen_sec": round(handle.frozen_sec(), 3),
                })
                try:
                    self._save_experiment(current)
                except RunDirWriteError as exc:
                    problems.append(f"its record is kept in memory only: {exc}")
                if problems:
                    note = "[the run directory could not be written: " + "; ".join(problems) + "]"
                    current = current.model_copy(update={"output_tail": f"{tail}\n{note}"[-8192:]})
                self._experiments[exp_id] = current
                self._handles.pop(exp_id, None)
            try:
                self.log.append("experiment_finished", id=exp_id, status=status, exit_code=result.exit_code,
                                killed_by=result.killed_by, signal=result.signal,
                                seconds=round(charged, 3), budget=self.ledger.report().model_dump())
            except RunDirWriteError as exc:
                log.warning("experiment %s: %s", exp_id, exc)
            log.info("experiment %s %s (exit %s, %s, %.1f s)", exp_id, status, result.exit_code,
                     result.killed_by or "own exit", charged)
            self._emit("experiment_finished", info=current)
        except Exception:  # never leave an experiment `running` forever
            log.exception("experiment %s: settling failed", exp_id)
            with self._lock:
                if self._experiments[exp_id].status == "running":
                    self._experiments[exp_id] = self._experiments[exp_id].model_copy(update={
                        "status": "failed", "finished_at": time.time(),
                        "output_tail": "[the server could not settle this run; see its log]"})
                self._handles.pop(exp_id, None)
        finally:
            self._done[exp_id].set()

    @contextlib.contextmanager
    def _experiments_frozen(self) -> Iterator[None]:
        """Freeze every running experiment (and those started meanwhile) for an evaluation of this episode:
        nothing the agent runs can load the host while its submission is measured, nor watch the
        evaluation through shared resources. Frozen time is neither charged nor counted to a timeout."""
        with self._lock:
            self._freeze_depth += 1
            for handle in list(self._handles.values()):
                handle.freeze()
        try:
            yield
        finally:
            with self._lock:
                self._freeze_depth -= 1
                if not self._freeze_depth:
                    for handle in list(self._handles.values()):
                        handle.thaw()

    def experiment(self, exp_id: str) -> ExperimentInfo:
        info = self._experiments.get(exp_id)
        if info is None:
            known = ", ".join(list(self._experiments)[-5:]) or "none yet"
            raise EpisodeError(f"no experiment {exp_id!r}; recent experiments: {known}")
        handle = self._handles.get(exp_id)
        if info.status == "running" and handle is not None:
            return info.model_copy(update={"seconds": round(handle.elapsed(), 3),
                                           "output_tail": handle.output_tail(4096),
                                           "frozen": bool(getattr(handle, "frozen", False)),
                                           "frozen_sec": round(handle.frozen_sec(), 3)})
        return info

    def wait_experiment(self, exp_id: str, wait_sec: float) -> ExperimentInfo:
        self.experiment(exp_id)
        event = self._done.get(exp_id)
        if event is not None and wait_sec > 0:
            event.wait(wait_sec)
        return self.experiment(exp_id)

    def cancel_experiment(self, exp_id: str, idempotent: bool = False) -> ExperimentInfo:
        """Kill a running experiment and wait for it to be settled. Cancelling one that already ended
        is refused, or with `idempotent` (the MCP tool) answered with how it ended."""
        info = self.experiment(exp_id)
        handle = self._handles.get(exp_id)
        if info.status != "running" or handle is None:
            if idempotent:
                self._done[exp_id].wait(30)
                return self.experiment(exp_id)
            raise EpisodeError(f"experiment {exp_id} is not running (status {info.status})")
        handle.kill()
        self._done[exp_id].wait(30)
        return self.experiment(exp_id)

    def experiments(self) -> list[ExperimentInfo]:
        return [self.experiment(exp_id) for exp_id in self._experiments]

    def _save_experiment(self, info: ExperimentInfo) -> None:
        atomic_write_text(self.run_dir / "experiments" / f"{info.id}.json", info.model_dump_json(indent=1))

    def _load_experiments(self) -> None:
        directory = self.run_dir / "experiments"
        if not directory.is_dir():
            return
        for path in sorted(directory.glob("exp-*.json")):
            info = read_model(path, ExperimentInfo, "experiment record")
            self._experiments[info.id] = info
            event = threading.Event()
            event.set()
            self._done[info.id] = event

    def _settle_interrupted(self) -> list[str]:
        """After a crash: experiments that were running are interrupted, and what they used is charged."""
        interrupted = []
        reservations = self.ledger.open_reservations()
        for exp_id, info in list(self._experiments.items()):
            if info.status != "running":
                continue
            used = reservations.get(exp_id)
            charged = self.ledger.settle_experiment(exp_id) if used else 0.0
            info = info.model_copy(update={"status": "interrupted", "seconds": round(charged, 3),
                                           "finished_at": time.time(),
                                           "output_tail": "[interrupted: the server stopped during this run]"})
            self._experiments[exp_id] = info
            self._save_experiment(info)
            interrupted.append(exp_id)
        for exp_id in reservations:
            if exp_id not in self._experiments:
                self.ledger.settle_experiment(exp_id)
        return interrupted

    # -- reading -----------------------------------------------------------------

    def budget(self) -> BudgetReport:
        return self.ledger.report()


def _hand_to_agent(root: Path) -> None:
    """Files the server wrote belong to the agent's uid, so its experiments can use them like any user;
    setuid/setgid bits an experiment left behind are stripped so no host user can borrow that uid."""
    is_root = os.geteuid() == 0
    if is_root:
        os.lchown(root, AGENT_UID, AGENT_UID)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if is_root and st.st_uid != AGENT_UID:
                os.lchown(path, AGENT_UID, AGENT_UID)
            if (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)) and st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                os.chmod(path, stat.S_IMODE(st.st_mode) & ~(stat.S_ISUID | stat.S_ISGID))


def _lock_run_dir(run_dir: Path) -> int | None:
    """An exclusive lock on the run directory for this Episode's life: two servers on one episode would
    charge one budget twice and interleave its log. The kernel drops it when the process dies."""
    fd = os.open(run_dir / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise EpisodeError(
            f"run {run_dir.name} is already being served by another process; stop that server first "
            "(one server per episode)"
        ) from None
    return fd

