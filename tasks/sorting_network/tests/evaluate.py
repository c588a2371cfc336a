"""Hidden evaluation of sorting_network (runs in the trusted scorer, never in a sandbox).

The candidate's network.py runs in a sandbox and writes /output/network.json;
the network is parsed defensively here and verified exhaustively with the 0-1
principle (all 4096 0/1 vectors), outside the sandbox. There are no hidden inputs
(nothing to draw from ctx.seed): both splits are the same exhaustive check, and
what the scorer keeps to itself is only that it, not the candidate, does the
checking.

Reasons are fixed phrases (REASONS); the offending comparator, the count and the
unsorted 0/1 input go to the measurement's details (check.py prints them locally).
"""

from __future__ import annotations

import json
from typing import Any

from scorer.harness import EvalContext, Measurement, read_regular_file

N = 12
MAX_COMPARATORS = 1000
MAX_OUTPUT_BYTES = 1_000_000
COMMAND = "python network.py /output/network.json"

RUN_FAILED = "network.py failed"
OUTPUT = "network.json"
NOT_JSON = "network.json is not valid JSON"
NOT_OBJECT = f'network.json must be a JSON object with a "comparators" list (and optionally "n" = {N})'
WRONG_N = f"n must be {N}"
TOO_MANY = f"at most {MAX_COMPARATORS} comparators are accepted"
BAD_PAIR = f"every comparator must be [i, j] with integers 0 <= i < j < {N}"
UNSORTED = "the network does not sort every 0/1 input"
VALID = "sorts every 0/1 input"
REASONS = frozenset({RUN_FAILED, OUTPUT, NOT_JSON, NOT_OBJECT, WRONG_N, TOO_MANY, BAD_PAIR, UNSORTED, VALID})


def parse_network(data: bytes) -> tuple[list[tuple[int, int]] | None, str | None, dict[str, Any]]:
    """(pairs, None, details) or (None, fixed reason, details)."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return None, NOT_JSON, {"error": str(exc)[:200]}
    if not isinstance(doc, dict) or not isinstance(doc.get("comparators"), list):
        return None, NOT_OBJECT, {}
    if "n" in doc and (type(doc["n"]) is not int or doc["n"] != N):
        return None, WRONG_N, {"n": str(doc["n"])[:50]}
    raw = doc["comparators"]
    if len(raw) > MAX_COMPARATORS:
        return None, TOO_MANY, {"comparators": len(raw)}
    pairs = []
    for index, item in enumerate(raw):
        ok = isinstance(item, list) and len(item) == 2 and all(type(v) is int for v in item)
        if not ok or not 0 <= item[0] < item[1] < N:
            return None, BAD_PAIR, {"index": index, "comparator": str(item)[:60]}
        pairs.append((item[0], item[1]))
    return pairs, None, {}


def unsorted_witness(pairs: list[tuple[int, int]], n: int = N) -> list[int] | None:
    """None if the network sorts all 2**n 0/1 vectors (hence every input), else a failing 0/1 input."""
    vectors = 1 << n
    wires = [sum(1 << k for k in range(vectors) if k >> w & 1) for w in range(n)]
    for i, j in pairs:
        wires[i], wires[j] = wires[i] & wires[j], wires[i] | wires[j]
    bad = 0
    for w in range(n - 1):
        bad |= wires[w] & ~wires[w + 1]
    if not bad:
        return None
    k = (bad & -bad).bit_length() - 1
    return [k >> w & 1 for w in range(n)]


def depth(pairs: list[tuple[int, int]], n: int = N) -> int:
    level = [0] * n
    for i, j in pairs:
        level[i] = level[j] = max(level[i], level[j]) + 1
    return max(level, default=0)


def evaluate(ctx: EvalContext) -> Measurement:
    out = ctx.run(COMMAND, timeout_sec=60)
    failure = out.failure()
    if failure:
        return Measurement(valid=False, reason=f"{RUN_FAILED}: {failure}")
    data, reason = read_regular_file(out.output_dir / "network.json", MAX_OUTPUT_BYTES)
    if data is None:
        return Measurement(valid=False, reason=f"{OUTPUT}: {reason}")
    pairs, reason, details = parse_network(data)
    if pairs is None:
        return Measurement(valid=False, reason=reason or NOT_JSON, details=details)
    witness = unsorted_witness(pairs)
    if witness is not None:
        return Measurement(
            valid=False,
            reason=UNSORTED,
            details={"comparators": len(pairs), "unsorted_input": witness},
        )
    return Measurement(
        valid=True,
        metric=float(len(pairs)),
        reason=VALID,
        details={"comparators": len(pairs), "depth": depth(pairs), "split": ctx.split},
    )
