"""Broken on purpose: selects 2,500 examples (the budget is 2,000)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "out")
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "selection.npy", np.random.default_rng(0).choice(30_000, size=2500, replace=False))
