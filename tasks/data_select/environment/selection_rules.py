"""The rules of a selection, in one place (read-only): check.py imports this file, and the scorer loads
the pristine copy of it (never the workspace's), so the local check and the hidden evaluation accept
exactly the same selection.npy: a 1-D integer array of 1 to BUDGET distinct indices into the pool,
0 <= i < POOL_SIZE.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BUDGET = 2000
POOL_SIZE = 30_000

NOT_1D = "selection must be a 1-D array"
NOT_INTEGER = "selection must hold integers"
EMPTY = "selection is empty"
TOO_MANY = "selection has more indices than the budget allows (at most 2000 allowed)"
OUT_OF_RANGE = "selection holds indices outside the pool [0, 30000)"
REPEATS = "selection repeats indices (all must be distinct)"
#: every reason a rule can give: fixed phrases, safe to show (the values go to `details`)
REASONS = frozenset({NOT_1D, NOT_INTEGER, EMPTY, TOO_MANY, OUT_OF_RANGE, REPEATS})
assert BUDGET == 2000 and POOL_SIZE == 30_000, "the fixed phrases above name these task constants"


class RuleError(ValueError):
    """A broken rule: `reason` is a fixed phrase, `details` the offending values."""

    def __init__(self, reason: str, **details: Any) -> None:
        super().__init__(f"{reason} ({', '.join(f'{k}={v!r}' for k, v in details.items())})" if details else reason)
        self.reason = reason
        self.details = details


def check_selection(sel: np.ndarray) -> np.ndarray:
    """The selection as int64 pool indices; raises RuleError."""
    if sel.ndim != 1:
        raise RuleError(NOT_1D, shape=list(sel.shape))
    if not np.issubdtype(sel.dtype, np.integer):
        raise RuleError(NOT_INTEGER, dtype=str(sel.dtype))
    if len(sel) == 0:
        raise RuleError(EMPTY)
    if len(sel) > BUDGET:
        raise RuleError(TOO_MANY, selected=len(sel))
    sel = sel.astype(np.int64)
    if sel.min() < 0 or sel.max() >= POOL_SIZE:
        raise RuleError(OUT_OF_RANGE, min=int(sel.min()), max=int(sel.max()))
    distinct = len(np.unique(sel))
    if distinct != len(sel):
        raise RuleError(REPEATS, duplicates=len(sel) - distinct)
    return sel
