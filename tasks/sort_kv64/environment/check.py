"""Local check: `python check.py [--n N] [--seed S] [--runs R]`.

Builds kvsort.c with ./build.sh (the scorer's fixed flags), writes a public input
(kv_rules.generate, the hidden inputs' generator), runs `./kvsort input output`,
times it, and compares the output with the stable sort of the input by key
(numpy, kv_rules.expected_output) by the rule the scorer applies
(kv_rules.check_output): exits non-zero on a wrong output, saying how it is wrong.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from kv_rules import N, PUBLIC_SEED, RuleError, check_output, expected_output, generate


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=N)
    parser.add_argument("--seed", type=int, default=PUBLIC_SEED)
    parser.add_argument("--runs", type=int, default=1, help="time this many runs (each one checked)")
    args = parser.parse_args()
    build = subprocess.run(["sh", "build.sh"], capture_output=True, text=True)
    if build.returncode != 0:
        print(f"build failed:\n{build.stdout}{build.stderr}")
        return 1
    data = generate(args.seed, args.n)
    expected = expected_output(data)
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "input.bin"), os.path.join(tmp, "sorted.bin")
        with open(src, "wb") as handle:
            handle.write(data)
        for _ in range(max(1, args.runs)):
            if os.path.exists(dst):
                os.unlink(dst)
            start = time.perf_counter()
            run = subprocess.run(["./kvsort", src, dst], capture_output=True, text=True)
            times.append(time.perf_counter() - start)
            if run.returncode != 0:
                print(f"./kvsort failed (exit {run.returncode}):\n{run.stdout}{run.stderr}")
                return 1
            if not os.path.isfile(dst):
                print("WRONG: ./kvsort wrote no output file")
                return 1
            with open(dst, "rb") as handle:
                got = handle.read()
            try:
                check_output(got, expected)
            except RuleError as exc:
                print(f"WRONG: {exc}")
                return 1
    shown = ", ".join(f"{t:.3f}" for t in times)
    print(f"OK: {args.n} records sorted stably by key; wall time of ./kvsort: {shown} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
