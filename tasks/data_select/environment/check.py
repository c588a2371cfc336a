"""Local check (read-only): run select.py, check the selection by the scorer's rules
(selection_rules.py), train the fixed model on it, report accuracy on the PUBLIC
validation set (data/val.npz).

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
from selection_rules import RuleError, check_selection


def main() -> None:
    out = Path("out")
    out.mkdir(exist_ok=True)
    started = time.monotonic()
    subprocess.run([sys.executable, "select.py", str(out)], check=True)
    print(f"select.py took {time.monotonic() - started:.1f}s (scorer limit: 60s)")
    try:
        sel = check_selection(np.load(out / "selection.npy", allow_pickle=False))
    except RuleError as exc:
        sys.exit(f"INVALID: {exc}")
    X, y, source = trainer.load_pool()
    counts = np.bincount(source[sel], minlength=int(source.max()) + 1)
    print("selected per source:", {i: int(c) for i, c in enumerate(counts)})
    model = trainer.train(X[sel], y[sel])
    Xv, yv = trainer.load_val()
    print(f"validation accuracy: {(trainer.predict(model, Xv) == yv).mean():.4f}")


if __name__ == "__main__":
    main()
