"""The rules of predict()'s probabilities, in one place (read-only): check.py imports this file, and
the scorer loads the pristine copy of it (never the workspace's), so the local check and the hidden
evaluation accept exactly the same arrays: floats of shape (number of contexts, V), finite and
non-negative, no row summing to 0. (Each row is then renormalized: lmdata.bits_per_char.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

BAD_SHAPE = "predict() returned an array of the wrong shape (it must be (number of contexts, V))"
NOT_FLOAT = "predict() must return floats"
NOT_FINITE = "predict() returned NaN or infinite probabilities"
NEGATIVE = "predict() returned negative probabilities"
ZERO_ROW = "predict() returned a row that sums to 0"
#: every reason a rule can give: fixed phrases, safe to show (the values go to `details`)
REASONS = frozenset({BAD_SHAPE, NOT_FLOAT, NOT_FINITE, NEGATIVE, ZERO_ROW})


class RuleError(ValueError):
    """A broken rule: `reason` is a fixed phrase, `details` the offending values."""

    def __init__(self, reason: str, **details: Any) -> None:
        super().__init__(f"{reason} ({', '.join(f'{k}={v!r}' for k, v in details.items())})" if details else reason)
        self.reason = reason
        self.details = details


def check_probs(probs: np.ndarray, n: int, v: int) -> np.ndarray:
    """The probabilities as float64, when they are n rows of v valid values; raises RuleError."""
    if probs.shape != (n, v):
        raise RuleError(BAD_SHAPE, shape=list(probs.shape), expected=[n, v])
    if probs.dtype.kind != "f":
        raise RuleError(NOT_FLOAT, dtype=str(probs.dtype))
    probs = probs.astype(np.float64)
    if not np.isfinite(probs).all():
        raise RuleError(NOT_FINITE, rows=int((~np.isfinite(probs)).any(axis=1).sum()))
    if (probs < 0).any():
        raise RuleError(NEGATIVE, rows=int((probs < 0).any(axis=1).sum()))
    if (probs.sum(axis=1) <= 0).any():
        raise RuleError(ZERO_ROW, rows=int((probs.sum(axis=1) <= 0).sum()))
    return probs
