"""The scorer bench's task rigs: each wraps one timed task's hidden-input generator, command and build
(from its tests/evaluate.py) so the stability, false-speedup and 2x parts can run it directly."""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

from autolab_mcp.core.cores import timing_core


def _children_cpu(path: Path) -> float:
    """user + sys seconds of the shell's children from bash's `times` output (second line: `0m1.234s 0m0.056s`)."""
    total = 0.0
    for field in path.read_text().splitlines()[1].split():
        minutes, seconds = field.rstrip("s").split("m")
        total += 60 * float(minutes) + float(seconds)
    return total


class TaskRig(ABC):
    """A clean-room EvalContext for one task with the baseline on both sides, plus its hidden input.

    `use(size)` (re)writes the feedback split's input at that size: the first `size` items of the
    hidden generator's stream, mounted where the task's command expects it.
    """

    input_name = ""
    unit = ""

    def __init__(self, name: str, work: Path) -> None:
        from autolab_mcp.core.runtime import ensure_runtime
        from autolab_mcp.core.sandbox.base import SCORER_UID, Limits
        from autolab_mcp.core.sandbox.bwrap import BwrapBackend
        from autolab_mcp.core.taskdirs import find_task
        from scorer.harness import EvalContext, load_evaluate_module

        self.task = find_task(name)
        self.module = load_evaluate_module(self.task)
        work.mkdir(parents=True, exist_ok=True)
        os.chmod(work, 0o755)
        root = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=work))
        os.chmod(root, 0o711)
        for side in ("candidate", "baseline"):
            shutil.copytree(self.task.environment_dir, root / side, ignore=shutil.ignore_patterns("__pycache__"))
        env = self.task.config.environment
        limits = Limits(wall_sec=self.task.config.autolab.eval_timeout_sec, memory_mb=env.memory_mb, cpus=env.cpus)
        self.ctx = EvalContext(
            task=self.task, split="feedback", candidate_dir=root / "candidate", baseline_dir=root / "baseline",
            scratch=root, backend=BwrapBackend(), runtime=ensure_runtime(env.requirements), limits=limits,
            uid=SCORER_UID, cpu=timing_core(),
        )
        self.command: str = self.module.COMMAND
        self.timeout = float(getattr(self.module, "RUN_TIMEOUT_SEC", 60.0))
        self.full_size = 0
        self.size = 0
        self.inputs: dict[str, Path] = {}
        self.fixed_sec = 0.0
        self.per_unit_sec = 0.0

    def use(self, size: int) -> None:
        self.size = size
        self.inputs = {self.input_name: self.write(self.input_name, self.items(size))}

    @abstractmethod
    def items(self, size: int) -> Any:
        ...

    @abstractmethod
    def write(self, name: str, items: Any) -> Path:
        ...

    def run(self, which: str = "baseline", inputs: dict[str, Path] | None = None, cpu: list[float] | None = None
            ) -> float:
        """One pinned, sandboxed run of the command; its duration (what the scorer times).

        With `cpu` (a list), the command is followed by bash's `times` inside the sandbox and the CPU
        seconds (user + sys) of the command are appended to it: a diagnostic next to the wall time.
        """
        command = self.command if cpu is None else f"{self.command}; times > /output/.bench-times"
        out = self.ctx.run(command, inputs=self.inputs if inputs is None else inputs,
                           which=which,  # type: ignore[arg-type]
                           timeout_sec=self.timeout * 4, pin=True)
        try:
            if not out.ok:
                raise RuntimeError(f"{self.task.name}: {out.failure()}")
            if cpu is not None:
                cpu.append(_children_cpu(out.output_dir / ".bench-times"))
        finally:
            shutil.rmtree(out.output_dir.parent, ignore_errors=True)
        return out.duration_sec

    def calibrate(self, probe: int) -> None:
        """Fixed cost per run (a near-empty input) and cost per item, from a probe size, as this machine is now."""
        self.use(probe)
        self.run()
        t = statistics.median(self.run() for _ in range(2))
        self.use(1)
        self.run()
        self.fixed_sec = statistics.median(self.run() for _ in range(2))
        self.per_unit_sec = max(1e-9, (t - self.fixed_sec) / probe)

    def size_for(self, seconds: float, minimum: int = 8) -> int:
        """The input size whose run should take about `seconds` here (never above the hidden split's)."""
        return int(max(minimum, min(self.full_size, (seconds - self.fixed_sec) / self.per_unit_sec)))

    def describe(self, size: int | None = None) -> str:
        size = self.size if size is None else size
        full = " (full split)" if size == self.full_size else f" (full split: {self.full_size:,})"
        return f"{size:,} {self.unit}{full}"


class SortRig(TaskRig):
    """sort_u32: built once per side (as evaluate.py does), uint32 values at /inputs/data/input.bin."""

    input_name = "data"
    unit = "uint32 values"

    def __init__(self, work: Path) -> None:
        from scorer.outputs import Invalid

        super().__init__("sort_u32", work)
        for which in ("baseline", "candidate"):
            try:
                self.module.build(self.ctx, which)  # raises Invalid with a fixed reason
            except Invalid as failed:
                raise RuntimeError(f"sort_u32 build: {failed.reason}") from None
        self.full_size = int(self.module.N)
        self._data = self.module.hidden_input(BENCH_SEED)

    def items(self, size: int) -> bytes:
        return self._data[: 4 * size]

    def write(self, name: str, items: bytes) -> Path:
        d = self.ctx.input_dir(name)
        (d / "input.bin").write_bytes(items)
        return d


class EditRig(TaskRig):
    """edit_distance: a batch of string pairs at /inputs/pairs/pairs.txt."""

    input_name = "pairs"
    unit = "string pairs"

    def __init__(self, work: Path) -> None:
        super().__init__("edit_distance", work)
        self.full_size = int(self.module.PAIRS)
        self._pairs = self.module.hidden_pairs(BENCH_SEED, self.full_size)

    def items(self, size: int) -> list[tuple[str, str]]:
        return list(self._pairs[:size]) if size <= self.full_size else self.module.hidden_pairs(BENCH_SEED, size)

    def write(self, name: str, items: list[tuple[str, str]]) -> Path:
        d = self.ctx.input_dir(name)
        (d / "pairs.txt").write_text("".join(f"{a} {b}\n" for a, b in items))
        return d


RIGS: dict[str, Callable[[Path], TaskRig]] = {"sort_u32": SortRig, "edit_distance": EditRig}
#: (probe size for calibration) per task
PROBES = {"sort_u32": 1_000_000, "edit_distance": 16}
#: the hidden-input seed the bench uses (any seed: the bench measures the scorer, not a candidate)
BENCH_SEED = 7_301_559


# --------------------------------------------------------------------------- a. get_metric overhead


