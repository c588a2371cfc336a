"""Local check with the scorer's rules: `python check.py [PROGRAM.asm]` (default dot.asm).

Runs the program on a few fixed edge cases and on public random vectors (the
scorer uses the same edge cases and its own hidden random vectors, same
distribution: integers in [-1000000, 1000000]). Every result must be exact; the
metric is the largest number of executed instructions over all cases.
"""

from __future__ import annotations

import random
import sys

from vm import VECTOR_LEN, VMError, assemble, run

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


def random_cases(seed: int, count: int) -> list[tuple[list[int], list[int]]]:
    rng = random.Random(seed)
    return [
        ([rng.randint(-LIMIT, LIMIT) for _ in range(VECTOR_LEN)],
         [rng.randint(-LIMIT, LIMIT) for _ in range(VECTOR_LEN)])
        for _ in range(count)
    ]


def main(argv: list[str]) -> int:
    path = argv[1] if len(argv) > 1 else "dot.asm"
    with open(path, encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    try:
        program = assemble(text)
    except VMError as exc:
        print(f"INVALID: {exc}")
        return 1
    worst = 0
    for index, (a, b) in enumerate(edge_cases() + random_cases(12345, 50)):
        want = sum(x * y for x, y in zip(a, b, strict=True))
        try:
            result, steps = run(program, a, b)
        except VMError as exc:
            print(f"INVALID: case {index}: {exc}")
            return 1
        if result != want:
            print(f"INVALID: case {index}: result {result}, expected {want}")
            return 1
        worst = max(worst, steps)
    print(f"OK: {len(program)} instructions in the program; executed_instructions = {worst} (the metric)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
