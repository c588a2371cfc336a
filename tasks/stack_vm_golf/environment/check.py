"""Local check with the scorer's rules (program_rules.py): `python check.py [PROGRAM.asm]` (default dot.asm).

Runs the program on a few fixed edge cases and on public random vectors (the
scorer uses the same edge cases and its own hidden random vectors, same
distribution: integers in [-1000000, 1000000]). Every result must be exact; the
metric is the largest number of executed instructions over all cases.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import vm
from program_rules import LIMIT, VECTOR_LEN, RuleError, check_program, edge_cases, read_program


def random_cases(seed: int, count: int) -> list[tuple[list[int], list[int]]]:
    rng = random.Random(seed)
    return [
        ([rng.randint(-LIMIT, LIMIT) for _ in range(VECTOR_LEN)],
         [rng.randint(-LIMIT, LIMIT) for _ in range(VECTOR_LEN)])
        for _ in range(count)
    ]


def main(argv: list[str]) -> int:
    path = Path(argv[1] if len(argv) > 1 else "dot.asm")
    try:
        program, steps = check_program(vm, read_program(path), edge_cases() + random_cases(12345, 50))
    except RuleError as exc:  # the details (case, message, values) are the ones the scorer keeps to itself
        print(f"INVALID: {exc}")
        return 1
    print(f"OK: {len(program)} instructions in the program; executed_instructions = {max(steps)} (the metric)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
