"""The inputs and the output rule of sort_kv64, in one place (read-only).

check.py and make_input.py import this file, and the scorer loads the pristine copy of it (never the
workspace's), so the public inputs come from the generator the hidden ones come from, and the local
check and the hidden evaluation accept exactly the same sorted.bin.

A record is 16 bytes: a little-endian uint64 key, then a little-endian uint64 payload. The output
must be the input's records in the order of a stable sort by key (unsigned, ascending; records with
equal keys keep their input order): `expected_output` computes it with numpy's stable argsort.
"""

from __future__ import annotations

from typing import Any

import numpy as np

RECORD_BYTES = 16
#: the scored inputs' size (the qsort baseline takes about 0.75 s on it in the sandbox)
N = 2_500_000
PUBLIC_SEED = 2024
#: the skewed keys are drawn from this many distinct values
POOL = 1 << 20
#: the share of records whose key is a fresh uniform uint64 instead
UNIFORM_SHARE = 0.25

OUTPUT = "sorted.bin"
WRONG_SIZE = "sorted.bin does not have the size of the input"
NOT_SORTED = "sorted.bin is not sorted by key"
NOT_RECORDS = "sorted.bin does not hold exactly the input's records"
UNSTABLE = "sorted.bin has records with equal keys out of input order"
#: every reason a rule can give: fixed phrases, safe to show (the offending values go to `details`)
REASONS = frozenset({OUTPUT, WRONG_SIZE, NOT_SORTED, NOT_RECORDS, UNSTABLE})


class RuleError(ValueError):
    """A broken rule: `reason` is a fixed phrase, `details` the offending values."""

    def __init__(self, reason: str, **details: Any) -> None:
        super().__init__(f"{reason} ({', '.join(f'{k}={v!r}' for k, v in details.items())})" if details else reason)
        self.reason = reason
        self.details = details


def generate(seed: int, n: int = N) -> bytes:
    """N records from the seeded generator. Keys: with probability 3/4 one of POOL fixed random
    uint64 values, chosen with a strongly skewed law (index POOL * u**3 for uniform u, so the most
    common keys repeat tens of thousands of times), else a fresh uniform uint64 (the whole range,
    half of them at or above 2**63). Payloads: uniform uint64, independent of the key."""
    rng = np.random.default_rng(seed)
    pool = rng.integers(0, 2**64, size=POOL, dtype=np.uint64)
    keys = pool[(rng.random(n) ** 3 * POOL).astype(np.int64)]
    uniform = rng.random(n) < UNIFORM_SHARE
    keys[uniform] = rng.integers(0, 2**64, size=int(uniform.sum()), dtype=np.uint64)
    records = np.empty((n, 2), dtype="<u8")
    records[:, 0] = keys
    records[:, 1] = rng.integers(0, 2**64, size=n, dtype=np.uint64)
    return records.tobytes()


def records_of(data: bytes) -> np.ndarray:
    """The records of a file's bytes as an (N, 2) array of little-endian uint64: key, payload."""
    return np.frombuffer(data, dtype="<u8").reshape(-1, 2)


def expected_output(data: bytes) -> bytes:
    """The records of `data`, stably sorted by key (what sorted.bin must hold, byte for byte)."""
    records = records_of(data)
    return records[np.argsort(records[:, 0], kind="stable")].tobytes()


def check_output(got: bytes, expected: bytes) -> None:
    """Raises RuleError unless `got` equals `expected` (expected_output of the input); the reason says how
    it differs: the size, the key order, the set of records, or the order of equal keys."""
    if len(got) != len(expected):
        raise RuleError(WRONG_SIZE, bytes=len(got), expected_bytes=len(expected))
    if got == expected:
        return
    out, want = records_of(got), records_of(expected)
    descents = np.flatnonzero(out[1:, 0] < out[:-1, 0])
    if descents.size:
        raise RuleError(NOT_SORTED, index=int(descents[0]) + 1, descents=int(descents.size))
    differs = np.flatnonzero((out != want).any(axis=1))
    first = int(differs[0])
    if not np.array_equal(out[:, 0], want[:, 0]):
        raise RuleError(NOT_RECORDS, index=first, differing=int(differs.size))
    # the same keys in the same places: the same records exactly when every key's payloads agree as sets
    if not np.array_equal(out[np.lexsort((out[:, 1], out[:, 0]))], want[np.lexsort((want[:, 1], want[:, 0]))]):
        raise RuleError(NOT_RECORDS, index=first, differing=int(differs.size))
    raise RuleError(UNSTABLE, index=first, key=int(out[first, 0]), out_of_order=int(differs.size))
