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
import re
import subprocess
import sys
import tempfile
import time
from array import array

from make_input import generate

FORBIDDEN = re.compile(
    r"\b(pthread\w*|thrd_\w+|omp_\w+|fork|vfork|clone3?|syscall|posix_spawn\w*|system|popen|exec[lv]\w*"
    r"|dlopen|dlsym|asm|__asm__|__asm|_Pragma)\b|#\s*pragma\s+omp"
)


def strip_comments(source: str) -> str:
    source = re.sub(r"/\*.*?\*/", " ", source, flags=re.DOTALL)
    return re.sub(r"//[^\n]*", " ", source)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=8_000_000)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    with open("sort.c", encoding="utf-8", errors="replace") as handle:
        match = FORBIDDEN.search(strip_comments(handle.read()))
    if match:
        print(f"REJECTED: sort.c uses {match.group(0)!r} (no threads, processes, system calls or asm)")
        return 1
    build = subprocess.run(["sh", "build.sh"], capture_output=True, text=True)
    if build.returncode != 0:
        print(f"build failed:\n{build.stdout}{build.stderr}")
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
