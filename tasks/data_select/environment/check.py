"""Local check (read-only): run select.py, train the fixed model on the selection,
report accuracy on the PUBLIC validation set (data/val.npz).

Usage: python check.py
The hidden test set comes from the same distribution as data/val.npz, but the
scorer's numbers will differ somewhat from this one.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import trainer

BUDGET = 2000


def main() -> None:
    out = Path("out")
    out.mkdir(exist_ok=True)
    started = time.monotonic()
    subprocess.run([sys.executable, "select.py", str(out)], check=True)
    print(f"select.py took {time.monotonic() - started:.1f}s (scorer limit: 60s)")
    sel = np.load(out / "selection.npy", allow_pickle=False)
    X, y, source = trainer.load_pool()
    if sel.ndim != 1 or not np.issubdtype(sel.dtype, np.integer):
        sys.exit(f"selection must be a 1-D integer array, got shape {sel.shape} dtype {sel.dtype}")
    if not 1 <= len(sel) <= BUDGET or len(np.unique(sel)) != len(sel) or sel.min() < 0 or sel.max() >= len(y):
        sys.exit("selection must hold 1..2000 distinct indices in [0, 30000)")
    counts = np.bincount(source[sel], minlength=int(source.max()) + 1)
    print("selected per source:", {i: int(c) for i, c in enumerate(counts)})
    model = trainer.train(X[sel], y[sel])
    Xv, yv = trainer.load_val()
    print(f"validation accuracy: {(trainer.predict(model, Xv) == yv).mean():.4f}")


if __name__ == "__main__":
    main()
