"""Local check: `python check.py [--messages M] [--seed S]`.

Builds sha.c with ./build.sh (the scorer's fixed flags), writes a public input (make_input.py, the
generator of the hidden inputs, with a public seed), runs `./sha input output`, times it, and
compares every line of the output with the digests Python's hashlib computes, by the rules the
scorer applies (digest_rules.py). Exits non-zero on a failed build or run, or a wrong output.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time

from digest_rules import RuleError, check_digests
from make_input import MESSAGES, encode, messages


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=MESSAGES)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    build = subprocess.run(["sh", "build.sh"], capture_output=True, text=True)
    if build.returncode != 0:
        print(f"build failed:\n{build.stdout}{build.stderr}")
        return 1
    items = messages(args.seed, args.messages)
    expected = [hashlib.sha256(item).hexdigest() for item in items]
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "messages.bin"), os.path.join(tmp, "digests.txt")
        with open(src, "wb") as handle:
            handle.write(encode(items))
        start = time.perf_counter()
        run = subprocess.run(["./sha", src, dst], capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if run.returncode != 0:
            print(f"./sha failed (exit {run.returncode}):\n{run.stdout}{run.stderr}")
            return 1
        if not os.path.isfile(dst):
            print("WRONG: ./sha wrote no output file")
            return 1
        with open(dst, "rb") as handle:
            got = handle.read()
    try:
        check_digests(got, expected)
    except RuleError as exc:
        if "line" in exc.details:
            length = len(items[exc.details["line"] - 1])
            print(f"WRONG: {exc}; that message has {length} bytes ({length} % 64 = {length % 64})")
        else:
            print(f"WRONG: {exc}")
        return 1
    total = sum(len(item) for item in items)
    print(f"OK: {len(items)} digests ({total} message bytes) exact in {seconds:.3f} s (wall time of ./sha)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
