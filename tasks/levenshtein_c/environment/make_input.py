"""The generator of the string pairs: `python make_input.py [--seed S] [--pairs N] [OUT]` (default pairs.txt).

Each pair draws its own alphabet of 2 to 8 lowercase letters and a first string of 200 to 2000
characters from it. Half the pairs are unrelated (the second string is drawn the same way); in the
other half the second string is a copy of the first with up to a quarter of its length in random
substitutions, insertions and deletions (kept within 200 to 2000 characters). Each pair is swapped
with probability 1/2. The hidden inputs come from this same generator with secret seeds, drawn
afresh for every evaluation.
"""

from __future__ import annotations

import argparse
import random
import string

MIN_LEN, MAX_LEN = 200, 2000
MIN_ALPHABET, MAX_ALPHABET = 2, 8
PUBLIC_SEED = 2024
PAIRS = 500


def _mutate(rng: random.Random, s: str, alphabet: str) -> str:
    """A copy of s with random substitutions, insertions and deletions, kept within the length bounds."""
    chars = list(s)
    for _ in range(rng.randint(0, len(s) // 4)):
        op = rng.random()
        pos = rng.randrange(len(chars) + 1)
        if op < 0.4 and pos < len(chars):
            chars[pos] = rng.choice(alphabet)
        elif op < 0.7:
            if len(chars) < MAX_LEN:
                chars.insert(pos, rng.choice(alphabet))
        elif pos < len(chars) and len(chars) > MIN_LEN:
            del chars[pos]
    return "".join(chars)


def generate(seed: int, count: int = PAIRS) -> list[tuple[str, str]]:
    """`count` pairs of strings (deterministic in seed)."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(count):
        alphabet = "".join(rng.sample(string.ascii_lowercase, rng.randint(MIN_ALPHABET, MAX_ALPHABET)))
        a = "".join(rng.choices(alphabet, k=rng.randint(MIN_LEN, MAX_LEN)))
        if rng.random() < 0.5:
            b = "".join(rng.choices(alphabet, k=rng.randint(MIN_LEN, MAX_LEN)))
        else:
            b = _mutate(rng, a, alphabet)
        if rng.random() < 0.5:
            a, b = b, a
        pairs.append((a, b))
    return pairs


def render(pairs: list[tuple[str, str]]) -> str:
    """The input file's text: one pair per line, the two strings separated by one space."""
    return "".join(f"{a} {b}\n" for a, b in pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=PUBLIC_SEED)
    parser.add_argument("--pairs", type=int, default=PAIRS)
    parser.add_argument("out", nargs="?", default="pairs.txt")
    args = parser.parse_args()
    with open(args.out, "w") as handle:
        handle.write(render(generate(args.seed, args.pairs)))
    print(f"wrote {args.pairs} pairs to {args.out}")


if __name__ == "__main__":
    main()
