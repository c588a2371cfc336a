"""Hidden evaluation of sort_u32 (runs in the trusted scorer, never in a sandbox).

1. sort.c is screened for threads/processes/inline assembly (the task is
   single-threaded; timing is pinned to one core anyway).
2. The pristine build.sh compiles the baseline and the candidate, each once, in
   its own sandbox (untimed); the binary comes back through /output and is put
   into that side's workspace copy, so the timed runs measure sorting only.
3. A hidden seeded input of N uint32 values goes to /inputs/data/input.bin; the
   scorer sorts it itself (Python, outside the sandbox) and every timed run's
   /output/sorted.bin must equal that, byte for byte.
"""

from __future__ import annotations

import os
import random
import re
import sys
from array import array
from typing import Literal

from scorer.harness import EvalContext, Measurement, RunOutput, read_regular_file

SEEDS = {"feedback": 3_141_877, "final": 60_727_013}
N = 8_000_000  # the qsort baseline takes about 1.8 s on the scorer machine
RUN_TIMEOUT_SEC = 8.0  # keeps the worst case (a slow candidate) under 90 s per evaluation
BUILD_TIMEOUT_SEC = 20.0
MAX_BINARY_BYTES = 64 * 1024 * 1024
MAX_SOURCE_BYTES = 1024 * 1024
BUILD = "sh build.sh && cp sort /output/sort"
COMMAND = "./sort /inputs/data/input.bin /output/sorted.bin"

FORBIDDEN = re.compile(
    r"\b(pthread\w*|thrd_\w+|omp_\w+|fork|vfork|clone3?|syscall|posix_spawn\w*|system|popen|exec[lv]\w*"
    r"|dlopen|dlsym|asm|__asm__|__asm|_Pragma)\b|#\s*pragma\s+omp"
)


def generate(seed: int, n: int) -> bytes:
    """N uniform random uint32 values, little-endian (the public make_input.py does the same)."""
    data = random.Random(seed).randbytes(4 * n)
    return data


def sorted_bytes(data: bytes) -> bytes:
    """The values of data (little-endian uint32) in ascending order, same encoding."""
    values = array("I")
    if values.itemsize != 4:
        raise RuntimeError("this scorer needs a platform whose C unsigned int has 4 bytes")
    values.frombytes(data)
    if sys.byteorder != "little":
        values.byteswap()
    ordered = values.tolist()
    del values
    ordered.sort()
    out = array("I", ordered)
    if sys.byteorder != "little":
        out.byteswap()
    return out.tobytes()


def strip_comments(source: str) -> str:
    source = re.sub(r"/\*.*?\*/", " ", source, flags=re.DOTALL)
    return re.sub(r"//[^\n]*", " ", source)


def first_difference(got: bytes, expected: bytes) -> int:
    """Index of the first differing uint32 (inputs of equal length that differ)."""
    block = 1 << 16
    start = next(i for i in range(0, len(got), block) if got[i:i + block] != expected[i:i + block])
    offset = next(i for i in range(start, start + block, 4) if got[i:i + 4] != expected[i:i + 4])
    return offset // 4


def build(ctx: EvalContext, which: Literal["candidate", "baseline"]) -> str | None:
    """Compile one side once and drop the binary into its workspace copy; None or the reason."""
    out = ctx.run(BUILD, which=which, timeout_sec=BUILD_TIMEOUT_SEC)
    failure = out.failure()
    if failure:
        return f"build failed: {failure}"
    binary, reason = read_regular_file(out.output_dir / "sort", MAX_BINARY_BYTES)
    if binary is None:
        return f"build produced no binary: {reason}"
    target = (ctx.candidate_dir if which == "candidate" else ctx.baseline_dir) / "sort"
    if target.is_symlink() or target.exists():
        target.unlink()
    target.write_bytes(binary)
    os.chmod(target, 0o755)
    return None


def evaluate(ctx: EvalContext) -> Measurement:
    source, reason = read_regular_file(ctx.candidate_dir / "sort.c", MAX_SOURCE_BYTES)
    if source is None:
        return Measurement(valid=False, reason=reason or "sort.c is missing")
    match = FORBIDDEN.search(strip_comments(source.decode("utf-8", "replace")))
    if match:
        return Measurement(
            valid=False,
            reason=f"sort.c uses {match.group(0)!r}: threads, processes, system calls and inline "
            "assembly are not allowed (single-threaded C only)",
        )
    for which in ("baseline", "candidate"):
        problem = build(ctx, which)
        if problem:
            return Measurement(valid=False, reason=f"{which}: {problem}")

    data = generate(SEEDS[ctx.split], N)
    expected = sorted_bytes(data)
    inputs = ctx.input_dir("data")
    (inputs / "input.bin").write_bytes(data)
    del data

    def check(out: RunOutput) -> str | None:
        got, why = read_regular_file(out.output_dir / "sorted.bin", len(expected))
        if got is None:
            return why
        if len(got) != len(expected):
            return f"sorted.bin has {len(got)} bytes; expected {len(expected)} ({N} values)"
        if got != expected:
            index = first_difference(got, expected)
            return f"sorted.bin differs from the sorted input, first at value index {index}"
        return None

    timing, reason = ctx.time_pair(COMMAND, inputs={"data": inputs}, check=check, timeout_sec=RUN_TIMEOUT_SEC)
    if timing is None:
        return Measurement(valid=False, reason=reason or "timing failed")
    median_sec = sorted(timing.candidate_sec)[len(timing.candidate_sec) // 2]
    return Measurement(
        valid=True,
        metric=median_sec,
        timing=timing,
        reason=f"output identical to the sorted input in every run; {timing.verdict}",
        details={"n": N, "split": ctx.split, "speedup": round(timing.speedup, 3)},
    )
