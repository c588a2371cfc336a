"""The scorer's own distances for levenshtein_c (hidden: the fast exact algorithm is the agent's to find)."""

from __future__ import annotations


def levenshtein(a: str, b: str) -> int:
    """The exact Levenshtein distance of a and b: the bit-parallel algorithm of Myers (1999) in
    Hyyro's formulation, one Python integer holding a whole DP column's vertical deltas (so the
    pattern may be of any length)."""
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
    for c in a:
        eq = peq.get(c, 0)
        xv = eq | mv
        xh = ((((eq & pv) + pv) & mask) ^ pv) | eq
        ph = mv | (mask & ~(xh | pv))
        mh = pv & xh
        if ph & high:
            score += 1
        elif mh & high:
            score -= 1
        ph = ((ph << 1) | 1) & mask
        mh = (mh << 1) & mask
        pv = mh | (mask & ~(xv | ph))
        mv = ph & xv
    return score
