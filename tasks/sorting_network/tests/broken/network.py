"""BROKEN on purpose (oracle check): the reference network without its last comparator.

Batcher's merge-exchange sort (Knuth, TAOCP vol. 3, 5.2.2 Algorithm M), which
works for any n; for n = 12 it uses 41 comparators.
"""

from __future__ import annotations

import json
import sys

N = 12


def network(n: int) -> list[tuple[int, int]]:
    """Batcher's merge exchange (Algorithm M)."""
    pairs: list[tuple[int, int]] = []
    if n < 2:
        return pairs
    t = (n - 1).bit_length()
    p = 1 << (t - 1)
    while p > 0:
        q, r, d = 1 << (t - 1), 0, p
        while True:
            for i in range(n - d):
                if i & p == r:
                    pairs.append((i, i + d))
            if q == p:
                break
            d, q, r = q - p, q >> 1, p
        p >>= 1
    return pairs[:-1]


def main(argv: list[str]) -> None:
    out = argv[1] if len(argv) > 1 else "network.json"
    comparators = [[int(i), int(j)] for i, j in network(N)]
    with open(out, "w") as handle:
        json.dump({"n": N, "comparators": comparators}, handle)
    print(f"wrote {len(comparators)} comparators to {out}")


if __name__ == "__main__":
    main(sys.argv)
