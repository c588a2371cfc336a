"""Scorer-side helpers for edit_distance: the pair generator (same as the public
environment/make_data.py) and a trusted Levenshtein implementation."""

from __future__ import annotations

import random
import string

MIN_LEN, MAX_LEN = 50, 300


def _random_string(rng: random.Random, alphabet: str, length: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


def _mutate(rng: random.Random, s: str, alphabet: str) -> str:
    chars = list(s)
    for _ in range(rng.randint(0, len(s) // 3)):
        op = rng.random()
        pos = rng.randrange(len(chars) + 1)
        if op < 0.4 and pos < len(chars):
            chars[pos] = rng.choice(alphabet)
        elif op < 0.7:
            chars.insert(pos, rng.choice(alphabet))
        elif pos < len(chars):
            del chars[pos]
    while len(chars) < MIN_LEN:
        chars.append(rng.choice(alphabet))
    return "".join(chars[:MAX_LEN])


def generate(seed: int, count: int) -> list[tuple[str, str]]:
    """Identical to environment/make_data.py's generate()."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(count):
        k = rng.randint(4, 26)
        alphabet = "".join(rng.sample(string.ascii_lowercase, k))
        a = _random_string(rng, alphabet, rng.randint(MIN_LEN, MAX_LEN))
        if rng.random() < 0.5:
            b = _random_string(rng, alphabet, rng.randint(MIN_LEN, MAX_LEN))
        else:
            b = _mutate(rng, a, alphabet)
        if rng.random() < 0.5:
            a, b = b, a
        pairs.append((a, b))
    return pairs


def levenshtein_dp(a: str, b: str) -> int:
    """Textbook DP (slow; used by the tests to cross-check the fast one)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
        prev = cur
    return prev[-1]


def levenshtein(a: str, b: str) -> int:
    """Bit-parallel edit distance (Myers 1999, Hyyro 2001), exact for any lengths."""
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
