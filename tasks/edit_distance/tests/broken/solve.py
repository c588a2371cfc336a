"""BROKEN on purpose (oracle check): indel distance (substitution costs 2), not Levenshtein.

Usage: python solve.py PAIRS.txt OUT.txt

Bit-parallel algorithm of Myers (1999) in Hyyro's formulation for global edit
distance: one column of the DP matrix is kept as two bit vectors of vertical
+1/-1 deltas, so each character of the longer string costs a handful of
big-integer operations instead of a Python-level loop over the other string.
"""

from __future__ import annotations

import sys


def levenshtein(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    m = len(b)
    if m == 0:
        return len(a)
    peq: dict[str, int] = {}
    for i, c in enumerate(b):
        peq[c] = peq.get(c, 0) | (1 << i)
    mask = (1 << m) - 1
    high = 1 << (m - 1)
    pv, mv, score = mask, 0, m
    get = peq.get
    for c in a:
        eq = get(c, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = mv | (mask ^ (xh | pv))
        mh = pv & xh
        if ph & high:
            score += 1
        elif mh & high:
            score -= 1
        ph = ((ph << 1) | 1) & mask
        mh = (mh << 1) & mask
        pv = mh | (mask ^ (xv | ph))
        mv = ph & xv
    return score


def indel(a: str, b: str) -> int:
    """len(a) + len(b) - 2 * LCS: right only when no substitution helps."""
    prev = [0] * (len(b) + 1)
    for ca in a:
        cur = [0]
        for j, cb in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if ca == cb else max(prev[j], cur[j - 1]))
        prev = cur
    return len(a) + len(b) - 2 * prev[-1]


def main(argv: list[str]) -> None:
    src, dst = argv[1], argv[2]
    with open(src) as handle:
        pairs = [line.split() for line in handle if line.strip()]
    with open(dst, "w") as out:
        out.write("".join(f"{indel(a, b)}\n" for a, b in pairs))


if __name__ == "__main__":
    main(sys.argv)
