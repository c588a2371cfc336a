"""Hidden evaluation of stack_vm_golf (runs in the trusted scorer, never in a sandbox).

The submission is data, not code: dot.asm is read from the candidate's files and
run here on the scorer's own copy of the VM (stack_vm_golf_vm.py, identical to
the public environment/vm.py), which enforces program size, stack and step caps.
Nothing of the candidate's is executed on the host, so no sandbox is needed.
Cases: the public edge cases plus hidden random vectors seeded per split.
"""

from __future__ import annotations

import os
import random
import stat
from pathlib import Path

from stack_vm_golf_vm import MAX_PROGRAM_BYTES, VECTOR_LEN, VMError, assemble, run

from scorer.harness import EvalContext, Measurement

SEEDS = {"feedback": 5_550_121, "final": 81_226_907}
RANDOM_CASES = {"feedback": 40, "final": 100}
LIMIT = 10**6


def edge_cases() -> list[tuple[list[int], list[int]]]:
    n = VECTOR_LEN
    return [
        ([0] * n, [0] * n),
        ([LIMIT] * n, [LIMIT] * n),
        ([-LIMIT] * n, [LIMIT] * n),
        ([LIMIT if i % 2 else -LIMIT for i in range(n)], [LIMIT] * n),
        (list(range(n)), list(range(n, 0, -1))),
        ([1] * n, [0] * (n - 1) + [1]),
    ]


def hidden_cases(split: str) -> list[tuple[list[int], list[int]]]:
    rng = random.Random(SEEDS[split])
    cases = edge_cases()
    for _ in range(RANDOM_CASES[split]):
        a = [rng.randint(-LIMIT, LIMIT) for _ in range(VECTOR_LEN)]
        b = [rng.randint(-LIMIT, LIMIT) for _ in range(VECTOR_LEN)]
        cases.append((a, b))
    # a few sparse vectors, so programs that skip zeros are checked too
    for _ in range(4):
        a = [rng.randint(-LIMIT, LIMIT) if rng.random() < 0.2 else 0 for _ in range(VECTOR_LEN)]
        b = [rng.randint(-LIMIT, LIMIT) for _ in range(VECTOR_LEN)]
        cases.append((a, b))
    return cases


def read_program(path: Path) -> tuple[str | None, str | None]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None, "dot.asm is missing"
    except OSError as exc:
        return None, f"dot.asm cannot be opened ({exc.strerror})"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, "dot.asm is not a regular file"
        if info.st_size > MAX_PROGRAM_BYTES:
            return None, f"dot.asm is {info.st_size} bytes; the limit is {MAX_PROGRAM_BYTES}"
        data = os.read(fd, MAX_PROGRAM_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_PROGRAM_BYTES:
        return None, f"dot.asm is larger than {MAX_PROGRAM_BYTES} bytes"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, f"dot.asm is not UTF-8 text: {exc}"


def evaluate(ctx: EvalContext) -> Measurement:
    text, reason = read_program(ctx.candidate_dir / "dot.asm")
    if text is None:
        return Measurement(valid=False, reason=reason or "unreadable program")
    try:
        program = assemble(text)
    except VMError as exc:
        return Measurement(valid=False, reason=f"assembly failed: {exc}")
    cases = hidden_cases(ctx.split)
    steps_per_case = []
    for index, (a, b) in enumerate(cases):
        want = sum(x * y for x, y in zip(a, b, strict=True))
        try:
            result, steps = run(program, a, b)
        except VMError as exc:
            return Measurement(valid=False, reason=f"hidden case {index + 1} of {len(cases)}: {exc}")
        except Exception as exc:  # the VM must never crash the scorer
            return Measurement(valid=False, reason=f"hidden case {index + 1}: VM error {type(exc).__name__}")
        if result != want:
            kind = "edge case" if index < len(edge_cases()) else "random case"
            reason = f"hidden case {index + 1} of {len(cases)} ({kind}): wrong result"
            return Measurement(valid=False, reason=reason)
        steps_per_case.append(steps)
    worst = max(steps_per_case)
    return Measurement(
        valid=True,
        metric=float(worst),
        reason=f"exact on all {len(cases)} cases; at most {worst} instructions executed",
        details={
            "cases": len(cases),
            "max_executed": worst,
            "mean_executed": round(sum(steps_per_case) / len(steps_per_case), 2),
            "program_instructions": len(program),
            "split": ctx.split,
        },
    )
