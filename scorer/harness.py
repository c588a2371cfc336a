"""The contract between the scorer and a task's hidden `tests/evaluate.py`.

A task's evaluate module defines `evaluate(ctx: EvalContext) -> Measurement`. It
runs in the trusted scorer process, never in a sandbox: it generates or loads the
hidden inputs for `ctx.split`, runs the candidate in fresh sandboxes through
`ctx.run` / `ctx.time_pair` (inputs mounted read-only at /inputs/NAME, a fresh
writable /output), and computes the metric itself from what the candidate wrote.
Labels never enter a sandbox; every run gets a fresh copy of the workspace, so
nothing a candidate writes survives to the next run.
"""

from __future__ import annotations

import importlib.util
import io
import itertools
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from autolab_mcp.core.safedir import FileTooLarge, SafeDir, SafeDirError
from autolab_mcp.core.sandbox.base import (
    SCORER_UID,
    ExecRequest,
    ExecResult,
    Limits,
    Mount,
    SandboxBackend,
)
from autolab_mcp.core.taskspec import Task
from autolab_mcp.core.wire import Split
from scorer import reasons
from scorer.timing import MIN_PAIRS, TimingResult, interleaved_pairs

#: The environment every evaluation sandbox gets: nothing inherited from the scorer.
CLEAN_ENV = {
    "PYTHONNOUSERSITE": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONHASHSEED": "0",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "LC_ALL": "C.UTF-8",
    "HOME": "/tmp",
}


class RunOutput(BaseModel):
    """One sandboxed run of the candidate (or baseline) during evaluation."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    exit_code: int | None
    output_tail: str
    duration_sec: float
    timed_out: bool
    oom_killed: bool
    output_dir: Path = Field(description="host path of what the run wrote to /output")

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.oom_killed

    def failure(self) -> str | None:
        """A fixed reason when the run did not finish cleanly (never its exit code or output: a candidate
        chooses both, and could print hidden inputs into the reason)."""
        if self.timed_out:
            return reasons.TIMED_OUT
        if self.oom_killed:
            return reasons.OUT_OF_MEMORY
        if self.exit_code != 0:
            return reasons.EXIT_NONZERO
        return None


class Measurement(BaseModel):
    """What a task's evaluate() returns; the scorer normalizes and signs it.

    `reason` is shown to the agent: it must be built from fixed phrases (scorer/reasons.py and the
    task's REASONS), or the scorer replaces it. Anything derived from the candidate's output goes
    to `details`, which only the signed record keeps."""

    valid: bool
    metric: float | None = None
    reason: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    timing: TimingResult | None = None


class EvalContext:
    """What evaluate() may use. Created fresh for each evaluation by the scorer."""

    def __init__(
        self,
        *,
        task: Task,
        split: Split,
        candidate_dir: Path,
        baseline_dir: Path,
        scratch: Path,
        backend: SandboxBackend,
        runtime: Path | None,
        limits: Limits,
        uid: int | None = SCORER_UID,
        cpu: int | None = None,
        seed: int = 0,
    ) -> None:
        self.task = task
        #: this evaluation's secret seed (scorer/seeds.py): generate the hidden inputs from it, never from
        #: constants, so no episode can learn them for another
        self.seed = seed
        self.split: Split = split
        self.hidden_dir = task.tests_dir
        self.candidate_dir = candidate_dir
        self.baseline_dir = baseline_dir
        self.scratch = scratch
        self._backend = backend
        self._runtime = runtime
        self._limits = limits
        self._uid = uid if os.geteuid() == 0 else None
        self._cpu = cpu
        self._counter = itertools.count()
        self.runs: list[dict[str, Any]] = []

    def input_dir(self, name: str) -> Path:
        """A scorer-side directory for generated hidden inputs, mountable at /inputs/NAME."""
        path = self.scratch / "inputs" / name
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, 0o755)
        return path

    def run(
        self,
        command: str,
        *,
        inputs: dict[str, Path] | None = None,
        which: Literal["candidate", "baseline"] = "candidate",
        timeout_sec: float | None = None,
        memory_mb: int | None = None,
        pin: bool = False,
        forbid_threads: bool = False,
    ) -> RunOutput:
        """Run `bash -c command` in a fresh sandbox over a fresh copy of the workspace.
        forbid_threads: the run may not create threads (seccomp; see ExecRequest.forbid_threads)."""
        if pin and self._cpu is None:
            raise RuntimeError(
                f"task {self.task.name}: a pinned run needs the timing core, but the task does not lease one; "
                "set [autolab] timing_core = true in its task.toml"
            )
        index = next(self._counter)
        run_root = self.scratch / "runs" / f"{index:03d}-{which}"
        workspace = run_root / "workspace"
        output = run_root / "output"
        source = self.candidate_dir if which == "candidate" else self.baseline_dir
        shutil.copytree(source, workspace, symlinks=True)
        output.mkdir(parents=True)
        _hand_over(run_root, self._uid)
        for path in (inputs or {}).values():
            _make_world_readable(path)
        limits = self._limits.model_copy()
        if timeout_sec is not None:
            limits.wall_sec = timeout_sec
        if memory_mb is not None:
            limits.memory_mb = memory_mb
        mounts = [Mount(source=output, target="/output", read_only=False)]
        mounts += [Mount(source=path, target=f"/inputs/{name}") for name, path in (inputs or {}).items()]
        request = ExecRequest(
            command=command,
            workspace=workspace,
            mounts=mounts,
            runtime=self._runtime,
            env=dict(CLEAN_ENV),
            limits=limits,
            uid=self._uid,
            cpu=self._cpu if pin else None,
            fake_file_locks=True,  # no lock channel to or from a concurrent experiment (seccomp.py)
            forbid_threads=forbid_threads,
            log_path=run_root / "log.txt",
        )
        result: ExecResult = self._backend.run(request)
        self.runs.append(
            {"which": which, "command": command, "exit_code": result.exit_code,
             "duration_sec": round(result.duration_sec, 4), "timed_out": result.timed_out,
             "oom_killed": result.oom_killed}
        )
        return RunOutput(
            exit_code=result.exit_code,
            output_tail=result.output_tail,
            duration_sec=result.duration_sec,
            timed_out=result.timed_out,
            oom_killed=result.oom_killed,
            output_dir=output,
        )

    def time_pair(
        self,
        command: str,
        *,
        inputs: dict[str, Path] | None = None,
        check: Callable[[RunOutput], str | None],
        pairs: int = MIN_PAIRS,
        timeout_sec: float | None = None,
        forbid_threads: bool = False,
    ) -> tuple[TimingResult | None, str | None]:
        """Time baseline against candidate with the interleaved-pairs method, pinned to one core.

        `check` validates every run's output (None = fine, else the reason); the
        first failure stops timing and is returned as the reason.
        """
        problems: list[str] = []

        def timed(which: Literal["candidate", "baseline"]) -> float:
            if problems:
                return 1.0
            out = self.run(command, inputs=inputs, which=which, timeout_sec=timeout_sec, pin=True,
                           forbid_threads=forbid_threads)
            reason = out.failure() or check(out)
            if reason:
                problems.append(f"{which}: {reason}")
            shutil.rmtree(out.output_dir.parent, ignore_errors=True)
            return out.duration_sec

        result = interleaved_pairs(lambda: timed("baseline"), lambda: timed("candidate"), pairs)
        if problems:
            return None, problems[0]
        return result, None


def _hand_over(root: Path, uid: int | None) -> None:
    """Give a run directory to the sandbox uid (root only) so the sandbox can write there."""
    os.chmod(root.parent, 0o755)
    if uid is None:
        return
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            os.lchown(os.path.join(dirpath, name), uid, uid)
    os.lchown(root, uid, uid)


def _make_world_readable(path: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(path):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)
        del dirnames  # walk continues into them


def read_regular_file(path: Path, max_bytes: int) -> tuple[bytes | None, str | None]:
    """(bytes, None) or (None, why): what a candidate wrote, refusing symlinks, FIFOs, directories and
    anything over max_bytes; `why` is a fixed phrase (scorer/reasons.py). Opened without following
    links and without blocking, so a candidate's output can neither redirect the scorer nor hang it."""
    try:
        data, _ = SafeDir(path.parent).read([path.name], max_bytes)
    except FileNotFoundError:
        return None, reasons.NOT_WRITTEN
    except FileTooLarge:
        return None, reasons.TOO_LARGE
    except (OSError, SafeDirError):
        return None, reasons.NOT_REGULAR
    return data, None


def load_npy(path: Path, max_bytes: int, *, missing: str, what: str | None = None) -> tuple[Any, str]:
    """(array, "") or (None, why) for a .npy a candidate wrote: a regular file (see
    read_regular_file) of at most max_bytes, loaded without unpickling. `missing` is the reason when
    nothing was written (a fixed phrase of the task's REASONS); the other reasons are fixed phrases of
    scorer/reasons.py. `what` is accepted for older callers and ignored (a reason names no output)."""
    import numpy as np  # only the tasks that exchange arrays need it

    if not os.path.lexists(path):
        return None, missing
    del what
    data, why = read_regular_file(path, max_bytes)
    if data is None:
        return None, why or missing
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception:
        return None, reasons.NOT_ARRAY
    if not isinstance(array, np.ndarray):
        return None, reasons.NOT_ARRAY
    return array, ""


def load_pristine_module(ctx: EvalContext, filename: str) -> ModuleType:
    """Import one of the task's public helper modules (environment/FILENAME) from the pristine task,
    never from the candidate's copy, so hidden scoring code cannot be steered by an edited helper."""
    path = ctx.task.environment_dir / filename
    spec = importlib.util.spec_from_file_location(f"_autolab_{ctx.task.name}_{Path(filename).stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_evaluate_module(task: Task) -> ModuleType:
    """Import the task's hidden tests/evaluate.py under a private module name."""
    path = task.tests_dir / "evaluate.py"
    name = f"_autolab_eval_{task.name}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    # helper modules of another task's tests/ with the same name must not shadow this task's
    for helper in task.tests_dir.glob("*.py"):
        cached = sys.modules.get(helper.stem)
        if cached is not None and Path(getattr(cached, "__file__", "") or "").parent != task.tests_dir:
            del sys.modules[helper.stem]
    sys.path.insert(0, str(task.tests_dir))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(task.tests_dir))
    if not callable(getattr(module, "evaluate", None)):
        raise ImportError(f"{path} defines no evaluate(ctx) function")
    return module
