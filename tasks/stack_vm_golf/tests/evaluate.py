"""Hidden evaluation of stack_vm_golf (runs in the trusted scorer, never in a sandbox).

The submission is data, not code: dot.asm is read from the candidate's files and
run here on the scorer's own copy of the VM (stack_vm_golf_vm.py, identical to
the public environment/vm.py), which enforces program size, stack and step caps.
Nothing of the candidate's is executed on the host, so no sandbox is needed.
Cases: the public edge cases plus random vectors drawn afresh for every evaluation
from the scorer's secret seed (`ctx.seed`).

Reasons are fixed phrases (REASONS; the VM's error kinds among them). The VM's own
message is never shown: a program that loads a hidden entry and faults on it as an
address made the message print hidden values (and `hidden case 7 of 110` the split's
size). Messages, case numbers and results go to the measurement's details.
"""

from __future__ import annotations

import os
import random
import stat
from pathlib import Path
from typing import Any

from stack_vm_golf_vm import KINDS, MAX_PROGRAM_BYTES, VECTOR_LEN, VMError, assemble, run

from scorer.harness import EvalContext, Measurement

RANDOM_CASES = {"feedback": 40, "final": 100}
SPARSE_CASES = 4
LIMIT = 10**6
#: the public random cases' seed (environment/check.py): hidden cases never use it
PUBLIC_SEEDS = frozenset({12345})

MISSING = "dot.asm is missing"
UNREADABLE = "dot.asm cannot be opened as a regular file"
TOO_BIG = f"dot.asm is larger than {MAX_PROGRAM_BYTES} bytes"
NOT_UTF8 = "dot.asm is not UTF-8 text"
ASSEMBLY_FAILED = "assembly failed"
RUN_FAILED = "the program failed on a hidden case"
VM_CRASHED = "the VM stopped with an internal error"
WRONG = "wrong result on a hidden case"
VALID = "exact on every case"
REASONS = frozenset({MISSING, UNREADABLE, TOO_BIG, NOT_UTF8, ASSEMBLY_FAILED, RUN_FAILED, VM_CRASHED, WRONG,
                     VALID, *KINDS})


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


def hidden_cases(seed: int, split: str) -> list[tuple[list[int], list[int]]]:
    """The edge cases, then the split's random dense cases, then a few sparse ones, all from `seed`."""
    if seed in PUBLIC_SEEDS:
        seed += 1
    rng = random.Random(seed)
    cases = edge_cases()
    for _ in range(RANDOM_CASES[split]):
        a = [rng.randint(-LIMIT, LIMIT) for _ in range(VECTOR_LEN)]
        b = [rng.randint(-LIMIT, LIMIT) for _ in range(VECTOR_LEN)]
        cases.append((a, b))
    # a few sparse vectors, so programs that skip zeros are checked too
    for _ in range(SPARSE_CASES):
        a = [rng.randint(-LIMIT, LIMIT) if rng.random() < 0.2 else 0 for _ in range(VECTOR_LEN)]
        b = [rng.randint(-LIMIT, LIMIT) for _ in range(VECTOR_LEN)]
        cases.append((a, b))
    return cases


def read_program(path: Path) -> tuple[str | None, str | None]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None, MISSING
    except OSError:
        return None, UNREADABLE
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, UNREADABLE
        if info.st_size > MAX_PROGRAM_BYTES:
            return None, TOO_BIG
        data = os.read(fd, MAX_PROGRAM_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_PROGRAM_BYTES:
        return None, TOO_BIG
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return None, NOT_UTF8


def _kind(exc: VMError) -> str:
    kind = getattr(exc, "kind", None)
    return kind if kind in KINDS else VM_CRASHED


def evaluate(ctx: EvalContext) -> Measurement:
    text, reason = read_program(ctx.candidate_dir / "dot.asm")
    if text is None:
        return Measurement(valid=False, reason=reason or MISSING)
    try:
        program = assemble(text)
    except VMError as exc:
        return Measurement(valid=False, reason=f"{ASSEMBLY_FAILED}: {_kind(exc)}", details={"error": str(exc)[:300]})
    cases = hidden_cases(ctx.seed, ctx.split)
    steps_per_case = []
    for index, (a, b) in enumerate(cases):
        want = sum(x * y for x, y in zip(a, b, strict=True))
        where: dict[str, Any] = {"case": index + 1, "cases": len(cases), "edge_case": index < len(edge_cases())}
        try:
            result, steps = run(program, a, b)
        except VMError as exc:
            return Measurement(valid=False, reason=f"{RUN_FAILED}: {_kind(exc)}",
                               details={**where, "error": str(exc)[:300]})
        except Exception as exc:  # the VM must never crash the scorer
            return Measurement(valid=False, reason=VM_CRASHED, details={**where, "error": type(exc).__name__})
        if result != want:
            return Measurement(valid=False, reason=WRONG, details={**where, "result": result, "expected": want})
        steps_per_case.append(steps)
    worst = max(steps_per_case)
    return Measurement(
        valid=True,
        metric=float(worst),
        reason=VALID,
        details={
            "cases": len(cases),
            "max_executed": worst,
            "mean_executed": round(sum(steps_per_case) / len(steps_per_case), 2),
            "program_instructions": len(program),
            "split": ctx.split,
        },
    )
