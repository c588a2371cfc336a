"""Write a public input file: `python make_input.py [--seed S] [--messages M] [OUT]` (default messages.bin).

The file is a sequence of M messages, each framed as a little-endian uint32 byte count followed by
that many bytes. Message lengths are mixed: about 40% are short (0-255 bytes), 30% medium
(0-4095 bytes) and 30% long (0-65536 bytes), drawn with Python's seeded random.Random(seed); the
bytes are random too. The hidden inputs come from this same generator with hidden seeds and
M = 5000 (about 52 MB).
"""

from __future__ import annotations

import argparse
import random
import struct

MESSAGES = 5000
MAX_LENGTH = 65536


def lengths(rng: random.Random, count: int) -> list[int]:
    """The byte count of each message, in order."""
    out = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.4:
            out.append(rng.randrange(256))
        elif kind < 0.7:
            out.append(rng.randrange(4096))
        else:
            out.append(rng.randrange(MAX_LENGTH + 1))
    return out


def messages(seed: int, count: int = MESSAGES) -> list[bytes]:
    """The messages of the input with this seed, in order."""
    rng = random.Random(seed)
    sizes = lengths(rng, count)
    data = rng.randbytes(sum(sizes))
    out, start = [], 0
    for size in sizes:
        out.append(data[start:start + size])
        start += size
    return out


def encode(items: list[bytes]) -> bytes:
    """The input file's bytes: each message as a little-endian uint32 length, then its bytes."""
    return b"".join(part for item in items for part in (struct.pack("<I", len(item)), item))


def generate(seed: int, count: int = MESSAGES) -> bytes:
    return encode(messages(seed, count))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--messages", type=int, default=MESSAGES)
    parser.add_argument("out", nargs="?", default="messages.bin")
    args = parser.parse_args()
    data = generate(args.seed, args.messages)
    with open(args.out, "wb") as handle:
        handle.write(data)
    print(f"wrote {args.messages} messages ({len(data)} bytes) to {args.out}")


if __name__ == "__main__":
    main()
