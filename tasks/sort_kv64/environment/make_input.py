"""Write a public input file: `python make_input.py [--seed S] [--n N] [OUT]` (default input.bin).

N records from kv_rules.generate (the generator the hidden inputs come from, with
hidden seeds and N = 2500000): 16 bytes each, a little-endian uint64 key then a
little-endian uint64 payload. `--expected FILE` also writes the stable sort of
the records by key (what ./kvsort must write).
"""

from __future__ import annotations

import argparse

from kv_rules import N, PUBLIC_SEED, expected_output, generate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=PUBLIC_SEED)
    parser.add_argument("--n", type=int, default=N)
    parser.add_argument("--expected", default=None, help="also write the expected output here")
    parser.add_argument("out", nargs="?", default="input.bin")
    args = parser.parse_args()
    data = generate(args.seed, args.n)
    with open(args.out, "wb") as handle:
        handle.write(data)
    print(f"wrote {args.n} records to {args.out}")
    if args.expected:
        with open(args.expected, "wb") as handle:
            handle.write(expected_output(data))
        print(f"wrote their stable sort by key to {args.expected}")


if __name__ == "__main__":
    main()
