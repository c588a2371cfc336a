"""The rules of stack_vm_golf, in one place (read-only): check.py imports this file, and the scorer
loads the pristine copy of it (never the workspace's), so the local check and the hidden evaluation
read dot.asm and judge a program's runs exactly alike.

dot.asm must be a regular file of at most MAX_PROGRAM_BYTES of UTF-8 text that assembles; on every
case (the fixed edge cases below, then random vectors) the run must end without a VM error and leave
the exact dot product. The metric is the largest number of executed instructions over all cases.
Both sides pass their own copy of the VM (vm.py here, the scorer's identical copy there).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

MAX_PROGRAM_BYTES = 64 * 1024  # vm.MAX_PROGRAM_BYTES
VECTOR_LEN = 64  # vm.VECTOR_LEN
LIMIT = 10**6  # every input entry is in [-LIMIT, LIMIT]

MISSING = "dot.asm is missing"
UNREADABLE = "dot.asm cannot be opened as a regular file"
TOO_BIG = f"dot.asm is larger than {MAX_PROGRAM_BYTES} bytes"
NOT_UTF8 = "dot.asm is not UTF-8 text"
ASSEMBLY_FAILED = "assembly failed"
RUN_FAILED = "the program failed on a hidden case"
VM_CRASHED = "the VM stopped with an internal error"
WRONG = "wrong result on a hidden case"
#: every reason a rule can give (with the VM's error kinds, vm.KINDS): fixed phrases, safe to show; the
#: VM's message, the case and the values go to `details`
REASONS = frozenset({MISSING, UNREADABLE, TOO_BIG, NOT_UTF8, ASSEMBLY_FAILED, RUN_FAILED, VM_CRASHED, WRONG})


class RuleError(ValueError):
    """A broken rule: `reason` is a fixed phrase, `details` the offending values."""

    def __init__(self, reason: str, **details: Any) -> None:
        super().__init__(f"{reason} ({', '.join(f'{k}={v!r}' for k, v in details.items())})" if details else reason)
        self.reason = reason
        self.details = details


def edge_cases() -> list[tuple[list[int], list[int]]]:
    """The fixed edge cases: both check.py and the scorer run these first."""
    n = VECTOR_LEN
    return [
        ([0] * n, [0] * n),
        ([LIMIT] * n, [LIMIT] * n),
        ([-LIMIT] * n, [LIMIT] * n),
        ([LIMIT if i % 2 else -LIMIT for i in range(n)], [LIMIT] * n),
        (list(range(n)), list(range(n, 0, -1))),
        ([1] * n, [0] * (n - 1) + [1]),
    ]


def read_program(path: Path) -> str:
    """The text of dot.asm: a regular file (never through a link, never blocking), at most
    MAX_PROGRAM_BYTES, UTF-8; raises RuleError."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise RuleError(MISSING) from None
    except OSError:
        raise RuleError(UNREADABLE) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise RuleError(UNREADABLE)
        if info.st_size > MAX_PROGRAM_BYTES:
            raise RuleError(TOO_BIG)
        data = os.read(fd, MAX_PROGRAM_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_PROGRAM_BYTES:
        raise RuleError(TOO_BIG)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise RuleError(NOT_UTF8) from None


def _kind(vm: Any, exc: Exception) -> str:
    kind = getattr(exc, "kind", None)
    return kind if kind in vm.KINDS else VM_CRASHED


def check_program(vm: Any, text: str, cases: list[tuple[list[int], list[int]]]) -> tuple[list, list[int]]:
    """(the assembled program, executed instructions per case) when `text` assembles on `vm` and is
    exact on every case; raises RuleError (the case, the VM's message and the values in its details)."""
    try:
        program = vm.assemble(text)
    except vm.VMError as exc:
        raise RuleError(f"{ASSEMBLY_FAILED}: {_kind(vm, exc)}", error=str(exc)[:300]) from None
    edge = len(edge_cases())
    steps_per_case = []
    for index, (a, b) in enumerate(cases):
        want = sum(x * y for x, y in zip(a, b, strict=True))
        where: dict[str, Any] = {"case": index + 1, "cases": len(cases), "edge_case": index < edge}
        try:
            result, steps = vm.run(program, a, b)
        except vm.VMError as exc:
            raise RuleError(f"{RUN_FAILED}: {_kind(vm, exc)}", **where, error=str(exc)[:300]) from None
        except Exception as exc:  # the VM must never crash the scorer
            raise RuleError(VM_CRASHED, **where, error=type(exc).__name__) from None
        if result != want:
            raise RuleError(WRONG, **where, result=result, expected=want)
        steps_per_case.append(steps)
    return program, steps_per_case
