"""Hidden evaluation of sort_u32 (runs in the trusted scorer, never in a sandbox).

1. The pristine build.sh compiles the baseline and the candidate, each once, in its own
   sandbox (untimed); the binary comes back through /output (with the count of system-call
   instructions objdump finds in it) and is put into that side's workspace copy, so the timed
   runs measure sorting only.
2. The candidate's binary must pass the single-thread rule (environment/binary_rules.py, loaded
   from the pristine task): dynamically linked against the C library only, no thread, process or
   dynamic-loading function among the names it can import, no system-call instruction, no
   writable code. A rule on the source text was spelled around by token pasting; the binary is
   what runs. Every timed run also runs with forbid_threads (seccomp: clone with CLONE_THREAD, or
   with CLONE_VM but not CLONE_VFORK, fails), so a thread the checks miss is never created.
3. A hidden input of N uint32 values, drawn afresh for every evaluation from the scorer's
   secret seed (`ctx.seed`), goes to /inputs/data/input.bin; the scorer sorts it itself
   (Python, outside the sandbox) and every timed run's /output/sorted.bin must equal that, byte
   for byte.

Reasons are fixed phrases (REASONS); sizes, indexes and the offending names go to details.
"""

from __future__ import annotations

import os
import random
import sys
from array import array
from typing import Any, Literal

from scorer import reasons
from scorer.harness import EvalContext, Invalid, Measurement, RunOutput, load_rules_module, read_regular_file

rules = load_rules_module(__file__, "binary_rules.py")

N = 8_000_000  # the qsort baseline takes about 1.8 s on the scorer machine
#: the public inputs' seed (environment/make_input.py, check.py): a hidden input never uses it
PUBLIC_SEEDS = frozenset({2024})
RUN_TIMEOUT_SEC = 8.0  # keeps the worst case (a slow candidate) under 90 s per evaluation
BUILD_TIMEOUT_SEC = 20.0
MAX_BINARY_BYTES = 64 * 1024 * 1024
BUILD = (
    "sh build.sh && cp sort /output/sort && "
    "{ objdump -d --no-show-raw-insn sort > /tmp/sort.dis && "
    "grep -cE '^ *[0-9a-f]+:[[:space:]]+(syscall|sysenter|int +[$]0x80|svc)([[:space:]]|$)' /tmp/sort.dis "
    "> /output/syscalls.txt; true; }"
)
COMMAND = "./sort /inputs/data/input.bin /output/sorted.bin"

BUILD_FAILED = "build failed"
NO_BINARY = "build produced no binary"
WRONG_SIZE = "sorted.bin does not have the size of the input"
DIFFERS = "sorted.bin differs from the sorted input"
OUTPUT = "sorted.bin"
VALID = "output identical to the sorted input in every run"
#: binary_rules.PROBLEMS, spelled out here so the vocabulary is fixed in the hidden module itself
BINARY_PROBLEMS = frozenset({
    "the built binary is not a well-formed ELF executable",
    "the built binary is not dynamically linked against the C library",
    "the built binary needs a library other than the C library",
    "the built binary refers to a thread, process or dynamic-loading function",
    "the built binary contains a system call instruction",
    "the built binary has writable code or an executable stack",
})
REASONS = frozenset({BUILD_FAILED, NO_BINARY, WRONG_SIZE, DIFFERS, OUTPUT, VALID, *BINARY_PROBLEMS})


def generate(seed: int, n: int) -> bytes:
    """N uniform random uint32 values, little-endian (the public make_input.py does the same)."""
    return random.Random(seed).randbytes(4 * n)


def hidden_input(seed: int, n: int = N) -> bytes:
    """The hidden input of one evaluation: the public generator with the secret seed."""
    if seed in PUBLIC_SEEDS:
        seed += 1
    return generate(seed, n)


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


def first_difference(got: bytes, expected: bytes) -> int:
    """Index of the first differing uint32 (inputs of equal length that differ)."""
    block = 1 << 16
    start = next(i for i in range(0, len(got), block) if got[i:i + block] != expected[i:i + block])
    offset = next(i for i in range(start, start + block, 4) if got[i:i + 4] != expected[i:i + 4])
    return offset // 4


def binary_verdict(binary: bytes, syscalls_file: bytes | None) -> dict[str, Any]:
    """The single-thread rule on the candidate's built binary: its details; raises
    Invalid("candidate: PROBLEM", binary=details), PROBLEM a fixed phrase of BINARY_PROBLEMS.
    syscalls_file: what the build sandbox's grep counted in objdump's listing (None: not written)."""
    problem, details = rules.inspect(binary)
    if problem is None and details.get("syscall_bytes"):
        text = (syscalls_file or b"").strip()
        found = int(text) if text.isdigit() and len(text) < 10 else None
        details["syscall_instructions"] = found
        if found is None or found > 0:
            problem = rules.SYSCALL
    if problem is not None and problem not in BINARY_PROBLEMS:  # the two vocabularies drifted apart
        details["problem"] = problem
        problem = reasons.FALLBACK
    if problem is not None:
        raise Invalid(f"candidate: {problem}", binary=details)
    return details


def build(ctx: EvalContext, which: Literal["candidate", "baseline"]) -> dict[str, Any]:
    """Compile one side once, check the candidate's binary, and drop it into that side's workspace copy:
    the binary's details; raises Invalid("WHICH: fixed reason", binary=details)."""
    out = ctx.run(BUILD, which=which, timeout_sec=BUILD_TIMEOUT_SEC)
    if failure := out.failure():
        raise Invalid(f"{which}: {BUILD_FAILED}: {failure}", binary={})
    binary, reason = read_regular_file(out.output_dir / "sort", MAX_BINARY_BYTES)
    if binary is None:
        raise Invalid(f"{which}: {NO_BINARY}: {reason}", binary={})
    details: dict[str, Any] = {}
    if which == "candidate":
        syscalls, _ = read_regular_file(out.output_dir / "syscalls.txt", 64)
        details = binary_verdict(binary, syscalls)
    target = (ctx.candidate_dir if which == "candidate" else ctx.baseline_dir) / "sort"
    if target.is_symlink() or target.exists():
        target.unlink()
    target.write_bytes(binary)
    os.chmod(target, 0o755)
    return details


def evaluate(ctx: EvalContext) -> Measurement:
    binary_details = build(ctx, "candidate")
    build(ctx, "baseline")

    data = hidden_input(ctx.seed)
    expected = sorted_bytes(data)
    inputs = ctx.input_dir("data")
    (inputs / "input.bin").write_bytes(data)
    del data

    def check(out: RunOutput) -> None:
        got = out.read(OUTPUT, len(expected))
        if len(got) != len(expected):
            raise Invalid(WRONG_SIZE, bytes=len(got), expected_bytes=len(expected))
        if got != expected:
            raise Invalid(DIFFERS, first_difference=first_difference(got, expected))

    timing, reason = ctx.time_pair(COMMAND, inputs={"data": inputs}, check=check, timeout_sec=RUN_TIMEOUT_SEC,
                                   forbid_threads=True)
    details: dict[str, Any] = {"n": N, "split": ctx.split, "binary": binary_details}
    if timing is None:
        raise Invalid(reason or "timing failed", **details, **ctx.timing_failure)
    return Measurement.timed(timing, VALID, **details)
