"""An episode's experiments: start, watch, wait, cancel, persist, and settle after a crash.

Every experiment is charged up front (one experiment, a compute reservation) and settled by a
watcher thread when it ends, whether or not anyone polls; its record is saved in the run
directory at start and at end, so a resumed server knows what ran and charges what was used.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from autolab_mcp.budget import BudgetExhausted, Ledger
from autolab_mcp.core.editable import matches
from autolab_mcp.core.rundir import RunDir
from autolab_mcp.core.rundir_files import RunDirWriteError, atomic_write_text, describe_os_error, read_model
from autolab_mcp.core.sandbox.base import (
    AGENT_UID,
    ExecRequest,
    ExecResult,
    KillReason,
    Limits,
    RunningSandbox,
    SandboxBackend,
    SandboxError,
)
from autolab_mcp.core.taskspec import Task
from autolab_mcp.episode.models import MAX_COMMAND_CHARS, EpisodeError, ExperimentInfo, ExperimentStatus
from autolab_mcp.episode.ownership import hand_to_agent
from autolab_mcp.runlog import RunLog
from autolab_mcp.workspace import Workspace

log = logging.getLogger("autolab.episode")

__all__ = ["ExperimentRunner", "validate_command"]


def validate_command(command: str, timeout_sec: float | None, cap: float) -> float:
    """The timeout to run `command` with; raises EpisodeError (a Refusal) for an empty, oversized,
    NUL-holding or non-UTF-8 command, or a timeout outside (0, cap]."""
    if not command.strip():
        raise EpisodeError("command is empty; give a shell command such as `python check.py`")
    if len(command) > MAX_COMMAND_CHARS or "\x00" in command:
        raise EpisodeError(f"command must be at most {MAX_COMMAND_CHARS} characters and contain no NUL byte")
    try:
        command.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EpisodeError(f"command is not valid UTF-8 text ({exc.reason} at {exc.start})") from exc
    timeout = cap if timeout_sec is None else float(timeout_sec)
    if not 0 < timeout <= cap:
        raise EpisodeError(f"timeout_sec must be > 0 and at most {cap:g} for this task (got {timeout_sec})")
    return timeout


class ExperimentRunner:
    """The experiments of one episode. `lock` is the episode's lock (one order for every state change);
    `may_snapshot` says whether a run's changes still become a snapshot (not once submitting)."""

    def __init__(self, *, paths: RunDir, task: Task, editable: list[str], workspace: Workspace, ledger: Ledger,
                 backend: SandboxBackend, runtime: Path | None, log: RunLog, lock: threading.RLock,
                 may_snapshot: Callable[[], bool], emit: Callable[..., None]) -> None:
        self.paths = paths
        self.task = task
        self.editable = editable
        self.workspace = workspace
        self.ledger = ledger
        self.backend = backend
        self.runtime = runtime
        self.log = log
        self._lock = lock
        self._may_snapshot = may_snapshot
        self._emit = emit
        self._experiments: dict[str, ExperimentInfo] = {}
        self._handles: dict[str, RunningSandbox] = {}
        self._done: dict[str, threading.Event] = {}
        self._freeze_depth = 0  # evaluations in flight: while > 0 every experiment is frozen
        self._load()

    # -- starting ----------------------------------------------------------------------------------------

    def start(self, command: str, timeout: float) -> ExperimentInfo:
        """Charge and start one experiment (the caller holds the episode's lock and checked it is active).
        Raises EpisodeError when the budget is spent or the sandbox cannot start; either charges nothing."""
        exp_id = f"exp-{len(self._experiments) + 1:04d}"
        try:
            granted = self.ledger.reserve_experiment(exp_id, timeout)
        except BudgetExhausted as exc:
            raise EpisodeError(str(exc)) from exc
        request = self._request(command, granted, self.paths.experiment_log(exp_id))
        try:
            handle = self.backend.start(request)
        except SandboxError as exc:
            self.ledger.cancel_reservation(exp_id)
            raise EpisodeError(f"the sandbox could not start: {exc}") from exc
        except Exception:  # a fault of ours: nothing charged, and not dressed as a refusal
            self.ledger.cancel_reservation(exp_id)
            raise
        try:
            info = ExperimentInfo(id=exp_id, command=command, status="running", timeout_sec=granted,
                                  started_at=time.time(),
                                  log_file=str(self.paths.experiment_log(exp_id).relative_to(self.paths.path)))
            self._track(info, handle)
            self.log.append("experiment_started", id=exp_id, command=command, timeout_sec=granted)
        except Exception:  # a refused start charges nothing and leaves no reservation or process behind
            handle.kill()
            handle.wait(30)
            self.ledger.cancel_reservation(exp_id)
            self._forget(exp_id)
            raise
        log.info("experiment %s started (timeout %g s)", exp_id, granted)
        threading.Thread(target=self._watch, args=(exp_id, handle), daemon=True, name=exp_id).start()
        return info

    def _request(self, command: str, granted: float, log_path: Path) -> ExecRequest:
        env = self.task.config.environment
        return ExecRequest(
            command=command,
            workspace=self.workspace.root,
            workdir=self.task.config.autolab.workdir,
            read_only_paths=self._read_only_paths(),
            read_only_root=self.task.environment_dir,
            runtime=self.runtime,
            # no bytecode: check.py importing a task's rules module would leave __pycache__ in the workspace
            env={**env.env, "LC_ALL": "C.UTF-8", "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"},
            limits=Limits(wall_sec=granted, memory_mb=env.memory_mb, cpus=env.cpus),
            uid=AGENT_UID,
            log_path=log_path,
        )

    def _read_only_paths(self) -> list[str]:
        """Non-editable files of the task stay read-only inside experiments, as they are for the scorer."""
        paths = []
        env = self.task.environment_dir
        for dirpath, _dirs, names in os.walk(env):
            for name in names:
                rel = Path(dirpath, name).relative_to(env).as_posix()
                if not matches(rel, self.editable):
                    paths.append(rel)
        return sorted(paths)

    def _track(self, info: ExperimentInfo, handle: RunningSandbox) -> None:
        self._save(info)
        self._experiments[info.id] = info
        self._handles[info.id] = handle
        self._done[info.id] = threading.Event()
        if self._freeze_depth:  # the episode is being evaluated: it waits, frozen, like the others
            handle.freeze()

    def _forget(self, exp_id: str) -> None:
        self._experiments.pop(exp_id, None)
        self._handles.pop(exp_id, None)
        self._done.pop(exp_id, None)

    # -- settling ----------------------------------------------------------------------------------------

    def _watch(self, exp_id: str, handle: RunningSandbox) -> None:
        """Settle the budget when the run ends, whether or not anyone is polling. The run always settles
        in memory, even when the run directory cannot be written (a full disk): then its record says so."""
        try:
            result = self._wait_noting_progress(exp_id, handle)
            charged = self.ledger.settle_experiment(exp_id, result.duration_sec)
            status: ExperimentStatus = "finished" if result.killed_by is None else "killed"
            with self._lock:
                current = self._settled_record(exp_id, handle, result, status, charged)
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

    def _wait_noting_progress(self, exp_id: str, handle: RunningSandbox) -> ExecResult:
        last_note = 0.0
        while True:
            result = handle.wait(1.0)
            if result is not None:
                return result
            now = time.monotonic()
            if now - last_note >= 2.0:
                self.ledger.note_progress(exp_id, handle.elapsed())
                last_note = now

    def _settled_record(self, exp_id: str, handle: RunningSandbox, result: ExecResult, status: ExperimentStatus,
                        charged: float) -> ExperimentInfo:
        """The ended run's record, with a snapshot of its changes, saved; problems writing the run
        directory are appended to its output tail instead of failing the settlement."""
        problems: list[str] = []
        snapshot_after = None
        try:
            hand_to_agent(self.workspace.root)
            if self._may_snapshot():
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
            self._save(current)
        except RunDirWriteError as exc:
            problems.append(f"its record is kept in memory only: {exc}")
        if problems:
            note = "[the run directory could not be written: " + "; ".join(problems) + "]"
            current = current.model_copy(update={"output_tail": f"{tail}\n{note}"[-8192:]})
        return current

    def kill_running(self, reason: KillReason, wait_sec: float) -> None:
        """Kill every running experiment and give the watchers up to `wait_sec` in all to record how
        each ended (settled budget, `killed` status)."""
        running = list(self._handles.items())
        for _exp_id, handle in running:
            handle.kill(reason)
        deadline = time.monotonic() + wait_sec
        for exp_id, _handle in running:
            self._done[exp_id].wait(max(0.0, deadline - time.monotonic()))

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
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

    # -- reading -----------------------------------------------------------------------------------------

    def get(self, exp_id: str) -> ExperimentInfo:
        """The experiment's record, live figures for a running one; raises EpisodeError for an unknown id."""
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

    def wait(self, exp_id: str, wait_sec: float) -> ExperimentInfo:
        """The record after waiting up to `wait_sec` for the run to end; raises EpisodeError for an unknown id."""
        self.get(exp_id)
        event = self._done.get(exp_id)
        if event is not None and wait_sec > 0:
            event.wait(wait_sec)
        return self.get(exp_id)

    def cancel(self, exp_id: str, idempotent: bool = False) -> ExperimentInfo:
        """Kill a running experiment and wait for it to be settled. Cancelling one that already ended
        raises EpisodeError, or with `idempotent` (the MCP tool) answers how it ended."""
        info = self.get(exp_id)
        handle = self._handles.get(exp_id)
        if info.status != "running" or handle is None:
            if idempotent:
                self._done[exp_id].wait(30)
                return self.get(exp_id)
            raise EpisodeError(f"experiment {exp_id} is not running (status {info.status})")
        handle.kill()
        self._done[exp_id].wait(30)
        return self.get(exp_id)

    def all(self) -> list[ExperimentInfo]:
        return [self.get(exp_id) for exp_id in self._experiments]

    # -- persistence ---------------------------------------------------------------------------------------

    def _save(self, info: ExperimentInfo) -> None:
        atomic_write_text(self.paths.experiment_record(info.id), info.model_dump_json(indent=1))

    def _load(self) -> None:
        directory = self.paths.experiments
        if not directory.is_dir():
            return
        for path in sorted(directory.glob("exp-*.json")):
            info = read_model(path, ExperimentInfo, "experiment record")
            self._experiments[info.id] = info
            event = threading.Event()
            event.set()
            self._done[info.id] = event

    def settle_interrupted(self) -> list[str]:
        """After a crash: experiments that were running are interrupted, and what they used is charged."""
        interrupted = []
        reservations = self.ledger.open_reservations()
        for exp_id, info in list(self._experiments.items()):
            if info.status != "running":
                continue
            used = reservations.get(exp_id)
            charged = self.ledger.settle_experiment(exp_id) if used else 0.0
            settled = info.model_copy(update={"status": "interrupted", "seconds": round(charged, 3),
                                              "finished_at": time.time(),
                                              "output_tail": "[interrupted: the server stopped during this run]"})
            self._experiments[exp_id] = settled
            self._save(settled)
            interrupted.append(exp_id)
        for exp_id in reservations:
            if exp_id not in self._experiments:
                self.ledger.settle_experiment(exp_id)
        return interrupted

