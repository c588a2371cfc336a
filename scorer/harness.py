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
import itertools
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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
from scorer.outputs import Invalid, OutputKind, load_npy, read_output, read_regular_file
from scorer.timing import MIN_PAIRS, TimingResult, interleaved_pairs

__all__ = [
    "EvalContext", "Invalid", "Measurement", "RunOutput", "load_npy", "load_pristine_module", "load_rules_module",
    "read_regular_file",
]

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

    def require_ok(self, what: str) -> RunOutput:
        """This run, or Invalid("WHAT: fixed failure") when it did not finish cleanly; `what` is a
        phrase of the task's REASONS ("network.py failed")."""
        failure = self.failure()
        if failure:
            raise Invalid(f"{what}: {failure}", exit_code=self.exit_code)
        return self

    def read(self, name: str, max_bytes: int, kind: OutputKind = "bytes") -> Any:
        """The output file `name` as `kind` (see scorer/outputs.read_output); raises Invalid."""
        return read_output(self.output_dir, name, max_bytes, kind)


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

    @classmethod
    def timed(cls, timing: TimingResult, reason: str, **details: Any) -> Measurement:
        """A valid measurement of a timed task: the metric is the candidate's median seconds, the score
        comes from the measured speedup (scorer/normalize.py); the speedup joins the details."""
        median_sec = sorted(timing.candidate_sec)[len(timing.candidate_sec) // 2]
        return cls(valid=True, metric=median_sec, timing=timing, reason=reason,
                   details={**details, "speedup": round(timing.speedup, 3)})


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
        #: the details of the failure time_pair returned as a reason (empty when none)
        self.timing_failure: dict[str, Any] = {}

    def input_dir(self, name: str) -> Path:
        """A scorer-side directory for generated hidden inputs, mountable at /inputs/NAME."""
        path = self.scratch / "inputs" / name
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, 0o755)
        return path

    def writable_dir(self, name: str, copy_of: Path | None = None) -> Path:
        """A fresh scorer-side directory the evaluation sandbox may write (mount it with `mounts`),
        empty or a copy of the trusted directory `copy_of` (links copied as links, never followed)."""
        path = self.scratch / "writable" / name
        if copy_of is None:
            path.mkdir(parents=True)
        else:
            shutil.copytree(copy_of, path, symlinks=True)
        _hand_over(path, self._uid)
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
        mounts: list[Mount] | None = None,
        in_place: bool = False,
    ) -> RunOutput:
        """Run `bash -c command` in a fresh sandbox over a fresh copy of the workspace.
        forbid_threads: the run may not create threads (seccomp; see ExecRequest.forbid_threads).
        mounts: more scorer-side directories for this run (a Harbor verifier's /tests, /logs/verifier).
        in_place: over that side's workspace itself, not a copy: a build whose outputs later runs use
        (only that side's own copy changes; every later run still gets a fresh copy of it)."""
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
        if in_place:
            run_root.mkdir(parents=True)
            workspace = source
        else:
            shutil.copytree(source, workspace, symlinks=True)
        output.mkdir(parents=True)
        _hand_over(run_root, self._uid)
        if in_place:
            _hand_over_tree(source, self._uid)
        for path in (inputs or {}).values():
            _make_world_readable(path)
        limits = self._limits.model_copy()
        if timeout_sec is not None:
            limits.wall_sec = timeout_sec
        if memory_mb is not None:
            limits.memory_mb = memory_mb
        extra = list(mounts or [])
        mounts = [Mount(source=output, target="/output", read_only=False)]
        mounts += [Mount(source=path, target=f"/inputs/{name}") for name, path in (inputs or {}).items()]
        mounts += extra
        request = ExecRequest(
            command=command,
            workspace=workspace,
            workdir=self.task.config.autolab.workdir,
            mounts=mounts,
            runtime=self._runtime,
            env={**self.task.config.environment.env, **CLEAN_ENV},  # a task's own env never overrides ours
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

    def time_pair(self, command: str, **options: Any) -> tuple[TimingResult | None, str | None]:
        """`ctx.time` (same options) returning (timing, None) or (None, reason) instead of raising:
        the first failed run or check stops timing and its reason is returned (its details in
        `ctx.timing_failure`)."""
        try:
            return self.time(command, **options), None
        except Invalid as exc:
            self.timing_failure = exc.details
            return None, exc.reason

    def time(
        self,
        command: str,
        *,
        inputs: dict[str, Path] | None = None,
        check: Callable[[RunOutput], str | None],
        pairs: int = MIN_PAIRS,
        timeout_sec: float | None = None,
        forbid_threads: bool = False,
        mounts: list[Mount] | None = None,
    ) -> TimingResult:
        """Time baseline against candidate with the interleaved-pairs method, pinned to one core.

        `check` validates every run's output (None = fine, else the reason, or it raises Invalid); a
        failed run or check raises Invalid("baseline|candidate: reason", **details) (a check's own
        Invalid keeps its details)."""
        problems: list[Invalid] = []

        def timed(which: Literal["candidate", "baseline"]) -> float:
            if problems:
                return 1.0
            out = self.run(command, inputs=inputs, which=which, timeout_sec=timeout_sec, pin=True,
                           forbid_threads=forbid_threads, mounts=mounts)
            try:
                reason = out.failure() or check(out)
                if reason:
                    raise Invalid(reason)
            except Invalid as exc:
                problems.append(Invalid(f"{which}: {exc.reason}", **exc.details))
            shutil.rmtree(out.output_dir.parent, ignore_errors=True)
            return out.duration_sec

        result = interleaved_pairs(lambda: timed("baseline"), lambda: timed("candidate"), pairs)
        if problems:
            raise problems[0]
        return result


def _hand_over(root: Path, uid: int | None) -> None:
    """Give a run directory to the sandbox uid (root only) so the sandbox can write there."""
    os.chmod(root.parent, 0o755)
    _hand_over_tree(root, uid)


def _hand_over_tree(root: Path, uid: int | None) -> None:
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


def load_pristine_module(ctx: EvalContext, filename: str) -> ModuleType:
    """Import one of the task's public helper modules (environment/FILENAME) from the pristine task,
    never from the candidate's copy, so hidden scoring code cannot be steered by an edited helper."""
    return _import_file(ctx.task.environment_dir / filename, f"_autolab_{ctx.task.name}_{Path(filename).stem}")


def load_rules_module(evaluate_file: str, filename: str) -> ModuleType:
    """The task's public rules module (environment/FILENAME next to the tests/ that holds
    `evaluate_file`), for an evaluate.py's module level: `rules = load_rules_module(__file__, "x.py")`.

    The scorer imports evaluate.py from the pristine task, so this is the pristine copy too: the one
    check.py imports in the workspace, unedited, and the two can never disagree on a rule."""
    path = Path(evaluate_file).resolve().parents[1] / "environment" / filename
    return _import_file(path, f"_autolab_rules_{path.parents[1].name}_{Path(filename).stem}")


def _import_file(path: Path, name: str) -> ModuleType:
    """Import a public module of the task without writing bytecode next to it: a __pycache__ in the
    pristine environment/ would become part of every workspace and every evaluation's copy."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    writes, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = writes
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
