"""Local check: `python check.py [--n N] [--seed S]`.

Builds sort.c with ./build.sh (the scorer's fixed flags), writes a public input
(make_input.py), runs `./sort input output`, times it, and compares the output
with Python's own sort of the input, byte for byte (that comparison takes a few
seconds for 8M values). Also screens sort.c with the scorer's rule against
threads, processes, system calls and inline assembly.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from array import array

from binary_rules import verdict
from make_input import generate


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=8_000_000)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    build = subprocess.run(["sh", "build.sh"], capture_output=True, text=True)
    if build.returncode != 0:
        print(f"build failed:\n{build.stdout}{build.stderr}")
        return 1
    with open("sort", "rb") as handle:
        binary = handle.read()
    listing = subprocess.run(["objdump", "-d", "--no-show-raw-insn", "sort"], capture_output=True, text=True)
    problem, details = verdict(binary, listing.stdout if listing.returncode == 0 else None)
    if problem:
        print(f"REJECTED: {problem} ({details})")
        return 1
    data = generate(args.seed, args.n)
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "input.bin"), os.path.join(tmp, "sorted.bin")
        with open(src, "wb") as handle:
            handle.write(data)
        start = time.perf_counter()
        run = subprocess.run(["./sort", src, dst], capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if run.returncode != 0:
            print(f"./sort failed (exit {run.returncode}):\n{run.stdout}{run.stderr}")
            return 1
        with open(dst, "rb") as handle:
            got = handle.read()
    values = array("I")
    values.frombytes(data)
    if sys.byteorder != "little":
        values.byteswap()
    expected = array("I", sorted(values))
    if sys.byteorder != "little":
        expected.byteswap()
    if got != expected.tobytes():
        print(f"WRONG: the output ({len(got)} bytes) is not the sorted input ({4 * args.n} bytes)")
        return 1
    print(f"OK: {args.n} values sorted correctly in {seconds:.3f} s (wall time of ./sort)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
