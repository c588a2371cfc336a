"""Native (C) tasks: build each side once, untimed, so the timed runs measure the program alone.

A C task's evaluate() calls `build_both(ctx, "prog")`: the task's pristine build script (its
workspace's `build.sh`, read-only to the agent) compiles the candidate and the baseline, each in its
own fresh sandbox with the evaluation's limits; the binary comes back through /output and is put into
that side's workspace copy, so every later `ctx.run` / `ctx.time` of that side finds `./prog` built.
Nothing the build prints reaches the agent (a compiler error can quote the candidate's source): the
reason is a fixed phrase and the exit code goes to the details.
"""

from __future__ import annotations

import os
import shlex
from typing import Literal

from scorer.harness import EvalContext, Invalid, read_regular_file

__all__ = ["BUILD_FAILED", "NO_BINARY", "REASONS", "build", "build_both"]

BUILD_FAILED = "build failed"
NO_BINARY = "build produced no binary"
REASONS = frozenset({BUILD_FAILED, NO_BINARY})

BUILD_TIMEOUT_SEC = 30.0
MAX_BINARY_BYTES = 64 * 1024 * 1024


def build(ctx: EvalContext, which: Literal["candidate", "baseline"], binary: str, *,
          script: str = "build.sh", timeout_sec: float = BUILD_TIMEOUT_SEC) -> int:
    """Compile one side with `sh SCRIPT` and install `binary` into its workspace copy; its size in bytes.
    Raises Invalid("WHICH: build failed" | "WHICH: build produced no binary")."""
    name = shlex.quote(binary)
    out = ctx.run(f"sh {shlex.quote(script)} && cp {name} /output/{name}", which=which, timeout_sec=timeout_sec)
    if not out.ok:
        raise Invalid(f"{which}: {BUILD_FAILED}", exit_code=out.exit_code, timed_out=out.timed_out)
    data, why = read_regular_file(out.output_dir / binary, MAX_BINARY_BYTES)
    if not data:
        raise Invalid(f"{which}: {NO_BINARY}", why=why)
    target = (ctx.candidate_dir if which == "candidate" else ctx.baseline_dir) / binary
    if target.is_symlink() or target.exists():
        target.unlink()
    target.write_bytes(data)
    os.chmod(target, 0o755)
    return len(data)


def build_both(ctx: EvalContext, binary: str, *, script: str = "build.sh",
               timeout_sec: float = BUILD_TIMEOUT_SEC) -> dict[str, int]:
    """Build the candidate, then the baseline (a broken candidate fails before the baseline's build
    costs anything); the binaries' sizes, for the details."""
    return {which: build(ctx, which, binary, script=script, timeout_sec=timeout_sec)
            for which in ("candidate", "baseline")}
