"""Local check: `python check.py [--pairs N] [--seed S]`.

Builds lev.c with ./build.sh (the scorer's fixed flags), writes a public input with make_input.py
(the hidden inputs' generator, public seed), runs `./lev PAIRS.txt OUT.txt`, times it, and compares
OUT.txt with the expected distances by the rules the scorer applies (lev_rules.py). The public
input's distances ship in data/expected.txt; for another --seed or --pairs they are computed here by
the textbook dynamic program (slow in Python: about 2 s a pair, so use a few pairs). Exits 1 on a
failed build, a failed run or a wrong output.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from lev_rules import RuleError, check_distances
from make_input import PAIRS, PUBLIC_SEED, generate, render


def textbook(a: str, b: str) -> int:
    """The Levenshtein distance by the full dynamic program, row by row."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def expected_distances(pairs: list[tuple[str, str]], public: bool) -> list[int]:
    if public:
        with open(os.path.join("data", "expected.txt")) as handle:
            return [int(line) for line in handle]
    print(f"computing {len(pairs)} distances with the textbook dynamic program...", flush=True)
    return [textbook(a, b) for a, b in pairs]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=PAIRS)
    parser.add_argument("--seed", type=int, default=PUBLIC_SEED)
    args = parser.parse_args()
    build = subprocess.run(["sh", "build.sh"], capture_output=True, text=True)
    if build.returncode != 0:
        print(f"build failed:\n{build.stdout}{build.stderr}")
        return 1
    pairs = generate(args.seed, args.pairs)
    expected = expected_distances(pairs, public=(args.seed, args.pairs) == (PUBLIC_SEED, PAIRS))
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "pairs.txt"), os.path.join(tmp, "distances.txt")
        with open(src, "w") as handle:
            handle.write(render(pairs))
        start = time.perf_counter()
        run = subprocess.run(["./lev", src, dst], capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if run.returncode != 0:
            print(f"./lev failed (exit {run.returncode}):\n{run.stdout[-2000:]}{run.stderr[-2000:]}")
            return 1
        try:
            with open(dst, "rb") as handle:
                got = handle.read()
        except OSError as exc:
            print(f"./lev wrote no {dst}: {exc}")
            return 1
    try:
        check_distances(got, expected)
    except RuleError as exc:
        print(f"WRONG: {exc}")
        return 1
    print(f"OK: {len(pairs)} distances exact in {seconds:.3f} s (wall time of ./lev)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
