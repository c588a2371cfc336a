"""The rules of sorting_network, in one place: check.py imports this file, and the scorer loads the
pristine copy of it (never the workspace's), so the local check and the hidden evaluation cannot
disagree on what a valid network is.

A network is JSON `{"n": 12, "comparators": [[i, j], ...]}` ("n" optional, an integer if given);
it is valid when it sorts all 2**12 = 4096 vectors of zeros and ones, which by the 0-1 principle
means it sorts every input. The metric is the comparator count (lower is better).
"""

from __future__ import annotations

from typing import Any

N = 12
MAX_COMPARATORS = 1000

NOT_OBJECT = f'network.json must be a JSON object with a "comparators" list (and optionally "n" = {N})'
WRONG_N = f"n must be {N}"
TOO_MANY = f"at most {MAX_COMPARATORS} comparators are accepted"
BAD_PAIR = f"every comparator must be [i, j] with integers 0 <= i < j < {N}"
UNSORTED = "the network does not sort every 0/1 input"
#: every reason a rule can give: fixed phrases, safe to show (the values go to `details`)
REASONS = frozenset({NOT_OBJECT, WRONG_N, TOO_MANY, BAD_PAIR, UNSORTED})


class RuleError(ValueError):
    """A broken rule: `reason` is a fixed phrase, `details` the offending values."""

    def __init__(self, reason: str, **details: Any) -> None:
        super().__init__(f"{reason} ({', '.join(f'{k}={v!r}' for k, v in details.items())})" if details else reason)
        self.reason = reason
        self.details = details


def parse(doc: object) -> list[tuple[int, int]]:
    """The comparators of a parsed network.json; raises RuleError."""
    if not isinstance(doc, dict) or not isinstance(doc.get("comparators"), list):
        raise RuleError(NOT_OBJECT)
    if "n" in doc and (type(doc["n"]) is not int or doc["n"] != N):
        raise RuleError(WRONG_N, n=str(doc["n"])[:50])
    raw = doc["comparators"]
    if len(raw) > MAX_COMPARATORS:
        raise RuleError(TOO_MANY, comparators=len(raw))
    pairs = []
    for index, item in enumerate(raw):
        ok = isinstance(item, list) and len(item) == 2 and all(type(v) is int for v in item)
        if not ok or not 0 <= item[0] < item[1] < N:
            raise RuleError(BAD_PAIR, index=index, comparator=str(item)[:60])
        pairs.append((item[0], item[1]))
    return pairs


def unsorted_witness(pairs: list[tuple[int, int]], n: int = N) -> list[int] | None:
    """None if the network sorts all 2**n 0/1 vectors (hence every input), else a failing 0/1 input."""
    vectors = 1 << n
    # wires[w] holds, as bit k, the value on wire w when the input is the bits of k
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


def verify(doc: object) -> list[tuple[int, int]]:
    """The comparators of a network that sorts every input; raises RuleError."""
    pairs = parse(doc)
    witness = unsorted_witness(pairs)
    if witness is not None:
        raise RuleError(UNSORTED, comparators=len(pairs), unsorted_input=witness)
    return pairs


def depth(pairs: list[tuple[int, int]], n: int = N) -> int:
    level = [0] * n
    for i, j in pairs:
        level[i] = level[j] = max(level[i], level[j]) + 1
    return max(level, default=0)
