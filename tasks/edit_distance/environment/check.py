"""Local check: `python check.py [--pairs N]`.

Runs `python solve.py data/pairs.txt <tmp>` (the first N pairs of the public
split if --pairs is given), compares every distance with data/expected.txt by the rules the scorer
applies (distance_rules.py) and
prints the wall time. The scorer does the same on a hidden batch from the same
generator, timing your solve.py against the original one.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from distance_rules import RuleError, check_distances


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=None, help="use only the first N pairs")
    args = parser.parse_args()
    with open("data/pairs.txt") as handle:
        pairs = handle.readlines()
    with open("data/expected.txt") as handle:
        expected = [int(line) for line in handle]
    if args.pairs is not None:
        pairs, expected = pairs[: args.pairs], expected[: args.pairs]
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "pairs.txt"), os.path.join(tmp, "distances.txt")
        with open(src, "w") as handle:
            handle.writelines(pairs)
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "solve.py", src, dst], capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            print(f"solve.py failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
            return 1
        with open(dst, "rb") as handle:
            got = handle.read()
    try:
        check_distances(got, expected)
    except RuleError as exc:
        print(f"WRONG: {exc}")
        return 1
    print(f"OK: {len(expected)} distances exact in {seconds:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
