"""Write a public input file: `python make_input.py [--seed S] [--n N] [OUT]` (default input.bin).

N uniform random uint32 values, little-endian, from Python's seeded
random.Random(seed).randbytes(4 * N). The hidden inputs come from the same
generator with hidden seeds and N = 8000000.
"""

from __future__ import annotations

import argparse
import random


def generate(seed: int, n: int) -> bytes:
    return random.Random(seed).randbytes(4 * n)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--n", type=int, default=8_000_000)
    parser.add_argument("out", nargs="?", default="input.bin")
    args = parser.parse_args()
    with open(args.out, "wb") as handle:
        handle.write(generate(args.seed, args.n))
    print(f"wrote {args.n} values to {args.out}")


if __name__ == "__main__":
    main()
