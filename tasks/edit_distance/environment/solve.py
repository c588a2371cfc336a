"""Levenshtein distances for a batch of string pairs.  This is the file you edit.

Usage: python solve.py PAIRS.txt OUT.txt

PAIRS.txt has one pair per line: two non-empty strings of lowercase ASCII
letters separated by a single space.  OUT.txt gets one line per pair, in the
same order: the edit distance (insertions, deletions and substitutions, each
costing 1) as a decimal integer.
"""

from __future__ import annotations

import sys


def levenshtein(a: str, b: str) -> int:
    """The textbook dynamic program, one row at a time."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
        prev = cur
    return prev[-1]


def main(argv: list[str]) -> None:
    src, dst = argv[1], argv[2]
    with open(src) as handle:
        pairs = [line.split() for line in handle if line.strip()]
    with open(dst, "w") as out:
        for a, b in pairs:
            out.write(f"{levenshtein(a, b)}\n")


if __name__ == "__main__":
    main(sys.argv)
