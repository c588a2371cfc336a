"""Choose at most 2,000 training examples from the pool (EDITABLE).

Usage: python select.py OUT_DIR
Writes OUT_DIR/selection.npy: a 1-D integer array of distinct pool indices
(0 <= i < 30000, at most 2000 of them). The scorer runs `python select.py /output`.

Baseline: 2,000 indices uniformly at random.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from trainer import load_pool

BUDGET = 2000


def select() -> np.ndarray:
    X, y, source = load_pool()
    rng = np.random.default_rng(0)
    return rng.choice(len(y), size=BUDGET, replace=False)


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "out")
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "selection.npy", np.asarray(select(), dtype=np.int64))
