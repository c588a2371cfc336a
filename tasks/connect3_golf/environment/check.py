"""Local check (read-only): train, then count and play the model as the scorer does.

Usage: python check.py
Runs run_train.py into out/ (the scorer allows 60 s), then reads out/model.npz with
golf_rules.load_model(), counts it with golf_rules.parameters() and plays data/valid.npz
with golf_rules.predict(): the same functions the scorer runs on its hidden positions
(drawn like data/valid.npz). Prints the parameter count and the accuracy; exits 1 below the
gate (0.95), like the scorer.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import golf_rules

GATE = 0.95


def main() -> int:
    out = Path("out")
    started = time.monotonic()
    subprocess.run([sys.executable, "run_train.py", str(out)], check=True)
    print(f"training took {time.monotonic() - started:.1f}s (scorer limit: 60s)")
    try:
        model = golf_rules.load_model(out / "model.npz")
    except golf_rules.ModelError as exc:
        sys.exit(f"REFUSED by the scorer's rules: {exc}")
    with np.load("data/valid.npz", allow_pickle=False) as data:
        boards, optimal = data["boards"], data["optimal"]
    accuracy = golf_rules.accuracy(golf_rules.predict(model, boards), optimal)
    weights = ", ".join(f"{key} {value.shape}" for key, value in model.weights().items())
    print(f"features ({len(model.features)}): {' '.join(model.features)}")
    print(f"parameters: {golf_rules.parameters(model)} ({weights})")
    print(f"validation accuracy: {accuracy:.4f} (gate: {GATE}; {'passes' if accuracy >= GATE else 'FAILS'})")
    return 0 if accuracy >= GATE else 1  # the exit status is the gate's verdict, as the scorer gives it


if __name__ == "__main__":
    sys.exit(main())
