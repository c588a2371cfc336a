"""The rules of the generated tokens, in one place (read-only): check.py imports this file, and the
scorer loads the pristine copy of it (never the workspace's), so the local check and the hidden
evaluation accept exactly the same tokens: integers of shape (BATCH, N_NEW), identical to the
baseline's (model.generate_reference) at every position.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BATCH, N_NEW = 8, 96

BAD_SHAPE = "generate() returned tokens of the wrong shape (it must be (8, 96))"
NOT_INTEGER = "generate() must return integer tokens"
MISMATCH = "tokens differ from the baseline's"
#: every reason a rule can give: fixed phrases, safe to show (the values go to `details`)
REASONS = frozenset({BAD_SHAPE, NOT_INTEGER, MISMATCH})
assert (BATCH, N_NEW) == (8, 96), "BAD_SHAPE names these task constants"


class RuleError(ValueError):
    """A broken rule: `reason` is a fixed phrase, `details` the offending values."""

    def __init__(self, reason: str, **details: Any) -> None:
        super().__init__(f"{reason} ({', '.join(f'{k}={v!r}' for k, v in details.items())})" if details else reason)
        self.reason = reason
        self.details = details


def check_tokens(tokens: np.ndarray) -> np.ndarray:
    """The tokens as int64, when they are integers of shape (BATCH, N_NEW); raises RuleError."""
    if tokens.shape != (BATCH, N_NEW):
        raise RuleError(BAD_SHAPE, shape=list(tokens.shape))
    if tokens.dtype.kind not in "iu":
        raise RuleError(NOT_INTEGER, dtype=str(tokens.dtype))
    return tokens.astype(np.int64)


def mismatch(tokens: np.ndarray, expected: np.ndarray) -> dict | None:
    """None when identical (MISMATCH otherwise), else where they differ."""
    wrong = tokens != expected
    if not wrong.any():
        return None
    row, step = (int(i) for i in np.argwhere(wrong)[0])
    return {"wrong_tokens": int(wrong.sum()), "of": int(expected.size), "first_prompt": row, "first_step": step}
