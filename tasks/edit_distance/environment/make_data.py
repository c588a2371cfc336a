"""The generator of the task's string pairs (public split): `python make_data.py`.

The hidden feedback and final batches come from this same generator with other
seeds (and another pair count), so data/ is representative of what is scored.
Writes data/pairs.txt (one pair per line: two strings separated by one space)
and data/expected.txt (the distance of each pair, computed with the slow
baseline DP; takes a while).
"""

from __future__ import annotations

import argparse
import random
import string

MIN_LEN, MAX_LEN = 50, 300


def random_string(rng: random.Random, alphabet: str, length: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


def mutate(rng: random.Random, s: str, alphabet: str) -> str:
    """A copy of s with a random number of substitutions, insertions and deletions."""
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
    """`count` pairs: half unrelated strings, half a string and a mutated copy of it."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(count):
        k = rng.randint(4, 26)
        alphabet = "".join(rng.sample(string.ascii_lowercase, k))
        a = random_string(rng, alphabet, rng.randint(MIN_LEN, MAX_LEN))
        if rng.random() < 0.5:
            b = random_string(rng, alphabet, rng.randint(MIN_LEN, MAX_LEN))
        else:
            b = mutate(rng, a, alphabet)
        if rng.random() < 0.5:
            a, b = b, a
        pairs.append((a, b))
    return pairs


def levenshtein(a: str, b: str) -> int:
    """The textbook dynamic program (independent of solve.py, which you may change)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
        prev = cur
    return prev[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--out", default="data")
    args = parser.parse_args()
    pairs = generate(args.seed, args.pairs)
    with open(f"{args.out}/pairs.txt", "w") as handle:
        handle.writelines(f"{a} {b}\n" for a, b in pairs)
    with open(f"{args.out}/expected.txt", "w") as handle:
        handle.writelines(f"{levenshtein(a, b)}\n" for a, b in pairs)
    print(f"wrote {len(pairs)} pairs to {args.out}/pairs.txt and {args.out}/expected.txt")


if __name__ == "__main__":
    main()
