"""Deliberately broken submission for `autolab-mcp oracle`: one round too few.

`network(n)` returns the comparators in the order they are applied.  A
comparator (i, j) with 0 <= i < j < n compares the values on wires i and j and
leaves the smaller one on wire i and the larger one on wire j.

Run `python network.py OUT.json` to write the network as JSON
({"n": 12, "comparators": [[i, j], ...]}); the scorer runs exactly
`python network.py /output/network.json` and verifies the file it writes.
`python check.py` verifies it locally the same way.
"""

from __future__ import annotations

import json
import sys

N = 12


def network(n: int) -> list[tuple[int, int]]:
    """Odd-even transposition sort: n rounds of adjacent comparators."""
    pairs = []
    for rnd in range(n - 1):  # BROKEN: one round short, so some inputs stay unsorted
        for i in range(rnd % 2, n - 1, 2):
            pairs.append((i, i + 1))
    return pairs


def main(argv: list[str]) -> None:
    out = argv[1] if len(argv) > 1 else "network.json"
    comparators = [[int(i), int(j)] for i, j in network(N)]
    with open(out, "w") as handle:
        json.dump({"n": N, "comparators": comparators}, handle)
    print(f"wrote {len(comparators)} comparators to {out}")


if __name__ == "__main__":
    main(sys.argv)
