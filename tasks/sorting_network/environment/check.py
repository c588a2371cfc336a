"""Local check, the same rules the scorer applies: `python check.py`.

Runs `python network.py <tmpfile>`, reads the JSON it writes and verifies the
network exhaustively with the 0-1 principle: a comparator network sorts every
input if and only if it sorts all 2**12 = 4096 vectors of zeros and ones.
Prints the comparator count (the metric, lower is better) and the depth.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

N = 12
MAX_COMPARATORS = 1000


def parse(doc: object) -> list[tuple[int, int]]:
    if not isinstance(doc, dict) or not isinstance(doc.get("comparators"), list):
        raise ValueError('expected a JSON object {"n": 12, "comparators": [[i, j], ...]}')
    if doc.get("n", N) != N:
        raise ValueError(f"n must be {N}, got {doc.get('n')!r}")
    raw = doc["comparators"]
    if len(raw) > MAX_COMPARATORS:
        raise ValueError(f"{len(raw)} comparators; at most {MAX_COMPARATORS} are accepted")
    pairs = []
    for index, item in enumerate(raw):
        ok = isinstance(item, list) and len(item) == 2 and all(type(v) is int for v in item)
        if not ok or not 0 <= item[0] < item[1] < N:
            raise ValueError(f"comparator #{index} {item!r}: need [i, j] with integers 0 <= i < j < {N}")
        pairs.append((item[0], item[1]))
    return pairs


def unsorted_witness(pairs: list[tuple[int, int]]) -> list[int] | None:
    """None if the network sorts all 0/1 vectors, else one 0/1 input it fails on."""
    vectors = 1 << N
    # wires[w] holds, as bit k, the value on wire w when the input is the bits of k
    wires = [sum(1 << k for k in range(vectors) if k >> w & 1) for w in range(N)]
    for i, j in pairs:
        wires[i], wires[j] = wires[i] & wires[j], wires[i] | wires[j]
    bad = 0
    for w in range(N - 1):
        bad |= wires[w] & ~wires[w + 1]
    if not bad:
        return None
    k = (bad & -bad).bit_length() - 1
    return [k >> w & 1 for w in range(N)]


def depth(pairs: list[tuple[int, int]]) -> int:
    level = [0] * N
    for i, j in pairs:
        level[i] = level[j] = max(level[i], level[j]) + 1
    return max(level, default=0)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "network.json")
        proc = subprocess.run([sys.executable, "network.py", out], capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"network.py failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
            return 1
        with open(out) as handle:
            doc = json.load(handle)
    try:
        pairs = parse(doc)
    except ValueError as exc:
        print(f"INVALID: {exc}")
        return 1
    witness = unsorted_witness(pairs)
    if witness is not None:
        print(f"INVALID: does not sort the 0/1 input {witness}")
        return 1
    print(f"OK: sorts all {1 << N} 0/1 inputs; comparators = {len(pairs)} (the metric), "
          f"depth = {depth(pairs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
